/* topk.h - bounded top-K selection over (score, id) pairs.
 *
 * A min-heap of capacity K keeps the K largest scores seen; the root is the
 * K-th best, so rejecting a candidate costs one comparison. Ties are broken
 * by the smaller id, so results are deterministic. Used by evaluation
 * metrics, brute-force ranking and MIDX retrieval.
 */
#ifndef RS_TOPK_H
#define RS_TOPK_H

#include <stdint.h>

typedef struct rs_scored {
    float score;
    uint32_t id;
} rs_scored;

typedef struct rs_topk {
    rs_scored *heap; /* caller-provided storage of capacity k */
    uint32_t k;
    uint32_t size;
} rs_topk;

/* storage must hold k entries and outlive the heap. */
void rs_topk_init(rs_topk *topk, rs_scored *storage, uint32_t k);

/* True when (score, id) would enter the heap. */
static inline int rs_topk_would_enter(const rs_topk *topk, float score, uint32_t id)
{
    if (topk->size < topk->k) return 1;
    const rs_scored *root = &topk->heap[0];
    return score > root->score || (score == root->score && id < root->id);
}

/* The K-th best score so far, or -INFINITY while fewer than K are held. */
float rs_topk_threshold(const rs_topk *topk);

void rs_topk_push(rs_topk *topk, float score, uint32_t id);

/* Sorts the held entries best first (in place) and returns their count.
 * The heap is no longer a heap afterwards; re-init before reuse. */
uint32_t rs_topk_sorted(rs_topk *topk);

/* Top-k of a dense score vector, skipping ids for which skip[id] != 0
 * (skip may be NULL). Writes up to k entries best first to out and returns
 * their count. */
uint32_t rs_topk_dense(const float *scores, uint32_t n, const uint8_t *skip, uint32_t k,
                       rs_scored *out);

#endif
