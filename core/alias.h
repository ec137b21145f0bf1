/* alias.h - Walker/Vose alias tables: draw index j with probability
 * w[j] / sum(w) in O(1) after an O(n) build.
 *
 * Representation: slot j of n holds a 32-bit acceptance threshold thresh[j]
 * and an alternative alias[j]. A draw picks a slot uniformly, then keeps it
 * when 32 fresh random bits fall below thresh[j] and takes alias[j]
 * otherwise. Thresholds are fixed point (probability * 2^32), so each slot's
 * split is exact to 2^-32; a slot that is never rejected has
 * thresh = UINT32_MAX and alias[j] = j.
 *
 * Two ways to own the arrays:
 *  - rs_alias: a table that owns its arrays (rs_alias_init*, rs_alias_free);
 *  - rs_alias_fill: the caller provides thresh/alias (e.g. many small tables
 *    packed back to back in one array, one per MIDX cell) and a work buffer
 *    of rs_alias_work_bytes(n) bytes.
 * A built table is read-only: any number of threads may draw from it at
 * once, each with its own rs_rng.
 *
 * Weights must be finite and >= 0 with a positive, finite sum; anything else
 * is rejected with a message naming the offending index. Zero weights are
 * allowed and are never drawn.
 */
#ifndef RS_ALIAS_H
#define RS_ALIAS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "rng.h"

typedef struct rs_alias {
    uint32_t n;
    uint32_t *thresh; /* n acceptance thresholds (probability * 2^32) */
    uint32_t *alias;  /* n alternatives */
    double total;     /* sum of the weights the table was built from */
} rs_alias;

/* Bytes of work memory rs_alias_fill needs for n weights. */
size_t rs_alias_work_bytes(uint32_t n);

/* Builds a table over n >= 1 double weights into caller arrays of n entries.
 * work holds rs_alias_work_bytes(n) bytes, aligned for double (malloc'd
 * memory is). total (may be NULL) receives the sum of the weights. Returns 0,
 * or -1 with err filled and the arrays unspecified. */
int rs_alias_fill(const double *w, uint32_t n, uint32_t *thresh, uint32_t *alias, void *work,
                  double *total, rs_error *err);
/* The same over float weights (summed in double). */
int rs_alias_fill_f(const float *w, uint32_t n, uint32_t *thresh, uint32_t *alias, void *work,
                    double *total, rs_error *err);

/* Owning tables. On failure *a is left empty (safe to rs_alias_free). */
int rs_alias_init(rs_alias *a, const double *w, uint32_t n, rs_error *err);
int rs_alias_init_f(rs_alias *a, const float *w, uint32_t n, rs_error *err);
void rs_alias_free(rs_alias *a);

/* One draw from a table given by its arrays (n >= 1). Consumes two rng
 * outputs (slot, then acceptance). */
static inline uint32_t rs_alias_pick(const uint32_t *thresh, const uint32_t *alias, uint32_t n,
                                     rs_rng *rng)
{
    uint32_t j = (uint32_t)rs_rng_below(rng, n);
    uint32_t r = (uint32_t)(rs_rng_u64(rng) >> 32);
    return r < thresh[j] ? j : alias[j];
}

static inline uint32_t rs_alias_draw(const rs_alias *a, rs_rng *rng)
{
    return rs_alias_pick(a->thresh, a->alias, a->n, rng);
}

/* The probability the table actually assigns to index j (accounting for the
 * 2^-32 quantisation of thresholds); O(n). For tests and diagnostics. */
double rs_alias_prob(const uint32_t *thresh, const uint32_t *alias, uint32_t n, uint32_t j);

#endif
