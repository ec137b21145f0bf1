/* test_catalog.c - the item catalogue: reading JSON lines and CSV (and
 * their errors, by file and line), the store round trip, and filters
 * against a plain predicate over random catalogues and filters. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "idtable.h"
#include "rng.h"
#include "test_support.h"

static rs_idtable *ids_table(uint32_t n)
{
    rs_error err;
    rs_idtable *t = rs_idtable_new(&err);
    ck_assert_ptr_nonnull(t);
    for (uint32_t i = 0; i < n; i++) {
        char id[16];
        uint32_t idx;
        snprintf(id, sizeof(id), "i%u", i);
        ck_assert_int_eq(rs_idtable_intern(t, id, strlen(id), &idx, &err), 0);
    }
    return t;
}

static char *write_file(const char *name, const char *text)
{
    static char path[256];
    snprintf(path, sizeof(path), "/tmp/recsys-test-catalog-%d-%s", (int)getpid(), name);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static int has_category(const rs_catalog *c, uint32_t item, const char *name)
{
    for (uint32_t p = c->item_indptr[item]; p < c->item_indptr[item + 1]; p++) {
        size_t len;
        const char *s = rs_catalog_category(c, c->item_cats[p], &len);
        if (len == strlen(name) && memcmp(s, name, len) == 0) return 1;
    }
    return 0;
}

static double value(const rs_catalog *c, const char *field, uint32_t item)
{
    uint32_t f;
    ck_assert_int_eq(rs_catalog_find_field(c, field, strlen(field), &f), 0);
    return c->values[(size_t)f * c->n_items + item];
}

START_TEST(test_read_json_lines_and_csv)
{
    rs_idtable *t = ids_table(5);
    rs_catalog c;
    rs_catalog_report rep;
    rs_error err;
    char *p = write_file("a.jsonl", "{\"id\": \"i1\", \"categories\": [\"x\", \"y\", \"x\"], "
                                    "\"price\": 2.5}\n"
                                    "\n"
                                    "{\"id\": \"nope\", \"categories\": [\"z\"]}\n"
                                    "{\"id\": \"i3\", \"year\": 1999, \"price\": null}\n");
    ck_assert_msg(rs_catalog_read(p, t, &c, &rep, &err) == 0, "%s", err.msg);
    unlink(p);
    ck_assert_uint_eq(rep.lines, 3);
    ck_assert_uint_eq(rep.unknown, 1);
    ck_assert_uint_eq(rep.described, 2);
    ck_assert_uint_eq(c.n_items, 5);
    ck_assert_uint_eq(c.n_categories, 2); /* z belongs to an unknown id */
    ck_assert(has_category(&c, 1, "x") && has_category(&c, 1, "y"));
    ck_assert_uint_eq(c.item_indptr[2] - c.item_indptr[1], 2); /* x once */
    ck_assert(c.described[1] && c.described[3] && !c.described[0]);
    ck_assert(value(&c, "price", 1) == 2.5);
    ck_assert(isnan(value(&c, "price", 3)));
    ck_assert(value(&c, "year", 3) == 1999);
    rs_catalog_free(&c);

    p = write_file("b.csv", "id,categories,price\ni0,a|b,3\ni4,,\ni2,b,-1e3\n");
    ck_assert_msg(rs_catalog_read(p, t, &c, &rep, &err) == 0, "%s", err.msg);
    unlink(p);
    ck_assert_uint_eq(rep.described, 3);
    ck_assert(has_category(&c, 0, "a") && has_category(&c, 0, "b") && has_category(&c, 2, "b"));
    ck_assert_uint_eq(c.item_indptr[5] - c.item_indptr[4], 0);
    ck_assert(value(&c, "price", 2) == -1000);
    ck_assert(isnan(value(&c, "price", 4)));
    uint32_t b;
    ck_assert_int_eq(rs_catalog_find_category(&c, "b", 1, &b), 0);
    ck_assert_uint_eq(c.cat_indptr[b + 1] - c.cat_indptr[b], 2);
    ck_assert_int_eq(rs_catalog_find_category(&c, "q", 1, &b), -1);
    rs_catalog_free(&c);
    rs_idtable_free(t);
}
END_TEST

