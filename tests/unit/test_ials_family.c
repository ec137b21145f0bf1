/* test_ials_family.c - the factor-model families (--model ials, ganmf)
 * through the spine and the server's model (core/model_factor.c):
 *   - iALS: every epoch (one exact alternation) lowers the objective; the
 *     published stored factor of every known user, validation users
 *     included, equals the server's fold-in of their stored history (the
 *     same solve), and a partial history folds in exactly as the trainer's
 *     rs_ials_foldin;
 *   - GANMF: a known user is served their stored Sigma row; any other
 *     history the ridge solution, checked through its normal equations. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "family.h"
#include "ials.h"
#include "linalg.h"
#include "model.h"
#include "publish.h"
#include "test_support_trainer.h"

/* The two-group data with a validation carve-out, so that the known rows
 * (train + validation) differ from the training rows for some users. */
static void load_with_validation(char *dir, size_t cap, rs_dataset *d)
{
    rs_dataset plain;
    test_two_group_dataset("factors", dir, cap, &plain);
    rs_dataset_free(&plain);
    char path[1024];
    snprintf(path, sizeof(path), "%s/train.tsv", dir);
    rs_data_options o;
    rs_data_options_default(&o);
    o.train_path = path;
    o.valid_users = 12;
    rs_error err;
    ck_assert_msg(rs_dataset_load(&o, d, &err) == 0, "%s", err.msg);
    ck_assert_uint_gt(rs_csr_nnz(&d->known), rs_csr_nnz(&d->train));
}

/* The family called name with its defaults and set[0..n) applied, created
 * for d; the options are returned for freeing. */
static void *create_family(const char *name, const char *const (*set)[2], int n,
                           const rs_dataset *d, rs_train_model *model)
{
    const rs_family *f = rs_family_find(name);
    ck_assert_ptr_nonnull(f);
    void *o = calloc(1, f->options_size);
    f->options_default(o);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(rs_option_apply(rs_family_option(f, set[i][0]), set[i][1], o), 0);
    rs_family_inputs in = {d->report.n_items, d->popularity, 7, d->report.n_users, &d->train};
    rs_error err;
    ck_assert_msg(f->create(o, &in, model, &err) == 0, "%s", err.msg);
    return o;
}

/* Trains `epochs` epochs through the spine's callbacks; losses[e] is the
 * epoch's reported loss. */
static void train(rs_train_model *model, const rs_dataset *d, int epochs, double *losses)
{
    uint32_t users[16];
    rs_rng rng;
    rs_rng_seed(&rng, 5);
    for (int e = 0; e < epochs; e++) {
        rs_error err;
        ck_assert_int_eq(model->begin_epoch(model->self, e + 1, &rng, &err), 0);
        losses[e] = 0;
        for (uint32_t start = 0; start < 60; start += 16) {
            int size = 0;
            for (uint32_t u = start; u < 60 && size < 16; u++) users[size++] = u;
            rs_train_batch batch = {&d->train, users, size, 0.0f, &rng};
            rs_step_stats stats;
            ck_assert_msg(model->train_batch(model->self, &batch, &stats, &err) == 0, "%s",
                          err.msg);
            losses[e] += stats.loss;
        }
    }
}

static double max_abs_diff(const float *a, const float *b, uint32_t n)
{
    double worst = 0;
    for (uint32_t j = 0; j < n; j++) worst = fmax(worst, fabs((double)a[j] - b[j]));
    return worst;
}

