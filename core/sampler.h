/* sampler.h - negative samplers (proposal distributions Q) for FastVAE's
 * sampled softmax.
 *
 * For a user vector z (the decoder output, dimension D, the same as the item
 * vectors q_i) a sampler draws T items independently, with replacement, from
 * a proposal Q(.|z) and reports log Q of each drawn item. The sampled softmax
 * then uses logits o_j - log Q(j). Kinds (names as parsed by
 * rs_sampler_kind_parse):
 *
 *   uniform     Q(i) = 1 / M.
 *   pop         Q(i) = pop(i) / sum_j pop(j).
 *   midx-uni    Q(i) ∝ exp(z . (q_i - r_i)) = exp(z1 . c1[k1]) exp(z2 . c2[k2])
 *               (Eq. 4 of the FastVAE paper; r_i is item i's residual after
 *               two-codebook product quantisation, see pq.h).
 *   midx-pop    Q(i) ∝ exp(z . (q_i - r_i)) pop(i)  (Eq. 5).
 *   midx-exact  Q(i) = exp(z . q_i) / sum_j exp(z . q_j), the full softmax,
 *               drawn through the MIDX decomposition of Theorem 4.1. Costs
 *               O(M D) per user: for tests and diagnostics.
 *
 * pop(i) = t(max(count_i, count_floor)) with t = log1p (default, as in the
 * paper's experiments) or the identity. An item with pop(i) = 0 is never
 * drawn by pop / midx-pop and its log Q is -INFINITY.
 *
 * MIDX sampling (midx-uni, midx-pop, midx-exact): every item i lies in one
 * cell (k1, k2) with weight g_i = 1 (uni), pop(i) (pop) or exp(z . r_i)
 * (exact). With s1[k] = z1 . c1[k], s2[k] = z2 . c2[k] and
 * G(k1,k2) = sum of g_i over the cell,
 *     Q(i) = W(k1,k2) / Z * g_i / G(k1,k2),  W(k1,k2) = exp(s1[k1] + s2[k2]) G(k1,k2),
 * drawn in three steps: k1 from P1(k1) ∝ sum_k2 W(k1,k2), k2 from
 * P2(k2|k1) ∝ W(k1,k2), then an item of the cell ∝ g_i (uniformly; from the
 * cell's alias table built at rebuild; or by binary search over the cell's
 * per-user cumulative weights for exact). Preparation per user is
 * O(K D + K^2): the K^2 cell weights are computed in log space (shifted by
 * their maximum) and stored as row-wise cumulative sums; P1 and P2 are
 * drawn by binary search over K entries (O(log K) per draw, no per-user
 * alias tables: for K = 16 and T = 200 building them costs more than it
 * saves). For midx-exact G is sum_cell exp(z . r_i) and Q is exactly the
 * full softmax (Theorem 4.1).
 *
 * log Q: every kind returns the log of the NORMALISED probability with
 * which the item is drawn (not just up to a constant), in float, computed in
 * double. Its error is float rounding only.
 *
 * Ownership and threads:
 *  - rs_sampler owns its index (codebooks, cell lists, per-cell alias
 *    tables, popularity) and copies what it needs from the caller at
 *    rebuild; nothing points into caller memory afterwards. Between two
 *    rebuilds it is read-only: any number of threads may prepare and draw at
 *    once. rs_sampler_rebuild must not run concurrently with anything else
 *    on the same sampler. A failed rebuild leaves the previous index intact.
 *  - rs_sampler_user is one thread's per-user state (scores, cumulative
 *    tables): never shared between threads while in use. It grows as needed
 *    and may be reused for many users and across rebuilds; draws refuse a
 *    user state prepared before the last rebuild.
 *  - Randomness comes only from the rs_rng passed in. For reproducible
 *    parallel training derive one stream per user, e.g.
 *    rs_rng_split(&epoch_rng, user_id, &r): results then do not depend on
 *    which thread served the user.
 */
#ifndef RS_SAMPLER_H
#define RS_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "pq.h"
#include "rng.h"

typedef enum rs_sampler_kind {
    RS_SAMPLER_UNIFORM,
    RS_SAMPLER_POP,
    RS_SAMPLER_MIDX_UNI,
    RS_SAMPLER_MIDX_POP,
    RS_SAMPLER_MIDX_EXACT,
} rs_sampler_kind;

