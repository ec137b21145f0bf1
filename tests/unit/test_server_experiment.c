/* test_server_experiment.c - A/B assignment (hash, buckets, split, share, time
 * windows) and validation of the serving config file. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conffile.h"
#include "config.h"
#include "experiment.h"

/* Parses experiments from JSON text; fails the test on a parse error. */
static rs_ab *ab_from(const char *json)
{
    json_error_t jerr;
    json_t *j = json_loads(json, 0, &jerr);
    ck_assert_msg(j != NULL, "bad test JSON: %s", jerr.text);
    rs_ab *ab;
    rs_error err;
    int rc = rs_ab_parse(j, NULL, 0, &ab, &err);
    json_decref(j);
    ck_assert_msg(rc == 0, "parse failed: %s", err.msg);
    return ab;
}

/* Hash values from an independent implementation (a few lines of Python
 * following the definition in etc/README.md), so that any other system can
 * reproduce assignments. */
START_TEST(test_hash_matches_reference)
{
    static const struct {
        const char *salt, *key;
        uint64_t h;
        uint32_t variant_bucket, share_bucket;
    } v[] = {
        {"exp-1", "u1", 0x2fc3282aadde71d3ULL, 6499, 8954},
        {"exp-1", "u2", 0x34410e657b2fb50aULL, 4106, 8757},
        {"", "", 0xb9034ad37056f5fbULL, 7259, 723},
        {"salt", "user-12345", 0xdfd522ce7c704884ULL, 3380, 7246},
        {"2026-11 ranking test", "h\xc3\xa9llo", 0x318708616ac56e23ULL, 3683, 3089},
    };
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        uint64_t h = rs_ab_hash(v[i].salt, strlen(v[i].salt), v[i].key, strlen(v[i].key));
        ck_assert_uint_eq(h, v[i].h);
        ck_assert_uint_eq(rs_ab_variant_bucket(h), v[i].variant_bucket);
        ck_assert_uint_eq(rs_ab_share_bucket(h), v[i].share_bucket);
    }
}
END_TEST

START_TEST(test_bucket_ranges_follow_weights)
{
    rs_ab *ab = ab_from("[{\"name\":\"e\",\"salt\":\"s\",\"variants\":["
                        "{\"name\":\"a\",\"weight\":1},{\"name\":\"b\",\"weight\":1},"
                        "{\"name\":\"c\",\"weight\":1}]},"
                        "{\"name\":\"f\",\"salt\":\"t\",\"variants\":["
                        "{\"name\":\"a\",\"weight\":90},{\"name\":\"b\",\"weight\":10}]}]");
    const rs_ab_experiment *e = &ab->experiments[0];
    ck_assert_int_eq(e->n_arms, 3);
    /* Cumulative rounding of 10000 * k/3. */
    ck_assert_uint_eq(e->arms[0].first, 0);
    ck_assert_uint_eq(e->arms[0].end, 3333);
    ck_assert_uint_eq(e->arms[1].first, 3333);
    ck_assert_uint_eq(e->arms[1].end, 6667);
    ck_assert_uint_eq(e->arms[2].end, RS_AB_BUCKETS);
    const rs_ab_experiment *f = &ab->experiments[1];
    ck_assert_uint_eq(f->arms[0].end, 9000);
    ck_assert_uint_eq(f->arms[1].first, 9000);
    ck_assert_uint_eq(f->share_buckets, RS_AB_BUCKETS);
    rs_ab_free(ab);
}
END_TEST

/* Every key lands in the arm whose range holds its bucket, as recomputed here
 * from the hash; the same key always gets the same answer. */
