/* test_server_request.c - request body and query parameter validation. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "request.h"
#include "rng.h"

static rs_limits lim;

static void setup(void)
{
    rs_limits_default(&lim);
}

/* Parses text; returns the status (0 when accepted) and frees the result. */
static int status_of(const char *text)
{
    rs_reco_request r;
    rs_request_error e;
    if (rs_reco_request_parse(text, strlen(text), &lim, &r, &e) != 0) {
        ck_assert_ptr_nonnull(e.code);
        ck_assert(e.message[0] != '\0');
        return e.status;
    }
    rs_reco_request_free(&r);
    return 0;
}

START_TEST(test_full_body)
{
    const char *body = "{\"user\":\"u7\",\"history\":[\"a\",\"b\\\"c\",\"a\"],\"n\":25,"
                       "\"exclude\":[\"x\"],\"filter_history\":false,\"variant\":\"exp\"}";
    rs_reco_request r;
    rs_request_error e;
    ck_assert_int_eq(rs_reco_request_parse(body, strlen(body), &lim, &r, &e), 0);
    ck_assert(r.has_user);
    ck_assert_str_eq(r.user.ptr, "u7");
    ck_assert(r.has_history);
    ck_assert_uint_eq(r.n_history, 3);
    ck_assert_str_eq(r.history[1].ptr, "b\"c");
    ck_assert_uint_eq(r.history[1].len, 3);
    /* Duplicates are kept here; the encoder counts them once. */
    ck_assert_str_eq(r.history[2].ptr, "a");
    ck_assert_uint_eq(r.n, 25);
    ck_assert_uint_eq(r.n_exclude, 1);
    ck_assert_int_eq(r.filter_history, 0);
    ck_assert(r.has_variant);
    ck_assert_str_eq(r.variant.ptr, "exp");
    rs_reco_request_free(&r);
}
END_TEST

START_TEST(test_defaults_and_nulls)
{
    const char *body = "{\"history\":[],\"user\":null,\"n\":null,\"variant\":null}";
    rs_reco_request r;
    rs_request_error e;
    ck_assert_int_eq(rs_reco_request_parse(body, strlen(body), &lim, &r, &e), 0);
    ck_assert(!r.has_user);
    ck_assert(r.has_history);
    ck_assert_uint_eq(r.n_history, 0);
    ck_assert_uint_eq(r.n, RS_DEFAULT_N);
    ck_assert_int_eq(r.filter_history, 1);
    ck_assert(!r.has_variant);
    rs_reco_request_free(&r);
    /* A small max_n caps the default n. */
    lim.max_n = 3;
    ck_assert_int_eq(rs_reco_request_parse("{\"user\":\"u\"}", 12, &lim, &r, &e), 0);
    ck_assert_uint_eq(r.n, 3);
    rs_reco_request_free(&r);
}
END_TEST

START_TEST(test_malformed_json_is_400)
{
    ck_assert_int_eq(status_of(""), 400);
    ck_assert_int_eq(status_of("{"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"a\",}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"a\"} trailing"), 400);
    ck_assert_int_eq(status_of("{\"user\":'a'}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"user\":\"b\"}"), 400); /* duplicate key */
}
END_TEST

/* The code a body is refused with ("" when accepted). */
static const char *code_of(const char *text)
{
    rs_reco_request r;
    rs_request_error e;
    if (rs_reco_request_parse(text, strlen(text), &lim, &r, &e) != 0) return e.code;
    rs_reco_request_free(&r);
    return "";
}

START_TEST(test_json_that_is_not_an_object)
{
    /* Well-formed JSON of the wrong kind is invalid_request, not bad_json. */
    const char *bodies[] = {"[\"a\"]", "\"just a string\"", "null", "42", "true"};
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        ck_assert_int_eq(status_of(bodies[i]), 400);
        ck_assert_str_eq(code_of(bodies[i]), "invalid_request");
    }
}
END_TEST

START_TEST(test_number_out_of_range_is_422)
{
    /* As for the query parameter n: a number too large for any type is
     * out of range, not malformed. */
    ck_assert_int_eq(status_of("{\"n\":99999999999999999999999,\"user\":\"a\"}"), 422);
    ck_assert_str_eq(code_of("{\"n\":99999999999999999999999,\"user\":\"a\"}"), "out_of_range");
    ck_assert_int_eq(status_of("{\"n\":1e999,\"user\":\"a\"}"), 422);
    uint32_t n;
    rs_request_error e;
    ck_assert_int_eq(rs_parse_n_param("99999999999999999999999", &lim, &n, &e), -1);
    ck_assert_int_eq(e.status, 422);
}
END_TEST

