/* compact.h - item vectors kept also as int8 codes, and the error bounds that
 * let an exact top-N scan read a quarter of the bytes.
 *
 * Item i is stored as codes c_i in [-127, 127]^d with a scale s_i
 * (s_i = max_j |v_ij| / 127) and an upper bound E_i >= ||v_i - s_i c_i||.
 * A query u is rounded to int16: u = t p + f, t = max_j |u_j| / P, so
 *
 *   u . v_i = s_i t (p . c_i) + s_i (f . c_i) + u . (v_i - s_i c_i)
 *
 * and with the exact integer p . c_i the estimate a_i = s_i t (p . c_i) is
 * off by at most ||f|| max_i ||s_i c_i|| + ||u|| E_i. Adding the caller's
 * rounding margin (which covers the float evaluation of a_i and the
 * difference between any float evaluation of u . v_i and the real value)
 * gives a slack r_i with |score_i - a_i| <= r_i for the score the caller's
 * kernel computes (rs_midx_dot). A scan keeps the N best lower bounds
 * a_i - r_i and rescores in float32 only the items whose upper bound
 * a_i + r_i reaches the N-th of them: the answer is exactly the float32
 * top-N, with its scores, and on trained embeddings a few dozen items per
 * query are rescored.
 *
 * Head stage (built on request, for full scans: rs_compact_topn). From
 * RS_COMPACT_HEAD_MIN_DIM dimensions on, items are also projected on the RS_COMPACT_HEAD_DIM
 * leading eigenvectors B of their second-moment matrix: a_i = B v_i, coded the same way, with the
 * projection's residual folded into the bound:
 *
 *   u . v_i = (B u) . a_i + u . (v_i - B^T a_i),
 *
 * so |u . v_i - (estimate of b . a_i)| <= the code slack of a_i for b = B u
 * + ||u|| ||v_i - B^T a_i|| + ||b - fl(B u)|| max ||a_i||. Trained
 * embeddings and the user vectors scored against them put most of their
 * weight on the leading directions, so this bound, read from 32 bytes per
 * item, already rules out most items (8,530 x 200 MovieLens FastVAE items:
 * about 85 of 8,530 pass it against the final threshold, an offline check);
 * the items that pass are checked on the full
 * codes, then scored in float32. Any basis keeps the answer exact; a good
 * one only makes the stage prune more.
 *
 * Memory: `stride` bytes of codes (d rounded up to 32) and 8 bytes of bounds
 * per item, against 4 d bytes of float32: 72 bytes for d = 64 (256); with
 * the head stage 40 more (d = 200: 272 against 800), plus the basis.
 *
 * Ownership: an rs_compact owns its arrays (rs_compact_free). It is
 * read-only after rs_compact_build; queries keep their state in an
 * rs_compact_query and caller-provided arrays, so any number of threads may
 * use one rs_compact at once.
 */
#ifndef RS_COMPACT_H
#define RS_COMPACT_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "exclude.h"
#include "topk.h"

#define RS_COMPACT_LEVELS       127 /* codes lie in [-127, 127] */
#define RS_COMPACT_ALIGN        32  /* code rows are padded to a multiple of this */
#define RS_COMPACT_HEAD_DIM     32  /* projected dimensions of the head stage */
#define RS_COMPACT_HEAD_MIN_DIM 128 /* with_head builds one from this dimension on */

typedef struct rs_compact rs_compact;
typedef struct rs_compact_query rs_compact_query;
typedef int32_t rs_compact_idot_fn(const int16_t *p, const int8_t *code, uint32_t stride);
/* Estimates a_i and upper bounds a_i + r_i of rows [i0, i0 + count). */
typedef void rs_compact_rows_fn(const rs_compact *c, const rs_compact_query *q, uint32_t i0,
                                uint32_t count, float *est, float *ub);

