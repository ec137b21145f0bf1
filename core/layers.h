/* layers.h - neural-network layers on row-major float batches, one forward
 * and one backward function per layer (in the manner of llm.c).
 *
 * The forward functions are what the server runs to encode a history; the
 * backward functions are what the trainer runs. They live together because
 * each backward is only meaningful against its forward, and the unit tests
 * check every backward against finite differences of its forward.
 *
 * Shapes: a batch is B rows. A dense layer has weight W (in x out, row-major)
 * and bias b (out): y = x W + b. The sparse input layer multiplies a sparse
 * batch (CSR, one row per user) by W (n_items x out), i.e. sums the rows of W
 * of the items present, weighted. Backward functions ACCUMULATE into the
 * parameter gradients (dW, db) and OVERWRITE the input gradient (dx) when dx
 * is not NULL. Dense math goes through OpenBLAS; row loops use OpenMP.
 */
#ifndef RS_LAYERS_H
#define RS_LAYERS_H

#include <stdint.h>

/* A sparse batch: rows[r] spans indices/values[indptr[r] .. indptr[r+1]). */
typedef struct rs_sparse_batch {
    uint32_t n_rows;
    const uint64_t *indptr; /* n_rows + 1, indptr[0] may be non-zero */
    const uint32_t *indices;
    const float *values;
} rs_sparse_batch;

/* y (B x out) = x (B x in) W + b. */
void rs_dense_forward(float *y, const float *x, const float *W, const float *b, int B, int in,
                      int out);
/* dW += x^T dy; db += sum_rows dy; dx = dy W^T (if dx). */
void rs_dense_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                       const float *W, int B, int in, int out);

/* y (B x out) = X W + b with X sparse (B x n_items), W (n_items x out). */
void rs_sparse_forward(float *y, const rs_sparse_batch *X, const float *W, const float *b, int out);
/* dW[item] += X[r,item] * dy[r] for every non-zero; db += sum_rows dy. Rows
 * of dW for items absent from the batch are untouched. */
void rs_sparse_backward(float *dW, float *db, const float *dy, const rs_sparse_batch *X, int out);

/* Row-wise y = x W^T + b where W is (out x in): a dense layer whose weight is
 * stored output-major (used for item matrices: one row per item). */
void rs_dense_t_forward(float *y, const float *x, const float *W, const float *b, int B, int in,
                        int out);
/* dW += dy^T x; db += sum_rows dy; dx = dy W (if dx). */
void rs_dense_t_backward(float *dx, float *dW, float *db, const float *dy, const float *x,
                         const float *W, int B, int in, int out);

/* Element-wise tanh, in place allowed (y may equal x). */
void rs_tanh_forward(float *y, const float *x, long n);
/* dx = dy * (1 - y^2), y = the forward output. dx may equal dy. */
void rs_tanh_backward(float *dx, const float *dy, const float *y, long n);

/* Element-wise ReLU and its backward (x = forward input). */
void rs_relu_forward(float *y, const float *x, long n);
void rs_relu_backward(float *dx, const float *dy, const float *x, long n);

/* Gaussian reparameterisation: z = mu + eps * exp(0.5 logvar), where mu and
 * logvar are the two halves of each row of h (B x 2L): mu = h[:, :L],
 * logvar = h[:, L:]. eps (B x L) holds the noise; NULL means eps = 0
 * (evaluation: z = mu). */
void rs_gaussian_forward(float *z, const float *h, const float *eps, int B, int L);
/* dh = d(z)/d(mu, logvar) applied to dz, plus the gradient of
 * beta * KL(q || N(0, I)) summed over the batch and scaled by kl_scale:
 * KL = 0.5 * sum(exp(logvar) + mu^2 - 1 - logvar). Returns the KL sum. */
double rs_gaussian_backward(float *dh, const float *dz, const float *h, const float *eps, int B,
                            int L, float kl_scale);
/* KL(q || N(0, I)) summed over the batch (no gradient). */
double rs_gaussian_kl(const float *h, int B, int L);

/* Multinomial log-likelihood of the logits (B x n) against sparse positive
 * targets: loss = -sum_r sum_{i in X_r} x_ri * log_softmax(logits_r)_i.
 * Writes dlogits = scale * (softmax_r * sum_i x_ri - x_r) when dlogits is
 * not NULL (may equal logits). Returns the loss summed over rows. */
double rs_softmax_nll(float *dlogits, const float *logits, const rs_sparse_batch *targets, int n,
                      float scale);

/* Rows of x (B x n) scaled to unit L2 norm (all-zero rows stay zero). */
void rs_l2_normalize_rows(float *x, int B, int n);

#endif
