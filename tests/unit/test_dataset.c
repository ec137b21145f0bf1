/* test_dataset.c - parsing, filtering and splitting of interaction files,
 * checked against small hand-made files and brute-force references. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataset.h"
#include "rng.h"

/* ------------------------------------------------------------ helpers */

static char tmpdir[256];
static int n_files;

static void setup(void)
{
    strcpy(tmpdir, "/tmp/rs_test_dataset_XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    n_files = 0;
}

static void teardown(void)
{
    char path[512];
    for (int k = 0; k < n_files; k++) {
        snprintf(path, sizeof(path), "%s/f%d", tmpdir, k);
        unlink(path);
    }
    rmdir(tmpdir);
}

/* Writes len bytes to a new file in the temp dir; returns its path
 * (static storage, one per call, up to 64 per test). */
static const char *write_bytes(const char *data, size_t len)
{
    static char paths[64][512];
    ck_assert_int_lt(n_files, 64);
    char *path = paths[n_files];
    snprintf(path, 512, "%s/f%d", tmpdir, n_files++);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, len, f), len);
    fclose(f);
    return path;
}

static const char *write_text(const char *text)
{
    return write_bytes(text, strlen(text));
}

static int load(const rs_data_options *o, rs_dataset *d, rs_error *err)
{
    return rs_dataset_load(o, d, err);
}

static void options_for(rs_data_options *o, const char *train)
{
    rs_data_options_default(o);
    o->train_path = train;
}

/* 1 when row r of m contains col. */
static int has(const rs_csr *m, uint32_t r, uint32_t col)
{
    for (uint64_t k = m->indptr[r]; k < m->indptr[r + 1]; k++)
        if (m->indices[k] == col) return 1;
    return 0;
}

static uint32_t uidx(const rs_dataset *d, const char *name)
{
    uint32_t i = UINT32_MAX;
    ck_assert_msg(rs_idtable_find(d->users, name, strlen(name), &i) == 0, "no user %s", name);
    return i;
}

static uint32_t iidx(const rs_dataset *d, const char *name)
{
    uint32_t i = UINT32_MAX;
    ck_assert_msg(rs_idtable_find(d->items, name, strlen(name), &i) == 0, "no item %s", name);
    return i;
}

/* Structural invariants every matrix must satisfy. */
static void check_csr(const rs_csr *m, uint32_t rows, uint32_t cols)
{
    ck_assert_uint_eq(m->n_rows, rows);
    ck_assert_uint_eq(m->n_cols, cols);
    ck_assert_ptr_nonnull(m->indptr);
    ck_assert_uint_eq(m->indptr[0], 0);
    uint64_t bad = 0; /* counted, asserted once: libcheck logs every assertion */
    for (uint32_t r = 0; r < rows; r++) {
        bad += m->indptr[r] > m->indptr[r + 1];
        for (uint64_t k = m->indptr[r]; k < m->indptr[r + 1]; k++) {
            bad += m->indices[k] >= cols;
            if (k > m->indptr[r]) bad += m->indices[k - 1] >= m->indices[k];
        }
    }
    ck_assert_uint_eq(bad, 0);
}

static void check_dataset(const rs_dataset *d)
{
    uint32_t nu = rs_idtable_count(d->users), ni = rs_idtable_count(d->items);
    ck_assert_uint_eq(d->report.n_users, nu);
    ck_assert_uint_eq(d->report.n_items, ni);
    check_csr(&d->train, nu, ni);
    check_csr(&d->valid, nu, ni);
    check_csr(&d->known, nu, ni);
    check_csr(&d->test, nu, ni);
    check_csr(&d->test_input, nu, ni);
    /* popularity = column counts of train */
    uint32_t *count = calloc(ni, sizeof(uint32_t));
    for (uint64_t k = 0; k < rs_csr_nnz(&d->train); k++) count[d->train.indices[k]]++;
    uint32_t bad_pop = 0;
    for (uint32_t i = 0; i < ni; i++) bad_pop += d->popularity[i] != (float)count[i];
    free(count);
    ck_assert_uint_eq(bad_pop, 0);
}

static int csr_equal(const rs_csr *a, const rs_csr *b)
{
    if (a->n_rows != b->n_rows || a->n_cols != b->n_cols) return 0;
    if (memcmp(a->indptr, b->indptr, ((size_t)a->n_rows + 1) * sizeof(uint64_t)) != 0) return 0;
    return memcmp(a->indices, b->indices, rs_csr_nnz(a) * sizeof(uint32_t)) == 0;
}

/* Asserts that load fails with a message starting with prefix. */
static void expect_error(const rs_data_options *o, const char *prefix)
{
    rs_dataset d;
    rs_error err = {{0}};
    ck_assert_int_eq(load(o, &d, &err), -1);
    ck_assert_msg(strncmp(err.msg, prefix, strlen(prefix)) == 0, "expected '%s...', got '%s'",
                  prefix, err.msg);
    ck_assert_ptr_null(d.users); /* nothing left behind */
    ck_assert_ptr_null(d.train.indptr);
}

/* A random data set: n_users users with long-tailed history lengths
 * (some below 5), items drawn with a skewed popularity, some duplicate rows.
 * Written as TSV; returns the path. */
static const char *random_file(uint64_t seed, uint32_t n_users, uint32_t n_items)
{
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    for (uint32_t u = 0; u < n_users; u++) {
        uint32_t n = 1 + (uint32_t)rs_rng_below(&rng, 8);
        if (rs_rng_below(&rng, 3) == 0) n += (uint32_t)rs_rng_below(&rng, 40);
        for (uint32_t k = 0; k < n; k++) {
            double x = rs_rng_uniform(&rng);
            uint32_t i = (uint32_t)(n_items * x * x * x);
            if (len + 64 > cap) buf = realloc(buf, cap *= 2);
            len += (size_t)snprintf(buf + len, 64, "user%u\titem%u\n", u, i);
        }
    }
    const char *path = write_bytes(buf, len);
    free(buf);
    return path;
}

