"""bodymem.py - memory a hostile body costs the server, for server_memory.sh.

Usage: python3 bodymem.py PORT PID CASE. Prints "CASE: N KiB" (the growth of
the server's peak or resident memory, from /proc/PID/status) and nothing
else; the shell script compares it with its bound.
  values   one body of ~1 MiB of empty strings (a history of ~350k ids):
           growth of the peak (VmHWM) while it is refused;
  declared 100 connections that declare a ~1 MiB body and send 1 KiB of it:
           growth of the address space (VmSize: what was allocated, touched
           or not; untouched pages are not resident, but they are committed
           and count against ulimit -v) while they wait.
"""
import socket
import sys
import time

port, pid, case = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
HEAD = (b"POST /v1/recommend HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n")


def status(key):
    for line in open("/proc/%d/status" % pid):
        if line.startswith(key):
            return int(line.split()[1])
    raise SystemExit("no %s in /proc/%d/status" % (key, pid))


def post(body):
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(HEAD % len(body) + b"Connection: close\r\n\r\n" + body)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data.split(b"\r\n")[0]


post(b'{"user":"u1"}')  # warm up: thread blocks, caches
if case == "values":
    before = status("VmHWM")
    n = (1 << 20) // 3 - 10
    line = post(b'{"history":[' + b",".join([b'""'] * n) + b"]}")
    if b" 422 " not in line:
        raise SystemExit("the 1 MiB body got %r, expected 422" % line)
    print("values: %d KiB" % (status("VmHWM") - before))
elif case == "declared":
    before = status("VmSize")
    conns = []
    for _ in range(100):
        s = socket.create_connection(("127.0.0.1", port), timeout=20)
        s.sendall(HEAD % 1048000 + b"\r\n" + b" " * 1024)
        conns.append(s)
    time.sleep(1)
    print("declared: %d KiB" % (status("VmSize") - before))
    for s in conns:
        s.close()