START_TEST(test_bad_lines_name_file_and_line)
{
    static const struct {
        const char *name, *text, *needle;
    } cases[] = {
        {"j1.jsonl", "{\"id\": \"i1\"}\n{\"id\": \"i2\", \"price\": \"cheap\"}\n",
         ":2: field \"price\" must be a number"},
        {"j2.jsonl", "{\"id\": \"i1\"}\n{\"id\": \"i1\"}\n", ":2: the item was described before"},
        {"j3.jsonl", "{\"id\": \"i1\", \"categories\": \"a\"}\n", ":1: \"categories\" must be"},
        {"j4.jsonl", "{\"id\": \"i1\"\n", ":1: malformed JSON"},
        {"j5.jsonl", "[1]\n", ":1: expected a JSON object"},
        {"j6.jsonl", "{\"categories\": []}\n", ":1: \"id\" must be"},
        {"c1.csv", "id,cats\n", ":1: the CSV header must start"},
        {"c2.csv", "id,categories,price\ni1,a,1\ni2,b\n", ":3: 2 columns, the header has 3"},
        {"c3.csv", "id,categories,price\ni1,a,abc\n", ":2: \"abc\" is not a finite number"},
        {"c4.csv", "id,categories,price\ni1,a||b,1\n", ":2: empty category name"},
        {"c5.csv", "id,categories,p,p\n", ":1: field \"p\" is named twice"},
    };
    rs_idtable *t = ids_table(5);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *p = write_file(cases[i].name, cases[i].text);
        rs_catalog c;
        rs_error err;
        ck_assert_int_eq(rs_catalog_read(p, t, &c, NULL, &err), -1);
        ck_assert_int_eq(err.kind, RS_ERR_INVALID);
        assert_has(err.msg, cases[i].name);
        assert_has(err.msg, cases[i].needle);
        unlink(p);
    }
    rs_catalog c;
    rs_error err;
    ck_assert_int_eq(rs_catalog_read("/nonexistent/items.csv", t, &c, NULL, &err), -1);
    assert_has(err.msg, "/nonexistent/items.csv");
    rs_idtable_free(t);
}
END_TEST

/* A random catalogue of n items over nc categories and two fields, as a
 * JSON lines file. */
static void random_catalog(uint32_t n, uint32_t nc, rs_rng *rng, rs_idtable *t, rs_catalog *c)
{
    size_t cap = (size_t)n * 80 + 64, at = 0;
    char *text = malloc(cap);
    for (uint32_t i = 0; i < n; i++) {
        if (rs_rng_below(rng, 10) == 0) continue; /* undescribed */
        at += (size_t)snprintf(text + at, cap - at, "{\"id\": \"i%u\", \"categories\": [", i);
        uint32_t k = (uint32_t)rs_rng_below(rng, 4);
        for (uint32_t j = 0; j < k; j++)
            at += (size_t)snprintf(text + at, cap - at, "%s\"c%u\"", j ? "," : "",
                                   (uint32_t)rs_rng_below(rng, nc));
        at += (size_t)snprintf(text + at, cap - at, "], \"price\": %u",
                               (uint32_t)rs_rng_below(rng, 50));
        if (rs_rng_below(rng, 3))
            at += (size_t)snprintf(text + at, cap - at, ", \"t\": %.3f", rs_rng_uniform(rng));
        at += (size_t)snprintf(text + at, cap - at, "}\n");
    }
    char *p = write_file("r.jsonl", text);
    free(text);
    rs_error err;
    ck_assert_msg(rs_catalog_read(p, t, c, NULL, &err) == 0, "%s", err.msg);
    unlink(p);
}

/* The filter's meaning, item by item. */
static int passes(const rs_catalog *c, const rs_item_filter *f, uint32_t i)
{
    if (f->nothing || (f->any_given && f->n_any == 0)) return 0;
    if (f->allow_given) {
        int in = 0;
        for (uint32_t j = 0; j < f->n_allow; j++) in |= f->allow[j] == i;
        if (!in) return 0;
    }
    for (uint32_t j = 0; j < f->n_deny; j++)
        if (f->deny[j] == i) return 0;
    int has[64] = {0};
    for (uint32_t p = c->item_indptr[i]; p < c->item_indptr[i + 1]; p++) has[c->item_cats[p]] = 1;
    if (f->n_any) {
        int any = 0;
        for (uint32_t j = 0; j < f->n_any; j++) any |= has[f->any[j]];
        if (!any) return 0;
    }
    for (uint32_t j = 0; j < f->n_all; j++)
        if (!has[f->all[j]]) return 0;
    for (uint32_t j = 0; j < f->n_none; j++)
        if (has[f->none[j]]) return 0;
    for (uint32_t j = 0; j < f->n_ranges; j++) {
        double v = c->values[(size_t)f->ranges[j].field * c->n_items + i];
        if (isnan(v) || v < f->ranges[j].min || v > f->ranges[j].max) return 0;
    }
    return 1;
}