/* ------------------------------------------------------------- format */

START_TEST(test_separators_and_fields)
{
    /* The same interactions in every accepted shape. */
    const char *texts[] = {
        "u1\ti1\nu1\ti2\nu2\ti2\nu3\ti3\n",
        "u1,i1\nu1,i2\nu2,i2\nu3,i3\n",
        "u1::i1::5::100\nu1::i2::3::101\nu2::i2::4::102\nu3::i3::1::103\n",
        "u1\ti1\t5\nu1\ti2\t3.5\r\nu2\ti2\t4\n\n   \nu3\ti3\t1e0",
        "u1,i1,5,978300760\r\nu1,i2,3,978300761\r\nu2,i2,4,978300762\r\nu3,i3,1,978300763\r\n",
    };
    const char *seps[] = {"\t", ",", "::", "\t", ","};
    for (size_t k = 0; k < sizeof(texts) / sizeof(texts[0]); k++) {
        rs_data_options o;
        options_for(&o, write_text(texts[k]));
        rs_dataset d;
        rs_error err;
        ck_assert_msg(load(&o, &d, &err) == 0, "%zu: %s", k, err.msg);
        check_dataset(&d);
        ck_assert_str_eq(d.report.separator, seps[k]);
        ck_assert_int_eq(d.report.header_skipped, 0);
        ck_assert_uint_eq(d.report.interactions_kept, 4);
        ck_assert_uint_eq(rs_idtable_count(d.users), 3);
        ck_assert_uint_eq(rs_idtable_count(d.items), 3);
        /* indices in order of first appearance */
        ck_assert_uint_eq(uidx(&d, "u1"), 0);
        ck_assert_uint_eq(uidx(&d, "u3"), 2);
        ck_assert_uint_eq(iidx(&d, "i1"), 0);
        ck_assert_uint_eq(iidx(&d, "i3"), 2);
        ck_assert(has(&d.train, 0, 0) && has(&d.train, 0, 1) && has(&d.train, 1, 1));
        ck_assert(has(&d.train, 2, 2));
        ck_assert_uint_eq(rs_csr_nnz(&d.train), 4);
        ck_assert_uint_eq(rs_csr_nnz(&d.test), 0); /* RS_SPLIT_NONE */
        ck_assert(csr_equal(&d.known, &d.train));
        ck_assert(csr_equal(&d.test_input, &d.known));
        rs_dataset_free(&d);
    }
}
END_TEST

START_TEST(test_ids_are_bytes)
{
    /* Spaces, colons, commas (with tab separator) and high bytes are part of
     * ids; the table gives them back exactly. */
    rs_data_options o;
    options_for(&o, write_text("a b\tThe Movie, Part 2\n"
                               "x:y\t\xc3\xa9t\xc3\xa9\n"
                               "a b\tx:y\n"));
    rs_dataset d;
    rs_error err;
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    ck_assert_str_eq(rs_idtable_name(d.users, 0, NULL), "a b");
    ck_assert_str_eq(rs_idtable_name(d.users, 1, NULL), "x:y");
    ck_assert_str_eq(rs_idtable_name(d.items, 0, NULL), "The Movie, Part 2");
    ck_assert_str_eq(rs_idtable_name(d.items, 1, NULL), "\xc3\xa9t\xc3\xa9");
    ck_assert_str_eq(rs_idtable_name(d.items, 2, NULL), "x:y");
    ck_assert_str_eq(d.report.separator, "\t");
    rs_dataset_free(&d);
}
END_TEST

START_TEST(test_header_detection)
{
    struct {
        const char *text;
        int mode, skipped;
        uint32_t users;
    } cases[] = {
        {"user\titem\nu1\ti1\n", -1, 1, 1},
        {"userId,movieId,rating,timestamp\n1,10,4.5,97\n", -1, 1, 1},
        {"USER_ID::ITEM_ID\n1::10\n", -1, 1, 1},
        {"\n\nuid,iid\n1,10\n", -1, 1, 1},
        {"\xef\xbb\xbfuser\titem\nu1\ti1\n", -1, 1, 1}, /* byte order mark */
        {"\xef\xbb\xbfu0\ti0\nu1\ti1\n", -1, 0, 2},
        {"who\twhat\tscore\nu1\ti1\t3\n", -1, 1, 1},       /* non-numeric weight */
        {"who\twhat\t1\tstamp\nu1\ti1\t3\t9\n", -1, 1, 1}, /* non-numeric timestamp */
        {"alice\tbob\nu1\ti1\n", -1, 0, 2},                /* looks like data */
        {"1,10,4.5,97\n2,10,3,98\n", -1, 0, 2},
        {"alice\tbob\nu1\ti1\n", 1, 1, 1}, /* forced */
        {"user\titem\nu1\ti1\n", 0, 0, 2}, /* never: "user" is an id */
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        rs_data_options o;
        options_for(&o, write_text(cases[k].text));
        o.header = cases[k].mode;
        rs_dataset d;
        rs_error err;
        ck_assert_msg(load(&o, &d, &err) == 0, "case %zu: %s", k, err.msg);
        ck_assert_msg(d.report.header_skipped == cases[k].skipped, "case %zu", k);
        ck_assert_msg(rs_idtable_count(d.users) == cases[k].users, "case %zu", k);
        ck_assert_uint_eq(rs_idtable_name(d.users, 0, NULL)[0] & 0x80, 0); /* no BOM in ids */
        rs_dataset_free(&d);
    }
    /* With header detection off, a header with a text weight is an error. */
    rs_data_options o;
    options_for(&o, write_text("user,item,rating\nu1,i1,5\n"));
    o.header = 0;
    char want[600];
    snprintf(want, sizeof(want), "%s:1: weight 'rating' is not a finite number", o.train_path);
    expect_error(&o, want);
}
END_TEST

