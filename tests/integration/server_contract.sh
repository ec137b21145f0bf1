#!/usr/bin/env bash
# server_contract.sh - every answer proto/openapi.yaml documents, produced
# on a live recserve and checked against the document: status, Content-Type,
# documented headers and the body's schema (tests/integration/lib/contract.py,
# python3 with yaml and jsonschema). Three servers: one with experiments, an
# admin token and a small body limit; one plain (403 admin_disabled), which
# then has its store file truncated (503); one with an events rate (429). Fails for any documented answer no case produced, but
# those contract.py lists as not produced on purpose.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
python3 -c 'import yaml, jsonschema' 2>/dev/null || skip "skipped: python3 yaml or jsonschema is missing"
need truncate
CATALOG=1 make_store
ITEM=$(awk -F'\t' 'NR > 1 { print $2; exit }' "$DATA")
TOKEN=contract-token-$RANDOM$RANDOM-0123456789
(umask 077 && echo "$TOKEN" >"$T/admin.token")
cat >"$T/recserve.json" <<JSON
{
  "store": "store",
  "admin": {"token_file": "admin.token"},
  "experiments": [{"name": "e", "salt": "s", "variants": [{"name": "default", "weight": 1}]}]
}
JSON
CHECK="python3 tests/integration/lib/contract.py proto/openapi.yaml"
: >"$T/covered"

start_server --config "$T/recserve.json" --max-body 4096 --events-dir "$T/events"
$CHECK "$BASE" "$T/covered" main "$TOKEN" "$ITEM" || fail "the configured server (above)"
stop_server

# Two events a second and a queue of two: a batch of three is too many for
# the queue (503), a first batch of two passes, the second is over the rate.
start_server --events-dir "$T/events" --events-rate 2 --events-max-pending 2
$CHECK "$BASE" "$T/covered" rated "" "$ITEM" || fail "the rate-limited server (above)"
stop_server

start_server
$CHECK "$BASE" "$T/covered" plain "" "$ITEM" || fail "the plain server (above)"
cp "$T/store/data.mdb" "$T/data.mdb.bak"
truncate -s 0 "$T/store/data.mdb"
$CHECK "$BASE" "$T/covered" truncated "" "$ITEM" || fail "the truncated store (above)"
cat "$T/data.mdb.bak" >"$T/store/data.mdb"
stop_server

$CHECK - "$T/covered" coverage || fail "documented answers not produced (above)"
echo "$(wc -l <"$T/covered") documented answers checked"
finish
