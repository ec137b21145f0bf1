#!/usr/bin/env bash
# server_rankings.sh - what recserve serves for known users equals what the
# trainer ranked for them (rectrain --rankings-out: the kept model's own
# top-50 over items outside the user's history), with brute-force retrieval
# and with exact MIDX retrieval (over the index the trainer published, and
# over one the server builds), for each model family the trainer publishes:
#   - Mult-VAE, FastVAE, the linear family, SinkhornCF and the factor models (iALS,
#     GANMF: a known user is served their stored factor) on the synthetic
#     data set, 150 users;
#   - EASE, the sparse item-item kind (no retriever: served once, with MIDX
#     asked for, which does not apply), on the synthetic data, 150 users;
#   - FastVAE, Mult-VAE, SinkhornCF and iALS trained one epoch on MovieLens 10M, and
#     EASE (λ 500, top-200 rows; the fit takes a minute or two), 1,000 users,
#     when ../shared/data/ml10m is there (skipped with a message otherwise).
# Same items in the same order (up to swaps of near-ties) and every score
# within 1e-4 of the trainer's.
set -u
cd "$(dirname "$0")/../.."
. tests/integration/lib/server.sh
need_binaries
"$RECTRAIN" --help 2>&1 | grep -q -- --rankings-out ||
    skip "skipped: this rectrain has no --rankings-out"
mkdir -p "$T/data"
"$RECTRAIN" synth --out "$T/data" --users 400 --items 300 >"$T/synth.log" 2>&1 ||
    skip "skipped: 'rectrain synth' failed: $(tail -1 "$T/synth.log")"
ML10M=../shared/data/ml10m

# train_with_rankings NAME USERS TRAIN_ARGS...: trains into a fresh store,
# writing the trainer's rankings for USERS users; fails the check otherwise.
train_with_rankings() {
    local name=$1 users=$2
    shift 2
    rm -rf "$T/store"
    "$RECTRAIN" "$@" --seed 3 --progress off --store "$T/store" --variant default \
        --rankings-out "$T/rankings.jsonl" --rankings-users "$users" >"$T/train.log" 2>&1 ||
        { fail "$name: rectrain failed: $(tail -1 "$T/train.log")"; return 1; }
}

# check_family NAME USERS TRAIN_ARGS...: trains into a fresh store with
# --rankings-out, then compares what each retrieval method serves.
check_family() {
    local name=$1 users=$2
    shift 2
    train_with_rankings "$name" "$users" "$@" || return
    # bruteforce; MIDX mapped from the trainer's published index; MIDX
    # built by the server (another codeword count than the published one)
    for setup in "bruteforce None" "midx published" "midx built --midx-k 6"; do
        set -- $setup
        local method=$1 source=$2
        shift 2
        start_server --retrieval "$method" "$@"
        WHAT="$name models ($method, $source)"; req GET /v1/models
        expect 200 && { [ "$(jq_py 'd["models"][0]["retrieval"]')" = "$method" ] || fail "$WHAT: retrieval"; }
        [ "$(jq_py 'd["models"][0]["midx_source"]')" = "$source" ] || fail "$WHAT: midx_source"
        echo "$name, $method ($source):"
        python3 bench/compare_rankings.py "$BASE" "$T/rankings.jsonl" --users "$users" ||
            fail "$name: served rankings ($method, $source) differ from the trainer's"
        stop_server
    done
}

# check_itemitem NAME USERS TRAIN_ARGS...: the same for an item-item model,
# which has no retriever: one server, asked for MIDX, must report item_item.
check_itemitem() {
    local name=$1 users=$2
    shift 2
    train_with_rankings "$name" "$users" "$@" || return
    start_server --retrieval midx
    WHAT="$name models"; req GET /v1/models
    expect 200 && { [ "$(jq_py 'd["models"][0]["retrieval"]')" = item_item ] || fail "$WHAT: retrieval"; }
    echo "$name, item_item:"
    python3 bench/compare_rankings.py "$BASE" "$T/rankings.jsonl" --users "$users" ||
        fail "$name: served rankings differ from the trainer's"
    stop_server
}

synth=(--data "$T/data/train.tsv" --test "$T/data/test.tsv" --epochs 3 --threads 1)
check_family "synthetic vae" 150 "${synth[@]}" --model vae --hidden 48 --latent 12
check_family "synthetic fastvae" 150 "${synth[@]}" --model fastvae --hidden 32 --latent 8 \
    --samples 50 --codewords 4
check_family "synthetic linear" 150 "${synth[@]}" --model linear --hidden 16 --batch 32 --lr 0.01
check_family "synthetic ials" 150 "${synth[@]}" --model ials --factors 16 --reg 0.01 --alpha 10
check_family "synthetic ganmf" 150 "${synth[@]}" --model ganmf --factors 16 --hidden 24 --batch 32 \
    --lr-d 1e-3 --lr-g 1.65e-3
check_family "synthetic sinkhorn" 150 "${synth[@]}" --model sinkhorn --hidden 48 --latent 12
check_itemitem "synthetic ease" 150 "${synth[@]}" --model ease --epochs 1 --ease-topk 40

if [ -r "$ML10M/train.tsv" ] && [ -r "$ML10M/test.tsv" ]; then
    ml=(--data "$ML10M/train.tsv" --test "$ML10M/test.tsv" --epochs 1 --threads 2)
    check_family "ml10m fastvae" 1000 "${ml[@]}" --model fastvae
    check_family "ml10m vae" 1000 "${ml[@]}" --model vae
    check_family "ml10m sinkhorn" 1000 "${ml[@]}" --model sinkhorn
    check_family "ml10m ials" 1000 "${ml[@]}" --model ials --factors 32 --reg 0.01 --alpha0 0.1
    check_itemitem "ml10m ease" 1000 --data "$ML10M/train.tsv" --epochs 1 --threads 2 --model ease
else
    echo "MovieLens 10M comparison skipped: $ML10M/{train,test}.tsv not found (the shared data sits beside the project)"
fi
finish