START_TEST(test_min_rating_and_duplicates)
{
    rs_data_options o;
    options_for(&o, write_text("u1\ti1\t5\n"
                               "u1\ti2\t1\n" /* below */
                               "u9\ti9\t2\n" /* below: u9, i9 never indexed */
                               "u2\ti3\n"    /* no weight: counts as 1 */
                               "u2\ti1\t4\n"
                               "u1\ti1\t4\n"   /* duplicate */
                               "u2\ti1\t3.5\n" /* duplicate */
                               "u2\ti2\t3\n"));
    o.has_min_rating = 1;
    o.min_rating = 3;
    rs_dataset d;
    rs_error err;
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    check_dataset(&d);
    ck_assert_uint_eq(d.report.rows_read, 8);
    ck_assert_uint_eq(d.report.below_min_rating, 3); /* i2@1, u9, u2 i3 (weight 1) */
    ck_assert_uint_eq(d.report.duplicates, 2);
    ck_assert_uint_eq(d.report.interactions_kept, 3);
    ck_assert_uint_eq(rs_idtable_count(d.users), 2);
    ck_assert_uint_eq(rs_idtable_count(d.items), 2);
    uint32_t x;
    ck_assert_int_eq(rs_idtable_find(d.users, "u9", 2, &x), -1);
    ck_assert_int_eq(rs_idtable_find(d.items, "i3", 2, &x), -1);
    ck_assert_uint_eq(iidx(&d, "i1"), 0); /* first kept appearance order */
    ck_assert_uint_eq(iidx(&d, "i2"), 1);
    ck_assert(has(&d.train, uidx(&d, "u1"), 0));
    ck_assert(has(&d.train, uidx(&d, "u2"), 0) && has(&d.train, uidx(&d, "u2"), 1));
    ck_assert_float_eq(d.popularity[0], 2.0f);
    ck_assert_float_eq(d.popularity[1], 1.0f);
    rs_dataset_free(&d);

    /* Without a minimum every row counts; duplicates still collapse. */
    o.has_min_rating = 0;
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(d.report.below_min_rating, 0);
    ck_assert_uint_eq(d.report.duplicates, 2);
    ck_assert_uint_eq(d.report.interactions_kept, 6);
    rs_dataset_free(&d);
}
END_TEST

/* ------------------------------------------------------------ errors */

START_TEST(test_malformed_lines)
{
    struct {
        const char *text;
        const char *what; /* after "PATH:" */
    } cases[] = {
        {"u1\ti1\nu2\n", "2: missing item field"},
        {"u1\ti1\n\tx\n", "2: empty user id"},
        {"u1\ti1\nu1\ti1\nu2\t\n", "3: empty item id"},
        {"u1\ti1\t5\nu2\ti2\tfive\n", "2: weight 'five' is not a finite number"},
        {"u1\ti1\t5\nu2\ti2\tnan\n", "2: weight 'nan' is not a finite number"},
        {"u1\ti1\t5\nu2\ti2\t\n", "2: weight '' is not a finite number"},
        {"u1\ti1\t5\t1\nu2\ti2\t3\tyesterday\n", "2: timestamp 'yesterday' is not a number"},
        {"u1\ti1\t5\t1\nu2\ti2\t3\t4\t5\n", "2: more than 4 fields"},
        {"u1,i1\n\nu2;i2\n", "3: missing item field"},
        {"u1 i1\n", "1: no separator"},
        {"user\titem\n\n\nu1::i1\n", "4: missing item field"},
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        rs_data_options o;
        options_for(&o, write_text(cases[k].text));
        char want[600];
        snprintf(want, sizeof(want), "%s:%s", o.train_path, cases[k].what);
        expect_error(&o, want);
    }
    /* A NUL byte on line 3. */
    rs_data_options o;
    options_for(&o, write_bytes("u1\ti1\nu2\ti2\nu3\ti\0x\n", 17));
    char want[600];
    snprintf(want, sizeof(want), "%s:3: NUL byte", o.train_path);
    expect_error(&o, want);
    /* A line over 64 KiB on line 2. */
    size_t big = 70000;
    char *text = malloc(big + 16);
    memcpy(text, "u1\ti1\nu2\t", 9);
    memset(text + 9, 'x', big);
    memcpy(text + 9 + big, "\n", 2);
    options_for(&o, write_text(text));
    free(text);
    snprintf(want, sizeof(want), "%s:2: line longer than", o.train_path);
    expect_error(&o, want);
    /* Errors in the test file name the test file. */
    options_for(&o, write_text("u1\ti1\nu1\ti2\n"));
    o.split = RS_SPLIT_FILE;
    o.test_path = write_text("u1\ti2\nu1\n");
    snprintf(want, sizeof(want), "%s:2: missing item field", o.test_path);
    expect_error(&o, want);
}
END_TEST

START_TEST(test_empty_data_and_bad_options)
{
    const char *empties[] = {"", "\n\n\r\n", "user\titem\n", "user\titem\n\n"};
    for (size_t k = 0; k < sizeof(empties) / sizeof(empties[0]); k++) {
        rs_data_options o;
        options_for(&o, write_text(empties[k]));
        char want[600];
        snprintf(want, sizeof(want), "%s: no data rows", o.train_path);
        expect_error(&o, want);
    }
    rs_data_options o;
    options_for(&o, write_text("u1\ti1\t1\nu2\ti1\t2\n"));
    o.has_min_rating = 1;
    o.min_rating = 4;
    char want[600];
    snprintf(want, sizeof(want), "%s: no interactions left", o.train_path);
    expect_error(&o, want);
    options_for(&o, write_text("u1\ti1\nu2\ti1\nu2\ti2\n"));
    o.kcore_users = 3;
    snprintf(want, sizeof(want), "%s: no interactions left after the k-core", o.train_path);
    expect_error(&o, want);

    snprintf(want, sizeof(want), "%s/absent.tsv", tmpdir);
    options_for(&o, want);
    expect_error(&o, "cannot open");
    options_for(&o, tmpdir);
    expect_error(&o, tmpdir); /* "... is not a regular file" */
    options_for(&o, write_text("u1\ti1\n"));
    o.split = RS_SPLIT_FILE; /* no test path */
    expect_error(&o, "the file split needs a test file");
    o.split = RS_SPLIT_HOLDOUT;
    o.holdout_fraction = 1.0;
    expect_error(&o, "holdout fraction must be in (0, 1)");
    o.split = RS_SPLIT_USERS;
    o.heldout_users = 0;
    expect_error(&o, "the held-out users split needs a count");
    o.heldout_users = 1; /* nobody has 5 items */
    expect_error(&o, "cannot hold out 1 users");
}
END_TEST

