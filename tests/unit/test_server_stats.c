/* test_server_stats.c - per-thread counters summed, Prometheus rendering. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "stats.h"

static const char *routes[] = {"/a", "/b/{id}", "unmatched"};

typedef struct worker_arg {
    rs_stats *m;
    int index;
} worker_arg;

enum { THREADS = 6, PER_THREAD = 20000 };

static void *worker(void *p)
{
    worker_arg *a = p;
    for (int i = 0; i < PER_THREAD; i++) {
        int route = i % 2;
        int status = (i % 10 == 0) ? 422 : 200;
        rs_stats_request(a->m, route, a->index % 2, status, 0.0003 * (i % 7));
        rs_stats_retrieval(a->m, a->index % 2, 10, i % 100 == 0, 0);
    }
    return NULL;
}

START_TEST(test_threads_sum_exactly)
{
    rs_stats *m;
    rs_error err;
    ck_assert_int_eq(rs_stats_create(routes, 3, &m, &err), 0);
    rs_stats_name_variant(m, 0, "alpha");
    rs_stats_name_variant(m, 1, "beta");
    pthread_t th[THREADS];
    worker_arg args[THREADS];
    for (int t = 0; t < THREADS; t++) {
        args[t] = (worker_arg){m, t};
        pthread_create(&th[t], NULL, worker, &args[t]);
    }
    /* Scrapes while writers run must not crash or block them. */
    for (int k = 0; k < 20; k++) {
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        rs_stats_render(m, f);
        fclose(f);
        free(text);
    }
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    /* Per variant: THREADS/2 threads; per route half the requests; 1/10 are 422. */
    uint64_t per_variant_route = (uint64_t)(THREADS / 2) * PER_THREAD / 2;
    for (int v = 0; v < 2; v++)
        for (int r = 0; r < 2; r++) {
            uint64_t ok = rs_stats_count(m, r, v, 200), bad = rs_stats_count(m, r, v, 422);
            ck_assert_uint_eq(ok + bad, per_variant_route);
            /* i % 10 == 0 only ever hits route 0 (even i): a fifth of its requests. */
            ck_assert_uint_eq(bad, r == 0 ? per_variant_route / 5 : 0);
        }
    ck_assert_uint_eq(rs_stats_items_scored(m, 0), (uint64_t)(THREADS / 2) * PER_THREAD * 10);
    ck_assert_uint_eq(rs_stats_count(m, 0, -1, 200), 0);
    rs_stats_free(m);
}
END_TEST

/* Reads the value of the first line starting with prefix. */
static double value_of(const char *text, const char *prefix)
{
    const char *p = strstr(text, prefix);
    if (!p) return -1;
    const char *sp = strstr(p, "} "); /* label values may hold '}' */
    return sp ? atof(sp + 2) : -1;
}

START_TEST(test_render)
{
    rs_stats *m;
    rs_error err;
    ck_assert_int_eq(rs_stats_create(routes, 3, &m, &err), 0);
    rs_stats_name_variant(m, 3, "v\"q");
    rs_stats_request(m, 1, 3, 200, 0.0002);  /* first bucket */
    rs_stats_request(m, 1, 3, 200, 0.003);   /* le 0.005 */
    rs_stats_request(m, 1, 3, 200, 5.0);     /* only +Inf */
    rs_stats_request(m, 2, -1, 404, 0.0001); /* no variant */
    rs_stats_request(m, 99, -1, 599, 0.0);   /* clamped route, "other" status */
    rs_stats_retrieval(m, 3, 1234, 1, 2);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    rs_stats_render(m, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "# TYPE recsys_http_requests_total counter"));
    ck_assert_double_eq(
        value_of(text,
                 "recsys_http_requests_total{route=\"/b/{id}\",status=\"200\",variant=\"v\\\"q\"}"),
        3);
    ck_assert_double_eq(
        value_of(text,
                 "recsys_http_requests_total{route=\"unmatched\",status=\"404\",variant=\"\"}"),
        1);
    ck_assert_double_eq(
        value_of(text,
                 "recsys_http_requests_total{route=\"unmatched\",status=\"other\",variant=\"\"}"),
        1);
    const char *b = "recsys_http_request_duration_seconds_bucket{route=\"/b/{id}\",status=\"200\","
                    "variant=\"v\\\"q\",le=";
    char key[256];
    snprintf(key, sizeof(key), "%s\"0.00025\"", b);
    ck_assert_double_eq(value_of(text, key), 1);
    snprintf(key, sizeof(key), "%s\"0.0025\"", b);
    ck_assert_double_eq(value_of(text, key), 1);
    snprintf(key, sizeof(key), "%s\"0.005\"", b);
    ck_assert_double_eq(value_of(text, key), 2);
    snprintf(key, sizeof(key), "%s\"1\"", b);
    ck_assert_double_eq(value_of(text, key), 2);
    snprintf(key, sizeof(key), "%s\"+Inf\"", b);
    ck_assert_double_eq(value_of(text, key), 3);
    double sum = value_of(text, "recsys_http_request_duration_seconds_sum{route=\"/b/{id}\"");
    ck_assert_double_eq_tol(sum, 5.0032, 1e-6);
    ck_assert_double_eq(value_of(text, "recsys_retrieval_items_scored_total{variant=\"v\\\"q\"}"),
                        1234);
    ck_assert_double_eq(value_of(text, "recsys_popularity_fallback_total{variant=\"v\\\"q\"}"), 1);
    ck_assert_double_eq(value_of(text, "recsys_unknown_items_total{variant=\"v\\\"q\"}"), 2);
    /* Every non-comment line is "name{labels} value". */
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#') continue;
        ck_assert_msg(strchr(line, '{') && strstr(line, "} "), "bad line: %s", line);
    }
    free(text);
    rs_stats_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_stats");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_threads_sum_exactly);
    tcase_add_test(tc, test_render);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
