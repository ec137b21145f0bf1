#!/usr/bin/env bash
# Integration: rectrain --model fastvae on the project's synthetic data set.
#  - trains with the MIDX-pop sampler, beats the popularity ranking, publishes
#    a "fastvae" snapshot with the serving MIDX index in its manifest
#  - the same seed gives the same figures, with 1 or 2 threads
#  - every sampler (and the full softmax) runs; a bad sampler name is refused
set -euo pipefail
BINDIR=${BINDIR:-bin}
RECTRAIN=$BINDIR/rectrain
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
col() { # col FILE NAME ROW: value of column NAME in data row ROW (1 = first)
    awk -F, -v name="$2" -v row="$3" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
        NR == row + 1 { print $c }' "$1"
}

"$RECTRAIN" synth --out "$work/data" --users 600 --items 300 --seed 7 2>/dev/null
train=(--data "$work/data/train.tsv" --test "$work/data/test.tsv" --model fastvae --epochs 8
       --hidden 32 --latent 8 --batch 64 --samples 50 --codewords 4 --lr 3e-2 --seed 3
       --progress off)

echo "-- midx-pop: train, publish"
"$RECTRAIN" "${train[@]}" --threads 2 --metrics-out "$work/a.csv" --store "$work/store" \
    --variant fv 2>"$work/a.log" || { cat "$work/a.log"; fail "training failed"; }
grep -q 'sampler midx-pop, 50 samples, 4 codewords' "$work/a.log" || fail "no sampler line"
grep -q 'published fv version 1' "$work/a.log" || fail "no publish line"
"$RECTRAIN" store ls "$work/store" >"$work/ls.txt"
grep -Eq '^fv +1 +\* +fastvae ' "$work/ls.txt" || fail "family not fastvae: $(cat "$work/ls.txt")"
"$RECTRAIN" store show "$work/store" fv >"$work/show.json"
grep -Eq '"prefix": *"retrieval.midx"' "$work/show.json" || fail "no serving MIDX index in the manifest"
grep -Eq '"input": *"sqrt_count"' "$work/show.json" || fail "encoder input not sqrt_count"

echo "-- popularity baseline is beaten"
"$RECTRAIN" --data "$work/data/train.tsv" --test "$work/data/test.tsv" --model popularity \
    --epochs 1 --seed 3 --threads 2 --progress off --metrics-out "$work/pop.csv" 2>/dev/null
fv=$(col "$work/a.csv" ndcg@50 8)
pop=$(col "$work/pop.csv" ndcg@50 1)
echo "ndcg@50: fastvae $fv, popularity $pop"
awk -v a="$fv" -v b="$pop" 'BEGIN { exit !(a > 1.2 * b) }' || fail "fastvae does not beat popularity"

echo "-- same seed, same figures, any thread count"
"$RECTRAIN" "${train[@]}" --threads 1 --metrics-out "$work/b.csv" 2>/dev/null
cut -d, -f1-5,7- "$work/a.csv" >"$work/a.cut"
cut -d, -f1-5,7- "$work/b.csv" >"$work/b.cut"
cmp -s "$work/a.cut" "$work/b.cut" || { diff "$work/a.cut" "$work/b.cut"; fail "not reproducible"; }

echo "-- every sampler runs"
for s in uniform pop midx-uni full; do
    "$RECTRAIN" "${train[@]}" --epochs 1 --threads 2 --sampler "$s" --pia 0.1 \
        2>"$work/$s.log" || { cat "$work/$s.log"; fail "--sampler $s failed"; }
    grep -q "sampler $s" "$work/$s.log" || fail "--sampler $s not reported"
done
! "$RECTRAIN" "${train[@]}" --sampler softmax 2>"$work/bad.log" || fail "bad sampler accepted"
grep -q "unknown sampler 'softmax'" "$work/bad.log" || { cat "$work/bad.log"; fail "bad sampler message"; }
echo "ok"
