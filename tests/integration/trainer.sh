#!/usr/bin/env bash
# Integration: the real rectrain on the project's synthetic data set.
#  - trains, writes the metrics CSV and beats the popularity ranking
#  - the same seed and thread count reproduce the same figures
#  - publishes into an LMDB store that mdb_stat and `rectrain store ls` read
#  - a trainer killed with SIGKILL in the middle of a publish leaves the
#    previous version current and the store readable
#  - bad input gets an error naming the file and line, and no crash
set -euo pipefail
BINDIR=${BINDIR:-bin}
RECTRAIN=$BINDIR/rectrain
command -v mdb_stat >/dev/null || { echo "mdb_stat missing (apt-get install lmdb-utils)"; exit 77; }
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]:-}"; do [ -n "$p" ] && kill -9 "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
col() { # col FILE NAME ROW: value of column NAME in data row ROW (1 = first)
    awk -F, -v name="$2" -v row="$3" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i }
        NR == row + 1 { print $c }' "$1"
}

"$RECTRAIN" synth --out "$work/data" --users 600 --items 300 --seed 7 2>/dev/null
train=(--data "$work/data/train.tsv" --test "$work/data/test.tsv" --model vae --epochs 10
       --eval-every 5 --hidden 64 --latent 16 --batch 50 --lr 3e-3 --seed 3 --threads 2
       --progress off)

echo "-- train, CSV, publish"
"$RECTRAIN" "${train[@]}" --metrics-out "$work/a.csv" --store "$work/store" --variant demo \
    2>"$work/a.log" || { cat "$work/a.log"; fail "training failed"; }
head -1 "$work/a.csv" | grep -q '^epoch,.*recall@20,recall@50,ndcg@50,ndcg@100$' ||
    fail "CSV header: $(head -1 "$work/a.csv")"
[ "$(wc -l <"$work/a.csv")" -eq 3 ] || fail "expected 2 evaluated epochs (5, 10) in the CSV"
grep -q 'published demo version 1' "$work/a.log" || fail "no publish line"

echo "-- popularity baseline is beaten"
"$RECTRAIN" --data "$work/data/train.tsv" --test "$work/data/test.tsv" --model popularity \
    --epochs 1 --seed 3 --threads 2 --progress off --metrics-out "$work/pop.csv" 2>/dev/null
vae=$(col "$work/a.csv" ndcg@50 2)
pop=$(col "$work/pop.csv" ndcg@50 1)
echo "ndcg@50: vae $vae, popularity $pop"
awk -v a="$vae" -v b="$pop" 'BEGIN { exit !(a > 1.2 * b) }' || fail "vae does not beat popularity"

echo "-- same seed, same figures"
"$RECTRAIN" "${train[@]}" --metrics-out "$work/b.csv" 2>/dev/null
cut -d, -f1-5,7- "$work/a.csv" >"$work/a.cut"
cut -d, -f1-5,7- "$work/b.csv" >"$work/b.cut"
cmp -s "$work/a.cut" "$work/b.cut" || { diff "$work/a.cut" "$work/b.cut"; fail "not reproducible"; }
"$RECTRAIN" "${train[@]}" --seed 4 --metrics-out "$work/c.csv" 2>/dev/null
cut -d, -f1-5,7- "$work/c.csv" >"$work/c.cut"
! cmp -s "$work/a.cut" "$work/c.cut" || fail "a different seed gave identical figures"

echo "-- refit: selection rows without test figures, then one refit row"
"$RECTRAIN" "${train[@]}" --refit --metrics-out "$work/r.csv" 2>/dev/null
[ "$(grep -c ',train,' "$work/r.csv")" -eq 2 ] || fail "refit CSV: selection rows"
[ "$(grep -c ',refit,' "$work/r.csv")" -eq 1 ] || fail "refit CSV: no refit row"
awk -F, 'NR > 1 && $2 == "train" && $NF != "" { exit 1 }' "$work/r.csv" ||
    fail "the selection pass of a refit reports test figures"
[ -n "$(col "$work/r.csv" ndcg@50 3)" ] || fail "refit row has no test ndcg@50"

echo "-- store readable"
mdb_stat "$work/store" >/dev/null || fail "mdb_stat cannot read the store"
"$RECTRAIN" store ls "$work/store" >"$work/ls.txt"
grep -qE '^demo +1 +\* +vae ' "$work/ls.txt" || { cat "$work/ls.txt"; fail "listing"; }
"$RECTRAIN" store show "$work/store" demo >"$work/show.json"
grep -q '"family": *"vae"' "$work/show.json" || fail "manifest not shown"

