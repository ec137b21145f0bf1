/* retrieve.h - top-N maximum-inner-product retrieval over a model's item
 * vectors: the one function through which the server ranks items.
 *
 * Contract: the n items with the largest <u, q_i> among those not skipped
 * and whose score is finite, best first, ties to the smaller item index
 * (core/topk.h order); a query vector that is not finite ranks nothing. Two
 * methods stand behind it:
 *   bruteforce  one sgemv over all items, then a bounded heap;
 *   midx        the inverted multi-index of core/midx.h, mapped from the
 *               snapshot when the trainer published one, else built at load
 *               time (two K-means codebooks over the item vectors): exact by
 *               default (cells are visited by descending score bound until
 *               none can beat the N-th best), approximate with a budget.
 *
 * Ownership: a retriever borrows the item matrix (a view into a snapshot's
 * memory map), which must outlive it; a built MIDX copy of the vectors in
 * cell order is its own, a published one is another view into the map. After creation it is
 * read-only: any number of threads may query it at once, each with its own rs_retrieve_scratch
 * (which adapts to whichever retriever it is used with).
 */
#ifndef RS_RETRIEVE_H
#define RS_RETRIEVE_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "store.h"
#include "topk.h"

typedef enum rs_retrieval {
    RS_RETRIEVAL_AUTO = 0, /* midx from RS_RETRIEVAL_AUTO_MIN_ITEMS items on, else bruteforce */
    RS_RETRIEVAL_BRUTE,
    RS_RETRIEVAL_MIDX,
} rs_retrieval;

/* Auto picks MIDX from RS_RETRIEVAL_AUTO_MIN_ITEMS items on. Brute force
 * scans int8 codes first (core/compact.h; with the head stage from 128
 * dimensions on) from RS_RETRIEVAL_CODES_MIN_FLOATS on; below that the
 * float32 matrix stays in cache and one sgemv is faster. Measured one
 * thread, top-20: MovieLens 10M FastVAE items (8,530 x 200, user vectors
 * from 20-item histories, bench/export_vectors) sgemv 4,004 q/s, codes
 * 17,355, MIDX exact 14,296; gen_vectors.py 8,530 x 200: 3,813, 10,809,
 * 16,920; 4,096 x 64: 47,017 sgemv against 40,449 codes. Auto follows the
 * trained embeddings. */
#define RS_RETRIEVAL_AUTO_MIN_ITEMS   20000
#define RS_RETRIEVAL_CODES_MIN_FLOATS (1u << 19)

typedef struct rs_retriever_options {
    rs_retrieval method;
    uint32_t midx_k;      /* codewords per codebook; 0 = about sqrt(n_items / 4) */
    uint64_t midx_budget; /* 0 = exact; else examine about this many items */
} rs_retriever_options;

typedef struct rs_retriever rs_retriever;
typedef struct rs_retrieve_scratch rs_retrieve_scratch;

/* items: n_items x dim, row-major. o NULL means defaults (auto, exact). */
int rs_retriever_create(const float *items, uint32_t n_items, uint32_t dim,
                        const rs_retriever_options *o, rs_retriever **out, rs_error *err);
/* With the MIDX index the trainer published in snap under prefix (see
 * proto/model.md, "retrieval"), when the options choose MIDX and leave the
 * codeword count open or name the published one: the index is mapped
 * zero-copy (verify: also check every residual bound, O(n d)) after checking
 * it ranks exactly these items. Returns 0 with *out set, or -1 with err set:
 * kind RS_ERR_NOT_FOUND when there is no published index the options call
 * for (the caller uses rs_retriever_create), RS_ERR_CORRUPT when it does not
 * match the items, another kind when it does not load. */
int rs_retriever_load(const float *items, uint32_t n_items, uint32_t dim,
                      const rs_retriever_options *o, const rs_snapshot *snap, const char *prefix,
                      int verify, rs_retriever **out, rs_error *err);
void rs_retriever_free(rs_retriever *r);

/* "bruteforce" or "midx": reported by /v1/models. */
const char *rs_retriever_method(const rs_retriever *r);
/* Codewords per codebook (0 for brute force), and bytes the retriever
 * allocated (a built index, the search view's codes and tables, brute
 * force's codes). */
uint32_t rs_retriever_midx_k(const rs_retriever *r);
/* Where the MIDX index came from: "built" at load, "published" by the
 * trainer, or NULL for brute force. */
const char *rs_retriever_midx_source(const rs_retriever *r);
size_t rs_retriever_bytes(const rs_retriever *r);

