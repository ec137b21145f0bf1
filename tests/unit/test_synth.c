/* test_synth.c - the synthetic data set: reproducible, loadable, long-tailed,
 * and structured enough that learning from co-occurrence beats popularity. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "synth.h"

static char tmpdir[256];

static void setup(void)
{
    strcpy(tmpdir, "/tmp/rs_test_synth_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
}

static void teardown(void)
{
    char path[512];
    const char *names[] = {"a_train", "a_test", "b_train", "b_test", "c_train", "c_test"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        snprintf(path, sizeof(path), "%s/%s", tmpdir, names[k]);
        unlink(path);
    }
    rmdir(tmpdir);
}

static char *path_of(const char *name)
{
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, 512, "%s/%s", tmpdir, name);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

static int same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = slurp(a, &la), *y = slurp(b, &lb);
    int same = la == lb && memcmp(x, y, la) == 0;
    free(x);
    free(y);
    return same;
}

START_TEST(test_deterministic)
{
    rs_synth_options o;
    rs_synth_options_default(&o);
    o.n_users = 500;
    rs_error err;
    ck_assert_msg(rs_synth_write(&o, path_of("a_train"), path_of("a_test"), &err) == 0, "%s",
                  err.msg);
    ck_assert_msg(rs_synth_write(&o, path_of("b_train"), path_of("b_test"), &err) == 0, "%s",
                  err.msg);
    o.seed++;
    ck_assert_msg(rs_synth_write(&o, path_of("c_train"), path_of("c_test"), &err) == 0, "%s",
                  err.msg);
    ck_assert(same_file(path_of("a_train"), path_of("b_train")));
    ck_assert(same_file(path_of("a_test"), path_of("b_test")));
    ck_assert(!same_file(path_of("a_train"), path_of("c_train")));
    /* Bad options and unwritable paths fail cleanly. */
    o.n_tastes = 0;
    ck_assert_int_eq(rs_synth_write(&o, path_of("a_train"), path_of("a_test"), &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "taste"));
    rs_synth_options_default(&o);
    ck_assert_int_eq(rs_synth_write(&o, "/nonexistent-dir/train.tsv", path_of("a_test"), &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent-dir/train.tsv"));
}
END_TEST

START_TEST(test_loads_as_dataset)
{
    rs_synth_options o;
    rs_synth_options_default(&o);
    rs_error err;
    const char *train = path_of("a_train"), *test = path_of("a_test");
    ck_assert_msg(rs_synth_write(&o, train, test, &err) == 0, "%s", err.msg);
    rs_synth_data s;
    ck_assert_int_eq(rs_synth_generate(&o, &s, &err), 0);
    uint64_t total = s.indptr[s.n_users], n_test = 0;
    for (uint64_t k = 0; k < total; k++) n_test += s.is_test[k];

    rs_data_options d_o;
    rs_data_options_default(&d_o);
    d_o.train_path = train;
    d_o.test_path = test;
    d_o.split = RS_SPLIT_FILE;
    rs_dataset d;
    ck_assert_msg(rs_dataset_load(&d_o, &d, &err) == 0, "%s", err.msg);
    const rs_data_report *r = &d.report;
    ck_assert_int_eq(r->header_skipped, 1);
    ck_assert_int_eq(r->test_header_skipped, 1);
    ck_assert_str_eq(r->separator, "\t");
    ck_assert_uint_eq(r->duplicates, 0);
    ck_assert_uint_eq(rs_idtable_count(d.users), o.n_users);
    ck_assert_uint_eq(r->test_users, o.n_users); /* every history has >= 5 items */
    ck_assert_uint_eq(r->test_unknown_user, 0);
    ck_assert_uint_eq(r->test_in_train + r->test_duplicates, 0);
    ck_assert_uint_eq(r->interactions_kept, total - n_test);
    ck_assert_uint_eq(rs_csr_nnz(&d.test) + r->test_unknown_item, n_test);
    /* The mean history is about what was asked for. */
    double mean = (double)total / o.n_users;
    ck_assert_double_gt(mean, 0.85 * o.mean_history);
    ck_assert_double_lt(mean, 1.25 * o.mean_history);
    /* Per user 20 % (rounded) in test, at least 5 items, all distinct.
     * (Counted, then asserted once: libcheck records every assertion.) */
    uint32_t bad_len = 0, bad_split = 0, repeats = 0;
    for (uint32_t u = 0; u < s.n_users; u++) {
        uint32_t n = (uint32_t)(s.indptr[u + 1] - s.indptr[u]), t = 0;
        bad_len += n < 5;
        for (uint64_t k = s.indptr[u]; k < s.indptr[u + 1]; k++) t += s.is_test[k];
        bad_split += t != (uint32_t)floor(0.2 * n + 0.5);
        for (uint64_t a = s.indptr[u]; a < s.indptr[u + 1]; a++)
            for (uint64_t b = a + 1; b < s.indptr[u + 1]; b++) repeats += s.items[a] == s.items[b];
    }
    ck_assert_uint_eq(bad_len, 0);
    ck_assert_uint_eq(bad_split, 0);
    ck_assert_uint_eq(repeats, 0);
    rs_dataset_free(&d);
    rs_synth_data_free(&s);
}
END_TEST

static int desc_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

START_TEST(test_long_tail_and_tastes)
{
    rs_synth_options o;
    rs_synth_options_default(&o);
    rs_synth_data s;
    rs_error err;
    ck_assert_int_eq(rs_synth_generate(&o, &s, &err), 0);
    float *count = calloc(s.n_items, sizeof(float));
    uint64_t total = s.indptr[s.n_users], in_taste = 0;
    uint32_t no_taste = 0;
    for (uint32_t u = 0; u < s.n_users; u++) {
        const uint32_t *t = s.user_tastes + (size_t)u * 3;
        no_taste += t[0] >= s.n_tastes; /* at least one taste */
        for (uint64_t k = s.indptr[u]; k < s.indptr[u + 1]; k++) {
            uint32_t c = s.item_taste[s.items[k]];
            in_taste += c == t[0] || c == t[1] || c == t[2];
            count[s.items[k]] += 1;
        }
    }
    ck_assert_uint_eq(no_taste, 0);
    /* Expected share: taste_share, plus the global draws that happen to land
     * in the user's tastes (the clusters' total popularity weight). */
    double *cluster_weight = calloc(s.n_tastes, sizeof(double)), expected = 0;
    for (uint32_t i = 0; i < s.n_items; i++) cluster_weight[s.item_taste[i]] += s.item_weight[i];
    for (uint32_t u = 0; u < s.n_users; u++) {
        const uint32_t *t = s.user_tastes + (size_t)u * 3;
        double w = 0;
        for (int k = 0; k < 3; k++) w += t[k] < s.n_tastes ? cluster_weight[t[k]] : 0;
        expected +=
            (double)(s.indptr[u + 1] - s.indptr[u]) * (o.taste_share + (1 - o.taste_share) * w);
    }
    expected /= (double)total;
    free(cluster_weight);
    double share = (double)in_taste / (double)total;
    printf("synth: %.3f of interactions in the user's tastes (expected %.3f)\n", share, expected);
    /* Slightly below: a global draw that repeats an item (more likely a
     * taste item, since the user has many) is redrawn globally. */
    ck_assert_double_lt(share, expected + 0.01);
    ck_assert_double_gt(share, expected - 0.05);
    ck_assert_double_gt(share, 0.7);
    /* Long tail: the top 10 % of items hold far more than 10 % of the
     * interactions, the bottom half far less than half. */
    qsort(count, s.n_items, sizeof(float), desc_float);
    double top = 0, bottom = 0;
    for (uint32_t i = 0; i < s.n_items / 10; i++) top += count[i];
    for (uint32_t i = s.n_items / 2; i < s.n_items; i++) bottom += count[i];
    printf("synth: top 10%% items %.3f, bottom 50%% items %.3f of interactions, max %g, median "
           "%g\n",
           top / (double)total, bottom / (double)total, count[0], count[s.n_items / 2]);
    ck_assert_double_gt(top / (double)total, 0.30);
    ck_assert_double_lt(bottom / (double)total, 0.20);
    ck_assert_float_gt(count[0], 10 * count[s.n_items / 2]);
    free(count);
    rs_synth_data_free(&s);
}
END_TEST

/* Recall@20 on the test split of item-item cosine co-occurrence scoring
 * (a model that learns the structure) against popularity. */
static double recall_at(const rs_dataset *d, const float *scores_all, uint32_t u, uint32_t k)
{
    uint32_t ni = d->train.n_cols;
    uint8_t *taken = calloc(ni, 1);
    for (uint64_t j = d->train.indptr[u]; j < d->train.indptr[u + 1]; j++)
        taken[d->train.indices[j]] = 1;
    uint32_t hits = 0, n_test = rs_csr_row_len(&d->test, u);
    for (uint32_t r = 0; r < k; r++) {
        uint32_t best = UINT32_MAX;
        for (uint32_t i = 0; i < ni; i++)
            if (!taken[i] && (best == UINT32_MAX || scores_all[i] > scores_all[best])) best = i;
        if (best == UINT32_MAX) break;
        taken[best] = 1;
        for (uint64_t j = d->test.indptr[u]; j < d->test.indptr[u + 1]; j++)
            hits += d->test.indices[j] == best;
    }
    free(taken);
    return (double)hits / (double)(n_test < k ? n_test : k);
}

START_TEST(test_structure_beats_popularity)
{
    rs_synth_options o;
    rs_synth_options_default(&o);
    rs_error err;
    const char *train = path_of("a_train"), *test = path_of("a_test");
    ck_assert_msg(rs_synth_write(&o, train, test, &err) == 0, "%s", err.msg);
    rs_data_options d_o;
    rs_data_options_default(&d_o);
    d_o.train_path = train;
    d_o.test_path = test;
    d_o.split = RS_SPLIT_FILE;
    rs_dataset d;
    ck_assert_msg(rs_dataset_load(&d_o, &d, &err) == 0, "%s", err.msg);
    uint32_t nu = d.train.n_rows, ni = d.train.n_cols;
    float *co = calloc((size_t)ni * ni, sizeof(float));
    for (uint32_t u = 0; u < nu; u++)
        for (uint64_t a = d.train.indptr[u]; a < d.train.indptr[u + 1]; a++)
            for (uint64_t b = d.train.indptr[u]; b < d.train.indptr[u + 1]; b++)
                if (a != b) co[(size_t)d.train.indices[a] * ni + d.train.indices[b]] += 1;
    for (uint32_t i = 0; i < ni; i++)
        for (uint32_t j = 0; j < ni; j++) {
            float norm = sqrtf((d.popularity[i] + 1) * (d.popularity[j] + 1));
            co[(size_t)i * ni + j] /= norm;
        }
    float *score = malloc(ni * sizeof(float));
    double r_knn = 0, r_pop = 0;
    uint32_t n_eval = 0;
    for (uint32_t u = 0; u < nu; u += 4) { /* every 4th user keeps it quick */
        if (rs_csr_row_len(&d.test, u) == 0) continue;
        memset(score, 0, ni * sizeof(float));
        for (uint64_t a = d.train.indptr[u]; a < d.train.indptr[u + 1]; a++) {
            const float *row = co + (size_t)d.train.indices[a] * ni;
            for (uint32_t j = 0; j < ni; j++) score[j] += row[j];
        }
        r_knn += recall_at(&d, score, u, 20);
        r_pop += recall_at(&d, d.popularity, u, 20);
        n_eval++;
    }
    r_knn /= n_eval;
    r_pop /= n_eval;
    printf("synth: Recall@20 item-kNN %.4f, popularity %.4f (%u users)\n", r_knn, r_pop, n_eval);
    ck_assert_double_gt(r_knn, 1.5 * r_pop);
    free(score);
    free(co);
    rs_dataset_free(&d);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("synth");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_deterministic);
    tcase_add_test(tc, test_loads_as_dataset);
    tcase_add_test(tc, test_long_tail_and_tastes);
    tcase_add_test(tc, test_structure_beats_popularity);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
