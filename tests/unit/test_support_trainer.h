/* test_support_trainer.h - unit-test helpers that need the trainer layer
 * (trainer-layer tests only; test_support.h stays core-only so that core
 * tests compile under core's include path). */
#ifndef RS_TEST_SUPPORT_TRAINER_H
#define RS_TEST_SUPPORT_TRAINER_H

#include "idtable.h"
#include "model.h"
#include "publish.h"
#include "store.h"
#include "test_support.h"
#include "trainable.h"

/* The server's model m (loaded from what `model` published) gives the
 * n users users[] the trainer's own scores: stored history -> encoder ->
 * item matrix, every item within 1e-4. */
static inline void test_check_served_scores(rs_model *m, rs_train_model *model, const rs_dataset *d,
                                            const uint32_t *users, uint32_t n_users)
{
    uint32_t M = d->report.n_items, D = rs_model_dim(m);
    float *expected = malloc(sizeof(float) * M * n_users), *u = malloc(sizeof(float) * D);
    float *scratch = malloc(sizeof(float) * rs_model_scratch_floats(m));
    rs_error err;
    ck_assert_int_eq(model->score(model->self, &d->known, users, (int)n_users, expected, &err), 0);
    for (uint32_t r = 0; r < n_users; r++) {
        const char *id = rs_idtable_name(d->users, users[r], NULL);
        /* The known-user path: a factor model's stored factor, else the
         * encoding of the stored history. */
        ck_assert_int_eq(rs_model_encode_user(m, id, strlen(id), u, scratch, &err), 0);
        for (uint32_t i = 0; i < M; i++) {
            const float *q = rs_model_item_matrix(m) + (size_t)i * D;
            double s = 0;
            for (uint32_t j = 0; j < D; j++) s += (double)u[j] * q[j];
            ck_assert_msg(fabs(s - expected[(size_t)r * M + i]) < 1e-4,
                          "%s user %u item %u: %g vs %g", model->family, users[r], i, s,
                          expected[(size_t)r * M + i]);
        }
    }
    free(expected), free(u), free(scratch);
}

/* Publishes `model` (variant "v") into DIR/store and opens what a server
 * would load: the store read-only, version 1's snapshot, the model. */
static inline void test_publish_and_load(rs_train_model *model, const rs_dataset *d,
                                         const char *dir, rs_store **store, rs_snapshot **snap,
                                         rs_model **m)
{
    char store_dir[1100];
    snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
    json_t *training = json_object();
    uint64_t version;
    rs_error err;
    ck_assert_msg(rs_publish_model(store_dir, "v", model, d, training, 0, &version, &err) == 0,
                  "%s", err.msg);
    json_decref(training);
    ck_assert_int_eq(rs_store_open(store_dir, RS_STORE_READONLY, 0, store, &err), 0);
    ck_assert_int_eq(rs_snapshot_open(*store, "v", 0, 1, snap, &err), 0);
    ck_assert_msg(rs_model_load(*snap, m, &err) == 0, "%s", err.msg);
}

/* Undoes test_publish_and_load and removes DIR. */
static inline void test_close_loaded(rs_store *store, rs_snapshot *snap, rs_model *m,
                                     const char *dir)
{
    rs_model_free(m);
    rs_snapshot_close(snap);
    rs_store_close(store);
    test_remove_tree(dir);
}

#endif
