#!/usr/bin/env bash
# family_linear.sh - the linear item-embedding family (trainer/linear.c, the
# family added with nothing but its own file and one registry line) goes
# the whole way: rectrain publishes it with its serving MIDX index,
# `rectrain store ls` and /v1/models list it, recserve serves exactly the
# trainer's rankings from the index the trainer published, and a second
# version published while serving is picked up by the reload.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
"$RECTRAIN" --help 2>&1 | grep -q 'linear (' || skip "skipped: this rectrain has no --model linear"
mkdir -p "$T/data"
"$RECTRAIN" synth --out "$T/data" --users 400 --items 300 >"$T/synth.log" 2>&1 ||
    skip "skipped: 'rectrain synth' failed: $(tail -1 "$T/synth.log")"
train=(--data "$T/data/train.tsv" --test "$T/data/test.tsv" --model linear --epochs 10
       --hidden 16 --batch 32 --lr 0.01 --threads 1 --progress off --store "$T/store" --variant default)

echo "-- publish"
"$RECTRAIN" "${train[@]}" --seed 3 --rankings-out "$T/rankings.jsonl" --rankings-users 150 \
    --metrics-out "$T/a.csv" >"$T/train.log" 2>&1 || { cat "$T/train.log"; exit 1; }
grep -q 'published default version 1' "$T/train.log" || fail "no publish line"
beats_popularity linear "$T/a.csv"

echo "-- listed by rectrain store ls"
"$RECTRAIN" store ls "$T/store" >"$T/ls.txt"
grep -qE '^default +1 +\* +linear ' "$T/ls.txt" || fail "store ls: no current version 1: $(cat "$T/ls.txt")"
"$RECTRAIN" store show "$T/store" default >"$T/show.json"
grep -q '"family": "linear"' "$T/show.json" || fail "store show: family is not linear"
grep -q '"prefix": "retrieval.midx"' "$T/show.json" || fail "store show: no serving MIDX index"

echo "-- served = trained, from the published index"
start_server --retrieval midx --reload-interval 0.25
WHAT="models"; req GET /v1/models
expect 200 && {
    [ "$(jq_py 'd["models"][0]["family"]')" = "linear" ] || fail "/v1/models: family"
    [ "$(jq_py 'd["models"][0]["midx_source"]')" = "published" ] || fail "/v1/models: midx_source"
}
python3 bench/compare_rankings.py "$BASE" "$T/rankings.jsonl" --users 150 ||
    fail "served rankings differ from the trainer's"
user=$(head -1 "$T/rankings.jsonl" | sed 's/.*"user": *"\([^"]*\)".*/\1/')
WHAT="recommend"; req GET "/v1/users/$user/recommendations?n=5"
expect 200 && [ "$(jq_py 'len(d["items"])')" = 5 ] || fail "recommend: not 5 items"

echo "-- a second version is picked up while serving"
"$RECTRAIN" "${train[@]}" --seed 4 >"$T/train2.log" 2>&1 || { cat "$T/train2.log"; exit 1; }
grep -q 'published default version 2' "$T/train2.log" || fail "second publish"
version=
for _ in $(seq 100); do
    req GET /v1/models
    version=$(jq_py 'd["models"][0]["version"]')
    [ "$version" = 2 ] && break
    sleep 0.05
done
[ "$version" = 2 ] || fail "reload: still serving version $version"
WHAT="recommend after reload"; req GET "/v1/users/$user/recommendations?n=5"
expect 200
stop_server
finish
