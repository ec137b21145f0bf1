/* test_ganmf.c - GANMF's backward passes against central finite differences
 * (generator product, autoencoder energy w.r.t. parameters and input, hinge
 * on both sides, feature matching, and the full L_D and L_G through all
 * pieces), a step of each network lowering its own loss, determinism from
 * the seed, and training on two taste groups separating them.
 *
 * Each loss is quadratic in any single parameter (the networks are linear),
 * so central differences are exact up to float rounding away from the hinge
 * kink; the tests keep clear of it and assert which side they are on. Errors
 * are measured relative to the largest gradient entry, and that entry must
 * be well above rounding, so an all-zero backward cannot pass. */
#include <cblas.h>
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "ganmf.h"
#include "test_support.h"

enum { USERS = 5, ITEMS = 7, HIDDEN = 4, FACTORS = 3, BATCH = 3 };

static const uint32_t batch_users[BATCH] = {3, 0, 4};

typedef double (*objective_fn)(void *ctx);

static void check_gradient(const char *what, float *x, long n, const float *analytic,
                           objective_fn f, void *ctx)
{
    const float h = 1e-2f;
    double max_err = 0.0, max_grad = 0.0;
    for (long i = 0; i < n; i++) {
        const float saved = x[i];
        x[i] = saved + h;
        const double up = f(ctx);
        x[i] = saved - h;
        const double down = f(ctx);
        x[i] = saved;
        const double numeric = (up - down) / (2.0 * (double)h);
        max_err = fmax(max_err, fabs(numeric - analytic[i]));
        max_grad = fmax(max_grad, fabs(analytic[i]));
    }
    ck_assert_msg(max_grad > 1e-4, "%s: gradient is (nearly) zero: %g", what, max_grad);
    ck_assert_msg(max_err / max_grad < 2e-3, "%s: max error %g relative to max gradient %g", what,
                  max_err, max_grad);
}

static float *copy_of(const float *x, size_t n)
{
    float *c = malloc(n * sizeof(float));
    ck_assert_ptr_nonnull(c);
    memcpy(c, x, n * sizeof(float));
    return c;
}

static void fill_normal(rs_rng *rng, float *x, size_t n, double scale)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rs_rng_normal(rng));
}

static void small_model(rs_ganmf *g, float margin, float reg)
{
    rs_ganmf_config c;
    rs_ganmf_config_default(&c);
    c.factors = FACTORS;
    c.hidden = HIDDEN;
    c.batch = BATCH;
    c.margin = margin;
    c.reg_discriminator = reg;
    c.feature_matching = 0.3f; /* large enough for both terms to matter */
    c.seed = 7;
    rs_error err;
    ck_assert_msg(rs_ganmf_init(g, &c, USERS, ITEMS, &err) == 0, "%s", err.msg);
    /* Non-zero biases so that their gradients are exercised in general
     * position. */
    rs_rng rng;
    rs_rng_seed(&rng, 11);
    fill_normal(&rng, g->enc_bias, HIDDEN, 0.3);
    fill_normal(&rng, g->dec_bias, ITEMS, 0.3);
}

/* A fixed binary batch of real profiles in g->real. */
static void load_small_real(rs_ganmf *g)
{
    for (int b = 0; b < BATCH; b++)
        for (int i = 0; i < ITEMS; i++) g->real[b * ITEMS + i] = (float)((i * 3 + b * 5) % 4 == 0);
}

/* ---- generator product ---- */
struct generate_ctx {
    rs_ganmf *g;
    float *projection, *fake;
};

static double generate_objective(void *p)
{
    struct generate_ctx *c = p;
    rs_ganmf_generate(c->g, batch_users, BATCH, c->fake);
    double s = 0.0;
    for (int i = 0; i < BATCH * ITEMS; i++) s += (double)c->projection[i] * c->fake[i];
    return s;
}

