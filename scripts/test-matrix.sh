#!/usr/bin/env bash
# `make test-matrix`: the test suite on each Airflow release given as an argument, one venv per release
# (built by `make venv AIRFLOW_VERSION=...`), without the tests marked airflow_free (code that imports no
# Airflow: the same on every line) or scale (our own state and parsing at ten times their sizes: the same
# code paths run at ordinary sizes here); `make test` runs all of them on the newest line.
#
# First every release's venv is built, side by side (pip mostly waits on the network). Then the suites run
# MATRIX_JOBS at a time (default 1), each with MATRIX_WORKERS pytest-xdist workers (default 4): on 2 cores,
# three lines side by side (6 workers) took longer in CI than one line after another with 4 workers each,
# and the overload stretched tests that wait on a trigger 20-fold. Runs every line even when one fails,
# prints one summary line per release, and exits non-zero if any release failed. Each line's full output is
# kept in .matrix/.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p .matrix
jobs_at_once=${MATRIX_JOBS:-1}
workers=${MATRIX_WORKERS:-4}

start=$SECONDS
for version in "$@"; do
    rm -f ".matrix/airflow-$version.status" ".matrix/airflow-$version.venv"
    echo "Airflow $version: building its venv (log: .matrix/airflow-$version.log)"
    { make --no-print-directory venv AIRFLOW_VERSION="$version" >".matrix/airflow-$version.log" 2>&1
      echo "$? $((SECONDS - start))" >".matrix/airflow-$version.venv"; } &
done
wait
echo "venvs built in $((SECONDS - start))s"

run_line() {
    local version=$1 log=".matrix/airflow-$1.log" begin=$SECONDS status
    read -r status _ <".matrix/airflow-$version.venv" || status=1
    if [ "$status" -eq 0 ]; then
        make --no-print-directory test-suite AIRFLOW_VERSION="$version" PYTEST_WORKERS="$workers" \
            PYTEST_SELECT='-m "not airflow_free and not scale"' >>"$log" 2>&1
        status=$?
    fi
    echo "$status $((SECONDS - begin))" >".matrix/airflow-$version.status"
}

running=()  # the pids of the lines under test, oldest first
for version in "$@"; do
    if [ "${#running[@]}" -ge "$jobs_at_once" ]; then
        wait "${running[0]}"
        running=("${running[@]:1}")
    fi
    echo "Airflow $version: testing"
    run_line "$version" &
    running+=("$!")
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
    summary+=("$(printf 'Airflow %-7s %-6s %4ss (tests)  %s' "$version" "$verdict" "$seconds" "$result")")
done

echo
echo "==================== test matrix ($((SECONDS - start))s in all) ===================="
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
    echo "At least one Airflow release FAILED; full logs in .matrix/."
fi
echo "matrix: $total_passed passed, $total_failed failed, $total_skipped skipped"
exit "$failed"
