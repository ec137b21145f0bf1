/* test_server_outcomes.c - the feedback tables and the report statistics:
 * Wilson intervals and the two-proportion test against reference values;
 * 200 seeded A/A simulations through the real outcome counters (the test
 * declares a difference in 5% +- 3% of them) and A/B ones with a true
 * difference (found in most); user, conversion, hit and type counting and
 * the full users table; the impressions table (eviction, expiry, replace,
 * concurrent writers and readers); fresh histories (filters, the per-key
 * ring, the key limit). */
#include <check.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events_parse.h"
#include "experiment.h"
#include "fresh.h"
#include "impressions.h"
#include "outcomes.h"
#include "rng.h"

#define ASSERT_OK(call)                                                                            \
    do {                                                                                           \
        rs_error err_ = {{0}};                                                                     \
        int rc_ = (call);                                                                          \
        ck_assert_msg(rc_ == 0, "%s failed: %s", #call, err_.msg);                                 \
    } while (0)

static rs_ab *two_arms(void)
{
    json_error_t jerr;
    json_t *j = json_loads("[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"control\","
                           "\"weight\":1},{\"name\":\"candidate\",\"weight\":1}]}]",
                           0, &jerr);
    ck_assert_ptr_nonnull(j);
    rs_ab *ab;
    ASSERT_OK(rs_ab_parse(j, NULL, 0, &ab, &err_));
    json_decref(j);
    return ab;
}

static const char *const types[] = {"view", "click", "purchase"};

START_TEST(test_reference_values)
{
    double lo, hi, z;
    rs_wilson95(10, 100, &lo, &hi);
    ck_assert_double_eq_tol(lo, 0.05523, 1e-4);
    ck_assert_double_eq_tol(hi, 0.17437, 1e-4);
    rs_wilson95(0, 50, &lo, &hi);
    ck_assert_double_eq_tol(lo, 0.0, 1e-12);
    ck_assert_double_eq_tol(hi, 0.07135, 1e-4);
    double p = rs_two_proportion_p(50, 100, 30, 100, &z);
    ck_assert_double_eq_tol(z, 2.88675, 1e-4);
    ck_assert_double_eq_tol(p, 0.003892, 1e-5);
    p = rs_two_proportion_p(30, 100, 50, 100, &z);
    ck_assert_double_eq_tol(z, -2.88675, 1e-4);
    ck_assert_double_eq_tol(p, 0.003892, 1e-5);
    ck_assert_double_eq(rs_two_proportion_p(0, 0, 5, 10, &z), 1.0);
    ck_assert_double_eq(rs_two_proportion_p(0, 10, 0, 10, &z), 1.0);
}
END_TEST

/* One simulated experiment: users per arm, each converting with its arm's
 * probability, fed through the outcome counters; the candidate's p value. */
static double simulate(const rs_ab *ab, uint64_t seed, int users, double p_control,
                       double p_candidate, int *control_ci_holds)
{
    rs_outcomes *o;
    ASSERT_OK(rs_outcomes_create(ab, types, 3, 4 * (size_t)users, &o, &err_));
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    char key[32];
    for (int u = 0; u < 2 * users; u++) {
        int arm = u % 2;
        snprintf(key, sizeof(key), "s%llu-u%d", (unsigned long long)seed, u);
        uint64_t h = rs_id_hash(key, strlen(key));
        rs_outcomes_impression(o, 0, arm, h);
        rs_outcomes_impression(o, 0, arm, h);     /* a second answer: still one user */
        rs_outcomes_event(o, 0, arm, h, 0, 0, 1); /* a view converts nobody */
        if (rs_rng_uniform(&rng) < (arm ? p_candidate : p_control)) {
            rs_outcomes_event(o, 0, arm, h, 1, 1, 1);
            rs_outcomes_event(o, 0, arm, h, 2, 1, 0); /* converts once */
        }
    }
    json_t *r = rs_outcomes_report(o, 0);
    json_t *arms = json_object_get(r, "variants");
    json_t *control = json_array_get(arms, 0), *cand = json_array_get(arms, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(control, "users")), users);
    ck_assert_int_eq(json_integer_value(json_object_get(cand, "impressions")), 2 * users);
    json_t *ci = json_object_get(control, "conversion_ci95");
    *control_ci_holds = json_real_value(json_array_get(ci, 0)) <= p_control &&
                        p_control <= json_real_value(json_array_get(ci, 1));
    double p = json_real_value(json_object_get(json_object_get(cand, "vs_control"), "p_value"));
    json_decref(r);
    rs_outcomes_free(o);
    return p;
}

