#!/usr/bin/env bash
# store_crash.sh - a publisher killed (SIGKILL) just before its commit leaves
# the previous version current and intact, the environment sound, and the
# next publish working. Also: a killed reader holding a snapshot does not
# block later publishes.
set -u
cd "${RECSYS_ROOT:-$(dirname "$0")/../..}"
TOOL=${BUILD:-build}/tools/store_tool
[ -x "$TOOL" ] || { echo "FAIL: $TOOL is not built"; exit 1; }

tmp=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
dir=$tmp/store

fail() { echo "FAIL: $*"; exit 1; }

expect_current() { # VERSION
    local out
    out=$("$TOOL" check "$dir" m) || fail "check failed: $out"
    [ "$out" = "current $1 ok" ] || fail "expected 'current $1 ok', got '$out'"
}

wait_for_file() { # PATH PID
    for _ in $(seq 1 300); do
        [ -e "$1" ] && return 0
        kill -0 "$2" 2>/dev/null || fail "process $2 exited before creating $1"
        sleep 0.1
    done
    fail "timed out waiting for $1"
}

"$TOOL" publish "$dir" m 6 >/dev/null || fail "first publish"
expect_current 1

# Second publish, paused right before mdb_txn_commit, then killed.
RECSYS_TEST_PAUSE_BEFORE_COMMIT=$tmp/paused "$TOOL" publish "$dir" m 9 >/dev/null &
writer=$!
pids+=("$writer")
wait_for_file "$tmp/paused" "$writer"
# While the writer holds its transaction, readers see version 1 (MVCC).
expect_current 1
kill -9 "$writer"
wait "$writer" 2>/dev/null
[ $? -eq 137 ] || fail "the paused publisher was not killed by SIGKILL"
echo "publisher killed mid-publish"

expect_current 1
if command -v mdb_stat >/dev/null; then
    mdb_stat "$dir" >/dev/null || fail "mdb_stat $dir failed after the crash"
    echo "mdb_stat ok"
else
    echo "mdb_stat not installed; skipped that check"
fi

# The write lock of the dead publisher is recovered; its number was never
# committed, so the next publish is version 2.
out=$("$TOOL" publish "$dir" m 4) || fail "publish after crash: $out"
[ "$out" = "published m version 2" ] || fail "unexpected: $out"
expect_current 2

# A reader killed while holding version 2 does not stop retention or publishing.
"$TOOL" hold "$dir" m "$tmp/holding" &
reader=$!
pids+=("$reader")
wait_for_file "$tmp/holding" "$reader"
kill -9 "$reader"
wait "$reader" 2>/dev/null
for v in 3 4 5; do
    out=$("$TOOL" publish "$dir" m 3 1) || fail "publish $v after killed reader: $out"
done
expect_current 5
list=$("$TOOL" list "$dir") || fail "list"
[ "$list" = "m current 5: 5" ] || fail "unexpected listing: $list"
echo "crash test passed"
