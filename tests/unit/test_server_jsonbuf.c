/* test_server_jsonbuf.c - the direct JSON writer: floats read back as the
 * same float and agree with printf's %.9g; strings are escaped, invalid
 * UTF-8 is replaced and valid UTF-8 kept; what it writes parses with
 * jansson to the values written. */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonbuf.h"
#include "rng.h"

static float float_of_bits(uint32_t bits)
{
    float f;
    memcpy(&f, &bits, sizeof(f));
    return f;
}

/* Every finite float (here half a million random bit patterns, all exponents)
 * reads back exactly and is within 1e-8 relative of printf's %.9g. */
START_TEST(test_floats_read_back_exactly)
{
    rs_rng rng;
    rs_rng_seed(&rng, 42);
    char text[32], ref[64];
    int tested = 0;
    for (int i = 0; i < 500000; i++) {
        float v = float_of_bits((uint32_t)rs_rng_u64(&rng));
        if (!isfinite(v)) continue;
        size_t n = rs_format_float(v, text);
        ck_assert_uint_eq(n, strlen(text));
        char *end;
        float back = strtof(text, &end);
        ck_assert_msg(*end == '\0' && back == v, "%.9g written as %s, read as %.9g", (double)v,
                      text, (double)back);
        snprintf(ref, sizeof(ref), "%.9g", (double)v);
        double want = strtod(ref, NULL), got = strtod(text, NULL);
        ck_assert_msg(fabs(got - want) <= 1e-8 * fabs(want), "%s vs printf %s", text, ref);
        tested++;
    }
    ck_assert_int_gt(tested, 495000);
}
END_TEST

START_TEST(test_float_forms)
{
    static const struct {
        float v;
        const char *text;
    } cases[] = {
        {0.0f, "0.0"},
        {1.0f, "1.0"},
        {-2.5f, "-2.5"},
        {0.5f, "0.5"},
        {100.0f, "100.0"},
        {7.125f, "7.125"},
        {123456792.0f, "123456792.0"},
        {1e9f, "1e9"},
        {-0x1p-20f, "-9.53674316e-7"},
        {0.001f, "0.00100000005"},
        {0x1p-149f, "1.40129846e-45"},
        {3.40282347e38f, "3.40282347e38"},
    };
    char text[32];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        rs_format_float(cases[i].v, text);
        ck_assert_str_eq(text, cases[i].text);
    }
    rs_format_float(NAN, text);
    ck_assert_str_eq(text, "null");
    rs_format_float(-INFINITY, text);
    ck_assert_str_eq(text, "null");
}
END_TEST

/* Writes a document with every kind of value and parses it back. */
START_TEST(test_document_parses_to_what_was_written)
{
    static const char tricky[] = "q\"b\\s/\n\t\x01\x1f é €";
    static const char invalid[] = "ok\xff\xfe\xc0\x80z"; /* bad bytes, an overlong NUL */
    rs_jsonbuf b;
    rs_jsonbuf_init(&b, 4); /* tiny: forces growth */
    rs_jsonbuf_lit(&b, "{\"s\":");
    rs_jsonbuf_string(&b, tricky, sizeof(tricky) - 1);
    rs_jsonbuf_lit(&b, ",\"bad\":");
    rs_jsonbuf_string(&b, invalid, sizeof(invalid) - 1);
    rs_jsonbuf_lit(&b, ",\"nul\":");
    rs_jsonbuf_string(&b, "a\0b", 3);
    rs_jsonbuf_lit(&b, ",\"u\":");
    rs_jsonbuf_uint(&b, 9223372036854775807ull);
    rs_jsonbuf_lit(&b, ",\"zero\":");
    rs_jsonbuf_uint(&b, 0);
    rs_jsonbuf_lit(&b, ",\"f\":[");
    for (int i = 0; i < 200; i++) {
        if (i) rs_jsonbuf_lit(&b, ",");
        rs_jsonbuf_float(&b, (float)(i - 100) * 0.37f);
    }
    rs_jsonbuf_lit(&b, "],\"j\":");
    json_t *embedded = json_pack("{s:[i,s]}", "k", 3, "v");
    rs_jsonbuf_json(&b, embedded);
    rs_jsonbuf_lit(&b, ",\"none\":");
    rs_jsonbuf_json(&b, NULL);
    rs_jsonbuf_lit(&b, "}");
    size_t len;
    char *text = rs_jsonbuf_take(&b, &len);
    ck_assert_ptr_nonnull(text);
    ck_assert_uint_eq(len, strlen(text));
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
    ck_assert_msg(doc != NULL, "%s: %s", jerr.text, text);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "s")), tricky);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "bad")), "ok????z");
    json_t *nul = json_object_get(doc, "nul");
    ck_assert_uint_eq(json_string_length(nul), 3);
    ck_assert_mem_eq(json_string_value(nul), "a\0b", 3);
    ck_assert(json_is_integer(json_object_get(doc, "zero")));
    json_t *f = json_object_get(doc, "f");
    ck_assert_uint_eq(json_array_size(f), 200);
    for (int i = 0; i < 200; i++)
        ck_assert((float)json_number_value(json_array_get(f, (size_t)i)) ==
                  (float)(i - 100) * 0.37f);
    ck_assert(json_equal(json_object_get(doc, "j"), embedded));
    ck_assert(json_is_null(json_object_get(doc, "none")));
    ck_assert(json_integer_value(json_object_get(doc, "u")) == 9223372036854775807ll);
    json_decref(doc);
    json_decref(embedded);
    free(text);
    /* The buffer is empty after take and can be freed again. */
    ck_assert_ptr_null(b.data);
    rs_jsonbuf_free(&b);
    /* 2^64 - 1 is beyond jansson's integers: compare the text. */
    rs_jsonbuf_init(&b, 0);
    rs_jsonbuf_uint(&b, 18446744073709551615ull);
    text = rs_jsonbuf_take(&b, &len);
    ck_assert_str_eq(text, "18446744073709551615");
    free(text);
}
END_TEST

/* Once an allocation has failed the buffer refuses to hand out text. */
START_TEST(test_failure_is_sticky)
{
    rs_jsonbuf b;
    rs_jsonbuf_init(&b, 16);
    rs_jsonbuf_lit(&b, "[1");
    rs_jsonbuf_string(&b, "x", SIZE_MAX / 4); /* impossible size: refused, not read */
    ck_assert(b.failed);
    rs_jsonbuf_lit(&b, "]");
    size_t len = 99;
    ck_assert_ptr_null(rs_jsonbuf_take(&b, &len));
    ck_assert_uint_eq(len, 0);
    rs_jsonbuf_free(&b);
}
END_TEST

static Suite *jsonbuf_suite(void)
{
    Suite *s = suite_create("server_jsonbuf");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_floats_read_back_exactly);
    tcase_add_test(tc, test_float_forms);
    tcase_add_test(tc, test_document_parses_to_what_was_written);
    tcase_add_test(tc, test_failure_is_sticky);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(jsonbuf_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
