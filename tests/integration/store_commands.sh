#!/usr/bin/env bash
# store_commands.sh - `rectrain store ...` against a store a real recserve
# is serving:
#   - ls: one line per version with the current mark; --json: the manifests;
#     show: one manifest;
#   - set-current to an older version while a load generator keeps 4
#     keep-alive connections busy: no request fails and the old version
#     answers the load within 2 s (the watcher follows `current`); then
#     back to the newest;
#   - rm refuses the current version (nothing changes) and removes an older
#     one while the server serves; --force on the current one moves current
#     to the newest other; unknown versions and variants are refused;
#   - verify: exit 0 on the good store; after a bit flip in one version's
#     tensor, exit 1 naming that version, the others ok.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
need_loadgen
CORRUPT=${BUILD:-build}/tools/corrupt_tool
[ -x "$CORRUPT" ] || skip "skipped: $CORRUPT is not built"

publish() {
    "$RECTRAIN" --data "$DATA" --test "$T/data/test.tsv" --model vae --epochs 1 --hidden 32 \
        --latent 8 --seed "$1" --threads 1 --progress off --store "$T/store" --variant default \
        --keep 0 >"$T/publish.log" 2>&1 || { cat "$T/publish.log"; exit 1; }
}
store() { "$RECTRAIN" store "$@"; }

make_store
publish 11
publish 12
publish 13 # versions 1..4, 4 current

echo "-- ls, --json, show"
store ls "$T/store" >"$T/ls.txt" || fail "store ls failed"
cat "$T/ls.txt"
[ "$(grep -cE '^default +[0-9]+ ' "$T/ls.txt")" = 4 ] || fail "ls: not one line per version"
grep -qE '^default +4 +\* +vae +20[0-9-]+T[0-9:]+Z +200 +ndcg@50 0\.[0-9]{4}$' "$T/ls.txt" ||
    fail "ls: version 4's line lacks the current mark, family, date, items or validation"
store ls "$T/store" --json >"$T/ls.json" || fail "store ls --json failed"
python3 - "$T/ls.json" <<'PY' || fail "ls --json"
import json, sys
d = json.load(open(sys.argv[1]))
v = d["variants"][0]
assert v["name"] == "default" and v["current"] == 4 and v["next"] == 5, v
assert [x["version"] for x in v["versions"]] == [1, 2, 3, 4]
assert [x["current"] for x in v["versions"]] == [False, False, False, True]
assert all(x["manifest"]["version"] == x["version"] for x in v["versions"])
PY
store show "$T/store" default 2 >"$T/show.json" || fail "store show failed"
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$T/show.json")" = 2 ] ||
    fail "show: not version 2's manifest"
store show "$T/store" default 9 2>"$T/err" && fail "show of a missing version succeeded"
grep -q 'no version 9' "$T/err" || fail "show of a missing version: $(cat "$T/err")"

start_server --reload-interval 0.25
served() {
    curl -s -o /dev/null -D - --max-time 5 "$BASE/v1/users/u1/recommendations?n=3" |
        sed -n 's/^X-Recsys-Version: *\([0-9]*\).*/\1/ip'
}
[ "$(served)" = 4 ] || fail "version 4 is not served at start: $(served)"

echo "-- set-current under load"
start_load 60
sleep 1
BACK_AT=$(date +%s.%N)
store set-current "$T/store" default 1 || fail "set-current to version 1 failed"
sleep 2.5
[ "$(served)" = 1 ] || fail "version 1 is not served 2.5 s after set-current: $(served)"
FWD_AT=$(date +%s.%N)
store set-current "$T/store" default 4 || fail "set-current back to version 4 failed"
sleep 2.5
store rm "$T/store" default 2 || fail "rm of version 2 (not current) failed while serving"
sleep 0.5
stop_load 500 "around set-current and rm"
back=$(load_seen 1 4 "$BACK_AT")
fwd=$(load_seen 1 5 "$FWD_AT")
echo "version 1 first answered ${back:-never} s after set-current 1, last ${fwd:-never} s after set-current 4"
awk -v l="${back:-99}" 'BEGIN { exit !(l >= 0 && l <= 2.0) }' || fail "the rolled-back version answered ${back:-never} s after set-current"
awk -v l="${fwd:-99}" 'BEGIN { exit !(l >= 0 && l <= 2.0) }' || fail "version 1 still answered ${fwd:-never} s after set-current 4"

echo "-- refusals change nothing"
store set-current "$T/store" default 9 2>"$T/err" && fail "set-current to a missing version succeeded"
grep -q 'no version 9' "$T/err" || fail "set-current 9: $(cat "$T/err")"
store set-current "$T/store" nosuch 1 2>"$T/err" && fail "set-current of an unknown variant succeeded"
store set-current "$T/store" default x 2>/dev/null; [ $? -eq 2 ] || fail "set-current with a bad number: not exit 2"
store rm "$T/store" default 4 2>"$T/err" && fail "rm of the current version succeeded without --force"
grep -q 'is the current version of variant .default.; set another current first, or --force' "$T/err" ||
    fail "rm of current: $(cat "$T/err")"
store rm "$T/store" default 2 2>"$T/err" && fail "rm of a removed version succeeded"
store ls "$T/store" --json >"$T/ls.json"
python3 -c 'import json,sys; v=json.load(open(sys.argv[1]))["variants"][0]; assert v["current"]==4 and [x["version"] for x in v["versions"]]==[1,3,4], v' "$T/ls.json" ||
    fail "refused commands changed the store"
[ "$(served)" = 4 ] || fail "version 4 is not served after the refusals: $(served)"
store rm "$T/store" default 4 --force >"$T/rm.out" || fail "rm --force of current failed"
grep -q 'removed version 4; current version 3' "$T/rm.out" || fail "rm --force: $(cat "$T/rm.out")"
sleep 1.5
[ "$(served)" = 3 ] || fail "version 3 is not served after rm --force of 4: $(served)"

echo "-- verify"
store verify "$T/store" >"$T/verify.out" || fail "verify of a good store: exit $?: $(cat "$T/verify.out")"
tail -1 "$T/verify.out"
"$CORRUPT" "$T/store" default 1 >"$T/corrupt.out" || fail "corrupt_tool failed"
cat "$T/corrupt.out"
store verify "$T/store" >"$T/verify.out" 2>"$T/verify.err"
rc=$?
cat "$T/verify.out" "$T/verify.err"
[ $rc -eq 1 ] || fail "verify of a damaged store: exit $rc, expected 1"
grep -q '^default 1: FAILED: .*checksum' "$T/verify.out" || fail "verify does not name version 1's checksum"
grep -q '^default 3: ok' "$T/verify.out" || fail "verify: version 3 not ok"
grep -q '1 of 2 versions are damaged' "$T/verify.err" || fail "verify: no summary of the damage"
store set-current "$T/store" default 1 2>"$T/err" && fail "set-current to a damaged version succeeded"
grep -q 'checksum' "$T/err" || fail "set-current to a damaged version: $(cat "$T/err")"
stop_server
finish
