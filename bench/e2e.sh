#!/usr/bin/env bash
# bench/e2e.sh - end-to-end serving throughput against the machine's HTTP
# ceiling, in the same run:
#   1. recserve on a loopback port serving STORE, driven by wrk with 64
#      connections for 30 s: POST /v1/recommend with 20-item histories
#      (drawn from the store's item ids) and n = 20;
#   2. nginx serving a static JSON file the size of one such answer, same wrk
#      settings.
# Prints requests/s, p50/p99 latency and non-2xx counts of both, and the
# ratio. Loopback only; bounded duration.
#
#   bench/e2e.sh STORE [recserve options...]    e.g. --retrieval midx --midx-budget 1000
#   E2E_USERS=FILE bench/e2e.sh STORE ...       known users instead: GET
#       /v1/users/{id}/recommendations?n=20 for the ids in FILE (one per line)
set -euo pipefail
cd "$(dirname "$0")/.."
BINDIR=${BINDIR:-bin}
STORE=${1:?usage: bench/e2e.sh STORE [recserve options]}
shift
DURATION=${E2E_SECONDS:-30}
CONNECTIONS=${E2E_CONNECTIONS:-64}
command -v wrk >/dev/null || { echo "wrk missing (apt-get install wrk)"; exit 0; }
command -v nginx >/dev/null || command -v /usr/sbin/nginx >/dev/null ||
    { echo "nginx missing (apt-get install nginx-light)"; exit 0; }
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

port=$(free_port)
"$BINDIR"/recserve --store "$STORE" --listen "127.0.0.1:$port" --log-level warn "$@" &
pids+=($!)
for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done

if [ -z "${E2E_USERS:-}" ]; then
    # 200 request bodies, each a 20-item history of the store's items.
    python3 - "$work/bodies.lua" "$port" <<'EOF'
import json, random, sys, urllib.request
out, port = sys.argv[1], sys.argv[2]
# Popular items come back from a cold-start request; widen with their neighbours.
items = set()
req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/recommend",
                             data=json.dumps({"history": [], "n": 1000}).encode(),
                             headers={"Content-Type": "application/json"})
for it in json.load(urllib.request.urlopen(req))["items"]:
    items.add(it["id"])
items = sorted(items)
rng = random.Random(7)
bodies = [json.dumps({"history": rng.sample(items, 20), "n": 20}) for _ in range(200)]
with open(out, "w") as f:
    f.write("bodies = {\n")
    for b in bodies:
        f.write("  [[" + b + "]],\n")
    f.write("}\ncounter = 0\n")
    f.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n')
    f.write("request = function()\n  counter = counter + 1\n"
            "  return wrk.format(nil, '/v1/recommend', nil, bodies[(counter % #bodies) + 1])\nend\n")
EOF
    sample=$(curl -s -H 'Content-Type: application/json' "http://127.0.0.1:$port/v1/recommend" \
        -d "$(sed -n 2p "$work/bodies.lua" | sed 's/^  \[\[//; s/\]\],$//')")
    what="POST /v1/recommend, 20-item histories, n=20"
else
    # Known users (E2E_USERS: a file of user ids, one per line; the first
    # 1000): GET /v1/users/{id}/recommendations?n=20, the stored history encoded.
    python3 - "$work/bodies.lua" "$E2E_USERS" <<'EOF'
import sys, urllib.parse
out = sys.argv[1]
users = [l.strip() for l in open(sys.argv[2]) if l.strip()][:1000]
if not users: sys.exit("E2E_USERS names no user ids")
with open(out, "w") as f:
    f.write("paths = {\n")
    for u in users:
        f.write('  "/v1/users/%s/recommendations?n=20",\n' % urllib.parse.quote(u, safe=""))
    f.write("}\ncounter = 0\n")
    f.write("request = function()\n  counter = counter + 1\n"
            "  return wrk.format('GET', paths[(counter % #paths) + 1])\nend\n")
EOF
    sample=$(curl -s "http://127.0.0.1:$port$(sed -n 2p "$work/bodies.lua" | sed 's/^  "//; s/",$//')")
    what="GET /v1/users/{id}/recommendations?n=20, $(grep -c recommendations "$work/bodies.lua") known users"
fi
cat >>"$work/bodies.lua" <<'EOF'
done = function(summary, latency, requests)
  io.write(string.format('non2xx %d errors %d\n', summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
  io.write(string.format('p50_ms %.3f p99_ms %.3f\n', latency:percentile(50)/1000, latency:percentile(99)/1000))
end
EOF
echo "one answer: ${#sample} bytes"

echo "== recserve: $what, $CONNECTIONS connections, ${DURATION}s"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" -s "$work/bodies.lua" "http://127.0.0.1:$port/" |
    tee "$work/recserve.txt"

# With a budget (approximate MIDX), recall@n of these answers against an
# exact server on the same store, over the benchmark's request bodies.
if [ -z "${E2E_USERS:-}" ] && printf '%s\n' "$@" | grep -q -- '--midx-budget'; then
    xport=$(free_port)
    "$BINDIR"/recserve --store "$STORE" --listen "127.0.0.1:$xport" --log-level warn \
        --retrieval bruteforce &
    pids+=($!)
    for _ in $(seq 300); do curl -fs "http://127.0.0.1:$xport/readyz" >/dev/null && break; sleep 0.1; done
    python3 - "$work/bodies.lua" "$port" "$xport" <<'EOF2'
import json, sys, urllib.request
lua, port, xport = sys.argv[1], sys.argv[2], sys.argv[3]
bodies = [l.strip()[2:-3] for l in open(lua) if l.startswith("  [[")]
def ask(p, b):
    req = urllib.request.Request(f"http://127.0.0.1:{p}/v1/recommend", data=b.encode(),
                                 headers={"Content-Type": "application/json"})
    return [it["id"] for it in json.load(urllib.request.urlopen(req))["items"]]
hit = total = exact = 0
for b in bodies:
    got, want = ask(port, b), ask(xport, b)
    hit += len(set(got) & set(want)); total += len(want); exact += got == want
print("recall@n against exact: %.4f over %d requests (%d answers identical)" % (hit / max(total, 1), len(bodies), exact))
EOF2
fi

# nginx with its own config, serving a file of the same size.
mkdir -p "$work/www" "$work/nginx"
printf '%s' "$sample" >"$work/www/answer.json"
chmod 755 "$work" "$work/www" && chmod 644 "$work/www/answer.json" # nginx workers run as nobody
nport=$(free_port)
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body;
    proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi;
    uwsgi_temp_path $work/nginx/uwsgi;
    scgi_temp_path $work/nginx/scgi;
    server {
        listen 127.0.0.1:$nport;
        location / { root $work/www; default_type application/json; }
    }
}
EOF
nginx=$(command -v nginx || echo /usr/sbin/nginx)
"$nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$nport/answer.json" >/dev/null && break; sleep 0.1; done
echo "== nginx: GET a static ${#sample}-byte JSON file, $CONNECTIONS connections, ${DURATION}s"
wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$nport/answer.json" | tee "$work/nginx.txt"

ours=$(awk '/Requests\/sec/ {print $2}' "$work/recserve.txt")
theirs=$(awk '/Requests\/sec/ {print $2}' "$work/nginx.txt")
awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "recserve %.0f req/s, nginx %.0f req/s: %.1f%% of the HTTP ceiling\n", a, b, 100 * a / b }'
