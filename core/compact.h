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
 * Memory: `stride` bytes of codes (d rounded up to 32) and 8 bytes of bounds
 * per item, against 4 d bytes of float32: 72 bytes for d = 64 (256),
 * 232 for d = 200 (800).
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

#define RS_COMPACT_LEVELS 127 /* codes lie in [-127, 127] */
#define RS_COMPACT_ALIGN  32  /* code rows are padded to a multiple of this */

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
};

/* Codes of the n x d row-major float matrix v (row i = item i, or position
 * i of an index). Non-finite rows are kept with err = +inf, so a scan always
 * rescores them. Returns 0, or -1 with err set (memory, or d too large). */
int rs_compact_build(const float *v, uint32_t n, uint32_t d, rs_compact *c, rs_error *err);
void rs_compact_free(rs_compact *c);
/* Bytes the arrays hold. */
size_t rs_compact_bytes(const rs_compact *c);

/* A query rounded for c. p points to c->stride int16 owned by the caller. */
struct rs_compact_query {
    const int16_t *p;
    float step;   /* t */
    float u_norm; /* >= ||u|| */
    float fixed;  /* >= ||f|| code_norm_max + margin */
};

/* Rounds u (c->d floats) into p; margin is the caller's rounding margin
 * (see the file comment). Returns -1 with err set when u is not finite or so
 * large that a float32 score could overflow (callers then score in float). */
int rs_compact_query_init(const rs_compact *c, const float *u, float margin, int16_t *p,
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
 * c->n uint32 and p c->stride int16 (scratch). stats may be NULL. Fails
 * like rs_compact_query_init on a query it cannot bound. */
int rs_compact_topn(const rs_compact *c, const float *vectors, const float *u, float margin,
                    uint32_t top_n, const rs_exclude *ex, uint32_t *cand, int16_t *p,
                    rs_scored *out, uint32_t *n_out, rs_compact_stats *stats, rs_error *err);

#endif
