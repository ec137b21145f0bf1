/* test_itemitem.c - the sparse item-item model kind (core/itemitem.h):
 * a published snapshot loads (through rs_itemitem_load and as a whole
 * model through rs_model_load); hostile snapshots - offsets that decrease
 * or do not span the columns, a column that is not an item, a row longer
 * than k, a non-finite weight, wrong lengths or dtypes - are refused with
 * RS_ERR_CORRUPT; the serving path's top-N equals a brute-force ranking of
 * the dense row sums over the touched items, with a skip set; a kept row
 * ranks by weight. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itemitem.h"
#include "model.h"
#include "rng.h"
#include "store.h"
#include "test_support.h"

enum { M = 25, K = 4 };

typedef struct rows {
    uint64_t offsets[M + 1];
    uint32_t columns[M * K];
    float weights[M * K];
    uint64_t n_offsets, n_entries;
} rows;

/* Row i keeps i % (K + 1) random distinct other items (some rows empty). */
static void make_rows(rows *r, uint64_t seed)
{
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    uint64_t e = 0;
    for (uint32_t i = 0; i < M; i++) {
        r->offsets[i] = e;
        uint8_t used[M] = {0};
        used[i] = 1;
        for (uint32_t n = 0; n < i % (K + 1); n++) {
            uint32_t j;
            do j = (uint32_t)rs_rng_below(&rng, M);
            while (used[j]);
            used[j] = 1;
            r->columns[e] = j;
            r->weights[e++] = (float)((double)rs_rng_below(&rng, 2001) / 1000.0 - 1.0);
        }
    }
    r->offsets[M] = e;
    r->n_offsets = M + 1;
    r->n_entries = e;
}

static char dir[256];
static rs_store *store;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/recsys-test-itemitem-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    rs_error err;
    ck_assert_msg(rs_store_open(dir, RS_STORE_CREATE, 0, &store, &err) == 0, "%s", err.msg);
}

static void teardown(void)
{
    rs_store_close(store);
    test_remove_tree(dir);
}

/* Publishes r (with the whole model's other tensors when full) under the
 * manifest's k; the offsets' dtype is offsets_u32 ? u32 : u64. Returns the
 * version. */
static uint64_t publish(const rows *r, int k, int full, int offsets_u32)
{
    rs_publish *pub;
    uint64_t version;
    rs_error err;
    ck_assert_msg(rs_publish_begin(store, "v", &pub, &version, &err) == 0, "%s", err.msg);
    uint32_t narrow[M + 1];
    for (uint32_t i = 0; i <= M; i++) narrow[i] = (uint32_t)r->offsets[i];
    ck_assert_int_eq(rs_publish_tensor(pub, "nb.offsets", offsets_u32 ? RS_U32 : RS_U64, 1,
                                       &r->n_offsets, offsets_u32 ? (void *)narrow : r->offsets,
                                       &err),
                     0);
    ck_assert_int_eq(
        rs_publish_tensor(pub, "nb.columns", RS_U32, 1, &r->n_entries, r->columns, &err), 0);
    ck_assert_int_eq(
        rs_publish_tensor(pub, "nb.weights", RS_F32, 1, &r->n_entries, r->weights, &err), 0);
    if (full) {
        char *ids[M], buf[M * 8], *p = buf;
        float pop[M];
        for (int i = 0; i < M; i++) ids[i] = p, p += sprintf(p, "i%d", i) + 1, pop[i] = (float)i;
        char *users[1] = {"u0"};
        uint64_t n_items = M, two = 2, three = 3;
        uint64_t indptr[2] = {0, 3};
        uint32_t history[3] = {2, 7, 9};
        ck_assert_int_eq(rs_publish_strings(pub, "items.ids", ids, M, &err), 0);
        ck_assert_int_eq(rs_publish_strings(pub, "users.ids", users, 1, &err), 0);
        ck_assert_int_eq(rs_publish_tensor(pub, "items.popularity", RS_F32, 1, &n_items, pop, &err),
                         0);
        ck_assert_int_eq(
            rs_publish_tensor(pub, "users.history.indptr", RS_U64, 1, &two, indptr, &err), 0);
        ck_assert_int_eq(
            rs_publish_tensor(pub, "users.history.indices", RS_U32, 1, &three, history, &err), 0);
    }
    char manifest[256];
    snprintf(manifest, sizeof(manifest),
             "{\"family\": \"ease\", \"kind\": \"item_item\", \"n_items\": %d, \"n_users\": 1, "
             "\"item_item\": {\"prefix\": \"nb\", \"k\": %d}}",
             M, k);
    ck_assert_msg(rs_publish_commit(pub, manifest, 0, &err) == 0, "%s", err.msg);
    return version;
}

