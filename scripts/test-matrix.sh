#!/usr/bin/env bash
# `make test-matrix`: the test suite on each Airflow release given as an argument, one venv per release
# (built by `make venv AIRFLOW_VERSION=...`), without the tests marked airflow_free (code that imports no
# Airflow: the same on every line) or scale (our own state and parsing at ten times their sizes: the same
# code paths run at ordinary sizes here); `make test` runs all of them on the newest line.
#
# The releases run side by side (MATRIX_JOBS at a time, default all), each with MATRIX_WORKERS pytest-xdist
# workers (default 2): a test mostly waits on loopback HTTP and pacing, so on 2 cores three lines at once take
# about half the time of three in a row. Runs every line even when one fails, prints one summary line per
# release, and exits non-zero if any release failed. Each line's full output is kept in .matrix/.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .matrix
jobs_at_once=${MATRIX_JOBS:-$#}
workers=${MATRIX_WORKERS:-2}

run_line() {
    local version=$1 log=".matrix/airflow-$1.log" start=$SECONDS
    make --no-print-directory test-suite AIRFLOW_VERSION="$version" PYTEST_WORKERS="$workers" \
        PYTEST_SELECT='-m "not airflow_free and not scale"' >"$log" 2>&1
    local status=$?
    echo "$status $((SECONDS - start))" >".matrix/airflow-$version.status"
}

start=$SECONDS
running=0
for version in "$@"; do
    rm -f ".matrix/airflow-$version.status"
    echo "Airflow $version: started (log: .matrix/airflow-$version.log)"
    run_line "$version" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs_at_once" ]; then
        wait -n
        running=$((running - 1))
    fi
done
wait

failed=0
summary=()
total_passed=0
total_failed=0
total_skipped=0
for version in "$@"; do
    log=".matrix/airflow-$version.log"
    read -r status seconds <".matrix/airflow-$version.status" || { status=1; seconds="?"; }
    # pytest's closing line, e.g. "401 passed, 12 skipped in 95.31s (0:01:35)".
    result=$(grep -E "([0-9]+ (passed|failed|errors?|skipped)|no tests ran).* in [0-9.]+s" "$log" | tail -1 | tr -d '=' | xargs)
    [ -n "$result" ] || result="no pytest result (see $log)"
    count() { grep -oE "[0-9]+ $1" <<<"$result" | grep -oE "^[0-9]+" || echo 0; }
    total_passed=$((total_passed + $(count passed)))
    total_failed=$((total_failed + $(count failed) + $(count error)))
    total_skipped=$((total_skipped + $(count skipped)))
    if [ "$status" -eq 0 ]; then
        verdict=ok
    else
        verdict=FAILED
        failed=1
        echo
        echo "==================== Airflow $version: the end of its log ===================="
        tail -60 "$log"
    fi
    summary+=("$(printf 'Airflow %-7s %-6s %4ss (venv and tests)  %s' "$version" "$verdict" "$seconds" "$result")")
done

echo
echo "==================== test matrix ($((SECONDS - start))s in all) ===================="
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
    echo "At least one Airflow release FAILED; full logs in .matrix/."
fi
echo "matrix: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit "$failed"
