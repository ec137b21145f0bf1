#!/usr/bin/env bash
# bench/families.sh - every trainable family on one train/test split, each
# with its hyperparameters chosen on validation, in one table.
#
#   bench/families.sh DATA_DIR [OUT_DIR] [FAMILY ...]
#
# DATA_DIR holds train.tsv and test.tsv (../shared/data/ml100k, ml10m).
# For each family and each point of its grid, rectrain trains on the
# training rows with the default validation carve-out (min(5000, 10%) of
# the users, 20% of their items) and evaluates every few epochs; a point's
# score is its best validation NDCG@50. The winning point is then trained
# again with --refit (the chosen epoch count, on all training rows) and
# measured once on test.tsv. The table gives that run's test figures, its
# training seconds (rectrain's "s in all", evaluation excluded) and the
# chosen options; OUT_DIR keeps every run's log and metrics CSV.
#
# Grids: GRID_<family> overrides a family's grid, points separated by '|',
# e.g. GRID_ials='--factors 64 --reg 0.01|--factors 128 --reg 0.01'.
# The defaults below are small on purpose for ml10m-sized data (tens of
# minutes per VAE run on 2 cores); without FAMILY arguments every family
# in the list below runs.
# THREADS=N passes --threads N to every run (small data sets train faster on
# one thread when the machine is busy). PUBLISH=DIR publishes each family's
# final model to the store DIR/FAMILY (variant FAMILY), e.g. for
# bench/e2e.sh.
set -euo pipefail
data=${1:?usage: bench/families.sh DATA_DIR [OUT_DIR] [FAMILY ...]}
out=${2:-$(mktemp -d)}
shift $(($# >= 2 ? 2 : $#))
BIN=${BIN:-bin}
mkdir -p "$out"
[ -f "$data/train.tsv" ] && [ -f "$data/test.tsv" ] || { echo "no train.tsv/test.tsv in $data" >&2; exit 2; }

families=("$@")
[ ${#families[@]} -gt 0 ] || families=(popularity ease ials ganmf vae fastvae)

# Epoch counts and evaluation spacing per family (closed-form or cheap
# families evaluate every epoch).
epochs_popularity="--epochs 1 --eval-every 1"
epochs_ease="--epochs 1 --eval-every 1"
epochs_ials="--epochs 10 --eval-every 1"
epochs_ganmf="--epochs 40 --eval-every 2"
epochs_vae="--epochs ${VAE_EPOCHS:-30} --eval-every 2"
epochs_fastvae="--epochs ${FASTVAE_EPOCHS:-60} --eval-every 5"

: "${GRID_popularity:=}"
: "${GRID_ease:=--reg 200|--reg 500|--reg 1000}"
: "${GRID_ials:=--factors 64 --reg 0.003|--factors 128 --reg 0.003|--factors 128 --reg 0.01}"
: "${GRID_ganmf:=--hidden 50 --lr-d 1e-3 --lr-g 1.65e-3 --lazy-users|--hidden 250 --lr-d 1e-3 --lr-g 1.65e-3 --lazy-users}"
: "${GRID_vae:=}"
: "${GRID_fastvae:=--sampler midx-pop --samples 200 --codewords 16}"

# best validation NDCG@50 of a metrics CSV (column valid_ndcg@50)
best_valid() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "valid_ndcg@50") c = i; next }
             $c != "" && $c + 0 > best { best = $c + 0 } END { printf "%.4f\n", best }' "$1"
}

help=$("$BIN/rectrain" --help 2>&1 || true)
threads=()
[ -z "${THREADS:-}" ] || threads=(--threads "$THREADS")
rows=()
for family in "${families[@]}"; do
    if ! grep -q "$family (" <<<"$help"; then
        echo "# $family: not a family of this rectrain, skipped" >&2
        continue
    fi
    epochs_var="epochs_$family"; grid_var="GRID_$family"
    IFS='|' read -r -a grid <<<"${!grid_var}"
    [ ${#grid[@]} -gt 0 ] || grid=("")
    best_score=-1; best_point=""
    for i in "${!grid[@]}"; do
        point=${grid[$i]}
        name="$family.grid$i"
        # shellcheck disable=SC2086
        "$BIN/rectrain" --data "$data/train.tsv" --model "$family" ${!epochs_var} $point \
            --seed 1 --progress off "${threads[@]}" --metrics-out "$out/$name.csv" \
            >"$out/$name.log" 2>&1 || { echo "# $family [$point] failed, see $out/$name.log" >&2; continue; }
        score=$(best_valid "$out/$name.csv")
        echo "# $family [$point]: best validation ndcg@50 $score" >&2
        if awk -v a="$score" -v b="$best_score" 'BEGIN { exit !(a > b) }'; then
            best_score=$score; best_point=$point
        fi
    done
    [ "$best_score" != -1 ] || continue
    name="$family.final"
    publish=()
    [ -z "${PUBLISH:-}" ] || [ "$family" = popularity ] ||
        publish=(--store "$PUBLISH/$family" --variant "$family")
    # shellcheck disable=SC2086
    "$BIN/rectrain" --data "$data/train.tsv" --test "$data/test.tsv" --model "$family" \
        ${!epochs_var} $best_point --refit --seed 1 --progress off "${threads[@]}" "${publish[@]}" \
        --metrics-out "$out/$name.csv" >"$out/$name.log" 2>&1 ||
        { echo "# $family final run failed, see $out/$name.log" >&2; continue; }
    test_line=$(grep '^test (' "$out/$name.log" | tail -1)
    seconds=$(grep -o '[0-9.]* s in all' "$out/$name.log" | tail -1 | cut -d' ' -f1)
    chosen=$(grep -o 'best epoch [0-9]* of [0-9]*' "$out/$name.log" | tail -1 | awk '{print $3}')
    read -r r20 r50 n50 n100 < <(echo "$test_line" |
        awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^(recall|ndcg)@/) printf "%s ", $(i + 1); print "" }')
    rows+=("| $family | $r20 | $r50 | $n50 | $n100 | $seconds | ${best_point:-defaults}, ${chosen} epochs | $best_score |")
done

echo
echo "| family | Recall@20 | Recall@50 | NDCG@50 | NDCG@100 | train s | options (chosen on validation) | valid NDCG@50 |"
echo "|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