/* ------------------------------------------------------------- k-core */

/* Brute force: repeat full passes over the interaction list until stable. */
static void kcore_reference(const rs_csr *m, uint32_t ku, uint32_t ki, uint8_t *au, uint8_t *ai)
{
    memset(au, 1, m->n_rows);
    memset(ai, 1, m->n_cols);
    uint32_t *deg_i = calloc(m->n_cols, sizeof(uint32_t));
    for (int changed = 1; changed;) {
        changed = 0;
        for (uint32_t u = 0; u < m->n_rows; u++) {
            if (!au[u]) continue;
            uint32_t deg = 0;
            for (uint64_t k = m->indptr[u]; k < m->indptr[u + 1]; k++) deg += ai[m->indices[k]];
            if (deg < ku) au[u] = 0, changed = 1;
        }
        memset(deg_i, 0, m->n_cols * sizeof(uint32_t));
        for (uint32_t u = 0; u < m->n_rows; u++)
            if (au[u])
                for (uint64_t k = m->indptr[u]; k < m->indptr[u + 1]; k++) deg_i[m->indices[k]]++;
        for (uint32_t i = 0; i < m->n_cols; i++)
            if (ai[i] && deg_i[i] < ki) ai[i] = 0, changed = 1;
    }
    free(deg_i);
}

START_TEST(test_kcore_matches_brute_force)
{
    const char *path = random_file(5, 400, 300);
    rs_data_options o;
    options_for(&o, path);
    rs_dataset full;
    rs_error err;
    ck_assert_msg(load(&o, &full, &err) == 0, "%s", err.msg);
    uint32_t settings[][2] = {{5, 0}, {0, 8}, {5, 5}, {8, 10}, {3, 15}, {12, 4}};
    uint8_t *au = malloc(full.train.n_rows), *ai = malloc(full.train.n_cols);
    uint32_t max_rounds = 0;
    for (size_t s = 0; s < sizeof(settings) / sizeof(settings[0]); s++) {
        uint32_t ku = settings[s][0], ki = settings[s][1];
        kcore_reference(&full.train, ku, ki, au, ai);
        o.kcore_users = ku;
        o.kcore_items = ki;
        rs_dataset d;
        ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
        check_dataset(&d);
        uint32_t want_u = 0, want_i = 0;
        uint64_t want_nnz = 0;
        for (uint32_t u = 0; u < full.train.n_rows; u++) {
            const char *un = rs_idtable_name(full.users, u, NULL);
            uint32_t du;
            int present = rs_idtable_find(d.users, un, strlen(un), &du) == 0;
            ck_assert_int_eq(present, au[u]);
            if (!au[u]) continue;
            ck_assert_uint_eq(du, want_u); /* order kept, compacted */
            want_u++;
            uint32_t deg = 0;
            for (uint64_t k = full.train.indptr[u]; k < full.train.indptr[u + 1]; k++) {
                uint32_t i = full.train.indices[k];
                const char *in = rs_idtable_name(full.items, i, NULL);
                uint32_t di;
                int item_present = rs_idtable_find(d.items, in, strlen(in), &di) == 0;
                ck_assert_int_eq(item_present, ai[i]);
                if (ai[i]) {
                    ck_assert(has(&d.train, du, di));
                    deg++;
                }
            }
            ck_assert_uint_eq(rs_csr_row_len(&d.train, du), deg);
            ck_assert_uint_ge(deg, ku);
            want_nnz += deg;
        }
        for (uint32_t i = 0; i < full.train.n_cols; i++) {
            want_i += ai[i];
            if (!ai[i]) continue;
            uint32_t di = iidx(&d, rs_idtable_name(full.items, i, NULL));
            ck_assert_float_ge(d.popularity[di], (float)ki);
        }
        ck_assert_uint_eq(rs_idtable_count(d.users), want_u);
        ck_assert_uint_eq(rs_idtable_count(d.items), want_i);
        ck_assert_uint_eq(rs_csr_nnz(&d.train), want_nnz);
        ck_assert_uint_eq(d.report.kcore_users_removed, full.train.n_rows - want_u);
        ck_assert_uint_eq(d.report.kcore_items_removed, full.train.n_cols - want_i);
        ck_assert_uint_eq(d.report.kcore_interactions_removed, rs_csr_nnz(&full.train) - want_nnz);
        ck_assert_uint_gt(d.report.kcore_rounds, 0);
        if (d.report.kcore_rounds > max_rounds) max_rounds = d.report.kcore_rounds;
        ck_assert_uint_gt(want_u, 0);
        rs_dataset_free(&d);
    }
    ck_assert_uint_ge(max_rounds, 2); /* the filter really iterated */
    free(au);
    free(ai);
    rs_dataset_free(&full);
}
END_TEST

/* ------------------------------------------------------------- splits */

static uint32_t expected_moved(uint32_t n, double fraction)
{
    double k = floor(fraction * n + 0.5);
    return (uint32_t)(k < 1 ? 1 : k > n - 1 ? n - 1 : k);
}

