/* midx_sample.h - exploration: n distinct items drawn from the softmax of a
 * user's scores, softmax(u . q_i / T), through the inverted multi-index
 * (the serving index of midx.h), and the brute-force Gumbel reference.
 *
 * Draws are sequential without replacement: each one comes from the softmax
 * over the items not drawn yet (and allowed by the exclusions), so the
 * first draw is softmax-distributed and the list is a Plackett-Luce sample.
 *
 * MIDX: as the trainer's sampler (sampler.h), a cell (k1, k2) is chosen from
 * the codebook scores, then an item of the cell uniformly; rejection makes
 * the draws exact. The proposal has two parts. The head is the exact top-M
 * of the allowed items (rs_midx_search; M = max(64, 4 n)), each proposed
 * with its own weight exp(score / T) and always accepted. The tail (every
 * other item) is proposed by cell: item p of cell c with weight
 * exp(b_c / T), b_c = min(s1[k1] + s2[k2] + ||u1|| r1(c) + ||u2|| r2(c),
 * the head's last score) (+ a rounding margin): an upper bound of every
 * tail item's score, because the residual bounds hold (midx.h) and no tail
 * item outscores the head. A tail proposal is accepted with probability
 * exp((score - b_c) / T) (rejected when it is a head, drawn, excluded or
 * filtered item), so accepted draws are exactly softmax distributed. The
 * head makes peaked softmaxes (low T) cheap: most mass is in the head; the
 * cap makes the tail's bound tight where Cauchy-Schwarz alone is loose.
 * Cost: one exact top-M search, O(K d + cells) for the tail weights, then
 * O(log K + K / row) per proposal plus one inner product. After
 * max_proposals the remaining draws come from the exact Gumbel-top-k over
 * every item (stats.fallback), so the answer stays exact and its cost
 * stays within a brute-force pass.
 */
#ifndef RS_MIDX_SAMPLE_H
#define RS_MIDX_SAMPLE_H

#include <stdint.h>

#include "common.h"
#include "midx.h"
#include "rng.h"
#include "topk.h"

typedef struct rs_midx_sampler rs_midx_sampler;

/* Per-thread working memory for idx (or any index of the same shape). */
int rs_midx_sampler_new(const rs_midx *idx, rs_midx_sampler **out, rs_error *err);
void rs_midx_sampler_free(rs_midx_sampler *s);

typedef struct rs_sample_stats {
    uint64_t proposals; /* MIDX proposals (each one inner product) */
    uint64_t accepted;
    int fallback; /* the Gumbel pass drew the rest */
} rs_sample_stats;

/* Up to n distinct items (fewer when fewer are allowed), in draw order,
 * each with its score u . q_i (rs_midx_dot). temperature > 0. */
/* head: the head's size M, 0 for the default max(RS_SAMPLE_HEAD, 4 n), at
 * most RS_SAMPLE_HEAD_MAX. */
#define RS_SAMPLE_HEAD     64
#define RS_SAMPLE_HEAD_MAX 4096
int rs_midx_sample(const rs_midx *idx, rs_midx_sampler *s, const float *u, float temperature,
                   const rs_exclude *ex, uint32_t n, uint32_t head, uint64_t max_proposals,
                   rs_rng *rng, rs_scored *out, uint32_t *n_out, rs_sample_stats *stats,
                   rs_error *err);

/* Gumbel-top-k: the k items of largest scores[j] / T + G_j (G standard
 * Gumbel), among j < n whose id (ids ? ids[j] : j) ex allows and skip (a
 * bitmap by id, may be NULL) does not mark: a sample of k distinct items
 * from softmax(scores / T) without replacement, in draw order. out[].score
 * is scores[j], out[].id the id. Returns how many. */
uint32_t rs_sample_gumbel(const float *scores, const uint32_t *ids, uint32_t n, float temperature,
                          const rs_exclude *ex, const uint64_t *skip, uint32_t k, rs_rng *rng,
                          rs_scored *out);

#endif
