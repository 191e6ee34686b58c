#!/usr/bin/env bash
# sendfile.sh: where sendfile() starts to pay for the module's entries.
#
# One nginx with a module built with NGX_HTTP_PREP_SENDFILE_MIN=1 (every
# entry is also a file buffer) serves the full-size package twice, on two
# ports: "sendfile off" (the entry goes out from the mapping with
# writev()) and "sendfile on" (sendfile() from the snapshot file).  For
# files near each size of SIZES, wrk fetches that one file for SECONDS on
# each port, plain HTTP/1.1, keepalive; the ratio on/off per size shows the
# crossover that NGX_HTTP_PREP_SENDFILE_MIN (ngx_http_prep_handler.c)
# should sit at.  Builds the module into build/sf1 (make MODULE_CC_OPT).
#
#   bench/sendfile.sh [SECONDS]        (default 5)

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-5}
nginx=${NGINX_BIN:-/usr/sbin/nginx}
python=${PYTHON:-/usr/bin/python3}
build="$top/build"
sf1="$build/sf1"
sizes="4096 16384 32768 65536 131072 262144 1048576"

die() { echo "sendfile.sh: $*" >&2; exit 1; }
[ -x "$build/prep-ingest" ] || die "run make first ($build/prep-ingest)"
make -C "$top" --no-print-directory BUILD="$sf1" \
    MODULE_CC_OPT=-DNGX_HTTP_PREP_SENDFILE_MIN=1 module > /dev/null

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
"$build/prep-ingest" publish --store "$tmp/store" "$pkg" > /dev/null
mkdir -p "$tmp/tree" && tar -xzf "$pkg" -C "$tmp/tree"

port_off=$((20000 + RANDOM % 20000))
port_on=$((port_off + 1))
user=""
[ "$(id -u)" != 0 ] || user="user root;"
cat > "$tmp/nginx.conf" <<EOF
load_module $sf1/ngx_http_prep_module.so;
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
             location / { prep_serve; } }
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
    r=()
    for port in $port_off $port_on; do
        r+=("$(taskset -c 0 wrk -t1 -c8 -d"${secs}s" \
                 "http://127.0.0.1:$port$path" |
               awk '/^Requests\/sec/ { print $2 }')")
    done
    printf '%-9s %-40s %12s %12s %6.2f\n' "$size" "$path" "${r[0]}" \
        "${r[1]}" "$(awk -v a="${r[1]}" -v b="${r[0]}" \
                     'BEGIN { print a / b }')"
done
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
