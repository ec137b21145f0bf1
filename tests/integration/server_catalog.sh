#!/usr/bin/env bash
# server_catalog.sh - the item catalogue, filters, pages, sampling, batches
# and reasons on a live recserve, with brute force and with MIDX: items'
# attributes as the file gave them; a filtered answer is the unfiltered full
# ranking restricted to the items the filter passes (checked against the
# catalogue file); pages concatenate to the long list; a seeded sample
# repeats and respects filters; every batch answer equals its single
# answer; reasons come from the history; a bad catalogue line stops the
# trainer with FILE:LINE.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
CATALOG=1 make_store
ITEMS=$T/data/items.jsonl
USER_ID=$(awk -F'\t' 'NR > 1 { print $1; exit }' "$DATA")

# A bad line is reported by file and line, before training.
printf '{"id": "i1"}\n{"id": "i2", "price": "cheap"}\n' >"$T/bad.jsonl"
if "$RECTRAIN" --data "$DATA" --model vae --epochs 1 --items "$T/bad.jsonl" --store "$T/bad-store" \
    >"$T/bad.log" 2>&1; then
    fail "rectrain accepted a catalogue with a bad line"
fi
grep -q "bad.jsonl:2: field \"price\" must be a number" "$T/bad.log" ||
    fail "bad catalogue line not reported as FILE:LINE: $(tail -1 "$T/bad.log")"

check() { # METHOD (bruteforce|midx)
    python3 - "$BASE" "$ITEMS" "$USER_ID" "$1" <<'PY' || fail "$1: checks above"
import json, sys, urllib.request
base, items_file, user, method = sys.argv[1:5]
cat = {}
for line in open(items_file):
    r = json.loads(line)
    cat[r["id"]] = r
fails = []

def post(path, body):
    req = urllib.request.Request(base + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=20) as r:
        return json.loads(r.read())

def get(path):
    with urllib.request.urlopen(base + path, timeout=20) as r:
        return json.loads(r.read())

def ids(a):
    return [x["id"] for x in a["items"]]

# GET /v1/items/{id}
some = sorted(cat)[:5]
for i in some:
    a = get("/v1/items/" + i)
    if sorted(a["categories"]) != sorted(cat[i]["categories"]) or a["fields"] != {"price": cat[i]["price"]} or not a["described"]:
        fails.append("item %s: %s, file %s" % (i, a, cat[i]))

full = post("/v1/recommend", {"user": user, "n": 1000})
if full["retrieval"]["method"] != method:
    fails.append("served by %s, expected %s" % (full["retrieval"]["method"], method))
ranked = ids(full)
deny = ranked[:3]

def passes(i, f):
    c = set(cat[i]["categories"])
    if "any" in f and not c & set(f["any"]): return False
    if "none" in f and c & set(f["none"]): return False
    lo, hi = f.get("min", -1e300), f.get("max", 1e300)
    return lo <= cat[i]["price"] <= hi and i not in deny

for f in [{"any": ["a"]}, {"any": ["b"], "none": ["a"]}, {"any": ["a", "b"], "min": 10, "max": 20},
          {"none": ["all"]}, {"any": ["nosuch"]}]:
    flt = {"categories": {k: f[k] for k in ("any", "none") if k in f}, "deny": deny}
    if "min" in f:
        flt["ranges"] = {"price": {"min": f["min"], "max": f["max"]}}
    for n in (5, 40):
        a = post("/v1/recommend", {"user": user, "n": n, "filter": flt})
        want = [i for i in ranked if passes(i, f)]
        if ids(a) != want[:n]:
            fails.append("filter %s n %d: %s, expected %s" % (f, n, ids(a)[:8], want[:8]))
        if a["filter"]["exhausted"] != (len(want) < n):
            fails.append("filter %s n %d: exhausted %s with %d passing" % (f, n, a["filter"]["exhausted"], len(want)))
        if a["retrieval"]["exact"] is not True:
            fails.append("filter %s: not exact" % f)

# pages
pages = []
for k in range(4):
    pages += ids(post("/v1/recommend", {"user": user, "n": 7, "offset": 7 * k, "filter": {"categories": {"any": ["a"]}}}))
long = ids(post("/v1/recommend", {"user": user, "n": 28, "filter": {"categories": {"any": ["a"]}}}))
if pages != long:
    fails.append("pages %s != %s" % (pages[:10], long[:10]))

# sampling
s1 = post("/v1/recommend", {"user": user, "n": 8, "mode": "sample", "temperature": 0.7, "seed": 11,
                            "filter": {"categories": {"any": ["b"]}}})
s2 = post("/v1/recommend", {"user": user, "n": 8, "mode": "sample", "temperature": 0.7, "seed": 11,
                            "filter": {"categories": {"any": ["b"]}}})
if s1["items"] != s2["items"] or not s1["sampled"] or s1["sampled"]["seed"] != 11:
    fails.append("seeded samples differ or are unmarked: %s / %s" % (ids(s1), ids(s2)))
if len(set(ids(s1))) != 8 or any("b" not in cat[i]["categories"] for i in ids(s1)):
    fails.append("sample not 8 distinct filtered items: %s" % ids(s1))
scores = {x["id"]: x["score"] for x in full["items"]}
if any(scores.get(x["id"]) != x["score"] for x in s1["items"]):
    fails.append("sampled scores differ from the ranking's")

# reasons
hist = sorted(cat)[:6]
e = post("/v1/recommend", {"history": hist, "n": 4, "explain": True})
if not e["explain"] or not e["explain"]["heuristic"]:
    fails.append("explain not marked a heuristic: %s" % e["explain"])
for x in e["items"]:
    r = [y["id"] for y in x.get("reasons", [])]
    if not r or any(i not in hist for i in r) or len(r) > 3:
        fails.append("reasons %s not from the history" % r)

# batch: every answer is its single answer
queries = [{"user": user, "n": 5}, {"history": hist, "n": 6, "offset": 2},
           {"user": user, "n": 9, "filter": {"categories": {"any": ["a"]}, "deny": deny}},
           {"user": user, "n": 3, "mode": "sample", "seed": 4}, {"history": hist, "n": 2, "explain": True},
           {"user": "nobody-knows", "n": 3}, {"user": user, "variant": "nope"}]
b = post("/v1/recommend/batch", {"queries": queries})["answers"]
for q, a in zip(queries, b):
    try:
        single = post("/v1/recommend", q)
    except urllib.error.HTTPError as err:
        single = {"error": json.loads(err.read())["error"], "status": err.code}
    # Every request has its own id: a batch's answers share the batch's.
    a.pop("request_id", None), single.pop("request_id", None)
    if a != single:
        fails.append("batch answer differs from the single one for %s:\n  %s\n  %s" % (q, a, single))
for f in fails:
    print("FAIL " + f)
sys.exit(1 if fails else 0)
PY
}