START_TEST(test_too_many_values_refused_before_parsing)
{
    /* More values than history and exclude can hold together is refused by
     * the cheap count, whatever the lists are called. */
    size_t count = (size_t)lim.max_history + lim.max_exclude + 100;
    char *body = malloc(16 + 3 * count);
    ck_assert_ptr_nonnull(body);
    size_t len = (size_t)sprintf(body, "{\"history\":[");
    for (size_t i = 0; i < count; i++) len += (size_t)sprintf(body + len, "%s\"\"", i ? "," : "");
    len += (size_t)sprintf(body + len, "]}");
    ck_assert_uint_gt(rs_json_values(body, len), count - 1);
    ck_assert_int_eq(status_of(body), 422);
    ck_assert_str_eq(code_of(body), "out_of_range");
    free(body);
    /* Commas inside strings are not values. */
    {
        const char *t = "{\"a\":\",,,\\\",\"}";
        ck_assert_uint_eq(rs_json_values(t, strlen(t)), 1);
    }
}
END_TEST

START_TEST(test_bad_encoding_is_400)
{
    /* Invalid UTF-8 bytes, an overlong encoding, a lone surrogate, NUL. */
    ck_assert_int_eq(status_of("{\"user\":\"\xff\xfe\"}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"\xc0\xaf\"}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"\\ud800\"}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"a\\u0000b\"}"), 400);
    rs_reco_request r;
    rs_request_error e;
    const char nul_body[] = "{\"user\":\"a\0b\"}";
    ck_assert_int_eq(rs_reco_request_parse(nul_body, sizeof(nul_body) - 1, &lim, &r, &e), -1);
    ck_assert_int_eq(e.status, 400);
    /* Valid multi-byte UTF-8 is fine. */
    ck_assert_int_eq(status_of("{\"history\":[\"caf\xc3\xa9\", \"\\u00e9\"]}"), 0);
}
END_TEST

/* Integer ids (numeric ids in the training data) read as their decimal
 * strings; other numbers are not ids. */
START_TEST(test_integer_ids_are_their_strings)
{
    rs_reco_request r;
    rs_request_error e;
    const char body[] = "{\"user\":7,\"history\":[\"a\",3,-12],\"exclude\":[1000000000000]}";
    ck_assert_int_eq(rs_reco_request_parse(body, sizeof(body) - 1, &lim, &r, &e), 0);
    ck_assert_uint_eq(r.user.len, 1);
    ck_assert(memcmp(r.user.ptr, "7", 1) == 0);
    ck_assert_uint_eq(r.n_history, 3);
    ck_assert(r.history[1].len == 1 && memcmp(r.history[1].ptr, "3", 1) == 0);
    ck_assert(r.history[2].len == 3 && memcmp(r.history[2].ptr, "-12", 3) == 0);
    ck_assert(r.exclude[0].len == 13 && memcmp(r.exclude[0].ptr, "1000000000000", 13) == 0);
    rs_reco_request_free(&r);
    ck_assert_int_eq(status_of("{\"user\":7.5}"), 400);
    ck_assert_int_eq(status_of("{\"history\":[1e3]}"), 400);
    ck_assert_int_eq(status_of("{\"history\":[true]}"), 400);
}
END_TEST

START_TEST(test_wrong_types_are_400)
{
    ck_assert_int_eq(status_of("{\"user\":[\"a\"]}"), 400);
    ck_assert_int_eq(status_of("{\"history\":\"a\"}"), 400);
    ck_assert_int_eq(status_of("{\"history\":[\"a\",3.5]}"), 400);
    ck_assert_int_eq(status_of("{\"history\":[null]}"), 400);
    ck_assert_int_eq(status_of("{\"history\":[[\"a\"]]}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"n\":\"5\"}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"n\":5.0}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"n\":true}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"exclude\":{}}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"filter_history\":\"no\"}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"filter_history\":0}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"variant\":1}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"num\":5}"), 400); /* unknown field */
    ck_assert_int_eq(status_of("{}"), 400);                         /* neither */
    ck_assert_int_eq(status_of("{\"n\":5}"), 400);
}
END_TEST

START_TEST(test_ranges_are_422)
{
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"n\":0}"), 422);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"n\":-4}"), 422);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"n\":1001}"), 422);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"n\":1000}"), 0);
    ck_assert_int_eq(status_of("{\"user\":\"a\",\"n\":1}"), 0);
}
END_TEST