/* a and b disjoint per row and a ∪ b == whole, row by row. */
static void check_partition(const rs_csr *a, const rs_csr *b, const rs_csr *whole, uint32_t r)
{
    ck_assert_uint_eq(rs_csr_row_len(a, r) + rs_csr_row_len(b, r), rs_csr_row_len(whole, r));
    for (uint64_t k = whole->indptr[r]; k < whole->indptr[r + 1]; k++) {
        uint32_t i = whole->indices[k];
        ck_assert_int_eq(has(a, r, i) + has(b, r, i), 1);
    }
}

START_TEST(test_holdout_split)
{
    const char *path = random_file(9, 300, 200);
    rs_data_options o;
    options_for(&o, path);
    rs_dataset full, d, again, other;
    rs_error err;
    ck_assert_msg(load(&o, &full, &err) == 0, "%s", err.msg);
    o.split = RS_SPLIT_HOLDOUT;
    o.holdout_fraction = 0.25;
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    check_dataset(&d);
    ck_assert_uint_eq(d.train.n_rows, full.train.n_rows);
    uint32_t users_with_test = 0, small = 0;
    for (uint32_t u = 0; u < d.train.n_rows; u++) {
        uint32_t n = rs_csr_row_len(&full.train, u);
        check_partition(&d.train, &d.test, &full.train, u);
        if (n < 5) {
            ck_assert_uint_eq(rs_csr_row_len(&d.test, u), 0);
            small++;
        } else {
            ck_assert_uint_eq(rs_csr_row_len(&d.test, u), expected_moved(n, 0.25));
            ck_assert_uint_ge(rs_csr_row_len(&d.train, u), 1);
            users_with_test++;
        }
    }
    ck_assert_uint_gt(small, 0);
    ck_assert_uint_gt(users_with_test, 0);
    ck_assert_uint_eq(d.report.test_users, users_with_test);
    ck_assert(csr_equal(&d.known, &d.train));
    ck_assert(csr_equal(&d.test_input, &d.known));
    ck_assert_uint_eq(rs_csr_nnz(&d.valid), 0);
    /* Same seed, same split; another seed, another split. */
    ck_assert_msg(load(&o, &again, &err) == 0, "%s", err.msg);
    ck_assert(csr_equal(&d.train, &again.train) && csr_equal(&d.test, &again.test));
    o.seed++;
    ck_assert_msg(load(&o, &other, &err) == 0, "%s", err.msg);
    ck_assert(!csr_equal(&d.test, &other.test));
    ck_assert_uint_eq(rs_csr_nnz(&d.test), rs_csr_nnz(&other.test)); /* same sizes */
    rs_dataset_free(&other);
    rs_dataset_free(&again);
    rs_dataset_free(&d);
    rs_dataset_free(&full);
}
END_TEST

START_TEST(test_holdout_is_uniform)
{
    /* One user, 10 items, fraction 0.2: over many seeds each item is held out
     * 20% of the time (checks the choice is not biased to some positions). */
    rs_data_options o;
    options_for(&o, write_text("u\ti0\nu\ti1\nu\ti2\nu\ti3\nu\ti4\n"
                               "u\ti5\nu\ti6\nu\ti7\nu\ti8\nu\ti9\n"));
    o.split = RS_SPLIT_HOLDOUT;
    enum { SEEDS = 2000 };
    unsigned counts[10] = {0};
    for (uint64_t s = 0; s < SEEDS; s++) {
        o.seed = s;
        rs_dataset d;
        rs_error err;
        ck_assert_int_eq(load(&o, &d, &err), 0);
        ck_assert_uint_eq(rs_csr_nnz(&d.test), 2);
        for (uint64_t k = 0; k < 2; k++) counts[d.test.indices[k]]++;
        rs_dataset_free(&d);
    }
    /* chi-square, 9 degrees of freedom, 0.999 quantile 27.88 */
    double chi2 = 0, expect = SEEDS * 0.2;
    for (int i = 0; i < 10; i++) chi2 += (counts[i] - expect) * (counts[i] - expect) / expect;
    ck_assert_double_lt(chi2, 27.88);
}
END_TEST

START_TEST(test_users_split)
{
    const char *path = random_file(13, 300, 200);
    rs_data_options o;
    options_for(&o, path);
    rs_dataset full, d, again, other;
    rs_error err;
    ck_assert_msg(load(&o, &full, &err) == 0, "%s", err.msg);
    o.split = RS_SPLIT_USERS;
    o.heldout_users = 40;
    o.foldin_fraction = 0.7;
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    check_dataset(&d);
    uint32_t held = 0;
    for (uint32_t u = 0; u < d.train.n_rows; u++) {
        uint32_t n = rs_csr_row_len(&full.train, u);
        if (rs_csr_row_len(&d.test, u) > 0) {
            held++;
            ck_assert_uint_ge(n, 5);
            ck_assert_uint_eq(rs_csr_row_len(&d.train, u), 0);
            ck_assert_uint_eq(rs_csr_row_len(&d.known, u), 0);
            check_partition(&d.test_input, &d.test, &full.train, u);
            ck_assert_uint_eq(rs_csr_row_len(&d.test, u), expected_moved(n, 0.3));
        } else {
            ck_assert_uint_eq(rs_csr_row_len(&d.test_input, u), 0);
            ck_assert_uint_eq(rs_csr_row_len(&d.train, u), n);
            check_partition(&d.train, &d.test, &full.train, u);
        }
    }
    ck_assert_uint_eq(held, 40);
    ck_assert_uint_eq(d.report.heldout_users, 40);
    ck_assert_uint_eq(d.report.test_users, 40);
    ck_assert_msg(load(&o, &again, &err) == 0, "%s", err.msg);
    ck_assert(csr_equal(&d.test, &again.test) && csr_equal(&d.test_input, &again.test_input));
    o.seed = 77;
    ck_assert_msg(load(&o, &other, &err) == 0, "%s", err.msg);
    ck_assert(!csr_equal(&d.test, &other.test));
    rs_dataset_free(&other);
    rs_dataset_free(&again);
    rs_dataset_free(&d);
    rs_dataset_free(&full);
}
END_TEST