struct rs_compact {
    uint32_t n, d, stride;    /* stride: d rounded up to RS_COMPACT_ALIGN */
    int8_t *codes;            /* n x stride, zero-padded */
    float *scale;             /* n: s_i */
    float *err;               /* n: >= ||v_i - s_i c_i||; +inf when v_i is not finite */
    float code_norm_max;      /* >= every ||s_i c_i|| */
    float norm_max;           /* >= every finite row's ||v_i|| */
    int16_t query_levels;     /* largest |p_j|: keeps every p . c_i inside int32 */
    rs_compact_idot_fn *idot; /* p . c_i, the fastest exact kernel for this CPU */
    rs_compact_rows_fn *rows; /* the same for a block of rows */
    struct rs_compact_head {
        float *basis;       /* RS_COMPACT_HEAD_DIM x d, rows near orthonormal */
        rs_compact *codes;  /* codes of a_i = basis v_i; err[i] also holds ||v_i - basis^T a_i|| */
        float a_norm_max;   /* >= every ||a_i|| */
        float row_norm_max; /* >= every basis row's norm */
    } head;                 /* head.codes NULL: no head stage */
};

/* Codes of the n x d row-major float matrix v (row i = item i, or position
 * i of an index). Non-finite rows are kept with err = +inf, so a scan always
 * rescores them. with_head also builds the head stage when d is at least
 * RS_COMPACT_HEAD_MIN_DIM (only rs_compact_topn reads it; it costs a d x d
 * eigen decomposition and 40 bytes per item). Returns 0, or -1 with err set
 * (memory, or d too large). */
int rs_compact_build(const float *v, uint32_t n, uint32_t d, int with_head, rs_compact *c,
                     rs_error *err);
void rs_compact_free(rs_compact *c);
/* Bytes the arrays hold. */
size_t rs_compact_bytes(const rs_compact *c);

/* A query rounded for c; its arrays live in caller-provided scratch. */
struct rs_compact_query {
    const int16_t *p;
    float step;                    /* t */
    float u_norm;                  /* >= ||u|| */
    float fixed;                   /* >= ||f|| code_norm_max + margin */
    struct rs_compact_query *head; /* the head stage's query (B u rounded), or NULL */
};

/* Bytes of scratch a query on c needs (rs_compact_query_init). */
size_t rs_compact_scratch_bytes(const rs_compact *c);

/* Rounds u (c->d floats) into scratch (rs_compact_scratch_bytes(c) bytes,
 * which must outlive q); margin is the caller's rounding margin (see the
 * file comment). Returns -1 with err set when u is not finite or so large
 * that a float32 score could overflow (callers then score in float). */
int rs_compact_query_init(const rs_compact *c, const float *u, float margin, void *scratch,
                          rs_compact_query *q, rs_error *err);

/* p . c over stride entries in plain C (exact integer arithmetic: c->idot
 * returns the same, faster). For tests. */
int32_t rs_compact_idot(const int16_t *p, const int8_t *code, uint32_t stride);

/* The estimate a_i and the slack r_i of row i. */
static inline float rs_compact_estimate(const rs_compact *c, const rs_compact_query *q, uint32_t i)
{
    int32_t dot = c->idot(q->p, c->codes + (size_t)i * c->stride, c->stride);
    return c->scale[i] * q->step * (float)dot;
}

static inline float rs_compact_slack(const rs_compact *c, const rs_compact_query *q, uint32_t i)
{
    return q->u_norm * c->err[i] + q->fixed;
}

typedef struct rs_compact_stats {
    uint32_t rescored; /* items scored in float32 after the code scan */
} rs_compact_stats;

/* Exact top-N of rs_midx_dot(u, vectors + i d) over the items ex lets
 * through and whose score is finite, best first, ties to the smaller id
 * (topk.h): the same ids and score bits as scoring every item with
 * rs_midx_dot. vectors is the n x d matrix c was built from; cand must hold
 * c->n uint32 and scratch rs_compact_scratch_bytes(c) bytes. stats may be NULL. Fails
 * like rs_compact_query_init on a query it cannot bound. */
int rs_compact_topn(const rs_compact *c, const float *vectors, const float *u, float margin,
                    uint32_t top_n, const rs_exclude *ex, uint32_t *cand, void *scratch,
                    rs_scored *out, uint32_t *n_out, rs_compact_stats *stats, rs_error *err);

#endif
