#!/usr/bin/env bash
# trainer_publish.sh - what rectrain checks before training and when it
# publishes:
#   - each pre-training check (variant name, unpublishable family, a store
#     path that cannot be created, a map too small for the version, an
#     unknown --gate metric, --gate without --store) exits 2 with a clear
#     message before any epoch runs (no "epoch" line) and writes nothing;
#   - SIGINT / SIGTERM during training publish nothing (exit 130 / 143)
#     unless --publish-on-interrupt, which publishes the best epoch so far;
#   - --gate: a worse version (same validation users, learning rate 1e-9) is
#     written but does not become current (exit 3, both figures in the
#     message and the manifest); a tolerance that covers the gap lets the
#     next one through.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
mkdir -p "$T/data"
"$RECTRAIN" synth --out "$T/data" --users 400 --items 200 >/dev/null 2>&1 || skip "skipped: synth failed"
TRAIN=(--data "$T/data/train.tsv" --test "$T/data/test.tsv" --model vae --hidden 32 --latent 8
    --seed 1 --threads 1 --progress off)

# check_fails PATTERN ARGS...: exit 2, stderr matches, no epoch ran.
check_fails() {
    local pattern=$1
    shift
    local t0 t1
    t0=$(date +%s.%N)
    timeout 60 "$RECTRAIN" "${TRAIN[@]}" --epochs 50 "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    t1=$(date +%s.%N)
    [ $rc -eq 2 ] || fail "rectrain $*: exit $rc, expected 2 ($(tail -1 "$T/err"))"
    grep -qE -- "$pattern" "$T/err" || fail "rectrain $*: stderr lacks /$pattern/: $(tail -2 "$T/err")"
    if grep -q '^epoch' "$T/err"; then fail "rectrain $*: an epoch ran before the check failed"; fi
    echo "ok (exit $rc, $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s): $(grep rectrain: "$T/err" | tail -1)"
}

echo "-- pre-training checks"
touch "$T/afile"
check_fails "--variant: variant name 'no/slash'" --store "$T/s1" --variant no/slash
check_fails "popularity is a baseline .* cannot be published" --model popularity --store "$T/s1"
check_fails "ease-topk 0 \(dense\) is for evaluation only" --model ease --ease-topk 0 --store "$T/s1"
check_fails "cannot be created: a component of the path is a file" --store "$T/afile/store"
check_fails "is not a directory" --store "$T/afile"
check_fails "the version will take about .* MiB, but the store's map has 1.0 MiB left .*--map-size [0-9]+" \
    --store "$T/s1" --map-size 1 --hidden 600
check_fails "--gate: unknown metric 'ndcg@x'" --store "$T/s1" --gate ndcg@x
check_fails "--gate: the tolerance must be a number" --store "$T/s1" --gate ndcg@50:abc
check_fails "--gate needs --store" --gate ndcg@50
if [ "$(id -u)" != 0 ]; then
    mkdir -p "$T/ro" && chmod 555 "$T/ro"
    check_fails "cannot be created: .*is not writable" --store "$T/ro/store"
fi
[ ! -e "$T/s1" ] || fail "a failed check left $T/s1 behind"

echo "-- interrupted runs"
# interrupt SIGNAL ARGS...: starts a long run, signals it after its first
# epoch; sets RC.
interrupt() {
    local sig=$1
    shift
    "$RECTRAIN" "${TRAIN[@]}" --epochs 100000 --store "$T/s2" "$@" >"$T/int.out" 2>"$T/int.err" &
    local pid=$! i
    for i in $(seq 300); do
        grep -q '^epoch' "$T/int.err" && break
        sleep 0.1
    done
    kill -"$sig" $pid
    wait $pid
    RC=$?
}
interrupt INT
[ $RC -eq 130 ] || fail "SIGINT: exit $RC, expected 130"
grep -q 'interrupted by SIGINT after epoch [0-9]*: nothing published' "$T/int.err" ||
    fail "SIGINT: no 'nothing published' message: $(tail -1 "$T/int.err")"
