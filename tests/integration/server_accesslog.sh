#!/usr/bin/env bash
# server_accesslog.sh - the JSON access log (--access-log): one valid JSON
# line per answer with the request id (the client's X-Request-Id kept),
# route, status, latency, variant and version; no torn or interleaved line
# under 4 concurrent connections (lines = answers counted in /metrics);
# sampling keeps about one in N but every 5xx; SIGHUP reopens the file
# after a rotation.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
LOADGEN=${LOADGEN:-${BUILD:-build}/tools/loadgen}
[ -x "$LOADGEN" ] || skip "skipped: $LOADGEN is not built"
make_store
LOG=$T/access.log
start_server --access-log "$LOG"

req GET /v1/users/u1/recommendations -H 'X-Request-Id: client-chosen-id.1'
WHAT="a logged recommendation" expect 200
req GET '/v1/items/a%22b%0a/similar'
req GET /nosuch/route
post_json /v1/recommend '{'
sleep 0.2
python3 - "$LOG" <<'PY' || fail "access log lines: $(head -c 600 "$LOG")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) == 4, "%d lines for 4 answers" % len(lines)
first, item, missing, bad = lines
keys = {"time", "request_id", "client", "method", "path", "route", "status", "latency_ms", "bytes", "variant", "version"}
for l in lines:
    assert set(l) == keys, sorted(l)
    assert l["client"] == "127.0.0.1" and l["latency_ms"] >= 0 and l["bytes"] > 0, l
assert first["request_id"] == "client-chosen-id.1", first
assert (first["route"], first["status"], first["variant"], first["version"]) == \
    ("/v1/users/{id}/recommendations", 200, "default", 1), first
assert item["path"] == "/v1/items/a%22b%0a/similar" and item["status"] == 404, item
assert (missing["route"], missing["status"], missing["variant"]) == ("unmatched", 404, None), missing
assert (bad["method"], bad["status"]) == ("POST", 400), bad
assert len({l["request_id"] for l in lines}) == 4
print("4 answers, 4 JSON lines; X-Request-Id kept:", first["request_id"])
PY

# Concurrent writers: every line whole, one per answer.
"$LOADGEN" --port "$PORT" --path '/v1/users/u{u}/recommendations?n=10' --users 300 \
    --connections 4 --duration 2 >"$T/load.out" 2>&1
curl -s "$BASE/metrics" >"$T/metrics"
sleep 0.2
answers=$(awk '/^recsys_http_requests_total\{/ { s += $2 } END { print s }' "$T/metrics")
python3 - "$LOG" "$answers" <<'PY' || fail "access log under load"
import json, sys
n = 0
for line in open(sys.argv[1]):
    json.loads(line)
    n += 1
# The /metrics answer is logged but not counted in its own text.
want = int(float(sys.argv[2]))
assert n == want + 1, "%d lines, %d answers counted before the /metrics one" % (n, want)
print("under 4 connections: %d lines, all valid JSON, %d answers counted" % (n, want))
PY

# Rotation: the file is moved away, SIGHUP, new lines go to a new file.
mv "$LOG" "$LOG.1"
kill -HUP "$SERVER_PID"
sleep 0.3
req GET /healthz -H 'X-Request-Id: after-rotation'
sleep 0.2
grep -q '"request_id":"after-rotation"' "$LOG" 2>/dev/null || fail "no line in the reopened log after SIGHUP"
grep -q '"request_id":"after-rotation"' "$LOG.1" && fail "the rotated file got a line after SIGHUP"
stop_server

# Sampling: one in 10 of 1,000 answers, but every 5xx.
echo '{"variants": ["fresh"]}' >"$T/fresh.json"
rm -f "$LOG"
start_server --config "$T/fresh.json" --access-log "$LOG" --access-log-sample 10
python3 - "$PORT" <<'PY'
import http.client, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
for i in range(1000):
    c.request("GET", "/healthz", headers={"X-Request-Id": "sample-%d" % i})
    c.getresponse().read()
for i in range(20):
    c.request("GET", "/readyz", headers={"X-Request-Id": "not-ready-%d" % i})
    c.getresponse().read()
PY
sleep 0.2
kept=$(grep -c '"route":"/healthz"' "$LOG")
errors=$(grep -c '"route":"/readyz","status":503' "$LOG")
echo "sampling one in 10: $kept of 1000 healthz answers logged, $errors of 20 not-ready (503) answers"
[ "$kept" -ge 60 ] && [ "$kept" -le 150 ] || fail "one in 10 kept $kept of 1000"
[ "$errors" = 20 ] || fail "only $errors of 20 5xx answers were logged"
stop_server
finish