START_TEST(test_validation_carve_out)
{
    const char *path = random_file(21, 300, 200);
    rs_data_options o;
    options_for(&o, path);
    o.split = RS_SPLIT_HOLDOUT;
    rs_dataset base, d, again;
    rs_error err;
    ck_assert_msg(load(&o, &base, &err) == 0, "%s", err.msg);
    o.valid_users = 30;
    o.valid_fraction = 0.3;
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    check_dataset(&d);
    /* The test split does not depend on the validation carve-out. */
    ck_assert(csr_equal(&d.test, &base.test));
    ck_assert(csr_equal(&d.known, &base.train));
    ck_assert(csr_equal(&d.test_input, &d.known));
    uint32_t vusers = 0;
    for (uint32_t u = 0; u < d.train.n_rows; u++) {
        check_partition(&d.train, &d.valid, &d.known, u);
        uint32_t n = rs_csr_row_len(&d.known, u), v = rs_csr_row_len(&d.valid, u);
        if (v) {
            vusers++;
            ck_assert_uint_ge(n, 5);
            ck_assert_uint_eq(v, expected_moved(n, 0.3));
        }
    }
    ck_assert_uint_eq(vusers, 30);
    ck_assert_uint_eq(d.report.valid_users, 30);
    ck_assert_uint_eq(d.report.valid_interactions, rs_csr_nnz(&d.valid));
    ck_assert_msg(load(&o, &again, &err) == 0, "%s", err.msg);
    ck_assert(csr_equal(&d.valid, &again.valid) && csr_equal(&d.train, &again.train));
    rs_dataset_free(&again);
    /* More validation users than eligible: clamped to the eligible ones. */
    uint32_t eligible = 0;
    for (uint32_t u = 0; u < base.train.n_rows; u++)
        eligible += rs_csr_row_len(&base.train, u) >= 5;
    o.valid_users = 100000;
    ck_assert_msg(load(&o, &again, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(again.report.valid_users, eligible);
    rs_dataset_free(&again);
    rs_dataset_free(&d);
    rs_dataset_free(&base);
}
END_TEST

START_TEST(test_file_split_unknown_ids)
{
    rs_data_options o;
    options_for(&o, write_text("user\titem\tscore\n"
                               "u1\ti1\t5\nu1\ti2\t5\nu2\ti2\t5\nu2\ti3\t5\nu3\ti1\t2\n"));
    o.split = RS_SPLIT_FILE;
    o.has_min_rating = 1;
    o.min_rating = 4;
    o.test_path = write_text("u1,i3,5\n"
                             "ghost,i1,5\n"   /* unknown user */
                             "u2,i9,5\n"      /* unknown item */
                             "u2,i1,5\n"      /* kept */
                             "u1,i1,5\n"      /* already in train */
                             "u1,i3,4\n"      /* duplicate */
                             "u2,i1,1\n"      /* below min rating */
                             "u3,i2,5\n"      /* u3 only had a low rating: unknown */
                             "spook,i8,5\n"); /* unknown user (not counted as item) */
    rs_dataset d;
    rs_error err;
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    check_dataset(&d);
    const rs_data_report *r = &d.report;
    ck_assert_int_eq(r->header_skipped, 1);
    ck_assert_int_eq(r->test_header_skipped, 0);
    ck_assert_str_eq(r->test_separator, ",");
    ck_assert_uint_eq(r->test_lines, 9);
    ck_assert_uint_eq(r->test_rows_read, 9);
    ck_assert_uint_eq(r->test_unknown_user, 3);
    ck_assert_str_eq(r->first_unknown_user, "ghost");
    ck_assert_uint_eq(r->first_unknown_user_line, 2);
    ck_assert_uint_eq(r->test_unknown_item, 1);
    ck_assert_str_eq(r->first_unknown_item, "i9");
    ck_assert_uint_eq(r->first_unknown_item_line, 3);
    ck_assert_uint_eq(r->test_in_train, 1);
    ck_assert_uint_eq(r->test_duplicates, 1);
    ck_assert_uint_eq(r->test_below_min_rating, 1);
    ck_assert_uint_eq(rs_csr_nnz(&d.test), 2);
    ck_assert(has(&d.test, uidx(&d, "u1"), iidx(&d, "i3")));
    ck_assert(has(&d.test, uidx(&d, "u2"), iidx(&d, "i1")));
    ck_assert_uint_eq(r->test_users, 2);
    ck_assert(csr_equal(&d.train, &d.known));
    ck_assert(csr_equal(&d.test_input, &d.known));
    char summary[4096] = {0};
    FILE *f = fmemopen(summary, sizeof(summary) - 1, "w");
    rs_data_report_print(r, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(summary, "first 'ghost', line 2"));
    rs_dataset_free(&d);

    /* A test file whose every row is unusable is an error that says why. */
    o.test_path = write_text("nobody\ti1\n");
    char want[600];
    snprintf(want, sizeof(want), "%s: no usable test interactions", o.test_path);
    expect_error(&o, want);
}
END_TEST

/* ------------------------------------------------------- shared data */

START_TEST(test_ml100k_counts)
{
    const char *shared = getenv("SHARED_DIR");
    char train[1024], test[1024];
    snprintf(train, sizeof(train), "%s/data/ml100k/train.tsv", shared ? shared : "../shared");
    snprintf(test, sizeof(test), "%s/data/ml100k/test.tsv", shared ? shared : "../shared");
    if (access(train, R_OK) != 0 || access(test, R_OK) != 0) {
        printf("skipped: %s not present (shared MovieLens data absent)\n", train);
        return;
    }
    rs_data_options o;
    options_for(&o, train);
    o.split = RS_SPLIT_FILE;
    o.test_path = test;
    rs_dataset d;
    rs_error err;
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    ck_assert_uint_eq(rs_idtable_count(d.users), 917);
    ck_assert_uint_eq(rs_idtable_count(d.items), 939);
    ck_assert_uint_eq(rs_csr_nnz(&d.train), 75599);
    ck_assert_uint_eq(rs_csr_nnz(&d.test), 18882);
    ck_assert_uint_eq(d.report.duplicates, 0);
    ck_assert_uint_eq(d.report.test_unknown_user + d.report.test_unknown_item, 0);
    ck_assert_uint_eq(d.report.test_in_train, 0);
    double pop = 0;
    for (uint32_t i = 0; i < 939; i++) pop += d.popularity[i];
    ck_assert_double_eq(pop, 75599);
    rs_dataset_free(&d);
}
END_TEST

/* ------------------------------------------------------------ seen-set */

/* A random ratings file (user, item, rating 1-5) as CSV text. */
static char *random_ratings(uint64_t seed, uint32_t n_users, uint32_t n_items, size_t *len)
{
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    *len = 0;
    for (uint32_t u = 0; u < n_users; u++) {
        uint32_t n = 2 + (uint32_t)rs_rng_below(&rng, 30);
        for (uint32_t k = 0; k < n; k++) {
            double x = rs_rng_uniform(&rng);
            uint32_t i = (uint32_t)(n_items * x * x);
            if (*len + 64 > cap) buf = realloc(buf, cap *= 2);
            *len += (size_t)snprintf(buf + *len, 64, "user%u,item%u,%u\n", u, i,
                                     1 + (unsigned)rs_rng_below(&rng, 5));
        }
    }
    buf[*len] = '\0';
    return buf;
}

/* The seen-set is, by brute force over the files' rows, every row whose
 * user and item are in the tables, whatever its rating and wherever the
 * split put it; known and test are inside it. */
static void check_seen(const rs_dataset *d, const char *const *texts, int n_texts)
{
    uint32_t nu = rs_idtable_count(d->users), ni = rs_idtable_count(d->items);
    check_csr(&d->seen, nu, ni);
    uint8_t *expect = calloc((size_t)nu * ni, 1);
    for (int f = 0; f < n_texts; f++) {
        const char *p = texts[f];
        char user[64], item[64];
        unsigned rating;
        int used;
        while (sscanf(p, "%63[^,],%63[^,],%u\n%n", user, item, &rating, &used) == 3) {
            uint32_t u, i;
            if (rs_idtable_find(d->users, user, strlen(user), &u) == 0 &&
                rs_idtable_find(d->items, item, strlen(item), &i) == 0)
                expect[(size_t)u * ni + i] = 1;
            p += used;
        }
    }
    uint64_t missing = 0, extra = 0, expected = 0;
    for (uint32_t u = 0; u < nu; u++)
        for (uint32_t i = 0; i < ni; i++) {
            int in = has(&d->seen, u, i);
            expected += expect[(size_t)u * ni + i];
            missing += expect[(size_t)u * ni + i] && !in;
            extra += !expect[(size_t)u * ni + i] && in;
            if (has(&d->known, u, i) || has(&d->test, u, i)) missing += !in;
        }
    free(expect);
    ck_assert_uint_eq(missing, 0);
    ck_assert_uint_eq(extra, 0);
    ck_assert_uint_eq(rs_csr_nnz(&d->seen), expected);
    ck_assert_uint_eq(d->report.seen_interactions, expected);
}

START_TEST(test_seen_set)
{
    size_t len_a, len_b;
    char *a = random_ratings(5, 120, 60, &len_a), *b = random_ratings(6, 120, 80, &len_b);
    const char *train = write_bytes(a, len_a), *test = write_bytes(b, len_b);
    const char *texts[2] = {a, b};
    rs_data_options o;
    rs_dataset d;
    rs_error err;
    /* Holdout split, validation, --min-rating 4: low rows, held-out and
     * validation items are seen. */
    options_for(&o, train);
    o.has_min_rating = 1;
    o.min_rating = 4;
    o.split = RS_SPLIT_HOLDOUT;
    o.valid_users = 30;
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    check_dataset(&d);
    ck_assert_uint_gt(d.report.below_min_rating, 0);
    ck_assert_uint_gt(rs_csr_nnz(&d.seen), rs_csr_nnz(&d.known) + rs_csr_nnz(&d.test));
    check_seen(&d, texts, 1);
    rs_dataset_free(&d);
    /* A test file: its rows (low-rated ones too) are seen. */
    o.split = RS_SPLIT_FILE;
    o.test_path = test;
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    check_seen(&d, texts, 2);
    rs_dataset_free(&d);
    /* No rating threshold, no split, no validation: the seen-set is the
     * known matrix. */
    options_for(&o, train);
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    check_seen(&d, texts, 1);
    ck_assert(csr_equal(&d.seen, &d.known));
    rs_dataset_free(&d);
    free(a);
    free(b);
}
END_TEST

/* --------------------------------------------------- quotes and columns */

START_TEST(test_quoted_fields_and_columns)
{
    rs_data_options o;
    rs_dataset d;
    rs_error err;
    options_for(&o, write_text("userId,movieId,rating,timestamp\n"
                               "\"u 1\",\"Toy Story, 1995\",4,10\n"
                               "u2,\"Toy Story, 1995\" ,5,11\n"
                               "\"u 1\",plain,2,12\n"
                               "u3,plain,3\n"));
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    check_dataset(&d);
    ck_assert_uint_eq(rs_idtable_count(d.items), 2);
    ck_assert(has(&d.train, uidx(&d, "u 1"), iidx(&d, "Toy Story, 1995")));
    ck_assert(has(&d.train, uidx(&d, "u2"), iidx(&d, "Toy Story, 1995")));
    ck_assert_uint_eq(d.report.rows_read, 4);
    ck_assert_uint_eq(d.report.rows_weighted, 4);
    ck_assert_uint_eq(d.report.rows_timestamped, 3);
    ck_assert_uint_eq(d.report.rows_quoted, 3);
    char *text = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&text, &size);
    rs_data_report_print(&d.report, f);
    fclose(f);
    ck_assert_msg(strstr(text, "weight (4 rows; ignored: every row counts as one interaction") &&
                      strstr(text, "timestamp (3 rows; ignored") &&
                      strstr(text, "3 rows had quoted fields"),
                  "%s", text);
    free(text);
    rs_dataset_free(&d);
    /* With --min-rating the weight column is used. */
    o.has_min_rating = 1;
    o.min_rating = 4;
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    f = open_memstream(&text, &size);
    rs_data_report_print(&d.report, f);
    fclose(f);
    ck_assert_msg(strstr(text, "used: rows below --min-rating 4 are not trained on"), "%s", text);
    free(text);
    rs_dataset_free(&d);
    /* Quotes the reader cannot take say that quotes are the problem. */
    static const struct {
        const char *text, *says;
    } bad[] = {
        {"u,i\n\"a,b\n", ":2: field 1: an opening double quote has no closing one"},
        {"u,i\na,\"b\"\"c\"\n", ":2: field 2: a doubled quote"},
        {"u,i\n\"a\"x,b\n", ":2: field 1: text follows the closing quote"},
        {"u,i\na,b\"c\n", ":2: field 2: a double quote inside a field"},
    };
    for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
        options_for(&o, write_text(bad[k].text));
        expect_error(&o, o.train_path);
        ck_assert_int_eq(load(&o, &d, &err), -1);
        ck_assert_msg(strstr(err.msg, bad[k].says) && strstr(err.msg, "quoted fields are read"),
                      "%s", err.msg);
    }
}
END_TEST