START_TEST(test_generate_backward)
{
    rs_ganmf g;
    small_model(&g, 10.0f, 0.0f);
    rs_rng rng;
    rs_rng_seed(&rng, 3);
    float projection[BATCH * ITEMS], fake[BATCH * ITEMS];
    fill_normal(&rng, projection, BATCH * ITEMS, 1.0);
    struct generate_ctx c = {&g, projection, fake};
    generate_objective(&c);
    memset(g.gen_grads, 0, g.gen_count * sizeof(float));
    rs_ganmf_generate_backward(&g, batch_users, BATCH, projection);
    float *analytic = copy_of(g.gen_grads, g.gen_count);
    /* Users 1 and 2 are not in the batch: their rows get no gradient. */
    for (int k = 0; k < FACTORS; k++) {
        ck_assert_float_eq(analytic[1 * FACTORS + k], 0.0f);
        ck_assert_float_eq(analytic[2 * FACTORS + k], 0.0f);
    }
    check_gradient("generator w.r.t. Sigma and V", g.gen_params, (long)g.gen_count, analytic,
                   generate_objective, &c);
    free(analytic);
    rs_ganmf_free(&g);
}
END_TEST

/* ---- autoencoder energy ---- */
struct energy_ctx {
    rs_ganmf *g;
    float *x, *code, *error, *code_projection;
    double coefficient;
};

/* coefficient * D(x) + <code_projection, Enc(x)>: the second term is how
 * feature matching reaches the code. */
static double energy_objective(void *p)
{
    struct energy_ctx *c = p;
    double s = c->coefficient * rs_ganmf_energy(c->g, c->x, BATCH, c->code, c->error);
    if (c->code_projection)
        for (int i = 0; i < BATCH * HIDDEN; i++) s += (double)c->code_projection[i] * c->code[i];
    return s;
}

START_TEST(test_energy_backward_params)
{
    rs_ganmf g;
    small_model(&g, 10.0f, 0.0f);
    load_small_real(&g);
    struct energy_ctx c = {&g, g.real, g.real_code, g.real_error, NULL, -2.5};
    energy_objective(&c);
    memset(g.disc_grads, 0, g.disc_count * sizeof(float));
    rs_ganmf_energy_backward_params(&g, g.real, g.real_code, g.real_error, BATCH, c.coefficient);
    float *analytic = copy_of(g.disc_grads, g.disc_count);
    check_gradient("energy w.r.t. W_e, b_e, W_d, b_d", g.disc_params, (long)g.disc_count, analytic,
                   energy_objective, &c);
    free(analytic);
    rs_ganmf_free(&g);
}
END_TEST

START_TEST(test_energy_backward_input)
{
    rs_ganmf g;
    small_model(&g, 10.0f, 0.0f);
    rs_rng rng;
    rs_rng_seed(&rng, 5);
    float x[BATCH * ITEMS], projection[BATCH * HIDDEN], d_input[BATCH * ITEMS];
    fill_normal(&rng, x, BATCH * ITEMS, 1.0); /* a generated profile is real-valued */
    fill_normal(&rng, projection, BATCH * HIDDEN, 0.1);
    for (int with_extra = 0; with_extra <= 1; with_extra++) {
        struct energy_ctx c = {&g, x, g.fake_code, g.fake_error, with_extra ? projection : NULL,
                               0.7};
        const float *before = copy_of(g.disc_params, g.disc_count);
        energy_objective(&c);
        rs_ganmf_energy_backward_input(&g, g.fake_error, BATCH, c.coefficient, c.code_projection,
                                       d_input);
        ck_assert_msg(memcmp(before, g.disc_params, g.disc_count * sizeof(float)) == 0,
                      "the input backward must not touch D's parameters");
        free((void *)before);
        check_gradient(with_extra ? "energy + code term w.r.t. input" : "energy w.r.t. input", x,
                       BATCH * ITEMS, d_input, energy_objective, &c);
    }
    rs_ganmf_free(&g);
}
END_TEST

