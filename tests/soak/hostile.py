"""hostile.py - the hostile half of tests/soak/soak.sh: slow clients and
malformed requests against a recserve for a while, then a summary.

Usage: python3 hostile.py PORT SECONDS SLOW_CLIENTS
  - SLOW_CLIENTS connections each send a request line and then one header
    byte a second (or a declared body a byte a second); when the server
    closes one (the request deadline), it reconnects;
  - one malformed request every 50 ms, round robin over the cases below.
Prints "slow: connections N, answered 408 N, closed N" and "malformed: N
sent, statuses {...}, unanswered N". Exit 0 unless a malformed request got no
answer at all.
"""
import selectors
import socket
import sys
import time

PORT, SECONDS, SLOW = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
MALFORMED = [
    b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n",
    b"GET /healthz HTTP/1.1\r\n\r\n",
    b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 5\r\n\r\n{\"use",
    b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 6\r\n\r\n\"str\"\n",
    b"GET /v1/users/u1/recommendations?" + b"&".join(b"p%d" % i for i in range(300)) +
    b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/users/%ff/assignment HTTP/1.1\r\nHost: x\r\n\r\n",
]
SLOW_HEAD = [
    b"GET /v1/users/u1/recommendations HTTP/1.1\r\nHost: x\r\nX-Slow: ",
    b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 100000\r\n\r\n",
]

sel = selectors.DefaultSelector()
slow_opened = slow_408 = slow_closed = 0
statuses, unanswered, sent = {}, 0, 0


def open_slow(k):
    global slow_opened
    try:
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        s.sendall(SLOW_HEAD[k % 2])
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, k)
        slow_opened += 1
    except OSError:
        pass


def malformed(raw):
    global unanswered, sent
    sent += 1
    try:
        s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        s.sendall(raw)
        data = s.recv(256)
        s.close()
    except OSError:
        data = b""
    if data.startswith(b"HTTP/1.1 "):
        code = data[9:12].decode()
        statuses[code] = statuses.get(code, 0) + 1
    else:
        unanswered += 1


for k in range(SLOW):
    open_slow(k)
end = time.time() + SECONDS
next_drip = next_bad = time.time()
i = 0
while time.time() < end:
    for key, _ in sel.select(timeout=0.05):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if b" 408 " in data[:16]:
            slow_408 += 1
        else:
            slow_closed += 1
        sel.unregister(s)
        s.close()
        open_slow(key.data)
    now = time.time()
    if now >= next_drip:
        next_drip = now + 1.0
        for key in list(sel.get_map().values()):
            try:
                key.fileobj.send(b"a")
            except OSError:
                pass
    if now >= next_bad:
        next_bad = now + 0.05
        malformed(MALFORMED[i % len(MALFORMED)])
        i += 1
for key in list(sel.get_map().values()):
    key.fileobj.close()
print("slow: connections %d, answered 408 %d, closed %d" % (slow_opened, slow_408, slow_closed))
print("malformed: %d sent, statuses %s, unanswered %d" %
      (sent, dict(sorted(statuses.items())), unanswered))
sys.exit(1 if unanswered else 0)
