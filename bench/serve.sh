#!/usr/bin/env bash
# serve.sh: serving benchmark, stock nginx against nginx + ngx_prep.
#
# Both servers run at once on loopback with the same worker count and the
# same package: stock nginx from the unpacked tree (open_file_cache,
# gzip_static with .gz files next to every compressible file, sendfile),
# the module from a snapshot published by prep-ingest.  wrk drives a fixed
# mix of paths (bench/mix.lua), interleaved per round:
#
#     stock identity, module identity, stock gzip, module gzip
#
# (the module first in even rounds), and the median of the per-round
# ratios is compared with the targets (1.0 identity, 1.2 gzip).  On two or
# more CPUs the nginx workers are pinned away from wrk (CPU 0).  Every run
# reports both CPU budgets, the workers' and wrk's, so a client-bound run
# shows as one (wrk near 100 %), and the workers' CPU time per request of
# both servers is compared too.  Also measured: snapshot size against the
# unpacked tree, `prep-ingest publish` time against `tar -xzf` of the same
# package.  Called by `make bench` after the build.
# Results: a table on stdout and one "BENCH key=value ..." line per metric
# (also written to -o FILE).  See bench/RESULTS.md.

set -euo pipefail

# the checkout and the environment (top, build, nginx, python), messages,
# BENCH lines, the temporary directory, the mix: shared with bench/stats.sh
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh" serve

workers=1
threads=1
conns=32
duration=10
rounds=5
package=""
outfile=""
keep=0
pin=1
stock_only=0
mix=fixed
tls=0

usage() {
    cat <<EOF
usage: bench/serve.sh [-w WORKERS] [-t THREADS] [-c CONNS] [-d SECONDS]
                      [-r ROUNDS] [-p PACKAGE.tar.gz] [-o FILE] [-a | -A]
                      [-k] [-S] [-m fixed|whole] [-T]

  -w N    nginx worker processes, both servers (default $workers)
  -t N    wrk threads (default $threads)
  -c N    wrk connections (default $conns)
  -d N    seconds per wrk run (default $duration)
  -r N    rounds; each runs the four configurations once (default $rounds)
  -p PKG  use this package instead of generating a full-size one
  -o FILE also write the BENCH lines to FILE
  -a      pin nginx workers to the last CPUs and wrk to CPU 0 (default
          when there are 2 or more CPUs)
  -A      do not pin: let the scheduler place nginx and wrk
  -k      keep the temporary directory
  -S      stock nginx only (no module, no ingest): for developing the bench
  -m MIX  fixed: the hand-picked mix of bench/lib.sh (default); whole:
          every file of the package once, in a fixed shuffled order
          (large SVG, CSV and the database zip included)
  -T      TLS 1.3 on both servers (self-signed P-256 certificate, HTTP/2
          offered by ALPN): wrk runs HTTPS with HTTP/1.1, and h2load
          (nghttp2-client) runs the same mix over HTTP/2, one run each
          per server and encoding, in every round

Environment: PREP_BUILD (default build/), NGINX_BIN, PYTHON.
EOF
}

while getopts "w:t:c:d:r:p:o:aAkShm:T" opt; do
    case $opt in
    m) case $OPTARG in fixed|whole) mix=$OPTARG ;;
       *) echo "serve.sh: -m fixed or whole" >&2; exit 2 ;; esac ;;
    T) tls=1 ;;
    a) pin=1 ;;
    A) pin=0 ;;
    S) stock_only=1 ;;
    h) usage; exit 0 ;;
    *) run_option "$opt" "${OPTARG-}" || { usage >&2; exit 2; } ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }

end_run_options

need_tools "$nginx" wrk curl tar gzip cmp ss timeout pgrep getconf
(( stock_only )) || need_build
absolute_inputs
# GNU time, for wrk's own CPU time (bash's time keyword cannot write it
# to a file apart from wrk's output)
gnu_time=/usr/bin/time
[ -x "$gnu_time" ] || die "missing tool: $gnu_time (Debian package time)"
clk_tck=$(getconf CLK_TCK)


# ---- temporary directory, processes, time bound ----------------------