START_TEST(test_ials_stored_factor_is_the_served_foldin)
{
    char dir[256];
    rs_dataset d;
    load_with_validation(dir, sizeof(dir), &d);
    static const char *const set[][2] = {{"factors", "6"}, {"reg", "0.05"}, {"alpha", "4"}};
    rs_train_model model;
    void *options = create_family("ials", set, 3, &d, &model);
    rs_error err;
    double losses[5];
    train(&model, &d, 5, losses);
    for (int e = 1; e < 5; e++)
        ck_assert_msg(losses[e] <= losses[e - 1] * (1 + 1e-5), "epoch %d: %g after %g", e + 1,
                      losses[e], losses[e - 1]);
    rs_store *store;
    rs_snapshot *snap;
    rs_model *m;
    test_publish_and_load(&model, &d, dir, &store, &snap, &m);
    ck_assert_str_eq(rs_model_family(m), "ials");
    uint32_t K = rs_model_dim(m), M = d.report.n_items;
    ck_assert_uint_eq(K, 6);
    float *stored = malloc(sizeof(float) * K), *folded = malloc(sizeof(float) * K);
    float *scratch = malloc(sizeof(float) * rs_model_scratch_floats(m));
    double worst = 0, validation_moved = 0;
    for (uint32_t u = 0; u < d.report.n_users; u++) {
        const char *id = rs_idtable_name(d.users, u, NULL);
        const uint32_t *items;
        uint32_t n;
        ck_assert_int_eq(rs_model_user_history(m, id, strlen(id), &items, &n), 0);
        ck_assert_int_eq(rs_model_encode_user(m, id, strlen(id), stored, scratch, &err), 0);
        ck_assert_int_eq(rs_model_encode(m, items, n, folded, scratch, &err), 0);
        double scale = 1e-6;
        for (uint32_t j = 0; j < K; j++) scale = fmax(scale, fabs(stored[j]));
        worst = fmax(worst, max_abs_diff(stored, folded, K) / scale);
        if (rs_csr_row_len(&d.valid, u) > 0) {
            /* The training row alone folds in elsewhere: the stored factor
             * came from the known row, as the server's history is. */
            ck_assert_int_eq(rs_model_encode(m, d.train.indices + d.train.indptr[u],
                                             rs_csr_row_len(&d.train, u), folded, scratch, &err),
                             0);
            validation_moved = fmax(validation_moved, max_abs_diff(stored, folded, K));
        }
    }
    ck_assert_msg(worst < 1e-5, "stored factor vs fold-in: relative %g", worst);
    ck_assert_msg(validation_moved > 1e-3, "validation users' factors ignore their known rows");
    /* A partial history (a new session) folds in as the trainer's solve. */
    const float *V = rs_model_item_matrix(m);
    rs_ials core = {d.report.n_users, M, K, 0.05f, 0.25f, 1.0f, NULL, (float *)V};
    float *gram = malloc(sizeof(float) * K * K), *expected = malloc(sizeof(float) * K);
    float *work = malloc(sizeof(float) * rs_foldin_workspace_floats(K));
    rs_gram(V, M, K, gram);
    uint32_t partial[3] = {d.known.indices[0], d.known.indices[1], d.known.indices[2]};
    ck_assert_int_eq(rs_ials_foldin(&core, gram, partial, 3, expected, work, &err), 0);
    ck_assert_int_eq(rs_model_encode(m, partial, 3, folded, scratch, &err), 0);
    ck_assert_msg(max_abs_diff(expected, folded, K) < 1e-6, "partial fold-in differs by %g",
                  max_abs_diff(expected, folded, K));
    test_check_served_scores(m, &model, &d, (uint32_t[]){0, 5, 11, 30}, 4);
    free(gram), free(expected), free(work), free(stored), free(folded), free(scratch);
    test_close_loaded(store, snap, m, dir);
    model.free(model.self);
    free(options);
    rs_dataset_free(&d);
}
END_TEST

START_TEST(test_ganmf_serves_sigma_and_ridge_foldin)
{
    char dir[256];
    rs_dataset d;
    load_with_validation(dir, sizeof(dir), &d);
    static const char *const set[][2] = {
        {"factors", "5"}, {"hidden", "8"}, {"batch", "16"}, {"foldin-reg", "2"}};
    rs_train_model model;
    void *options = create_family("ganmf", set, 4, &d, &model);
    rs_error err;
    double losses[2];
    train(&model, &d, 2, losses);
    rs_store *store;
    rs_snapshot *snap;
    rs_model *m;
    test_publish_and_load(&model, &d, dir, &store, &snap, &m);
    ck_assert_str_eq(rs_model_family(m), "ganmf");
    uint32_t K = rs_model_dim(m), M = d.report.n_items;
    float *u = malloc(sizeof(float) * K),
          *scratch = malloc(sizeof(float) * rs_model_scratch_floats(m));
    const float *sigma = model.params->t[0].value;
    for (uint32_t user = 0; user < d.report.n_users; user += 7) {
        const char *id = rs_idtable_name(d.users, user, NULL);
        ck_assert_int_eq(rs_model_encode_user(m, id, strlen(id), u, scratch, &err), 0);
        ck_assert(max_abs_diff(u, sigma + (size_t)user * K, K) == 0.0);
    }
    /* (VᵀV + λI) u = Vᵀ x for a new history x. */
    const float *V = rs_model_item_matrix(m);
    uint32_t history[4] = {1, 4, 9, 20};
    ck_assert_int_eq(rs_model_encode(m, history, 4, u, scratch, &err), 0);
    double worst = 0;
    for (uint32_t a = 0; a < K; a++) {
        double lhs = 2.0 * u[a], rhs = 0;
        for (uint32_t i = 0; i < M; i++) {
            double vu = 0;
            for (uint32_t b = 0; b < K; b++) vu += (double)V[i * K + b] * u[b];
            lhs += V[i * K + a] * vu;
        }
        for (int h = 0; h < 4; h++) rhs += V[history[h] * K + a];
        worst = fmax(worst, fabs(lhs - rhs) / fmax(1.0, fabs(rhs)));
    }
    ck_assert_msg(worst < 1e-4, "ridge normal equations off by %g", worst);
    test_check_served_scores(m, &model, &d, (uint32_t[]){0, 5, 11, 30}, 4);
    free(u), free(scratch);
    test_close_loaded(store, snap, m, dir);
    model.free(model.self);
    free(options);
    rs_dataset_free(&d);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ials_family");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_ials_stored_factor_is_the_served_foldin);
    tcase_add_test(tc, test_ganmf_serves_sigma_and_ridge_foldin);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