/* A body with a list of count ids named field. */
static char *list_body(const char *field, unsigned count)
{
    size_t cap = 64 + (size_t)count * 12;
    char *s = malloc(cap);
    size_t used = (size_t)snprintf(s, cap, "{\"user\":\"u\",\"%s\":[", field);
    for (unsigned i = 0; i < count; i++)
        used += (size_t)snprintf(s + used, cap - used, "%s\"i%u\"", i ? "," : "", i);
    snprintf(s + used, cap - used, "]}");
    return s;
}

START_TEST(test_list_lengths)
{
    char *s = list_body("history", RS_DEFAULT_MAX_HISTORY);
    ck_assert_int_eq(status_of(s), 0);
    free(s);
    s = list_body("history", RS_DEFAULT_MAX_HISTORY + 1);
    ck_assert_int_eq(status_of(s), 422);
    free(s);
    s = list_body("exclude", RS_DEFAULT_MAX_EXCLUDE + 1);
    ck_assert_int_eq(status_of(s), 422);
    free(s);
    s = list_body("exclude", 0);
    ck_assert_int_eq(status_of(s), 0);
    free(s);
}
END_TEST

/* Nesting depth d: {"history": [[[...]]]} has depth d (object counts). */
static char *nested(unsigned d, char open, char close)
{
    char *s = malloc(2 * d + 32);
    size_t o = 0;
    for (unsigned i = 0; i < d; i++) s[o++] = open;
    for (unsigned i = 0; i < d; i++) s[o++] = close;
    s[o] = '\0';
    return s;
}

START_TEST(test_depth_limit)
{
    /* Deeper than the limit: refused before the parser sees it. */
    char *deep = nested(100000, '[', ']');
    ck_assert_int_eq(status_of(deep), 400);
    ck_assert(!rs_json_depth_ok(deep, strlen(deep), 32));
    free(deep);
    char *ok = nested(32, '[', ']');
    ck_assert(rs_json_depth_ok(ok, strlen(ok), 32));
    free(ok);
    char *over = nested(33, '[', ']');
    ck_assert(!rs_json_depth_ok(over, strlen(over), 32));
    free(over);
    /* Brackets inside strings (and escaped quotes) do not count. */
    const char *str = "{\"user\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\\\"[[[[\"}";
    ck_assert(rs_json_depth_ok(str, strlen(str), 2));
    ck_assert_int_eq(status_of(str), 0);
    /* Unbalanced closers never underflow into "allowed deeper". */
    const char *closers = "]]]]]]]][[[";
    ck_assert(!rs_json_depth_ok(closers, strlen(closers), 2));
}
END_TEST