# every nginx master started; stop_servers, called on exit (bench/lib.sh),
# sends them TERM and gives each 5 s before KILL
pids=()

stop_servers() {
    local pid

    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        reap "$pid" 50
    done
}

setup_tmp prep-bench
# everything together: setup, checks and 4 wrk runs per round
start_watchdog $((900 + rounds * (tls ? 8 : 4) * (duration + 40)))

# seconds a command takes (wall clock), the command bounded by timeout
timed() {
    local t0 t1
    t0=$EPOCHREALTIME
    timeout -k 5 600 "$@" > /dev/null || die "failed: $*"
    t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }'
}


# ---- package, unpacked tree, gzip files, snapshot ---------------------

if [ -z "$package" ]; then
    gen="$top/tests/fixtures/gen_prep.py"
    [ -f "$gen" ] || die "no package generator: $gen (or give -p PKG)"
    log "generating the full-size package"
    gen_package full
fi
pkg_bytes=$(stat -c %s "$package")
log "package $(basename "$package"): $pkg_bytes bytes"

tar_times=()
for i in $(seq 3); do
    mkdir "$tmp/tree$i"
    t=$(timed tar -xzf "$package" -C "$tmp/tree$i")
    tar_times+=("$t")
done
rm -rf "$tmp/tree2" "$tmp/tree3"
tree="$tmp/tree1"

set_docroot "$tree"
[ -f "$docroot/index.html" ] || die "no index.html in the package"

tree_files=$(find "$docroot" -type f | wc -l)
tree_bytes=$(du -sb "$tree" | cut -f1)

log "gzip -k -6 next to every compressible file"
find "$docroot" -type f \( -iname '*.html' -o -iname '*.js' \
    -o -iname '*.css' -o -iname '*.json' -o -iname '*.csv' \
    -o -iname '*.svg' -o -iname '*.txt' -o -iname '*.xml' \) -print0 \
    | timeout -k 5 600 xargs -0 -r gzip -k -6
gz_files=$(find "$docroot" -type f -name '*.gz' | wc -l)
tree_gz_bytes=$(du -sb "$tree" | cut -f1)

ingest_times=()
if (( ! stock_only )); then
    log "prep-ingest publish (3 times, fresh stores)"
    for i in $(seq 3); do
        mkdir "$tmp/store$i"
        t=$(timed "$build/prep-ingest" publish --store "$tmp/store$i" \
                "$package")
        ingest_times+=("$t")
    done
    store="$tmp/store1"
    snap=$(realpath -e "$store/current") || die "store has no current"
    snap_bytes=$(stat -c %s "$snap")
fi


# ---- nginx configurations ----------------------------------------------

user_line=""
[ "$(id -u)" != 0 ] || user_line="user root;"

nproc=$(nproc)
affinity=""
if (( pin && nproc >= 2 )); then
    # workers on the last CPUs, wrk alone on CPU 0
    affinity="worker_cpu_affinity"
    for i in $(seq 0 $((workers - 1))); do
        cpu=$((nproc - 1 - i % (nproc - 1)))
        mask=$(printf '1%*s' "$cpu" '' | tr ' ' 0)
        affinity="$affinity $mask"
    done
    affinity="$affinity;"
fi

scheme=http
listen_tls=""
server_tls=""
if (( tls )); then
    need_tools openssl h2load
    scheme=https
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -nodes -days 2 -subj /CN=localhost -keyout "$tmp/key.pem" \
        -out "$tmp/cert.pem" 2> /dev/null || die "openssl req failed"
    server_tls="ssl_certificate $tmp/cert.pem;
        ssl_certificate_key $tmp/key.pem;
        ssl_protocols TLSv1.3;
        ssl_session_cache shared:TLS:10m;
        ssl_conf_command Options KTLS;"
    # nginx 1.25.1+ has "http2 on;"; before, a listen parameter
    if "$nginx" -v 2>&1 | grep -qE 'nginx/1\.(2[0-4]|25\.0)\.'; then
        listen_tls=" ssl http2"
    else
        listen_tls=" ssl"
        server_tls="$server_tls
        http2 on;"
    fi
fi

