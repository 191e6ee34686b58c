#!/usr/bin/env bash
# stats.sh: what the visitor statistics cost.  One nginx, one worker per
# core, two servers on the same snapshot: "off" (prep_stats off) and "on"
# (the statistics zone, sessions, a state file saved every 10 s from a
# thread pool, as in nginx.conf.example).  wrk drives both with the same
# mix of paths (as bench/serve.sh's) and the same visitors: every request
# carries an X-Forwarded-For from a pool (-V addresses, realip on) and
# one of four User-Agents, so the session table and the HyperLogLog sets
# work as on results night.  Runs alternate off/on (on/off in even
# rounds); the ratio on/off of requests per second is taken per round
# and over the medians, and the workers' CPU time per request (from
# /proc) is given too: it is steadier than req/s on a shared machine.
# Target: on/off >= 0.95.
#
# Results: a table on stdout and "BENCH bench=stats ..." lines (also
# written to -o FILE).  See bench/RESULTS.md.

set -euo pipefail

# the checkout and the environment (top, build, nginx, python), messages,
# BENCH lines, the temporary directory, the mix: shared with bench/serve.sh
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "$0")/lib.sh" stats
# -V takes up to 1000000 addresses
posint_digits=7

workers=$(nproc)
threads=1
conns=32
duration=10
rounds=5
visitors=20000
size=full
package=""
outfile=""
keep=0

usage() {
    cat <<EOF
usage: bench/stats.sh [-w WORKERS] [-t THREADS] [-c CONNS] [-d SECONDS]
                      [-r ROUNDS] [-V VISITORS] [-s small|full]
                      [-p PACKAGE.tar.gz] [-o FILE] [-k]

  -w N    nginx worker processes (default: one per core, $workers)
  -t N    wrk threads (default $threads)
  -c N    wrk connections (default $conns)
  -d N    seconds per wrk run (default $duration)
  -r N    rounds, each one run off and one run on (default $rounds)
  -V N    distinct client addresses in the pool (default $visitors)
  -s SIZE package to generate: small or full (default $size)
  -p PKG  use this package instead of generating one
  -o FILE also write the BENCH lines to FILE
  -k      keep the temporary directory

Environment: PREP_BUILD (default build/), NGINX_BIN, PYTHON.
EOF
}

while getopts "w:t:c:d:r:V:s:p:o:kh" opt; do
    case $opt in
    V) posint -V "$OPTARG"; visitors=$OPTARG ;;
    s) size=$OPTARG ;;
    h) usage; exit 0 ;;
    *) run_option "$opt" "${OPTARG-}" || { usage >&2; exit 2; } ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 0 ] || { usage >&2; exit 2; }

end_run_options
(( visitors <= 1000000 )) || die "-V: at most 1000000 addresses"
[[ $size == small || $size == full ]] || die "-s: small or full"
bench_keys+=" visitors=$visitors"

need_tools "$nginx" wrk curl tar timeout
need_build
absolute_inputs


# ---- temporary directory, nginx, time bound ----------------------------

master=""

# called on exit (bench/lib.sh): a graceful stop (QUIT), 10 s before KILL
stop_servers() {
    if [ -n "$master" ]; then
        kill -QUIT "$master" 2>/dev/null || true
        reap "$master" 100
    fi
}

setup_tmp prep-stats-bench
start_watchdog $((900 + rounds * 2 * (duration + 30)))


# ---- package, store, the mix ---------------------------------------------

if [ -z "$package" ]; then
    log "generating a $size package"
    gen_package "$size"
fi

mkdir -p "$tmp/store" "$tmp/tree" "$tmp/nginx/tmp"
timeout -k 5 600 "$build/prep-ingest" publish --store "$tmp/store" \
    "$package" > "$tmp/ingest.log" 2>&1 \
    || die "prep-ingest publish failed: $(tail -n 3 "$tmp/ingest.log")"
timeout -k 5 600 tar -xzf "$package" -C "$tmp/tree"

set_docroot "$tmp/tree"

# the mix of bench/serve.sh (bench/lib.sh), a kind the package lacks
# replaced by the pages
list_kinds "$tmp/mix"
for kind in section avance json html csv asset; do
    [ -s "$tmp/mix/$kind" ] || cp "$tmp/mix/html" "$tmp/mix/$kind"
done
write_mix "$tmp/mix" "$tmp/mix.txt"
log "mix: $(wc -l < "$tmp/mix.txt") requests," \
    "$(sort -u "$tmp/mix.txt" | wc -l) distinct paths"