START_TEST(test_aa_and_ab_simulations)
{
    rs_ab *ab = two_arms();
    int aa_rejected = 0, ab_rejected = 0, covered = 0, holds;
    for (uint64_t seed = 1; seed <= 200; seed++) {
        aa_rejected += simulate(ab, seed, 1000, 0.10, 0.10, &holds) < 0.05;
        covered += holds;
        ab_rejected += simulate(ab, 1000 + seed, 1000, 0.10, 0.15, &holds) < 0.05;
    }
    printf("A/A: %d of 200 declared different (%.1f%%); A/B 10%% vs 15%%: %d of 200; control "
           "interval held %d of 200\n",
           aa_rejected, aa_rejected / 2.0, ab_rejected, covered);
    ck_assert_msg(aa_rejected >= 4 && aa_rejected <= 16, "A/A rejections %d of 200", aa_rejected);
    ck_assert_msg(ab_rejected >= 170, "A/B found in %d of 200", ab_rejected);
    ck_assert_msg(covered >= 180, "95%% interval covered %d of 200", covered);
    rs_ab_free(ab);
}
END_TEST

START_TEST(test_counting)
{
    rs_ab *ab = two_arms();
    rs_outcomes *o;
    ASSERT_OK(rs_outcomes_create(ab, types, 3, 64, &o, &err_));
    ck_assert_int_eq(rs_outcomes_find(o, "e", 1), 0);
    ck_assert_int_eq(rs_outcomes_find(o, "f", 1), -1);
    /* 200 users into a table of 64: every one counted as a user or untracked. */
    for (int u = 0; u < 200; u++) rs_outcomes_impression(o, 0, 1, (uint64_t)u * 7919 + 1);
    rs_outcomes_event(o, 0, 1, 1, 1, 1, 1);
    rs_outcomes_event(o, 0, 1, 1, 1, 1, 0);      /* the same user again */
    rs_outcomes_event(o, 0, 1, 999999, 1, 1, 0); /* never served: no conversion */
    rs_outcomes_event(o, 0, 5, 1, 1, 1, 0);      /* no such arm: ignored */
    json_t *r = rs_outcomes_report(o, 0);
    json_t *cand = json_array_get(json_object_get(r, "variants"), 1);
    json_int_t users = json_integer_value(json_object_get(cand, "users"));
    json_int_t untracked = json_integer_value(json_object_get(cand, "untracked_users"));
    ck_assert_int_le(users, 64);
    ck_assert_int_eq(users + untracked, 200);
    ck_assert_int_eq(json_integer_value(json_object_get(cand, "converted_users")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(cand, "attributed_events")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(cand, "hits")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(cand, "events"), "click")),
                     3);
    ck_assert(json_is_null(
        json_object_get(json_array_get(json_object_get(r, "variants"), 0), "vs_control")));
    json_decref(r);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    rs_outcomes_render(o, out);
    fclose(out);
    ck_assert_ptr_nonnull(
        strstr(text, "recsys_outcome_events_total{experiment=\"e\",variant=\"candidate\","
                     "type=\"click\"} 3\n"));
    ck_assert_ptr_nonnull(strstr(
        text, "recsys_outcome_converted_users_total{experiment=\"e\",variant=\"candidate\"} 1\n"));
    free(text);
    rs_outcomes_free(o);
    rs_ab_free(ab);
}
END_TEST

