/* test_server_itemitem.c - the server's side of the item-item model kind
 * (core/itemitem.h) on a hand-built snapshot: the registry loads it with
 * MIDX retrieval asked for, builds no retriever and reports "item_item";
 * rs_recommend answers known users (stored history) and ad-hoc histories
 * exactly as a brute-force ranking of the dense row sums over the touched
 * items, with the seen filter on and off and exclusions; when fewer than n
 * touched items are left it fills up with the most popular others (neither
 * seen, excluded nor ranked) and says how many; an empty or unknown
 * history is the popularity fallback; similar items are the kept row. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "recommend.h"
#include "registry.h"
#include "rng.h"
#include "store.h"
#include "test_support.h"

enum { M = 30, K = 3, USERS = 5 };

static char dir[256];
static rs_store *store;
static rs_stats *stats;
static rs_registry *reg;
static uint64_t offsets[M + 1];
static uint32_t columns[M * K];
static float weights[M * K], pop[M];
static char item_names[M][16];

/* Row i: K distinct other items with random weights; distinct popularity. */
static void publish(void)
{
    rs_rng rng;
    rs_rng_seed(&rng, 9);
    for (uint32_t i = 0; i < M; i++) {
        offsets[i] = (uint64_t)i * K;
        for (uint32_t k = 0; k < K; k++) {
            columns[i * K + k] = (i + 1 + 3 * k + (uint32_t)rs_rng_below(&rng, 2)) % M;
            weights[i * K + k] = (float)((double)rs_rng_below(&rng, 2001) / 1000.0 - 1.0);
        }
        pop[i] = (float)((i * 7) % M + 1);
    }
    offsets[M] = M * K;
    rs_publish *pub;
    uint64_t version, n_offsets = M + 1, n_entries = M * K, n_items = M, n_ptr = USERS + 1,
                      n_hist = USERS * 2;
    rs_error err;
    ck_assert_int_eq(rs_publish_begin(store, "default", &pub, &version, &err), 0);
    ck_assert_int_eq(rs_publish_tensor(pub, "nb.offsets", RS_U64, 1, &n_offsets, offsets, &err), 0);
    ck_assert_int_eq(rs_publish_tensor(pub, "nb.columns", RS_U32, 1, &n_entries, columns, &err), 0);
    ck_assert_int_eq(rs_publish_tensor(pub, "nb.weights", RS_F32, 1, &n_entries, weights, &err), 0);
    ck_assert_int_eq(rs_publish_tensor(pub, "items.popularity", RS_F32, 1, &n_items, pop, &err), 0);
    char *items[M], *users[USERS], user_names[USERS][16];
    for (int i = 0; i < M; i++) snprintf(item_names[i], 16, "i%d", i), items[i] = item_names[i];
    for (int u = 0; u < USERS; u++) snprintf(user_names[u], 16, "u%d", u), users[u] = user_names[u];
    ck_assert_int_eq(rs_publish_strings(pub, "items.ids", items, M, &err), 0);
    ck_assert_int_eq(rs_publish_strings(pub, "users.ids", users, USERS, &err), 0);
    /* user u: items 2u and 2u + 1 */
    uint64_t indptr[USERS + 1];
    uint32_t history[USERS * 2];
    for (int u = 0; u <= USERS; u++) indptr[u] = (uint64_t)u * 2;
    for (int k = 0; k < USERS * 2; k++) history[k] = (uint32_t)k;
    ck_assert_int_eq(
        rs_publish_tensor(pub, "users.history.indptr", RS_U64, 1, &n_ptr, indptr, &err), 0);
    ck_assert_int_eq(
        rs_publish_tensor(pub, "users.history.indices", RS_U32, 1, &n_hist, history, &err), 0);
    char manifest[256];
    snprintf(manifest, sizeof(manifest),
             "{\"family\": \"ease\", \"kind\": \"item_item\", \"n_items\": %d, \"n_users\": %d, "
             "\"item_item\": {\"prefix\": \"nb\", \"k\": %d}}",
             M, USERS, K);
    ck_assert_msg(rs_publish_commit(pub, manifest, 0, &err) == 0, "%s", err.msg);
}

