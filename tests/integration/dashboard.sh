#!/usr/bin/env bash
# dashboard.sh - the operator console in a real browser: recserve serves a
# store with variant "default" at version 3 (versions 1 and 2 retained) and
# variant "candidate", an experiment between them, events and an admin
# token; lists are viewed and clicked (bench/ab_simulate.py); tests/integration/dashboard.py then drives headless Chromium
# through the DevTools protocol over every panel, rolls "default" back to
# version 1 from the page and unpins it, and fails on any console error.
# Then a server whose configured variant is not published yet: not ready,
# the page says what to do, and the first publish makes it ready.
#
# Screenshots go to $DASHBOARD_SHOTS (default build/dashboard); the ones in
# docs/ were made with DASHBOARD_SHOTS=docs. Skips where chromium is absent.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || skip "skipped: chromium is not installed (apt-get install chromium)"
SHOTS=${DASHBOARD_SHOTS:-${BUILD:-build}/dashboard}

make_store default candidate
# Version 3 has an item catalogue (a genre and a price per item).
python3 -c 'import json
for i in range(200):
    print(json.dumps({"id": "i%d" % i, "categories": ["genre%d" % (i % 5)], "price": i % 17}))' >"$T/items.jsonl"
for seed in 21 22; do
    items=()
    [ $seed = 22 ] && items=(--items "$T/items.jsonl")
    "$RECTRAIN" --data "$DATA" --test "$T/data/test.tsv" --model vae --epochs 3 --hidden 32 \
        --latent 8 --seed $seed --threads 1 --progress off --store "$T/store" --variant default \
        "${items[@]}" >"$T/publish.log" 2>&1 || { cat "$T/publish.log"; exit 1; }
done
TOKEN=dashboard-token-$RANDOM$RANDOM-0123456789
(umask 077 && echo "$TOKEN" >"$T/admin.token")
cat >"$T/recserve.json" <<EOF
{
  "variants": ["default", "candidate"],
  "admin": {"token_file": "$T/admin.token"},
  "experiments": [{
    "name": "default-vs-candidate", "salt": "dashboard-test", "share": 1.0,
    "variants": [{"name": "default", "weight": 1}, {"name": "candidate", "weight": 1}]
  }]
}
EOF
start_server --config "$T/recserve.json" --reload-interval 0.25 --events-dir "$T/events"

# Traffic for the Live panel, and lists with views and clicks for the
# experiment's outcomes (the synthetic click model of bench/ab_simulate.py).
python3 bench/ab_simulate.py --base "$BASE" --test "$T/data/test.tsv" \
    --experiment default-vs-candidate >"$T/ab.out" 2>&1 || fail "ab_simulate.py: $(tail -3 "$T/ab.out")"

python3 tests/integration/dashboard.py "$BASE" "$TOKEN" "$SHOTS" || fail "the dashboard checks failed"
stop_server

# No model yet: a config listing a variant that is not published starts the
# server not ready; the page says what to do; the first publish makes it ready.
echo '{"variants": ["fresh"]}' >"$T/fresh.json"
start_server --config "$T/fresh.json" --reload-interval 0.25
req GET /readyz
WHAT="readyz before the first publish" expect 503 not_ready
python3 tests/integration/dashboard.py "$BASE" - "$SHOTS" empty || fail "the empty dashboard checks failed"
"$RECTRAIN" --data "$DATA" --model vae --epochs 1 --hidden 16 --latent 4 --threads 1 \
    --progress off --store "$T/store" --variant fresh >"$T/publish.log" 2>&1 || cat "$T/publish.log"
for _ in $(seq 50); do
    req GET /readyz
    [ "$STATUS" = 200 ] && break
    sleep 0.1
done
WHAT="readyz after the first publish" expect 200
req GET /v1/users/u1/recommendations
WHAT="a recommendation from the first published version" expect 200 && [ "$(header X-Recsys-Variant)" = fresh ] ||
    fail "the first published version does not answer: $(header X-Recsys-Variant)"
stop_server
finish
