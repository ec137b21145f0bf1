#!/usr/bin/env bash
# tests/run.sh - runs the unit test binaries and the integration scripts.
#
#   tests/run.sh [unit|integration]   (default: both)
#
# Each unit binary is one libcheck suite; each tests/integration/*.sh is one
# scenario that starts the real binaries. A script exits 0 (pass), 77 (skip,
# with its reason on stdout) or anything else (fail). Ends with the line
# "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
BINDIR=${BINDIR:-bin}
export BUILD BINDIR
export RECSYS_ROOT=$PWD
export SHARED_DIR=${SHARED_DIR:-$PWD/../shared}
what=${1:-all}
passed=0 failed=0 skipped=0 failures=()

run_one() {
    local name=$1; shift
    local log
    log=$(mktemp)
    local start=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    local secs=$((SECONDS - start))
    if [ $rc -eq 0 ]; then
        passed=$((passed + 1))
        printf 'PASS  %-40s %4ss  %s\n' "$name" "$secs" "$(grep -E '^[0-9]+%: Checks' "$log" | tail -1)"
    elif [ $rc -eq 77 ]; then
        skipped=$((skipped + 1))
        printf 'SKIP  %-40s %s\n' "$name" "$(tail -1 "$log")"
    else
        failed=$((failed + 1))
        failures+=("$name")
        printf 'FAIL  %-40s (exit %d)\n' "$name" "$rc"
        sed 's/^/      | /' "$log" | tail -40
    fi
    rm -f "$log"
}

if [ "$what" = all ] || [ "$what" = unit ]; then
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        run_one "unit/$(basename "$t")" "$t"
    done
fi
if [ "$what" = all ] || [ "$what" = integration ]; then
    for t in tests/integration/*.sh; do
        [ -f "$t" ] || continue
        run_one "integration/$(basename "$t" .sh)" bash "$t"
    done
fi

echo
[ ${#failures[@]} -eq 0 ] || echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ $failed -eq 0 ]
