/* topk.c - bounded min-heap top-K (see topk.h). */
#include "topk.h"

#include <math.h>
#include <stdlib.h>

/* a is "worse" than b: lower score, or equal score and larger id. */
static inline int worse(const rs_scored *a, const rs_scored *b)
{
    return a->score < b->score || (a->score == b->score && a->id > b->id);
}

void rs_topk_init(rs_topk *topk, rs_scored *storage, uint32_t k)
{
    topk->heap = storage;
    topk->k = k;
    topk->size = 0;
}

float rs_topk_threshold(const rs_topk *topk)
{
    if (topk->size < topk->k || topk->k == 0) return -INFINITY;
    return topk->heap[0].score;
}

static void sift_down(rs_scored *heap, uint32_t size, uint32_t i)
{
    rs_scored item = heap[i];
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= size) break;
        if (child + 1 < size && worse(&heap[child + 1], &heap[child])) child++;
        if (!worse(&heap[child], &item)) break;
        heap[i] = heap[child];
        i = child;
    }
    heap[i] = item;
}

void rs_topk_push(rs_topk *topk, float score, uint32_t id)
{
    if (topk->k == 0 || !rs_topk_would_enter(topk, score, id)) return;
    rs_scored item = {score, id};
    if (topk->size < topk->k) {
        uint32_t i = topk->size++;
        while (i > 0) {
            uint32_t parent = (i - 1) / 2;
            if (!worse(&item, &topk->heap[parent])) break;
            topk->heap[i] = topk->heap[parent];
            i = parent;
        }
        topk->heap[i] = item;
    } else {
        topk->heap[0] = item;
        sift_down(topk->heap, topk->size, 0);
    }
}

uint32_t rs_topk_sorted(rs_topk *topk)
{
    /* Heap sort: repeatedly move the worst (root) to the end. */
    uint32_t n = topk->size;
    for (uint32_t end = n; end > 1; end--) {
        rs_scored tmp = topk->heap[0];
        topk->heap[0] = topk->heap[end - 1];
        topk->heap[end - 1] = tmp;
        sift_down(topk->heap, end - 1, 0);
    }
    return n;
}

uint32_t rs_topk_dense(const float *scores, uint32_t n, const uint8_t *skip, uint32_t k,
                       rs_scored *out)
{
    rs_topk topk;
    rs_topk_init(&topk, out, k);
    for (uint32_t i = 0; i < n; i++) {
        if (skip && skip[i]) continue;
        if (topk.size == k && scores[i] < topk.heap[0].score) continue;
        rs_topk_push(&topk, scores[i], i);
    }
    return rs_topk_sorted(&topk);
}
