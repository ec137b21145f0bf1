/* test_support.h - helpers shared by the unit tests (header only: each
 * test_*.c is its own program). */
#ifndef RS_TEST_SUPPORT_H
#define RS_TEST_SUPPORT_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <math.h>
#include <string.h>

#include "dataset.h"
#include "model.h"
#include "trainable.h"

/* Asserts that call (an expression using rs_error err_) returns 0, and shows
 * the error message when it does not. */
#define ASSERT_OK(call)                                                                            \
    do {                                                                                           \
        rs_error err_ = {{0}};                                                                     \
        (void)err_;                                                                                \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == 0, "%s failed: %s", #call, err_.msg);                                 \
    } while (0)

/* Asserts that msg contains needle. */
static inline void assert_has(const char *msg, const char *needle)
{
    ck_assert_msg(strstr(msg, needle) != NULL, "message '%s' lacks '%s'", msg, needle);
}

/* Removes a test store: the LMDB files in dir, then dir. */
static inline void test_remove_store(const char *dir)
{
    static const char *const files[] = {"data.mdb", "lock.mdb"};
    char path[1024];
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* 60 users over 30 items in two taste groups, written as a CSV file into a
 * fresh directory (/tmp/recsys-test-TAG-XXXXXX, returned in dir) and read
 * back through the data loader. */
static inline void test_two_group_dataset(const char *tag, char *dir, size_t dir_cap, rs_dataset *d)
{
    snprintf(dir, dir_cap, "/tmp/recsys-test-%s-XXXXXX", tag);
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[1024];
    snprintf(path, sizeof(path), "%s/train.tsv", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "user,item\n");
    for (int u = 0; u < 60; u++)
        for (int i = 0; i < 30; i++)
            if ((i % 2 == u % 2) && (i * 7 + u * 3) % 5 != 0) fprintf(f, "user%d,item%d\n", u, i);
    fclose(f);
    rs_data_options o;
    rs_data_options_default(&o);
    o.train_path = path;
    rs_error err;
    ck_assert_msg(rs_dataset_load(&o, d, &err) == 0, "%s", err.msg);
}

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
        const uint32_t *items;
        uint32_t n;
        ck_assert_int_eq(rs_model_user_history(m, id, strlen(id), &items, &n), 0);
        ck_assert_int_eq(rs_model_encode(m, items, n, u, scratch, &err), 0);
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

#endif
