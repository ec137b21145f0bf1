#!/usr/bin/env bash
# tests/fuzz/run.sh - builds the libFuzzer targets with clang into build-fuzz/
# and runs them: fuzz_request (request parsing and routing) for FUZZ_SECONDS
# (default 300), then fuzz_jsonbuf (the answer writer) for
# FUZZ_JSONBUF_SECONDS (default 60). The request corpus starts from the
# examples in proto/openapi.yaml and a few hand-written requests; corpora grow
# in build-fuzz/corpus-*/ across runs. A crash leaves its input in
# build-fuzz/ and fails the run.
#
#   make fuzz                      # 6 minutes
#   FUZZ_SECONDS=30 FUZZ_JSONBUF_SECONDS=10 tests/fuzz/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
FUZZ_SECONDS=${FUZZ_SECONDS:-300}
FUZZ_JSONBUF_SECONDS=${FUZZ_JSONBUF_SECONDS:-60}
OUT=build-fuzz
CLANG=${CLANG:-clang}
command -v "$CLANG" >/dev/null || { echo "fuzz: clang is not installed"; exit 77; }
pkg-config --exists jansson || { echo "fuzz: jansson (pkg-config) is missing"; exit 77; }
mkdir -p "$OUT/corpus-request" "$OUT/seeds-request" "$OUT/corpus-jsonbuf"

# build NAME SOURCES...: one fuzz target with ASan and UBSan.
build() {
    local name=$1
    shift
    echo "fuzz: building $OUT/$name"
    # shellcheck disable=SC2046
    "$CLANG" -std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
        -Icore -Iserver $(pkg-config --cflags jansson) \
        "$@" $(pkg-config --libs jansson) -lm -o "$OUT/$name"
}
build fuzz_request tests/fuzz/fuzz_request.c server/request.c server/router.c core/common.c
build fuzz_jsonbuf tests/fuzz/fuzz_jsonbuf.c server/jsonbuf.c

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
run fuzz_jsonbuf "$FUZZ_JSONBUF_SECONDS" -max_len=4096 corpus-jsonbuf
