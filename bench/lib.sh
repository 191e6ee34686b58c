# shellcheck shell=bash
# lib.sh: the shell shared by bench/serve.sh and bench/stats.sh, sourced
# by them (not run) first of all:
#
#     . "$(dirname "$0")/lib.sh" NAME
#
# NAME (serve, stats) names the script in messages ("NAME.sh: ...") and
# in its BENCH lines (bench=NAME).  What differs between the two stays in
# the scripts: usage, defaults, their own options, the servers and how
# they start and stop (the function stop_servers, which cleanup calls),
# the measurements.  Read here, from the script: the options keep,
# package, outfile, workers, threads, conns, duration, rounds.  Set here
# for the script: top (the checkout), build, nginx, python (from the
# environment), tmp, results, bench_keys, docroot, package (when
# generated).
#
# bench/ingest.sh does not source this file: it measures in Python, and
# its few lines of shell (tool checks, a work directory) differ in what
# they check and clean up.

bench=$1

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# the environment both read (their usage: "Environment: ...")
build=${PREP_BUILD:-$top/build}
# shellcheck disable=SC2034  # run by the scripts
nginx=${NGINX_BIN:-/usr/sbin/nginx}
python=${PYTHON:-/usr/bin/python3}


# ---- messages, options ---------------------------------------------------

die() { echo "$bench.sh: $*" >&2; exit 1; }
log() { echo "== $*" >&2; }

# posint FLAG VALUE: 1 to posint_digits digits, so that the bounds
# checked later never meet a number too large for bash's arithmetic;
# stats.sh sets 7, for -V
posint_digits=6

posint() {
    [[ $2 =~ ^[1-9][0-9]{0,$((posint_digits - 1))}$ ]] \
        || die "$1 needs a positive integer: $2"
}

# run_option OPT ARG: the options both benchmarks take, as their usage
# describes them (-w -t -c -d -r -p -o -k); false for any other
run_option() {
    case $1 in
    w) posint -w "$2"; workers=$2 ;;
    t) posint -t "$2"; threads=$2 ;;
    c) posint -c "$2"; conns=$2 ;;
    d) posint -d "$2"; duration=$2 ;;
    r) posint -r "$2"; rounds=$2 ;;
    p) package=$2 ;;
    o) outfile=$2 ;;
    k) keep=1 ;;
    *) return 1 ;;
    esac
}

# end_run_options: once the options are final, the bounds both share (so
# that a typo cannot start a run of hours), and the keys every BENCH line
# ends with, the run's options, so that lines from different runs compare
# (a script adds its own options to bench_keys)
# shellcheck disable=SC2154  # the options: globals of the script
end_run_options() {
    (( workers <= 64 )) || die "-w: at most 64 workers"
    (( threads <= conns )) || die "-t: more wrk threads than connections"
    (( duration <= 600 )) || die "-d: at most 600 seconds per run"
    (( rounds <= 50 )) || die "-r: at most 50 rounds"
    bench_keys="workers=$workers threads=$threads conns=$conns"
    bench_keys+=" duration_s=$duration rounds=$rounds"
}

need_tools() {
    local tool

    for tool in "$@"; do
        command -v "$tool" > /dev/null || die "missing tool: $tool"
    done
}

need_build() {
    [ -f "$build/ngx_http_prep_module.so" ] || die "build first: make module"
    [ -x "$build/prep-ingest" ] || die "build first: make ingest"
}

# -p and -o as absolute paths, checked before the run starts, not after
# it has generated a package or measured for minutes
absolute_inputs() {
    if [ -n "$package" ]; then
        [ -f "$package" ] || die "no such package: $package"
        package=$(realpath "$package")
    fi
    [ -z "$outfile" ] || outfile=$(realpath -m "$outfile")
}


# ---- temporary directory, processes, time bound --------------------------

tmp=""
watchdog=""

# setup_tmp PREFIX: $tmp, a new /tmp/PREFIX.XXXXXX, removed on exit (kept
# with -k) after the script's stop_servers has stopped what it started;
# an interrupted run exits through the same cleanup.  $results collects
# the BENCH lines.
setup_tmp() {
    tmp=$(mktemp -d "/tmp/$1.XXXXXX")
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    results="$tmp/results"
    : > "$results"
}

# shellcheck disable=SC2154  # keep: the script's -k
cleanup() {
    trap - EXIT INT TERM
    stop_servers
    [ -z "$watchdog" ] || kill "$watchdog" 2>/dev/null || true
    if (( keep )); then
        echo "$bench.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
}

# reap PID TRIES: wait up to TRIES tenths of a second for PID to exit
# (after the caller signalled it), then kill it for good
reap() {
    local pid=$1

    for _ in $(seq "$2"); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# start_watchdog SECONDS: a run that hangs (a server that stops
# answering, wrk stuck) is ended through cleanup instead of holding the
# machine; cleanup stops the watchdog when the run ends in time
start_watchdog() {
    local limit=$1

    (
        trap 'kill "$nap" 2>/dev/null; exit 0' TERM
        sleep "$limit" &
        nap=$!
        wait "$nap"
        echo "$bench.sh: over ${limit}s, giving up" >&3
        kill -TERM $$
    ) 3>&2 2>/dev/null &    # the message on fd 3; the kill's noise dropped
    watchdog=$!
}


# ---- results -------------------------------------------------------------

# the keys every BENCH line ends with (see end_run_options)
bench_keys=""

# BENCH line: metric value unit [key=value ...]
emit() {
    local metric=$1 value=$2 unit=$3 line
    shift 3
    line="BENCH bench=$bench metric=$metric"
    [ $# -eq 0 ] || line="$line $*"
    echo "$line value=$value unit=$unit $bench_keys" >> "$results"
}

# the BENCH lines after the table, and into -o FILE
print_results() {
    cat "$results"
    [ -z "$outfile" ] || cp "$results" "$outfile"
}

median() {
    printf '%s\n' "$@" | sort -g | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "nan"; exit }
            if (NR % 2) { print v[(NR + 1) / 2] }
            else { printf "%.6g\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }
        }'
}

ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f\n", (b > 0 ? a / b : 0) }'
}