# write_conf NAME PORT: $tmp/NAME/nginx.conf
write_conf() {
    local name=$1 port=$2 dir="$tmp/$1" head="" body

    mkdir -p "$dir/tmp"
    if [ "$name" = stock ]; then
        body="root $docroot;
        open_file_cache max=10000 inactive=60s;
        open_file_cache_valid 60s;
        gzip_static on;
        gzip_vary on;
        location / { }"
    else
        head="load_module $build/ngx_http_prep_module.so;"
        body="location / { prep_serve; }"
    fi

    cat > "$dir/nginx.conf" <<EOF
$head
$user_line
daemon off;
master_process on;
worker_processes $workers;
$affinity
pid $dir/nginx.pid;
error_log $dir/error.log warn;

events {
    worker_connections 4096;
}

http {
    include /etc/nginx/mime.types;
    types {
        text/csv csv;
    }
    default_type application/octet-stream;
    charset utf-8;
    charset_types text/css text/plain text/xml text/csv
                  application/javascript application/json image/svg+xml;

    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 65s;
    keepalive_requests 100000;

    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;

$( [ "$name" = stock ] || echo "    prep_store $store;" )

    server {
        listen 127.0.0.1:$port$listen_tls;
        $server_tls
        $body
    }
}
EOF
}

# start_server NAME: sets port_NAME; retries on another port if bind fails
start_server() {
    local name=$1 port pid i

    for _ in 1 2 3 4 5; do
        port=$(random_port)
        port_free "$port" || continue
        write_conf "$name" "$port"
        timeout 20 "$nginx" -e "$tmp/$name/error.log" -p "$tmp/$name" \
            -c "$tmp/$name/nginx.conf" -t -q \
            || die "$name: nginx -t failed: $(tail -n 2 \
                   "$tmp/$name/error.log")"
        "$nginx" -e "$tmp/$name/error.log" -p "$tmp/$name" \
            -c "$tmp/$name/nginx.conf" 2>> "$tmp/$name/stderr.log" &
        pid=$!
        pids+=("$pid")
        printf -v "master_$name" %s "$pid"
        for i in $(seq 100); do
            if ! kill -0 "$pid" 2>/dev/null; then
                break
            fi
            if curl -sk -o /dev/null --max-time 1 \
                "$scheme://127.0.0.1:$port/index.html"
            then
                printf -v "port_$name" %s "$port"
                log "$name nginx on 127.0.0.1:$port (master $pid)"
                return
            fi
            sleep 0.1
        done
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        grep -q 'Address already in use' "$tmp/$name/error.log" \
            || die "$name: nginx did not start: $(tail -n 2 \
                   "$tmp/$name/error.log")"
    done
    die "$name: no free loopback port after 5 tries"
}

start_server stock
servers=(stock)
if (( ! stock_only )); then
    start_server module
    servers+=(module)
fi


# ---- the request mix -----------------------------------------------------

# the lists (bench/lib.sh), with serve.sh's fallbacks: other JSON where a
# package lacks per-section or avance files
make_mix() {
    local mixdir="$tmp/mix"

    if [ "$mix" = whole ]; then
        # every file once (the .gz of gzip_static aside), shuffled the
        # same way every run
        mkdir -p "$mixdir"
        for kind in section avance json html csv asset; do
            : > "$mixdir/$kind"
        done
        list_files . | awk 'BEGIN { srand(20240603) }
                { printf "%.9f\t%s\n", rand(), $0 }' \
            | sort -n | cut -f2 > "$tmp/mix.txt"
        [ -s "$tmp/mix.txt" ] || die "no files for the whole mix"
        LC_ALL=C sort -u "$tmp/mix.txt" > "$tmp/mix-unique.txt"
        return
    fi
    list_kinds "$mixdir"
    [ -s "$mixdir/section" ] || cp "$mixdir/json" "$mixdir/section"
    [ -s "$mixdir/section" ] || die "no JSON files for the mix"
    [ -s "$mixdir/avance" ] || cp "$mixdir/json" "$mixdir/avance"
    [ -s "$mixdir/json" ] || cp "$mixdir/avance" "$mixdir/json"
    write_mix "$mixdir" "$tmp/mix.txt"
    LC_ALL=C sort -u "$tmp/mix.txt" > "$tmp/mix-unique.txt"
}

