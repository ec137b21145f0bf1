#!/usr/bin/env bash
# tests/tsan.sh - ThreadSanitizer check of the server's hot reload: builds
# bin/recserve and the watcher's unit test with -fsanitize=thread into
# build-tsan/, runs the unit test (readers hold and read versions while the
# watcher swaps them; store swaps) and the reload scenarios against the
# server (tests/integration/ops_reload.sh: 20 versions swapped in under load;
# ops_corrupt.sh: refusals, SIGHUP, admin reloads; store_faults.sh: data.mdb
# truncated, restored, deleted and recreated under the watcher;
# server_edge.sh: the connection guard's reaper, caps and deadlines;
# ops_config_reload.sh: experiments, pins and the log level swapped on SIGHUP
# under load; ops_pin.sh: pins under load; server_apikeys.sh: key rotation;
# ops_notify.sh: readiness while the watcher loads), and
# the events path: the HTTP layer's deferred answers and the feedback
# tables under concurrent threads (test_server_http, test_server_outcomes),
# events_fresh.sh, events_durability.sh (16 writers against the group
# commit, SIGKILL, restart), events_ab.sh and trainer_events.sh. Passes when all of them
# pass and ThreadSanitizer reported nothing.
#
#   tests/tsan.sh            (from the repository root; takes a few minutes)
#
# The trainer and the load generator are the regular builds (bin/, build/):
# only the server's threads are under test. OpenBLAS and libmicrohttpd are not
# instrumented; their own memory accesses are invisible to the sanitizer, but
# every lock and thread they use goes through the intercepted pthread calls.
set -u
cd "$(dirname "$0")/.."
B=build-tsan
REPORTS=$PWD/$B/reports
command -v "${CC:-cc}" >/dev/null || { echo "no C compiler"; exit 77; }

echo "== building the regular tree (trainer, tools)"
make -s all >/dev/null || exit 1
echo "== building $B/bin/recserve and $B/tests/test_server_watcher with -fsanitize=thread"
make -s BUILD=$B BINDIR=$B/bin OPT="-O1 -fno-omit-frame-pointer" SAN="-fsanitize=thread" \
    $B/bin/recserve $B/tests/test_server_watcher $B/tests/test_server_http \
    $B/tests/test_server_outcomes >/dev/null || exit 1
ln -sf "$PWD/bin/rectrain" "$B/bin/rectrain"
rm -rf "$REPORTS"
mkdir -p "$REPORTS"

# Some kernels map memory where the TSan runtime cannot work (high ASLR
# entropy); running without ASLR avoids "unexpected memory mapping".
RUN=()
if ! TSAN_OPTIONS=report_bugs=0 "$B/bin/recserve" --version >/dev/null 2>&1; then
    command -v setarch >/dev/null && RUN=(setarch "$(uname -m)" -R)
fi
export TSAN_OPTIONS="log_path=$REPORTS/tsan second_deadlock_stack=1 history_size=4"
export BINDIR=$B/bin LOADGEN=$PWD/build/tools/loadgen TSAN_CHECK=1
export EVENTS_TOOL=$PWD/build/tools/events_tool
rc=0
for u in test_server_watcher test_server_http test_server_outcomes; do
    echo "== unit test $u"
    CK_FORK=no "${RUN[@]}" "$B/tests/$u" || rc=1
done
for t in ops_reload ops_corrupt store_faults server_edge ops_config_reload ops_pin server_apikeys \
    ops_notify server_accesslog events_fresh events_durability events_ab trainer_events; do
    echo "== $t against the TSan server"
    "${RUN[@]}" bash tests/integration/$t.sh
    s=$?
    [ $s -eq 0 ] || { echo "$t: exit $s"; rc=1; }
done
if ls "$REPORTS"/tsan* >/dev/null 2>&1; then
    echo "== ThreadSanitizer reports:"
    cat "$REPORTS"/tsan*
    grep -h '^WARNING: ThreadSanitizer' "$REPORTS"/tsan* | sort | uniq -c
    rc=1
else
    echo "== no ThreadSanitizer report"
fi
[ $rc -eq 0 ] && echo "tsan: PASS" || echo "tsan: FAIL"
exit $rc
