#!/usr/bin/env bash
# ops_nginx.sh - two replicas behind nginx (deploy/nginx/recsys.conf, run
# unprivileged in the foreground on loopback ports) with one experiment split
# 90/10 between two variants. Checks: 10,000 distinct users land in each
# variant within +-1 percentage point of the weights, and exactly where an
# independent implementation of the documented hash puts them; every user
# gets the same variant on every request, whichever replica answers; both
# replicas take traffic; a publish reaches both replicas within 2 s; with one
# replica killed, no request through nginx fails; admin is not proxied.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || skip "skipped: nginx is not installed (Debian package nginx-light)"
LOADGEN=${BUILD:-build}/tools/loadgen
[ -x "$LOADGEN" ] || skip "skipped: $LOADGEN is not built"
USERS=10000
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

make_store control candidate
cat >"$T/recserve.json" <<'EOF'
{
  "store": "store",
  "variants": ["control", "candidate"],
  "default_variant": "control",
  "reload": {"interval_seconds": 0.25},
  "experiments": [
    {
      "name": "split",
      "salt": "nginx-test-salt",
      "variants": [
        {"name": "control", "weight": 90},
        {"name": "candidate", "weight": 10}
      ]
    }
  ]
}
EOF

# start_replica NAME: sets PORT_NAME and PID_NAME.
start_replica() {
    rm -f "$T/port-$1"
    "$RECSERVE" --config "$T/recserve.json" --listen 127.0.0.1:0 --port-file "$T/port-$1" \
        --threads 2 2>>"$T/server-$1.log" &
    local pid=$!
    PIDS+=("$pid")
    local i
    for i in $(seq 100); do [ -s "$T/port-$1" ] && break; sleep 0.1; done
    [ -s "$T/port-$1" ] || { cat "$T/server-$1.log"; exit 1; }
    eval "PORT_$1=$(cat "$T/port-$1"); PID_$1=$pid"
}
start_replica A
start_replica B

LB_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
N=$T/nginx
mkdir -p "$N/tmp"
sed -e "s/server 127\.0\.0\.1:8081 /server 127.0.0.1:$PORT_A /" \
    -e "s/server 127\.0\.0\.1:8082 /server 127.0.0.1:$PORT_B /" \
    -e "s/listen 127\.0\.0\.1:8080;/listen 127.0.0.1:$LB_PORT;/" \
    deploy/nginx/recsys.conf >"$N/recsys.conf"
grep -q "$PORT_A" "$N/recsys.conf" && grep -q "$PORT_B" "$N/recsys.conf" &&
    grep -q "listen 127.0.0.1:$LB_PORT;" "$N/recsys.conf" ||
    fail "deploy/nginx/recsys.conf no longer has the expected server/listen lines"
start_nginx "$N" "$LB_PORT"

PATH_TPL='/v1/users/user{u}/recommendations?n=3'
run_load() { # PORT LOG
    "$LOADGEN" --port "$1" --path "$PATH_TPL" --users "$USERS" --requests "$USERS" \
        --connections 4 --log "$2" >"$2.summary" 2>&1 || fail "load on port $1: $(cat "$2.summary")"
}
route_count() { # PORT: recommendation requests the replica answered
    curl -s "http://127.0.0.1:$1/metrics" |
        awk '/^recsys_http_requests_total\{route="\/v1\/users\/\{id\}\/recommendations"/ { s += $2 } END { print s + 0 }'
}
start=$SECONDS
run_load "$LB_PORT" "$T/lb1.log"
run_load "$LB_PORT" "$T/lb2.log"
served_a=$(route_count "$PORT_A")
served_b=$(route_count "$PORT_B")
run_load "$PORT_A" "$T/a.log"
run_load "$PORT_B" "$T/b.log"
echo "4 x $USERS requests in $((SECONDS - start)) s; through nginx replica A answered $served_a, B $served_b"
[ "$served_a" -ge $((USERS / 2)) ] && [ "$served_b" -ge $((USERS / 2)) ] ||
    fail "nginx did not spread the load: A $served_a, B $served_b of $((2 * USERS))"

python3 - "$T" "$USERS" >"$T/ab.out" 2>&1 <<'EOF' || fail "assignment checks: $(cat "$T/ab.out")"
import sys
T, n = sys.argv[1], int(sys.argv[2])

def buckets(salt, key):
    # The documented rule (etc/README.md), written independently of the C code.
    M = (1 << 64) - 1
    h = 0xcbf29ce484222325
    for b in salt.encode() + b"\0" + key.encode():
        h = ((h ^ b) * 0x100000001b3) & M
    h ^= h >> 33; h = (h * 0xff51afd7ed558ccd) & M
    h ^= h >> 33; h = (h * 0xc4ceb9fe1a85ec53) & M
    h ^= h >> 33
    return (h >> 32) % 10000, (h & 0xffffffff) % 10000