make_mix
mix_requests=$(wc -l < "$tmp/mix.txt")
mix_unique=$(wc -l < "$tmp/mix-unique.txt")
mix_bytes=$(sed "s|^|$docroot|" "$tmp/mix.txt" | tr '\n' '\0' \
                | xargs -0 stat -c %s | awk '{ s += $1 } END { print s }')
log "mix: $mix_requests requests, $mix_unique distinct paths," \
    "$((mix_bytes / mix_requests)) bytes per request on average"
for kind in section avance json html csv asset; do
    echo "   $kind: $(grep -cxF -f "$tmp/mix/$kind" "$tmp/mix.txt" \
                        || true) requests" >&2
done


# ---- sanity checks: 200, same bytes, X-PREP-Corte -------------------------

# fetch NAME ENC: every distinct path once; writes $tmp/check/NAME-ENC/
fetch_all() {
    local name=$1 enc=$2 port dir cfg n=0 path
    local -a hdr=()

    port_var="port_$name"
    port=${!port_var}
    dir="$tmp/check/$name-$enc"
    cfg="$dir.curlrc"
    mkdir -p "$dir"
    [ "$enc" = identity ] || hdr=(-H "Accept-Encoding: gzip")
    : > "$cfg"
    while IFS= read -r path; do
        n=$((n + 1))
        printf 'url = "%s://127.0.0.1:%s%s"\noutput = "%s/%d"\n' \
            "$scheme" "$port" "$path" "$dir" "$n" >> "$cfg"
    done < "$tmp/mix-unique.txt"
    timeout -k 5 300 curl -sk --max-time 30 "${hdr[@]}" -K "$cfg" \
        -w '%{http_code}|%header{content-encoding}|%header{x-prep-corte}\n' \
        > "$dir.status" || die "$name $enc: curl failed"
}

# problem: one line per failed check, the first 20 shown
problem() {
    bad=$((bad + 1))
    (( bad > 20 )) || echo "  $*" >&2
}

check_all() {
    local name enc n path code ce corte gz_count ref

    for name in "${servers[@]}"; do
        for enc in identity gzip; do
            fetch_all "$name" "$enc"
            n=0
            gz_count=0
            while IFS='|' read -r code ce corte <&3 \
                && IFS= read -r path <&4
            do
                n=$((n + 1))
                ref="$docroot$path"
                body="$tmp/check/$name-$enc/$n"
                if [ "$code" != 200 ]; then
                    problem "$name $enc $path: HTTP $code"
                    continue
                fi
                if [ "$name" = module ] && [ -z "$corte" ]; then
                    problem "module $enc $path: no X-PREP-Corte"
                fi
                if [ "$ce" = gzip ]; then
                    gz_count=$((gz_count + 1))
                    if [ "$enc" = identity ]; then
                        problem "$name identity $path: gzip body"
                    fi
                    gzip -dc < "$body" > "$body.raw" 2>/dev/null \
                        || { problem "$name $path: bad gzip"; continue; }
                    body="$body.raw"
                fi
                if ! cmp -s "$body" "$ref"; then
                    problem "$name $enc $path: body differs from file"
                fi
            done 3< "$tmp/check/$name-$enc.status" \
                 4< "$tmp/mix-unique.txt"
            [ "$n" -eq "$mix_unique" ] \
                || die "$name $enc: $n answers for $mix_unique paths"
            log "check $name $enc: $n paths, $gz_count served gzipped"
            printf -v "gzcount_${name}_$enc" %s "$gz_count"
        done
    done
    (( bad == 0 )) || die "sanity check failed: $bad problems (above)"
    if (( ! stock_only )); then
        corte=$(cut -d'|' -f3 "$tmp/check/module-identity.status" | sort -u)
        log "module X-PREP-Corte: $corte"
    fi
    rm -rf "$tmp/check"
}

bad=0
check_all


# ---- measurements --------------------------------------------------------

wrk_pin=()
(( ! pin || nproc < 2 )) || wrk_pin=(taskset -c 0)

