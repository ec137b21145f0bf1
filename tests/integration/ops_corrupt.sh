#!/usr/bin/env bash
# ops_corrupt.sh - a corrupted version is refused and the previous one keeps
# answering; reloads on SIGHUP and on POST /v1/admin/reload (bearer token from
# the file the config names); the refusal is logged, counted in /metrics and
# shown in /v1/models; a later valid version is loaded again.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
LOADGEN=${BUILD:-build}/tools/loadgen
CORRUPT=${BUILD:-build}/tools/corrupt_tool
[ -x "$LOADGEN" ] && [ -x "$CORRUPT" ] || skip "skipped: $LOADGEN or $CORRUPT is not built"
LOAD_PID=
trap '[ -n "$LOAD_PID" ] && kill -KILL "$LOAD_PID" 2>/dev/null; cleanup' EXIT

make_store
TOKEN=test-admin-token-$RANDOM$RANDOM-0123456789
(umask 077 && echo "$TOKEN" >"$T/admin.token")
# Relative paths in the config are relative to the config file.
cat >"$T/recserve.json" <<EOF
{
  "store": "store",
  "variants": ["default"],
  "reload": {"interval_seconds": 0, "verify": true},
  "admin": {"token_file": "admin.token"}
}
EOF
rm -f "$T/port"
"$RECSERVE" --config "$T/recserve.json" --listen 127.0.0.1:0 --port-file "$T/port" --threads 2 \
    2>>"$T/server.log" &
SERVER_PID=$!
for i in $(seq 100); do [ -s "$T/port" ] && break; sleep 0.1; done
[ -s "$T/port" ] || { cat "$T/server.log"; exit 1; }
PORT=$(cat "$T/port")
BASE=http://127.0.0.1:$PORT

publish() {
    "$RECTRAIN" --data "$DATA" --model vae --epochs 1 --hidden 32 --latent 8 --seed "$1" \
        --threads 1 --progress off --store "$T/store" --variant default >"$T/publish.log" 2>&1 ||
        { cat "$T/publish.log"; exit 1; }
}
admin_reload() { req POST /v1/admin/reload -H "Authorization: Bearer $TOKEN"; }
served_version() {
    req GET /v1/users/u1/recommendations
    header X-Recsys-Version
}
metric() { curl -s "$BASE/metrics" | sed -n "s/^$1 //p"; }

# The admin endpoint wants the token.
WHAT="reload without a token"; req POST /v1/admin/reload
expect 401 unauthorized
grep -qi '^WWW-Authenticate: Bearer' "$T/headers" || fail "$WHAT: no WWW-Authenticate header"
WHAT="reload with a wrong token"; req POST /v1/admin/reload -H "Authorization: Bearer x$TOKEN"
expect 401 unauthorized
WHAT="GET on the reload route"; req GET /v1/admin/reload -H "Authorization: Bearer $TOKEN"
expect 405 method_not_allowed
[ "$(metric recsys_admin_denied_total)" = 2 ] || fail "recsys_admin_denied_total is not 2"

# No polling (interval 0): a publish is picked up only when asked.
publish 2
sleep 0.5
[ "$(served_version)" = 1 ] || fail "version 2 loaded without being asked (interval 0)"
WHAT="admin reload"; admin_reload
expect 200 && {
    [ "$(jq_py 'd["completed"]')" = True ] || fail "$WHAT: not completed: $(cat "$T/body")"
    [ "$(jq_py 'd["variants"][0]["result"]')" = loaded ] || fail "$WHAT: $(cat "$T/body")"
}
[ "$(served_version)" = 2 ] || fail "version 2 is not served after the admin reload"

# Version 3 is corrupted on disk before anyone loads it.
"$LOADGEN" --port "$PORT" --path '/v1/users/u{u}/recommendations?n=5' --users 300 \
    --connections 2 --duration 30 >"$T/load.out" 2>&1 &
LOAD_PID=$!
publish 3
"$CORRUPT" "$T/store" default 3 >"$T/corrupt.out" || fail "corrupt_tool failed"
kill -HUP "$SERVER_PID"
for i in $(seq 100); do
    req GET /v1/models
    [ "$(jq_py 'd["reload"][0]["last_refused"] and d["reload"][0]["last_refused"]["version"]')" = 3 ] && break
    sleep 0.05
done
WHAT="models after the corrupted publish"; req GET /v1/models
expect 200 && {
    [ "$(jq_py 'd["reload"][0]["last_refused"]["version"]')" = 3 ] || fail "$WHAT: refusal not shown: $(cat "$T/body")"
    jq_py 'd["reload"][0]["last_refused"]["error"]' | grep -q checksum ||
        fail "$WHAT: the refusal does not say checksum: $(jq_py 'd["reload"][0]')"
    [ "$(jq_py 'd["reload"][0]["serving_version"]')" = 2 ] || fail "$WHAT: serving version changed"
    [ "$(jq_py 'd["reload"][0]["store_version"]')" = 3 ] || fail "$WHAT: store version"
    [ "$(jq_py 'd["models"][0]["version"]')" = 2 ] || fail "$WHAT: model version"
}
grep -q "refused variant default version 3 (still serving version 2).*checksum" "$T/server.log" ||
    fail "no log line about the refused version"
for i in 1 2 3 4 5; do
    [ "$(served_version)" = 2 ] || fail "request $i not answered by version 2 (status $STATUS)"
done
[ "$(metric 'recsys_model_reloads_total{variant="default",result="refused"}')" = 1 ] ||
    fail "refused counter is not 1"
[ "$(metric 'recsys_model_refused_version{variant="default"}')" = 3 ] || fail "refused version gauge"
[ "$(metric 'recsys_store_current_version{variant="default"}')" = 3 ] || fail "store version gauge"
[ "$(metric 'recsys_model_version{variant="default"}')" = 2 ] || fail "model version gauge"

# An explicit reload retries it, and refuses it again.
WHAT="admin reload of the corrupted version"; admin_reload
expect 200 && {
    [ "$(jq_py 'd["variants"][0]["result"]')" = refused ] || fail "$WHAT: $(cat "$T/body")"
    [ "$(jq_py 'd["variants"][0]["serving_version"]')" = 2 ] || fail "$WHAT: $(cat "$T/body")"
}
[ "$(metric 'recsys_model_reloads_total{variant="default",result="refused"}')" = 2 ] ||
    fail "refused counter is not 2 after the retry"

# A valid version 4 replaces it.
publish 4
WHAT="admin reload of version 4"; admin_reload
expect 200 && { [ "$(jq_py 'd["variants"][0]["result"]')" = loaded ] || fail "$WHAT: $(cat "$T/body")"; }
[ "$(served_version)" = 4 ] || fail "version 4 is not served"
kill -INT "$LOAD_PID"
wait "$LOAD_PID"
LOAD_PID=
grep -q '^failed 0$' "$T/load.out" || fail "requests failed meanwhile: $(cat "$T/load.out")"
grep -q '^version default 3 ' "$T/load.out" && fail "the corrupted version answered requests"
grep -q '^version default 4 ' "$T/load.out" || fail "version 4 never answered the load"
WHAT="models keep the last refusal"; req GET /v1/models
expect 200 && { [ "$(jq_py 'd["reload"][0]["last_refused"]["version"]')" = 3 ] || fail "$WHAT"; }
stop_server
finish
