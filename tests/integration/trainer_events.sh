#!/usr/bin/env bash
# trainer_events.sh - rectrain --events DIR trains on what recserve stored:
# every row of a training file is posted as a click (plus views, not a
# training type, and a new user "newbie" with five clicks); a model trained
# with --events alone (read while the server runs) answers exactly as one
# trained with --data on the same rows (same seed), knows newbie with their
# five clicks as history, and its manifest records the cutoff. Published to
# the store the server watches, it takes over, and the fresh histories then
# count only events after its cutoff (newbie's five are not counted again;
# a sixth click is).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
make_store
start_server --events-dir "$T/events" --reload-interval 0.2

python3 - "$BASE" "$DATA" "$T/rows.tsv" >"$T/post.out" 2>&1 <<'PY' || fail "posting: $(cat "$T/post.out")"
import json, sys, urllib.request
base, data, rows_out = sys.argv[1:4]
def post(events):
    req = urllib.request.Request(base + "/v1/events", json.dumps({"events": events}).encode(),
                                 {"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req, timeout=20))
rows = [l.rstrip("\n").split("\t")[:2] for l in open(data)][1:]
newbie = [["newbie", "i%d" % k] for k in (3, 14, 15, 92, 65)]
events = []
for u, i in rows + newbie:
    events.append({"user": u, "item": i, "type": "click"})
    if len(events) % 7 == 0:
        events.append({"user": u, "item": "i1", "type": "view"})
for k in range(0, len(events), 500):
    post(events[k:k + 500])
with open(rows_out, "w") as f:
    for u, i in rows + newbie:
        f.write("%s\t%s\n" % (u, i))
print(len(events), sum(e["type"] == "click" for e in events), "events posted (clicks)")
PY
cat "$T/post.out"
N=$(awk '{ print $1 }' "$T/post.out")
CLICKS=$(awk '{ print $2 }' "$T/post.out")
curl -s "$BASE/v1/users/newbie/recommendations?n=5" >"$T/body"
[ "$(jq_py 'd["history_used"]')" = 5 ] || fail "newbie's fresh history before training: $(cat "$T/body")"

train() { # VARIANT ARGS...
    local v=$1
    shift
    "$RECTRAIN" "$@" --model vae --epochs 2 --hidden 32 --latent 8 --seed 3 --threads 1 --split none \
        --progress off --store "$T/store2" --variant "$v" >"$T/train-$v.log" 2>&1 ||
        fail "rectrain $*: $(tail -2 "$T/train-$v.log")"
}
train fromevents --events "$T/events"
train fromfile --data "$T/rows.tsv"
grep -q "events $T/events: $N read, $CLICKS of types click,purchase used" "$T/train-fromevents.log" ||
    fail "the trainer's events report: $(grep events "$T/train-fromevents.log")"
# Both models, one server: the same answers; newbie known to the model.
"$RECSERVE" --store "$T/store2" --listen 127.0.0.1:0 --port-file "$T/port2" --threads 2 2>>"$T/server2.log" &
PID2=$!
for i in $(seq 100); do [ -s "$T/port2" ] && break; sleep 0.1; done
python3 - "http://127.0.0.1:$(cat "$T/port2")" "$N" "$CLICKS" <<'PY' || fail "events model against file model (above)"
import json, sys, urllib.request
base, n_events, n_clicks = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def get(path):
    return json.load(urllib.request.urlopen(base + path, timeout=20))
models = {m["variant"]: m for m in get("/v1/models")["models"]}
t = models["fromevents"]["manifest"]["training"]
e = t["events"]
assert e["cutoff_seq"] == n_events and e["read"] == n_events and e["dir"] == "events", e
assert e["types"] == "click,purchase" and e["used"] == n_clicks, e
assert t["data"] is None and "events" not in models["fromfile"]["manifest"]["training"], t["data"]
assert models["fromevents"]["n_users"] == models["fromfile"]["n_users"] == 301
print("manifest training.events:", json.dumps(e))
for u in ["u1", "u2", "u17", "u250", "newbie"]:
    a = get("/v1/users/%s/recommendations?n=10&variant=fromevents" % u)
    b = get("/v1/users/%s/recommendations?n=10&variant=fromfile" % u)
    assert a["items"] == b["items"], (u, a["items"][:3], b["items"][:3])
n = get("/v1/users/newbie/recommendations?n=10&variant=fromevents")
assert n["fallback"] is None and n["history_used"] == 5, n
print("the --events model answers as the --data model; newbie is a known user")
PY
kill -TERM $PID2
wait $PID2

# Published where the events server watches: its fresh histories now start
# after the model's cutoff.
fresh_count() { curl -s "$BASE/metrics" | awk '/^recsys_fresh_histories_total/ { print $2 }'; }
"$RECTRAIN" --events "$T/events" --model vae --epochs 2 --hidden 32 --latent 8 --seed 3 --threads 1 \
    --split none --progress off --store "$T/store" --variant default >"$T/train-default.log" 2>&1 ||
    fail "publishing the events model: $(tail -2 "$T/train-default.log")"
for i in $(seq 50); do
    curl -s "$BASE/v1/models" | grep -q '"version":2' && break
    sleep 0.2
done
before=$(fresh_count)
req GET "/v1/users/newbie/recommendations?n=5"
[ "$(jq_py 'd["version"], d["history_used"], d["fallback"]')" = "2 5 None" ] ||
    fail "newbie on the events model: $(cat "$T/body")"
[ "$(fresh_count)" = "$before" ] || fail "events before the cutoff were counted again as fresh"
post_json /v1/events '{"events":[{"user":"newbie","item":"i7","type":"click"}]}'
expect 200
req GET "/v1/users/newbie/recommendations?n=5"
[ "$(jq_py 'd["history_used"]')" = 6 ] || fail "a click after the cutoff is not in the history: $(cat "$T/body")"
[ "$(fresh_count)" = $((before + 1)) ] || fail "the click after the cutoff did not make a fresh history"
echo "after the cutoff: newbie's history is the model's 5 items + 1 fresh click"
stop_server
finish
