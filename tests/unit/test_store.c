/* test_store.c - the LMDB snapshot store: round trips, names, versions,
 * retention, listing, MVCC and concurrent readers. Damage (bad files, a full
 * map, corruption) is in test_store_damage.c, the tensor value in
 * test_tensor.c. */
#include <check.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rng.h"
#include "store.h"
#include "test_store_support.h"

/* ---- names -------------------------------------------------------------- */

START_TEST(test_names)
{
    rs_error err;
    ck_assert_int_eq(rs_store_check_name("variant", "Ab_9.x-y", &err), 0);
    char longest[RS_NAME_MAX + 2];
    memset(longest, 'a', sizeof(longest));
    longest[RS_NAME_MAX] = '\0';
    ck_assert_int_eq(rs_store_check_name("variant", longest, &err), 0);
    longest[RS_NAME_MAX] = 'a';
    longest[RS_NAME_MAX + 1] = '\0';
    const char *bad[] = {"", "a/b", "a b", "caf\xc3\xa9", "a\n", "x:y", longest};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(rs_store_check_name("variant", bad[i], &err), -1);
        assert_has(err.msg, "variant name");
    }
    ck_assert_int_eq(rs_store_check_name("tensor", NULL, &err), -1);

    char *dir = new_dir("names");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    rs_publish *pub;
    uint64_t version, cur;
    rs_snapshot *snap;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ck_assert_int_eq(rs_publish_begin(s, bad[i], &pub, &version, &err), -1);
        ck_assert_ptr_null(pub);
        ck_assert_int_eq(rs_snapshot_open(s, bad[i], 0, 1, &snap, &err), -1);
        ck_assert_int_eq(rs_store_current(s, bad[i], &cur, &err), -1);
    }
    /* A bad tensor name is refused and the publish continues. */
    ASSERT_OK(rs_publish_begin(s, "v", &pub, &version, &err_));
    uint64_t shape[1] = {1};
    float one = 1;
    ck_assert_int_eq(rs_publish_tensor(pub, "t/x", RS_F32, 1, shape, &one, &err), -1);
    assert_has(err.msg, "tensor name 't/x'");
    ck_assert_int_eq(rs_publish_tensor(pub, longest, RS_F32, 1, shape, &one, &err), -1);
    /* String table names leave room for the ".offsets" suffix. */
    char *strs[1] = {"a"};
    ck_assert_int_eq(rs_publish_strings(pub, longest + 8, strs, 1, &err), -1);
    ASSERT_OK(rs_publish_strings(pub, longest + 9, strs, 1, &err_));
    ASSERT_OK(rs_publish_tensor(pub, "ok", RS_F32, 1, shape, &one, &err_));
    ASSERT_OK(rs_publish_commit(pub, "{}", 0, &err_));
    ASSERT_OK(rs_snapshot_open(s, "v", 0, 1, &snap, &err_));
    ck_assert(rs_snapshot_has(snap, "ok"));
    ck_assert(!rs_snapshot_has(snap, "t/x"));
    rs_snapshot_close(snap);
    rs_store_close(s);
    free(dir);
    cleanup();
}
END_TEST

/* ---- round trips ------------------------------------------------------- */

typedef struct case_t {
    char name[32];
    rs_dtype dtype;
    uint32_t ndim;
    uint64_t shape[4];
    uint8_t *data;
    size_t bytes;
} case_t;

static size_t shape_count(uint32_t ndim, const uint64_t *shape)
{
    size_t c = 1;
    for (uint32_t i = 0; i < ndim; i++) c *= shape[i];
    return c;
}

