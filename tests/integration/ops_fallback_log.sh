#!/usr/bin/env bash
# ops_fallback_log.sh - a corrupted current version: `rectrain store verify`
# marks it and exits 1; at start, recserve serves the newest older version
# that validates, and the log says so in one line: never "nothing to serve"
# followed by a version that serves.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
CORRUPT=${BUILD:-build}/tools/corrupt_tool
[ -x "$CORRUPT" ] || skip "skipped: $CORRUPT is not built"
make_store
"$RECTRAIN" --data "$DATA" --model vae --epochs 1 --hidden 32 --latent 8 --seed 5 --threads 1 \
    --progress off --store "$T/store" --variant default >"$T/publish.log" 2>&1 ||
    { cat "$T/publish.log"; exit 1; }
"$CORRUPT" "$T/store" default 2 >"$T/corrupt.out" || fail "corrupt_tool failed"
# rectrain store verify says which version a server would refuse, and fails.
"$RECTRAIN" store verify "$T/store" >"$T/ls.txt" 2>"$T/ls.err"
rc=$?
[ $rc -eq 1 ] || fail "store verify with a corrupted version: exit $rc, expected 1"
[ "$(grep -c '^default [0-9]*: ok' "$T/ls.txt")" = 1 ] || fail "store verify: version 1 is not listed as ok"
grep -q '^default 2: FAILED: .*checksum' "$T/ls.txt" || fail "store verify: version 2 is not listed as failed"
start_server
WHAT="older version serves"; req GET /v1/users/u1/recommendations
expect 200 && { [ "$(header X-Recsys-Version)" = 1 ] || fail "$WHAT: version $(header X-Recsys-Version)"; }
grep -q "refused variant default version 2 (serving older version 1 instead)" "$T/server.log" ||
    fail "no log line says version 1 serves instead of the refused version 2"
! grep -q "nothing to serve" "$T/server.log" || fail "the log says nothing serves, yet version 1 does"
stop_server
finish