declare -A rps p99 errs round_rps cpu_srv cpu_cli us_req

# run_wrk NAME ENC ROUND
run_wrk() {
    local name=$1 enc=$2 round=$3 port_var="port_$1" master_var="master_$1"
    local out line
    local ticks0 ticks1 t0 t1 srv cli per
    local -a hdr=()

    [ "$enc" = identity ] || hdr=(-H "Accept-Encoding: gzip")
    out="$tmp/wrk-$name-$enc-$round.txt"
    ticks0=$(worker_ticks "${!master_var}")
    t0=$(date +%s.%N)
    timeout -k 5 $((duration + 60)) "${wrk_pin[@]}" \
        "$gnu_time" -f '%U %S' -o "$out.cpu" wrk -t"$threads" \
        -c"$conns" -d"${duration}s" --timeout 5s --latency \
        -s "$top/bench/mix.lua" "${hdr[@]}" \
        "$scheme://127.0.0.1:${!port_var}" -- "$tmp/mix.txt" > "$out" 2>&1 \
        || die "wrk failed: $(tail -n 3 "$out")"
    t1=$(date +%s.%N)
    ticks1=$(worker_ticks "${!master_var}")
    line=$(grep '^MIXRESULT' "$out") || die "wrk: no result in $out"
    record_run
}