/* Items to leave out: mask[i] != 0 exactly for the ids listed in ids,
 * which are sorted ascending and distinct. All may be NULL / 0. allow, when
 * not NULL, is a filter (core/catalog.h): a bitmap of n_items bits of the
 * items that may be returned, n_allowed of them set. */
typedef struct rs_skip {
    const uint8_t *mask;
    const uint32_t *ids;
    uint32_t n_ids;
    const uint64_t *allow;
    uint32_t n_allowed;
} rs_skip;

/* A filter that passes at most RS_DIRECT_MAX_ITEMS items, and at most half
 * the catalogue, is ranked by scoring its items directly (exact; in both
 * methods): the cost of a direct pass grows with the items passed, that of
 * a MIDX walk with the cells it must visit to find n of them, which grows
 * as the filter narrows. bench/bench_filter.c on 1,000,000 x 64 (one
 * thread): a filter keeping 1% (10,000 items) 2,234 q/s direct against 164
 * walking; keeping 10% (100,000) 45 direct against 194 walking. */
#define RS_DIRECT_MAX_ITEMS 16384

static inline int rs_retrieve_direct(uint32_t n_allowed, uint32_t n_items)
{
    return n_allowed <= RS_DIRECT_MAX_ITEMS && (uint64_t)n_allowed * 2 <= n_items;
}

typedef struct rs_retrieve_stats {
    uint64_t scored; /* items whose score was computed */
    int exact;       /* the result is the exact top-N */
    int direct;      /* a filter's allowed items were scored directly */
} rs_retrieve_stats;

rs_retrieve_scratch *rs_retrieve_scratch_new(void);
void rs_retrieve_scratch_free(rs_retrieve_scratch *s);

/* Top n of u (dim floats) over the items not skipped, best first, into out
 * (room for n); *n_out = min(n, items left with a finite score). Scores are
 * rs_midx_dot's (core/midx.h) in every method, so brute force, MIDX and a
 * batch (below) return the same bits: brute force ranks by one sgemv, then
 * rescores the candidates within its rounding margin of the n-th best. */
int rs_retrieve_topn(const rs_retriever *r, const float *u, const rs_skip *skip, uint32_t n,
                     rs_scored *out, uint32_t *n_out, rs_retrieve_scratch *s,
                     rs_retrieve_stats *stats, rs_error *err);

/* One query of a batch: its vector, skip (mask may be NULL: ids suffice),
 * how many items, where to put them (room for n); the call fills n_out and
 * stats. */
typedef struct rs_batch_query {
    const float *u;
    rs_skip skip;
    uint32_t n;
    rs_scored *out;
    uint32_t n_out;
    rs_retrieve_stats stats;
} rs_batch_query;

/* Each query's rs_retrieve_topn answer, bit for bit. Brute force scores all
 * the batch's vectors against blocks of items with one sgemm per block (the
 * item matrix is read once for the batch, not once per query), keeps per
 * query the candidates within the rounding margin of its running n-th best
 * and rescores them with the search kernel; MIDX and small filters answer
 * query by query. */
int rs_retrieve_batch(const rs_retriever *r, rs_batch_query *qs, uint32_t nq,
                      rs_retrieve_scratch *s, rs_error *err);

/* How a sample was drawn. */
typedef struct rs_sample_info {
    const char *method; /* "midx" (rejection through the index) or "gumbel" (every item) */
    uint64_t proposals; /* MIDX proposals made */
    int fallback;       /* MIDX gave up and the Gumbel pass drew the rest */
} rs_sample_info;

/* n distinct items drawn from softmax(u . q_i / temperature) over the items
 * not skipped (core/midx_sample.h), in draw order, each with its score:
 * through MIDX when the retriever has it (with at most n_items / 2 + 64 n
 * proposals before the exact pass takes over, so a draw never costs much
 * more than scoring every item), else, and for a filter keeping at most
 * rs_retrieve_direct, by Gumbel-top-k over the items' scores.
 * The same seed, query and version give the same draw. */
int rs_retrieve_sample(const rs_retriever *r, const float *u, const rs_skip *skip, uint32_t n,
                       float temperature, uint64_t seed, rs_scored *out, uint32_t *n_out,
                       rs_retrieve_scratch *s, rs_sample_info *info, rs_error *err);

/* rs_topk_dense over the items whose score is finite: the others are never
 * returned. When one would have been, scores[] is rewritten (non-finite
 * entries become -INFINITY) and ranked again. */
uint32_t rs_topk_finite(float *scores, uint32_t n, const uint8_t *skip, uint32_t k, rs_scored *out);

#endif