START_TEST(test_query_params)
{
    rs_request_error e;
    uint32_t n;
    ck_assert_int_eq(rs_parse_n_param(NULL, &lim, &n, &e), 0);
    ck_assert_uint_eq(n, RS_DEFAULT_N);
    ck_assert_int_eq(rs_parse_n_param("7", &lim, &n, &e), 0);
    ck_assert_uint_eq(n, 7);
    ck_assert_int_eq(rs_parse_n_param("1000", &lim, &n, &e), 0);
    const char *bad400[] = {"", "x", "5x", "1.5", " 5", "0x10", "+", "-"};
    for (size_t i = 0; i < sizeof(bad400) / sizeof(bad400[0]); i++) {
        ck_assert_int_eq(rs_parse_n_param(bad400[i], &lim, &n, &e), -1);
        ck_assert_int_eq(e.status, 400);
    }
    const char *bad422[] = {"0", "-3", "1001", "99999999999999999999999"};
    for (size_t i = 0; i < sizeof(bad422) / sizeof(bad422[0]); i++) {
        ck_assert_int_eq(rs_parse_n_param(bad422[i], &lim, &n, &e), -1);
        ck_assert_int_eq(e.status, 422);
        ck_assert_str_eq(e.code, "out_of_range");
    }
    int b;
    ck_assert_int_eq(rs_parse_bool_param("f", NULL, 1, &b, &e), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(rs_parse_bool_param("f", "false", 1, &b, &e), 0);
    ck_assert_int_eq(b, 0);
    ck_assert_int_eq(rs_parse_bool_param("f", "1", 0, &b, &e), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(rs_parse_bool_param("f", "yes", 0, &b, &e), -1);
    ck_assert_int_eq(e.status, 400);
}
END_TEST

/* Random mutations of valid bodies: every outcome is acceptance or a 400 /
 * 422, never a crash (ASan checks the memory side). */
START_TEST(test_mutations_never_crash)
{
    const char *seeds[] = {
        "{\"user\":\"u1\",\"n\":5}",
        "{\"history\":[\"a\",\"b\",\"c\"],\"exclude\":[\"d\"],\"filter_history\":true}",
        "{\"user\":\"u\",\"history\":[],\"variant\":\"v\",\"n\":1000}",
    };
    rs_rng rng;
    rs_rng_seed(&rng, 99);
    char buf[256];
    for (int trial = 0; trial < 20000; trial++) {
        const char *seed = seeds[rs_rng_below(&rng, 3)];
        size_t len = strlen(seed);
        memcpy(buf, seed, len);
        int edits = 1 + (int)rs_rng_below(&rng, 4);
        for (int k = 0; k < edits; k++) {
            size_t pos = rs_rng_below(&rng, len);
            switch (rs_rng_below(&rng, 3)) {
            case 0:
                buf[pos] = (char)rs_rng_below(&rng, 256);
                break;
            case 1: /* delete */
                memmove(buf + pos, buf + pos + 1, len - pos - 1);
                len--;
                break;
            default: /* duplicate a byte */
                if (len + 1 < sizeof(buf)) {
                    memmove(buf + pos + 1, buf + pos, len - pos);
                    len++;
                }
            }
        }
        rs_reco_request r;
        rs_request_error e;
        if (rs_reco_request_parse(buf, len, &lim, &r, &e) == 0) {
            ck_assert(r.has_user || r.has_history);
            ck_assert(r.n >= 1 && r.n <= lim.max_n);
            rs_reco_request_free(&r);
        } else {
            ck_assert(e.status == 400 || e.status == 422);
        }
    }
}
END_TEST

/* The one table failures are answered with, and an id list that cannot be
 * allocated answering 503 rather than 400. */
/* The filter, page, sample and explain fields, and batch bodies. */
START_TEST(test_filter_page_sample_batch)
{
    const char *body = "{\"user\":\"u\",\"n\":5,\"offset\":20,\"explain\":true,\"filter\":"
                       "{\"categories\":{\"any\":[\"a\",\"b\"],\"all\":[\"c\"],\"none\":[]},"
                       "\"ranges\":{\"price\":{\"min\":1.5},\"year\":{\"min\":1990,\"max\":2000}},"
                       "\"allow\":[\"i1\"],\"deny\":[\"i2\",\"i3\"]}}";
    rs_reco_request r;
    rs_request_error e;
    ck_assert_int_eq(rs_reco_request_parse(body, strlen(body), &lim, &r, &e), 0);
    ck_assert(r.filter.given && r.filter.any_given && r.filter.allow_given);
    ck_assert_uint_eq(r.filter.n_any, 2);
    ck_assert_uint_eq(r.filter.n_all, 1);
    ck_assert_uint_eq(r.filter.n_none, 0);
    ck_assert_uint_eq(r.filter.n_deny, 2);
    ck_assert_uint_eq(r.filter.n_ranges, 2);
    ck_assert_str_eq(r.filter.ranges[0].field.ptr, "price");
    ck_assert(r.filter.ranges[0].min == 1.5 && isinf(r.filter.ranges[0].max));
    ck_assert(r.filter.ranges[1].max == 2000);
    ck_assert_uint_eq(r.offset, 20);
    ck_assert(r.explain && r.mode == RS_MODE_TOP && r.temperature == 1.0);
    rs_reco_request_free(&r);
    const char *sample = "{\"history\":[],\"mode\":\"sample\",\"temperature\":0.25,\"seed\":9}";
    ck_assert_int_eq(rs_reco_request_parse(sample, strlen(sample), &lim, &r, &e), 0);
    ck_assert(r.mode == RS_MODE_SAMPLE && r.temperature == 0.25 && r.has_seed && r.seed == 9);
    rs_reco_request_free(&r);

    ck_assert_int_eq(status_of("{\"user\":\"u\",\"temperature\":2}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"seed\":2}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"mode\":\"sample\",\"offset\":3}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"mode\":\"best\"}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"mode\":\"sample\",\"temperature\":0}"), 422);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"offset\":-1}"), 422);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"offset\":10001}"), 422);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"explain\":1}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"filter\":[]}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"filter\":{\"cats\":[]}}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"filter\":{\"categories\":{\"some\":[]}}}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"filter\":{\"categories\":{\"any\":[1]}}}"), 400);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"filter\":{\"ranges\":{\"p\":{\"min\":\"1\"}}}}"),
                     400);
    ck_assert_int_eq(status_of("{\"user\":\"u\",\"filter\":{\"ranges\":{\"p\":{\"lo\":1}}}}"), 400);
    ck_assert_int_eq(
        status_of("{\"user\":\"u\",\"filter\":{\"ranges\":{\"p\":{\"min\":2,\"max\":1}}}}"), 422);

    /* Batches: every query validated, errors name the query. */
    rs_reco_request *reqs;
    uint32_t n;
    json_t *root;
    const char *batch = "{\"queries\":[{\"user\":\"u\"},{\"history\":[\"i\"],\"n\":3}]}";
    ck_assert_int_eq(rs_reco_batch_parse(batch, strlen(batch), &lim, &reqs, &n, &root, &e), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(reqs[1].n, 3);
    ck_assert_str_eq(reqs[1].history[0].ptr, "i");
    rs_reco_batch_request_free(reqs, n, root);
    const char *bad = "{\"queries\":[{\"user\":\"u\"},{\"user\":\"u\",\"n\":0}]}";
    ck_assert_int_eq(rs_reco_batch_parse(bad, strlen(bad), &lim, &reqs, &n, &root, &e), -1);
    ck_assert_int_eq(e.status, 422);
    ck_assert_ptr_nonnull(strstr(e.message, "queries[1]: "));
    const char *not_list = "{\"queries\":{}}", *extra = "{\"queries\":[],\"n\":1}";
    ck_assert_int_eq(rs_reco_batch_parse(not_list, strlen(not_list), &lim, &reqs, &n, &root, &e),
                     -1);
    ck_assert_int_eq(e.status, 400);
    ck_assert_int_eq(rs_reco_batch_parse(extra, strlen(extra), &lim, &reqs, &n, &root, &e), -1);
    ck_assert_int_eq(e.status, 400);
    lim.max_batch = 1;
    ck_assert_int_eq(rs_reco_batch_parse(batch, strlen(batch), &lim, &reqs, &n, &root, &e), -1);
    ck_assert_int_eq(e.status, 422);
}
END_TEST