START_TEST(test_assignment_is_stable_and_follows_buckets)
{
    rs_ab *ab = ab_from("[{\"name\":\"e\",\"salt\":\"salt-1\",\"variants\":["
                        "{\"name\":\"a\",\"weight\":3},{\"name\":\"b\",\"weight\":7}]}]");
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof(key), "user%d", i);
        rs_ab_assignment x, y;
        rs_ab_assign(ab, key, strlen(key), 1e9, &x);
        rs_ab_assign(ab, key, strlen(key), 2e9, &y);
        ck_assert_int_eq(x.reason, RS_AB_ASSIGNED);
        ck_assert_ptr_eq(x.arm, y.arm);
        uint32_t b = rs_ab_variant_bucket(rs_ab_hash("salt-1", 6, key, strlen(key)));
        ck_assert_uint_eq(x.variant_bucket, b);
        ck_assert_str_eq(x.arm->variant, b < 3000 ? "a" : "b");
    }
    /* A re-parsed config (another replica, a restart) agrees. */
    rs_ab *again = ab_from("[{\"name\":\"e\",\"salt\":\"salt-1\",\"variants\":["
                           "{\"name\":\"a\",\"weight\":3},{\"name\":\"b\",\"weight\":7}]}]");
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "user%d", i);
        rs_ab_assignment x, y;
        rs_ab_assign(ab, key, strlen(key), 0, &x);
        rs_ab_assign(again, key, strlen(key), 0, &y);
        ck_assert_str_eq(x.arm->variant, y.arm->variant);
    }
    rs_ab_free(again);
    rs_ab_free(ab);
}
END_TEST

/* Binomial: with n keys and weight p the share has standard deviation
 * sqrt(p(1-p)/n); 100,000 keys keep 0.5 percentage points above 5 sigma. */
START_TEST(test_split_proportions)
{
    rs_ab *ab = ab_from("[{\"name\":\"e\",\"salt\":\"proportions\",\"variants\":["
                        "{\"name\":\"a\",\"weight\":50},{\"name\":\"b\",\"weight\":30},"
                        "{\"name\":\"c\",\"weight\":20}]}]");
    enum { N = 100000 };
    int count[3] = {0};
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "%d", i); /* sequential ids: the hard case */
        rs_ab_assignment x;
        rs_ab_assign(ab, key, strlen(key), 0, &x);
        count[x.arm - ab->experiments[0].arms]++;
    }
    const double want[3] = {0.5, 0.3, 0.2};
    for (int a = 0; a < 3; a++) {
        double got = (double)count[a] / N;
        double sigma = sqrt(want[a] * (1 - want[a]) / N);
        ck_assert_msg(fabs(got - want[a]) < 5 * sigma, "arm %d: %.4f, expected %.2f", a, got,
                      want[a]);
    }
    rs_ab_free(ab);
}
END_TEST

/* A share covers that fraction of keys; inside it the split holds (the two
 * bucket halves of the hash are independent); growing the share only adds
 * keys and moves nobody between variants. */
START_TEST(test_share)
{
    rs_ab *small = ab_from("[{\"name\":\"e\",\"salt\":\"sh\",\"share\":0.2,\"variants\":["
                           "{\"name\":\"a\",\"weight\":9},{\"name\":\"b\",\"weight\":1}]}]");
    rs_ab *large = ab_from("[{\"name\":\"e\",\"salt\":\"sh\",\"share\":0.5,\"variants\":["
                           "{\"name\":\"a\",\"weight\":9},{\"name\":\"b\",\"weight\":1}]}]");
    enum { N = 100000 };
    int in_small = 0, in_large = 0, b_small = 0;
    char key[32];
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof(key), "session-%d", i);
        rs_ab_assignment s, l;
        rs_ab_assign(small, key, strlen(key), 0, &s);
        rs_ab_assign(large, key, strlen(key), 0, &l);
        if (s.reason == RS_AB_ASSIGNED) {
            in_small++;
            b_small += strcmp(s.arm->variant, "b") == 0;
            ck_assert_int_eq(l.reason, RS_AB_ASSIGNED);
            ck_assert_str_eq(s.arm->variant, l.arm->variant);
        } else {
            ck_assert_int_eq(s.reason, RS_AB_OUTSIDE_SHARE);
            ck_assert_ptr_null(s.arm);
        }
        in_large += l.reason == RS_AB_ASSIGNED;
    }
    ck_assert_msg(fabs(in_small / (double)N - 0.2) < 5 * sqrt(0.2 * 0.8 / N), "share %d", in_small);
    ck_assert_msg(fabs(in_large / (double)N - 0.5) < 5 * sqrt(0.25 / N), "share %d", in_large);
    double pb = b_small / (double)in_small;
    ck_assert_msg(fabs(pb - 0.1) < 5 * sqrt(0.09 / in_small), "b inside the share: %.4f", pb);
    rs_ab_free(small);
    rs_ab_free(large);
}
END_TEST