echo "-- --denoise prorec: the relabelled weights and the manifest's record"
"$RECTRAIN" "${train[@]}" --epochs 5 --denoise prorec --denoise-keep always --denoise-out "$work/d.tsv" \
    --metrics-out "$work/d.csv" --store "$work/dstore" --variant den 2>"$work/d.log" ||
    { cat "$work/d.log"; fail "denoise"; }
[ "$(grep -c ',train,' "$work/d.csv")" -eq 1 ] && [ "$(grep -c ',denoise,' "$work/d.csv")" -eq 1 ] ||
    fail "denoise CSV: one base row, then one denoise row"
grep -q 'denoise round 1/1: [0-9]* of [0-9]* interactions flagged' "$work/d.log" ||
    fail "no denoise round line"
n_train=$(grep -o 'train [0-9][0-9,]*' "$work/d.log" | head -1 | tr -dc '0-9')
[ "$(head -1 "$work/d.tsv")" = "$(printf 'user\titem\toriginal\tweight\tflagged')" ] ||
    fail "--denoise-out header: $(head -1 "$work/d.tsv")"
[ "$(($(wc -l <"$work/d.tsv") - 1))" -eq "$n_train" ] || fail "--denoise-out: not one row per interaction"
awk -F'\t' 'NR > 1 && !($3 == 1 && $4 > 0 && $4 <= 1 && ($5 == "yes" || $5 == "no")) { exit 1 }
    NR > 1 && $5 == "yes" { y++ } NR > 1 && $5 == "no" { n++ } END { exit !(y > 0 && n > 0) }' \
    "$work/d.tsv" || fail "--denoise-out rows: weights in (0, 1], some flagged and some not"
"$RECTRAIN" store show "$work/dstore" den | tr -d ' \n' >"$work/dls.txt"
grep -q '"denoise":{[^}]*"method":"prorec"' "$work/dls.txt" &&
    grep -q '"denoise":{[^}]*"flagged_share":0\.[0-9]' "$work/dls.txt" ||
    fail "the manifest does not record the denoising"
grep -q '"denoise":{[^}]*"keep":"always"' "$work/dls.txt" &&
    grep -q '"denoise":{[^}]*"rounds_kept":1' "$work/dls.txt" ||
    fail "the manifest does not record the kept round"

echo "-- --denoise-keep better: a round is kept only when validation does not drop"
"$RECTRAIN" "${train[@]}" --epochs 5 --denoise prorec --denoise-rounds 3 --denoise-out "$work/db.tsv" \
    --store "$work/dbstore" --variant den 2>"$work/db.log" || { cat "$work/db.log"; fail "denoise better"; }
grep 'validation ndcg@50 [0-9.]* against [0-9.]* before' "$work/db.log" >"$work/db.rounds" ||
    fail "no round verdict: $(tail -3 "$work/db.log")"
# Every verdict agrees with its figures; rounds stop at the first drop.
awk '{ after = $5; before = $7; kept = ($9 == "kept") }
    kept != (after >= before) { exit 1 } !kept { drops++ } kept { k = NR }
    END { exit !(drops <= 1 && (drops == 0 || k == NR - 1)) }' "$work/db.rounds" ||
    fail "round verdicts do not follow the figures: $(cat "$work/db.rounds")"
kept_rounds=$(grep -c ': kept$' "$work/db.rounds")
"$RECTRAIN" store show "$work/dbstore" den | tr -d ' \n' >"$work/dbls.txt"
grep -q '"denoise":{[^}]*"keep":"better"' "$work/dbls.txt" &&
    grep -q "\"denoise\":{[^}]*\"rounds_kept\":$kept_rounds[,}]" "$work/dbls.txt" ||
    fail "manifest rounds_kept is not $kept_rounds"
if [ "$kept_rounds" -eq 0 ]; then # the base model is published, on its own labels
    awk -F'\t' 'NR > 1 && ($4 != 1 || $5 != "no") { exit 1 }' "$work/db.tsv" ||
        fail "no round kept, yet --denoise-out shows relabelled weights"
