/* test_store_damage.c - the store against a damaged world: missing and
 * foreign files, garbage, a full map, an address-space limit, and flipped
 * bits in stored tensors, found by their checksums. */
#include <check.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rng.h"
#include "store.h"
#include "test_store_support.h"

/* ---- the store itself ------------------------------------------------------ */

START_TEST(test_open_errors)
{
    rs_store *s;
    rs_error err;
    char *dir = new_dir("missing");
    ck_assert_int_eq(rs_store_open(dir, RS_STORE_READONLY, 0, &s, &err), -1);
    assert_has(err.msg, "no store at");
    assert_has(err.msg, dir);
    ck_assert_int_eq(rs_store_open(dir, 0, 0, &s, &err), -1);
    assert_has(err.msg, "no store at");
    ck_assert_int_eq(mkdir(dir, 0755), 0); /* exists but empty */
    ck_assert_int_eq(rs_store_open(dir, RS_STORE_READONLY, 0, &s, &err), -1);
    assert_has(err.msg, "no store at");
    ck_assert_int_eq(rs_store_open(dir, RS_STORE_READONLY | RS_STORE_CREATE, 0, &s, &err), -1);

    /* Created, then open once per process only. */
    s = open_store(dir, RS_STORE_CREATE);
    rs_store *twice;
    ck_assert_int_eq(rs_store_open(dir, RS_STORE_READONLY, 0, &twice, &err), -1);
    assert_has(err.msg, "already open");
    publish_simple(s, "m", 1, 0);
    rs_store_close(s);

    /* Read-only handles read but do not publish. */
    s = open_store(dir, RS_STORE_READONLY);
    rs_publish *pub;
    uint64_t version;
    ck_assert_int_eq(rs_publish_begin(s, "m", &pub, &version, &err), -1);
    assert_has(err.msg, "read-only");
    rs_snapshot *snap;
    ASSERT_OK(rs_snapshot_open(s, "m", 0, 1, &snap, &err_));
    rs_snapshot_close(snap);
    rs_store_close(s);

    /* A file where the directory should be. */
    char *file = new_dir("file");
    FILE *f = fopen(file, "w");
    fputs("x", f);
    fclose(f);
    ck_assert_int_eq(rs_store_open(file, RS_STORE_READONLY, 0, &s, &err), -1);
    assert_has(err.msg, "not a directory");
    free(file);
    free(dir);
    cleanup();
}
END_TEST

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