START_TEST(test_time_windows_and_order)
{
    /* first: Nov 2026 only, half the users; second: from Dec 2026 on, all. */
    rs_ab *ab = ab_from(
        "[{\"name\":\"nov\",\"salt\":\"n\",\"share\":0.5,\"start\":\"2026-11-01T00:00:00Z\","
        "\"end\":\"2026-12-01T00:00:00Z\",\"variants\":[{\"name\":\"a\",\"weight\":1}]},"
        "{\"name\":\"always\",\"salt\":\"x\",\"start\":\"2026-11-15T00:00:00+01:00\","
        "\"variants\":[{\"name\":\"b\",\"weight\":1}]}]");
    const double nov1 = 1793491200; /* 2026-11-01T00:00:00Z */
    const double dec1 = nov1 + 30 * 86400, nov15 = nov1 + 14 * 86400 - 3600;
    ck_assert(!rs_ab_active(&ab->experiments[0], nov1 - 0.5));
    ck_assert(rs_ab_active(&ab->experiments[0], nov1));
    ck_assert(rs_ab_active(&ab->experiments[0], dec1 - 0.001));
    ck_assert(!rs_ab_active(&ab->experiments[0], dec1)); /* end is exclusive */
    ck_assert(!rs_ab_active(&ab->experiments[1], nov15 - 1));
    ck_assert(rs_ab_active(&ab->experiments[1], nov15));

    rs_ab_assignment x;
    rs_ab_assign(ab, "u1", 2, nov1 - 10, &x);
    ck_assert_int_eq(x.reason, RS_AB_NO_EXPERIMENT);
    rs_ab_assign(ab, NULL, 0, nov1 + 10, &x);
    ck_assert_int_eq(x.reason, RS_AB_NO_KEY);
    char key[32];
    int a = 0, b = 0, outside = 0;
    for (int i = 0; i < 2000; i++) {
        snprintf(key, sizeof(key), "u%d", i);
        /* Before Nov 15 only "nov" runs: half the users are outside. */
        rs_ab_assign(ab, key, strlen(key), nov1 + 86400, &x);
        if (x.reason == RS_AB_OUTSIDE_SHARE)
            outside++;
        else
            ck_assert_str_eq(x.arm->variant, "a");
        /* Between Nov 15 and Dec 1 users outside "nov" fall to "always". */
        rs_ab_assign(ab, key, strlen(key), nov15 + 86400, &x);
        ck_assert_int_eq(x.reason, RS_AB_ASSIGNED);
        if (strcmp(x.arm->variant, "a") == 0)
            a++;
        else
            b++;
        /* After Dec 1 everyone is in "always". */
        rs_ab_assign(ab, key, strlen(key), dec1, &x);
        ck_assert_str_eq(x.experiment->name, "always");
    }
    ck_assert_int_eq(b, outside);
    ck_assert_int_eq(a + b, 2000);
    ck_assert(outside > 850 && outside < 1150);
    rs_ab_free(ab);
}
END_TEST

