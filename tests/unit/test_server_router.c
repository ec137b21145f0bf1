/* test_server_router.c - route matching, 404/405 and percent-decoding. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "router.h"
#include "rng.h"

static const rs_route table[] = {
    {"POST", "/v1/recommend"},
    {"GET", "/v1/users/{id}/recommendations"},
    {"GET", "/v1/items/{id}/similar"},
    {"GET", "/v1/models"},
    {"GET", "/healthz"},
    {"DELETE", "/v1/items/{id}/similar"},
};
#define N_ROUTES ((int)(sizeof(table) / sizeof(table[0])))

static int match(const char *method, const char *path, rs_route_match *m, char *allow)
{
    return rs_router_match(table, N_ROUTES, method, path, m, allow, 64);
}

START_TEST(test_matches_and_captures)
{
    rs_route_match m;
    char allow[64];
    ck_assert_int_eq(match("POST", "/v1/recommend", &m, allow), RS_ROUTE_FOUND);
    ck_assert_int_eq(m.route, 0);
    ck_assert_int_eq(m.n_params, 0);
    ck_assert_int_eq(match("GET", "/v1/users/u%2F7/recommendations", &m, allow), RS_ROUTE_FOUND);
    ck_assert_int_eq(m.route, 1);
    ck_assert_int_eq(m.n_params, 1);
    ck_assert_uint_eq(m.param_len[0], 5);
    ck_assert(memcmp(m.param[0], "u%2F7", 5) == 0);
    ck_assert_int_eq(match("GET", "/v1/items/42/similar", &m, allow), RS_ROUTE_FOUND);
    ck_assert_int_eq(m.route, 2);
    ck_assert_int_eq(match("DELETE", "/v1/items/42/similar", &m, allow), RS_ROUTE_FOUND);
    ck_assert_int_eq(m.route, 5);
    /* HEAD is answered by GET routes. */
    ck_assert_int_eq(match("HEAD", "/healthz", &m, allow), RS_ROUTE_FOUND);
    ck_assert_int_eq(m.route, 4);
}
END_TEST

START_TEST(test_not_found)
{
    rs_route_match m;
    char allow[64];
    const char *paths[] = {"/",
                           "",
                           "healthz",
                           "/healthz/",
                           "/healthzz",
                           "/v1",
                           "/v1/recommend/x",
                           "/v1/items//similar",
                           "/v1/items/similar",
                           "/v1/items/a/b/similar",
                           "//healthz",
                           "/V1/models"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        ck_assert_msg(match("GET", paths[i], &m, allow) == RS_ROUTE_NOT_FOUND, "%s", paths[i]);
        ck_assert_int_eq(m.route, -1);
    }
}
END_TEST

START_TEST(test_wrong_method_lists_allowed)
{
    rs_route_match m;
    char allow[64];
    ck_assert_int_eq(match("GET", "/v1/recommend", &m, allow), RS_ROUTE_BAD_METHOD);
    ck_assert_str_eq(allow, "POST");
    ck_assert_int_eq(match("POST", "/healthz", &m, allow), RS_ROUTE_BAD_METHOD);
    ck_assert_str_eq(allow, "GET, HEAD");
    ck_assert_int_eq(match("PUT", "/v1/items/9/similar", &m, allow), RS_ROUTE_BAD_METHOD);
    ck_assert_str_eq(allow, "GET, HEAD, DELETE");
    ck_assert_int_eq(match("HEAD", "/v1/recommend", &m, allow), RS_ROUTE_BAD_METHOD);
    ck_assert_str_eq(allow, "POST");
}
END_TEST

START_TEST(test_percent_decode)
{
    char out[64];
    size_t len;
    ck_assert_int_eq(rs_percent_decode("a%2Fb%20c+d", 11, out, &len), 0);
    ck_assert_str_eq(out, "a/b c+d");
    ck_assert_uint_eq(len, 7);
    ck_assert_int_eq(rs_percent_decode("%e2%82%AC", 9, out, &len), 0);
    ck_assert_str_eq(out, "\xe2\x82\xac");
    const char *bad[] = {"%", "%4", "a%zz", "%00", "%g0", "ab%"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(rs_percent_decode(bad[i], strlen(bad[i]), out, &len) == -1, "%s", bad[i]);
    /* A truncated escape at the end of a longer buffer is not read past len. */
    ck_assert_int_eq(rs_percent_decode("x%41", 3, out, &len), -1);

    /* Round trip: every byte 1..255 encoded as %XX decodes back. */
    rs_rng rng;
    rs_rng_seed(&rng, 5);
    for (int trial = 0; trial < 1000; trial++) {
        unsigned char raw[16];
        char enc[64], dec[64];
        size_t n = 1 + rs_rng_below(&rng, 16), o = 0;
        for (size_t i = 0; i < n; i++) {
            raw[i] = (unsigned char)(1 + rs_rng_below(&rng, 255));
            o += (size_t)sprintf(enc + o, "%%%02X", raw[i]);
        }
        ck_assert_int_eq(rs_percent_decode(enc, o, dec, &len), 0);
        ck_assert_uint_eq(len, n);
        ck_assert(memcmp(dec, raw, n) == 0);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("server_router");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_matches_and_captures);
    tcase_add_test(tc, test_not_found);
    tcase_add_test(tc, test_wrong_method_lists_allowed);
    tcase_add_test(tc, test_percent_decode);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
