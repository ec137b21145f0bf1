#!/usr/bin/env bash
# server_edge.sh - the HTTP edge under hostile framing and slow or greedy
# clients, on raw sockets (tests/integration/lib/rawhttp.py): every answer
# is a JSON error with its documented code; nothing is left unanswered.
#   - ~500 query parameters: 414 uri_too_long (libmicrohttpd alone queued a
#     431 it never sent);
#   - two Content-Length, Transfer-Encoding with Content-Length, HTTP/1.1
#     without Host: 400 bad_request;
#   - answers libmicrohttpd gives itself (505, a malformed header) are
#     counted in recsys_http_requests_total;
#   - JSON that is not an object is invalid_request, a number too large is
#     422 as for the query parameter, %ff in a path is a documented 400;
#   - a request dripping its headers or body past --request-timeout: 408;
#     dripping its request line: closed;
#   - a connection over --max-connections or --max-per-address:
#     503 too_many_connections at once;
#   - 100 malformed requests are all counted but not all logged;
#   - a client that half-closes after its request is answered, then closed
#     within a fraction of a second (not at a timeout).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
RAW="python3 tests/integration/lib/rawhttp.py"
make_store
metric() { curl -s "$BASE/metrics" | sed -n "s/^$1 //p"; }

start_server --timeout 10 --request-timeout 1
$RAW "$PORT" many_params two_content_lengths te_and_cl no_host http10_no_host mhd_errors \
    drip drip_line drip_body || fail "raw-socket cases (above)"
for status in 505 400; do
    n=$(metric "recsys_http_requests_total{route=\"unmatched\",status=\"$status\",variant=\"\"}")
    [ "${n:-0}" -ge 1 ] || fail "libmicrohttpd's own $status is not counted (${n:-none})"
done
WHAT="JSON string body"; post_json /v1/recommend '"str"'; expect 400 invalid_request
WHAT="JSON null body"; post_json /v1/recommend 'null'; expect 400 invalid_request
WHAT="huge n in JSON"; post_json /v1/recommend '{"user":"u1","n":99999999999999999999999}'
expect 422 out_of_range
WHAT="huge n as a query parameter"; req GET '/v1/users/u1/recommendations?n=99999999999999999999999'
expect 422 out_of_range
WHAT="%ff in a path"; req GET /v1/users/%ff/assignment; expect 400 invalid_request
python3 - "$STATUS" <<'PY' || fail "proto/openapi.yaml does not document that answer"
import sys, yaml
doc = yaml.safe_load(open("proto/openapi.yaml"))
for path, ops in doc["paths"].items():
    for method, op in ops.items():
        if "{id}" in path and str(sys.argv[1]) not in op["responses"]:
            print("%s %s: no %s response" % (method.upper(), path, sys.argv[1])); sys.exit(1)
PY
stop_server

start_server --max-connections 4
$RAW "$PORT" global_cap || fail "over --max-connections (above)"
stop_server

start_server --max-per-address 3
$RAW "$PORT" address_cap || fail "over --max-per-address (above)"
stop_server

# A burst of malformed requests does not flood the log.
: >"$T/server.log"
start_server
$RAW "$PORT" malformed_burst half_close || fail "malformed burst, half-closing clients (above)"
n=$(metric 'recsys_http_requests_total{route="unmatched",status="505",variant=""}')
[ "${n:-0}" = 100 ] || fail "100 malformed requests, ${n:-0} counted"
lines=$(grep -c 'WARN  http:' "$T/server.log")
[ "$lines" -le 20 ] || fail "100 malformed requests logged $lines WARN lines (at most 20 expected)"
stop_server
finish