/* --split time: each user's test items are exactly the latest
 * split_count of their items by timestamp (brute force over the rows; a
 * repeated row counts at its latest time), train and test partition the
 * rows, and a row without a timestamp is refused. */
START_TEST(test_time_split)
{
    rs_rng rng;
    rs_rng_seed(&rng, 9);
    enum { U = 40, I = 50 };
    static double latest[U][I];
    char *buf = malloc(1 << 20);
    size_t len = 0;
    for (int u = 0; u < U; u++)
        for (int i = 0; i < I; i++) latest[u][i] = -1;
    for (int u = 0; u < U; u++) {
        int n = 1 + (int)rs_rng_below(&rng, 25);
        for (int k = 0; k < n; k++) {
            int i = (int)rs_rng_below(&rng, I);
            double t = (double)rs_rng_below(&rng, 1000000); /* distinct with high probability */
            if (t > latest[u][i]) latest[u][i] = t;
            len += (size_t)sprintf(buf + len, "u%d\ti%d\t1\t%.0f\n", u, i, t);
        }
    }
    rs_data_options o;
    options_for(&o, write_bytes(buf, len));
    free(buf);
    o.split = RS_SPLIT_TIME;
    o.holdout_fraction = 0.3;
    rs_dataset d;
    rs_error err;
    ck_assert_msg(load(&o, &d, &err) == 0, "%s", err.msg);
    check_dataset(&d);
    ck_assert(d.report.timestamps_used);
    uint64_t wrong = 0, split_users = 0;
    for (int u = 0; u < U; u++) {
        char name[16];
        snprintf(name, sizeof(name), "u%d", u);
        uint32_t r;
        if (rs_idtable_find(d.users, name, strlen(name), &r) != 0) continue;
        uint32_t n_train = rs_csr_row_len(&d.train, r), n_test = rs_csr_row_len(&d.test, r);
        uint32_t n = n_train + n_test;
        uint32_t want = n >= o.min_split_items ? expected_moved(n, o.holdout_fraction) : 0;
        wrong += n_test != want;
        split_users += want > 0;
        /* Every test item is later than every train item. */
        double oldest_test = INFINITY, newest_train = -INFINITY;
        for (uint64_t p = d.test.indptr[r]; p < d.test.indptr[r + 1]; p++) {
            int i = atoi(rs_idtable_name(d.items, d.test.indices[p], NULL) + 1);
            oldest_test = RS_MIN(oldest_test, latest[u][i]);
            wrong += has(&d.train, r, d.test.indices[p]);
        }
        for (uint64_t p = d.train.indptr[r]; p < d.train.indptr[r + 1]; p++) {
            int i = atoi(rs_idtable_name(d.items, d.train.indices[p], NULL) + 1);
            newest_train = RS_MAX(newest_train, latest[u][i]);
        }
        if (n_test) wrong += !(oldest_test >= newest_train);
    }
    ck_assert_uint_eq(wrong, 0);
    ck_assert_uint_gt(split_users, 10);
    rs_dataset_free(&d);
    options_for(&o, write_text("u1\ti1\t1\t5\nu1\ti2\t1\n"));
    o.split = RS_SPLIT_TIME;
    ck_assert_int_eq(load(&o, &d, &err), -1);
    ck_assert_msg(strstr(err.msg, ":2: --split time needs a timestamp on every row"), "%s",
                  err.msg);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("dataset");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_separators_and_fields);
    tcase_add_test(tc, test_ids_are_bytes);
    tcase_add_test(tc, test_header_detection);
    tcase_add_test(tc, test_min_rating_and_duplicates);
    tcase_add_test(tc, test_malformed_lines);
    tcase_add_test(tc, test_empty_data_and_bad_options);
    tcase_add_test(tc, test_kcore_matches_brute_force);
    tcase_add_test(tc, test_holdout_split);
    tcase_add_test(tc, test_holdout_is_uniform);
    tcase_add_test(tc, test_users_split);
    tcase_add_test(tc, test_validation_carve_out);
    tcase_add_test(tc, test_file_split_unknown_ids);
    tcase_add_test(tc, test_seen_set);
    tcase_add_test(tc, test_quoted_fields_and_columns);
    tcase_add_test(tc, test_time_split);
    tcase_add_test(tc, test_ml100k_counts);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
