#!/usr/bin/env bash
# test-matrix.sh BUILD_DIR NAME=NGINX_BIN:MODULE_SO ...
#
# Runs the whole integration suite (tests/integration) once per nginx of
# the runtime matrix, the runs side by side: every test has its own
# prefix, store, ports and temp directories, so the runs are independent.
# Each run's output goes to BUILD_DIR/matrix/NAME.log; its summary line
# is printed when all are done, and the log's failures for a failed run.
# Exits non-zero when any run failed.  Called by `make integration`.
#
# PYTEST_ARGS adds arguments to every run (e.g. "-x" or "-k serve");
# MATRIX_JOBS (default 3) bounds how many runs go at once.

set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
[ $# -ge 2 ] || {
    echo "usage: test-matrix.sh BUILD_DIR NAME=NGINX_BIN:MODULE_SO ..." >&2
    exit 2
}
build=$(cd "$1" && pwd)
shift
python=${PYTHON:-/usr/bin/python3}
jobs=${MATRIX_JOBS:-3}
logs="$build/matrix"
mkdir -p "$logs"

declare -A pid_of
names=()
start=$(date +%s)

for spec in "$@"; do
    name=${spec%%=*}
    rest=${spec#*=}
    bin=${rest%%:*}
    so=${rest#*:}
    names+=("$name")
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
        wait -n
    done
    echo "== integration on $name: $bin ($("$bin" -v 2>&1 | head -n 1))"
    # shellcheck disable=SC2086
    (cd "$top" && PREP_BUILD="$build" NGINX_BIN="$bin" PREP_MODULE="$so" \
        exec "$python" -m pytest -q -p no:cacheprovider -rfE \
        ${PYTEST_ARGS:-} tests/integration) > "$logs/$name.log" 2>&1 &
    pid_of[$name]=$!
done

failed=0
total_passed=0
total_failed=0
for name in "${names[@]}"; do
    if wait "${pid_of[$name]}"; then
        status=ok
    else
        status=FAILED
        failed=1
    fi
    echo "== $name: $status: $(grep -E '^(=+ )?[0-9]+ (passed|failed)' \
        "$logs/$name.log" | tail -n 1)"
    summary=$(grep -E '^(=+ )?[0-9]+ (passed|failed)' "$logs/$name.log" |
              tail -n 1)
    p=$(echo "$summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+')
    f=$(echo "$summary" | grep -oE '[0-9]+ (failed|error)' |
        awk '{ n += $1 } END { if (NR) print n }')
    total_passed=$(( total_passed + ${p:-0} ))
    total_failed=$(( total_failed + ${f:-0} ))
    if [ "$status" = FAILED ] && [ -z "$f" ]; then
        total_failed=$(( total_failed + 1 ))     # crashed, no summary
    fi
    if [ "$status" = FAILED ]; then
        grep -E '^(FAILED|ERROR) ' "$logs/$name.log" | sed 's/^/   /'
        echo "   (whole output: $logs/$name.log)"
    fi
done
echo "== integration matrix: $(( $(date +%s) - start )) s"
echo "matrix: $total_passed passed, $total_failed failed"
exit "$failed"
