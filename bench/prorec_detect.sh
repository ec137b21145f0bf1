#!/usr/bin/env bash
# bench/prorec_detect.sh - ProRec's controlled noise experiment around iALS
# and Mult-VAE, in one table.
#
#   bench/prorec_detect.sh DATA_DIR [OUT_DIR] [NOISE_SEED]
#
# DATA_DIR holds train.tsv and test.tsv (../shared/data/ml100k). The
# training file gets 10% random false positives (bench/prorec_noise.py
# inject, NOISE_SEED, default 2); each family is trained on it with
# --denoise prorec --denoise-keep always (the paper's: the retrained model
# is kept whatever validation says, so the flags scored are the ones the
# soft labels came from). A row gives the hit ratio (share of injected
# pairs flagged), the share of clean pairs flagged, their ratio, and the
# clean test split's NDCG@50 / Recall@50 of the base model (trained on the
# noisy data, no denoising: the run's first test line) and of the model
# retrained on the soft labels (its last). Validation users' held-out items
# are not training rows, so they are neither flagged nor scored.
#
# SPLIT=rho|log passes --denoise-split (default: the trainer's). The
# family settings: iALS --factors 64 --reg 0.03 --epochs 10 (the best
# validation NDCG@50 of factors {32, 64, 128} x reg {0.01, 0.02, 0.03,
# 0.05, 0.1} on noise seed 1), Mult-VAE its defaults with --epochs 30
# --eval-every 2, FastVAE its defaults with --epochs 60 --eval-every 5
# (both as bench/families.sh). THREADS=N passes --threads N.
set -euo pipefail
data=${1:?usage: bench/prorec_detect.sh DATA_DIR [OUT_DIR] [NOISE_SEED]}
out=${2:-$(mktemp -d)}
seed=${3:-2}
BIN=${BIN:-bin}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
if [ ! -f "$data/train.tsv" ] || [ ! -f "$data/test.tsv" ]; then
    echo "no train.tsv/test.tsv in $data" >&2
    exit 2
fi

python3 "$here/prorec_noise.py" inject "$data/train.tsv" "$data/test.tsv" "$out/noisy.tsv" \
    "$out/injected.tsv" --share 0.1 --seed "$seed" >&2

opts=(--denoise prorec --denoise-keep always --seed 1 --progress off)
[ -z "${SPLIT:-}" ] || opts+=(--denoise-split "$SPLIT")
[ -z "${THREADS:-}" ] || opts+=(--threads "$THREADS")
declare -A family_opts=(
    [ials]="--model ials --factors 64 --reg 0.03 --epochs 10"
    [vae]="--model vae --epochs 30 --eval-every 2"
    [fastvae]="--model fastvae --epochs 60 --eval-every 5"
)

# field of a "test (N users): name value ..." line
metric() { tr ' ' '\n' <<<"$1" | grep -A1 -x "$2" | tail -1; }

printf "%-8s %-40s %-22s %-22s\n" family "flagged: injected / clean = ratio" \
    "base ndcg@50 recall@50" "denoised ndcg@50 recall@50"
for family in ials vae fastvae; do
    # shellcheck disable=SC2086
    "$BIN/rectrain" --data "$out/noisy.tsv" --test "$data/test.tsv" ${family_opts[$family]} "${opts[@]}" \
        --denoise-out "$out/$family.flags.tsv" >"$out/$family.log" 2>&1 ||
        { echo "# $family failed, see $out/$family.log" >&2; continue; }
    score=$(python3 "$here/prorec_noise.py" score "$out/$family.flags.tsv" "$out/injected.tsv")
    base=$(grep '^test (' "$out/$family.log" | head -1)
    denoised=$(grep '^test (' "$out/$family.log" | tail -1)
    hi=$(sed -E 's/.*injected flagged [0-9]+\/[0-9]+ = ([0-9.]+).*/\1/' <<<"$score")
    hc=$(sed -E 's/.*clean flagged [0-9]+\/[0-9]+ = ([0-9.]+).*/\1/' <<<"$score")
    ratio=$(sed -E 's/.*ratio ([0-9.inf]+).*/\1/' <<<"$score")
    printf "%-8s %-40s %-22s %-22s\n" "$family" "$hi / $hc = ${ratio}x" \
        "$(metric "$base" ndcg@50) $(metric "$base" recall@50)" \
        "$(metric "$denoised" ndcg@50) $(metric "$denoised" recall@50)"
done
