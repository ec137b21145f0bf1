#!/usr/bin/env bash
# ops_notify.sh - systemd readiness (Type=notify): with $NOTIFY_SOCKET set,
# recserve sends READY=1 only once a model answers (a server whose
# configured variant is not published yet sends it at the first publish)
# and STOPPING=1 on SIGTERM. A small Python receiver plays systemd and
# records when each datagram came and whether /readyz answered 200 then.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries

make_store
listen() { # listen SOCKET LOG: receive datagrams until STOPPING=1
    python3 - "$1" "$2" "$T/port" <<'PY' &
import socket, sys, time, urllib.request
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(60)
with open(log, "w", buffering=1) as out:
    while True:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            out.write("timeout\n")
            break
        # recserve writes --port-file before it can be ready.
        port = open(sys.argv[3]).read().strip() if "READY=1" in msg else ""
        ready = ""
        if port:
            try:
                ready = urllib.request.urlopen("http://127.0.0.1:%s/readyz" % port, timeout=5).status
            except Exception as e:
                ready = getattr(e, "code", "error")
        out.write("%s readyz=%s\n" % (msg.replace("\n", "|"), ready))
        if "STOPPING=1" in msg:
            break
PY
    LISTENER=$!
    for _ in $(seq 50); do [ -S "$1" ] && break; sleep 0.05; done
}

# A loaded store: READY once listening, STOPPING at SIGTERM.
listen "$T/notify1.sock" "$T/notify1.log"
rm -f "$T/port"
NOTIFY_SOCKET=$T/notify1.sock start_server
stop_server
wait "$LISTENER"
cat "$T/notify1.log"
grep -q "^READY=1|STATUS=serving 1 variant readyz=200$" "$T/notify1.log" ||
    fail "READY=1 was not sent, or /readyz was not 200 when it came"
grep -q "^STOPPING=1" "$T/notify1.log" || fail "STOPPING=1 was not sent on SIGTERM"

# Nothing published yet: no READY until the first publish.
listen "$T/notify2.sock" "$T/notify2.log"
echo '{"variants": ["fresh"]}' >"$T/fresh.json"
rm -f "$T/port"
NOTIFY_SOCKET=$T/notify2.sock start_server --config "$T/fresh.json" --reload-interval 0.2
sleep 1
grep -q "READY=1" "$T/notify2.log" && fail "READY=1 was sent before any model was loaded"
"$RECTRAIN" --data "$DATA" --model vae --epochs 1 --hidden 16 --latent 4 --threads 1 \
    --progress off --store "$T/store" --variant fresh >"$T/publish.log" 2>&1 || cat "$T/publish.log"
for _ in $(seq 100); do grep -q "READY=1" "$T/notify2.log" && break; sleep 0.05; done
stop_server
wait "$LISTENER"
cat "$T/notify2.log"
grep -q "^READY=1|STATUS=serving 1 variant readyz=200$" "$T/notify2.log" ||
    fail "READY=1 did not follow the first publish with /readyz 200"
finish