if [ -e "$T/s2/data.mdb" ] && "$RECTRAIN" store ls "$T/s2" | grep -q '^default'; then
    fail "SIGINT published a version"
fi
interrupt TERM
[ $RC -eq 143 ] || fail "SIGTERM: exit $RC, expected 143"
grep -q 'interrupted by SIGTERM' "$T/int.err" || fail "SIGTERM: $(tail -1 "$T/int.err")"
interrupt INT --publish-on-interrupt
[ $RC -eq 0 ] || fail "SIGINT with --publish-on-interrupt: exit $RC ($(tail -1 "$T/int.err"))"
grep -q 'published default version 1' "$T/int.err" ||
    fail "--publish-on-interrupt did not publish: $(tail -1 "$T/int.err")"
echo "SIGINT 130 and SIGTERM 143 published nothing; --publish-on-interrupt published version 1"

echo "-- publish gate"
G=$T/gate
"$RECTRAIN" "${TRAIN[@]}" --epochs 4 --store "$G" --gate ndcg@50 >"$T/g1.log" 2>&1 ||
    fail "first gated publish failed: $(tail -1 "$T/g1.log")"
grep -q 'gate ndcg@50: passed: no version serves yet' "$T/g1.log" || fail "first gate: $(grep gate "$T/g1.log")"
"$RECTRAIN" "${TRAIN[@]}" --epochs 1 --lr 1e-9 --store "$G" --gate ndcg@50:0.001 >"$T/g2.log" 2>&1
rc=$?
grep gate "$T/g2.log"
[ $rc -eq 3 ] || fail "a worse version: exit $rc, expected 3"
grep -qE 'gate ndcg@50: refused: the new version.s validation ndcg@50 0\.[0-9]+ is below the serving version 1.s 0\.[0-9]+ by more than the tolerance 0\.001; wrote default version 2' "$T/g2.log" ||
    fail "the refusal does not name both figures: $(grep gate "$T/g2.log")"
python3 - "$G" "$RECTRAIN" <<'PY' || fail "store after the refusal"
import json, subprocess, sys
ls = subprocess.run([sys.argv[2], "store", "ls", sys.argv[1], "--json"], capture_output=True, text=True, check=True)
variants = json.loads(ls.stdout)["variants"]
v = variants[0]
assert v["current"] == 1, v["current"]
m2 = [x for x in v["versions"] if x["version"] == 2][0]["manifest"]
g = m2["gate"]
assert g["passed"] is False and g["serving_version"] == 1 and g["tolerance"] == 0.001, g
assert g["value"] < g["serving_value"] - 0.001, g
assert abs(g["serving_value"] - [x for x in v["versions"] if x["version"] == 1][0]["manifest"]["training"]["valid_metrics"]["ndcg@50"]) < 1e-9
print("manifest gate of version 2:", json.dumps(g, sort_keys=True))
PY
gap=$(awk '/refused/ { for (i = 1; i <= NF; i++) if ($i == "ndcg@50" && $(i+1) ~ /^0\./) v = $(i+1); for (i = 1; i <= NF; i++) if ($i ~ /^0\.[0-9]+$/ && $(i-1) ~ /1.s$/) s = $i } END { print s - v + 0.01 }' "$T/g2.log")
"$RECTRAIN" "${TRAIN[@]}" --epochs 1 --lr 1e-9 --store "$G" --gate "ndcg@50:$gap" >"$T/g3.log" 2>&1 ||
    fail "a version within the tolerance ($gap) was refused: $(grep gate "$T/g3.log")"
grep -q 'published default version 3' "$T/g3.log" || fail "version 3 not published: $(tail -2 "$T/g3.log")"
"$RECTRAIN" store ls "$G" >"$T/ls.txt"
grep -qE '^default +3 +\*' "$T/ls.txt" || fail "version 3 is not current: $(cat "$T/ls.txt")"
finish
