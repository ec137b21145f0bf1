#!/usr/bin/env bash
# server_valgrind.sh - recserve under valgrind (memcheck): a bounded round of
# requests over every route, good and bad, then SIGTERM, with brute-force
# retrieval and with the published MIDX index, then the events routes with
# an experiment (twice: the second start reloads the events environment);
# any memory error or
# definite/indirect leak fails the scenario (valgrind's exit status 9).
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
need valgrind
# Sanitizer builds (make asan) cannot run under valgrind.
if ldd "$RECSERVE" 2>/dev/null | grep -qE 'lib(asan|ubsan|tsan)'; then
    skip "skipped: $RECSERVE is a sanitizer build; valgrind runs on the plain build"
fi
# valgrind (3.19 in Debian 12) cannot execute AVX-512 instructions, which
# the release build's -march=native emits on CPUs that have them: memcheck
# runs a build of recserve for the baseline instruction set instead (the
# AVX2 clones of the dot kernel are still chosen at run time, by cpuid as
# valgrind reports it).
VALGRIND_BUILD=${BUILD:-build}-valgrind
make -s BUILD="$VALGRIND_BUILD" BINDIR="$VALGRIND_BUILD/bin" OPT=-O2 "$VALGRIND_BUILD/bin/recserve" \
    >"$T/valgrind-build.log" 2>&1 || { cat "$T/valgrind-build.log"; fail "could not build recserve for valgrind"; }
RECSERVE=$VALGRIND_BUILD/bin/recserve
# recserve re-execs itself with a better OpenBLAS kernel when OpenBLAS
# fell back to a generic one (core/blas_kernel.h); valgrind would not follow
# that exec, so the kernel is fixed here: Prescott runs on every x86-64 CPU.
export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-Prescott}
make_store
SERVER_WRAPPER="valgrind -q --error-exitcode=9 --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect"
ITEM=$(awk -F'\t' 'NR > 1 { print $2; exit }' "$DATA")
USER_ID=$(awk -F'\t' 'NR > 1 { print $1; exit }' "$DATA")
# Brute force, then MIDX mapped from the index the trainer published.
for retrieval in bruteforce midx; do
    start_server --threads 2 --retrieval "$retrieval"
    for body in "{\"user\":\"$USER_ID\",\"n\":5}" "{\"history\":[\"$ITEM\",\"x\",\"$ITEM\"],\"exclude\":[\"$ITEM\"]}" \
        '{"user":"nobody"}' '{"history":[]}' '{"bad":1}' '[[[[' '{"user":"a","n":0}'; do
        post_json /v1/recommend "$body"
        case $STATUS in 200 | 400 | 422) ;; *) fail "$retrieval: POST $body: status $STATUS" ;; esac
    done
    for path in "/v1/users/$USER_ID/recommendations?n=3" "/v1/items/$ITEM/similar" /v1/items/none/similar \
        /v1/models /metrics /readyz /healthz /nope; do
        req GET "$path"
        case $STATUS in 200 | 404) ;; *) fail "$retrieval: GET $path: status $STATUS" ;; esac
    done
    req POST /v1/recommend -H 'Content-Type: text/plain' --data-binary x
    [ "$STATUS" = 415 ] || fail "$retrieval: 415 under valgrind: $STATUS"
    stop_server
done
# Events: the group commit writer, deferred answers, fresh histories and
# impressions, then a restart that reloads the environment.
echo '{"store": "store", "experiments": [{"name": "e", "salt": "s", "variants": [{"name": "default", "weight": 1}]}]}' >"$T/events.json"
for round in 1 2; do
    start_server --threads 2 --config "$T/events.json" --events-dir "$T/events"
    req GET "/v1/users/$USER_ID/recommendations?n=3"
    RID=$(jq_py 'd["request_id"]')
    post_json /v1/events "{\"events\":[{\"user\":\"$USER_ID\",\"item\":\"$ITEM\",\"type\":\"click\",\"request_id\":\"$RID\"},{\"session\":\"s1\",\"item\":\"$ITEM\",\"type\":\"purchase\",\"value\":2}]}"
    [ "$STATUS" = 200 ] || fail "events round $round: POST /v1/events: status $STATUS $(cat "$T/body")"
    post_json /v1/events '{"events":[{"user":"u","item":"i","type":"nope"},7]}'
    [ "$STATUS" = 422 ] || fail "events round $round: a bad batch: status $STATUS"
    for path in /v1/users/s1/recommendations "/v1/users/$USER_ID/recommendations" /v1/experiments/e/report \
        /metrics; do
        req GET "$path"
        [ "$STATUS" = 200 ] || fail "events round $round: GET $path: status $STATUS"
    done
    stop_server
done
grep -q "midx k=[0-9]*, published" "$T/server.log" || fail "the published index was not used"
grep -E "==[0-9]+==" "$T/server.log" | head -40
finish