START_TEST(test_roundtrip_all_dtypes)
{
    static const uint64_t shapes[][5] = {
        /* ndim, dims */
        {2, 1, 1}, {1, 0}, {2, 3, 0}, {3, 3, 5, 7}, {4, 2, 3, 1, 5}, {1, 1}, {1, 300001},
    };
    const size_t n_shapes = sizeof(shapes) / sizeof(shapes[0]);
    rs_rng rng;
    rs_rng_seed(&rng, 3);
    case_t cases[7 * 8];
    size_t n = 0;
    for (int dt = RS_F32; dt <= RS_U8; dt++) {
        for (size_t si = 0; si < n_shapes; si++) {
            case_t *c = &cases[n++];
            snprintf(c->name, sizeof(c->name), "%s_%zu", rs_dtype_name((rs_dtype)dt), si);
            c->dtype = (rs_dtype)dt;
            c->ndim = (uint32_t)shapes[si][0];
            memset(c->shape, 0, sizeof(c->shape));
            for (uint32_t d = 0; d < c->ndim; d++) c->shape[d] = shapes[si][1 + d];
            c->bytes = shape_count(c->ndim, c->shape) * rs_dtype_size(c->dtype);
            c->data = malloc(c->bytes + 1);
            for (size_t b = 0; b < c->bytes; b++) c->data[b] = (uint8_t)rs_rng_u64(&rng);
            /* NaN payloads (quiet, signalling, negative) must survive bit-exactly. */
            if (c->dtype == RS_F32 && c->bytes >= 16) {
                uint32_t nans[4] = {0x7fc00001u, 0x7f800001u, 0xffbfffffu, 0x7f800000u};
                memcpy(c->data, nans, sizeof(nans));
            }
            if (c->dtype == RS_F64 && c->bytes >= 16) {
                uint64_t nans[2] = {0x7ff0000000000001ull, 0xfff8dead0000beefull};
                memcpy(c->data, nans, sizeof(nans));
            }
        }
    }
    char *dir = new_dir("rt");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    rs_publish *pub;
    uint64_t version;
    ASSERT_OK(rs_publish_begin(s, "m", &pub, &version, &err_));
    ck_assert_uint_eq(version, 1);
    for (size_t i = 0; i < n; i++)
        ASSERT_OK(rs_publish_tensor(pub, cases[i].name, cases[i].dtype, cases[i].ndim,
                                    cases[i].shape, cases[i].data, &err_));
    ASSERT_OK(rs_publish_commit(pub, "{\"family\": \"test\"}", 0, &err_));
    rs_store_close(s);

    /* Read back through a fresh read-only handle. */
    s = open_store(dir, RS_STORE_READONLY);
    rs_snapshot *snap;
    ASSERT_OK(rs_snapshot_open(s, "m", 0, 1, &snap, &err_));
    ck_assert_uint_eq(rs_snapshot_version(snap), 1);
    ck_assert_str_eq(rs_snapshot_variant(snap), "m");
    ck_assert_str_eq(rs_snapshot_manifest(snap), "{\"family\": \"test\"}");
    for (size_t i = 0; i < n; i++) {
        const case_t *c = &cases[i];
        rs_tensor_view v;
        ASSERT_OK(rs_snapshot_tensor(snap, c->name, c->dtype, &v, &err_));
        ck_assert_int_eq(v.dtype, c->dtype);
        ck_assert_uint_eq(v.ndim, c->ndim);
        for (int d = 0; d < 4; d++) ck_assert_uint_eq(v.shape[d], c->shape[d]);
        ck_assert_uint_eq(v.count, shape_count(c->ndim, c->shape));
        ck_assert_ptr_nonnull(v.data);
        ck_assert_uint_eq((uintptr_t)v.data % 16, 0);
        ck_assert_int_eq(memcmp(v.data, c->data, c->bytes), 0);
        /* Typed loads through the view (UBSan checks their alignment). */
        uint64_t acc = 0;
        for (uint64_t j = 0; j < v.count; j++) {
            switch (c->dtype) {
            case RS_F32:
            case RS_I32:
            case RS_U32:
                acc += ((const uint32_t *)v.data)[j];
                break;
            case RS_F64:
            case RS_I64:
            case RS_U64:
                acc += ((const uint64_t *)v.data)[j];
                break;
            case RS_U8:
                acc += ((const uint8_t *)v.data)[j];
                break;
            }
        }
        (void)acc;
        if (c->dtype == RS_F32 && c->bytes >= 16) ck_assert(isnan(((const float *)v.data)[0]));
    }
    ASSERT_OK(rs_snapshot_verify(snap, &err_));
    rs_snapshot_close(snap);
    rs_store_close(s);
    for (size_t i = 0; i < n; i++) free(cases[i].data);
    free(dir);
    cleanup();
}
END_TEST