static void check_filters(const rs_catalog *c, rs_rng *rng, int rounds)
{
    uint32_t n = c->n_items, nc = c->n_categories;
    size_t words = rs_bitmap_words(n);
    uint64_t *bits = malloc(words * 8), *tmp = malloc(words * 8);
    uint32_t any[4], all[2], none[3], allow[40], deny[40];
    rs_value_range ranges[2];
    for (int r = 0; r < rounds; r++) {
        rs_item_filter f = {0};
        if (rs_rng_below(rng, 2)) {
            f.any_given = 1;
            f.n_any = (uint32_t)rs_rng_below(rng, 5);
            for (uint32_t j = 0; j < f.n_any; j++) any[j] = (uint32_t)rs_rng_below(rng, nc);
            f.any = any;
        }
        f.n_all = (uint32_t)rs_rng_below(rng, 3);
        for (uint32_t j = 0; j < f.n_all; j++) all[j] = (uint32_t)rs_rng_below(rng, nc);
        f.all = all;
        f.n_none = (uint32_t)rs_rng_below(rng, 4);
        for (uint32_t j = 0; j < f.n_none; j++) none[j] = (uint32_t)rs_rng_below(rng, nc);
        f.none = none;
        f.n_ranges = (uint32_t)rs_rng_below(rng, 3);
        for (uint32_t j = 0; j < f.n_ranges; j++) {
            uint32_t field = (uint32_t)rs_rng_below(rng, c->n_fields);
            double a = field == 0 ? (double)rs_rng_below(rng, 50) : rs_rng_uniform(rng);
            double b = field == 0 ? (double)rs_rng_below(rng, 50) : rs_rng_uniform(rng);
            ranges[j] = (rs_value_range){field, RS_MIN(a, b), RS_MAX(a, b)};
            if (rs_rng_below(rng, 4) == 0) ranges[j].min = -INFINITY;
        }
        f.ranges = ranges;
        if (rs_rng_below(rng, 4) == 0) {
            f.allow_given = 1;
            f.n_allow = (uint32_t)rs_rng_below(rng, 41);
            for (uint32_t j = 0; j < f.n_allow; j++) allow[j] = (uint32_t)rs_rng_below(rng, n + 5);
            f.allow = allow;
        }
        f.n_deny = (uint32_t)rs_rng_below(rng, 41);
        for (uint32_t j = 0; j < f.n_deny; j++) deny[j] = (uint32_t)rs_rng_below(rng, n + 5);
        f.deny = deny;
        f.nothing = rs_rng_below(rng, 50) == 0;
        uint32_t count = rs_item_filter_bits(c, n, &f, bits, tmp), want = 0;
        for (uint32_t i = 0; i < n; i++) {
            int p = passes(c, &f, i);
            want += (uint32_t)p;
            ck_assert_int_eq(rs_bitmap_get(bits, i), p);
        }
        ck_assert_uint_eq(count, want);
        if (n % 64) ck_assert_uint_eq(bits[words - 1] >> (n % 64), 0);
    }
    free(bits);
    free(tmp);
}

START_TEST(test_filters_match_the_predicate)
{
    rs_rng rng;
    rs_rng_seed(&rng, 3);
    for (uint32_t n = 1; n <= 700; n = n * 3 + 1) {
        rs_idtable *t = ids_table(n);
        rs_catalog c;
        random_catalog(n, 12, &rng, t, &c);
        if (c.n_categories == 0 || c.n_fields < 2) {
            rs_catalog_free(&c);
            rs_idtable_free(t);
            continue;
        }
        check_filters(&c, &rng, 300);
        rs_catalog_free(&c);
        rs_idtable_free(t);
    }
}
END_TEST

START_TEST(test_store_round_trip)
{
    rs_rng rng;
    rs_rng_seed(&rng, 4);
    rs_idtable *t = ids_table(500);
    rs_catalog c;
    random_catalog(500, 9, &rng, t, &c);
    char dir[] = "/tmp/recsys-test-catalog-store-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    rs_store *s;
    rs_publish *pub;
    uint64_t version;
    json_t *spec;
    ASSERT_OK(rs_store_open(dir, RS_STORE_CREATE, 0, &s, &err_));
    ASSERT_OK(rs_publish_begin(s, "m", &pub, &version, &err_));
    ASSERT_OK(rs_catalog_publish(pub, "items.catalog", &c, &spec, &err_));
    ASSERT_OK(rs_publish_commit(pub, "{}", 0, &err_));
    rs_snapshot *snap;
    ASSERT_OK(rs_snapshot_open(s, "m", 0, 1, &snap, &err_));
    rs_catalog v;
    ASSERT_OK(rs_catalog_load(snap, spec, 500, &v, &err_));
    ck_assert_uint_eq(v.n_categories, c.n_categories);
    ck_assert_uint_eq(v.n_fields, c.n_fields);
    ck_assert_uint_eq(v.n_described, c.n_described);
    ck_assert_int_eq(memcmp(v.item_cats, c.item_cats, c.item_indptr[500] * 4), 0);
    ck_assert_int_eq(memcmp(v.order, c.order, c.order_indptr[c.n_fields] * 4), 0);
    for (uint32_t i = 0; i < c.n_categories; i++) {
        size_t len;
        const char *name = rs_catalog_category(&c, i, &len);
        uint32_t found;
        ck_assert_int_eq(rs_catalog_find_category(&v, name, len, &found), 0);
        ck_assert_uint_eq(found, i);
    }
    check_filters(&v, &rng, 100);
    rs_catalog_free(&v);
    rs_error err;
    ck_assert_int_eq(rs_catalog_load(snap, spec, 499, &v, &err), -1); /* another model */
    ck_assert_int_eq(err.kind, RS_ERR_CORRUPT);
    json_decref(spec);
    rs_catalog_free(&v);
    rs_snapshot_close(snap);
    rs_store_close(s);
    test_remove_store(dir);
    rs_catalog_free(&c);
    rs_idtable_free(t);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("catalog");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_read_json_lines_and_csv);
    tcase_add_test(tc, test_bad_lines_name_file_and_line);
    tcase_add_test(tc, test_filters_match_the_predicate);
    tcase_add_test(tc, test_store_round_trip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
