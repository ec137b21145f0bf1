/* ganmf_layers.c - the pieces of GANMF, each a forward and its backward
 * (see ganmf.h): the matrix-factorisation generator, the linear
 * autoencoder's energy, the hinge on the two batch energies and the
 * feature-matching distance. Dense products go through core/layers.h
 * (themselves checked against finite differences) or OpenBLAS directly. */
#include "ganmf.h"

#include <cblas.h>
#include <string.h>

#include "layers.h"

void rs_ganmf_generate(rs_ganmf *g, const uint32_t *users, int B, float *fake)
{
    const size_t K = g->config.factors;
    for (int b = 0; b < B; b++)
        memcpy(g->user_rows + (size_t)b * K, g->user_factors + (size_t)users[b] * K,
               K * sizeof(float));
    rs_dense_t_forward(fake, g->user_rows, g->item_factors, NULL, B, (int)K, (int)g->n_items);
}

void rs_ganmf_generate_backward(rs_ganmf *g, const uint32_t *users, int B, const float *d_fake)
{
    const size_t K = g->config.factors;
    rs_dense_t_backward(g->d_user_rows, g->item_grads, NULL, d_fake, g->user_rows, g->item_factors,
                        B, (int)K, (int)g->n_items);
    for (int b = 0; b < B; b++) {
        float *row = g->user_grads + (size_t)users[b] * K;
        const float *d = g->d_user_rows + (size_t)b * K;
        for (size_t k = 0; k < K; k++) row[k] += d[k];
    }
}

double rs_ganmf_energy(const rs_ganmf *g, const float *x, int B, float *code, float *error)
{
    const int M = (int)g->n_items, h = (int)g->config.hidden;
    rs_dense_forward(code, x, g->enc_weight, g->enc_bias, B, M, h);
    rs_dense_forward(error, code, g->dec_weight, g->dec_bias, B, h, M);
    const long n = (long)B * M;
    double sum = 0.0;
#pragma omp parallel for schedule(static) reduction(+ : sum)
    for (long i = 0; i < n; i++) {
        error[i] -= x[i];
        sum += (double)error[i] * error[i];
    }
    return sum / (double)n;
}

/* dR = coefficient * d(mean squared error)/d(reconstruction) into d_recon. */
static void energy_upstream(float *d_recon, const float *error, long n, double coefficient)
{
    const float scale = (float)(2.0 * coefficient / (double)n);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) d_recon[i] = scale * error[i];
}

void rs_ganmf_energy_backward_params(rs_ganmf *g, const float *x, const float *code,
                                     const float *error, int B, double coefficient)
{
    const int M = (int)g->n_items, h = (int)g->config.hidden;
    energy_upstream(g->d_recon, error, (long)B * M, coefficient);
    rs_dense_backward(g->d_code, g->dec_weight_g, g->dec_bias_g, g->d_recon, code, g->dec_weight, B,
                      h, M);
    rs_dense_backward(NULL, g->enc_weight_g, g->enc_bias_g, g->d_code, x, g->enc_weight, B, M, h);
}

void rs_ganmf_energy_backward_input(rs_ganmf *g, const float *error, int B, double coefficient,
                                    const float *extra_code, float *d_input)
{
    const int M = (int)g->n_items, h = (int)g->config.hidden;
    const long n = (long)B * M;
    energy_upstream(g->d_recon, error, n, coefficient);
    /* d_code = dR W_d^T (+ extra): the decoder's weight is h x M. */
    if (extra_code) memcpy(g->d_code, extra_code, (size_t)B * h * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, h, M, 1.0f, g->d_recon, M,
                g->dec_weight, M, extra_code ? 1.0f : 0.0f, g->d_code, h);
    /* d_input = d_code W_e^T - dR: the encoder's weight is M x h, and the
     * error is reconstruction minus input. */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, M, h, 1.0f, g->d_code, h, g->enc_weight,
                h, 0.0f, d_input, M);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) d_input[i] -= g->d_recon[i];
}

double rs_ganmf_hinge(double real_energy, double fake_energy, double margin, double *coef_real,
                      double *coef_fake, int *active)
{
    const double gap = margin * real_energy - fake_energy;
    /* At gap == 0 the subgradient of the inactive side is taken. */
    *active = gap > 0.0;
    *coef_real = 1.0 + (*active ? margin : 0.0);
    *coef_fake = *active ? -1.0 : 0.0;
    return real_energy + (*active ? gap : 0.0);
}

double rs_ganmf_feature_matching(const float *real_code, const float *fake_code, int B, int h,
                                 double coefficient, float *d_fake_code)
{
    const long n = (long)B * h;
    const float scale = (float)(2.0 * coefficient / (double)n);
    double sum = 0.0;
    for (long i = 0; i < n; i++) {
        const float diff = fake_code[i] - real_code[i];
        sum += (double)diff * diff;
        if (d_fake_code) d_fake_code[i] = scale * diff;
    }
    return sum / (double)n;
}