START_TEST(test_strings)
{
    char big[3000];
    memset(big, 'z', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char *strs[] = {"", "a", "h\xc3\xa9llo w\xc3\xb6rld", big, "", "item::42"};
    const uint64_t n = sizeof(strs) / sizeof(strs[0]);
    char *dir = new_dir("str");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    rs_publish *pub;
    uint64_t version;
    rs_error err;
    ASSERT_OK(rs_publish_begin(s, "m", &pub, &version, &err_));
    ASSERT_OK(rs_publish_strings(pub, "items", strs, n, &err_));
    ASSERT_OK(rs_publish_strings(pub, "none", NULL, 0, &err_));
    char *with_null[2] = {"a", NULL};
    ck_assert_int_eq(rs_publish_strings(pub, "bad", with_null, 2, &err), -1);
    assert_has(err.msg, "NULL");
    ASSERT_OK(rs_publish_commit(pub, "{}", 0, &err_));

    rs_snapshot *snap;
    ASSERT_OK(rs_snapshot_open(s, "m", 1, 1, &snap, &err_));
    uint64_t got_n;
    const uint64_t *off;
    const char *bytes;
    ASSERT_OK(rs_snapshot_strings(snap, "items", &got_n, &off, &bytes, &err_));
    ck_assert_uint_eq(got_n, n);
    for (uint64_t i = 0; i < n; i++) {
        ck_assert_uint_eq(off[i + 1] - off[i], strlen(strs[i]));
        ck_assert_int_eq(memcmp(bytes + off[i], strs[i], strlen(strs[i])), 0);
    }
    ASSERT_OK(rs_snapshot_strings(snap, "none", &got_n, &off, &bytes, &err_));
    ck_assert_uint_eq(got_n, 0);
    ck_assert_uint_eq(off[0], 0);
    /* The parts are ordinary tensors too. */
    rs_tensor_view v;
    ASSERT_OK(rs_snapshot_tensor(snap, "items.offsets", RS_U64, &v, &err_));
    ck_assert_uint_eq(v.count, n + 1);
    ck_assert_int_eq(rs_snapshot_strings(snap, "missing", &got_n, &off, &bytes, &err), -1);
    assert_has(err.msg, "missing");
    ck_assert_int_eq(rs_snapshot_has(snap, "bad.offsets"), 0);
    rs_snapshot_close(snap);
    rs_store_close(s);
    free(dir);
    cleanup();
}
END_TEST

START_TEST(test_string_table_bounds_checked)
{
    /* Offsets that run past the bytes tensor are refused when opening. */
    char *dir = new_dir("strbad");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    rs_publish *pub;
    uint64_t version;
    ASSERT_OK(rs_publish_begin(s, "m", &pub, &version, &err_));
    uint64_t off[3] = {0, 2, 9}, shape_o[1] = {3}, shape_b[1] = {4};
    ASSERT_OK(rs_publish_tensor(pub, "ids.offsets", RS_U64, 1, shape_o, off, &err_));
    ASSERT_OK(rs_publish_tensor(pub, "ids.bytes", RS_U8, 1, shape_b, "abcd", &err_));
    ASSERT_OK(rs_publish_commit(pub, "{}", 0, &err_));
    ASSERT_OK(rs_publish_begin(s, "m", &pub, &version, &err_));
    uint64_t off2[3] = {0, 3, 2};
    ASSERT_OK(rs_publish_tensor(pub, "ids.offsets", RS_U64, 1, shape_o, off2, &err_));
    ASSERT_OK(rs_publish_tensor(pub, "ids.bytes", RS_U8, 1, shape_b, "abcd", &err_));
    ASSERT_OK(rs_publish_commit(pub, "{}", 0, &err_));
    rs_snapshot *snap;
    rs_error err;
    ck_assert_int_eq(rs_snapshot_open(s, "m", 1, 1, &snap, &err), -1);
    assert_has(err.msg, "tensor 'ids.offsets'");
    assert_has(err.msg, "4 bytes");
    ck_assert_int_eq(rs_snapshot_open(s, "m", 2, 1, &snap, &err), -1);
    assert_has(err.msg, "decrease");
    rs_store_close(s);
    free(dir);
    cleanup();
}
END_TEST

/* ---- publishing --------------------------------------------------------- */

START_TEST(test_versions_and_current)
{
    char *dir = new_dir("ver");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    uint64_t cur;
    rs_error err;
    ASSERT_OK(rs_store_current(s, "m", &cur, &err_));
    ck_assert_uint_eq(cur, 0);
    for (uint64_t i = 1; i <= 3; i++) {
        ck_assert_uint_eq(publish_simple(s, "m", 10 + i, 0), i);
        ASSERT_OK(rs_store_current(s, "m", &cur, &err_));
        ck_assert_uint_eq(cur, i);
    }
    rs_snapshot *snap;
    ASSERT_OK(rs_snapshot_open(s, "m", 2, 1, &snap, &err_));
    ck_assert_uint_eq(rs_snapshot_version(snap), 2);
    ck_assert(snapshot_x0(snap) == 12000.0f);
    ck_assert_str_eq(rs_snapshot_manifest(snap), "{\"seed\": 12}");
    rs_snapshot_close(snap);
    ASSERT_OK(rs_snapshot_open(s, "m", 0, 0, &snap, &err_));
    ck_assert_uint_eq(rs_snapshot_version(snap), 3);
    ck_assert(snapshot_x0(snap) == 13000.0f);
    rs_snapshot_close(snap);
    ck_assert_int_eq(rs_snapshot_open(s, "m", 9, 1, &snap, &err), -1);
    assert_has(err.msg, "no version 9");
    assert_has(err.msg, "current is 3");
    ck_assert_int_eq(rs_snapshot_open(s, "nope", 0, 1, &snap, &err), -1);
    assert_has(err.msg, "no variant 'nope'");
    /* Variants number independently. */
    ck_assert_uint_eq(publish_simple(s, "other", 1, 0), 1);
    rs_store_close(s);
    free(dir);
    cleanup();
}
END_TEST

START_TEST(test_abort_and_failed_commit_leave_store_unchanged)
{
    char *dir = new_dir("abort");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    publish_simple(s, "m", 1, 0);
    rs_publish *pub;
    uint64_t version, cur;
    rs_error err;
    uint64_t shape[1] = {4};
    float data[4] = {1, 2, 3, 4};

    ASSERT_OK(rs_publish_begin(s, "m", &pub, &version, &err_));
    ck_assert_uint_eq(version, 2);
    ASSERT_OK(rs_publish_tensor(pub, "x", RS_F32, 1, shape, data, &err_));
    rs_publish_abort(pub);

    /* Invalid manifests fail the commit, which then aborts. */
    const char *bad_manifests[] = {"not json", "[1, 2]", "{\"a\": 1", NULL};
    for (int i = 0; i < 4; i++) {
        ASSERT_OK(rs_publish_begin(s, "m", &pub, &version, &err_));
        ck_assert_uint_eq(version, 2);
        ASSERT_OK(rs_publish_tensor(pub, "x", RS_F32, 1, shape, data, &err_));
        ck_assert_int_eq(rs_publish_commit(pub, bad_manifests[i], 0, &err), -1);
        assert_has(err.msg, "manifest");
        assert_has(err.msg, "variant 'm' version 2");
    }
    /* A brand-new variant that is aborted never appears. */
    ASSERT_OK(rs_publish_begin(s, "fresh", &pub, &version, &err_));
    rs_publish_abort(pub);
    rs_publish_abort(NULL);

    ASSERT_OK(rs_store_current(s, "m", &cur, &err_));
    ck_assert_uint_eq(cur, 1);
    ASSERT_OK(rs_store_current(s, "fresh", &cur, &err_));
    ck_assert_uint_eq(cur, 0);
    rs_variant_info *list;
    uint32_t n;
    ASSERT_OK(rs_store_list(s, &list, &n, &err_));
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(list[0].name, "m");
    ck_assert_uint_eq(list[0].n_versions, 1);
    rs_store_list_free(list, n);
    rs_snapshot *snap;
    ASSERT_OK(rs_snapshot_open(s, "m", 0, 1, &snap, &err_));
    ck_assert(snapshot_x0(snap) == 1000.0f);
    rs_snapshot_close(snap);

    /* Duplicate tensors and missing data are refused; the publish goes on. */
    ASSERT_OK(rs_publish_begin(s, "m", &pub, &version, &err_));
    ASSERT_OK(rs_publish_tensor(pub, "x", RS_F32, 1, shape, data, &err_));
    ck_assert_int_eq(rs_publish_tensor(pub, "x", RS_F32, 1, shape, data, &err), -1);
    assert_has(err.msg, "written twice");
    ck_assert_int_eq(rs_publish_tensor(pub, "y", RS_F32, 1, shape, NULL, &err), -1);
    assert_has(err.msg, "no data");
    ck_assert_int_eq(rs_publish_tensor(pub, "y", (rs_dtype)9, 1, shape, data, &err), -1);
    assert_has(err.msg, "dtype");
    ck_assert_int_eq(rs_publish_tensor(pub, "y", RS_F32, 5, shape, data, &err), -1);
    assert_has(err.msg, "ndim");
    ck_assert_int_eq(rs_publish_tensor(pub, "y", RS_F32, 1, NULL, data, &err), -1);
    uint64_t huge[2] = {1ull << 40, 1ull << 40};
    ck_assert_int_eq(rs_publish_tensor(pub, "y", RS_F32, 2, huge, data, &err), -1);
    assert_has(err.msg, "overflow");
    ASSERT_OK(rs_publish_commit(pub, "{}", 0, &err_));
    ASSERT_OK(rs_snapshot_open(s, "m", 0, 1, &snap, &err_));
    ck_assert_uint_eq(rs_snapshot_version(snap), 2);
    ck_assert(!rs_snapshot_has(snap, "y"));
    rs_snapshot_close(snap);
    rs_store_close(s);
    free(dir);
    cleanup();
}
END_TEST

static void assert_versions(rs_store *s, const char *variant, const uint64_t *want, uint32_t n)
{
    rs_variant_info *list;
    uint32_t nv;
    ASSERT_OK(rs_store_list(s, &list, &nv, &err_));
    rs_variant_info *info = NULL;
    for (uint32_t i = 0; i < nv; i++)
        if (strcmp(list[i].name, variant) == 0) info = &list[i];
    ck_assert_ptr_nonnull(info);
    ck_assert_uint_eq(info->n_versions, n);
    for (uint32_t i = 0; i < n; i++) ck_assert_uint_eq(info->versions[i].version, want[i]);
    rs_store_list_free(list, nv);
}

START_TEST(test_retention)
{
    char *dir = new_dir("ret");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    for (int i = 1; i <= 5; i++) publish_simple(s, "m", (uint64_t)i, 2);
    assert_versions(s, "m", (uint64_t[]){4, 5}, 2);
    ck_assert_uint_eq(publish_simple(s, "m", 6, 0), 6); /* 0 keeps all */
    assert_versions(s, "m", (uint64_t[]){4, 5, 6}, 3);
    ck_assert_uint_eq(publish_simple(s, "m", 7, 1), 7);
    assert_versions(s, "m", (uint64_t[]){7}, 1);
    /* Numbers are not reused after retention. */
    ck_assert_uint_eq(publish_simple(s, "m", 8, 1), 8);
    rs_snapshot *snap;
    rs_error err;
    ck_assert_int_eq(rs_snapshot_open(s, "m", 7, 1, &snap, &err), -1);
    assert_has(err.msg, "no version 7");
    ASSERT_OK(rs_snapshot_open(s, "m", 8, 1, &snap, &err_));
    ck_assert(snapshot_x0(snap) == 8000.0f);
    rs_snapshot_close(snap);
    rs_store_close(s);

    /* Every key of the deleted versions is gone: only the format record, two
     * counters, one manifest and one tensor remain. */
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_stat st;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_mapsize(env, 1 << 30), 0); /* fits under valgrind */
    ck_assert_int_eq(mdb_env_open(env, dir, MDB_RDONLY, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    ck_assert_int_eq(mdb_stat(txn, dbi, &st), 0);
    ck_assert_uint_eq(st.ms_entries, 5);
    mdb_txn_abort(txn);
    mdb_env_close(env);
    free(dir);
    cleanup();
}
END_TEST

START_TEST(test_listing)
{
    char *dir = new_dir("list");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    /* Byte order of "variant/<name>/" keys differs from name order here. */
    const char *names[] = {"b", "a-b", "a", "a.b", "a_b", "A", "a0"};
    const char *sorted[] = {"A", "a", "a-b", "a.b", "a0", "a_b", "b"};
    for (int i = 0; i < 7; i++)
        for (int j = 0; j <= i % 3; j++) publish_simple(s, names[i], (uint64_t)(100 * i + j), 0);
    rs_variant_info *list;
    uint32_t n;
    ASSERT_OK(rs_store_list(s, &list, &n, &err_));
    ck_assert_uint_eq(n, 7);
    for (uint32_t i = 0; i < n; i++) {
        ck_assert_str_eq(list[i].name, sorted[i]);
        int orig = -1;
        for (int k = 0; k < 7; k++)
            if (strcmp(names[k], sorted[i]) == 0) orig = k;
        uint32_t want = (uint32_t)(orig % 3 + 1);
        ck_assert_uint_eq(list[i].n_versions, want);
        ck_assert_uint_eq(list[i].current, want);
        for (uint32_t v = 0; v < want; v++) {
            ck_assert_uint_eq(list[i].versions[v].version, v + 1);
            ck_assert_int_eq(list[i].versions[v].is_current, v + 1 == want);
            char manifest[64];
            snprintf(manifest, sizeof(manifest), "{\"seed\": %d}", 100 * orig + (int)v);
            ck_assert_str_eq(list[i].versions[v].manifest_json, manifest);
        }
    }
    rs_store_list_free(list, n);
    rs_store_close(s);

    /* An empty store lists nothing. */
    char *dir2 = new_dir("list");
    s = open_store(dir2, RS_STORE_CREATE);
    ASSERT_OK(rs_store_list(s, &list, &n, &err_));
    ck_assert_uint_eq(n, 0);
    rs_store_list_free(list, n);
    rs_store_close(s);
    free(dir);
    free(dir2);
    cleanup();
}
END_TEST

/* ---- readers -------------------------------------------------------------- */

START_TEST(test_mvcc_old_version_survives_retention)
{
    char *dir = new_dir("mvcc");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    publish_simple(s, "m", 1, 1);
    rs_snapshot *old;
    ASSERT_OK(rs_snapshot_open(s, "m", 0, 1, &old, &err_));
    rs_tensor_view before;
    ASSERT_OK(rs_snapshot_tensor(old, "x", RS_F32, &before, &err_));
    /* Newer versions are published (keep_last 1 deletes version 1) and their
     * pages churn; the open snapshot keeps seeing version 1 intact. */
    for (int i = 2; i <= 6; i++) {
        rs_publish *pub;
        uint64_t version;
        ASSERT_OK(rs_publish_begin(s, "m", &pub, &version, &err_));
        ck_assert(snapshot_x0(old) == 1000.0f);
        static double big[40000];
        for (int j = 0; j < 40000; j++) big[j] = i * 1e6 + j;
        uint64_t shape[1] = {40000};
        ASSERT_OK(rs_publish_tensor(pub, "big", RS_F64, 1, shape, big, &err_));
        ASSERT_OK(rs_publish_tensor(pub, "x", RS_F32, 1, (uint64_t[]){1000}, big, &err_));
        ASSERT_OK(rs_publish_commit(pub, "{}", 1, &err_));
        ck_assert(snapshot_x0(old) == 1000.0f);
        ASSERT_OK(rs_snapshot_verify(old, &err_));
    }
    rs_tensor_view after;
    ASSERT_OK(rs_snapshot_tensor(old, "x", RS_F32, &after, &err_));
    ck_assert_ptr_eq(before.data, after.data);
    ck_assert_str_eq(rs_snapshot_manifest(old), "{\"seed\": 1}");
    rs_snapshot *gone;
    rs_error err;
    ck_assert_int_eq(rs_snapshot_open(s, "m", 1, 1, &gone, &err), -1);
    uint64_t cur;
    ASSERT_OK(rs_store_current(s, "m", &cur, &err_));
    ck_assert_uint_eq(cur, 6);
    rs_snapshot_close(old);
    rs_store_close(s);
    free(dir);
    cleanup();
}
END_TEST

typedef struct reader_arg {
    rs_store *store;
    int iterations;
    int failures;
    uint64_t max_seen;
    rs_snapshot *keep; /* left open for the main thread to close */
} reader_arg;

/* ---- administration: set-current, remove, the gate's commit, checks ---- */

static uint64_t current_of(rs_store *s, const char *variant)
{
    uint64_t cur;
    ASSERT_OK(rs_store_current(s, variant, &cur, &err_));
    return cur;
}

START_TEST(test_set_current_and_remove)
{
    char *dir = new_dir("admin");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    rs_error err;
    for (int i = 1; i <= 3; i++) publish_simple(s, "m", (uint64_t)i, 0);
    ASSERT_OK(rs_store_check_invariants(s, &err_));
    /* Rollback: current moves, the snapshot of current is version 1's. */
    ASSERT_OK(rs_store_set_current(s, "m", 1, &err_));
    ck_assert_uint_eq(current_of(s, "m"), 1);
    rs_snapshot *snap;
    ASSERT_OK(rs_snapshot_open(s, "m", 0, 1, &snap, &err_));
    ck_assert(snapshot_x0(snap) == 1000.0f);
    rs_snapshot_close(snap);
    ck_assert_int_eq(rs_store_set_current(s, "m", 9, &err), -1);
    ck_assert_int_eq(err.kind, RS_ERR_NOT_FOUND);
    assert_has(err.msg, "no version 9 (it holds 1, 2, 3)");
    ck_assert_int_eq(rs_store_set_current(s, "nosuch", 1, &err), -1);
    assert_has(err.msg, "no variant 'nosuch'");
    ck_assert_uint_eq(current_of(s, "m"), 1);
    /* A publish with move_current 0 leaves version 1 current; retention
     * (keep 2) deletes the oldest non-current versions only. */
    rs_publish *pub;
    uint64_t v;
    ASSERT_OK(rs_publish_begin(s, "m", &pub, &v, &err_));
    uint64_t cur;
    char *manifest;
    ASSERT_OK(rs_publish_current(pub, &cur, &manifest, &err_));
    ck_assert_uint_eq(cur, 1);
    ck_assert_ptr_nonnull(manifest);
    free(manifest);
    ASSERT_OK(rs_publish_commit_as(pub, "{}", 2, 0, &err_));
    ck_assert_uint_eq(v, 4);
    ck_assert_uint_eq(current_of(s, "m"), 1);
    assert_versions(s, "m", (uint64_t[]){1, 3, 4}, 3);
    ASSERT_OK(rs_store_check_invariants(s, &err_));
    /* Remove: the current one only with force (current moves to the
     * newest other), never the last one. */
    uint64_t after;
    ck_assert_int_eq(rs_store_remove_version(s, "m", 1, 0, &after, &err), -1);
    ck_assert_int_eq(err.kind, RS_ERR_INVALID);
    assert_has(err.msg, "is the current version");
    ASSERT_OK(rs_store_remove_version(s, "m", 3, 0, &after, &err_));
    ck_assert_uint_eq(after, 1);
    assert_versions(s, "m", (uint64_t[]){1, 4}, 2);
    ASSERT_OK(rs_store_remove_version(s, "m", 1, 1, &after, &err_));
    ck_assert_uint_eq(after, 4);
    ck_assert_uint_eq(current_of(s, "m"), 4);
    ck_assert_int_eq(rs_store_remove_version(s, "m", 4, 1, &after, &err), -1);
    assert_has(err.msg, "the only version");
    ck_assert_int_eq(rs_store_remove_version(s, "m", 3, 0, &after, &err), -1);
    ck_assert_int_eq(err.kind, RS_ERR_NOT_FOUND);
    ASSERT_OK(rs_store_check_invariants(s, &err_));
    /* Numbers are never reused after a removal. */
    ck_assert_uint_eq(publish_simple(s, "m", 5, 0), 5);
    uint64_t map, used;
    ASSERT_OK(rs_store_space(s, &map, &used, &err_));
    ck_assert_uint_gt(used, 0);
    ck_assert_uint_ge(map, used);
    rs_store_close(s);
    /* A read-only handle changes nothing. */
    s = open_store(dir, RS_STORE_READONLY);
    ck_assert_int_eq(rs_store_set_current(s, "m", 5, &err), -1);
    assert_has(err.msg, "read-only");
    rs_store_close(s);
    free(dir);
    cleanup();
}
END_TEST

/* The invariant check finds a current pointer to a missing version and a
 * next counter below a version (keys written behind the store's back). */
START_TEST(test_invariants_detect_damage)
{
    char *dir = new_dir("inv");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    publish_simple(s, "m", 1, 0);
    publish_simple(s, "m", 2, 0);
    rs_store_close(s);
    static const struct {
        const char *key;
        uint64_t value;
        const char *says;
    } damage[] = {{"variant/m/current", 7, "current version 7 is not in the store"},
                  {"variant/m/next", 2, "next version 2 is not above its newest version 2"}};
    for (size_t i = 0; i < 2; i++) {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        ck_assert_int_eq(mdb_env_create(&env), 0);
        ck_assert_int_eq(mdb_env_set_mapsize(env, 1 << 30), 0);
        ck_assert_int_eq(mdb_env_open(env, dir, 0, 0644), 0);
        ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
        ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
        uint64_t le = damage[i].value; /* little-endian hosts only (store.h) */
        MDB_val k = {strlen(damage[i].key), (void *)damage[i].key}, v = {8, &le};
        ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
        ck_assert_int_eq(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
        s = open_store(dir, RS_STORE_READONLY);
        rs_error err;
        ck_assert_int_eq(rs_store_check_invariants(s, &err), -1);
        assert_has(err.msg, damage[i].says);
        rs_store_close(s);
        /* Repair for the next case. */
        s = open_store(dir, RS_STORE_CREATE);
        ASSERT_OK(rs_store_set_current(s, "m", 2, &err_));
        rs_store_close(s);
    }
    free(dir);
    cleanup();
}
END_TEST

static void *reader_main(void *p)
{
    reader_arg *a = p;
    for (int i = 0; i < a->iterations; i++) {
        rs_snapshot *snap;
        rs_error err;
        if (rs_snapshot_open(a->store, "m", 0, 1, &snap, &err) != 0) {
            a->failures++;
            continue;
        }
        rs_tensor_view v;
        if (rs_snapshot_tensor(snap, "x", RS_F32, &v, &err) != 0) {
            a->failures++;
        } else {
            /* publish_simple seeds version v with seed v: x[0] = v * 1000. */
            const float *x = v.data;
            uint64_t version = rs_snapshot_version(snap);
            if (x[0] != (float)(version * 1000) || x[999] != x[0] + 999.0f) a->failures++;
            if (version > a->max_seen) a->max_seen = version;
        }
        if (i == a->iterations - 1)
            a->keep = snap;
        else
            rs_snapshot_close(snap);
    }
    return NULL;
}

START_TEST(test_threads_read_while_publishing)
{
    char *dir = new_dir("thr");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    publish_simple(s, "m", 1, 2);
    enum { T = 3 };
    pthread_t th[T];
    reader_arg args[T];
    for (int t = 0; t < T; t++) {
        args[t] = (reader_arg){s, 200, 0, 0, NULL};
        pthread_create(&th[t], NULL, reader_main, &args[t]);
    }
    for (uint64_t v = 2; v <= 20; v++) ck_assert_uint_eq(publish_simple(s, "m", v, 2), v);
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        ck_assert_int_eq(args[t].failures, 0);
        ck_assert_ptr_nonnull(args[t].keep);
        rs_snapshot_close(args[t].keep); /* closed on another thread (MDB_NOTLS) */
    }
    rs_store_close(s);
    free(dir);
    cleanup();
}
END_TEST

START_TEST(test_missing_tensor_and_dtype_mismatch)
{
    char *dir = new_dir("miss");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    publish_simple(s, "m", 1, 0);
    rs_snapshot *snap;
    ASSERT_OK(rs_snapshot_open(s, "m", 0, 1, &snap, &err_));
    rs_tensor_view v;
    rs_error err;
    ck_assert_int_eq(rs_snapshot_tensor(snap, "nope", RS_F32, &v, &err), -1);
    assert_has(err.msg, "tensor 'nope'");
    assert_has(err.msg, "variant 'm' version 1");
    ck_assert_int_eq(rs_snapshot_tensor(snap, "x", RS_U64, &v, &err), -1);
    assert_has(err.msg, "tensor 'x'");
    assert_has(err.msg, "f32");
    assert_has(err.msg, "u64");
    ASSERT_OK(rs_snapshot_tensor(snap, "x", 0, &v, &err_));
    ck_assert_int_eq(v.dtype, RS_F32);
    ck_assert(rs_snapshot_has(snap, "x"));
    ck_assert(!rs_snapshot_has(snap, "nope"));
    ck_assert(!rs_snapshot_has(snap, NULL));
    uint64_t n;
    const uint64_t *off;
    const char *bytes;
    ck_assert_int_eq(rs_snapshot_strings(snap, "x", &n, &off, &bytes, &err), -1);
    rs_snapshot_close(snap);
    rs_store_close(s);
    free(dir);
    cleanup();
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("store");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_roundtrip_all_dtypes);
    tcase_add_test(tc, test_strings);
    tcase_add_test(tc, test_string_table_bounds_checked);
    tcase_add_test(tc, test_versions_and_current);
    tcase_add_test(tc, test_abort_and_failed_commit_leave_store_unchanged);
    tcase_add_test(tc, test_retention);
    tcase_add_test(tc, test_listing);
    tcase_add_test(tc, test_mvcc_old_version_survives_retention);
    tcase_add_test(tc, test_threads_read_while_publishing);
    tcase_add_test(tc, test_missing_tensor_and_dtype_mismatch);
    tcase_add_test(tc, test_set_current_and_remove);
    tcase_add_test(tc, test_invariants_detect_damage);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    cleanup();
    return failed ? 1 : 0;
}
