#!/usr/bin/env bash
# logs.sh: reading access logs, against GoAccess.  A generated nginx log
# (combined format; -n lines, -v visitors, -D days; bench/gen_logs.py)
# is read by prep-report's log reader (build/prep-report --log when it
# is built, else build/prep-logs-dump, the same code alone) and by
# GoAccess (Debian's goaccess, JSON output), one after the other, -r
# rounds, the same file, the same run.  Each run is timed by
# /usr/bin/time: wall time, lines per second, peak resident memory.
# Targets: at least 2x GoAccess's lines per second, under 256 MiB.
# On a terminal, prep's progress line shows while it reads.
#
# Results: a table on stdout and "BENCH bench=logs ..." lines (also
# written to -o FILE).  See bench/RESULTS.md.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${PREP_BUILD:-$top/build}
python=${PYTHON:-/usr/bin/python3}

lines=10000000
visitors=1000000
days=1
rounds=1
outfile=""
keep=0
log_file=""

die() { echo "logs.sh: $*" >&2; exit 1; }
say() { echo "== $*" >&2; }

usage() {
    cat <<USAGE
usage: bench/logs.sh [-n LINES] [-v VISITORS] [-D DAYS] [-r ROUNDS]
                     [-f LOG] [-o FILE] [-k]

  -n LINES     lines of the generated log (10000000)
  -v VISITORS  distinct visitors in it (1000000)
  -D DAYS      days it spans (1)
  -r ROUNDS    runs of each reader (1)
  -f LOG       read this log instead of generating one
  -o FILE      also write the BENCH lines to FILE
  -k           keep the generated log (in \$TMPDIR/prep-bench-logs)

Environment: PREP_BUILD (build directory), PYTHON.
USAGE
}

while getopts "n:v:D:r:f:o:kh" opt; do
    case $opt in
    n) lines=$OPTARG ;;
    v) visitors=$OPTARG ;;
    D) days=$OPTARG ;;
    r) rounds=$OPTARG ;;
    f) log_file=$OPTARG ;;
    o) outfile=$OPTARG ;;
    k) keep=1 ;;
    h) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
done

for v in "$lines" "$visitors" "$days" "$rounds"; do
    [[ $v =~ ^[1-9][0-9]{0,9}$ ]] || die "not a positive integer: $v"
done

command -v goaccess >/dev/null || die "goaccess is not installed"
[ -x /usr/bin/time ] || die "/usr/bin/time is not installed (time)"

if [ -x "$build/prep-report" ] \
   && "$build/prep-report" --help 2>&1 | grep -q -- '--log'; then
    prep=("$build/prep-report")
    prep_name=prep-report
else
    [ -x "$build/prep-logs-dump" ] || die "build $build/prep-logs-dump (make)"
    prep=("$build/prep-logs-dump" --no-rows --progress)
    prep_name=prep-logs-dump
fi

work=${TMPDIR:-/tmp}/prep-bench-logs
mkdir -p "$work"
cleanup() {
    if [ "$keep" = 0 ] && [ -z "$log_file" ]; then
        rm -f "$work/access.log"
    fi
    rm -rf "$work/out"
}
trap cleanup EXIT

if [ -z "$log_file" ]; then
    log_file=$work/access.log
    if [ ! -f "$log_file.done-$lines-$visitors-$days" ] \
       || [ ! -f "$log_file" ]; then
        say "generating $lines lines, $visitors visitors, $days day(s)"
        rm -f "$log_file".done-*
        "$python" "$top/bench/gen_logs.py" "$lines" "$visitors" "$days" \
            "$log_file"
        touch "$log_file.done-$lines-$visitors-$days"
    fi
fi

nlines=$(wc -l < "$log_file")
size=$(stat -c %s "$log_file")
say "$log_file: $nlines lines, $((size / 1048576)) MiB"

# warm the page cache, so the first reader is not the one that pays
cat "$log_file" > /dev/null

# run NAME CMD...: prints "seconds max_rss_kib"
run() {
    local name=$1; shift
    mkdir -p "$work/out"
    /usr/bin/time -f "%e %M" -o "$work/out/time" "$@" \
        > "$work/out/$name.out"
    cat "$work/out/time"
}

bench_lines=()
printf '%-16s %6s %10s %12s %10s\n' reader round seconds lines/s peak_MiB
for r in $(seq 1 "$rounds"); do
    if [ "$prep_name" = prep-report ]; then
        read -r ps pm < <(run prep "${prep[@]}" --log "nginx:$log_file" \
                              --out "$work/out/report")
    else
        read -r ps pm < <(run prep "${prep[@]}" "nginx:$log_file")
    fi
    read -r gs gm < <(run goaccess goaccess "$log_file" \
                          --log-format=COMBINED --no-progress \
                          -o "$work/out/ga.json")
    for x in "prep $ps $pm" "goaccess $gs $gm"; do
        set -- $x
        lps=$(awk -v n="$nlines" -v s="$2" 'BEGIN { printf "%.0f", n / s }')
        printf '%-16s %6s %10s %12s %10s\n' "$1" "$r" "$2" "$lps" \
            "$(( $3 / 1024 ))"
        bench_lines+=("BENCH bench=logs reader=$1 round=$r lines=$nlines \
seconds=$2 lines_per_s=$lps peak_kib=$3")
    done
    ratio=$(awk -v a="$gs" -v b="$ps" 'BEGIN { printf "%.2f", a / b }')
    bench_lines+=("BENCH bench=logs round=$r speedup=$ratio \
prep_peak_mib=$(( pm / 1024 )) goaccess_peak_mib=$(( gm / 1024 ))")
    echo "round $r: prep is ${ratio}x GoAccess; prep peak $(( pm / 1024 )) \
MiB (target < 256), GoAccess $(( gm / 1024 )) MiB"
done

# the figures agree: hits, as a sanity check of what was timed
if [ "$prep_name" = prep-logs-dump ]; then
    "$python" - "$work/out/prep.out" "$work/out/ga.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
g = json.load(open(sys.argv[2]))["general"]
print("hits: prep %d (+%d bots), GoAccess %d valid requests; "
      "visitors: prep %d, GoAccess %d"
      % (p["hits"], p["bot_hits"], g["valid_requests"],
         p["visitor_days"], g["unique_visitors"]))
PY
fi

printf '%s\n' "${bench_lines[@]}"
if [ -n "$outfile" ]; then
    printf '%s\n' "${bench_lines[@]}" > "$outfile"
fi