/* rs_itemitem_load on version's snapshot: its return code and error. */
static int load(uint64_t version, rs_itemitem *ii, rs_snapshot **snap, rs_error *err)
{
    ck_assert_msg(rs_snapshot_open(store, "v", version, 1, snap, err) == 0, "%s", err->msg);
    json_t *spec = json_pack("{s:s, s:i}", "prefix", "nb", "k", K);
    int rc = rs_itemitem_load(ii, *snap, spec, M, err);
    json_decref(spec);
    return rc;
}

START_TEST(test_loads_and_ranks_like_brute_force)
{
    rows r;
    make_rows(&r, 11);
    uint64_t version = publish(&r, K, 1, 0);
    rs_itemitem ii;
    rs_snapshot *snap;
    rs_error err = {0};
    ck_assert_msg(load(version, &ii, &snap, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(ii.n_items, M);
    ck_assert_uint_eq(ii.k, K);
    float acc[M] = {0}, dense[M];
    uint8_t mark[M] = {0};
    uint32_t touched[M];
    rs_scored top[M], want[M];
    rs_rng rng;
    rs_rng_seed(&rng, 5);
    for (int trial = 0; trial < 200; trial++) {
        uint32_t history[6], n = 1 + (uint32_t)rs_rng_below(&rng, 6);
        for (uint32_t h = 0; h < n; h++) history[h] = (uint32_t)rs_rng_below(&rng, M);
        uint8_t skip[M] = {0};
        for (int s = 0; s < 3; s++) skip[rs_rng_below(&rng, M)] = 1;
        uint32_t top_n = 1 + (uint32_t)rs_rng_below(&rng, M);
        uint32_t n_touched;
        uint32_t got = rs_itemitem_recommend(&ii, history, n, skip, top_n, acc, mark, touched,
                                             &n_touched, top);
        /* Brute force: the dense sums, over the touched items not skipped. */
        rs_itemitem_score(&ii, history, n, dense);
        uint8_t reach[M] = {0}, out[M];
        uint32_t n_reach = 0;
        for (uint32_t h = 0; h < n; h++)
            for (uint64_t p = ii.offsets[history[h]]; p < ii.offsets[history[h] + 1]; p++)
                n_reach += !reach[ii.columns[p]], reach[ii.columns[p]] = 1;
        for (int j = 0; j < M; j++) out[j] = skip[j] || !reach[j];
        uint32_t expect = rs_topk_dense(dense, M, out, top_n, want);
        ck_assert_uint_eq(n_touched, n_reach);
        ck_assert_uint_eq(got, expect);
        for (uint32_t t = 0; t < got; t++) {
            ck_assert_uint_eq(top[t].id, want[t].id);
            ck_assert(top[t].score == want[t].score);
        }
        for (int j = 0; j < M; j++) ck_assert(acc[j] == 0.0f && mark[j] == 0); /* left clear */
    }
    /* A kept row by weight. */
    for (uint32_t i = 0; i < M; i++) {
        uint32_t got = rs_itemitem_row(&ii, i, K, top);
        ck_assert_uint_eq(got, r.offsets[i + 1] - r.offsets[i]);
        for (uint32_t t = 1; t < got; t++) ck_assert(top[t - 1].score >= top[t].score);
    }
    rs_snapshot_close(snap);
    /* The whole model: an item-item model without an encoder. */
    rs_model *m;
    ck_assert_int_eq(rs_snapshot_open(store, "v", version, 1, &snap, &err), 0);
    ck_assert_msg(rs_model_load(snap, &m, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(rs_model_itemitem(m));
    ck_assert_ptr_null(rs_model_item_matrix(m));
    ck_assert_uint_eq(rs_model_dim(m), 0);
    ck_assert_int_ne(rs_model_encode(m, (uint32_t[]){1}, 1, dense, dense, &err), 0);
    rs_model_free(m);
    rs_snapshot_close(snap);
}
END_TEST

/* _i picks the damage; every one is RS_ERR_CORRUPT (or a refused tensor). */
START_TEST(test_hostile_snapshots_are_refused)
{
    rows r;
    make_rows(&r, 11);
    int k = K, offsets_u32 = 0, corrupt = 1;
    switch (_i) {
    case 0: /* offsets decrease */
        r.offsets[6] = r.offsets[5] - 1;
        break;
    case 1: /* a column is not an item */
        r.columns[r.n_entries / 2] = M;
        break;
    case 2: /* a row longer than the manifest's k */
        k = K - 1;
        break;
    case 3: /* a weight is NaN */
        r.weights[1] = NAN;
        break;
    case 4: /* offsets end before the columns do */
        r.offsets[M] -= 1;
        break;
    case 5: /* one offset short */
        r.n_offsets = M;
        break;
    case 6: /* columns and weights of different lengths */
        r.n_entries -= 1;
        r.offsets[M] = r.n_entries;
        break;
    case 7: /* offsets of the wrong dtype: the tensor is refused */
        offsets_u32 = 1, corrupt = 0;
        break;
    }
    if (_i == 6) {
        /* Publish the columns one longer than the weights by hand. */
        rs_publish *pub;
        uint64_t version, longer = r.n_entries + 1;
        rs_error err;
        ck_assert_int_eq(rs_publish_begin(store, "v", &pub, &version, &err), 0);
        ck_assert_int_eq(
            rs_publish_tensor(pub, "nb.offsets", RS_U64, 1, &r.n_offsets, r.offsets, &err), 0);
        ck_assert_int_eq(rs_publish_tensor(pub, "nb.columns", RS_U32, 1, &longer, r.columns, &err),
                         0);
        ck_assert_int_eq(
            rs_publish_tensor(pub, "nb.weights", RS_F32, 1, &r.n_entries, r.weights, &err), 0);
        ck_assert_int_eq(rs_publish_commit(pub, "{}", 0, &err), 0);
    } else {
        publish(&r, k, 0, offsets_u32);
    }
    rs_itemitem ii;
    rs_snapshot *snap;
    rs_error err = {0};
    if (_i == 2) {
        /* k comes from the manifest: load with the smaller one. */
        ck_assert_int_eq(rs_snapshot_open(store, "v", 0, 1, &snap, &err), 0);
        json_t *spec = json_pack("{s:s, s:i}", "prefix", "nb", "k", k);
        ck_assert_int_ne(rs_itemitem_load(&ii, snap, spec, M, &err), 0);
        json_decref(spec);
    } else {
        ck_assert_int_ne(load(0, &ii, &snap, &err), 0);
    }
    if (getenv("SHOW")) fprintf(stderr, "%d: %s\n", _i, err.msg);
    if (corrupt) ck_assert_int_eq(err.kind, RS_ERR_CORRUPT);
    ck_assert_ptr_null(ii.offsets); /* nothing half-loaded */
    rs_snapshot_close(snap);
}
END_TEST

START_TEST(test_bad_manifest_spec)
{
    rows r;
    make_rows(&r, 3);
    publish(&r, K, 0, 0);
    rs_snapshot *snap;
    rs_error err;
    ck_assert_int_eq(rs_snapshot_open(store, "v", 0, 1, &snap, &err), 0);
    rs_itemitem ii;
    const char *specs[] = {"{}", "{\"prefix\": \"nb\"}", "{\"prefix\": \"nb\", \"k\": 0}",
                           "{\"prefix\": \"nb\", \"k\": 99}", "{\"prefix\": \"zz\", \"k\": 4}"};
    for (size_t s = 0; s < sizeof(specs) / sizeof(specs[0]); s++) {
        json_t *spec = json_loads(specs[s], 0, NULL);
        ck_assert_msg(rs_itemitem_load(&ii, snap, spec, M, &err) != 0, "accepted %s", specs[s]);
        json_decref(spec);
    }
    rs_snapshot_close(snap);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("itemitem");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_loads_and_ranks_like_brute_force);
    tcase_add_loop_test(tc, test_hostile_snapshots_are_refused, 0, 8);
    tcase_add_test(tc, test_bad_manifest_spec);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
