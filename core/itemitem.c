/* itemitem.c - the sparse item-item model kind (see itemitem.h). */
#include "itemitem.h"

#include <math.h>
#include <string.h>

#define TOUCHED 0x80

static int corrupt(rs_error *err, const char *what)
{
    return rs_fail_kind(err, RS_ERR_CORRUPT, "item-item model: %s", what);
}

int rs_itemitem_check(const rs_itemitem *ii, uint64_t n_entries, rs_error *err)
{
    const uint64_t *p = ii->offsets;
    if (p[0] != 0 || p[ii->n_items] != n_entries)
        return corrupt(err, "offsets do not span the columns");
    for (uint32_t i = 0; i < ii->n_items; i++) {
        if (p[i + 1] < p[i]) return corrupt(err, "offsets decrease");
        if (p[i + 1] - p[i] > ii->k) return corrupt(err, "a row is longer than k");
    }
    for (uint64_t e = 0; e < n_entries; e++) {
        if (ii->columns[e] >= ii->n_items) return corrupt(err, "a column is not an item");
        if (!isfinite(ii->weights[e])) return corrupt(err, "a weight is not finite");
    }
    return 0;
}

/* prefix + suffix's 1-d tensor of dtype; *count its length. */
static int vector(const rs_snapshot *snap, const char *prefix, const char *suffix, rs_dtype dtype,
                  const void **data, uint64_t *count, rs_error *err)
{
    char name[RS_NAME_MAX + 32];
    if (strlen(prefix) > RS_NAME_MAX) return corrupt(err, "tensor prefix too long");
    snprintf(name, sizeof(name), "%s%s", prefix, suffix);
    rs_tensor_view view;
    if (rs_snapshot_tensor(snap, name, dtype, &view, err) != 0) return -1;
    if (view.ndim != 1)
        return rs_fail_kind(err, RS_ERR_CORRUPT, "item-item model: %s is not a vector", name);
    *data = view.data;
    *count = view.count;
    return 0;
}

int rs_itemitem_load(rs_itemitem *ii, const rs_snapshot *snap, json_t *spec, uint32_t n_items,
                     rs_error *err)
{
    memset(ii, 0, sizeof(*ii));
    const char *prefix = NULL;
    json_int_t k = 0;
    json_error_t jerr;
    if (json_unpack_ex(spec, &jerr, 0, "{s:s, s:I}", "prefix", &prefix, "k", &k) != 0)
        return rs_fail_kind(err, RS_ERR_CORRUPT, "manifest item_item: %s", jerr.text);
    if (k < 1 || k >= (json_int_t)n_items + 1 || n_items == 0)
        return corrupt(err, "k must be in 1..n_items");
    const void *offsets, *columns, *weights;
    uint64_t n_offsets, n_columns, n_weights;
    if (vector(snap, prefix, ".offsets", RS_U64, &offsets, &n_offsets, err) != 0 ||
        vector(snap, prefix, ".columns", RS_U32, &columns, &n_columns, err) != 0 ||
        vector(snap, prefix, ".weights", RS_F32, &weights, &n_weights, err) != 0)
        return -1;
    if (n_offsets != (uint64_t)n_items + 1) return corrupt(err, "offsets are not n_items + 1");
    if (n_columns != n_weights) return corrupt(err, "columns and weights differ in length");
    rs_itemitem v = {n_items, (uint32_t)k, offsets, columns, weights};
    if (rs_itemitem_check(&v, n_columns, err) != 0) return -1;
    *ii = v;
    return 0;
}

void rs_itemitem_score(const rs_itemitem *ii, const uint32_t *history, uint32_t n, float *scores)
{
    memset(scores, 0, sizeof(float) * ii->n_items);
    for (uint32_t h = 0; h < n; h++)
        for (uint64_t p = ii->offsets[history[h]]; p < ii->offsets[history[h] + 1]; p++)
            scores[ii->columns[p]] += ii->weights[p];
}

uint32_t rs_itemitem_recommend(const rs_itemitem *ii, const uint32_t *history, uint32_t n,
                               const uint8_t *skip, uint32_t top_n, float *accumulator,
                               uint8_t *mark, uint32_t *touched, uint32_t *n_touched,
                               rs_scored *out)
{
    uint32_t count = 0;
    for (uint32_t h = 0; h < n; h++)
        for (uint64_t p = ii->offsets[history[h]]; p < ii->offsets[history[h] + 1]; p++) {
            uint32_t j = ii->columns[p];
            if (!(mark[j] & TOUCHED)) mark[j] |= TOUCHED, touched[count++] = j;
            accumulator[j] += ii->weights[p];
        }
    rs_topk top;
    rs_topk_init(&top, out, top_n);
    for (uint32_t t = 0; t < count; t++) {
        uint32_t j = touched[t];
        if (top_n && !(skip && (skip[j] & ~TOUCHED)) &&
            rs_topk_would_enter(&top, accumulator[j], j))
            rs_topk_push(&top, accumulator[j], j);
        accumulator[j] = 0.0f;
        mark[j] &= (uint8_t)~TOUCHED;
    }
    if (n_touched) *n_touched = count;
    return top_n ? rs_topk_sorted(&top) : 0;
}

uint32_t rs_itemitem_row(const rs_itemitem *ii, uint32_t item, uint32_t top_n, rs_scored *out)
{
    rs_topk top;
    rs_topk_init(&top, out, top_n);
    for (uint64_t p = ii->offsets[item]; top_n && p < ii->offsets[item + 1]; p++)
        if (rs_topk_would_enter(&top, ii->weights[p], ii->columns[p]))
            rs_topk_push(&top, ii->weights[p], ii->columns[p]);
    return top_n ? rs_topk_sorted(&top) : 0;
}
