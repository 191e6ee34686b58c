#!/bin/sh
# bench/report.sh: prep-report over a week from 4 origins with 10,000
# paths each (state files and events written by build/prep-stats-gen,
# the module's own format through libprep), timed with /usr/bin/time -v.
# Target (issue 9): under 2 s and under 64 MiB peak RSS.
#
#   make all && bench/report.sh [BUILD]
set -eu

BUILD=${1:-build}
GEN=$BUILD/prep-stats-gen
REPORT=$BUILD/prep-report
START=1780380000                    # 2026-06-02T00:00-06:00
DIR=$(mktemp -d "${TMPDIR:-/tmp}/prep-bench-report.XXXXXX")
trap 'rm -rf "$DIR"' EXIT INT TERM

args=""
for i in 1 2 3 4; do
    # overlapping visitor pools: every origin shares half of its own
    "$GEN" --out "$DIR/o$i.state" --events "$DIR/o$i.jsonl" \
        --start $START --days 7 --paths 10000 --rate 600 \
        --visitors 20000 --visitor-base $((i * 10000)) --seed $i
    args="$args --stats $DIR/o$i.state --events $DIR/o$i.jsonl"
done

ls -l "$DIR"
# shellcheck disable=SC2086
/usr/bin/time -v "$REPORT" $args --out "$DIR/out" 2>"$DIR/time.txt"
grep -E "Elapsed|Maximum resident|User time|System time" "$DIR/time.txt"
ls -l "$DIR/out"
grep -E "\"(hits|visitors|visitor_days_sum|cortes_published)\"" "$DIR/out/memoria-tecnica.json" | head -4
grep -c "\"name\"" "$DIR/out/memoria-tecnica.json" || true
