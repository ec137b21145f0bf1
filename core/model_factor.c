/* model_factor.c - the fold-in encoder of factor models (see model_factor.h). */
#include "model_factor.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"

static int factor_tensor(const rs_snapshot *snap, const char *name, uint64_t rows, uint32_t k,
                         const float **out, rs_error *err)
{
    rs_tensor_view view;
    if (rs_snapshot_tensor(snap, name, RS_F32, &view, err) != 0) return -1;
    if (view.ndim != 2 || view.shape[0] != rows || view.shape[1] != k)
        return rs_fail(err, "tensor %s is not [%llu, %u]", name, (unsigned long long)rows, k);
    *out = view.data;
    return 0;
}

int rs_factor_encoder_load(rs_factor_encoder *f, const rs_snapshot *snap, json_t *spec,
                           uint32_t n_items, uint32_t n_users, rs_error *err)
{
    memset(f, 0, sizeof(*f));
    const char *weight = NULL, *users = NULL;
    json_int_t in = 0, out = 0;
    double w0 = 0, w1 = 0, reg = 0, exponent = 0;
    json_error_t jerr;
    if (json_unpack_ex(spec, &jerr, 0, "{s:s, s?s, s:I, s:I, s:F, s:F, s:F, s?F}", "weight",
                       &weight, "users", &users, "in", &in, "out", &out, "unobserved_weight", &w0,
                       "observed_weight", &w1, "reg", &reg, "reg_exponent", &exponent) != 0)
        return rs_fail(err, "manifest foldin layer: %s", jerr.text);
    if (in != n_items || out <= 0 || out > RS_LINALG_MAX_K)
        return rs_fail(err, "manifest foldin layer: %lld -> %lld, expected %u -> 1..%d",
                       (long long)in, (long long)out, n_items, RS_LINALG_MAX_K);
    if (!(w0 >= 0) || !(w1 >= 0) || !(reg > 0) || !isfinite(exponent))
        return rs_fail(err, "manifest foldin layer: weights must be >= 0 and reg > 0");
    *f = (rs_factor_encoder){NULL,      NULL,      n_items,    n_users,         (uint32_t)out,
                             (float)w0, (float)w1, (float)reg, (float)exponent, NULL};
    if (factor_tensor(snap, weight, n_items, f->k, &f->items, err) != 0) return -1;
    if (users && factor_tensor(snap, users, n_users, f->k, &f->users, err) != 0) return -1;
    if (!(f->gram = rs_aligned_alloc((size_t)f->k * f->k, sizeof(float), err))) return -1;
    rs_gram(f->items, n_items, f->k, f->gram);
    return 0;
}

void rs_factor_encoder_free(rs_factor_encoder *f)
{
    free(f->gram);
    memset(f, 0, sizeof(*f));
}

size_t rs_factor_encoder_scratch_floats(const rs_factor_encoder *f)
{
    return rs_foldin_workspace_floats(f->k);
}

int rs_factor_encode(const rs_factor_encoder *f, const uint32_t *items, uint32_t n, float *out,
                     float *scratch, rs_error *err)
{
    /* The ridge exactly as the trainer computes it (rs_ials_row_reg), in
     * float, so a known iALS user's fold-in repeats their stored solve. */
    rs_foldin_weights w = {
        f->unobserved_weight, f->observed_weight,
        f->reg * powf((float)n + f->unobserved_weight * (float)f->n_items, f->reg_exponent)};
    return rs_foldin(f->items, f->k, f->gram, items, n, &w, out, scratch, err);
}

int rs_factor_user(const rs_factor_encoder *f, uint32_t user, float *out, rs_error *err)
{
    if (!f->users || user >= f->n_users)
        return rs_fail_kind(err, RS_ERR_NOT_FOUND, "no stored factor for user %u", user);
    memcpy(out, f->users + (size_t)user * f->k, sizeof(float) * f->k);
    return 0;
}
