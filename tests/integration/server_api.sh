#!/usr/bin/env bash
# server_api.sh - bin/recserve against a store trained by bin/rectrain: every
# endpoint, the fallback, exclusions, and every documented error status.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
make_store
start_server --max-body 65536

# A known user, their training items, and the item popularity order.
python3 - "$DATA" >"$T/facts" <<'PY'
import sys, collections
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
if rows and rows[0][0] == "user": rows = rows[1:]
hist = collections.defaultdict(set); pop = collections.Counter()
for u, i in rows: hist[u].add(i); pop[i] += 1
user = sorted(hist, key=lambda u: (-len(hist[u]), u))[0]
print(user); print(" ".join(sorted(hist[user])))
# The trainer keeps some items of validation users aside, so its counts can
# be a little below the file's: compare with the file's top few items.
print(" ".join(i for i, _ in pop.most_common(5))); print(len(pop))
PY
USER_ID=$(sed -n 1p "$T/facts")
USER_ITEMS=$(sed -n 2p "$T/facts")
TOP_ITEMS=$(sed -n 3p "$T/facts")
N_ITEMS=$(sed -n 4p "$T/facts")
ITEM=$(echo "$USER_ITEMS" | cut -d' ' -f1)

WHAT="healthz"; req GET /healthz; expect 200
WHAT="readyz"; req GET /readyz; expect 200 && [ "$(jq_py 'd["default_variant"]')" = default ] ||
    fail "readyz: default variant"
WHAT="models"; req GET /v1/models; expect 200
[ "$(jq_py '" ".join(map(str,[d["default_variant"], len(d["models"]), d["models"][0]["n_items"], d["models"][0]["family"]]))')" = "default 1 $N_ITEMS vae" ] ||
    fail "models: unexpected listing $(head -c 300 "$T/body")"
# The public listing names the training file, not the trainer's path to it.
[ "$(jq_py 'd["models"][0]["manifest"]["training"]["data"]')" = train.tsv ] ||
    fail "models: manifest training.data is $(jq_py 'd["models"][0]["manifest"]["training"]["data"]')"

# Known user: n items, none from the training history, headers name the model.
WHAT="recommend known user"
post_json /v1/recommend "{\"user\":\"$USER_ID\",\"n\":7}"
if expect 200; then
    [ "$(jq_py 'len(d["items"])')" = 7 ] || fail "$WHAT: expected 7 items"
    [ "$(jq_py 'd["fallback"]')" = None ] || fail "$WHAT: unexpected fallback"
    [ "$(header X-Recsys-Variant)" = default ] || fail "$WHAT: X-Recsys-Variant"
    [ "$(header X-Recsys-Version)" = "$(jq_py 'd["version"]')" ] || fail "$WHAT: X-Recsys-Version"
    for it in $(jq_py '" ".join(x["id"] for x in d["items"])'); do
        case " $USER_ITEMS " in *" $it "*) fail "$WHAT: returned $it from the history" ;; esac
    done
    [ "$(jq_py 'all(d["items"][k]["score"] >= d["items"][k+1]["score"] for k in range(len(d["items"])-1))')" = True ] ||
        fail "$WHAT: scores not descending"
    cp "$T/body" "$T/post_user.json"
fi

# The GET form answers the same.
WHAT="GET user recommendations"
req GET "/v1/users/$USER_ID/recommendations?n=7"
expect 200 && python3 -c '
import json,sys
a=json.load(open(sys.argv[1])); b=json.load(open(sys.argv[2]))
sys.exit(0 if a["items"]==b["items"] else 1)' "$T/body" "$T/post_user.json" ||
    fail "$WHAT: differs from POST"
WHAT="filter_history=false"
req GET "/v1/users/$USER_ID/recommendations?n=7&filter_history=false"
expect 200

# Ad-hoc history with unknown and duplicate ids.
WHAT="history with unknown ids"
post_json /v1/recommend "{\"history\":[\"$ITEM\",\"nope\",\"$ITEM\",\"nope\",\"zz\"],\"n\":5}"
if expect 200; then
    [ "$(jq_py 'd["unknown_items"]')" = "['nope', 'zz']" ] || fail "$WHAT: unknown_items $(jq_py 'd["unknown_items"]')"
    [ "$(jq_py 'd["history_used"]')" = 1 ] || fail "$WHAT: history_used"
    [ "$(jq_py 'd["fallback"]')" = None ] || fail "$WHAT: fallback"
    [ "$(jq_py '"'"$ITEM"'" in [x["id"] for x in d["items"]]')" = False ] || fail "$WHAT: history item returned"
fi

# Unknown user and empty history: the popularity fallback.
WHAT="unknown user"
post_json /v1/recommend '{"user":"no-such-user","n":3}'
if expect 200; then
    [ "$(jq_py 'd["fallback"]')" = popularity ] || fail "$WHAT: fallback"
    case " $TOP_ITEMS " in *" $(jq_py 'd["items"][0]["id"]') "*) ;;
    *) fail "$WHAT: $(jq_py 'd["items"][0]["id"]') is not among the most popular ($TOP_ITEMS)" ;;
    esac