# wrk: the mix, each request from the next address of the pool
cat > "$tmp/visitors.lua" <<'EOF'
local agents = {
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/125.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Safari/605.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126",
    "Mozilla/5.0 (Linux; Android 14) Chrome/125.0 Mobile Safari/537.36",
}
local threads = 0

function setup(thread)
    thread:set("id", threads)
    threads = threads + 1
end

function init(args)
    local f = assert(io.open(args[1], "r"))
    paths = {}
    for line in f:lines() do
        paths[#paths + 1] = line
    end
    f:close()
    pool = tonumber(args[2])
    local id = tonumber(wrk.thread:get("id"))
    i = (id * 7919) % #paths
    v = (id * 104729) % pool
end

function request()
    i = i % #paths + 1
    v = (v + 7) % pool
    return wrk.format(nil, paths[i], {
        ["X-Forwarded-For"] = string.format("10.%d.%d.%d",
            math.floor(v / 65536), math.floor(v / 256) % 256, v % 256),
        ["User-Agent"] = agents[v % 4 + 1],
    })
end

function done(summary, latency, requests)
    local e = summary.errors
    io.write(string.format("VISRESULT requests=%d rps=%.1f p99_us=%d "
        .. "errors=%d\n", summary.requests,
        summary.requests / (summary.duration / 1e6),
        latency:percentile(99),
        e.connect + e.read + e.write + e.status + e.timeout))
end
EOF


# ---- nginx: one worker per core, servers "off" and "on" ------------------

for _ in 1 2 3 4 5; do
    port_off=$(random_port)
    port_on=$((port_off + 1))
    port_free "$port_off" && port_free "$port_on" && break
done

cat > "$tmp/nginx/nginx.conf" <<EOF
load_module $build/ngx_http_prep_module.so;
$( [ "$(id -u)" -ne 0 ] || echo "user root;" )
worker_processes $workers;
error_log $tmp/nginx/error.log notice;
pid $tmp/nginx/nginx.pid;
thread_pool prep_stats threads=1;

events {
    worker_connections 4096;
}

http {
    access_log off;
    server_tokens off;
    keepalive_timeout 65s;
    keepalive_requests 1000000;

    client_body_temp_path $tmp/nginx/tmp/body;
    proxy_temp_path $tmp/nginx/tmp/proxy;
    fastcgi_temp_path $tmp/nginx/tmp/fastcgi;
    uwsgi_temp_path $tmp/nginx/tmp/uwsgi;
    scgi_temp_path $tmp/nginx/tmp/scgi;

    prep_store $tmp/store;

    prep_stats_zone stats 16m;
    prep_stats_state $tmp/nginx/stats.state thread_pool=prep_stats;

    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;

    server {
        listen 127.0.0.1:$port_off;
        location / {
            prep_serve;
            prep_stats off;
        }
    }

    server {
        listen 127.0.0.1:$port_on;
        location / {
            prep_serve;
        }
        location = /status {
            prep_status;
        }
    }
}
EOF

"$nginx" -t -q -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" \
    -e "$tmp/nginx/error.log" || die "nginx -t failed"
"$nginx" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" \
    -e "$tmp/nginx/error.log" -g "daemon off;" 2>> "$tmp/nginx/stderr" &
master=$!
for i in $(seq 100); do
    kill -0 "$master" 2>/dev/null || die "nginx exited: $(tail -n 3 \
                                          "$tmp/nginx/error.log")"
    curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$port_on/status" \
        && curl -sf -o /dev/null --max-time 1 \
               "http://127.0.0.1:$port_off/index.html" && break
    sleep 0.1
done
log "nginx: $workers worker(s), off on :$port_off, on on :$port_on"

status_hits() {
    curl -sf "http://127.0.0.1:$port_on/status?top=1" \
        | "$python" -c 'import json, sys; print(json.load(sys.stdin)
                        ["totals"]["hits"])'
}


# ---- measurements ---------------------------------------------------------

declare -A rps p99 errors_total cpu
declare -a paired
counted_before=$(status_hits)
requests_on=0
hz=$(getconf CLK_TCK)