/* ---- hinge and feature matching ---- */
START_TEST(test_hinge_sides)
{
    double cr, cf;
    int active;
    /* Active: m D(x) > D(G): both energies matter. */
    double l = rs_ganmf_hinge(0.2, 1.0, 10.0, &cr, &cf, &active);
    ck_assert_int_eq(active, 1);
    ck_assert_double_eq_tol(l, 0.2 + (2.0 - 1.0), 1e-12);
    ck_assert_double_eq_tol(cr, 11.0, 1e-12);
    ck_assert_double_eq_tol(cf, -1.0, 1e-12);
    /* Inactive: the fake energy is already m times the real one. */
    l = rs_ganmf_hinge(0.2, 3.0, 10.0, &cr, &cf, &active);
    ck_assert_int_eq(active, 0);
    ck_assert_double_eq_tol(l, 0.2, 1e-12);
    ck_assert_double_eq_tol(cr, 1.0, 1e-12);
    ck_assert_double_eq_tol(cf, 0.0, 1e-12);
    /* The coefficients are the derivatives: central differences each side. */
    const double points[2][2] = {{0.2, 1.0}, {0.2, 3.0}}, e = 1e-4;
    for (int p = 0; p < 2; p++) {
        double a_r, a_f, ignore;
        rs_ganmf_hinge(points[p][0], points[p][1], 10.0, &a_r, &a_f, &active);
        double up = rs_ganmf_hinge(points[p][0] + e, points[p][1], 10.0, &ignore, &ignore, &active);
        double down =
            rs_ganmf_hinge(points[p][0] - e, points[p][1], 10.0, &ignore, &ignore, &active);
        ck_assert_double_eq_tol((up - down) / (2 * e), a_r, 1e-6);
        up = rs_ganmf_hinge(points[p][0], points[p][1] + e, 10.0, &ignore, &ignore, &active);
        down = rs_ganmf_hinge(points[p][0], points[p][1] - e, 10.0, &ignore, &ignore, &active);
        ck_assert_double_eq_tol((up - down) / (2 * e), a_f, 1e-6);
    }
}
END_TEST

struct matching_ctx {
    float *real, *fake;
};

static double matching_objective(void *p)
{
    struct matching_ctx *c = p;
    return 0.4 * rs_ganmf_feature_matching(c->real, c->fake, BATCH, HIDDEN, 1.0, NULL);
}

START_TEST(test_feature_matching_backward)
{
    rs_rng rng;
    rs_rng_seed(&rng, 9);
    float real[BATCH * HIDDEN], fake[BATCH * HIDDEN], d_fake[BATCH * HIDDEN];
    fill_normal(&rng, real, BATCH * HIDDEN, 1.0);
    fill_normal(&rng, fake, BATCH * HIDDEN, 1.0);
    rs_ganmf_feature_matching(real, fake, BATCH, HIDDEN, 0.4, d_fake);
    struct matching_ctx c = {real, fake};
    check_gradient("feature matching w.r.t. fake code", fake, BATCH * HIDDEN, d_fake,
                   matching_objective, &c);
    ck_assert_double_eq_tol(rs_ganmf_feature_matching(real, real, BATCH, HIDDEN, 1.0, NULL), 0.0,
                            1e-12);
}
END_TEST

/* ---- the full losses through every piece ---- */
static double discriminator_objective(void *p)
{
    return rs_ganmf_discriminator_loss(p, batch_users, BATCH, NULL);
}

static void check_discriminator_loss(float margin, int expect_active)
{
    rs_ganmf g;
    small_model(&g, margin, 0.05f);
    load_small_real(&g);
    rs_ganmf_stats s;
    rs_ganmf_discriminator_loss(&g, batch_users, BATCH, &s);
    ck_assert_int_eq(s.hinge_active, expect_active);
    /* Far enough from the kink that no perturbation crosses it. */
    const double gap = margin * s.real_energy - s.fake_energy;
    ck_assert_msg(fabs(gap) > 0.1 * s.fake_energy, "too close to the kink: %g", gap);
    float *analytic = copy_of(g.disc_grads, g.disc_count);
    check_gradient(expect_active ? "L_D (hinge active) w.r.t. D" : "L_D (hinge inactive) w.r.t. D",
                   g.disc_params, (long)g.disc_count, analytic, discriminator_objective, &g);
    free(analytic);
    rs_ganmf_free(&g);
}