typedef enum rs_pop_transform {
    RS_POP_LOG1P, /* pop = log(1 + count) */
    RS_POP_COUNT, /* pop = count */
} rs_pop_transform;

typedef struct rs_sampler_options {
    uint32_t k;                 /* codewords per codebook (default 16; clamped to M) */
    uint32_t kmeans_iters;      /* Lloyd iterations at most (default 10) */
    uint32_t kmeans_train;      /* fit k-means on at most this many random items, then
                                   assign all (default 65536; 0 = all items) */
    rs_pop_transform transform; /* default RS_POP_LOG1P */
    double count_floor;         /* counts below are raised to it (default 0) */
} rs_sampler_options;

typedef struct rs_sampler rs_sampler;
typedef struct rs_sampler_user rs_sampler_user;

rs_sampler_options rs_sampler_defaults(void);

/* "uniform" | "pop" | "midx-uni" | "midx-pop" | "midx-exact". */
int rs_sampler_kind_parse(const char *name, rs_sampler_kind *kind, rs_error *err);
const char *rs_sampler_kind_name(rs_sampler_kind kind);
/* Whether the kind needs item counts / item vectors at rebuild. */
int rs_sampler_kind_uses_pop(rs_sampler_kind kind);
int rs_sampler_kind_uses_vectors(rs_sampler_kind kind);

/* A sampler with no index yet (o NULL means defaults). Free with
 * rs_sampler_free. */
rs_sampler *rs_sampler_new(rs_sampler_kind kind, const rs_sampler_options *o, rs_error *err);
void rs_sampler_free(rs_sampler *s);

/* (Re)builds the index from the current item vectors (M x D row-major; may
 * be NULL for uniform and pop) and item counts (M raw interaction counts,
 * finite and >= 0; may be NULL unless the kind uses popularity). D >= 2 for
 * the midx kinds. K-means seeds and subsamples come from rng (one output).
 * Called at the start of every epoch. Returns 0, or -1 with err filled and
 * the previous index still in place. */
int rs_sampler_rebuild(rs_sampler *s, const float *item_vectors, uint32_t M, uint32_t D,
                       const float *counts, rs_rng *rng, rs_error *err);

rs_sampler_kind rs_sampler_get_kind(const rs_sampler *s);
uint32_t rs_sampler_n_items(const rs_sampler *s); /* 0 before the first rebuild */
uint32_t rs_sampler_dim(const rs_sampler *s);
/* pop(i) after transform and floor (pop kinds only, else NULL); M values. */
const double *rs_sampler_pop(const rs_sampler *s);
/* The MIDX decomposition (midx kinds after a rebuild, else NULL). */
const rs_pq *rs_sampler_index(const rs_sampler *s);
/* Bytes owned by the sampler's index. */
size_t rs_sampler_bytes(const rs_sampler *s);

rs_sampler_user *rs_sampler_user_new(rs_error *err);
void rs_sampler_user_free(rs_sampler_user *u);

/* Per-user preparation for user vector z (D floats): O(K D + K^2) for the
 * midx kinds (O(M D) for midx-exact), O(1) otherwise. Fails on a sampler
 * without index or a z that gives non-finite scores. */
int rs_sampler_prepare(const rs_sampler *s, const float *z, rs_sampler_user *u, rs_error *err);

/* Draws T items (independently, with replacement; positives are not
 * excluded) into items[T] and, when log_q is not NULL, their log Q into
 * log_q[T]. u must have been prepared with s since its last rebuild. */
int rs_sampler_draw(const rs_sampler *s, const rs_sampler_user *u, uint32_t T, rs_rng *rng,
                    uint32_t *items, float *log_q, rs_error *err);

/* log Q(item | z) for the prepared user, e.g. for the positives of the
 * sampled softmax; -INFINITY for an item that is never drawn, NAN for an
 * item id >= M or a user state not prepared for this index. */
float rs_sampler_log_q(const rs_sampler *s, const rs_sampler_user *u, uint32_t item);

/* Convenience: prepare, then draw (the one-call form for a single user). */
int rs_sampler_sample(const rs_sampler *s, const float *z, rs_sampler_user *u, uint32_t T,
                      rs_rng *rng, uint32_t *items, float *log_q, rs_error *err);

#endif
