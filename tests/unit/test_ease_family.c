/* test_ease_family.c - EASE as a family (--model ease, trainer/ease_family.c)
 * through the spine's callbacks and the server's model kind:
 *   - score() is the published sparse model's served ranking: on the items
 *     the history's kept rows touch, exactly rs_ease_sparse_score of an
 *     independent fit; every other item below them in popularity order;
 *   - published and loaded back (rs_model_load, core/itemitem.h), the
 *     serving path ranks every known user's stored history exactly as the
 *     trainer's scores do (same items, same order, bit-equal scores);
 *   - --ease-topk 0 (the dense model) is scored by rs_ease_score and not
 *     publishable; a catalogue whose fit does not fit --max-memory is
 *     refused at create time with rs_ease_fit's message. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ease.h"
#include "family.h"
#include "idtable.h"
#include "itemitem.h"
#include "model.h"
#include "publish.h"
#include "test_support_trainer.h"

enum { TOPK = 5 };

/* The ease family with set[0..n) applied, created for d (n_items: the
 * catalogue to claim, 0 = d's); returns create's code, options to free. */
static int create(const char *const (*set)[2], int n, const rs_dataset *d, uint32_t n_items,
                  rs_train_model *model, void **options, rs_error *err)
{
    const rs_family *f = rs_family_find("ease");
    ck_assert_ptr_nonnull(f);
    void *o = calloc(1, f->options_size);
    f->options_default(o);
    for (int i = 0; i < n; i++)
        ck_assert_int_eq(rs_option_apply(rs_family_option(f, set[i][0]), set[i][1], o), 0);
    rs_family_inputs in = {n_items ? n_items : d->report.n_items, d->popularity, 7,
                           d->report.n_users, &d->train};
    *options = o;
    return f->create(o, &in, model, err);
}

static void fit(rs_train_model *model, const rs_dataset *d)
{
    uint32_t users[4] = {0, 1, 2, 3};
    rs_rng rng;
    rs_rng_seed(&rng, 5);
    rs_train_batch batch = {&d->train, users, 4, 0.0f, &rng};
    rs_step_stats stats;
    rs_error err;
    ck_assert_msg(model->train_batch(model->self, &batch, &stats, &err) == 0, "%s", err.msg);
    ck_assert(model->train_batch(model->self, &batch, &stats, &err) == 0); /* later: nothing */
}

/* The reference: rs_ease_fit + rs_ease_sparsify at λ 500, by magnitude. */
static void reference(const rs_dataset *d, rs_ease *dense, rs_ease_sparse *sparse)
{
    rs_ease_options o;
    rs_ease_options_default(&o);
    o.reg = 500;
    rs_error err;
    ck_assert_int_eq(rs_ease_fit(&d->train, &o, dense, &err), 0);
    ck_assert_int_eq(rs_ease_sparsify(dense, TOPK, RS_EASE_KEEP_MAGNITUDE, sparse, &err), 0);
}

START_TEST(test_scores_are_the_sparse_model)
{
    char dir[256];
    rs_dataset d;
    test_two_group_dataset("ease", dir, sizeof(dir), &d);
    rs_train_model model;
    void *options;
    rs_error err;
    ck_assert_int_eq(
        create((const char *const[][2]){{"ease-topk", "5"}}, 1, &d, 0, &model, &options, &err), 0);
    fit(&model, &d);
    rs_ease dense;
    rs_ease_sparse sparse;
    reference(&d, &dense, &sparse);
    uint32_t M = d.report.n_items, users[60];
    for (uint32_t u = 0; u < 60; u++) users[u] = u;
    float *scores = malloc(sizeof(float) * M * 60), *want = malloc(sizeof(float) * M);
    ck_assert_int_eq(model.score(model.self, &d.known, users, 60, scores, &err), 0);
    for (uint32_t u = 0; u < 60; u++) {
        const uint32_t *h = d.known.indices + d.known.indptr[u];
        uint32_t n = (uint32_t)rs_csr_row_len(&d.known, u);
        rs_ease_sparse_score(&sparse, h, n, want);
        uint8_t touched[64] = {0};
        for (uint32_t k = 0; k < n; k++)
            for (uint64_t p = sparse.offsets[h[k]]; p < sparse.offsets[h[k] + 1]; p++)
                touched[sparse.columns[p]] = 1;
        const float *row = scores + (size_t)u * M;
        float lowest_touched = INFINITY, highest_other = -INFINITY;
        for (uint32_t j = 0; j < M; j++) {
            if (touched[j]) {
                ck_assert_msg(row[j] == want[j], "user %u item %u: %g vs %g", u, j, row[j],
                              want[j]);
                lowest_touched = fminf(lowest_touched, row[j]);
            } else {
                highest_other = fmaxf(highest_other, row[j]);
            }
            /* Untouched items rank by popularity among themselves. */
            for (uint32_t i = 0; i < M; i++)
                if (!touched[i] && !touched[j] && d.popularity[i] > d.popularity[j])
                    ck_assert(row[i] > row[j]);
        }
        ck_assert(highest_other < lowest_touched);
    }
    free(scores), free(want);
    rs_ease_free(&dense);
    rs_ease_sparse_free(&sparse);
    model.free(model.self);
    free(options);
    rs_dataset_free(&d);
    test_remove_tree(dir);
}
END_TEST