static void setup(void)
{
    rs_log_set_level(RS_LOG_ERROR);
    snprintf(dir, sizeof(dir), "/tmp/recsys-test-itemitem-srv-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    rs_error err;
    ck_assert_int_eq(rs_store_open(dir, RS_STORE_CREATE, 1 << 24, &store, &err), 0);
    publish();
    const char *routes[] = {"r"};
    ck_assert_int_eq(rs_stats_create(routes, 1, &stats, &err), 0);
    /* Retrieval options do not apply to the kind: no index is built. */
    rs_retriever_options ropt = {.method = RS_RETRIEVAL_MIDX, .midx_k = 3};
    ck_assert_int_eq(rs_registry_create(store, stats, &ropt, &reg, &err), 0);
    ck_assert_msg(rs_registry_load(reg, "default", 0, 1, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rs_registry_set_default(reg, NULL, &err), 0);
}

static void teardown(void)
{
    rs_registry_free(reg);
    rs_stats_free(stats);
    rs_store_close(store);
    test_remove_tree(dir);
}

static rs_id id_of(uint32_t item)
{
    return (rs_id){item_names[item], strlen(item_names[item])};
}

/* The expected answer: touched items by dense row sum (ties to the smaller
 * index), then the most popular untouched ones; skip[] leaves items out. */
static uint32_t expected(const uint32_t *history, uint32_t n, const uint8_t *skip, uint32_t want,
                         rs_scored *out, uint32_t *filled)
{
    double sum[M] = {0};
    uint8_t touched[M] = {0}, taken[M] = {0};
    for (uint32_t h = 0; h < n; h++)
        for (uint64_t p = offsets[history[h]]; p < offsets[history[h] + 1]; p++)
            sum[columns[p]] += weights[p], touched[columns[p]] = 1;
    uint32_t got = 0;
    while (got < want) {
        int best = -1;
        for (int j = 0; j < M; j++)
            if (touched[j] && !skip[j] && !taken[j] && (best < 0 || sum[j] > sum[best])) best = j;
        if (best < 0) break;
        taken[best] = 1;
        out[got++] = (rs_scored){(float)sum[best], (uint32_t)best};
    }
    *filled = 0;
    while (got < want) {
        int best = -1;
        for (int j = 0; j < M; j++)
            if (!skip[j] && !taken[j] && (best < 0 || pop[j] > pop[best])) best = j;
        if (best < 0) break;
        taken[best] = 1;
        out[got++] = (rs_scored){pop[best], (uint32_t)best};
        (*filled)++;
    }
    return got;
}

static void check(const rs_reco_result *res, const rs_scored *want, uint32_t n_want,
                  uint32_t filled)
{
    ck_assert_uint_eq(res->n_items, n_want);
    ck_assert_uint_eq(res->filled, filled);
    for (uint32_t t = 0; t < n_want; t++) {
        ck_assert_uint_eq(res->items[t].id, want[t].id);
        ck_assert_msg(fabsf(res->items[t].score - want[t].score) < 1e-5, "%g vs %g",
                      res->items[t].score, want[t].score);
    }
}

START_TEST(test_loaded_without_a_retriever)
{
    rs_loaded *l = rs_registry_acquire(reg, NULL, 0);
    ck_assert_ptr_nonnull(l);
    ck_assert_ptr_null(l->retriever);
    ck_assert_str_eq(rs_loaded_method(l), "item_item");
    ck_assert_ptr_nonnull(rs_model_itemitem(l->model));
    rs_loaded_release(l);
}
END_TEST

START_TEST(test_histories_exclusions_and_fill)
{
    rs_loaded *l = rs_registry_acquire(reg, NULL, 0);
    rs_rng rng;
    rs_rng_seed(&rng, 4);
    rs_scored want[M];
    for (int trial = 0; trial < 300; trial++) {
        uint32_t history[4], n = (uint32_t)rs_rng_below(&rng, 5);
        rs_id ids[5], exclude[2];
        uint8_t skip[M] = {0}, in_history[M] = {0};
        for (uint32_t h = 0; h < n; h++) history[h] = (uint32_t)rs_rng_below(&rng, M);
        for (uint32_t h = 0; h < n; h++) ids[h] = id_of(history[h]), in_history[history[h]] = 1;
        /* A repeated id counts once: the expected sums use the distinct items. */
        uint32_t distinct[4], n_distinct = 0;
        for (int j = 0; j < M; j++)
            if (in_history[j]) distinct[n_distinct++] = (uint32_t)j;
        ids[n] = (rs_id){"nope", 4}; /* unknown ids are ignored */
        int filter = trial % 2;
        for (int e = 0; e < 2; e++) {
            uint32_t x = (uint32_t)rs_rng_below(&rng, M);
            exclude[e] = id_of(x), skip[x] = 1;
        }
        for (int j = 0; j < M; j++) skip[j] |= filter && in_history[j];
        uint32_t top_n = 1 + (uint32_t)rs_rng_below(&rng, 12);
        rs_reco_query q = {.model = l->model,
                           .has_history = 1,
                           .history = ids,
                           .n_history = n + 1,
                           .exclude = exclude,
                           .n_exclude = 2,
                           .n = top_n,
                           .filter_history = filter};
        rs_reco_result res;
        rs_error err;
        ck_assert_msg(rs_recommend(&q, &res, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(res.n_unknown, 1);
        if (n == 0) {
            ck_assert_int_eq(res.fallback, RS_FALLBACK_POPULARITY);
            continue;
        }
        ck_assert_int_eq(res.fallback, RS_FALLBACK_NONE);
        uint32_t filled, n_want = expected(distinct, n_distinct, skip, top_n, want, &filled);
        check(&res, want, n_want, filled);
    }
    rs_loaded_release(l);
}
END_TEST

START_TEST(test_known_users_and_fallback)
{
    rs_loaded *l = rs_registry_acquire(reg, NULL, 0);
    rs_scored want[M];
    for (uint32_t u = 0; u < USERS; u++) {
        char name[16];
        snprintf(name, sizeof(name), "u%u", u);
        rs_id user = {name, strlen(name)};
        rs_reco_query q = {.model = l->model, .user = &user, .n = 10, .filter_history = 1};
        rs_reco_result res;
        rs_error err;
        ck_assert_int_eq(rs_recommend(&q, &res, &err), 0);
        uint32_t history[2] = {2 * u, 2 * u + 1}, filled;
        uint8_t skip[M] = {0};
        skip[2 * u] = skip[2 * u + 1] = 1;
        uint32_t n_want = expected(history, 2, skip, 10, want, &filled);
        ck_assert_uint_gt(filled, 0); /* 2 rows of 3 touch at most 6 */
        check(&res, want, n_want, filled);
    }
    rs_id stranger = {"nobody", 6};
    rs_reco_query q = {.model = l->model, .user = &stranger, .n = 4, .filter_history = 1};
    rs_reco_result res;
    rs_error err;
    ck_assert_int_eq(rs_recommend(&q, &res, &err), 0);
    ck_assert_int_eq(res.fallback, RS_FALLBACK_POPULARITY);
    ck_assert_uint_eq(res.n_items, 4);
    for (uint32_t t = 1; t < 4; t++) ck_assert(res.items[t - 1].score > res.items[t].score);
    rs_loaded_release(l);
}
END_TEST

START_TEST(test_similar_is_the_kept_row)
{
    rs_loaded *l = rs_registry_acquire(reg, NULL, 0);
    for (uint32_t i = 0; i < M; i++) {
        rs_similar_query q = {.model = l->model, .sim = &l->sim, .item = id_of(i), .n = 10};
        rs_similar_result res;
        rs_error err;
        ck_assert_int_eq(rs_similar(&q, &res, &err), 0);
        ck_assert_uint_eq(res.item, i);
        ck_assert_uint_eq(res.n_items, K);
        for (uint32_t t = 0; t < K; t++) {
            int found = 0;
            for (uint64_t p = offsets[i]; p < offsets[i + 1]; p++)
                found |= columns[p] == res.items[t].id && weights[p] == res.items[t].score;
            ck_assert(found);
            if (t) ck_assert(res.items[t - 1].score >= res.items[t].score);
        }
    }
    rs_similar_query q = {.model = l->model, .sim = &l->sim, .item = {"nope", 4}, .n = 10};
    rs_similar_result res;
    rs_error err;
    ck_assert_int_ne(rs_similar(&q, &res, &err), 0);
    ck_assert_int_eq(err.kind, RS_ERR_NOT_FOUND);
    rs_loaded_release(l);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_itemitem");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_loaded_without_a_retriever);
    tcase_add_test(tc, test_histories_exclusions_and_fill);
    tcase_add_test(tc, test_known_users_and_fallback);
    tcase_add_test(tc, test_similar_is_the_kept_row);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
