#!/usr/bin/env bash
# server_hostile.sh - bad input and hostile clients against the real server:
# list-length limits, duplicates, slow and silent clients (idle timeout), a
# chunked body over the limit, many idle connections, and a graceful stop
# while a request is still uploading.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
make_store
start_server --timeout 1 --max-body 300000 --shutdown-grace 10
ITEM=$(awk -F'\t' 'NR > 1 { print $2; exit }' "$DATA")

ids() { # ids COUNT [PREFIX]: a JSON array of COUNT ids
    python3 -c 'import sys; n=int(sys.argv[1]); p=sys.argv[2]
print("[" + ",".join("\"%s%d\"" % (p, k % 200) for k in range(n)) + "]")' "$1" "${2:-i}"
}

# History length: 10,000 ids is the limit (duplicates and all), one more is 422.
WHAT="10000 ids"; post_json /v1/recommend "{\"history\":$(ids 10000),\"n\":5}"
expect 200 && { [ "$(jq_py 'd["history_used"] <= 200 and len(d["items"]) <= 5')" = True ] ||
    fail "$WHAT: history_used $(jq_py 'd["history_used"]')"; }
WHAT="10001 ids"; post_json /v1/recommend "{\"history\":$(ids 10001)}"; expect 422 out_of_range
WHAT="10001 exclusions"; post_json /v1/recommend "{\"user\":\"u1\",\"exclude\":$(ids 10001)}"
expect 422 out_of_range
WHAT="duplicates"; post_json /v1/recommend "{\"history\":[\"$ITEM\",\"$ITEM\",\"$ITEM\"]}"
expect 200 && { [ "$(jq_py 'd["history_used"]')" = 1 ] || fail "$WHAT: counted more than once"; }
WHAT="ids with odd bytes"; post_json /v1/recommend '{"history":["a/b","%00","\u00e9\u4e2d","\"","\\"]}'
expect 200 && { [ "$(jq_py 'len(d["unknown_items"])')" = 5 ] || fail "$WHAT: unknown_items"; }
WHAT="NUL escape"; post_json /v1/recommend '{"history":["a\u0000b"]}'; expect 400 bad_json
WHAT="empty body"; post_json /v1/recommend ''; expect 400 bad_json
WHAT="duplicate keys"; post_json /v1/recommend '{"user":"a","user":"b"}'; expect 400 bad_json

# A chunked body growing past the limit is refused once complete.
python3 -c 'print("{\"history\":[" + ",".join(["\"xxxxxxxxxxxxxxxx\""] * 20000) + "]}")' >"$T/big.json"
WHAT="chunked over the limit"
req POST /v1/recommend -H 'Content-Type: application/json' -H 'Transfer-Encoding: chunked' \
    --data-binary @"$T/big.json"
expect 413 payload_too_large

# Slow clients: a silent connection and a half-sent request are closed after
# the 1 s idle timeout; meanwhile the server keeps answering others.
cat >"$T/slow.py" <<'PY'
import os, socket, ssl, sys, time
port = int(sys.argv[1])
def connect(port):
    # Over HTTPS (lib/server.sh RECSYS_TLS=1) the same bytes go through TLS.
    s = socket.create_connection(("127.0.0.1", port))
    ca = os.environ.get("RECSYS_TLS_CA")
    return ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="127.0.0.1") if ca else s
def closed_after(payload):
    s = connect(port)
    s.settimeout(10)
    if payload: s.sendall(payload)
    t0 = time.time()
    try:
        data = s.recv(4096)
    except socket.timeout:
        return None
    except (ssl.SSLError, ConnectionResetError):
        data = b""  # the TLS session ended without close_notify: closed
    finally:
        s.close()
    return time.time() - t0 if not data else -1
for payload in (b"", b"GET /healthz HTTP/1.1\r\nHo", b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"us"):
    t = closed_after(payload)
    if t is None or t < 0 or t > 5:
        print("slow client not closed in time:", payload[:30], t); sys.exit(1)
# Many idle connections at once, then a normal request still works.
idle = [connect(port) for _ in range(50)]
s = connect(port); s.settimeout(5)
s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
ok = s.recv(4096).startswith(b"HTTP/1.1 200")
for c in idle: c.close()
sys.exit(0 if ok else 1)
PY
python3 "$T/slow.py" "$PORT" || fail "slow clients"

# Keep-alive: several requests over one connection (curl reuses it).
WHAT="keep-alive"
curl -s -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects} ' \
    "$BASE/healthz" "$BASE/readyz" "$BASE/healthz" >"$T/conns"
[ "$(tr -s ' ' '\n' <"$T/conns" | awk '{ s += $1 } END { print s }')" = 1 ] ||
    fail "$WHAT: connections used: $(cat "$T/conns")"

# Graceful stop: a request still uploading when SIGTERM arrives completes.
cat >"$T/inflight.py" <<'PY'
import os, signal, socket, ssl, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
def connect(port):
    # Over HTTPS (lib/server.sh RECSYS_TLS=1) the same bytes go through TLS.
    s = socket.create_connection(("127.0.0.1", port))
    ca = os.environ.get("RECSYS_TLS_CA")
    return ssl.create_default_context(cafile=ca).wrap_socket(s, server_hostname="127.0.0.1") if ca else s
body = b'{"history":["%s"],"n":3}' % sys.argv[3].encode()
s = connect(port); s.settimeout(10)
s.sendall(b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
          b"Content-Length: %d\r\n\r\n" % len(body) + body[:5])
time.sleep(0.3)
os.kill(pid, signal.SIGTERM)
time.sleep(0.3)
s.sendall(body[5:])
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk: break
    data += chunk
    if b"\r\n\r\n" in data and b'"items"' in data: break
ok = data.startswith(b"HTTP/1.1 200") and b'"items"' in data
print("in-flight response:", data.split(b"\r\n")[0].decode(errors="replace"))
sys.exit(0 if ok else 1)
PY
python3 "$T/inflight.py" "$PORT" "$SERVER_PID" "$ITEM" || fail "in-flight request at SIGTERM"
# The server now exits 0 on its own (SIGTERM was sent above).
for i in $(seq 150); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$SERVER_PID" 2>/dev/null; then
    fail "server still running after SIGTERM"
else
    wait "$SERVER_PID"; rc=$?
    [ $rc -eq 0 ] || fail "exit status $rc after SIGTERM"
    SERVER_PID=
fi
finish