fi
WHAT="empty history"
post_json /v1/recommend '{"history":[],"n":3}'
expect 200 && { [ "$(jq_py 'd["fallback"]')" = popularity ] || fail "$WHAT: fallback"; }
WHAT="only unknown ids"
post_json /v1/recommend '{"history":["x1","x2"]}'
expect 200 && { [ "$(jq_py 'd["fallback"], len(d["unknown_items"])' | tr -d "()',")" = "popularity 2" ] || fail "$WHAT"; }

# Exclusions: ask for every item; excluded and history items never appear.
WHAT="exclude"
post_json /v1/recommend "{\"history\":[\"$ITEM\"],\"exclude\":[\"$(echo "$USER_ITEMS" | cut -d' ' -f2)\",\"unknown-x\"],\"n\":1000}"
if expect 200; then
    [ "$(jq_py 'len(d["items"])')" = $((N_ITEMS - 2)) ] || fail "$WHAT: expected $((N_ITEMS - 2)) items, got $(jq_py 'len(d["items"])')"
    [ "$(jq_py 'len(set(x["id"] for x in d["items"]))')" = $((N_ITEMS - 2)) ] || fail "$WHAT: duplicates"
fi

# Similar items.
WHAT="similar"
req GET "/v1/items/$ITEM/similar?n=4"
if expect 200; then
    [ "$(jq_py 'len(d["items"])')" = 4 ] || fail "$WHAT: count"
    [ "$(jq_py '"'"$ITEM"'" in [x["id"] for x in d["items"]]')" = False ] || fail "$WHAT: the item itself"
    [ "$(header X-Recsys-Variant)" = default ] || fail "$WHAT: header"
fi
WHAT="similar unknown item"; req GET "/v1/items/no-such-item/similar"; expect 404 unknown_item

# Every error status.
WHAT="malformed JSON"; post_json /v1/recommend '{"user":'; expect 400 bad_json
WHAT="wrong type"; post_json /v1/recommend '{"user":"u1","n":"5"}'; expect 400 invalid_request
WHAT="unknown field"; post_json /v1/recommend '{"usr":"u1"}'; expect 400 invalid_request
WHAT="not an object"; post_json /v1/recommend '["u1"]'; expect 400 invalid_request
WHAT="non-UTF-8"; post_json /v1/recommend "$(printf '{"user":"\xff\xfe"}')"; expect 400 bad_json
WHAT="deep nesting"; post_json /v1/recommend "$(python3 -c 'print("["*5000 + "]"*5000)')"; expect 400 bad_json
WHAT="unknown route"; req GET /v1/nothing; expect 404 not_found
WHAT="wrong method"; req GET /v1/recommend; expect 405 method_not_allowed &&
    { [ "$(header Allow)" = POST ] || fail "$WHAT: Allow header '$(header Allow)'"; }
WHAT="wrong method 2"; req DELETE /v1/models; expect 405 method_not_allowed &&
    { [ "$(header Allow)" = "GET, HEAD" ] || fail "$WHAT: Allow header '$(header Allow)'"; }
python3 -c 'print("{\"history\":[" + ",".join("\"i%d\"" % k for k in range(20000)) + "]}")' >"$T/big.json"
WHAT="body too large"; req POST /v1/recommend -H 'Content-Type: application/json' --data-binary @"$T/big.json"
expect 413 payload_too_large
WHAT="wrong content type"; req POST /v1/recommend -H 'Content-Type: text/plain' --data-binary '{"user":"u1"}'
expect 415 unsupported_media_type
WHAT="n = 0"; post_json /v1/recommend '{"user":"u1","n":0}'; expect 422 out_of_range
WHAT="n too big"; post_json /v1/recommend '{"user":"u1","n":1001}'; expect 422 out_of_range
WHAT="GET n=abc"; req GET "/v1/users/$USER_ID/recommendations?n=abc"; expect 400 invalid_request
WHAT="GET n=0"; req GET "/v1/items/$ITEM/similar?n=0"; expect 422 out_of_range
WHAT="unknown variant"; post_json /v1/recommend '{"user":"u1","variant":"nope"}'; expect 404 unknown_variant
WHAT="unknown variant GET"; req GET "/v1/users/$USER_ID/recommendations?variant=nope"; expect 404 unknown_variant
WHAT="bad path encoding"; req GET "/v1/items/%zz/similar"; expect 400 bad_path

# Metrics saw all of it.
WHAT="metrics"; req GET /metrics; expect 200
for series in 'recsys_http_requests_total{route="/v1/recommend",status="200",variant="default"}' \
    'recsys_http_requests_total{route="/v1/recommend",status="422",variant=""}' \
    'recsys_http_requests_total{route="/v1/recommend",status="413",variant=""}' \
    'recsys_http_requests_total{route="unmatched",status="404",variant=""}' \
    'recsys_http_request_duration_seconds_bucket{route="/v1/items/{id}/similar",status="200",variant="default",le="+Inf"}' \
    'recsys_retrieval_items_scored_total{variant="default"}' \
    'recsys_popularity_fallback_total{variant="default"}' \
    'recsys_model_version{variant="default"}'; do
    grep -qF "$series" "$T/body" || fail "metrics: no series $series"
done
# Process metrics agree with what the kernel says of the server process.
rss_kb=$(awk '/^VmRSS:/ { print $2 }' "/proc/$SERVER_PID/status")
got=$(awk '$1 == "process_resident_memory_bytes" { printf "%d", $2 / 1024 }' "$T/body")
awk -v a="${got:-0}" -v b="${rss_kb:-1}" 'BEGIN { exit !(a > 0.5 * b && a < 2 * b) }' ||
    fail "metrics: process_resident_memory_bytes ${got:-none} kB, /proc says $rss_kb kB"
fds=$(ls "/proc/$SERVER_PID/fd" | wc -l)
got=$(awk '$1 == "process_open_fds" { print $2 }' "$T/body")
[ -n "$got" ] && [ "$got" -gt 3 ] && [ "$got" -le $((fds + 4)) ] ||
    fail "metrics: process_open_fds ${got:-none}, /proc lists $fds"
grep -qE '^recsys_build_info\{version="[0-9.]+",libmicrohttpd="[0-9.]+",.*\} 1$' "$T/body" ||
    fail "metrics: no recsys_build_info"

stop_server
finish
