#!/usr/bin/env bash
# events_nginx.sh - deploy/README.md's recipe for events behind nginx: the
# shipped deploy/nginx/recsys.conf with its upstream switched to consistent
# hashing on the user key (the {id} of /v1/users/{id}/..., else the
# X-Recsys-User header), two replicas with an events environment each. 40
# users post clicks through nginx and their next recommendation through
# nginx is encoded with those clicks (the same replica got both), and both
# replicas took users. With one replica killed, its users are answered by
# the other from their stored history (no request fails), as the README
# says.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || skip "skipped: nginx is not installed (Debian package nginx-light)"
PIDS=()
NGINX_PID=
stop_all() {
    local p
    [ -n "$NGINX_PID" ] && kill -QUIT "$NGINX_PID" 2>/dev/null
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
    [ -n "$NGINX_PID" ] && { sleep 0.2; kill -KILL "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null; }
    cleanup
}
trap stop_all EXIT
make_store

start_replica() { # NAME: sets PORT_NAME and PID_NAME
    rm -f "$T/port-$1"
    "$RECSERVE" --store "$T/store" --events-dir "$T/events-$1" --listen 127.0.0.1:0 \
        --port-file "$T/port-$1" --threads 2 2>>"$T/server-$1.log" &
    local pid=$! i
    PIDS+=("$pid")
    for i in $(seq 100); do [ -s "$T/port-$1" ] && break; sleep 0.1; done
    [ -s "$T/port-$1" ] || { cat "$T/server-$1.log"; exit 1; }
    eval "PORT_$1=$(cat "$T/port-$1"); PID_$1=$pid"
}
start_replica A
start_replica B

LB_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
N=$T/nginx
mkdir -p "$N/tmp"
{
    echo 'map $uri $recsys_path_user { ~^/v1/users/(?<u>[^/]+)/ $u; default ""; }'
    echo 'map $recsys_path_user $recsys_user { "" $http_x_recsys_user; default $recsys_path_user; }'
    sed -e "s/server 127\.0\.0\.1:8081 /server 127.0.0.1:$PORT_A /" \
        -e "s/server 127\.0\.0\.1:8082 /server 127.0.0.1:$PORT_B /" \
        -e "s/listen 127\.0\.0\.1:8080;/listen 127.0.0.1:$LB_PORT;/" \
        -e 's/^upstream recsys_replicas {/upstream recsys_replicas {\n    hash $recsys_user consistent;/' \
        deploy/nginx/recsys.conf
} >"$N/recsys.conf"
grep -q 'hash $recsys_user consistent;' "$N/recsys.conf" && grep -q "$PORT_A" "$N/recsys.conf" ||
    fail "deploy/nginx/recsys.conf no longer has the expected upstream/server lines"
start_nginx "$N" "$LB_PORT"

python3 - "$LB" "$DATA" "http://127.0.0.1:$PORT_A" "http://127.0.0.1:$PORT_B" "$T/users" \
    >"$T/lb.out" 2>&1 <<'PY' || fail "through nginx: $(cat "$T/lb.out")"
import json, sys, urllib.request
lb, data, a, b, users_out = sys.argv[1:6]
def call(base, path, body=None, headers=None):
    h = {"Content-Type": "application/json"} if body is not None else {}
    h.update(headers or {})
    req = urllib.request.Request(base + path, None if body is None else json.dumps(body).encode(), h)
    with urllib.request.urlopen(req, timeout=20) as r:
        return json.load(r)
train = {}
for n, line in enumerate(open(data)):
    if n:
        u, i = line.split("\t")[:2]
        train.setdefault(u, set()).add(i.strip())
items = sorted({i for s in train.values() for i in s})
users = ["u%d" % k for k in range(1, 41)]
for u in users:
    new = [i for i in items if i not in train[u]][:3]
    call(lb, "/v1/events", {"events": [{"user": u, "item": i, "type": "click"} for i in new]},
         {"X-Recsys-User": u})
for u in users:
    d = call(lb, "/v1/users/%s/recommendations?n=5" % u)
    assert d["history_used"] == len(train[u]) + 3, (u, d["history_used"], len(train[u]))
def accepted(base):
    for line in urllib.request.urlopen(base + "/metrics", timeout=20).read().decode().splitlines():
        if line.startswith("recsys_events_accepted_total "):
            return int(float(line.split()[1]))
na, nb = accepted(a), accepted(b)
assert na + nb == 120 and na > 0 and nb > 0, (na, nb)
# Which replica holds each user: the one whose fresh history has them.
with open(users_out, "w") as f:
    for u in users:
        da = call(a, "/v1/users/%s/recommendations?n=5" % u)
        f.write("%s %s %d\n" % (u, "A" if da["history_used"] > len(train[u]) else "B", len(train[u])))
print("40 users: events and requests met on one replica (A took %d events, B %d)" % (na, nb))
PY
cat "$T/lb.out"

# Replica A dies: its users are answered by B, from their stored history.
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null
python3 - "$LB" "$T/users" >"$T/dead.out" 2>&1 <<'PY' || fail "with replica A dead: $(cat "$T/dead.out")"
import json, sys, urllib.request
lb = sys.argv[1]
moved = 0
for line in open(sys.argv[2]):
    u, where, stored = line.split()
    d = json.load(urllib.request.urlopen(lb + "/v1/users/%s/recommendations?n=5" % u, timeout=20))
    want = int(stored) + (3 if where == "B" else 0)
    assert d["history_used"] == want, (u, where, d["history_used"], want)
    moved += where == "A"
print("replica A killed: its %d users answered by B from their stored history, B's own keep theirs" % moved)
PY
cat "$T/dead.out"
finish
