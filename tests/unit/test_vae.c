/* test_vae.c - the whole Mult-VAE objective: the gradient of every parameter
 * against central finite differences, and training that lowers the loss and
 * ranks a planted structure above chance. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "evaluate.h"
#include "vae.h"

/* Three users over seven items. */
static uint64_t indptr[] = {0, 3, 5, 9};
static uint32_t indices[] = {0, 2, 5, 1, 2, 0, 3, 4, 6};
static const rs_csr data = {3, 7, indptr, indices, NULL};
static const uint32_t users[] = {0, 1, 2};

/* _i = 0: plain Mult-VAE; _i = 1: with the PIA regulariser and anchors. */
START_TEST(test_gradient_matches_finite_differences)
{
    rs_vae_options o;
    rs_vae_options_default(&o);
    o.hidden = 5, o.latent = 3, o.batch_size = 3, o.seed = 11;
    o.pia_lambda = _i ? 0.7f : 0.0f;
    rs_train_model model;
    rs_error err;
    ck_assert_int_eq(rs_vae_create(&o, 7, &model, &err), 0);
    rs_vae *vae = rs_vae_of(&model);
    float eps[9] = {0.3f, -1.2f, 0.5f, 0.1f, 0.8f, -0.4f, -0.7f, 0.2f, 1.1f};
    rs_train_batch batch = {&data, users, 3, 0.35f, NULL};
    size_t n = model.params->n_floats;
    float *params = model.params->block;
    /* Larger weights than the initialisation, so every path matters. */
    for (size_t i = 0; i < n; i++) params[i] *= 4.0f;
    double objective;
    ck_assert_int_eq(rs_vae_gradient(vae, &batch, eps, &objective, &err), 0);
    float *analytic = malloc(n * sizeof(float));
    const float *gradient = rs_params_dense_gradient(model.params, &err);
    ck_assert_ptr_nonnull(gradient);
    memcpy(analytic, gradient, n * sizeof(float));
    const float h = 1e-2f;
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        float saved = params[i];
        double up, down;
        params[i] = saved + h;
        rs_vae_gradient(vae, &batch, eps, &up, &err);
        params[i] = saved - h;
        rs_vae_gradient(vae, &batch, eps, &down, &err);
        params[i] = saved;
        double numeric = (up - down) / (2.0 * h);
        double rel = fabs(numeric - analytic[i]) / fmax(1e-2, fabs(numeric) + fabs(analytic[i]));
        if (rel > worst) worst = rel;
    }
    ck_assert_msg(worst < 1e-2, "worst relative gradient error %g over %zu parameters", worst, n);
    /* With PIA the block holds the anchors too: 7 items x 3 latent. */
    ck_assert_uint_eq(n, 7 * 5 + 5 + 5 * 6 + 6 + 3 * 5 + 5 + 7 * 5 + 7 + (_i ? 7 * 3 : 0));
    free(analytic);
    model.free(model.self);
}
END_TEST

/* Two taste groups: users of group g hold most items of group g. The model
 * must learn to rank a held-out item of the user's group first. */
START_TEST(test_training_learns_structure)
{
    enum { U = 200, M = 40, PER = 8 };
    uint64_t *ip = malloc((U + 1) * sizeof(uint64_t)), *tp = malloc((U + 1) * sizeof(uint64_t));
    uint32_t *ix = malloc(U * PER * sizeof(uint32_t)), *tx = malloc(U * sizeof(uint32_t));
    rs_rng rng;
    rs_rng_seed(&rng, 5);
    ip[0] = tp[0] = 0;
    for (uint32_t u = 0; u < U; u++) {
        uint32_t base = (u % 2) * (M / 2), held = base + (uint32_t)rs_rng_below(&rng, M / 2);
        uint32_t n = 0;
        for (uint32_t i = base; i < base + M / 2 && n < PER; i++)
            if (i != held && rs_rng_below(&rng, 2)) ix[ip[u] + n++] = i;
        ip[u + 1] = ip[u] + n;
        tx[u] = held;
        tp[u + 1] = u + 1;
    }
    rs_csr train = {U, M, ip, ix, NULL}, test = {U, M, tp, tx, NULL};
    rs_vae_options o;
    rs_vae_options_default(&o);
    o.hidden = 32, o.latent = 8, o.batch_size = 50, o.lr = 3e-3f;
    rs_train_model model;
    rs_error err;
    ck_assert_int_eq(rs_vae_create(&o, M, &model, &err), 0);
    uint32_t order[U];
    for (uint32_t u = 0; u < U; u++) order[u] = u;
    double first = 0, last = 0;
    for (int epoch = 0; epoch < 60; epoch++) {
        rs_rng epoch_rng;
        rs_rng_split(&rng, (uint64_t)epoch, &epoch_rng);
        double total = 0;
        for (int b = 0; b < U; b += 50) {
            rs_train_batch batch = {&train, order + b, 50, 0.1f, &epoch_rng};
            rs_step_stats stats;
            ck_assert_int_eq(model.train_batch(model.self, &batch, &stats, &err), 0);
            total += stats.loss;
        }
        if (epoch == 0) first = total;
        last = total;
    }
    ck_assert_msg(last < 0.8 * first, "loss %g -> %g", first, last);
    rs_metric_set set = {0};
    rs_metric_set_find_or_add(&set, "recall@5");
    rs_eval_result result;
    ck_assert_int_eq(rs_evaluate(&model, &train, &train, &test, &set, &result, &err), 0);
    ck_assert_uint_eq(result.n_users, U);
    /* Chance is about 5 / (40 - 4) = 0.14; a model that learned the two
     * groups ranks only the ~16 unseen same-group items: about 0.4. */
    ck_assert_msg(result.values[0] > 0.3, "recall@5 %g", result.values[0]);
    model.free(model.self);
    free(ip), free(tp), free(ix), free(tx);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("vae");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_gradient_matches_finite_differences, 0, 2);
    tcase_add_test(tc, test_training_learns_structure);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