# run_h2load NAME ENC ROUND: the mix over HTTP/2 (TLS, ALPN h2), $conns
# connections of 10 concurrent streams each; ENC is h2-identity/h2-gzip.
# h2load reports no percentiles: its "p99" column is the mean latency
run_h2load() {
    local name=$1 enc=$2 round=$3 port_var="port_$1" master_var="master_$1"
    local out line urls
    local ticks0 ticks1 t0 t1 srv cli per
    local -a hdr=()

    [ "$enc" = h2-identity ] || hdr=(-H "Accept-Encoding: gzip")
    out="$tmp/h2load-$name-$enc-$round.txt"
    urls="$tmp/h2urls-$name.txt"
    [ -f "$urls" ] || sed "s|^|https://127.0.0.1:${!port_var}|" \
        "$tmp/mix.txt" > "$urls"
    ticks0=$(worker_ticks "${!master_var}")
    t0=$(date +%s.%N)
    timeout -k 5 $((duration + 60)) "${wrk_pin[@]}" \
        "$gnu_time" -f '%U %S' -o "$out.cpu" h2load -t"$threads" \
        -c"$conns" -m10 -D"$duration" "${hdr[@]}" -i "$urls" \
        > "$out" 2>&1 || die "h2load failed: $(tail -n 3 "$out")"
    t1=$(date +%s.%N)
    ticks1=$(worker_ticks "${!master_var}")
    line=$(awk '
        /^finished in/ { gsub(",", ""); rps = $4 }
        /^requests:/ { n = $8; bad = $10 + $12 + $14 }
        /^status codes:/ { gsub(",", ""); non2xx = $5 + $7 + $9 }
        /^time for request:/ { v = $6
            if (v ~ /ms$/) { sub("ms", "", v); v *= 1000 }
            else if (v ~ /us$/) { sub("us", "", v) }
            else if (v ~ /s$/) { sub("s", "", v); v *= 1000000 }
            mean = v }
        END { if (rps == "") exit 1
              printf "MIXRESULT requests=%d rps=%s p99_us=%s err_status=%d " \
                     "err_connect=0 err_read=%d err_write=0 err_timeout=0\n",
                     n, rps, mean, non2xx, bad }' "$out") ||
        die "h2load: no result in $out: $(tail -n 5 "$out")"
    record_run
}

# record_run: the bookkeeping of one run of run_wrk or run_h2load (their
# locals name, enc, round, line, out, ticks0/1, t0/1)
record_run() {
    kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$line"; }

    # CPU budgets as percent of one CPU over the run's wall time, and the
    # workers' CPU per request: the server's cost, whoever limited the rate
    read -r srv cli per < <(awk -v a="$ticks0" -v b="$ticks1" \
        -v hz="$clk_tck" -v t0="$t0" -v t1="$t1" -v n="$(kv requests)" \
        -v c="$(cat "$out.cpu")" 'BEGIN {
            split(c, w, " "); wall = t1 - t0; cpu = (b - a) / hz
            printf "%.1f %.1f %.2f\n", 100 * cpu / wall,
                   100 * (w[1] + w[2]) / wall, (n > 0 ? 1e6 * cpu / n : 0)
        }')
    cpu_srv[$name,$enc]+="$srv "
    cpu_cli[$name,$enc]+="$cli "
    us_req[$name,$enc]+="$per "
    rps[$name,$enc]+="$(kv rps) "
    round_rps[$name,$enc,$round]=$(kv rps)
    p99[$name,$enc]+="$(kv p99_us) "
    errs[$name,$enc]=$(( ${errs[$name,$enc]:-0} + $(kv err_status) \
                         + $(kv err_connect) + $(kv err_read) \
                         + $(kv err_write) + $(kv err_timeout) ))
    log "round $round $name $enc: $(kv rps) req/s, p99 $(kv p99_us) us," \
        "CPU nginx $srv % wrk $cli %, $per us/req"
    emit rps_round "$(kv rps)" req/s "server=$name enc=$enc round=$round"
    emit p99_round "$(kv p99_us)" us "server=$name enc=$enc round=$round"
    emit cpu_server_round "$srv" % "server=$name enc=$enc round=$round"
    emit cpu_client_round "$cli" % "server=$name enc=$enc round=$round"
    emit server_us_per_req_round "$per" us "server=$name enc=$enc round=$round"
}

encs=(identity gzip)
(( ! tls )) || encs+=(h2-identity h2-gzip)
log "measuring: $rounds rounds x ${#encs[@]} x 2 runs x ${duration}s," \
    "wrk -t$threads -c$conns, $workers worker(s)"
# Odd rounds run stock first, even rounds the module first, so that a
# machine slowing down (or warming up) during a round favours neither.
for round in $(seq "$rounds"); do
    order=("${servers[@]}")
    if (( round % 2 == 0 && ${#servers[@]} == 2 )); then
        order=("${servers[1]}" "${servers[0]}")
    fi
    for enc in "${encs[@]}"; do
        for name in "${order[@]}"; do
            case $enc in
            h2-*) run_h2load "$name" "$enc" "$round" ;;
            *) run_wrk "$name" "$enc" "$round" ;;
            esac
        done
    done
done


# ---- summary ---------------------------------------------------------------

printf '\n%-8s %-9s %10s %7s %6s %6s %6s %7s   %s\n' server encoding \
    'req/s' 'p99 ms' errors 'nginx' 'wrk' 'us/req' 'req/s per round'
client_bound=""
for enc in "${encs[@]}"; do
    for name in "${servers[@]}"; do
        # shellcheck disable=SC2086
        med_rps=$(median ${rps[$name,$enc]})
        # shellcheck disable=SC2086
        med_p99=$(median ${p99[$name,$enc]})
        # shellcheck disable=SC2086
        med_srv=$(median ${cpu_srv[$name,$enc]})
        # shellcheck disable=SC2086
        med_cli=$(median ${cpu_cli[$name,$enc]})
        # shellcheck disable=SC2086
        med_us=$(median ${us_req[$name,$enc]})
        printf -v "med_rps_${name}_${enc//-/_}" %s "$med_rps"
        printf -v "med_us_${name}_${enc//-/_}" %s "$med_us"
        printf '%-8s %-9s %10.1f %7.2f %6d %5.0f%% %5.0f%% %7.2f   %s\n' \
            "$name" "$enc" "$med_rps" \
            "$(awk -v u="$med_p99" 'BEGIN { print u / 1000 }')" \
            "${errs[$name,$enc]}" "$med_srv" "$med_cli" "$med_us" \
            "${rps[$name,$enc]}"
        emit rps "$med_rps" req/s "server=$name enc=$enc"
        emit p99 "$med_p99" us "server=$name enc=$enc"
        emit errors "${errs[$name,$enc]}" count "server=$name enc=$enc"
        emit cpu_server "$med_srv" % "server=$name enc=$enc"
        emit cpu_client "$med_cli" % "server=$name enc=$enc"
        emit server_us_per_req "$med_us" us "server=$name enc=$enc"
        # wrk is one process: with -t1 it cannot use more than one CPU
        if awk -v c="$med_cli" -v t="$threads" \
               'BEGIN { exit !(c >= 95 * t) }'
        then
            client_bound+=" $name/$enc"
        fi
    done
done
echo "(nginx, wrk: median CPU of the workers and of wrk, % of one CPU;"
echo " us/req: the workers' CPU time per request)"
if [ -n "$client_bound" ]; then
    echo "client-bound (wrk at >= 95 % per thread):$client_bound;" \
         "their req/s is a floor"
fi
echo

if (( ! stock_only )); then
    for enc in "${encs[@]}"; do
        a_var="med_rps_module_${enc//-/_}"
        b_var="med_rps_stock_${enc//-/_}"
        r=$(ratio "${!a_var}" "${!b_var}")
        # issue 13: 1.3 on the whole package, 1.2 under TLS
        target=1.0
        [ "$enc" = identity ] || target=1.2
        [ "$mix" != whole ] || target=1.3
        (( ! tls )) || target=1.2
        # The verdict uses the median of the per-round ratios: each round
        # measures both servers within seconds of each other, so a change
        # of machine speed between rounds (a noisy neighbour, a VM host)
        # cancels out, while the ratio of the two medians can pair a fast
        # round of one server with a slow round of the other.
        paired=()
        for round in $(seq "$rounds"); do
            paired+=("$(ratio "${round_rps[module,$enc,$round]}" \
                              "${round_rps[stock,$enc,$round]}")")
        done
        med_paired=$(printf %.3f "$(median "${paired[@]}")")
        verdict=$(awk -v r="$med_paired" -v t="$target" \
                      'BEGIN { print (r >= t ? "met" : "MISSED") }')
        printf 'ratio module/stock %-9s %6s   target >= %s: %s\n' \
            "$enc" "$med_paired" "$target" "$verdict"
        printf '   per round: %s; ratio of the medians %s\n' \
            "${paired[*]}" "$r"
        emit ratio_rps_paired "$med_paired" x \
            "enc=$enc target=$target verdict=$verdict"
        emit ratio_rps "$r" x "enc=$enc"
        # the same comparison in server CPU per request (stock / module):
        # what the module saves, even when the client limits req/s
        a_var="med_us_stock_${enc//-/_}"
        b_var="med_us_module_${enc//-/_}"
        r=$(ratio "${!a_var}" "${!b_var}")
        printf '   server CPU per request, stock/module: %s\n' "$r"
        emit ratio_cpu_per_req "$r" x "enc=$enc"
    done
    echo
fi

mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
med_tar=$(median "${tar_times[@]}")
echo "package:         $(mib "$pkg_bytes") .tar.gz, $tree_files files"
echo "unpacked tree:   $(mib "$tree_bytes");" \
     "with $gz_files .gz files: $(mib "$tree_gz_bytes")"
echo "tar -xzf:        ${med_tar} s (median of 3: ${tar_times[*]})"
emit package_bytes "$pkg_bytes" bytes
emit tree_bytes "$tree_bytes" bytes
emit tree_gz_bytes "$tree_gz_bytes" bytes
emit tar_seconds "$med_tar" s
if (( ! stock_only )); then
    med_ingest=$(median "${ingest_times[@]}")
    echo "snapshot:        $(mib "$snap_bytes")" \
         "($(ratio "$snap_bytes" "$tree_bytes") x tree," \
         "$(ratio "$snap_bytes" "$tree_gz_bytes") x tree + .gz)"
    echo "ingest publish:  ${med_ingest} s (median of 3:" \
         "${ingest_times[*]}; $(ratio "$med_ingest" "$med_tar") x tar)"
    emit snapshot_bytes "$snap_bytes" bytes
    emit ingest_seconds "$med_ingest" s
fi
echo "mix:             $mix_requests paths ($mix_unique distinct)," \
     "$((mix_bytes / mix_requests)) bytes per request on average"
echo

print_results