START_TEST(test_rfc3339)
{
    double t;
    ck_assert_int_eq(rs_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
    ck_assert(t == 0);
    ck_assert_int_eq(rs_parse_rfc3339("2026-11-01T00:00:00Z", &t), 0);
    ck_assert(t == 1793491200);
    ck_assert_int_eq(rs_parse_rfc3339("2024-02-29T23:30:00+02:00", &t), 0);
    ck_assert(t == 1709242200);
    ck_assert_int_eq(rs_parse_rfc3339("2024-02-29T23:30:00.25-00:30", &t), 0);
    ck_assert(fabs(t - (1709249400 + 1800 + 0.25)) < 1e-6);
    const char *bad[] = {
        "2023-02-29T00:00:00Z",     "2026-13-01T00:00:00Z", "2026-11-01",
        "2026-11-01T00:00:00",      "2026-11-01T24:00:00Z", "2026-11-01T00:00:00Zx",
        "2026-11-01T00:00:00+0200", "26-11-01T00:00:00Z",   ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(rs_parse_rfc3339(bad[i], &t) != 0, "accepted %s", bad[i]);
    char buf[32];
    rs_format_rfc3339(1793491200.7, buf, sizeof(buf));
    ck_assert_str_eq(buf, "2026-11-01T00:00:00Z");
}
END_TEST

/* Each bad experiments array is refused with a message naming the problem. */
START_TEST(test_experiment_validation)
{
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {"{}", "expected an array"},
        {"[{\"salt\":\"s\",\"variants\":[{\"name\":\"a\",\"weight\":1}]}]", ".name"},
        {"[{\"name\":\"e\",\"variants\":[{\"name\":\"a\",\"weight\":1}]}]", ".salt"},
        {"[{\"name\":\"e\",\"salt\":\"\",\"variants\":[{\"name\":\"a\",\"weight\":1}]}]", ".salt"},
        {"[{\"name\":\"e\",\"salt\":\"s\"}]", ".variants"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[]}]", ".variants"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"a\",\"weight\":0}]}]",
         "not a positive number"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"a\",\"weight\":-2}]}]",
         "not a positive number"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"a\",\"weight\":\"9\"}]}]",
         "expected a positive number"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"a\"}]}]",
         "expected a positive number"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"a\",\"weight\":1},"
         "{\"name\":\"a\",\"weight\":1}]}]",
         "appears twice"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"a\",\"weight\":1e6},"
         "{\"name\":\"b\",\"weight\":1}]}]",
         "too small"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"a/b\",\"weight\":1}]}]",
         "variant"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"a\",\"weight\":1,"
         "\"wieght\":2}]}]",
         "unknown field \"wieght\""},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"shares\":0.5,\"variants\":[{\"name\":\"a\","
         "\"weight\":1}]}]",
         "unknown field \"shares\""},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"share\":0,\"variants\":[{\"name\":\"a\",\"weight\":1}"
         "]}]",
         "not in (0, 1]"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"share\":1.5,\"variants\":[{\"name\":\"a\",\"weight\":"
         "1}]}]",
         "not in (0, 1]"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"share\":0.00001,\"variants\":[{\"name\":\"a\","
         "\"weight\":1}]}]",
         "less than one bucket"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"start\":\"yesterday\",\"variants\":[{\"name\":\"a\","
         "\"weight\":1}]}]",
         "not an RFC 3339"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"start\":\"2026-12-01T00:00:00Z\",\"end\":"
         "\"2026-11-01T00:00:00Z\",\"variants\":[{\"name\":\"a\",\"weight\":1}]}]",
         "is not after start"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"end\":5,\"variants\":[{\"name\":\"a\",\"weight\":1}"
         "]}]",
         "expected an RFC 3339"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"a\",\"weight\":1}]},"
         "{\"name\":\"e\",\"salt\":\"t\",\"variants\":[{\"name\":\"a\",\"weight\":1}]}]",
         "duplicate experiment name"},
        {"[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"a\",\"weight\":1}]},"
         "{\"name\":\"f\",\"salt\":\"s\",\"variants\":[{\"name\":\"a\",\"weight\":1}]}]",
         "same salt"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t jerr;
        json_t *j = json_loads(cases[i].json, 0, &jerr);
        ck_assert_msg(j != NULL, "case %zu: bad test JSON", i);
        rs_ab *ab = NULL;
        rs_error err = {{0}};
        int rc = rs_ab_parse(j, NULL, 0, &ab, &err);
        json_decref(j);
        ck_assert_msg(rc == -1 && ab == NULL, "case %zu accepted: %s", i, cases[i].json);
        ck_assert_msg(strstr(err.msg, cases[i].expect) != NULL, "case %zu: \"%s\" lacks \"%s\"", i,
                      err.msg, cases[i].expect);
    }
    /* With a variant list, names outside it are unknown. */
    json_t *j = json_loads("[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"a\","
                           "\"weight\":1},{\"name\":\"zz\",\"weight\":1}]}]",
                           0, NULL);
    const char *known[] = {"a", "b"};
    rs_ab *ab;
    rs_error err;
    ck_assert_int_eq(rs_ab_parse(j, known, 2, &ab, &err), -1);
    ck_assert_msg(strstr(err.msg, "unknown variant \"zz\"") && strstr(err.msg, "variants[1]"), "%s",
                  err.msg);
    json_decref(j);
}
END_TEST