START_TEST(test_served_rankings_equal_the_trainers)
{
    char dir[256];
    rs_dataset d;
    test_two_group_dataset("ease-serve", dir, sizeof(dir), &d);
    rs_train_model model;
    void *options;
    rs_error err;
    ck_assert_int_eq(create((const char *const[][2]){{"ease-topk", "5"}, {"ease-keep", "largest"}},
                            2, &d, 0, &model, &options, &err),
                     0);
    fit(&model, &d);
    rs_store *store;
    rs_snapshot *snap;
    rs_model *m;
    test_publish_and_load(&model, &d, dir, &store, &snap, &m);
    ck_assert_str_eq(rs_model_family(m), "ease");
    ck_assert(!rs_snapshot_has(snap, "retrieval.midx.codebooks")); /* no serving index */
    const rs_itemitem *ii = rs_model_itemitem(m);
    ck_assert_ptr_nonnull(ii);
    ck_assert_uint_eq(ii->k, TOPK);
    uint32_t M = d.report.n_items, touched[64];
    float *scores = malloc(sizeof(float) * M), acc[64] = {0};
    uint8_t mark[64] = {0}, skip[64] = {0};
    rs_scored got[64], want[64];
    for (uint32_t u = 0; u < 60; u++) {
        const char *id = rs_idtable_name(d.users, u, NULL);
        const uint32_t *h;
        uint32_t n;
        ck_assert_int_eq(rs_model_user_history(m, id, strlen(id), &h, &n), 0);
        for (uint32_t k = 0; k < n; k++) skip[h[k]] = 1;
        ck_assert_int_eq(model.score(model.self, &d.known, &u, 1, scores, &err), 0);
        uint32_t n_want = rs_topk_dense(scores, M, skip, 10, want), n_touched;
        uint32_t n_got =
            rs_itemitem_recommend(ii, h, n, skip, 10, acc, mark, touched, &n_touched, got);
        /* The served top-N over touched items is the trainer's top-N (the
         * rest would be the fill-up, below every touched item). */
        ck_assert_uint_le(n_got, n_want);
        for (uint32_t t = 0; t < n_got; t++) {
            ck_assert_uint_eq(got[t].id, want[t].id);
            ck_assert(got[t].score == want[t].score);
        }
        for (uint32_t k = 0; k < n; k++) skip[h[k]] = 0;
    }
    free(scores);
    model.free(model.self);
    free(options);
    rs_dataset_free(&d);
    test_close_loaded(store, snap, m, dir);
}
END_TEST

START_TEST(test_dense_is_evaluation_only)
{
    char dir[256], store_dir[300];
    rs_dataset d;
    test_two_group_dataset("ease-dense", dir, sizeof(dir), &d);
    rs_train_model model;
    void *options;
    rs_error err;
    ck_assert_int_eq(
        create((const char *const[][2]){{"ease-topk", "0"}}, 1, &d, 0, &model, &options, &err), 0);
    fit(&model, &d);
    rs_ease dense;
    rs_ease_sparse sparse;
    reference(&d, &dense, &sparse);
    uint32_t M = d.report.n_items, user = 3;
    float *scores = malloc(sizeof(float) * M), *want = malloc(sizeof(float) * M);
    ck_assert_int_eq(model.score(model.self, &d.known, &user, 1, scores, &err), 0);
    rs_ease_score(&dense, d.known.indices + d.known.indptr[user],
                  (uint32_t)rs_csr_row_len(&d.known, user), want);
    for (uint32_t j = 0; j < M; j++) ck_assert(scores[j] == want[j]);
    snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
    json_t *training = json_object();
    uint64_t version;
    ck_assert_int_ne(rs_publish_model(store_dir, "v", &model, &d, training, 0, &version, &err), 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "--ease-topk"));
    json_decref(training);
    free(scores), free(want);
    rs_ease_free(&dense);
    rs_ease_sparse_free(&sparse);
    model.free(model.self);
    free(options);
    rs_dataset_free(&d);
    test_remove_tree(dir);
}
END_TEST

START_TEST(test_refuses_catalogues_that_do_not_fit)
{
    char dir[256];
    rs_dataset d;
    test_two_group_dataset("ease-memory", dir, sizeof(dir), &d);
    rs_train_model model;
    void *options;
    rs_error err;
    /* 100,000 items need about 120 GB; the bound is 64 MiB. */
    ck_assert_int_ne(create((const char *const[][2]){{"max-memory", "64"}}, 1, &d, 100000, &model,
                            &options, &err),
                     0);
    ck_assert_msg(strstr(err.msg, "EASE needs 100000 x 100000") && strstr(err.msg, "--max-memory"),
                  "%s", err.msg);
    free(options);
    /* The same bound admits the small catalogue. */
    ck_assert_int_eq(
        create((const char *const[][2]){{"max-memory", "64"}}, 1, &d, 0, &model, &options, &err),
        0);
    model.free(model.self);
    free(options);
    rs_dataset_free(&d);
    test_remove_tree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ease_family");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_scores_are_the_sparse_model);
    tcase_add_test(tc, test_served_rankings_equal_the_trainers);
    tcase_add_test(tc, test_dense_is_evaluation_only);
    tcase_add_test(tc, test_refuses_catalogues_that_do_not_fit);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
