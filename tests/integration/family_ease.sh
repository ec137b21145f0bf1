#!/usr/bin/env bash
# family_ease.sh - EASE (--model ease, trainer/ease_family.c) goes the whole
# way as the sparse item-item model kind: rectrain fits it in one epoch and
# publishes its kept rows (no encoder, no serving index), `rectrain store ls`
# and /v1/models list it, recserve (asked for MIDX retrieval, which does not
# apply) serves exactly the trainer's rankings for 150 users, fills up with
# popularity when the rows touch fewer than n items (and says so), answers
# ad-hoc histories with exclusions and similar items from the kept row, and
# picks up a second version published while serving. The memory guard and
# the dense, evaluation-only --ease-topk 0 refuse with clear messages.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
"$RECTRAIN" --help 2>&1 | grep -q 'EASE (' || skip "skipped: this rectrain has no --model ease"
mkdir -p "$T/data"
"$RECTRAIN" synth --out "$T/data" --users 400 --items 300 >"$T/synth.log" 2>&1 ||
    skip "skipped: 'rectrain synth' failed: $(tail -1 "$T/synth.log")"
train=(--data "$T/data/train.tsv" --test "$T/data/test.tsv" --model ease --epochs 1
       --threads 1 --progress off --store "$T/store" --variant default)

echo "-- publish"
"$RECTRAIN" "${train[@]}" --ease-topk 50 --rankings-out "$T/rankings.jsonl" --rankings-users 150 \
    --metrics-out "$T/a.csv" >"$T/train.log" 2>&1 || { cat "$T/train.log"; exit 1; }
grep -q 'published default version 1' "$T/train.log" || fail "no publish line"
beats_popularity ease "$T/a.csv"

echo "-- listed by rectrain store ls"
"$RECTRAIN" store ls "$T/store" >"$T/ls.txt"
grep -qE '^default +1 +\* +ease ' "$T/ls.txt" || fail "store ls: no current version 1: $(cat "$T/ls.txt")"
"$RECTRAIN" store show "$T/store" default >"$T/show.json"
grep -q '"family": "ease"' "$T/show.json" || fail "store show: family is not ease"
grep -q '"kind": "item_item"' "$T/show.json" || fail "store show: kind is not item_item"
! grep -q '"retrieval"' "$T/show.json" || fail "store show: an item-item model got a serving index"

echo "-- served = trained (retrieval options do not apply)"
start_server --retrieval midx --midx-k 4 --reload-interval 0.25
WHAT="models"; req GET /v1/models
expect 200 && {
    [ "$(jq_py 'd["models"][0]["family"]')" = "ease" ] || fail "/v1/models: family"
    [ "$(jq_py 'd["models"][0]["retrieval"]')" = "item_item" ] || fail "/v1/models: retrieval"
    [ "$(jq_py 'd["models"][0]["midx_source"]')" = "None" ] || fail "/v1/models: midx_source"
}
python3 bench/compare_rankings.py "$BASE" "$T/rankings.jsonl" --users 150 ||
    fail "served rankings differ from the trainer's"
user=$(head -1 "$T/rankings.jsonl" | sed 's/.*"user": *"\([^"]*\)".*/\1/')
WHAT="recommend"; req GET "/v1/users/$user/recommendations?n=5"
expect 200 && {
    [ "$(jq_py 'len(d["items"])')" = 5 ] || fail "recommend: not 5 items"
    [ "$(jq_py 'd["retrieval"]["method"]')" = "item_item" ] || fail "recommend: method"
}
items=$(cut -f2 "$T/data/train.tsv" | sed -n '2,4p' | paste -sd, | sed 's/\([^,]*\)/"\1"/g')
first=$(cut -f2 "$T/data/train.tsv" | sed -n 2p)
WHAT="ad-hoc history"; post_json /v1/recommend "{\"history\": [$items, \"no-such-item\"], \"n\": 10}"
expect 200 && {
    [ "$(jq_py 'len(d["items"])')" = 10 ] || fail "$WHAT: not 10 items"
    [ "$(jq_py 'd["unknown_items"]')" = "['no-such-item']" ] || fail "$WHAT: unknown_items"
}
top=$(jq_py 'd["items"][0]["id"]')
WHAT="exclusions"; post_json /v1/recommend "{\"history\": [$items], \"n\": 10, \"exclude\": [\"$top\"]}"
expect 200 && { jq_py '[x["id"] for x in d["items"]]' | grep -q "'$top'" && fail "$WHAT: $top returned"; }
WHAT="empty history"; post_json /v1/recommend '{"history": [], "n": 3}'
expect 200 && [ "$(jq_py 'd["fallback"]')" = "popularity" ] || fail "$WHAT: no popularity fallback"
WHAT="similar"; req GET "/v1/items/$first/similar?n=5"
expect 200 && {
    [ "$(jq_py 'd["method"]')" = "item_item" ] || fail "$WHAT: method"
    [ "$(jq_py 'len(d["items"])')" = 5 ] || fail "$WHAT: not 5 items"
}

echo "-- a second version is picked up while serving"
"$RECTRAIN" "${train[@]}" --ease-topk 2 --reg 200 --rankings-out "$T/rankings2.jsonl" \
    --rankings-users 100 >"$T/train2.log" 2>&1 || { cat "$T/train2.log"; exit 1; }
grep -q 'published default version 2' "$T/train2.log" || fail "second publish"
version=
for _ in $(seq 100); do
    req GET /v1/models
    version=$(jq_py 'd["models"][0]["version"]')
    [ "$version" = 2 ] && break
    sleep 0.05
done
[ "$version" = 2 ] || fail "reload: still serving version $version"
echo "-- fill-up (two weights per row touch too few items for a top-50)"
python3 bench/compare_rankings.py "$BASE" "$T/rankings2.jsonl" --users 100 ||
    fail "served rankings with fill-up differ from the trainer's"
WHAT="fill-up"; req GET "/v1/users/$user/recommendations?n=100"
expect 200 && {
    [ "$(jq_py 'len(d["items"])')" = 100 ] || fail "$WHAT: not 100 items"
    [ "$(jq_py 'd["retrieval"]["filled"] > 0')" = True ] || fail "$WHAT: nothing marked filled"
}
stop_server

echo "-- refusals"
"$RECTRAIN" "${train[@]}" --max-memory 1 >"$T/mem.log" 2>&1 && fail "--max-memory 1 was not refused"
grep -q 'EASE needs 300 x 300 item-item matrices' "$T/mem.log" || fail "memory guard message: $(tail -1 "$T/mem.log")"
"$RECTRAIN" "${train[@]}" --ease-topk 0 >"$T/dense.log" 2>&1 && fail "dense EASE was published"
grep -q 'evaluation only' "$T/dense.log" || fail "dense publish message: $(tail -1 "$T/dense.log")"
finish
