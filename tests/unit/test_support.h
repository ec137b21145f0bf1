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
#include "rng.h"

/* Asserts that call (an expression using rs_error err_) returns 0, and shows
 * the error message when it does not. */
#define ASSERT_OK(call)                                                                            \
    do {                                                                                           \
        rs_error err_ = {{0}};                                                                     \
        (void)err_;                                                                                \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == 0, "%s failed: %s", #call, err_.msg);                                 \
    } while (0)

/* n x d rows around `clusters` centres ~ N(0, I): row = s (centre + spread
 * N(0, I)) with s = exp(0.6 N(0, 1)), a log-normal norm spread (the hard case
 * for maximum inner product search). With integer != 0 the entries are
 * small integers, so many inner products tie exactly (integer sums are exact
 * in float). To free(). */
static inline float *test_clustered_rows(uint32_t n, uint32_t d, uint32_t clusters, float spread,
                                         int integer, rs_rng *rng)
{
    float *centres = malloc(sizeof(float) * clusters * d);
    float *x = malloc(sizeof(float) * (size_t)n * d);
    for (uint32_t i = 0; i < clusters * d; i++) centres[i] = (float)rs_rng_normal(rng);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c = (uint32_t)rs_rng_below(rng, clusters);
        float s = (float)exp(0.6 * rs_rng_normal(rng));
        for (uint32_t j = 0; j < d; j++) {
            float v = s * (centres[c * d + j] + spread * (float)rs_rng_normal(rng));
            x[(size_t)i * d + j] = integer ? (float)(int)(v * 2.0f) : v;
        }
    }
    free(centres);
    return x;
}

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

/* Removes a test directory and everything below it (a fixture's data
 * files and stores), failing the test when it cannot. */
static inline void test_remove_tree(const char *dir)
{
    char cmd[1100];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    ck_assert_int_eq(system(cmd), 0);
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

#endif
