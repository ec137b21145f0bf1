#!/usr/bin/env bash
# scripts/demo.sh - the quick start's main job, on data the project makes
# itself: generate a synthetic data set, train a Mult-VAE on it, publish the
# best epoch into an LMDB store, list the store, and (when the server is
# built) serve it on a loopback port and ask it for recommendations.
#
# Everything is written under demo/ (gitignored). Deterministic: the same
# seed gives the same data and, with the same thread count, the same figures.
set -euo pipefail
cd "$(dirname "$0")/.."
BINDIR=${BINDIR:-bin}
OUT=${DEMO_DIR:-demo}
EPOCHS=${DEMO_EPOCHS:-30}

mkdir -p "$OUT"
echo "== 1. synthetic data: 2,000 users, 1,000 items, 12 taste clusters"
"$BINDIR"/rectrain synth --out "$OUT" --users 2000 --items 1000 --seed 2026

echo
echo "== 2. train Mult-VAE, publish the best epoch to $OUT/store (variant 'default')"
rm -rf "$OUT/store"
"$BINDIR"/rectrain --data "$OUT/train.tsv" --test "$OUT/test.tsv" --model vae \
    --epochs "$EPOCHS" --hidden 200 --latent 64 --batch 100 --seed 2026 \
    --metrics-out "$OUT/metrics.csv" --plot-out "$OUT/curves.svg" \
    --store "$OUT/store" --variant default

echo
echo "== 3. the store"
"$BINDIR"/rectrain store ls "$OUT/store"

if [ -x "$BINDIR/recserve" ]; then
    echo
    echo "== 4. serve it on loopback and ask for recommendations"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$BINDIR"/recserve --store "$OUT/store" --listen "127.0.0.1:$port" &
    server=$!
    trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT
    for _ in $(seq 50); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
    set -x
    curl -s "http://127.0.0.1:$port/v1/users/u1/recommendations?n=5"; echo
    curl -s -X POST -H 'Content-Type: application/json' \
        -d '{"history": ["i1", "i2", "i3"], "n": 5}' "http://127.0.0.1:$port/v1/recommend"; echo
    set +x
fi