START_TEST(test_garbage_and_foreign_files)
{
    rs_store *s;
    rs_error err;
    char path[600];
    /* Random bytes as data.mdb. */
    char *dir = new_dir("garbage");
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    rs_rng rng;
    rs_rng_seed(&rng, 5);
    static uint8_t junk[65536];
    for (size_t i = 0; i < sizeof(junk); i++) junk[i] = (uint8_t)rs_rng_u64(&rng);
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    write_file(path, junk, sizeof(junk));
    ck_assert_int_eq(rs_store_open(dir, RS_STORE_READONLY, 0, &s, &err), -1);
    assert_has(err.msg, dir);
    ck_assert_int_eq(rs_store_open(dir, 0, 0, &s, &err), -1);

    /* A valid LMDB environment that is not a store. */
    char *dir2 = new_dir("foreign");
    ck_assert_int_eq(mkdir(dir2, 0755), 0);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_mapsize(env, 1 << 30), 0); /* fits under valgrind */
    ck_assert_int_eq(mdb_env_open(env, dir2, 0, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    MDB_val k = {5, "hello"}, v = {5, "world"};
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    ck_assert_int_eq(rs_store_open(dir2, RS_STORE_CREATE, 0, &s, &err), -1);
    assert_has(err.msg, "not a recsys store");

    /* A store from a future format version. */
    char *dir3 = new_dir("future");
    s = open_store(dir3, RS_STORE_CREATE);
    rs_store_close(s);
    ck_assert_int_eq(mdb_env_create(&env), 0);
    ck_assert_int_eq(mdb_env_set_mapsize(env, 1 << 30), 0); /* fits under valgrind */
    ck_assert_int_eq(mdb_env_open(env, dir3, 0, 0644), 0);
    ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
    ck_assert_int_eq(mdb_dbi_open(txn, NULL, 0, &dbi), 0);
    uint8_t rec[16] = "RSSTORE";
    rec[8] = 99; /* u32 LE format version */
    k = (MDB_val){12, "store/format"};
    v = (MDB_val){16, rec};
    ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
    ck_assert_int_eq(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    ck_assert_int_eq(rs_store_open(dir3, RS_STORE_READONLY, 0, &s, &err), -1);
    assert_has(err.msg, "format version 99");
    free(dir);
    free(dir2);
    free(dir3);
    cleanup();
}
END_TEST

START_TEST(test_map_full)
{
    char *dir = new_dir("full");
    rs_store *s = NULL;
    rs_error err;
    ck_assert_int_eq(rs_store_open(dir, RS_STORE_CREATE, 1 << 20, &s, &err), 0);
    publish_simple(s, "m", 1, 0);
    rs_publish *pub;
    uint64_t version;
    ASSERT_OK(rs_publish_begin(s, "m", &pub, &version, &err_));
    uint64_t shape[1] = {600000};
    float *big = calloc(600000, sizeof(float));
    ck_assert_int_eq(rs_publish_tensor(pub, "big", RS_F32, 1, shape, big, &err), -1);
    assert_has(err.msg, "full");
    assert_has(err.msg, "larger map size");
    ck_assert_int_eq(rs_publish_tensor(pub, "small", RS_F32, 1, shape, big, &err), -1);
    assert_has(err.msg, "already failed");
    ck_assert_int_eq(rs_publish_commit(pub, "{}", 0, &err), -1);
    uint64_t cur;
    ASSERT_OK(rs_store_current(s, "m", &cur, &err_));
    ck_assert_uint_eq(cur, 1);
    rs_store_close(s);
    /* Reopened with a bigger map, the same publish fits. */
    s = open_store(dir, 0);
    ASSERT_OK(rs_publish_begin(s, "m", &pub, &version, &err_));
    ck_assert_uint_eq(version, 2);
    ASSERT_OK(rs_publish_tensor(pub, "big", RS_F32, 1, shape, big, &err_));
    ASSERT_OK(rs_publish_commit(pub, "{}", 0, &err_));
    rs_store_close(s);
    free(big);
    free(dir);
    cleanup();
}
END_TEST

/* ---- corruption -------------------------------------------------------- */

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    ck_assert_ptr_nonnull(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc(*n);
    ck_assert_uint_eq(fread(buf, 1, *n, f), *n);
    fclose(f);
    return buf;
}

/* XORs mask into the byte at `delta` from every occurrence of pattern in
 * the store's data.mdb; returns the number of occurrences. */
static int patch_store(const char *dir, const void *pattern, size_t plen, long delta, uint8_t mask)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/data.mdb", dir);
    size_t n;
    uint8_t *buf = read_file(path, &n);
    int hits = 0;
    for (uint8_t *p = buf; (p = memmem(p, n - (size_t)(p - buf), pattern, plen)) != NULL; p++) {
        long at = (long)(p - buf) + delta;
        ck_assert(at >= 0 && (size_t)at < n);
        buf[at] ^= mask;
        hits++;
    }
    write_file(path, buf, n);
    free(buf);
    return hits;
}

START_TEST(test_corrupted_payload_detected)
{
    char *dir = new_dir("corrupt");
    rs_store *s = open_store(dir, RS_STORE_CREATE);
    rs_publish *pub;
    uint64_t version;
    ASSERT_OK(rs_publish_begin(s, "prod", &pub, &version, &err_));
    enum { BIG = 5000, SMALL = 6 };
    uint64_t big[BIG];
    for (int i = 0; i < BIG; i++) big[i] = 0x5EC0DEC0FFEE0000ull + (uint64_t)i;
    uint32_t small[SMALL];
    for (int i = 0; i < SMALL; i++) small[i] = 0xA11CE000u + (uint32_t)i;
    ASSERT_OK(rs_publish_tensor(pub, "item_vectors", RS_U64, 1, (uint64_t[]){BIG}, big, &err_));
    ASSERT_OK(rs_publish_tensor(pub, "bias", RS_U32, 2, (uint64_t[]){2, 3}, small, &err_));
    ASSERT_OK(rs_publish_commit(pub, "{}", 0, &err_));
    rs_store_close(s);

    rs_error err;
    rs_snapshot *snap;
    /* One flipped bit deep inside the large (overflow page) payload. */
    ck_assert_int_ge(patch_store(dir, &big[3333], 8, 3, 0x10), 1);
    s = open_store(dir, RS_STORE_READONLY);
    ck_assert_int_eq(rs_snapshot_open(s, "prod", 0, 1, &snap, &err), -1);
    assert_has(err.msg, "variant 'prod'");
    assert_has(err.msg, "version 1");
    assert_has(err.msg, "tensor 'item_vectors'");
    assert_has(err.msg, "checksum");
    /* Without verification it opens; verification then names the tensor. */
    ASSERT_OK(rs_snapshot_open(s, "prod", 0, 0, &snap, &err_));
    ck_assert_int_eq(rs_snapshot_verify(snap, &err), -1);
    assert_has(err.msg, "variant 'prod' version 1 tensor 'item_vectors'");
    assert_has(err.msg, "checksum");
    rs_snapshot_close(snap);
    rs_store_close(s);

    /* Undo it, then corrupt the small tensor stored inside a leaf page. */
    uint64_t flipped = big[3333] ^ (0x10ull << 24);
    ck_assert_int_ge(patch_store(dir, &flipped, 8, 3, 0x10), 1);
    s = open_store(dir, RS_STORE_READONLY);
    ASSERT_OK(rs_snapshot_open(s, "prod", 0, 1, &snap, &err_));
    rs_snapshot_close(snap);
    rs_store_close(s);
    ck_assert_int_ge(patch_store(dir, &small[4], 4, 0, 0x01), 1);
    s = open_store(dir, RS_STORE_READONLY);
    ck_assert_int_eq(rs_snapshot_open(s, "prod", 0, 1, &snap, &err), -1);
    assert_has(err.msg, "tensor 'bias'");
    assert_has(err.msg, "checksum");
    ASSERT_OK(rs_snapshot_open(s, "prod", 0, 0, &snap, &err_));
    ck_assert_int_eq(rs_snapshot_verify(snap, &err), -1);
    assert_has(err.msg, "tensor 'bias'");
    rs_snapshot_close(snap);
    rs_store_close(s);

    /* A flipped header byte (shape[0] of the large tensor, 48 bytes before
     * its payload) is caught even without payload verification. */
    ck_assert_int_ge(patch_store(dir, &big[0], 8, -48, 0x02), 1);
    s = open_store(dir, RS_STORE_READONLY);
    ck_assert_int_eq(rs_snapshot_open(s, "prod", 0, 0, &snap, &err), -1);
    assert_has(err.msg, "tensor 'item_vectors'");
    assert_has(err.msg, "header checksum");
    rs_store_close(s);
    free(dir);
    cleanup();
}
END_TEST

START_TEST(test_default_map_falls_back_under_address_limit)
{
#ifdef TEST_UNDER_ASAN
    return; /* ASan reserves terabytes of shadow memory: no address limit possible */
#endif
    /* With 12 GiB of address space the 64 GiB default map cannot be had;
     * the store falls back to a smaller map instead of failing. */
    struct rlimit old, lim;
    ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
    lim = old;
    lim.rlim_cur = (rlim_t)12 << 30;
    if (old.rlim_cur != RLIM_INFINITY && old.rlim_cur < lim.rlim_cur) return;
    char *dir = new_dir("aslimit");
    ck_assert_int_eq(setrlimit(RLIMIT_AS, &lim), 0);
    rs_store *s = NULL;
    rs_error err = {{0}};
    int rc = rs_store_open(dir, RS_STORE_CREATE, 0, &s, &err);
    if (rc == 0) {
        publish_simple(s, "m", 1, 0);
        rs_store_close(s);
        rc = rs_store_open(dir, RS_STORE_READONLY, 0, &s, &err);
    }
    rs_snapshot *snap = NULL;
    if (rc == 0) rc = rs_snapshot_open(s, "m", 0, 1, &snap, &err);
    setrlimit(RLIMIT_AS, &old);
    ck_assert_msg(rc == 0, "%s", err.msg);
    ck_assert(snapshot_x0(snap) == 1000.0f);
    rs_snapshot_close(snap);
    rs_store_close(s);
    free(dir);
    cleanup();
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("store_damage");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_open_errors);
    tcase_add_test(tc, test_garbage_and_foreign_files);
    tcase_add_test(tc, test_map_full);
    tcase_add_test(tc, test_corrupted_payload_detected);
    tcase_add_test(tc, test_default_map_falls_back_under_address_limit);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    cleanup();
    return failed ? 1 : 0;
}