fi
echo "rounds kept: $kept_rounds of $(wc -l <"$work/db.rounds") tried"
! "$RECTRAIN" "${train[@]}" --model popularity --epochs 1 --denoise prorec 2>"$work/dp.log" ||
    fail "--denoise accepted a family without weighted training"
grep -q "does not train on weighted interactions" "$work/dp.log" || fail "denoise refusal: $(cat "$work/dp.log")"

echo "-- SIGKILL in the middle of a publish"
RECSYS_TEST_PAUSE_BEFORE_COMMIT="$work/paused" "$RECTRAIN" "${train[@]}" --epochs 1 \
    --store "$work/store" --variant demo 2>"$work/kill.log" &
pids+=($!)
for _ in $(seq 600); do [ -e "$work/paused" ] && break; sleep 0.1; done
[ -e "$work/paused" ] || { cat "$work/kill.log"; fail "publish never reached the pause point"; }
kill -9 "${pids[-1]}"
wait "${pids[-1]}" 2>/dev/null || true
mdb_stat "$work/store" >/dev/null || fail "store unreadable after the kill"
# Through a file: grep -q stops reading early, and a listing longer than a
# pipe's buffer (manifests carry per-epoch curves) would die of SIGPIPE.
"$RECTRAIN" store ls "$work/store" >"$work/ls.txt"
grep -qE '^demo +1 +\* ' "$work/ls.txt" ||
    fail "version 1 is no longer current after the killed publish"
"$RECTRAIN" "${train[@]}" --epochs 1 --store "$work/store" --variant demo 2>"$work/next.log"
grep -q 'published demo version 2' "$work/next.log" || { cat "$work/next.log"; fail "next publish"; }

echo "-- bad input"
printf 'user\titem\nu1\ti1\nu2\n' >"$work/bad.tsv"
if "$RECTRAIN" --data "$work/bad.tsv" --epochs 1 --progress off 2>"$work/bad.log"; then
    fail "a malformed file was accepted"
fi
grep -q "bad.tsv:3" "$work/bad.log" || { cat "$work/bad.log"; fail "error does not name file:line"; }
: >"$work/empty.tsv"
! "$RECTRAIN" --data "$work/empty.tsv" --epochs 1 2>"$work/empty.log" || fail "empty data accepted"
grep -qi "empty\|no interactions" "$work/empty.log" || { cat "$work/empty.log"; fail "empty data message"; }
! "$RECTRAIN" --data "$work/data/train.tsv" --epochs zero 2>/dev/null || fail "bad --epochs accepted"
! "$RECTRAIN" --data "$work/nope.tsv" --epochs 1 2>"$work/missing.log" || fail "missing file accepted"
grep -q "nope.tsv" "$work/missing.log" || fail "missing file not named"

echo "-- --help and the Markdown reference come from the option tables"
"$RECTRAIN" --help >"$work/help.txt"
for opt in data test model epochs batch hidden latent sampler pia select-rule refit store variant \
    keep rankings-out metrics-out; do
    grep -q -- "--$opt " "$work/help.txt" || fail "--help does not mention --$opt"
done
grep -q -- '--batch N .*(vae 500, fastvae 256' "$work/help.txt" || fail "--help: per-family defaults"
"$RECTRAIN" --help-markdown >"$work/options.md"
diff -u "${RECSYS_ROOT:-.}/trainer/OPTIONS.md" "$work/options.md" ||
    fail "trainer/OPTIONS.md is stale: regenerate it with rectrain --help-markdown"
! "$RECTRAIN" --data "$work/data/train.tsv" --lr 99 2>"$work/bound.log" || fail "--lr 99 accepted"
grep -q "rectrain: --lr: expected a number in \[1e-09, 10\], got '99'" "$work/bound.log" ||
    fail "bound message: $(cat "$work/bound.log")"
! "$RECTRAIN" --data "$work/data/train.tsv" --model vae --samples 0 2>"$work/fam.log" ||
    fail "another family's option is not checked"
grep -q "rectrain: --samples: expected an integer in \[1, 1000000\]" "$work/fam.log" ||
    fail "another family's option message: $(cat "$work/fam.log")"
! "$RECTRAIN" --data "$work/data/train.tsv" --model nope 2>"$work/model.log" || fail "--model nope"
grep -q "unknown model 'nope' (available: vae, fastvae, popularity, linear, ials, ease, ganmf, sinkhorn)" "$work/model.log" ||
    fail "unknown model message: $(cat "$work/model.log")"
echo "ok"