/* Parses text into settings that start at the option defaults. */
static rs_conffile *conf_ok(const char *text, rs_server_config *settings)
{
    rs_conffile *c;
    rs_error err;
    memset(settings, 0, sizeof(*settings));
    ck_assert_int_eq(rs_options_defaults(rs_server_options, settings, &err), 0);
    int rc = rs_conffile_parse(text, strlen(text), "test.json", "/etc/recsys", settings, &c, &err);
    ck_assert_msg(rc == 0, "refused: %s", err.msg);
    return c;
}

START_TEST(test_conffile_fields)
{
    rs_server_config s;
    rs_conffile *c = conf_ok(
        "{\"description\":\"x\",\"store\":\"store\",\"listen\":\"127.0.0.1:9000\",\"threads\":3,"
        "\"variants\":[\"a\",\"b\"],\"default_variant\":\"a\","
        "\"reload\":{\"interval_seconds\":0.5,\"verify\":false},"
        "\"admin\":{\"token_file\":\"/run/token\"},\"pins\":{\"b\":7},"
        "\"experiments\":[{\"name\":\"e\",\"salt\":\"s\",\"variants\":[{\"name\":\"a\","
        "\"weight\":9},{\"name\":\"b\",\"weight\":1}]}]}",
        &s);
    ck_assert_str_eq(s.store_dir, "/etc/recsys/store"); /* relative to the file */
    ck_assert_str_eq(s.listen, "127.0.0.1:9000");
    ck_assert_uint_eq(s.http.threads, 3);
    ck_assert_int_eq(c->n_variants, 2);
    ck_assert_str_eq(c->variants[1], "b");
    ck_assert_str_eq(s.default_variant, "a");
    ck_assert(s.reload_interval == 0.5);
    ck_assert_int_eq(s.verify, 0);
    ck_assert_str_eq(s.admin_token_file, "/run/token");
    ck_assert_int_eq(c->ab->n, 1);
    ck_assert_int_eq(c->n_pins, 1);
    ck_assert_str_eq(c->pins[0].variant, "b");
    ck_assert_uint_eq(c->pins[0].version, 7);
    rs_conffile_free(c);

    /* Everything is optional: the settings keep their defaults. */
    c = conf_ok("{}", &s);
    ck_assert_ptr_null(s.store_dir);
    ck_assert_ptr_null(c->variants);
    ck_assert(s.reload_interval == 1.0);
    ck_assert_int_eq(s.verify, 1);
    ck_assert_ptr_null(s.admin_token_file);
    ck_assert_int_eq(c->ab->n, 0);
    rs_conffile_free(c);
}
END_TEST