# ---- package, document root, the request mix -----------------------------

# gen_package SIZE: generates a package in $tmp/pkg, sets $package
gen_package() {
    mkdir "$tmp/pkg"
    timeout -k 5 900 "$python" "$top/tests/fixtures/gen_prep.py" \
        --size "$1" --corte 20240603_0015 --out "$tmp/pkg" \
        > "$tmp/gen.log" || die "gen_prep.py failed: $(tail -n 3 \
                                                      "$tmp/gen.log")"
    package=$(tail -n 1 "$tmp/gen.log")
    [ -f "$package" ] || die "gen_prep.py did not print a package path"
}

# set_docroot TREE: a package may wrap everything in one top-level
# directory
set_docroot() {
    local tree=$1
    local -a entries

    docroot=$tree
    mapfile -t entries < <(ls -A "$tree")
    if [ "${#entries[@]}" -eq 1 ] && [ -d "$tree/${entries[0]}" ] \
        && [ ! -e "$tree/index.html" ]
    then
        docroot="$tree/${entries[0]}"
    fi
}

# The mix, requests per 1000 by kind (bench/RESULTS.md, "Mix"): one for
# both benchmarks, so that their numbers compare.
MIX_SECTION=700
MIX_AVANCE=100
MIX_JSON=50
MIX_HTML=100
MIX_CSV=20
MIX_ASSET=30

# paths (relative to the document root) of regular files matching an
# extended regex, sorted, only URL-safe names; never the .gz files
# serve.sh writes next to the originals
list_files() {
    (cd "$docroot" && find . -type f ! -name '*.gz' -printf '/%P\n') \
        | grep -E '^/[A-Za-z0-9._/~-]+$' | grep -E "$1" | LC_ALL=C sort \
        || true
}

# pick COUNT FILE: COUNT entries striding through a list
pick() {
    awk -v n="$1" '
        { p[NR] = $0 }
        END {
            if (NR == 0) exit
            stride = (NR > n) ? int(NR / n) : 1
            for (i = 0; i < n; i++) print p[(i * stride) % NR + 1]
        }' "$2"
}

# list_kinds DIR: the candidates of every kind, one list a kind in DIR
# (section, avance, json, html, csv, asset); some may be empty, each
# script has its own fallbacks
list_kinds() {
    local dir=$1

    mkdir -p "$dir"
    # per-section files: entidad/23_0085.json and alike
    list_files '/[0-9]+_[0-9]{3,}\.json$' > "$dir/section"
    list_files '/avance[^/]*\.json$' > "$dir/avance"
    # other JSON under 256 KB (the GeoJSON maps are fetched rarely)
    (cd "$docroot" && find . -type f -name '*.json' -size -256k \
        -printf '/%P\n' | LC_ALL=C sort) \
        | grep -vxF -f "$dir/section" -f "$dir/avance" > "$dir/json" \
        || true
    list_files '/index\.html$' > "$dir/html"
    list_files '\.csv$' > "$dir/csv"
    list_files '\.(js|css)$' > "$dir/asset"
}

# write_mix DIR OUT: the mix from the lists in DIR, in a fixed
# permutation, so kinds alternate the same way every run
write_mix() {
    local dir=$1

    {
        pick "$MIX_SECTION" "$dir/section"
        pick "$MIX_AVANCE" "$dir/avance"
        pick "$MIX_JSON" "$dir/json"
        pick "$MIX_HTML" "$dir/html"
        pick "$MIX_CSV" "$dir/csv"
        pick "$MIX_ASSET" "$dir/asset"
    } | awk '{ printf "%d\t%s\n", (NR * 7919) % 1000003, $0 }' | sort -n \
      | cut -f2 > "$2"
}


# ---- servers -------------------------------------------------------------

# port_free PORT: no socket on it, listening or connected (an outgoing
# connection on the port makes nginx's bind fail as well)
port_free() {
    [ -z "$(ss -Htan "sport = :$1" 2>/dev/null)" ]
}

# random_port: a port for a server to listen on, below the kernel's
# ephemeral range (net.ipv4.ip_local_port_range), from which outgoing
# connections take theirs between our check and nginx's bind
random_port() {
    local low

    read -r low _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null \
        || low=32768
    if (( low > 12000 )); then
        echo $((10000 + RANDOM % (low - 10000 - 1)))
    else
        echo $((20000 + RANDOM % 30000))
    fi
}

# worker_ticks MASTER: user + system clock ticks of all of MASTER's
# children (the nginx workers)
worker_ticks() {
    local w total=0 stat
    local -a fields

    for w in $(pgrep -P "$1"); do
        stat=$(cat "/proc/$w/stat" 2>/dev/null) || continue
        # fields 14 and 15 (utime, stime) counted after the ") " that ends
        # the command name, which may itself hold spaces
        read -r -a fields <<< "${stat##*) }"
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}