START_TEST(test_event_rules)
{
    rs_event_rules r;
    rs_error err = {0};
    ASSERT_OK(rs_event_rules_init(&r, "view,click,buy_2", "click", 10, &err_));
    ck_assert_int_eq(r.n_types, 3);
    ck_assert_str_eq(r.types_text, "view,click,buy_2");
    ck_assert_int_eq(rs_event_type_index(&r, "buy_2", 5), 2);
    ck_assert(rs_event_type_positive(&r, 1) && !rs_event_type_positive(&r, 0));
    ck_assert(rs_event_rules_init(&r, "view,,click", "", 10, &err) != 0);
    ck_assert(rs_event_rules_init(&r, "view,View", "", 10, &err) != 0);
    ck_assert(rs_event_rules_init(&r, "view,view", "", 10, &err) != 0);
    ck_assert(rs_event_rules_init(&r, "view", "click", 10, &err) != 0);
    ck_assert_ptr_nonnull(strstr(err.msg, "not one of"));
}
END_TEST

/* ---- impressions ---- */

START_TEST(test_impressions_window)
{
    rs_impressions *imp;
    ASSERT_OK(rs_impressions_create(4, 60, 3, &imp, &err_)); /* one bucket of 4 */
    ck_assert_uint_eq(rs_impressions_capacity(imp), 4);
    ck_assert_uint_le(rs_impressions_entry_bytes(imp), 96 + 8 * 3);
    uint64_t items[5] = {11, 22, 33, 44, 55}, got[3];
    rs_impression what = {0, 1, 77, 0, 0, NULL}, out = {.items = got};
    char rid[16];
    for (int i = 0; i < 10; i++) {
        snprintf(rid, sizeof(rid), "r%d", i);
        rs_impressions_record(imp, rid, strlen(rid), &what, items, 5, 100.0 + i);
    }
    /* The 4 newest are remembered, the others were evicted. */
    for (int i = 0; i < 10; i++) {
        snprintf(rid, sizeof(rid), "r%d", i);
        ck_assert_int_eq(rs_impressions_find(imp, rid, strlen(rid), 120, &out), i >= 6);
    }
    ck_assert_int_eq(rs_impressions_find(imp, "r9", 2, 120, &out), 1);
    ck_assert_int_eq(out.arm, 1);
    ck_assert_uint_eq(out.key_hash, 77);
    ck_assert_uint_eq(out.n_items, 3); /* at most max_items kept */
    ck_assert_uint_eq(got[2], 33);
    /* Expired past the ttl. */
    ck_assert_int_eq(rs_impressions_find(imp, "r9", 2, 109 + 61, &out), 0);
    /* The same id again replaces its entry instead of evicting another. */
    what.arm = 0;
    rs_impressions_record(imp, "r9", 2, &what, items, 1, 130);
    ck_assert_int_eq(rs_impressions_find(imp, "r6", 2, 130, &out), 1);
    ck_assert_int_eq(rs_impressions_find(imp, "r9", 2, 130, &out), 1);
    ck_assert_int_eq(out.arm, 0);
    ck_assert_uint_eq(out.n_items, 1);
    rs_impressions_free(imp);
}
END_TEST

typedef struct worker_arg {
    rs_impressions *imp;
    int id, found;
} worker_arg;

static void *imp_worker(void *p)
{
    worker_arg *a = p;
    uint64_t items[8], got[8];
    char rid[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(rid, sizeof(rid), "t%d-%d", a->id, i);
        for (int k = 0; k < 8; k++) items[k] = (uint64_t)(a->id * 1000000 + i * 8 + k);
        rs_impression what = {a->id, i % 3, (uint64_t)i + 1, 0, 0, NULL}, out = {.items = got};
        rs_impressions_record(a->imp, rid, strlen(rid), &what, items, 8, 1000);
        if (rs_impressions_find(a->imp, rid, strlen(rid), 1000, &out) && out.experiment == a->id &&
            out.key_hash == (uint64_t)i + 1 && out.n_items == 8 && got[7] == items[7])
            a->found++;
    }
    return NULL;
}