START_TEST(test_discriminator_loss_both_sides)
{
    check_discriminator_loss(10.0f, 1);
    check_discriminator_loss(0.1f, 0);
}
END_TEST

static double generator_objective(void *p)
{
    return rs_ganmf_generator_loss(p, batch_users, BATCH, NULL);
}

START_TEST(test_generator_loss)
{
    rs_ganmf g;
    small_model(&g, 10.0f, 0.0f);
    load_small_real(&g);
    rs_ganmf_stats s;
    rs_ganmf_generator_loss(&g, batch_users, BATCH, &s);
    ck_assert_msg(s.feature_distance > 0, "feature term must be exercised");
    float *analytic = copy_of(g.gen_grads, g.gen_count);
    const float *disc_before = copy_of(g.disc_params, g.disc_count);
    check_gradient("L_G w.r.t. Sigma and V through D", g.gen_params, (long)g.gen_count, analytic,
                   generator_objective, &g);
    ck_assert(memcmp(disc_before, g.disc_params, g.disc_count * sizeof(float)) == 0);
    free((void *)disc_before);
    free(analytic);
    rs_ganmf_free(&g);
}
END_TEST

/* ---- training behaviour on the two-taste-group data set ---- */
static void remove_group_dir(const char *dir)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/train.tsv", dir);
    unlink(path);
    rmdir(dir);
}

static void group_model_lazy(rs_ganmf *g, const rs_dataset *d, uint64_t seed, float lr, int lazy)
{
    rs_ganmf_config c;
    rs_ganmf_config_default(&c);
    c.lazy_user_rows = lazy;
    c.factors = 8;
    c.hidden = 6;
    c.batch = 16;
    c.lr_discriminator = c.lr_generator = lr;
    c.seed = seed;
    rs_error err;
    ck_assert_msg(rs_ganmf_init(g, &c, d->train.n_rows, d->train.n_cols, &err) == 0, "%s", err.msg);
}

static void group_model(rs_ganmf *g, const rs_dataset *d, uint64_t seed, float lr)
{
    group_model_lazy(g, d, seed, lr, 0);
}

/* Two generator steps on different batches: with dense Adam (the authors'
 * TF1 semantics) the first batch's rows keep moving on their moments in
 * the second step; with lazy rows they stay, while the batch's rows and the
 * item rows move in both modes. A short batch (3 of 16) exercises the
 * packing of the lazy step. */
START_TEST(test_lazy_user_rows)
{
    char dir[256];
    rs_dataset d;
    test_two_group_dataset("ganmf-lazy", dir, sizeof(dir), &d);
    const uint32_t first[3] = {2, 9, 40}, second[3] = {5, 17, 33};
    for (int lazy = 0; lazy <= 1; lazy++) {
        rs_ganmf g;
        group_model_lazy(&g, &d, 3, 1e-2f, lazy);
        const size_t K = g.config.factors;
        rs_ganmf_generator_step(&g, &d.train, first, 3, NULL);
        float *after_first = copy_of(g.gen_params, g.gen_count);
        rs_ganmf_generator_step(&g, &d.train, second, 3, NULL);
        const int first_row_moved =
            memcmp(after_first + first[0] * K, g.user_factors + first[0] * K, K * sizeof(float));
        const int second_row_moved =
            memcmp(after_first + second[0] * K, g.user_factors + second[0] * K, K * sizeof(float));
        const int items_moved =
            memcmp(after_first + g.n_users * K, g.item_factors, g.n_items * K * sizeof(float));
        ck_assert_msg((first_row_moved != 0) == !lazy, "lazy %d: first batch's row moved %d", lazy,
                      first_row_moved);
        ck_assert(second_row_moved != 0);
        ck_assert(items_moved != 0);
        /* A user in neither batch never moves: its gradient and moments are 0. */
        ck_assert(memcmp(after_first, g.user_factors, K * sizeof(float)) == 0);
        free(after_first);
        rs_ganmf_free(&g);
    }
    rs_dataset_free(&d);
    remove_group_dir(dir);
}
END_TEST