START_TEST(test_conffile_errors)
{
    static const struct {
        const char *json, *expect;
    } cases[] = {
        {"[]", "top level must be a JSON object"},
        {"{\"store\":\"a\",", "test.json:1:"},
        {"{\"store\":\"a\",\"store\":\"b\"}", "duplicate"},
        {"{\"stor\":\"a\"}", "unknown field \"stor\""},
        {"{\"store\":7}", "\"store\" must be a non-empty string"},
        {"{\"threads\":0}", "\"threads\""},
        {"{\"variants\":[]}", "non-empty array"},
        {"{\"variants\":[\"a\",\"a\"]}", "duplicate variant \"a\""},
        {"{\"variants\":[\"a b\"]}", "variants[0]"},
        {"{\"variants\":[\"a\"],\"default_variant\":\"b\"}", "not in \"variants\""},
        {"{\"reload\":{\"interval\":1}}", "unknown field \"interval\""},
        {"{\"reload\":{\"interval_seconds\":-1}}", "interval_seconds"},
        {"{\"reload\":{\"verify\":\"yes\"}}", "verify"},
        {"{\"admin\":{\"token\":\"secret\"}}", "unknown field \"token\""},
        {"{\"pins\":[1]}", "\"pins\" must be an object"},
        {"{\"pins\":{\"a b\":1}}", "pins: "},
        {"{\"pins\":{\"a\":0}}", "pins.a must be a version number"},
        {"{\"pins\":{\"a\":\"3\"}}", "pins.a must be a version number"},
        {"{\"variants\":[\"a\"],\"pins\":{\"b\":3}}", "pins.b: the variant is not in"},
        {"{\"variants\":[\"a\"],\"experiments\":[{\"name\":\"e\",\"salt\":\"s\",\"variants\":"
         "[{\"name\":\"b\",\"weight\":1}]}]}",
         "unknown variant \"b\""},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rs_conffile *c = NULL;
        rs_error err = {{0}};
        rs_server_config s = {0};
        int rc = rs_conffile_parse(cases[i].json, strlen(cases[i].json), "test.json", NULL, &s, &c,
                                   &err);
        ck_assert_msg(rc == -1 && c == NULL, "case %zu accepted", i);
        ck_assert_msg(strstr(err.msg, cases[i].expect) != NULL, "case %zu: \"%s\" lacks \"%s\"", i,
                      err.msg, cases[i].expect);
        ck_assert_msg(strstr(err.msg, "test.json") != NULL, "case %zu: no origin in \"%s\"", i,
                      err.msg);
    }
}
END_TEST

/* The example shipped in etc/ must stay valid. */
START_TEST(test_shipped_example)
{
    const char *root = getenv("RECSYS_ROOT");
    char path[4096];
    snprintf(path, sizeof(path), "%s/etc/recserve.json", root ? root : ".");
    if (access(path, R_OK) != 0) return; /* not in a source tree */
    rs_conffile *c;
    rs_error err;
    rs_server_config s = {0};
    ck_assert_msg(rs_conffile_load(path, &s, &c, &err) == 0, "%s", err.msg);
    ck_assert_ptr_nonnull(s.store_dir);
    rs_conffile_free(c);
}
END_TEST

START_TEST(test_admin_token_file)
{
    char dir[] = "/tmp/rs-token-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/token", dir);
    FILE *f = fopen(path, "w");
    fputs("  0123456789abcdef-XYZ  \nsecond line ignored\n", f);
    fclose(f);
    chmod(path, 0600);
    char *token;
    rs_error err;
    ck_assert_int_eq(rs_admin_token_load(path, &token, &err), 0);
    ck_assert_str_eq(token, "0123456789abcdef-XYZ");
    free(token);
    f = fopen(path, "w");
    fputs("short\n", f);
    fclose(f);
    ck_assert_int_eq(rs_admin_token_load(path, &token, &err), -1);
    ck_assert(strstr(err.msg, "16..4096") != NULL);
    f = fopen(path, "w");
    fputs("0123456789 abcdef0123\n", f);
    fclose(f);
    ck_assert_int_eq(rs_admin_token_load(path, &token, &err), -1);
    unlink(path);
    ck_assert_int_eq(rs_admin_token_load(path, &token, &err), -1);
    ck_assert(strstr(err.msg, "admin token file") != NULL);
    rmdir(dir);
}
END_TEST

Suite *experiment_suite(void)
{
    Suite *s = suite_create("server_experiment");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_hash_matches_reference);
    tcase_add_test(tc, test_bucket_ranges_follow_weights);
    tcase_add_test(tc, test_assignment_is_stable_and_follows_buckets);
    tcase_add_test(tc, test_split_proportions);
    tcase_add_test(tc, test_share);
    tcase_add_test(tc, test_time_windows_and_order);
    tcase_add_test(tc, test_rfc3339);
    tcase_add_test(tc, test_experiment_validation);
    tcase_add_test(tc, test_conffile_fields);
    tcase_add_test(tc, test_conffile_errors);
    tcase_add_test(tc, test_shipped_example);
    tcase_add_test(tc, test_admin_token_file);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(experiment_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
