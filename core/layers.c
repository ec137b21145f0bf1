/* layers.c - forward and backward of each layer (see layers.h).
 *
 * Built with -ffast-math (see the Makefile): that is what lets the compiler
 * call glibc's vectorised expf/tanhf in the softmax and activations, 3.5x
 * faster than scalar calls. Everything here works on finite values; no code
 * in this file tests for NaN or infinity. */
#include "layers.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

static inline float value_at(const rs_sparse_batch *X, uint64_t p)
{
    return X->values ? X->values[p] : 1.0f;
}

static void add_bias_rows(float *y, const float *b, int B, int out)
{
    if (!b) return;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < B; r++) {
        float *row = y + (long)r * out;
        for (int j = 0; j < out; j++) row[j] += b[j];
    }
}

static void sum_rows_into(float *db, const float *dy, int B, int out)
{
    if (!db) return;
    for (int r = 0; r < B; r++) {
        const float *row = dy + (long)r * out;
        for (int j = 0; j < out; j++) db[j] += row[j];
    }
}

void rs_dense_forward(float *y, const float *x, const float *W, const float *b, int B, int in,
                      int out)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, out, in, 1.0f, x, in, W, out, 0.0f, y,
                out);
    add_bias_rows(y, b, B, out);
}

void rs_dense_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                       const float *W, int B, int in, int out)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, in, out, B, 1.0f, x, in, dy, out, 1.0f, dW,
                out);
    sum_rows_into(db, dy, B, out);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, in, out, 1.0f, dy, out, W, out,
                    0.0f, dx, in);
}

void rs_dense_t_forward(float *y, const float *x, const float *W, const float *b, int B, int in,
                        int out)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, B, out, in, 1.0f, x, in, W, in, 0.0f, y,
                out);
    add_bias_rows(y, b, B, out);
}

void rs_dense_t_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                         const float *W, int B, int in, int out)
{
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, B, 1.0f, dy, out, x, in, 1.0f, dW,
                in);
    sum_rows_into(db, dy, B, out);
    if (dx)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, out, 1.0f, dy, out, W, in,
                    0.0f, dx, in);
}

void rs_sparse_forward(float *y, const rs_sparse_batch *X, const float *W, const float *b, int out)
{
    int B = (int)X->n_rows;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < B; r++) {
        float *row = y + (long)r * out;
        if (b)
            memcpy(row, b, sizeof(float) * (size_t)out);
        else
            memset(row, 0, sizeof(float) * (size_t)out);
        for (uint64_t p = X->indptr[r]; p < X->indptr[r + 1]; p++) {
            const float *w = W + (long)X->indices[p] * out;
            float v = value_at(X, p);
            for (int j = 0; j < out; j++) row[j] += v * w[j];
        }
    }
}

void rs_sparse_backward(float *dW, float *db, const float *dy, const rs_sparse_batch *X, int out)
{
    /* Serial over rows: two rows may share an item, and a fixed order keeps
     * the sum deterministic. The cost is nnz * out, small next to the GEMMs. */
    int B = (int)X->n_rows;
    for (int r = 0; r < B; r++) {
        const float *g = dy + (long)r * out;
        for (uint64_t p = X->indptr[r]; p < X->indptr[r + 1]; p++) {
            float *w = dW + (long)X->indices[p] * out;
            float v = value_at(X, p);
            for (int j = 0; j < out; j++) w[j] += v * g[j];
        }
    }
    sum_rows_into(db, dy, B, out);
}

