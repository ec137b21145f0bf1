#!/usr/bin/env bash
# ops_pin.sh - rollback by pinning: with three versions in the store and a
# load generator keeping 4 keep-alive connections busy, POST /v1/admin/pin
# serves the oldest version and POST /v1/admin/unpin goes back to the
# store's current one. Checks: no request fails; the pinned version answers
# load-generator requests within 2 s of the pin being asked for, and current
# again within 2 s of the unpin; a newer publish while pinned does not move
# the variant; the listing, /v1/models and /metrics show the pin; bad pins
# (unknown version or variant, malformed body, no token) are refused with
# JSON errors and change nothing.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
need_loadgen

publish() {
    "$RECTRAIN" --data "$DATA" --test "$T/data/test.tsv" --model vae --epochs 1 --hidden 32 \
        --latent 8 --seed "$1" --threads 1 --progress off --store "$T/store" --variant default \
        >"$T/publish.log" 2>&1 || { cat "$T/publish.log"; exit 1; }
}

make_store
publish 11
publish 12
TOKEN=pin-token-$RANDOM$RANDOM-0123456789
(umask 077 && echo "$TOKEN" >"$T/admin.token")
start_server --reload-interval 0.25 --admin-token-file "$T/admin.token"
AUTH=(-H "Authorization: Bearer $TOKEN")

admin() { # admin ROUTE BODY
    req POST "/v1/admin/$1" -H 'Content-Type: application/json' "${AUTH[@]}" --data-binary "$2"
}
served() { # the version in the response headers of a fresh request
    curl -s -o /dev/null -D - --max-time 5 "$BASE/v1/users/u1/recommendations?n=3" |
        sed -n 's/^X-Recsys-Version: *\([0-9]*\).*/\1/ip'
}

[ "$(served)" = 3 ] || fail "version 3 (current) is not served at start: $(served)"

# Refusals first: each leaves version 3 serving.
WHAT="pin without a token" req POST /v1/admin/pin -H 'Content-Type: application/json' \
    --data-binary '{"variant":"default","version":1}'
WHAT="pin without a token" expect 401 unauthorized
WHAT="pin of a version the store does not hold" admin pin '{"variant":"default","version":9}'
WHAT="pin of a version the store does not hold" expect 404 not_found
WHAT="pin of an unknown variant" admin pin '{"variant":"nosuch","version":1}'
WHAT="pin of an unknown variant" expect 404 unknown_variant
for body in '{"variant":"default"}' '{"variant":"default","version":0}' '{"version":1}' \
    '{"variant":"de fault","version":1}' '[1]' '{"variant":"default","version":"1"}'; do
    WHAT="pin body $body" admin pin "$body"
    WHAT="pin body $body" expect 400 invalid_request
done
[ "$(served)" = 3 ] || fail "a refused pin changed the served version to $(served)"

start_load 60
sleep 1

PIN_AT=$(date +%s.%N)
WHAT="pin to version 1" admin pin '{"variant":"default","version":1}'
WHAT="pin to version 1" expect 200
echo "pin answered in $(echo "$(date +%s.%N) $PIN_AT" | awk '{ printf "%.3f", $1 - $2 }') s"
[ "$(jq_py 'd["pinned_version"]')" = 1 ] || fail "the pin answer does not name version 1: $(cat "$T/body")"
[ "$(served)" = 1 ] || fail "version 1 is not served right after the pin answered: $(served)"

# Pinned: a new publish becomes current in the store but is not served.
publish 13
sleep 1
[ "$(served)" = 1 ] || fail "a publish moved a pinned variant to version $(served)"
req GET /v1/models/default/versions
WHAT="versions listing" expect 200
got=$(jq_py 'd["current_version"], d["serving_version"], d["pinned_version"], [v["version"] for v in d["versions"]], [v["version"] for v in d["versions"] if v["pinned"]]')
[ "$got" = "4 1 1 [4, 3, 2, 1] [1]" ] || fail "versions listing while pinned: $got"
req GET /v1/models
[ "$(jq_py '[r["pinned_version"] for r in d["reload"]]')" = "[1]" ] ||
    fail "/v1/models reload status does not show the pin: $(jq_py 'd["reload"]')"
req GET /metrics
grep -q '^recsys_model_pinned_version{variant="default"} 1$' "$T/body" ||
    fail "recsys_model_pinned_version is not 1"

UNPIN_AT=$(date +%s.%N)
WHAT="unpin" admin unpin '{"variant":"default"}'
WHAT="unpin" expect 200
[ "$(served)" = 4 ] || fail "version 4 (current) is not served right after the unpin: $(served)"
sleep 1
stop_load 500 "around the pin and unpin"
pin_lag=$(load_seen 1 4 "$PIN_AT")
unpin_lag=$(load_seen 4 4 "$UNPIN_AT")
echo "pinned version 1 first answered ${pin_lag:-never} s after the pin; version 4 ${unpin_lag:-never} s after the unpin"
awk -v l="${pin_lag:-99}" 'BEGIN { exit !(l >= 0 && l <= 2.0) }' || fail "the pinned version answered ${pin_lag:-never} s after the pin"
awk -v l="${unpin_lag:-99}" 'BEGIN { exit !(l >= 0 && l <= 2.0) }' || fail "the current version answered ${unpin_lag:-never} s after the unpin"
stop_server
finish