START_TEST(test_error_kinds_to_status)
{
    static const struct {
        rs_error_kind kind;
        int status;
        const char *code;
    } table[] = {
        {RS_ERR_INVALID, 400, "invalid_request"},
        {RS_ERR_NOT_FOUND, 404, "not_found"},
        {RS_ERR_NO_MEMORY, 503, "out_of_memory"},
        {RS_ERR_CORRUPT, 500, "internal"},
        {RS_ERR_IO, 500, "internal"},
        {RS_ERR_GENERIC, 500, "internal"},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        const char *code = NULL;
        ck_assert_int_eq(rs_error_http_status(table[i].kind, &code), table[i].status);
        ck_assert_str_eq(code, table[i].code);
    }
    rs_error err;
    rs_request_error e;
    rs_fail_kind(&err, RS_ERR_NO_MEMORY, "out of memory allocating %d bytes", 64);
    rs_error_prefix(&err, "ranking");
    ck_assert_int_eq(rs_request_fail_from(&e, &err), -1);
    ck_assert_int_eq(e.status, 503);
    ck_assert_str_eq(e.message, "ranking: out of memory allocating 64 bytes");
    rs_alloc_fail_for_testing(1);
    int status = status_of("{\"history\":[\"a\",\"b\"]}");
    rs_alloc_fail_for_testing(0);
    ck_assert_int_eq(status, 503);
    ck_assert_int_eq(status_of("{\"history\":[\"a\",\"b\"]}"), 0);
}
END_TEST

Suite *server_request_suite(void)
{
    Suite *s = suite_create("server_request");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_full_body);
    tcase_add_test(tc, test_defaults_and_nulls);
    tcase_add_test(tc, test_malformed_json_is_400);
    tcase_add_test(tc, test_json_that_is_not_an_object);
    tcase_add_test(tc, test_number_out_of_range_is_422);
    tcase_add_test(tc, test_too_many_values_refused_before_parsing);
    tcase_add_test(tc, test_bad_encoding_is_400);
    tcase_add_test(tc, test_wrong_types_are_400);
    tcase_add_test(tc, test_integer_ids_are_their_strings);
    tcase_add_test(tc, test_ranges_are_422);
    tcase_add_test(tc, test_list_lengths);
    tcase_add_test(tc, test_depth_limit);
    tcase_add_test(tc, test_query_params);
    tcase_add_test(tc, test_mutations_never_crash);
    tcase_add_test(tc, test_error_kinds_to_status);
    tcase_add_test(tc, test_filter_page_sample_batch);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(server_request_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
