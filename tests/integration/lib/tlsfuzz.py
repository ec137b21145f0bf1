"""tlsfuzz.py PORT CA ITERATIONS SEED - a mutational HTTP fuzzer over TLS,
for server_tls.sh: the libFuzzer target (tests/fuzz/fuzz_http.c) drives the
HTTP parser through a plain socket; this drives the same kinds of inputs
(every route, pipelining, chunked bodies, HEAD, Expect, HTTP/1.0) mutated
(bit flips, insertions, deletions, duplicated and spliced runs, cuts)
through TLS into a real recserve, 8 connections at a time.

Checks: every answer starts with "HTTP/1.x NNN"; the server answers
/healthz 200 every 100 inputs and at the end; raw non-TLS bytes on the TLS
port are dropped without harm. Deterministic for a seed. Prints the status
counts; exit status 1 on any failure.
"""
import collections
import random
import re
import socket
import ssl
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

PORT, CA, ITERATIONS, SEED = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
CONTEXT = ssl.create_default_context(cafile=CA)

SEEDS = [
    b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /v1/users/u1/recommendations?n=5 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 36\r\n\r\n{\"history\":[\"i1\",\"i2\"],\"n\":3,\"x\":1}",
    b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Content-Length: 13\r\n\r\n{\"user\":\"u1\"}GET /v1/items/i1/similar?n=3 HTTP/1.1\r\nHost: x\r\n\r\n",
    b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nd\r\n{\"user\":\"u1\"}\r\n0\r\n\r\n",
    b"HEAD /readyz HTTP/1.0\r\n\r\n",
    b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
    b"Content-Type: application/json\r\nContent-Length: 13\r\n\r\n{\"user\":\"u1\"}",
    b"GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Request-Id: fuzz-1\r\nConnection: close\r\n\r\n",
]
ANSWER = re.compile(rb"^HTTP/1\.[01] [1-5][0-9][0-9] ")


def mutate(rng, data):
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(6)
        i = rng.randrange(len(data) + 1)
        if op == 0 and data:  # flip a bit
            j = rng.randrange(len(data))
            data[j] ^= 1 << rng.randrange(8)
        elif op == 1:  # insert random bytes
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2 and data:  # delete a run
            del data[i:i + rng.randint(1, 16)]
        elif op == 3 and data:  # duplicate a run
            j = rng.randrange(len(data))
            data[i:i] = data[j:j + rng.randint(1, 64)] * rng.randint(1, 8)
        elif op == 4:  # splice another seed in
            other = rng.choice(SEEDS)
            data[i:] = other[rng.randrange(len(other)):]
        elif op == 5 and data:  # cut
            del data[rng.randrange(len(data)):]
    return bytes(data)


def exchange(payload):
    """The answer bytes (b"" when the server closed without one, None when
    it kept silent for 0.5 s: waiting for more of a cut request)."""
    raw = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    try:
        s = CONTEXT.wrap_socket(raw, server_hostname="127.0.0.1")
    except (ssl.SSLError, OSError):
        raw.close()
        return b""
    try:
        s.sendall(payload)
        s.settimeout(0.5)
        data = b""
        while len(data) < 65536:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        return data
    except socket.timeout:
        return data or None
    except (ssl.SSLError, OSError):
        return data
    finally:
        s.close()


def healthy():
    data = exchange(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return bool(data) and data.startswith(b"HTTP/1.1 200")


def main():
    rng = random.Random(SEED)
    inputs = [mutate(rng, rng.choice(SEEDS)) for _ in range(ITERATIONS)]
    counts = collections.Counter()
    failures = []
    lock = threading.Lock()

    def one(payload):
        data = exchange(payload)
        with lock:
            if data is None:
                counts["silent"] += 1
            elif data == b"":
                counts["closed"] += 1
            elif not ANSWER.match(data):
                failures.append("not an HTTP answer to %r: %r" % (payload[:60], data[:60]))
            else:
                counts[data[9:12].decode()] += 1

    with ThreadPoolExecutor(8) as pool:
        for start in range(0, len(inputs), 100):
            list(pool.map(one, inputs[start:start + 100]))
            if not healthy():
                failures.append("no 200 from /healthz after %d inputs" % (start + 100))
                break
    # Plain bytes on the TLS port: dropped, and the server goes on.
    for k in range(20):
        c = socket.create_connection(("127.0.0.1", PORT), timeout=5)
        c.sendall(mutate(rng, rng.choice(SEEDS)) if k % 2 else bytes(rng.randrange(256) for _ in range(300)))
        c.settimeout(2)
        try:
            c.recv(4096)
        except OSError:
            pass
        c.close()
    if not healthy():
        failures.append("no 200 from /healthz after the plain-text connections")
    print("TLS fuzz: %d mutated inputs, answers by status %s" % (ITERATIONS, dict(sorted(counts.items()))))
    for f in failures[:10]:
        print("FAIL " + f)
    sys.exit(1 if failures else 0)


main()
