/* ials.c - implicit ALS with the Gramian trick (see ials.h). */
#include "ials.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "rng.h"
#include "transpose.h"

void rs_ials_options_default(rs_ials_options *o)
{
    o->factors = 64;
    o->reg = 0.003f;
    o->unobserved_weight = 0.1f;
    o->reg_exponent = 1.0f;
    o->init_stddev = 0.1f;
    o->epochs = 16;
    o->seed = 2026;
}

static void init_factors(float *f, uint32_t rows, uint32_t k, float stddev, const rs_rng *parent)
{
    float scale = stddev / sqrtf((float)k);
    for (uint32_t r = 0; r < rows; r++) {
        rs_rng rng;
        rs_rng_split(parent, r, &rng);
        for (uint32_t j = 0; j < k; j++) f[(size_t)r * k + j] = scale * (float)rs_rng_normal(&rng);
    }
}

int rs_ials_init(const rs_csr *train, const rs_ials_options *o, rs_ials *out, rs_error *err)
{
    memset(out, 0, sizeof(*out));
    if (o->factors == 0 || o->factors > RS_LINALG_MAX_K)
        return rs_fail(err, "iALS: factors must be in 1..%d, got %u", RS_LINALG_MAX_K, o->factors);
    if (!(o->reg > 0) || !(o->unobserved_weight > 0))
        return rs_fail(err, "iALS: the regularisation and the unobserved weight must be > 0");
    uint32_t k = o->factors;
    out->n_users = train->n_rows;
    out->n_items = train->n_cols;
    out->k = k;
    out->reg = o->reg;
    out->unobserved_weight = o->unobserved_weight;
    out->reg_exponent = o->reg_exponent;
    out->user_factors = rs_aligned_alloc((size_t)out->n_users * k + 1, sizeof(float), err);
    out->item_factors = rs_aligned_alloc((size_t)out->n_items * k + 1, sizeof(float), err);
    if (!out->user_factors || !out->item_factors) {
        rs_ials_free(out);
        return rs_error_prefix(err, "iALS factors");
    }
    rs_rng root, users, items;
    rs_rng_seed(&root, o->seed);
    rs_rng_split(&root, 1, &users);
    rs_rng_split(&root, 2, &items);
    init_factors(out->user_factors, out->n_users, k, o->init_stddev, &users);
    init_factors(out->item_factors, out->n_items, k, o->init_stddev, &items);
    return 0;
}

void rs_ials_free(rs_ials *m)
{
    free(m->user_factors);
    free(m->item_factors);
    memset(m, 0, sizeof(*m));
}

float rs_ials_row_reg(const rs_ials *m, uint32_t n, uint32_t n_other)
{
    return m->reg * powf((float)n + m->unobserved_weight * (float)n_other, m->reg_exponent);
}

/* Solves rows which[0..count) of `rows` (which NULL: rows 0..count; a
 * weighted matrix's values are the rows' targets, ials.h) into
 * the rows of solved, in that order, with `fixed`
 * (n_fixed x k, Gram `gram`) held. A row without interactions gets the
 * zero factor, the exact minimiser of its terms. */
static int solve_rows(const rs_ials *m, const rs_csr *rows, const uint32_t *which, uint32_t count,
                      float *solved, const float *fixed, uint32_t n_fixed, const float *gram,
                      rs_error *err)
{
    uint32_t k = m->k;
    size_t per_thread = rs_foldin_workspace_floats(k);
    int failed = 0;
    rs_error first = {{0}};
#pragma omp parallel
    {
        rs_error local;
        float *work = rs_aligned_alloc(per_thread, sizeof(float), &local);
        if (!work) {
#pragma omp critical(ials_error)
            if (!failed) failed = 1, first = local;
        }
#pragma omp for schedule(dynamic, 32)
        for (uint32_t i = 0; i < count; i++) {
            if (!work || failed) continue;
            uint32_t r = which ? which[i] : i, n = rs_csr_row_len(rows, r);
            rs_foldin_weights w = {m->unobserved_weight, 1.0f, rs_ials_row_reg(m, n, n_fixed)};
            const float *targets = rows->values ? rows->values + rows->indptr[r] : NULL;
            if (rs_foldin_targets(fixed, k, gram, rows->indices + rows->indptr[r], targets, n, &w,
                                  solved + (size_t)i * k, work, &local) != 0) {
#pragma omp critical(ials_error)
                if (!failed) failed = 1, first = local;
            }
        }
        free(work);
    }
    if (failed && err) *err = first;
    return failed ? -1 : 0;
}