run() {
    local name=$1 round=$2 port_var="port_$1" out line cpu0 cpu1
    out="$tmp/wrk-$name-$round.txt"
    cpu0=$(worker_ticks "$master")
    timeout -k 5 $((duration + 60)) wrk -t"$threads" -c"$conns" \
        -d"${duration}s" --timeout 5s --latency -s "$tmp/visitors.lua" \
        "http://127.0.0.1:${!port_var}" -- "$tmp/mix.txt" "$visitors" \
        > "$out" 2>&1 || die "wrk failed: $(tail -n 3 "$out")"
    cpu1=$(worker_ticks "$master")
    line=$(grep '^VISRESULT' "$out") || die "wrk: no result in $out"
    kv() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<< "$line"; }
    rps[$name,$round]=$(kv rps)
    p99[$name]+="$(kv p99_us) "
    errors_total[$name]=$(( ${errors_total[$name]:-0} + $(kv errors) ))
    [ "$name" = off ] || requests_on=$((requests_on + $(kv requests)))
    # microseconds of worker CPU per request: steadier than req/s when
    # the machine is shared
    cpu[$name,$round]=$(awk -v t=$((cpu1 - cpu0)) -v hz="$hz" \
                            -v n="$(kv requests)" \
                            'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
    log "round $round $name: $(kv rps) req/s, p99 $(kv p99_us) us," \
        "${cpu[$name,$round]} us CPU per request"
    emit rps_round "$(kv rps)" req/s "stats=$name round=$round"
    emit cpu_us_round "${cpu[$name,$round]}" us/req \
        "stats=$name round=$round"
}

log "measuring: $rounds rounds x 2 runs x ${duration}s, wrk -t$threads" \
    "-c$conns, $visitors addresses"
for round in $(seq "$rounds"); do
    if (( round % 2 )); then
        run off "$round"
        run on "$round"
    else
        run on "$round"
        run off "$round"
    fi
    paired+=("$(ratio "${rps[on,$round]}" "${rps[off,$round]}")")
done


# ---- summary ---------------------------------------------------------------

counted=$(( $(status_hits) - counted_before ))
curl -sf "http://127.0.0.1:$port_on/status?top=3" > "$tmp/status.json"

printf '\n%-5s %12s %10s %8s %10s   %s\n' stats 'req/s' 'p99 ms' errors \
    'CPU us/req' 'req/s per round'
for name in off on; do
    list=()
    cpus=()
    for round in $(seq "$rounds"); do
        list+=("${rps[$name,$round]}")
        cpus+=("${cpu[$name,$round]}")
    done
    med=$(median "${list[@]}")
    med_cpu=$(median "${cpus[@]}")
    printf -v "med_$name" %s "$med"
    printf -v "cpu_$name" %s "$med_cpu"
    # shellcheck disable=SC2086
    med_p99=$(median ${p99[$name]})
    printf '%-5s %12.1f %10.2f %8d %10.2f   %s\n' "$name" "$med" \
        "$(awk -v u="$med_p99" 'BEGIN { print u / 1000 }')" \
        "${errors_total[$name]}" "$med_cpu" "${list[*]}"
    emit rps "$med" req/s "stats=$name"
    emit p99 "$med_p99" us "stats=$name"
    emit errors "${errors_total[$name]}" count "stats=$name"
    emit cpu_us "$med_cpu" us/req "stats=$name"
done

r=$(ratio "$med_on" "$med_off")
med_paired=$(printf %.3f "$(median "${paired[@]}")")
verdict=$(awk -v r="$med_paired" \
              'BEGIN { print (r >= 0.95 ? "met" : "MISSED") }')
echo
echo "ratio on/off of the medians: $r"
echo "ratio on/off per round:      ${paired[*]} (median $med_paired)"
echo "target >= 0.95 (median per round): $verdict"
echo "worker CPU per request on/off: $cpu_on / $cpu_off us" \
     "(ratio $(ratio "$cpu_on" "$cpu_off"))"
emit ratio_rps "$r" x
emit ratio_rps_paired "$med_paired" x "target=0.95 verdict=$verdict"
emit ratio_cpu "$(ratio "$cpu_on" "$cpu_off")" x

# the statistics were really on: every request of the "on" runs counted
echo "counted by the \"on\" server: $counted hits for $requests_on" \
     "requests wrk completed"
"$python" - "$tmp/status.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
print("status: visitors %d, sessions live %d of %d, evicted %d, "
      "state saves %d" % (s["totals"]["visitors"], s["sessions"]["live"],
                          s["zone"]["sessions_capacity"],
                          s["sessions"]["evicted"], s["state"]["saves"]))
EOF
emit counted_hits "$counted" count "wrk_requests=$requests_on"
echo

print_results
