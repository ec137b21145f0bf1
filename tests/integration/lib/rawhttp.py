"""rawhttp.py - raw-socket HTTP checks for the server_edge.sh scenarios.

Usage: python3 rawhttp.py PORT CASE...  Each case prints one line
("ok CASE ..." or "FAIL CASE: why") and the exit status is the number of
failures. Every wait is bounded (a few seconds), so a server that never
answers fails a case instead of hanging the test.
"""
import json
import os
import socket
import ssl
import sys
import time

PORT = int(sys.argv[1])


# RECSYS_TLS_CA (lib/server.sh's RECSYS_TLS=1): the server speaks HTTPS
# with that self-signed certificate, so every connection is wrapped.
TLS_CA = os.environ.get("RECSYS_TLS_CA")


# Over TLS the server's connection guard, which sits below TLS, closes the
# connections it would answer 503 or 408 in plain HTTP: read_answer then
# gives CLOSED, and expect_json_error takes that for those answers.
CLOSED = b"<closed by the server>"


class ClosedSocket:
    """A TLS connection the server closed during the handshake."""

    def sendall(self, data):
        pass

    def recv(self, n):
        return b""

    def settimeout(self, t):
        pass

    def shutdown(self, how):
        pass

    def close(self):
        pass


def connect(timeout=5.0):
    s = socket.create_connection(("127.0.0.1", PORT), timeout=timeout)
    if TLS_CA:
        context = ssl.create_default_context(cafile=TLS_CA)
        try:
            s = context.wrap_socket(s, server_hostname="127.0.0.1")
        except (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError):
            s.close()
            return ClosedSocket()
    return s


def answer_complete(data):
    """True once data holds the headers and the whole Content-Length body."""
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        return False
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    return len(body) >= length


def read_answer(s, limit=5.0, data=b""):
    """Reads one answer (headers and a Content-Length body), going on from
    the bytes already in data, or what came before the peer closed; None
    when nothing came within limit. The head and the body may arrive in
    separate segments: stopping at the blank line would lose the body."""
    s.settimeout(limit)
    deadline = time.time() + limit
    while not answer_complete(data) and time.time() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, ssl.SSLError):
            return data or (CLOSED if TLS_CA else None)
        if not chunk:
            return data or (CLOSED if TLS_CA else None)
        data += chunk
    return data or None


def parse(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode()
    return status, headers, body


def expect_json_error(name, data, status, code):
    if data == CLOSED and status in (408, 503):
        return None  # over TLS the guard closes instead of answering
    if data is None:
        return "no answer within 5 s"
    try:
        got, headers, body = parse(data)
    except (IndexError, ValueError):
        return "not an HTTP answer: %r" % data[:80]
    if got != status:
        return "status %d, expected %d: %r" % (got, status, body[:120])
    if not headers.get("content-type", "").startswith("application/json"):
        return "Content-Type %r, not JSON: %r" % (headers.get("content-type"), body[:80])
    try:
        err = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return "body is not a JSON error: %r" % body[:120]
    if err.get("code") != code:
        return "code %r, expected %r" % (err.get("code"), code)
    rid = headers.get("x-request-id", "")
    if len(rid) != 32 or rid.strip("0123456789abcdef"):
        return "no fresh X-Request-Id on a %d %s: %r" % (status, code, rid)
    return None


def one_request(raw):
    s = connect()
    try:
        s.sendall(raw)
        return read_answer(s)
    finally:
        s.close()


GET = b"GET /v1/users/u1/recommendations"


def case_many_params():
    # About 500 parameters: a 4 KB request line.
    query = b"&".join(b"p%d=1" % i for i in range(500))
    data = one_request(GET + b"?" + query + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    return expect_json_error("many_params", data, 414, "uri_too_long")


def case_two_content_lengths():
    body = b'{"user":"u1"}'
    raw = (b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body))) + body
    return expect_json_error("two_content_lengths", one_request(raw), 400, "bad_request")