START_TEST(test_steps_lower_their_losses)
{
    char dir[256];
    rs_dataset d;
    test_two_group_dataset("ganmf-step", dir, sizeof(dir), &d);
    rs_ganmf g;
    group_model(&g, &d, 1, 1e-3f);
    const uint32_t users[4] = {0, 7, 12, 31};
    rs_ganmf_stats before, after;
    for (int round = 0; round < 3; round++) {
        rs_ganmf_discriminator_step(&g, &d.train, users, 4, &before);
        rs_ganmf_load_real(&g, &d.train, users, 4);
        rs_ganmf_discriminator_loss(&g, users, 4, &after);
        ck_assert_msg(after.loss < before.loss, "D step: %g -> %g", before.loss, after.loss);
        rs_ganmf_generator_step(&g, &d.train, users, 4, &before);
        rs_ganmf_load_real(&g, &d.train, users, 4);
        rs_ganmf_generator_loss(&g, users, 4, &after);
        ck_assert_msg(after.loss < before.loss, "G step: %g -> %g", before.loss, after.loss);
    }
    rs_ganmf_free(&g);
    rs_dataset_free(&d);
    remove_group_dir(dir);
}
END_TEST

START_TEST(test_deterministic_from_seed)
{
    char dir[256];
    rs_dataset d;
    test_two_group_dataset("ganmf-seed", dir, sizeof(dir), &d);
    rs_ganmf a, b, other;
    group_model(&a, &d, 5, 1e-3f);
    group_model(&b, &d, 5, 1e-3f);
    group_model(&other, &d, 6, 1e-3f);
    for (int e = 0; e < 2; e++) {
        rs_ganmf_train_epoch(&a, &d.train, NULL);
        rs_ganmf_train_epoch(&b, &d.train, NULL);
        rs_ganmf_train_epoch(&other, &d.train, NULL);
    }
    ck_assert(memcmp(a.gen_params, b.gen_params, a.gen_count * sizeof(float)) == 0);
    ck_assert(memcmp(a.disc_params, b.disc_params, a.disc_count * sizeof(float)) == 0);
    ck_assert(memcmp(a.gen_params, other.gen_params, a.gen_count * sizeof(float)) != 0);
    rs_ganmf_free(&a);
    rs_ganmf_free(&b);
    rs_ganmf_free(&other);
    rs_dataset_free(&d);
    remove_group_dir(dir);
}
END_TEST

int main(void)
{
    /* The cases are tiny and the finite differences call the losses
     * thousands of times: one thread, or a loaded machine spends the time in
     * OpenMP barriers. */
    omp_set_num_threads(1);
    openblas_set_num_threads(1);
    Suite *s = suite_create("ganmf");
    TCase *tc = tcase_create("gradients");
    tcase_add_test(tc, test_generate_backward);
    tcase_add_test(tc, test_energy_backward_params);
    tcase_add_test(tc, test_energy_backward_input);
    tcase_add_test(tc, test_hinge_sides);
    tcase_add_test(tc, test_feature_matching_backward);
    tcase_add_test(tc, test_discriminator_loss_both_sides);
    tcase_add_test(tc, test_generator_loss);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("training");
    tcase_add_test(tt, test_steps_lower_their_losses);
    tcase_add_test(tt, test_deterministic_from_seed);
    tcase_add_test(tt, test_lazy_user_rows);
    tcase_set_timeout(tt, 60);
    suite_add_tcase(s, tt);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    const int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
