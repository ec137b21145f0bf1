#!/usr/bin/env bash
# events_fresh.sh - fresh histories: after a known user's click events their
# next recommendation changes and equals the answer to the same history sent
# explicitly (stored training history + the clicked items); an anonymous
# session's events are its history for GET /v1/users/{session}/...; views
# (not a positive type) and events older than --fresh-window do not count;
# after a restart the histories come back from the events environment; and
# every recommendation answer carries request_id, attributed by later events;
# bad --event-types / --positive-types stop the start (exit 2).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
make_store
# Bad event types are refused at start, before anything is opened.
run_fails 2 "type click twice" --store "$T/store" --events-dir "$T/events" --event-types view,click,click
run_fails 2 "buy is not one of --event-types" --store "$T/store" --events-dir "$T/events" --positive-types buy
[ -e "$T/events" ] && fail "a refused start created the events directory"
start_server --events-dir "$T/events" --fresh-window 3600

python3 - "$BASE" "$DATA" >"$T/fresh.out" 2>&1 <<'PY' || fail "fresh histories: $(cat "$T/fresh.out")"
import json, sys, time, urllib.request
base, data = sys.argv[1], sys.argv[2]

def call(path, body=None, headers=None):
    h = {"Content-Type": "application/json"} if body is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(base + path, data=None if body is None else json.dumps(body).encode(), headers=h)
    with urllib.request.urlopen(req, timeout=20) as r:
        return dict(r.headers), json.load(r)

train, items = {}, []
for n, line in enumerate(open(data)):
    if n == 0:
        continue
    u, i = line.rstrip("\n").split("\t")[:2]
    train.setdefault(u, []).append(i)
    if i not in items:
        items.append(i)

def listing(d):
    return [(x["id"], x["score"]) for x in d["items"]]

user = "u1"
_, before = call("/v1/users/%s/recommendations?n=10" % user)
assert before["history_used"] == len(set(train[user])), before
rid = before["request_id"]
assert len(rid) == 32, rid
# Five items the user never had and the list did not show.
shown = {x["id"] for x in before["items"]}
clicked = [i for i in items if i not in train[user] and i not in shown][:5]
events = [{"user": user, "item": i, "type": "click", "request_id": rid} for i in clicked]
events.append({"user": user, "item": items[-1], "type": "view"})  # not positive
_, ack = call("/v1/events", {"events": events})
assert ack["accepted"] == 6 and ack["attributed"] == 5, ack  # the view names no request
_, after = call("/v1/users/%s/recommendations?n=10" % user)
assert after["history_used"] == len(set(train[user])) + 5, after
assert listing(after) != listing(before), "the list did not change after five clicks"
_, explicit = call("/v1/recommend", {"history": train[user] + clicked, "n": 10})
assert listing(after) == listing(explicit), (listing(after), listing(explicit))
# POST /v1/recommend with the user and no history: the same fresh history.
_, by_post = call("/v1/recommend", {"user": user, "n": 10})
assert listing(by_post) == listing(explicit)
print("known user: the list changed and equals the explicit history's")

# An anonymous session: its clicks are its history.
session = "sess-%d" % int(time.time())
_, anon = call("/v1/users/%s/recommendations?n=5" % session)
assert anon["fallback"] == "popularity", anon
clicks = items[3:6]
call("/v1/events", {"events": [{"session": session, "item": i, "type": "click"} for i in clicks]})
_, anon = call("/v1/users/%s/recommendations?n=5" % session)
assert anon["fallback"] is None and anon["history_used"] == 3, anon
_, explicit = call("/v1/recommend", {"history": clicks, "n": 5})
assert listing(anon) == listing(explicit)
# Views only, and clicks older than the window: no history.
old = time.time() - 7200
call("/v1/events", {"events": [{"session": "viewer", "item": items[0], "type": "view"},
                               {"session": "old", "item": items[0], "type": "click", "timestamp": old}]})
for key in ("viewer", "old"):
    _, d = call("/v1/users/%s/recommendations?n=5" % key)
    assert d["fallback"] == "popularity", (key, d)
# An incoming X-Request-Id is kept in the answer and its header.
h, d = call("/v1/users/%s/recommendations?n=3" % user, headers={"X-Request-Id": "client.req:42"})
assert d["request_id"] == "client.req:42" and h["X-Request-Id"] == "client.req:42", (h, d)
json.dump({"user": listing(after), "session": listing(anon), "session_key": session},
          open(sys.argv[2] + ".fresh.json", "w"))
print("session, views, window and request ids: ok")
PY
cat "$T/fresh.out"

# After a restart the fresh histories come back from the environment.
stop_server
start_server --events-dir "$T/events" --fresh-window 3600
python3 - "$BASE" "$DATA.fresh.json" >"$T/restart.out" 2>&1 <<'PY' || fail "after a restart: $(cat "$T/restart.out")"
import json, sys, urllib.request
base, saved = sys.argv[1], json.load(open(sys.argv[2]))
def get(path):
    with urllib.request.urlopen(base + path, timeout=20) as r:
        return [(x["id"], x["score"]) for x in json.load(r)["items"]]
got = get("/v1/users/u1/recommendations?n=10")
assert got == [tuple(x) for x in saved["user"]], (got, saved["user"])
got = get("/v1/users/%s/recommendations?n=5" % saved["session_key"])
assert got == [tuple(x) for x in saved["session"]], (got, saved["session"])
print("after a restart: the same lists")
PY
cat "$T/restart.out"
grep -q "events .*: 11 events verified" "$T/server.log" || fail "the restart did not verify 11 events: $(grep events "$T/server.log")"
stop_server
finish
