/* alias.c - Vose's alias method (see alias.h).
 *
 * Build: scale the weights to mean 1 (p[j] = w[j] * n / total). Slots with
 * p < 1 ("small") are topped up by one slot with p >= 1 ("large"), whose
 * excess shrinks by 1 - p[small]; repeat until one list is empty; whatever
 * remains is (up to rounding) exactly 1 and keeps its own slot. The update
 * p[l] = (p[l] + p[s]) - 1 is the numerically stable order Vose recommends.
 * Both work lists share one index array: small grows from the front, large
 * from the back, and together they never hold more than n indices.
 */
#include "alias.h"

#include <math.h>
#include <stdlib.h>

size_t rs_alias_work_bytes(uint32_t n)
{
    return (size_t)n * (sizeof(double) + sizeof(uint32_t));
}

/* Weight j as a double, whichever type the caller has. */
static inline double weight_at(const void *w, int is_float, uint32_t j)
{
    return is_float ? (double)((const float *)w)[j] : ((const double *)w)[j];
}

static int validate(const void *w, int is_float, uint32_t n, double *total, rs_error *err)
{
    if (n == 0) return rs_fail(err, "alias table: no weights (n = 0)");
    if (!w) return rs_fail(err, "alias table: weights are NULL");
    double sum = 0.0;
    for (uint32_t j = 0; j < n; j++) {
        double x = weight_at(w, is_float, j);
        if (isnan(x)) return rs_fail(err, "alias table: weight %u is NaN", j);
        if (isinf(x)) return rs_fail(err, "alias table: weight %u is infinite", j);
        if (x < 0.0) return rs_fail(err, "alias table: weight %u is negative (%g)", j, x);
        sum += x;
    }
    if (!isfinite(sum)) return rs_fail(err, "alias table: the sum of the %u weights overflows", n);
    if (!(sum > 0.0)) return rs_fail(err, "alias table: all %u weights are zero", n);
    *total = sum;
    return 0;
}

/* Fixed-point threshold for keeping a slot with probability p in [0, 1]. */
static inline uint32_t to_thresh(double p)
{
    if (!(p > 0.0)) return 0;
    if (p >= 1.0) return UINT32_MAX;
    double t = p * 4294967296.0;
    return t >= 4294967295.0 ? UINT32_MAX : (uint32_t)t;
}

static int fill(const void *w, int is_float, uint32_t n, uint32_t *thresh, uint32_t *alias,
                void *work, double *total_out, rs_error *err)
{
    double total = 0.0;
    if (validate(w, is_float, n, &total, err) != 0) return -1;
    if (!thresh || !alias || !work) return rs_fail(err, "alias table: output or work is NULL");

    double *p = work;
    uint32_t *list = (uint32_t *)(p + n);
    uint32_t n_small = 0, large_lo = n; /* small: list[0..n_small), large: list[large_lo..n) */
    double scale = (double)n / total;
    for (uint32_t j = 0; j < n; j++) {
        p[j] = weight_at(w, is_float, j) * scale;
        if (p[j] < 1.0)
            list[n_small++] = j;
        else
            list[--large_lo] = j;
    }
    while (n_small > 0 && large_lo < n) {
        uint32_t s = list[--n_small];
        uint32_t l = list[large_lo];
        thresh[s] = to_thresh(p[s]);
        alias[s] = l;
        p[l] = (p[l] + p[s]) - 1.0;
        if (p[l] < 1.0) {
            large_lo++;
            list[n_small++] = l;
        }
    }
    /* Leftovers are 1 up to rounding: they keep their own slot. A zero
     * weight can only be left over through gross rounding; it must still
     * never be drawn, so it hands its slot to a positive weight. */
    uint32_t positive = 0;
    while (weight_at(w, is_float, positive) == 0.0) positive++;
    while (n_small > 0) {
        uint32_t s = list[--n_small];
        int zero = weight_at(w, is_float, s) == 0.0;
        thresh[s] = zero ? 0 : UINT32_MAX;
        alias[s] = zero ? positive : s;
    }
    for (uint32_t i = large_lo; i < n; i++) {
        thresh[list[i]] = UINT32_MAX;
        alias[list[i]] = list[i];
    }
    if (total_out) *total_out = total;
    return 0;
}

int rs_alias_fill(const double *w, uint32_t n, uint32_t *thresh, uint32_t *alias, void *work,
                  double *total, rs_error *err)
{
    return fill(w, 0, n, thresh, alias, work, total, err);
}

int rs_alias_fill_f(const float *w, uint32_t n, uint32_t *thresh, uint32_t *alias, void *work,
                    double *total, rs_error *err)
{
    return fill(w, 1, n, thresh, alias, work, total, err);
}

static int init(rs_alias *a, const void *w, int is_float, uint32_t n, rs_error *err)
{
    *a = (rs_alias){0};
    if (n == 0) return rs_fail(err, "alias table: no weights (n = 0)");
    uint32_t *thresh = rs_malloc(n, sizeof(uint32_t), err);
    uint32_t *alias = rs_malloc(n, sizeof(uint32_t), err);
    void *work = rs_malloc(rs_alias_work_bytes(n), 1, err);
    double total = 0.0;
    if (!thresh || !alias || !work || fill(w, is_float, n, thresh, alias, work, &total, err)) {
        free(thresh);
        free(alias);
        free(work);
        return -1;
    }
    free(work);
    *a = (rs_alias){.n = n, .thresh = thresh, .alias = alias, .total = total};
    return 0;
}

int rs_alias_init(rs_alias *a, const double *w, uint32_t n, rs_error *err)
{
    return init(a, w, 0, n, err);
}

int rs_alias_init_f(rs_alias *a, const float *w, uint32_t n, rs_error *err)
{
    return init(a, w, 1, n, err);
}

void rs_alias_free(rs_alias *a)
{
    if (!a) return;
    free(a->thresh);
    free(a->alias);
    *a = (rs_alias){0};
}

double rs_alias_prob(const uint32_t *thresh, const uint32_t *alias, uint32_t n, uint32_t j)
{
    /* Slot s is chosen with probability 1/n, kept with thresh[s] / 2^32;
     * a slot whose alias is itself yields s either way. */
    double sum = 0.0;
    for (uint32_t s = 0; s < n; s++) {
        double keep = (double)thresh[s] / 4294967296.0;
        if (s == j)
            sum += alias[s] == s ? 1.0 : keep;
        else if (alias[s] == j)
            sum += 1.0 - keep;
    }
    return sum / (double)n;
}
