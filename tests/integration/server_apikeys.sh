#!/usr/bin/env bash
# server_apikeys.sh - API keys on the public routes (--api-keys-file): the
# /v1 routes answer 401 without a valid key (X-Api-Key or Authorization:
# Bearer), before reading a body; probes, metrics, the dashboard files and
# the admin routes (own token) need none; a bad key file stops the start
# naming its line; SIGHUP rotates the keys without a restart or a failed
# request from a client that has the new key.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
make_store
KEY1=key-one-0123456789abcdef
KEY2=key-two-0123456789abcdef
(umask 077 && printf '# recsys API keys\nmobile %s\n\n%s\n' "$KEY1" "$KEY2" >"$T/keys")
start_server --api-keys-file "$T/keys" --reload-interval 0
grep -q "API keys: 2, from" "$T/server.log" || fail "the key count is not logged"

req GET /v1/users/u1/recommendations
WHAT="no key" expect 401 unauthorized
grep -qi '^WWW-Authenticate: Bearer realm="recserve"' "$T/headers" || fail "no WWW-Authenticate on 401"
grep -q "send 'X-Api-Key: KEY'" "$T/body" || fail "the 401 does not say how to send a key"
req GET /v1/users/u1/recommendations -H "X-Api-Key: $KEY1"
WHAT="X-Api-Key" expect 200
req GET /v1/models -H "Authorization: Bearer $KEY2"
WHAT="a bearer key" expect 200
req GET /v1/models -H "X-Api-Key: ${KEY1}x"
WHAT="a wrong key" expect 401 unauthorized && grep -q "not valid" "$T/body" || fail "$WHAT: message"
python3 -c 'print("{\"history\":[" + ",".join(["\"i1\""] * 40000) + "]}")' >"$T/big.json"
req POST /v1/recommend -H 'Content-Type: application/json' --data-binary @"$T/big.json"
WHAT="a body without a key" expect 401 unauthorized
for path in /healthz /readyz /metrics /dashboard /dashboard/dashboard.js; do
    req GET "$path"
    WHAT="$path without a key" expect 200
done
req POST /v1/admin/reload
WHAT="admin without a key: its own token decides" expect 403 admin_disabled
req GET /metrics
grep -q 'recsys_http_requests_total{route="/v1/users/{id}/recommendations",status="401",variant=""} 1' "$T/body" ||
    fail "401s are not counted under their route"

# Rotation: KEY2 goes, KEY3 comes, on SIGHUP.
KEY3=key-three-0123456789abcdef
(umask 077 && printf '%s\n%s\n' "$KEY1" "$KEY3" >"$T/keys")
kill -HUP "$SERVER_PID"
for _ in $(seq 50); do grep -q "SIGHUP: API keys: 2" "$T/server.log" && break; sleep 0.05; done
req GET /v1/models -H "X-Api-Key: $KEY3"
WHAT="the new key after SIGHUP" expect 200
req GET /v1/models -H "X-Api-Key: $KEY2"
WHAT="the removed key after SIGHUP" expect 401 unauthorized
# A broken key file on SIGHUP keeps the keys in force.
echo "short" >"$T/keys"
kill -HUP "$SERVER_PID"
for _ in $(seq 50); do grep -q "SIGHUP: config refused" "$T/server.log" && break; sleep 0.05; done
grep -q "SIGHUP: config refused, the running one is kept: .*keys:1: a key must be" "$T/server.log" ||
    fail "a broken key file on SIGHUP is not refused: $(tail -2 "$T/server.log")"
req GET /v1/models -H "X-Api-Key: $KEY3"
WHAT="the keys in force after a refused reload" expect 200
stop_server

# Bad files stop the start and name the line.
printf 'good-key-0123456789abcdef\nname short\n' >"$T/bad1"
run_fails 1 "bad1:2: a key must be 16\.\.4096 printable" --store "$T/store" --api-keys-file "$T/bad1"
printf 'good-key-0123456789abcdef\nother good-key-0123456789abcdef\n' >"$T/bad2"
run_fails 1 "bad2:2: the same key as an earlier line" --store "$T/store" --api-keys-file "$T/bad2"
printf '# nothing\n\n' >"$T/bad3"
run_fails 1 "holds no key" --store "$T/store" --api-keys-file "$T/bad3"
run_fails 1 "API key file: .*nosuch: No such file" --store "$T/store" --api-keys-file "$T/nosuch"
finish
