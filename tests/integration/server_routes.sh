#!/usr/bin/env bash
# server_routes.sh - proto/openapi.yaml and the server agree: every route the
# server has is documented, and every documented route answers (never the
# "no such route" 404).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
[ -f proto/openapi.yaml ] || skip "skipped: proto/openapi.yaml is missing"

# "METHOD PATH" per documented operation: a line-based read of the paths
# section (two-space path keys, four-space method keys).
awk '
    /^paths:/ { inpaths = 1; next }
    /^[^ ]/   { inpaths = 0 }
    inpaths && /^  \/[^ ]*:[ ]*$/ { path = $1; sub(/:$/, "", path); next }
    inpaths && /^    (get|put|post|delete|patch|head|options):[ ]*$/ {
        m = $1; sub(/:$/, "", m); print toupper(m), path
    }' proto/openapi.yaml | sort >"$T/documented"
"$RECSERVE" --print-routes | awk '{ print $1, $2 }' | sort >"$T/served"
[ -s "$T/documented" ] || fail "no routes found in proto/openapi.yaml"
[ -s "$T/served" ] || fail "recserve --print-routes printed nothing"
if ! diff -u "$T/documented" "$T/served" >"$T/diff"; then
    fail "documented (-) and served (+) routes differ:"
    cat "$T/diff"
fi

make_store
# Events on, and one experiment, so that the events routes answer 200.
cat >"$T/recserve.json" <<'JSON'
{"store": "store", "experiments": [{"name": "e", "salt": "s", "variants": [{"name": "default", "weight": 1}]}]}
JSON
start_server --config "$T/recserve.json" --events-dir "$T/events"
ITEM=$(awk -F'\t' 'NR > 1 { print $2; exit }' "$DATA")
USER_ID=$(awk -F'\t' 'NR > 1 { print $1; exit }' "$DATA")
while read -r method path; do
    url=$(echo "$path" | sed "s|/users/{id}|/users/$USER_ID|; s|/items/{id}|/items/$ITEM|; s|/models/{variant}|/models/default|; s|/dashboard/{file}|/dashboard/dashboard.js|; s|/experiments/{name}|/experiments/e|")
    WHAT="$method $path"
    if [ "$path" = /v1/events ]; then
        req POST "$url" -H 'Content-Type: application/json' \
            --data-binary "{\"events\":[{\"user\":\"$USER_ID\",\"item\":\"$ITEM\",\"type\":\"click\"}]}"
    elif [ "$path" = /v1/recommend/batch ]; then
        req POST "$url" -H 'Content-Type: application/json' --data-binary "{\"queries\":[{\"user\":\"$USER_ID\"}]}"
    elif [ "$method" = POST ]; then
        req POST "$url" -H 'Content-Type: application/json' --data-binary "{\"user\":\"$USER_ID\"}"
    else
        req "$method" "$url"
    fi
    if [ "$STATUS" = 404 ] && grep -q '"code":"not_found"' "$T/body"; then
        fail "$WHAT: documented but the server has no such route"
    elif [ "${path#/v1/admin/}" != "$path" ]; then
        # No admin token is configured: admin routes exist but refuse.
        [ "$STATUS" = 403 ] && grep -q '"code":"admin_disabled"' "$T/body" ||
            fail "$WHAT: status $STATUS without an admin token: $(head -c 200 "$T/body")"
    elif [ "$STATUS" != 200 ]; then
        fail "$WHAT: status $STATUS with a valid request: $(head -c 200 "$T/body")"
    fi
done <"$T/documented"
stop_server
finish
