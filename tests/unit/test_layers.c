/* test_layers.c - every layer's backward against central finite differences
 * of its forward, through a random projection: f(theta) = <G, y(theta)>,
 * whose gradient is exactly what backward computes for dy = G. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "layers.h"
#include "rng.h"

static rs_rng rng;

static float *random_vec(long n, double scale)
{
    float *x = malloc(sizeof(float) * (size_t)(n ? n : 1));
    for (long i = 0; i < n; i++) x[i] = (float)(scale * rs_rng_normal(&rng));
    return x;
}

static double dot(const float *a, const float *b, long n)
{
    double s = 0;
    for (long i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Compares analytic[i] with (f(x_i + h) - f(x_i - h)) / 2h for every i of x.
 * f is evaluated by the callback with the perturbed x in place. */
typedef double (*objective_fn)(void *ctx);

static void check_gradient(const char *what, float *x, long n, const float *analytic,
                           objective_fn f, void *ctx)
{
    const float h = 1e-2f;
    double max_err = 0.0;
    for (long i = 0; i < n; i++) {
        float saved = x[i];
        x[i] = saved + h;
        double up = f(ctx);
        x[i] = saved - h;
        double down = f(ctx);
        x[i] = saved;
        double numeric = (up - down) / (2.0 * h);
        double err = fabs(numeric - analytic[i]) / fmax(1.0, fabs(numeric) + fabs(analytic[i]));
        if (err > max_err) max_err = err;
    }
    ck_assert_msg(max_err < 2e-3, "%s: max relative gradient error %g", what, max_err);
}

/* ---- dense and dense_t ---- */
struct dense_ctx {
    int B, in, out, transposed;
    float *x, *W, *b, *y, *G;
};

static double dense_objective(void *p)
{
    struct dense_ctx *c = p;
    if (c->transposed)
        rs_dense_t_forward(c->y, c->x, c->W, c->b, c->B, c->in, c->out);
    else
        rs_dense_forward(c->y, c->x, c->W, c->b, c->B, c->in, c->out);
    return dot(c->G, c->y, (long)c->B * c->out);
}

static void run_dense(int transposed)
{
    struct dense_ctx c = {.B = 3, .in = 5, .out = 4, .transposed = transposed};
    long nx = (long)c.B * c.in, nw = (long)c.in * c.out, ny = (long)c.B * c.out;
    c.x = random_vec(nx, 1), c.W = random_vec(nw, 1), c.b = random_vec(c.out, 1);
    c.y = random_vec(ny, 0), c.G = random_vec(ny, 1);
    float *dx = calloc((size_t)nx, 4), *dW = calloc((size_t)nw, 4), *db = calloc((size_t)c.out, 4);
    if (transposed)
        rs_dense_t_backward(dx, dW, db, c.G, c.x, c.W, c.B, c.in, c.out);
    else
        rs_dense_backward(dx, dW, db, c.G, c.x, c.W, c.B, c.in, c.out);
    check_gradient("dense dx", c.x, nx, dx, dense_objective, &c);
    check_gradient("dense dW", c.W, nw, dW, dense_objective, &c);
    check_gradient("dense db", c.b, c.out, db, dense_objective, &c);
    /* Accumulation: a second backward adds the same amount again. */
    float *dW2 = malloc((size_t)nw * 4);
    memcpy(dW2, dW, (size_t)nw * 4);
    if (transposed)
        rs_dense_t_backward(NULL, dW2, NULL, c.G, c.x, c.W, c.B, c.in, c.out);
    else
        rs_dense_backward(NULL, dW2, NULL, c.G, c.x, c.W, c.B, c.in, c.out);
    for (long i = 0; i < nw; i++) ck_assert_float_eq_tol(dW2[i], 2 * dW[i], 1e-5);
    free(c.x), free(c.W), free(c.b), free(c.y), free(c.G), free(dx), free(dW), free(db), free(dW2);
}

START_TEST(test_dense)
{
    run_dense(0);
}
END_TEST

START_TEST(test_dense_transposed)
{
    run_dense(1);
}
END_TEST

/* ---- sparse input layer ---- */
struct sparse_ctx {
    rs_sparse_batch X;
    int out, n_items;
    float *W, *b, *y, *G;
};

static double sparse_objective(void *p)
{
    struct sparse_ctx *c = p;
    rs_sparse_forward(c->y, &c->X, c->W, c->b, c->out);
    return dot(c->G, c->y, (long)c->X.n_rows * c->out);
}

START_TEST(test_sparse)
{
    static const uint64_t indptr[] = {0, 3, 3, 5};
    static const uint32_t indices[] = {0, 2, 5, 2, 4};
    float values[] = {0.5f, -1.0f, 2.0f, 0.25f, 1.5f};
    struct sparse_ctx c = {.X = {3, indptr, indices, values}, .out = 4, .n_items = 6};
    long nw = (long)c.n_items * c.out, ny = 3L * c.out;
    c.W = random_vec(nw, 1), c.b = random_vec(c.out, 1), c.y = random_vec(ny, 0);
    c.G = random_vec(ny, 1);
    float *dW = calloc((size_t)nw, 4), *db = calloc((size_t)c.out, 4);
    rs_sparse_backward(dW, db, c.G, &c.X, c.out);
    check_gradient("sparse dW", c.W, nw, dW, sparse_objective, &c);
    check_gradient("sparse db", c.b, c.out, db, sparse_objective, &c);
    /* Rows of items absent from the batch get no gradient. */
    for (int j = 0; j < c.out; j++) ck_assert_float_eq(dW[1 * c.out + j], 0.0f);
    free(c.W), free(c.b), free(c.y), free(c.G), free(dW), free(db);
}
END_TEST

