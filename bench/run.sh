#!/usr/bin/env bash
# bench/run.sh - retrieval benchmark (run by `make bench`).
#
# Generates the shared synthetic embedding set (clustered items, log-normal
# norms) into bench/out/ once, then runs build/bench/bench_retrieval on it:
# index build time and memory, then one-thread queries/s and recall@N for
# brute force, MIDX exact and MIDX approximate at several budgets; then
# build/bench/bench_filter on the same data: filtered exact retrieval against
# brute force over the allowed items and its queries/s for filters keeping
# 50%, 10% and 1%, softmax sampling through MIDX against Gumbel-top-k, and a
# batch of 64 queries against 64 single ones; then bench_retrieval again on
# a harder set from bench/gen_hard.py (flatter clusters, queries that are
# means of items, d = 96; same item and query counts) with its own budgets.
#
# Environment (defaults in brackets):
#   BENCH_ITEMS [1000000]  BENCH_DIM [64]  BENCH_QUERIES [1000]
#   BENCH_K [1024] codewords per codebook   BENCH_TOP [100]
#   BENCH_BUDGETS [500,750,1000,2500,5000,10000,20000] items examined per query
#   BENCH_BRUTE_QUERIES [200] queries timed for brute force
#   BENCH_STORE [unset] an LMDB store directory: the index is published there
#     and queried through the zero-copy view; later runs with the same data and
#     parameters load it instead of rebuilding (e.g. BENCH_STORE=bench/out/store)
#   BENCH_FILTER_STORE [bench/out/filter-store] where bench_filter keeps the
#     server-default index it builds once (filters, sampling, batches)
#   BENCH_HARD [1] 0 skips the harder set   BENCH_HARD_DIM [96]
#   BENCH_HARD_BUDGETS [500,1000,2500,5000,10000,20000]
#   PYTHON [/usr/bin/python3, needs numpy]   SHARED_DIR [../shared]
# Quick run: BENCH_ITEMS=100000 BENCH_QUERIES=200 BENCH_K=256 make bench
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SHARED_DIR=${SHARED_DIR:-$PWD/../shared}
items=${BENCH_ITEMS:-1000000}
dim=${BENCH_DIM:-64}
queries=${BENCH_QUERIES:-1000}
k=${BENCH_K:-1024}
top=${BENCH_TOP:-100}
budgets=${BENCH_BUDGETS:-500,750,1000,2500,5000,10000,20000}
brute=${BENCH_BRUTE_QUERIES:-200}

gen=$SHARED_DIR/bench/gen_vectors.py
if [ ! -f "$gen" ]; then
    echo "bench: skipped: $gen not found (set SHARED_DIR to the directory holding bench/gen_vectors.py)"
    exit 0
fi
python=${PYTHON:-/usr/bin/python3}
[ -x "$python" ] || python=python3
out=bench/out/vectors-$items-d$dim-q$queries
if [ ! -f "$out/meta.json" ]; then
    if ! "$python" -c 'import numpy' 2>/dev/null; then
        echo "bench: skipped: $python has no numpy (apt-get install python3-numpy)"
        exit 0
    fi
    echo "bench: generating $items x $dim items and $queries queries into $out"
    mkdir -p "$out"
    "$python" "$gen" "$out" --items "$items" --dim "$dim" --queries "$queries"
fi

args=("$out" --k "$k" --top "$top" --budgets "$budgets" --brute-queries "$brute")
[ -n "${BENCH_STORE:-}" ] && args+=(--store "$BENCH_STORE")
echo "== retrieval: $BUILD/bench/bench_retrieval ${args[*]}"
"$BUILD/bench/bench_retrieval" "${args[@]}"
fargs=("$out" --queries "$queries" --top "$top")
[ -n "${BENCH_FILTER_STORE:-}" ] && fargs+=(--store "$BENCH_FILTER_STORE")
echo "== filters, sampling, batches: $BUILD/bench/bench_filter ${fargs[*]}"
"$BUILD/bench/bench_filter" "${fargs[@]}"
if [ "${BENCH_HARD:-1}" != 0 ]; then
    hdim=${BENCH_HARD_DIM:-96}
    hard=bench/out/hard-$items-d$hdim-q$queries
    if [ ! -f "$hard/meta.json" ]; then
        echo "bench: generating the harder set ($items x $hdim, bench/gen_hard.py) into $hard"
        "$python" bench/gen_hard.py "$hard" --items "$items" --dim "$hdim" --queries "$queries"
    fi
    hargs=("$hard" --k "$k" --top "$top" --budgets "${BENCH_HARD_BUDGETS:-500,1000,2500,5000,10000,20000}"
        --brute-queries "$brute")
    [ -n "${BENCH_STORE:-}" ] && hargs+=(--store "$BENCH_STORE-hard")
    echo "== retrieval, harder set: $BUILD/bench/bench_retrieval ${hargs[*]}"
    "$BUILD/bench/bench_retrieval" "${hargs[@]}"
fi
if [ "$items" = 1000000 ] && [ "$dim" = 64 ] && [ "$top" = 100 ]; then
    echo "reference (same data, this machine kind, shared/bench/README.md): numpy brute force 36 q/s;"
    echo "FAISS inverted multi-index 2x10 bits recall@100 0.957 at 1,020 q/s (nprobe 1024)"
fi