START_TEST(test_impressions_concurrent)
{
    rs_impressions *imp;
    ASSERT_OK(rs_impressions_create(1 << 18, 60, 8, &imp, &err_));
    pthread_t t[4];
    worker_arg args[4];
    for (int i = 0; i < 4; i++) {
        args[i] = (worker_arg){imp, i, 0};
        pthread_create(&t[i], NULL, imp_worker, &args[i]);
    }
    for (int i = 0; i < 4; i++) pthread_join(t[i], NULL);
    /* Each thread reads its own entry back intact right after writing it
     * (others may evict one in a crowded bucket, rarely). */
    for (int i = 0; i < 4; i++) ck_assert_int_ge(args[i].found, 19900);
    uint64_t recorded, found, missed;
    rs_impressions_counts(imp, &recorded, &found, &missed);
    ck_assert_uint_eq(recorded, 80000);
    ck_assert_uint_eq(found + missed, 80000);
    rs_impressions_free(imp);
}
END_TEST

/* ---- fresh histories ---- */

START_TEST(test_fresh)
{
    rs_fresh *f;
    ASSERT_OK(rs_fresh_create(3, 2, &f, &err_));
    ASSERT_OK(rs_fresh_add(f, "u1", 2, "i1", 2, 10, 1, &err_));
    ASSERT_OK(rs_fresh_add(f, "u1", 2, "i2", 2, 20, 2, &err_));
    ASSERT_OK(rs_fresh_add(f, "s1", 2, "i9", 2, 20, 3, &err_));
    ASSERT_OK(rs_fresh_add(f, "u3", 2, "i5", 2, 20, 4, &err_)); /* a third key: refused */
    rs_fresh_buf b = {0};
    uint32_t n;
    ASSERT_OK(rs_fresh_get(f, "u1", 2, 0, 0, &b, &n, &err_));
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(b.ids[0].ptr, "i1");
    ck_assert_str_eq(b.ids[1].ptr, "i2");
    ASSERT_OK(rs_fresh_get(f, "u1", 2, 1, 0, &b, &n, &err_)); /* after the model's cutoff */
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(b.ids[0].ptr, "i2");
    ASSERT_OK(rs_fresh_get(f, "u1", 2, 0, 15, &b, &n, &err_)); /* the window */
    ck_assert_uint_eq(n, 1);
    ASSERT_OK(rs_fresh_get(f, "u3", 2, 0, 0, &b, &n, &err_));
    ck_assert_uint_eq(n, 0);
    ASSERT_OK(rs_fresh_get(f, "nobody", 6, 0, 0, &b, &n, &err_));
    ck_assert_uint_eq(n, 0);
    /* The ring keeps the latest 3. */
    for (int i = 0; i < 5; i++) {
        char item[16];
        snprintf(item, sizeof(item), "x%d", i);
        ASSERT_OK(rs_fresh_add(f, "s1", 2, item, strlen(item), 30 + i, 10 + (uint64_t)i, &err_));
    }
    ASSERT_OK(rs_fresh_get(f, "s1", 2, 0, 0, &b, &n, &err_));
    ck_assert_uint_eq(n, 3);
    ck_assert_str_eq(b.ids[0].ptr, "x2");
    ck_assert_str_eq(b.ids[2].ptr, "x4");
    uint64_t keys, events, refused;
    rs_fresh_counts(f, &keys, &events, &refused);
    ck_assert_uint_eq(keys, 2);
    ck_assert_uint_eq(events, 5);
    ck_assert_uint_eq(refused, 1);
    rs_fresh_buf_free(&b);
    rs_fresh_free(f);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_outcomes");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_reference_values);
    tcase_add_test(tc, test_aa_and_ab_simulations);
    tcase_add_test(tc, test_counting);
    tcase_add_test(tc, test_event_rules);
    tcase_add_test(tc, test_impressions_window);
    tcase_add_test(tc, test_impressions_concurrent);
    tcase_add_test(tc, test_fresh);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
