#!/usr/bin/env bash
# sendfile.sh: where sendfile() starts to pay for the module's entries.
#
# One nginx with the module serves the full-size package twice, on two
# ports: "sendfile off" (the entry goes out from the mapping with
# writev()) and "sendfile on; tcp_nopush on; prep_sendfile_min 16k"
# (sendfile() from the snapshot file, TCP_CORK around the headers).  For
# files near each size of SIZES, wrk fetches that one file for SECONDS on
# each port, plain HTTP/1.1, keepalive, ROUNDS times in alternating order;
# the median of the per-round ratios on/off per size shows the crossover
# that the prep_sendfile_min directive should sit at.
# Entries under PREP_SNAP_PAGE_MIN (prep_snap.h) are not page-aligned in
# the snapshot, so they go out from memory on both ports (ratio ~1: the
# noise of the run).
#
#   bench/sendfile.sh [SECONDS [ROUNDS]]     (default 5 and 3)

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-5}
rounds=${2:-3}
nginx=${NGINX_BIN:-/usr/sbin/nginx}
python=${PYTHON:-/usr/bin/python3}
build="$top/build"
sizes="4096 16384 32768 65536 131072 262144 1048576 4194304 100000000"

die() { echo "sendfile.sh: $*" >&2; exit 1; }
median() { printf '%s\n' "$@" | sort -g |
           awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
[ -x "$build/prep-ingest" ] || die "run make first ($build/prep-ingest)"
[ -f "$build/ngx_http_prep_module.so" ] || die "run make first (module)"

tmp=$(mktemp -d /tmp/prep-sendfile.XXXXXX)
pid=""
cleanup() {
    [ -z "$pid" ] || { kill -TERM "$pid" 2>/dev/null; wait "$pid" || true; }
    rm -rf "$tmp"
}
trap cleanup EXIT

"$python" "$top/tests/fixtures/gen_prep.py" --help > /dev/null 2>&1 ||
    die "no package generator"
pkg=$(cd "$top/tests/fixtures" && "$python" -c '
import sys, gen_prep
print(gen_prep.build_package(sys.argv[1], gen_prep.DEFAULT_CORTE,
                             size="full"))' "$tmp/pkg")
mkdir -p "$tmp/store"
"$build/prep-ingest" publish --store "$tmp/store" "$pkg" > /dev/null
mkdir -p "$tmp/tree" && tar -xzf "$pkg" -C "$tmp/tree"

port_off=$((20000 + RANDOM % 20000))
port_on=$((port_off + 1))
user=""
[ "$(id -u)" != 0 ] || user="user root;"
cat > "$tmp/nginx.conf" <<EOF
load_module $build/ngx_http_prep_module.so;
$user
daemon off;
worker_processes 1;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $tmp/body;
    prep_store $tmp/store;
    server { listen 127.0.0.1:$port_off; sendfile off;
             location / { prep_serve; } }
    server { listen 127.0.0.1:$port_on; sendfile on; tcp_nopush on;
             prep_sendfile_min 16k; location / { prep_serve; } }
}
EOF
"$nginx" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" &
pid=$!
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$port_on/" && break
    sleep 0.1
done

echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-9s %-40s %12s %12s %6s\n' size file 'off req/s' 'on req/s' on/off
root=$(dirname "$(find "$tmp/tree" -name index.html | head -n 1)")
for want in $sizes; do
    # the file nearest to the wanted size
    file=$(find "$root" -type f -printf '%s %P\n' |
           awk -v w="$want" '{ d = $1 - w; if (d < 0) d = -d
                               if (best == "" || d < bd) { bd = d; best = $0 } }
                             END { print best }')
    size=${file%% *}
    path=/${file#* }
    ratios=() on=() off=()
    for round in $(seq "$rounds"); do
        ports=("$port_off" "$port_on")
        (( round % 2 )) || ports=("$port_on" "$port_off")
        for port in "${ports[@]}"; do
            rps=$(taskset -c 0 wrk -t1 -c8 -d"${secs}s" \
                      "http://127.0.0.1:$port$path" |
                  awk '/^Requests\/sec/ { print $2 }')
            if [ "$port" = "$port_on" ]; then a=$rps; else b=$rps; fi
        done
        on+=("$a") off+=("$b")
        ratios+=("$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }')")
    done
    printf '%-9s %-40s %12s %12s %6s   per round: %s\n' "$size" "$path" \
        "$(median "${off[@]}")" "$(median "${on[@]}")" \
        "$(median "${ratios[@]}")" "${ratios[*]}"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