/* Every row of `rows` (solved x fixed interactions) for `solved`. */
static int half_step(const rs_ials *m, const rs_csr *rows, float *solved, const float *fixed,
                     uint32_t n_fixed, rs_error *err)
{
    float *gram = rs_aligned_alloc((size_t)m->k * m->k, sizeof(float), err);
    if (!gram) return -1;
    rs_gram(fixed, n_fixed, m->k, gram);
    int rc = solve_rows(m, rows, NULL, rows->n_rows, solved, fixed, n_fixed, gram, err);
    free(gram);
    return rc;
}

int rs_ials_foldin_rows(const rs_ials *m, const float *item_gram, const rs_csr *histories,
                        const uint32_t *users, uint32_t count, float *out, rs_error *err)
{
    return solve_rows(m, histories, users, count, out, m->item_factors, m->n_items, item_gram, err);
}

int rs_ials_update_users(rs_ials *m, const rs_csr *train, rs_error *err)
{
    return half_step(m, train, m->user_factors, m->item_factors, m->n_items, err);
}

int rs_ials_update_items(rs_ials *m, const rs_csr *by_item, rs_error *err)
{
    return half_step(m, by_item, m->item_factors, m->user_factors, m->n_users, err);
}

int rs_ials_fit(const rs_csr *train, const rs_ials_options *o, rs_ials_progress progress, void *ctx,
                rs_ials *out, rs_error *err)
{
    rs_csr by_item;
    if (rs_ials_init(train, o, out, err) != 0) return -1;
    if (rs_csr_transpose(train, &by_item, err) != 0) {
        rs_ials_free(out);
        return -1;
    }
    int rc = 0;
    for (int epoch = 1; rc == 0 && epoch <= o->epochs; epoch++) {
        rc = rs_ials_update_users(out, train, err);
        if (rc == 0) rc = rs_ials_update_items(out, &by_item, err);
        if (rc == 0 && progress) progress(ctx, epoch, out);
    }
    if (rc == 0) rc = rs_ials_update_users(out, train, err);
    rs_csr_free(&by_item);
    if (rc != 0) rs_ials_free(out);
    return rc;
}

/* Σ_r reg_r ‖f_r‖² over the rows of one side. */
static double side_penalty(const rs_ials *m, const float *f, const uint64_t *counts, uint32_t rows,
                           uint32_t n_other)
{
    double sum = 0;
    for (uint32_t r = 0; r < rows; r++) {
        double sq = 0;
        for (uint32_t j = 0; j < m->k; j++)
            sq += (double)f[(size_t)r * m->k + j] * f[(size_t)r * m->k + j];
        sum += rs_ials_row_reg(m, (uint32_t)counts[r], n_other) * sq;
    }
    return sum;
}

double rs_ials_objective(const rs_ials *m, const rs_csr *train)
{
    uint32_t k = m->k;
    double observed = 0;
    uint64_t *item_counts = calloc((size_t)m->n_items + 1, sizeof(uint64_t));
    uint64_t *user_counts = calloc((size_t)m->n_users + 1, sizeof(uint64_t));
    float *gu = malloc(sizeof(float) * k * k), *gi = malloc(sizeof(float) * k * k);
    double result = NAN;
    if (!item_counts || !user_counts || !gu || !gi) goto done;
    for (uint32_t u = 0; u < m->n_users; u++) {
        user_counts[u] = rs_csr_row_len(train, u);
        for (uint64_t p = train->indptr[u]; p < train->indptr[u + 1]; p++) {
            uint32_t i = train->indices[p];
            item_counts[i]++;
            double y = 0;
            for (uint32_t j = 0; j < k; j++)
                y +=
                    (double)m->user_factors[(size_t)u * k + j] * m->item_factors[(size_t)i * k + j];
            double target = rs_csr_value(train, p);
            observed += (y - target) * (y - target);
        }
    }
    /* Σ_{u,i} ŷ² = trace(WᵀW HᵀH) = Σ_ab (WᵀW)_ab (HᵀH)_ab. */
    rs_gram(m->user_factors, m->n_users, k, gu);
    rs_gram(m->item_factors, m->n_items, k, gi);
    double all = 0;
    for (size_t c = 0; c < (size_t)k * k; c++) all += (double)gu[c] * gi[c];
    result = observed + m->unobserved_weight * all +
             side_penalty(m, m->user_factors, user_counts, m->n_users, m->n_items) +
             side_penalty(m, m->item_factors, item_counts, m->n_items, m->n_users);
done:
    free(item_counts);
    free(user_counts);
    free(gu);
    free(gi);
    return result;
}

int rs_ials_foldin(const rs_ials *m, const float *item_gram, const uint32_t *history, uint32_t n,
                   float *out, float *workspace, rs_error *err)
{
    rs_foldin_weights w = {m->unobserved_weight, 1.0f, rs_ials_row_reg(m, n, m->n_items)};
    return rs_foldin(m->item_factors, m->k, item_gram, history, n, &w, out, workspace, err);
}