start_server --retrieval bruteforce
check bruteforce
stop_server
start_server --retrieval midx --midx-k 4
check midx
stop_server

# An item-item model: filters on its rows and fill-up; reasons are its row
# weights, which sum to the score (at most three history items).
"$RECTRAIN" --data "$DATA" --model ease --epochs 1 --items "$ITEMS" --progress off \
    --store "$T/ease-store" --variant default >"$T/ease.log" 2>&1 || fail "ease: $(tail -1 "$T/ease.log")"
mv "$T/store" "$T/vae-store" && mv "$T/ease-store" "$T/store"
start_server
python3 - "$BASE" "$ITEMS" <<'PY' || fail "ease: checks above"
import json, sys, urllib.request
base, items_file = sys.argv[1:3]
cat = {json.loads(l)["id"]: json.loads(l) for l in open(items_file)}
hist = sorted(cat)[:3]
req = urllib.request.Request(base + "/v1/recommend", headers={"Content-Type": "application/json"},
                             data=json.dumps({"history": hist, "n": 150, "explain": True,
                                              "filter": {"categories": {"any": ["b"]}}}).encode())
a = json.loads(urllib.request.urlopen(req, timeout=20).read())
fails = []
if a["explain"] != {"method": "row_weight", "heuristic": False}:
    fails.append("explain %s" % a["explain"])
ranked = a["items"][:len(a["items"]) - a["retrieval"]["filled"]]
for x in a["items"]:
    if "b" not in cat[x["id"]]["categories"]:
        fails.append("%s does not pass the filter" % x["id"])
for x in ranked:
    total = sum(r["weight"] for r in x["reasons"])
    if abs(total - x["score"]) > 1e-5 * (1 + abs(x["score"])):
        fails.append("%s: reasons sum to %g, score %g" % (x["id"], total, x["score"]))
want = sum(1 for i in cat if "b" in cat[i]["categories"] and i not in hist)
if len(a["items"]) != min(150, want) or a["filter"]["exhausted"] != (want < 150):
    fails.append("%d items, %d pass the filter" % (len(a["items"]), want))
for f in fails:
    print("FAIL " + f)
sys.exit(1 if fails else 0)
PY
stop_server
finish
