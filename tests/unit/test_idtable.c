/* test_idtable.c - the id table against a brute-force list of strings. */
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "idtable.h"
#include "rng.h"

/* Random ids of 0..20 bytes over a small alphabet (so that many collide)
 * that includes NUL, tab and high bytes. */
static size_t random_id(rs_rng *rng, char *buf)
{
    static const char alphabet[] = {'a', 'b', '\0', '\t', (char)0xff, '7'};
    size_t len = (size_t)rs_rng_below(rng, 21);
    if (rs_rng_below(rng, 3) == 0) len = (size_t)rs_rng_below(rng, 4);
    for (size_t i = 0; i < len; i++) buf[i] = alphabet[rs_rng_below(rng, sizeof(alphabet))];
    return len;
}

typedef struct ref_entry {
    char s[24];
    size_t len;
} ref_entry;

static long ref_find(const ref_entry *ref, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (ref[i].len == len && memcmp(ref[i].s, s, len) == 0) return (long)i;
    return -1;
}

START_TEST(test_matches_brute_force)
{
    rs_error err;
    rs_idtable *t = rs_idtable_new(&err);
    ck_assert_ptr_nonnull(t);
    enum { OPS = 6000 };
    ref_entry *ref = calloc(OPS, sizeof(*ref));
    size_t n_ref = 0;
    rs_rng rng;
    rs_rng_seed(&rng, 11);
    char buf[24];
    for (int op = 0; op < OPS; op++) {
        size_t len = random_id(&rng, buf);
        long want = ref_find(ref, n_ref, buf, len);
        uint32_t idx = 12345;
        if (rs_rng_below(&rng, 2)) {
            int rc = rs_idtable_find(t, buf, len, &idx);
            if (want < 0) {
                ck_assert_int_eq(rc, -1);
                ck_assert_uint_eq(idx, 12345); /* untouched */
            } else {
                ck_assert_int_eq(rc, 0);
                ck_assert_uint_eq(idx, (uint32_t)want);
            }
        } else {
            ck_assert_int_eq(rs_idtable_intern(t, buf, len, &idx, &err), 0);
            if (want < 0) {
                ck_assert_uint_eq(idx, n_ref); /* new ids get the next index */
                memcpy(ref[n_ref].s, buf, len);
                ref[n_ref].len = len;
                n_ref++;
            } else {
                ck_assert_uint_eq(idx, (uint32_t)want);
            }
        }
        ck_assert_uint_eq(rs_idtable_count(t), n_ref);
    }
    ck_assert_uint_gt(n_ref, 1000); /* the table grew several times */
    for (size_t i = 0; i < n_ref; i++) {
        size_t len = 99;
        const char *name = rs_idtable_name(t, (uint32_t)i, &len);
        ck_assert_ptr_nonnull(name);
        ck_assert_uint_eq(len, ref[i].len);
        ck_assert_int_eq(memcmp(name, ref[i].s, len), 0);
        ck_assert_int_eq(name[len], '\0');
    }
    ck_assert_ptr_null(rs_idtable_name(t, (uint32_t)n_ref, NULL));
    free(ref);
    rs_idtable_free(t);
}
END_TEST

START_TEST(test_empty_and_prefixes)
{
    rs_error err;
    rs_idtable *t = rs_idtable_new(&err);
    uint32_t a, b, c, d, x;
    ck_assert_int_eq(rs_idtable_find(t, "", 0, &x), -1);
    ck_assert_int_eq(rs_idtable_intern(t, "", 0, &a, &err), 0);
    ck_assert_int_eq(rs_idtable_intern(t, "abc", 3, &b, &err), 0);
    ck_assert_int_eq(rs_idtable_intern(t, "abcd", 3, &c, &err), 0); /* same 3 bytes */
    ck_assert_int_eq(rs_idtable_intern(t, "abcdefghij", 10, &d, &err), 0);
    ck_assert_uint_eq(a, 0);
    ck_assert_uint_eq(b, 1);
    ck_assert_uint_eq(c, 1);
    ck_assert_uint_eq(d, 2);
    ck_assert_int_eq(rs_idtable_find(t, "abcdefghi", 9, &x), -1);
    ck_assert_int_eq(rs_idtable_find(t, "abcdefghij", 10, &x), 0);
    ck_assert_uint_eq(x, 2);
    ck_assert_int_eq(rs_idtable_find(t, "", 0, &x), 0);
    ck_assert_uint_eq(x, 0);
    size_t len;
    ck_assert_str_eq(rs_idtable_name(t, 1, &len), "abc");
    ck_assert_uint_eq(len, 3);
    ck_assert_str_eq(rs_idtable_name(t, 0, NULL), "");
    rs_idtable_free(t);
    rs_idtable_free(NULL);
}
END_TEST

/* Many distinct ids, then concurrent read-only lookups from several threads
 * (the server's use after loading a model). */
enum { MANY = 200000, THREADS = 4 };

typedef struct reader_arg {
    const rs_idtable *t;
    int bad;
    unsigned tid;
} reader_arg;

static void *reader(void *p)
{
    reader_arg *a = p;
    char buf[32];
    for (uint32_t i = a->tid; i < MANY; i += 3) {
        int n = snprintf(buf, sizeof(buf), "user-%u", i);
        uint32_t idx;
        if (rs_idtable_find(a->t, buf, (size_t)n, &idx) != 0 || idx != i) a->bad++;
        size_t len;
        const char *name = rs_idtable_name(a->t, i, &len);
        if (!name || len != (size_t)n || memcmp(name, buf, len) != 0) a->bad++;
        n = snprintf(buf, sizeof(buf), "absent-%u", i);
        if (rs_idtable_find(a->t, buf, (size_t)n, &idx) == 0) a->bad++;
    }
    return NULL;
}

START_TEST(test_many_ids_concurrent_reads)
{
    rs_error err;
    rs_idtable *t = rs_idtable_new(&err);
    char buf[32];
    uint32_t bad = 0; /* counted, asserted once: libcheck logs every assertion */
    for (uint32_t i = 0; i < MANY; i++) {
        int n = snprintf(buf, sizeof(buf), "user-%u", i);
        uint32_t idx = UINT32_MAX;
        bad += rs_idtable_intern(t, buf, (size_t)n, &idx, &err) != 0 || idx != i;
    }
    ck_assert_uint_eq(bad, 0);
    ck_assert_uint_eq(rs_idtable_count(t), MANY);
    pthread_t th[THREADS];
    reader_arg args[THREADS];
    for (unsigned k = 0; k < THREADS; k++) {
        args[k] = (reader_arg){t, 0, k};
        ck_assert_int_eq(pthread_create(&th[k], NULL, reader, &args[k]), 0);
    }
    for (unsigned k = 0; k < THREADS; k++) {
        pthread_join(th[k], NULL);
        ck_assert_int_eq(args[k].bad, 0);
    }
    rs_idtable_free(t);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("idtable");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_matches_brute_force);
    tcase_add_test(tc, test_empty_and_prefixes);
    tcase_add_test(tc, test_many_ids_concurrent_reads);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
