#!/usr/bin/env bash
# server_rankings.sh - what recserve serves for known users equals what the
# trainer ranked for them (rectrain --rankings-out: the kept model's own
# top-50 over items outside the user's history), with brute-force retrieval
# and with exact MIDX retrieval.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
mkdir -p "$T/data"
"$RECTRAIN" synth --out "$T/data" --users 400 --items 300 >"$T/synth.log" 2>&1 ||
    skip "skipped: 'rectrain synth' failed: $(tail -1 "$T/synth.log")"
"$RECTRAIN" --help 2>&1 | grep -q -- --rankings-out ||
    skip "skipped: this rectrain has no --rankings-out"
"$RECTRAIN" --data "$T/data/train.tsv" --test "$T/data/test.tsv" --model vae --epochs 3 \
    --hidden 48 --latent 12 --seed 3 --threads 1 --progress off --store "$T/store" \
    --variant default --rankings-out "$T/rankings.jsonl" --rankings-users 150 \
    >"$T/train.log" 2>&1 || skip "skipped: rectrain failed: $(tail -1 "$T/train.log")"

cat >"$T/compare.py" <<'PY'
import json, sys, urllib.request
base, path = sys.argv[1], sys.argv[2]
users = bad = 0
for line in open(path):
    want = json.loads(line)
    n = len(want["items"])
    url = "%s/v1/users/%s/recommendations?n=%d" % (base, urllib.request.quote(want["user"], safe=""), n)
    got = json.load(urllib.request.urlopen(url, timeout=20))
    ids = [x["id"] for x in got["items"]]
    scores = {x["id"]: x["score"] for x in got["items"]}
    users += 1
    if got["fallback"] is not None or len(ids) != n:
        bad += 1; print("user", want["user"], "fallback or short list"); continue
    # Same items in the same order, up to swaps of near-ties (float sums in
    # another order); every served score close to the trainer's.
    ws = dict(zip(want["items"], want["scores"]))
    for k, (a, b) in enumerate(zip(ids, want["items"])):
        if a != b and abs(ws.get(a, -1e9) - ws[b]) > 1e-4 * max(1.0, abs(ws[b])):
            bad += 1; print("user", want["user"], "rank", k, "served", a, "trainer", b); break
    else:
        last = want["scores"][-1]
        for a in ids:
            ref = ws.get(a)
            if ref is None and scores[a] < last - 1e-4: bad += 1; break
            if ref is not None and abs(scores[a] - ref) > 1e-3 * max(1.0, abs(ref)):
                bad += 1; print("user", want["user"], "item", a, scores[a], "vs", ref); break
print("%d users compared, %d differ" % (users, bad))
sys.exit(1 if bad or users == 0 else 0)
PY

for method in bruteforce midx; do
    start_server --retrieval "$method" --midx-k 6
    WHAT="models ($method)"; req GET /v1/models
    expect 200 && { [ "$(jq_py 'd["models"][0]["retrieval"]')" = "$method" ] || fail "$WHAT: retrieval"; }
    python3 "$T/compare.py" "$BASE" "$T/rankings.jsonl" || fail "served rankings ($method) differ from the trainer's"
    stop_server
done
finish