logs = {}
for name in ("lb1", "lb2", "a", "b"):
    seen = {}
    for line in open(f"{T}/{name}.log"):
        user, status, variant, version = line.split()
        assert status == "200", f"{name}: user{user} got status {status}"
        assert user not in seen, f"{name}: user{user} asked twice"
        seen[user] = variant
    assert len(seen) == n, f"{name}: {len(seen)} users, expected {n}"
    logs[name] = seen
ref = logs["lb1"]
for name, seen in logs.items():
    diff = [u for u in ref if seen[u] != ref[u]]
    assert not diff, f"{name}: {len(diff)} users got another variant than in lb1, e.g. user{diff[0]}"
expected = {u: ("control" if buckets("nginx-test-salt", "user" + u)[1] < 9000 else "candidate") for u in ref}
wrong = [u for u in ref if ref[u] != expected[u]]
assert not wrong, f"{len(wrong)} users differ from the documented hash, e.g. user{wrong[0]}: {ref[wrong[0]]}"
share = sum(v == "candidate" for v in ref.values()) / n
print(f"candidate share {share:.4f} (weight 0.10), control {1 - share:.4f}")
assert abs(share - 0.10) <= 0.01, f"candidate share {share:.4f} is not within 0.10 +- 0.01"
EOF
cat "$T/ab.out"

# A publish reaches both replicas within 2 s.
before=$(curl -s -D - -o /dev/null "http://127.0.0.1:$PORT_A/v1/users/user1/recommendations?variant=candidate" |
    tr -d '\r' | sed -n 's/^X-Recsys-Version: //Ip')
"$RECTRAIN" --data "$DATA" --model vae --epochs 1 --hidden 32 --latent 8 --seed 77 --threads 1 \
    --progress off --store "$T/store" --variant candidate >"$T/publish.log" 2>&1 ||
    { cat "$T/publish.log"; exit 1; }
published=$SECONDS
want=$((before + 1))
version_of() {
    curl -s -D - -o /dev/null "$1/v1/users/user1/recommendations?variant=candidate" |
        tr -d '\r' | sed -n 's/^X-Recsys-Version: //Ip'
}
for r in A B; do
    port_var=PORT_$r
    base=http://127.0.0.1:${!port_var}
    for i in $(seq 40); do [ "$(version_of "$base")" = "$want" ] && break; sleep 0.05; done
    [ "$(version_of "$base")" = "$want" ] || fail "replica $r does not serve candidate version $want 2 s after the publish"
done
for i in $(seq 10); do
    [ "$(version_of "$LB")" = "$want" ] || fail "nginx answer $i is not candidate version $want"
done
echo "candidate version $want served by both replicas within $((SECONDS - published)) s"

# Admin and metrics are not proxied.
STATUS=$(curl -s -o "$T/body" -w '%{http_code}' -X POST "$LB/v1/admin/reload")
[ "$STATUS" = 403 ] && grep -q '"code":"forbidden"' "$T/body" || fail "admin through nginx: $STATUS $(cat "$T/body")"

# One replica dies: nginx takes it out and no request fails.
kill -KILL "$PID_B"
wait "$PID_B" 2>/dev/null
"$LOADGEN" --port "$LB_PORT" --path "$PATH_TPL" --users 2000 --requests 2000 --connections 4 \
    >"$T/failover.out" 2>&1
grep -q '^failed 0$' "$T/failover.out" || fail "requests failed with a replica down: $(cat "$T/failover.out")"
grep -q '^status 200 2000$' "$T/failover.out" || fail "not all 2000 requests succeeded: $(cat "$T/failover.out")"

# The rate limit, with this host's exemption taken out: a fast burst of 600
# requests from one address gets 429 in the API's format once past the burst.
sed -i '/127\.0\.0\.0\/8 1;/d; /::1 1;/d' "$N/recsys.conf"
kill -HUP "$NGINX_PID"
sleep 1
python3 - "$LB_PORT" >"$T/limit.out" 2>&1 <<'EOF' || fail "rate limit: $(cat "$T/limit.out")"
import http.client, json, sys
conn = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=5)
counts, bodies = {}, []
for i in range(600):
    conn.request("GET", "/v1/users/user%d/recommendations?n=3" % i)
    r = conn.getresponse()
    body = r.read()
    counts[r.status] = counts.get(r.status, 0) + 1
    if r.status == 429:
        bodies.append((json.loads(body)["error"]["code"], r.getheader("Retry-After")))
print("statuses of 600 requests from one address:", dict(sorted(counts.items())))
assert counts.get(200, 0) >= 200, "fewer than the burst of 200 were served"
assert counts.get(429, 0) >= 100, "the limit did not refuse the excess"
assert set(counts) <= {200, 429}, "unexpected statuses"
assert all(b == ("rate_limited", "1") for b in bodies), bodies[:3]
EOF
cat "$T/limit.out"
finish
