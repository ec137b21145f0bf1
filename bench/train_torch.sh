#!/usr/bin/env bash
# bench/train_torch.sh - Mult-VAE and FastVAE training speed against PyTorch, one run:
# rectrain's seconds per epoch (--model vae with its defaults: 600-200-600,
# batch 500) and a PyTorch Mult-VAE of the same architecture
# (bench/torch_multvae.py) on the same training file with the same thread
# count, and their ratio; then the same for FastVAE (--sampler pop, 200
# samples) against bench/torch_fastvae.py, a PyTorch sampled softmax of the
# same architecture with the same proposal. The trainer's figure is its own
# "s per epoch" (training only, evaluation excluded); PyTorch's is the
# median epoch.
#
#   bench/train_torch.sh TRAIN_TSV [THREADS] [EPOCHS]
#   e.g. bench/train_torch.sh ../shared/data/ml10m/train.tsv 2 3
#
# Skips (exit 0 with a message) when /usr/bin/python3 has no torch (Debian
# python3-torch).
set -euo pipefail
cd "$(dirname "$0")/.."
train=${1:?usage: bench/train_torch.sh TRAIN_TSV [THREADS] [EPOCHS]}
threads=${2:-2}
epochs=${3:-3}
BINDIR=${BINDIR:-bin}
PY=${TORCH_PYTHON:-/usr/bin/python3}
if ! "$PY" -c 'import torch' 2>/dev/null; then
    echo "bench/train_torch.sh: skipped: $PY has no PyTorch (apt-get install python3-torch)"
    exit 0
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$BINDIR/rectrain" --data "$train" --model vae --epochs "$epochs" --eval-every "$epochs" \
    --threads "$threads" --seed 1 --progress off >"$out/rectrain.log" 2>&1
ours=$(sed -n 's/.*; \([0-9.]*\) s per epoch,.*/\1/p' "$out/rectrain.log" | tail -1)
"$PY" bench/torch_multvae.py "$train" --threads "$threads" --epochs "$epochs" | tee "$out/torch.log"
theirs=$(sed -n 's/^median \([0-9.]*\) s per epoch$/\1/p' "$out/torch.log")
echo "Mult-VAE, $threads threads, $epochs epochs: rectrain ${ours} s per epoch, PyTorch ${theirs} s per epoch"
awk -v a="$ours" -v b="$theirs" 'BEGIN { if (b > 0) printf "rectrain / PyTorch = %.2f\n", a / b }'

# FastVAE against a PyTorch sampled softmax of the same architecture
# (bench/torch_fastvae.py): rectrain --model fastvae --sampler pop, whose
# proposal (popularity, log1p of the counts) the reference draws from too.
"$BINDIR/rectrain" --data "$train" --model fastvae --sampler pop --samples 200 --epochs "$epochs" \
    --eval-every "$epochs" --threads "$threads" --seed 1 --progress off >"$out/fastvae.log" 2>&1
ours=$(sed -n 's/.*; \([0-9.]*\) s per epoch,.*/\1/p' "$out/fastvae.log" | tail -1)
"$PY" bench/torch_fastvae.py "$train" --threads "$threads" --epochs "$epochs" | tee "$out/torch_fastvae.log"
theirs=$(sed -n 's/^median \([0-9.]*\) s per epoch$/\1/p' "$out/torch_fastvae.log")
echo "FastVAE (pop sampler, 200 samples), $threads threads, $epochs epochs: rectrain ${ours} s per epoch, PyTorch ${theirs} s per epoch"
awk -v a="$ours" -v b="$theirs" 'BEGIN { if (b > 0) printf "rectrain / PyTorch = %.2f\n", a / b }'