void rs_tanh_forward(float *y, const float *x, long n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

void rs_tanh_backward(float *dx, const float *dy, const float *y, long n)
{
#pragma omp parallel for schedule(static) if (n > 65536)
    for (long i = 0; i < n; i++) dx[i] = dy[i] * (1.0f - y[i] * y[i]);
}

void rs_relu_forward(float *y, const float *x, long n)
{
    for (long i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void rs_relu_backward(float *dx, const float *dy, const float *x, long n)
{
    for (long i = 0; i < n; i++) dx[i] = x[i] > 0.0f ? dy[i] : 0.0f;
}

void rs_gaussian_forward(float *z, const float *h, const float *eps, int B, int L)
{
    for (int r = 0; r < B; r++) {
        const float *mu = h + (long)r * 2 * L, *logvar = mu + L;
        float *zr = z + (long)r * L;
        for (int j = 0; j < L; j++)
            zr[j] = eps ? mu[j] + eps[(long)r * L + j] * expf(0.5f * logvar[j]) : mu[j];
    }
}

double rs_gaussian_backward(float *dh, const float *dz, const float *h, const float *eps, int B,
                            int L, float kl_scale)
{
    double kl = 0.0;
    for (int r = 0; r < B; r++) {
        const float *mu = h + (long)r * 2 * L, *logvar = mu + L;
        const float *g = dz + (long)r * L;
        float *dmu = dh + (long)r * 2 * L, *dlogvar = dmu + L;
        for (int j = 0; j < L; j++) {
            float var = expf(logvar[j]);
            float e = eps ? eps[(long)r * L + j] : 0.0f;
            kl += 0.5 * ((double)var + (double)mu[j] * mu[j] - 1.0 - logvar[j]);
            dmu[j] = g[j] + kl_scale * mu[j];
            dlogvar[j] = g[j] * e * 0.5f * sqrtf(var) + kl_scale * 0.5f * (var - 1.0f);
        }
    }
    return kl;
}

double rs_gaussian_kl(const float *h, int B, int L)
{
    double kl = 0.0;
    for (int r = 0; r < B; r++) {
        const float *mu = h + (long)r * 2 * L, *logvar = mu + L;
        for (int j = 0; j < L; j++)
            kl += 0.5 * ((double)expf(logvar[j]) + (double)mu[j] * mu[j] - 1.0 - logvar[j]);
    }
    return kl;
}

/* One row: returns -sum_i x_i log_softmax_i and writes the scaled gradient.
 * One exp per entry: the exponentials are stored in grad (which may alias
 * logits, so the target logits are read first) and rescaled in place. */
static double softmax_nll_row(float *grad, const float *logits, const rs_sparse_batch *T, int r,
                              int n, float scale)
{
    float max = logits[0];
    for (int i = 1; i < n; i++) max = logits[i] > max ? logits[i] : max;
    double target_sum = 0.0, mass = 0.0;
    for (uint64_t p = T->indptr[r]; p < T->indptr[r + 1]; p++) {
        double x = value_at(T, p);
        target_sum += x * (double)(logits[T->indices[p]] - max);
        mass += x;
    }
    float total = 0.0f;
    if (grad) {
#pragma omp simd reduction(+ : total)
        for (int i = 0; i < n; i++) {
            grad[i] = expf(logits[i] - max);
            total += grad[i];
        }
    } else {
#pragma omp simd reduction(+ : total)
        for (int i = 0; i < n; i++) total += expf(logits[i] - max);
    }
    double log_total = log((double)total);
    if (grad) {
        float factor = scale * (float)mass / total;
        for (int i = 0; i < n; i++) grad[i] *= factor;
        for (uint64_t p = T->indptr[r]; p < T->indptr[r + 1]; p++)
            grad[T->indices[p]] -= scale * value_at(T, p);
    }
    /* -sum x_t (l_t - max - log total) */
    return mass * log_total - target_sum;
}

double rs_softmax_nll(float *dlogits, const float *logits, const rs_sparse_batch *targets, int n,
                      float scale)
{
    int B = (int)targets->n_rows;
    double loss = 0.0;
    /* The reduction order of an OpenMP sum depends on the thread count; the
     * per-row losses are summed serially instead, for reproducibility. */
    double row_loss[B > 0 ? B : 1];
#pragma omp parallel for schedule(static)
    for (int r = 0; r < B; r++)
        row_loss[r] = softmax_nll_row(dlogits ? dlogits + (long)r * n : NULL, logits + (long)r * n,
                                      targets, r, n, scale);
    for (int r = 0; r < B; r++) loss += row_loss[r];
    return loss;
}

void rs_l2_normalize_rows(float *x, int B, int n)
{
    for (int r = 0; r < B; r++) {
        float *row = x + (long)r * n;
        double ss = 0.0;
        for (int i = 0; i < n; i++) ss += (double)row[i] * row[i];
        if (ss <= 0.0) continue;
        float inv = (float)(1.0 / sqrt(ss));
        for (int i = 0; i < n; i++) row[i] *= inv;
    }
}