/* ---- element-wise activations ---- */
struct act_ctx {
    long n;
    int relu;
    float *x, *y, *G;
};

static double act_objective(void *p)
{
    struct act_ctx *c = p;
    if (c->relu)
        rs_relu_forward(c->y, c->x, c->n);
    else
        rs_tanh_forward(c->y, c->x, c->n);
    return dot(c->G, c->y, c->n);
}

START_TEST(test_activations)
{
    for (int relu = 0; relu <= 1; relu++) {
        struct act_ctx c = {.n = 40, .relu = relu};
        c.x = random_vec(c.n, 1), c.y = random_vec(c.n, 0), c.G = random_vec(c.n, 1);
        /* Keep ReLU inputs away from the kink, where differences are invalid. */
        for (long i = 0; relu && i < c.n; i++)
            if (fabsf(c.x[i]) < 0.05f) c.x[i] = 0.5f;
        float *dx = malloc((size_t)c.n * 4);
        act_objective(&c);
        if (relu)
            rs_relu_backward(dx, c.G, c.x, c.n);
        else
            rs_tanh_backward(dx, c.G, c.y, c.n);
        check_gradient(relu ? "relu" : "tanh", c.x, c.n, dx, act_objective, &c);
        free(c.x), free(c.y), free(c.G), free(dx);
    }
}
END_TEST

/* ---- Gaussian reparameterisation + KL ---- */
struct gauss_ctx {
    int B, L;
    float kl_scale;
    float *h, *eps, *z, *G;
};

static double gauss_objective(void *p)
{
    struct gauss_ctx *c = p;
    rs_gaussian_forward(c->z, c->h, c->eps, c->B, c->L);
    return dot(c->G, c->z, (long)c->B * c->L) + c->kl_scale * rs_gaussian_kl(c->h, c->B, c->L);
}

START_TEST(test_gaussian)
{
    struct gauss_ctx c = {.B = 3, .L = 4, .kl_scale = 0.7f};
    long nh = 2L * c.B * c.L, nz = (long)c.B * c.L;
    c.h = random_vec(nh, 0.5), c.eps = random_vec(nz, 1), c.z = random_vec(nz, 0);
    c.G = random_vec(nz, 1);
    float *dh = malloc((size_t)nh * 4);
    double kl = rs_gaussian_backward(dh, c.G, c.h, c.eps, c.B, c.L, c.kl_scale);
    ck_assert_double_eq_tol(kl, rs_gaussian_kl(c.h, c.B, c.L), 1e-9);
    check_gradient("gaussian", c.h, nh, dh, gauss_objective, &c);
    /* KL of the standard normal itself is zero. */
    float zero[8] = {0};
    ck_assert_double_eq_tol(rs_gaussian_kl(zero, 1, 4), 0.0, 1e-12);
    free(c.h), free(c.eps), free(c.z), free(c.G), free(dh);
}
END_TEST

/* ---- multinomial likelihood over a softmax ---- */
struct nll_ctx {
    rs_sparse_batch T;
    int n;
    float *logits;
};

static double nll_objective(void *p)
{
    struct nll_ctx *c = p;
    return rs_softmax_nll(NULL, c->logits, &c->T, c->n, 1.0f);
}

START_TEST(test_softmax_nll)
{
    static const uint64_t indptr[] = {0, 2, 3};
    static const uint32_t indices[] = {1, 4, 0};
    struct nll_ctx c = {.T = {2, indptr, indices, NULL}, .n = 6};
    c.logits = random_vec(12, 2);
    float *grad = malloc(12 * 4);
    double loss = rs_softmax_nll(grad, c.logits, &c.T, c.n, 1.0f);
    /* Reference loss computed directly from the definition. */
    double expected = 0;
    for (int r = 0; r < 2; r++) {
        double z = 0;
        for (int i = 0; i < 6; i++) z += exp(c.logits[r * 6 + i]);
        for (uint64_t p = indptr[r]; p < indptr[r + 1]; p++)
            expected -= c.logits[r * 6 + indices[p]] - log(z);
    }
    ck_assert_double_eq_tol(loss, expected, 1e-4);
    check_gradient("softmax nll", c.logits, 12, grad, nll_objective, &c);
    /* In place (dlogits == logits) gives the same gradient. */
    float *copy = malloc(12 * 4);
    memcpy(copy, c.logits, 12 * 4);
    rs_softmax_nll(copy, copy, &c.T, c.n, 1.0f);
    for (int i = 0; i < 12; i++) ck_assert_float_eq_tol(copy[i], grad[i], 1e-6);
    free(c.logits), free(grad), free(copy);
}
END_TEST

START_TEST(test_l2_normalize)
{
    float x[6] = {3, 4, 0, 0, 0, 0};
    rs_l2_normalize_rows(x, 2, 3);
    ck_assert_float_eq_tol(x[0], 0.6f, 1e-6);
    ck_assert_float_eq_tol(x[1], 0.8f, 1e-6);
    ck_assert_float_eq(x[3], 0.0f);
}
END_TEST

int main(void)
{
    rs_rng_seed(&rng, 1234);
    Suite *s = suite_create("layers");
    TCase *tc = tcase_create("gradients");
    tcase_add_test(tc, test_dense);
    tcase_add_test(tc, test_dense_transposed);
    tcase_add_test(tc, test_sparse);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_gaussian);
    tcase_add_test(tc, test_softmax_nll);
    tcase_add_test(tc, test_l2_normalize);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
