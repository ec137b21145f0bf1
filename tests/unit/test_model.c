/* test_model.c - a trained model, published into a store and loaded back as
 * a servable model, scores every item exactly as the trainer does; the
 * store's contents round-trip bit-exactly; corruption and shape mismatches
 * are refused. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "model.h"
#include "publish.h"
#include "vae.h"
#include "test_support.h"

static char dir[256];

static void load_small(rs_dataset *d)
{
    test_two_group_dataset("model", dir, sizeof(dir), d);
}

static void train_and_publish(rs_dataset *d, rs_train_model *model, float pia)
{
    rs_vae_options o;
    rs_vae_options_default(&o);
    o.hidden = 16, o.latent = 4, o.batch_size = 20, o.pia_lambda = pia;
    rs_error err;
    ck_assert_int_eq(rs_vae_create(&o, d->report.n_items, model, &err), 0);
    rs_rng rng;
    rs_rng_seed(&rng, 3);
    uint32_t users[60];
    for (uint32_t u = 0; u < 60; u++) users[u] = u;
    for (int step = 0; step < 30; step++) {
        rs_train_batch batch = {&d->train, users + (step % 3) * 20, 20, 0.1f, &rng};
        rs_step_stats stats;
        ck_assert_int_eq(model->train_batch(model->self, &batch, &stats, &err), 0);
    }
    char store[300];
    snprintf(store, sizeof(store), "%s/store", dir);
    json_t *training = json_object();
    uint64_t version;
    ck_assert_msg(rs_publish_model(store, "v", model, d, training, 0, &version, &err) == 0, "%s",
                  err.msg);
    ck_assert_uint_eq(version, 1);
    json_decref(training);
}

static void open_model(rs_store **store, rs_snapshot **snap, rs_model **m)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/store", dir);
    rs_error err;
    ck_assert_msg(rs_store_open(path, RS_STORE_READONLY, 0, store, &err) == 0, "%s", err.msg);
    ck_assert_msg(rs_snapshot_open(*store, "v", 0, 1, snap, &err) == 0, "%s", err.msg);
    ck_assert_msg(rs_model_load(*snap, m, &err) == 0, "%s", err.msg);
}

static void remove_dir(void)
{
    test_remove_tree(dir);
}

/* _i = 0 plain, 1 with PIA anchors (published as an extra tensor). */
START_TEST(test_served_scores_equal_trainer_scores)
{
    rs_dataset d;
    load_small(&d);
    rs_train_model model;
    train_and_publish(&d, &model, _i ? 0.5f : 0.0f);
    rs_store *store;
    rs_snapshot *snap;
    rs_model *m;
    open_model(&store, &snap, &m);
    uint32_t M = rs_model_n_items(m), D = rs_model_dim(m);
    ck_assert_uint_eq(M, d.report.n_items);
    ck_assert_uint_eq(D, 16 + 1); /* hidden + the bias coordinate */
    ck_assert_str_eq(rs_model_family(m), "vae");
    ck_assert_int_eq(rs_snapshot_has(snap, "items.anchors"), _i);
    float *expected = malloc(sizeof(float) * M * 20);
    float *u = malloc(sizeof(float) * D),
          *scratch = malloc(sizeof(float) * rs_model_scratch_floats(m));
    rs_error err;
    uint32_t users[20];
    for (uint32_t r = 0; r < 20; r++) users[r] = r * 3;
    ck_assert_int_eq(model.score(model.self, &d.known, users, 20, expected, &err), 0);
    for (uint32_t r = 0; r < 20; r++) {
        /* The served path: id -> stored history -> encoder -> inner products. */
        char id[32];
        snprintf(id, sizeof(id), "%s", rs_idtable_name(d.users, users[r], NULL));
        const uint32_t *items;
        uint32_t n;
        ck_assert_int_eq(rs_model_user_history(m, id, strlen(id), &items, &n), 0);
        ck_assert_uint_eq(n, rs_csr_row_len(&d.known, users[r]));
        ck_assert_int_eq(rs_model_encode(m, items, n, u, scratch, &err), 0);
        for (uint32_t i = 0; i < M; i++) {
            const float *q = rs_model_item_matrix(m) + (size_t)i * D;
            double s = 0;
            for (uint32_t j = 0; j < D; j++) s += (double)u[j] * q[j];
            ck_assert_msg(fabs(s - expected[(size_t)r * M + i]) < 1e-4, "user %u item %u: %g vs %g",
                          users[r], i, s, expected[(size_t)r * M + i]);
        }
    }
    /* Duplicates and order in an ad-hoc history do not matter. */
    const uint32_t *items;
    uint32_t n;
    ck_assert_int_eq(rs_model_user_history(m, "user4", 5, &items, &n), 0);
    uint32_t *shuffled = malloc(sizeof(uint32_t) * 2 * n);
    for (uint32_t k = 0; k < n; k++) shuffled[k] = items[n - 1 - k], shuffled[n + k] = items[k];
    float *u2 = malloc(sizeof(float) * D);
    ck_assert_int_eq(rs_model_encode(m, items, n, u, scratch, &err), 0);
    ck_assert_int_eq(rs_model_encode(m, shuffled, 2 * n, u2, scratch, &err), 0);
    for (uint32_t j = 0; j < D; j++) ck_assert_float_eq_tol(u[j], u2[j], 1e-6);
    /* Ids and popularity round-trip. */
    uint32_t index;
    ck_assert_int_eq(rs_model_item_index(m, "item3", 5, &index), 0);
    ck_assert_str_eq(rs_model_item_id(m, index, NULL), "item3");
    ck_assert_int_eq(rs_model_item_index(m, "item999", 7, &index), -1);
    ck_assert_int_eq(rs_model_user_history(m, "nobody", 6, &items, &n), -1);
    for (uint32_t i = 0; i < M; i++) ck_assert_float_eq(rs_model_popularity(m)[i], d.popularity[i]);
    const uint32_t *order = rs_model_popular_order(m);
    for (uint32_t i = 1; i < M; i++)
        ck_assert(rs_model_popularity(m)[order[i - 1]] >= rs_model_popularity(m)[order[i]]);
    /* Out-of-range indices are refused, not read. */
    uint32_t bad = M;
    ck_assert_int_eq(rs_model_encode(m, &bad, 1, u, scratch, &err), -1);
    free(expected), free(u), free(u2), free(scratch), free(shuffled);
    rs_model_free(m);
    rs_snapshot_close(snap);
    rs_store_close(store);
    model.free(model.self);
    rs_dataset_free(&d);
    remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_served_scores_equal_trainer_scores, 0, 2);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
