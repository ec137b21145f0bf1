/* itemitem.h - the sparse item-item model kind (proto/model.md, "Item-item
 * models"): each item i keeps a short row of (column, weight) pairs and a
 * history h scores item j as score_j = Σ_{i∈h} w_ij, the sum of the
 * history's rows (sparse EASE, trainer/ease_family.c). Loaded from a
 * snapshot as zero-copy views, ranked without touching the whole catalogue.
 *
 * Owns the loader's validation (offsets span the columns and never
 * decrease, every column is an item, no row is longer than the manifest's
 * k, every weight is finite: a snapshot that fails is RS_ERR_CORRUPT), the
 * dense and the serving scorers, and a kept row ranked for similar items.
 *
 * Memory: k × 8 bytes per item (a u32 column and an f32 weight per kept
 * entry) + 8 (its u64 offset), all in the snapshot's map; a request needs
 * n_items floats, n_items bytes and n_items u32 of per-thread scratch, and
 * costs O(|h| × k) plus a top-N over the touched items.
 *
 * Thread safety: read-only after load; the scratch is the caller's.
 */
#ifndef RS_ITEMITEM_H
#define RS_ITEMITEM_H

#include <jansson.h>
#include <stdint.h>

#include "common.h"
#include "store.h"
#include "topk.h"

typedef struct rs_itemitem {
    uint32_t n_items, k;     /* k: the longest row the manifest allows */
    const uint64_t *offsets; /* n_items + 1: row i is [offsets[i], offsets[i+1]) */
    const uint32_t *columns;
    const float *weights;
} rs_itemitem;

/* The manifest's "item_item" object (spec) names the tensors prefix
 * ".offsets", ".columns", ".weights" and k; maps and validates them. */
int rs_itemitem_load(rs_itemitem *ii, const rs_snapshot *snap, json_t *spec, uint32_t n_items,
                     rs_error *err);
/* Validates views (the loader's checks; for callers holding arrays). */
int rs_itemitem_check(const rs_itemitem *ii, uint64_t n_entries, rs_error *err);

/* scores (n_items) = Σ_{i∈history} row i, 0 where no row reaches. */
void rs_itemitem_score(const rs_itemitem *ii, const uint32_t *history, uint32_t n, float *scores);

/* The serving path: the best top_n items by score among those the
 * history's rows touch and skip (may be NULL) does not mark, best first,
 * ties to the smaller index; returns how many (fewer than top_n when fewer
 * are touched). accumulator (n_items floats, all 0) and mark (n_items
 * bytes, bit 0x80 clear) are left as found; skip may be mark itself (only
 * bit 0x80 is used). touched holds n_items ids; *n_touched (may be NULL)
 * receives how many items were touched. Scores are summed in history
 * order, as rs_itemitem_score does. */
uint32_t rs_itemitem_recommend(const rs_itemitem *ii, const uint32_t *history, uint32_t n,
                               const uint8_t *skip, uint32_t top_n, float *accumulator,
                               uint8_t *mark, uint32_t *touched, uint32_t *n_touched,
                               rs_scored *out);

/* Item `item`'s kept row, by descending weight (ties to the smaller index),
 * at most top_n entries into out; returns how many. */
uint32_t rs_itemitem_row(const rs_itemitem *ii, uint32_t item, uint32_t top_n, rs_scored *out);

#endif
