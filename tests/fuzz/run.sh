#!/usr/bin/env bash
# tests/fuzz/run.sh - builds the libFuzzer targets with clang into build-fuzz/
# and runs each for FUZZ_SECONDS (default 300): fuzz_request (request
# parsing and routing), fuzz_jsonbuf (the answer writer), fuzz_http (HTTP
# framing through a real socket into libmicrohttpd and the HTTP layer) and
# fuzz_dataset (the data-file loader). The request corpus starts from the
# examples in proto/openapi.yaml and a few hand-written requests, the others
# from hand-written seeds below; corpora grow in build-fuzz/corpus-*/ across
# runs. A crash leaves its input in build-fuzz/ and fails the run.
#
#   make fuzz                      # 20 minutes
#   FUZZ_SECONDS=30 tests/fuzz/run.sh
#   FUZZ_TARGETS="fuzz_http fuzz_dataset" tests/fuzz/run.sh   # some targets only
set -euo pipefail
cd "$(dirname "$0")/../.."
FUZZ_SECONDS=${FUZZ_SECONDS:-300}
FUZZ_TARGETS=${FUZZ_TARGETS:-fuzz_request fuzz_jsonbuf fuzz_http fuzz_dataset}
OUT=build-fuzz
CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null || { echo "fuzz: clang is not installed"; exit 77; }
pkg-config --exists jansson || { echo "fuzz: jansson (pkg-config) is missing"; exit 77; }
for kind in request jsonbuf http dataset; do mkdir -p "$OUT/corpus-$kind" "$OUT/seeds-$kind"; done

# build NAME SOURCES...: one fuzz target with ASan and UBSan.
build() {
    local name=$1
    shift
    echo "fuzz: building $OUT/$name"
    # shellcheck disable=SC2046
    "$CLANG" -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -Icore -Iserver $(pkg-config --cflags jansson) \
        "$@" $(pkg-config --libs jansson libmicrohttpd) -lm -lpthread -o "$OUT/$name"
}
build fuzz_request tests/fuzz/fuzz_request.c server/request.c server/router.c core/common.c \
    server/events_parse.c server/experiment.c server/http.c server/conns.c server/stats.c \
    server/log.c server/apikeys.c server/accesslog.c core/eventlog.c core/crc32c.c core/names.c \
    -llmdb
build fuzz_jsonbuf tests/fuzz/fuzz_jsonbuf.c server/jsonbuf.c
build fuzz_http tests/fuzz/fuzz_http.c server/http.c server/conns.c server/stats.c \
    server/router.c server/log.c server/apikeys.c server/accesslog.c \
    core/names.c core/common.c
build fuzz_dataset tests/fuzz/fuzz_dataset.c core/dataset.c core/dataset_parse.c core/idtable.c \
    core/rng.c core/common.c

# Seeds: every JSON example of the API contract, plus requests that reach
# each branch of the validator and the router.
seeds=$OUT/seeds-request
awk '/^ *value: *[{[]/ { sub(/^ *value: */, ""); print }' proto/openapi.yaml |
    while IFS= read -r line; do
        printf '%s' "$line" >"$seeds/example-$(printf '%s' "$line" | cksum | cut -d' ' -f1)"
    done
i=0
while IFS= read -r line; do
    i=$((i + 1))
    printf '%s' "$line" >"$seeds/hand-$i"
done <<'SEEDS'
{"user":"u1","history":["i1","i2","i1"],"n":5,"exclude":["i3"],"filter_history":false,"variant":"default"}
{"history":[],"n":null,"user":null}
{"user":"caf\u00e9","history":["a\"b","\\","\ud83d\ude00"]}
{"n":1001,"user":"x"}
{"events":[{"user":"u1","item":"i1","type":"click","request_id":"r-1","value":2.5,"timestamp":"2026-12-01T10:00:00Z"},{"session":"s","item":"i2","type":"view","timestamp":1700000000}]}
{"events":[{"user":"u1","session":"s","item":"","type":"nope","extra":1},7,{"item":"i","type":"click","request_id":"a b"}]}
[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
/v1/users/u%2F1/recommendations?n=5
/v1/items/i%41/similar?n=abc
/v1/recommend
/healthz/
SEEDS

# run NAME SECONDS CORPUS... [libFuzzer options]: fails the script on a crash.
run() {
    local name=$1 seconds=$2 status=0
    shift 2
    case " $FUZZ_TARGETS " in *" $name "*) ;; *) return 0 ;; esac
    echo "fuzz: running $name for ${seconds}s"
    (cd "$OUT" && ./"$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 "$@") >"$OUT/$name.log" 2>&1 || status=$?
    grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|Done [0-9]+ runs)' \
        "$OUT/$name.log" || true
    if [ $status -ne 0 ]; then
        echo "fuzz: $name FAILED (exit $status); the end of its log:"
        tail -40 "$OUT/$name.log"
        exit 1
    fi
    echo "fuzz: $name ran ${seconds}s clean"
}
run fuzz_request "$FUZZ_SECONDS" -max_len=65536 -dict=../tests/fuzz/request.dict \
    corpus-request seeds-request
echo "fuzz: request corpus $(ls "$OUT/corpus-request" | wc -l) inputs"
run fuzz_jsonbuf "$FUZZ_SECONDS" -max_len=4096 corpus-jsonbuf

# HTTP seeds: a request per route, pipelining, chunked bodies, HEAD,
# Expect: 100-continue, HTTP/1.0.
seeds=$OUT/seeds-http
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' >"$seeds/get"
printf 'POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}GET /v1/items/a%%20b?n=3 HTTP/1.1\r\nHost: x\r\n\r\n' >"$seeds/pipelined"
printf 'POST /v1/echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n' >"$seeds/chunked"
printf 'HEAD /healthz HTTP/1.0\r\n\r\n' >"$seeds/head"
printf 'POST /v1/echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Type: application/json\r\nContent-Length: 3\r\n\r\n{} ' >"$seeds/expect"
run fuzz_http "$FUZZ_SECONDS" -max_len=8192 corpus-http seeds-http

# Data-file seeds (the first byte picks the options, see fuzz_dataset.c):
# tabs, a header and a test file, "::" with ratings and a k-core.
seeds=$OUT/seeds-dataset
printf '\000u1\ti1\nu1\ti2\nu2\ti1\t5\t100\n' >"$seeds/tabs"
printf '\003user,item,rating\nu1,i1,4\nu2,i2,3\nu1,i3,5\n\n\n\nu1,i2\nu3,i1\n' >"$seeds/test-file"
printf '\025u1::i1::4\nu1::i2::5\nu2::i1::1\nu2::i3::5\nu3::i3::5\nu3::i1::4\n' >"$seeds/colons"
run fuzz_dataset "$FUZZ_SECONDS" -max_len=16384 corpus-dataset seeds-dataset
