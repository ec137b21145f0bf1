/* pia.c - the PIA regulariser and its schedule (see pia.h). */
#include "pia.h"

#include <math.h>
#include <stdio.h>

void rs_pia_init(rs_pia *pia, float lambda, int patience, float factor)
{
    pia->lambda_initial = pia->lambda = lambda;
    pia->patience = patience;
    pia->factor = factor;
    pia->evals_without_gain = 0;
}

/*   dR/dmu = 2 (mu - c), dR/dlogvar = exp(logvar), dR/da_i = 2 (a_i - mu) / |P| */
int rs_pia_backward(const rs_sparse_batch *X, const float *e, float *de, uint32_t L,
                    rs_param *anchors, float scale, double *reg, rs_error *err)
{
    *reg = 0.0;
    if (!anchors->grad &&
        rs_rowgrad_reserve(&anchors->rowgrad, X->indptr[X->n_rows] - X->indptr[0], err) != 0)
        return -1;
    for (uint32_t r = 0; r < X->n_rows; r++) {
        uint64_t n = X->indptr[r + 1] - X->indptr[r];
        if (n == 0) continue;
        const float *mu = e + (size_t)r * 2 * L, *logvar = mu + L;
        float *dmu = de + (size_t)r * 2 * L, *dlogvar = dmu + L;
        double sum = 0.0;
        for (uint64_t p = X->indptr[r]; p < X->indptr[r + 1]; p++) {
            const float *a = anchors->value + (size_t)X->indices[p] * L;
            float *da = rs_param_grad_row(anchors, X->indices[p]);
            for (uint32_t j = 0; j < L; j++) {
                float diff = mu[j] - a[j];
                sum += (double)diff * diff / (double)n;
                dmu[j] += scale * 2.0f * diff / (float)n;
                da[j] -= scale * 2.0f * diff / (float)n;
            }
        }
        for (uint32_t j = 0; j < L; j++) {
            float var = expf(logvar[j]);
            sum += var;
            dlogvar[j] += scale * var;
        }
        *reg += sum;
    }
    return 0;
}

void rs_pia_after_eval(rs_pia *pia, int epoch, int improved)
{
    pia->evals_without_gain = improved ? 0 : pia->evals_without_gain + 1;
    if (pia->evals_without_gain >= pia->patience) {
        pia->lambda *= pia->factor;
        pia->evals_without_gain = 0;
        fprintf(stderr, "epoch %d: no validation gain for %d evaluations, PIA lambda -> %g\n",
                epoch, pia->patience, (double)pia->lambda);
    }
}
