#!/usr/bin/env bash
# events_durability.sh - acknowledged means stored: 16 concurrent clients
# post batches of events (keep-alive, loopback) until at least 10,000 are
# acknowledged, the server is SIGKILLed while they still post, and after a
# restart every acknowledged event is there, under the sequence number its
# answer gave and with its content (tests/tools/events_tool dump); the
# group commit shared syncs (commits < batches). Then a damaged record and
# a truncated data.mdb are refused at start (exit 1, a message naming the
# damage), never served.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
EVENTS_TOOL=${EVENTS_TOOL:-${BUILD:-build}/tools/events_tool}
[ -x "$EVENTS_TOOL" ] || skip "skipped: $EVENTS_TOOL is not built"
make_store
start_server --events-dir "$T/events" --threads 4

# The clients write every acknowledged batch as "SEQ KEY ITEM TYPE" lines;
# they stop posting only when the server is gone.
python3 - "$PORT" "$T/acked" "$T/clients.log" "$T/enough" <<'PY' &
import http.client, json, os, sys, threading
port, acked_path, log_path, enough_path = sys.argv[1:5]
lock = threading.Lock()
acked = []
def client(c):
    conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=20)
    k = 0
    while True:
        batch = [{"user" if (c + j) % 3 else "session": "k%d-%d" % (c, k % 97),
                  "item": "i%d" % ((c * 131 + k * 7 + j) % 200), "type": ("view", "click", "purchase")[j % 3],
                  "value": float(k), "request_id": "c%d.%d" % (c, k)} for j in range(5)]
        k += 1
        try:
            conn.request("POST", "/v1/events", json.dumps({"events": batch}),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            body = json.loads(r.read())
        except Exception:
            return  # the server was killed
        if r.status != 200:
            print("client %d: status %d %s" % (c, r.status, body), file=open(log_path, "a"))
            return
        with lock:
            for j, e in enumerate(batch):
                key = e.get("user") or e.get("session")
                acked.append("%d\t%s\t%s\t%s\t%s\t%.17g" % (body["first_seq"] + j,
                             "user" if "user" in e else "session", key, e["item"], e["type"], e["value"]))
            if len(acked) >= 10000 and not os.path.exists(enough_path):
                open(enough_path, "w").close()
threads = [threading.Thread(target=client, args=(c,)) for c in range(16)]
for t in threads: t.start()
for t in threads: t.join()
with open(acked_path, "w") as f:
    f.write("\n".join(acked) + "\n")
PY
CLIENTS=$!
for i in $(seq 600); do [ -e "$T/enough" ] && break; sleep 0.1; done
[ -e "$T/enough" ] || fail "10,000 events were not acknowledged within 60 s"
curl -s "$BASE/metrics" >"$T/metrics"
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null
SERVER_PID=
wait "$CLIENTS"
ACKED=$(wc -l <"$T/acked")
COMMITS=$(awk '/^recsys_events_commits_total/ { print $2 }' "$T/metrics")
ACCEPTED=$(awk '/^recsys_events_accepted_total/ { print $2 }' "$T/metrics")
echo "acknowledged before SIGKILL: $ACKED events; at the last /metrics: $ACCEPTED events in $COMMITS commits"
[ "$ACKED" -ge 10000 ] || fail "only $ACKED events acknowledged"
[ -s "$T/clients.log" ] && fail "a client got an error: $(head -3 "$T/clients.log")"
awk -v c="$COMMITS" -v a="$ACCEPTED" 'BEGIN { exit !(c > 0 && c < a / 5) }' ||
    fail "no group commit: $COMMITS commits for $ACCEPTED events in batches of 5"

# After the restart: all of them, with their content.
start_server --events-dir "$T/events" --threads 4
"$EVENTS_TOOL" dump "$T/events" >"$T/dump" || fail "the events environment does not read back"
STORED=$(wc -l <"$T/dump")
# SEQ KIND KEY ITEM TYPE VALUE (the dump's timestamp and request id aside).
awk -F'\t' '{ printf "%s\t%s\t%s\t%s\t%s\t%s\n", $1, $2, $3, $4, $5, $6 }' "$T/dump" | sort >"$T/stored"
sort "$T/acked" >"$T/acked.sorted"
MISSING=$(comm -23 "$T/acked.sorted" "$T/stored" | wc -l)
echo "after the restart: $STORED events stored, $MISSING acknowledged ones missing or different"
[ "$MISSING" -eq 0 ] || fail "$MISSING acknowledged events are missing or differ: $(comm -23 "$T/acked.sorted" "$T/stored" | head -3)"
[ "$STORED" -ge "$ACKED" ] || fail "$STORED stored < $ACKED acknowledged"
grep -q "events .*: $STORED events verified" "$T/server.log" || fail "the server did not verify $STORED events at start"
# The restarted server appends after them.
post_json /v1/events '{"events":[{"user":"after","item":"i1","type":"click"}]}'
expect 200 && [ "$(jq_py 'd["first_seq"]')" = $((STORED + 1)) ] || fail "the next sequence number is not $((STORED + 1)): $(cat "$T/body")"
stop_server

# A damaged record: a byte of an item id flipped inside data.mdb.
cp -r "$T/events" "$T/events.good"
python3 - "$T/events/data.mdb" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
at = b.find(b"after")  # the last event's key
assert at > 0
b[at + 1] ^= 0x20
open(p, "r+b").write(b)
PY
run_fails 1 "events: .*event $((STORED + 1)).*checksum" --store "$T/store" --events-dir "$T/events" --listen 127.0.0.1:0
"$EVENTS_TOOL" count "$T/events" >/dev/null 2>&1 && fail "events_tool read the damaged environment"
# A truncated data.mdb.
rm -rf "$T/events" && cp -r "$T/events.good" "$T/events"
truncate -s $(( $(stat -c %s "$T/events/data.mdb") / 2 )) "$T/events/data.mdb"
run_fails 1 "events.*(truncated|not an LMDB|MDB_)" --store "$T/store" --events-dir "$T/events" --listen 127.0.0.1:0
echo "a damaged record and a truncated file: refused at start"
finish