def case_te_and_cl():
    body = b'{"user":"u1"}'
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    raw = (b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nContent-Length: %d\r\n\r\n" % len(chunked)) + chunked
    return expect_json_error("te_and_cl", one_request(raw), 400, "bad_request")


def case_no_host():
    raw = GET + b" HTTP/1.1\r\nConnection: close\r\n\r\n"
    return expect_json_error("no_host", one_request(raw), 400, "bad_request")


def case_http10_no_host():
    data = one_request(GET + b" HTTP/1.0\r\n\r\n")
    if data is None or parse(data)[0] != 200:
        return "HTTP/1.0 without Host: %r" % (data or b"")[:80]
    return None


def case_mhd_errors():
    # Answered by libmicrohttpd itself: an unsupported version (505) and a
    # header line without a colon (400). Only their counting is checked.
    for raw in (b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n",
                b"GET /healthz HTTP/1.1\r\nHost: x\r\nno colon here\r\n\r\n"):
        if one_request(raw) is None:
            return "no answer to %r" % raw[:30]
    return None


def drip(s, raw, limit):
    """Sends raw one byte every 0.3 s; returns (what came back, closed)."""
    start = time.time()
    s.settimeout(0.3)
    data = b""
    for byte in raw:
        try:
            s.sendall(bytes([byte]))
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            return data or (CLOSED if TLS_CA else b""), True
        try:
            chunk = s.recv(4096)
            if not chunk:
                return data or (CLOSED if TLS_CA else b""), True
            data += chunk
            if b"\r\n\r\n" in data:
                return read_answer(s, 2.0, data), True
        except socket.timeout:
            pass
        except (ConnectionResetError, ssl.SSLError):
            return data or (CLOSED if TLS_CA else b""), True
        if time.time() - start > limit:
            break
    return data, False


def case_drip():
    # The request line at once, then one header byte every 0.3 s: that
    # resets the idle timer forever; the request deadline (1 s in this
    # scenario) must end it with a 408.
    s = connect()
    s.sendall(GET + b" HTTP/1.1\r\n")
    data, closed = drip(s, b"Host: x\r\nX-Slow: " + b"a" * 100, 6)
    s.close()
    if not closed:
        return "still open after 6 s of dripping"
    return expect_json_error("drip", data or None, 408, "request_timeout")


def case_drip_line():
    # Dripping the request line itself: closed (no request to answer yet).
    s = connect()
    data, closed = drip(s, GET + b"?" + b"a" * 100, 6)
    s.close()
    return None if closed and data in (b"", CLOSED) else "not closed after 6 s (%r)" % data[:60]


def case_drip_body():
    s = connect()
    s.sendall(b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: 1000\r\n\r\n")
    start = time.time()
    s.settimeout(0.3)
    data = b""
    while time.time() - start < 6:
        try:
            s.sendall(b" ")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            data = data or (CLOSED if TLS_CA else b"")
            break
        try:
            chunk = s.recv(4096)
            if not chunk:
                data = data or (CLOSED if TLS_CA else b"")
                break
            data += chunk
            if b"\r\n\r\n" in data:
                data = read_answer(s, 2.0, data)
                break
        except socket.timeout:
            pass
    s.close()
    return expect_json_error("drip_body", data or None, 408, "request_timeout")


def case_malformed_burst():
    # 100 requests libmicrohttpd refuses itself, as fast as they go.
    for _ in range(100):
        if one_request(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n") is None:
            return "no answer to a malformed request"
    return None


def case_half_close():
    # A client that sends its request and at once ends its input gets the
    # answer and then the close, soon: libmicrohttpd's epoll loop alone can
    # miss that end-of-input and keep the connection until a timeout
    # (--timeout, --request-timeout: tens of seconds by default).
    if TLS_CA:
        # TLS has no half-close: a client ends with close_notify and the
        # session; what this case guards against is plain-HTTP epoll.
        return None
    slowest = 0.0
    for _ in range(20):
        s = connect()
        start = time.time()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.shutdown(socket.SHUT_WR)
        s.settimeout(5.0)
        data = b""
        try:
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        except socket.timeout:
            s.close()
            return "still open 5 s after the client ended its input (answer %r)" % data[:40]
        s.close()
        if not answer_complete(data) or parse(data)[0] != 200:
            return "no whole 200 before the close: %r" % data[:80]
        slowest = max(slowest, time.time() - start)
    return None if slowest < 2.0 else "a close took %.2f s" % slowest


def hold(n):
    conns = [connect() for _ in range(n)]
    time.sleep(0.3)  # let the server accept them
    return conns


def case_global_cap():
    # Scenario: --max-connections 4. The fifth is answered, not queued.
    held = hold(4)
    try:
        s = connect()
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        err = expect_json_error("global_cap", read_answer(s, 3.0), 503, "too_many_connections")
        s.close()
    finally:
        for c in held:
            c.close()
    if err:
        return err
    time.sleep(0.5)
    data = one_request(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    if data is None or parse(data)[0] != 200:
        return "no 200 once the held connections closed: %r" % (data or b"")[:80]
    return None


def case_address_cap():
    # Scenario: --max-per-address 3.
    held = hold(3)
    try:
        s = connect()
        err = expect_json_error("address_cap", read_answer(s, 3.0), 503, "too_many_connections")
        s.close()
    finally:
        for c in held:
            c.close()
    return err


def main():
    failures = 0
    for name in sys.argv[2:]:
        why = globals()["case_" + name]()
        if why:
            failures += 1
            print("FAIL %s: %s" % (name, why))
        else:
            print("ok %s" % name)
    sys.exit(failures)


main()
