/* test_tensor.c - the stored tensor value (tensor.c) and what it rests on:
 * CRC-32C (crc32c.c) and the name rule (names.c). The tensor header is
 * rebuilt here from proto/snapshot.md, independently of tensor.c. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "names.h"
#include "rng.h"
#include "tensor.h"
#include "test_support.h"

/* ---- CRC-32C ---------------------------------------------------------- */

START_TEST(test_crc_known_answers)
{
    /* The standard check value and the iSCSI (RFC 3720) test vectors. */
    ck_assert_uint_eq(rs_crc32c(0, "123456789", 9), 0xE3069283u);
    ck_assert_uint_eq(rs_crc32c_portable(0, "123456789", 9), 0xE3069283u);
    uint8_t buf[32];
    memset(buf, 0, 32);
    ck_assert_uint_eq(rs_crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xff, 32);
    ck_assert_uint_eq(rs_crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    ck_assert_uint_eq(rs_crc32c(0, buf, 32), 0x46DD794Eu);
    ck_assert_uint_eq(rs_crc32c_portable(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)(31 - i);
    ck_assert_uint_eq(rs_crc32c(0, buf, 32), 0x113FDB5Cu);
    ck_assert_uint_eq(rs_crc32c(0, NULL, 0), 0);
}
END_TEST

START_TEST(test_crc_fast_matches_portable)
{
    rs_rng rng;
    rs_rng_seed(&rng, 11);
    enum { N = 100000 };
    uint8_t *buf = malloc(N + 16);
    for (int i = 0; i < N + 16; i++) buf[i] = (uint8_t)rs_rng_u64(&rng);
    for (int trial = 0; trial < 300; trial++) {
        size_t off = rs_rng_below(&rng, 16);
        size_t len = trial < 100 ? (size_t)trial : rs_rng_below(&rng, N);
        uint32_t a = rs_crc32c(0, buf + off, len), b = rs_crc32c_portable(0, buf + off, len);
        ck_assert_uint_eq(a, b);
        /* Continuing a CRC over a split equals the CRC of the whole. */
        size_t cut = len ? rs_rng_below(&rng, len) : 0;
        uint32_t c = rs_crc32c(rs_crc32c(0, buf + off, cut), buf + off + cut, len - cut);
        ck_assert_uint_eq(a, c);
    }
    free(buf);
}
END_TEST

/* ---- names --------------------------------------------------------------- */

START_TEST(test_name_length)
{
    /* Bytes inside a longer key: only the n bytes count. */
    ck_assert_uint_eq(rs_name_length_ok("prod/current", 4), 4);
    ck_assert_uint_eq(rs_name_length_ok("prod/current", 5), 0);
    ck_assert_uint_eq(rs_name_length_ok("x", 0), 0);
    char longest[RS_NAME_MAX + 1];
    memset(longest, 'a', sizeof(longest));
    ck_assert_uint_eq(rs_name_length_ok(longest, RS_NAME_MAX), RS_NAME_MAX);
    ck_assert_uint_eq(rs_name_length_ok(longest, RS_NAME_MAX + 1), 0);
}
END_TEST

/* ---- tensor values ----------------------------------------------------- */

/* Builds a tensor value exactly as proto/snapshot.md describes it. */
static size_t build_value(uint8_t *out, uint8_t dtype, uint8_t ndim, const uint64_t *shape4,
                          const void *payload, uint64_t bytes)
{
    memset(out, 0, 64);
    memcpy(out, "RSTN", 4);
    out[4] = 1;  /* u16 version */
    out[6] = 64; /* u16 header length */
    out[8] = dtype;
    out[9] = ndim;
    uint32_t pcrc = rs_crc32c(0, payload, (size_t)bytes);
    for (int i = 0; i < 4; i++) out[12 + i] = (uint8_t)(pcrc >> (8 * i));
    for (int d = 0; d < 4; d++)
        for (int i = 0; i < 8; i++) out[16 + 8 * d + i] = (uint8_t)(shape4[d] >> (8 * i));
    for (int i = 0; i < 8; i++) out[48 + i] = (uint8_t)(bytes >> (8 * i));
    uint32_t hcrc = rs_crc32c(0, out, 56);
    for (int i = 0; i < 4; i++) out[56 + i] = (uint8_t)(hcrc >> (8 * i));
    memcpy(out + 64, payload, (size_t)bytes);
    return 64 + (size_t)bytes;
}

static void reseal_header(uint8_t *v)
{
    uint32_t hcrc = rs_crc32c(0, v, 56);
    for (int i = 0; i < 4; i++) v[56 + i] = (uint8_t)(hcrc >> (8 * i));
}

static void expect_decode_error(uint8_t *v, size_t size, int verify, const char *needle)
{
    rs_tensor_view view;
    rs_error err = {{0}};
    ck_assert_msg(rs_tensor_decode(v, size, verify, &view, &err) == -1, "accepted; want '%s'",
                  needle);
    assert_has(err.msg, needle);
}

START_TEST(test_bad_header_fields)
{
    _Alignas(16) uint8_t good[64 + 24], v[64 + 32];
    float payload[6] = {1, 2, 3, 4, 5, 6};
    uint64_t shape[4] = {2, 3, 0, 0};
    size_t size = build_value(good, RS_F32, 2, shape, payload, sizeof(payload));
    rs_tensor_view view;
    ASSERT_OK(rs_tensor_decode(good, size, 1, &view, &err_));
    ck_assert_int_eq(view.dtype, RS_F32);
    ck_assert_uint_eq(view.ndim, 2);
    ck_assert_uint_eq(view.count, 6);
    ck_assert_int_eq(memcmp(view.data, payload, sizeof(payload)), 0);

#define FRESH() memcpy(v, good, size)
    FRESH();
    expect_decode_error(v, 63, 0, "shorter than");
    FRESH(), v[0] = 'X';
    expect_decode_error(v, size, 0, "magic");
    FRESH(), v[4] = 2, reseal_header(v);
    expect_decode_error(v, size, 0, "format version 2");
    FRESH(), v[6] = 128, reseal_header(v);
    expect_decode_error(v, size, 0, "header length");
    FRESH(), v[16] = 3; /* shape changed, header CRC not updated */
    expect_decode_error(v, size, 0, "header checksum");
    FRESH(), v[8] = 0, reseal_header(v);
    expect_decode_error(v, size, 0, "dtype");
    FRESH(), v[8] = 8, reseal_header(v);
    expect_decode_error(v, size, 0, "dtype");
    FRESH(), v[9] = 0, reseal_header(v);
    expect_decode_error(v, size, 0, "ndim");
    FRESH(), v[9] = 5, reseal_header(v);
    expect_decode_error(v, size, 0, "ndim");
    FRESH(), v[10] = 1, reseal_header(v);
    expect_decode_error(v, size, 0, "reserved");
    FRESH(), v[60] = 1, reseal_header(v);
    expect_decode_error(v, size, 0, "reserved");
    FRESH(), v[32] = 1, reseal_header(v); /* shape[2] set while ndim = 2 */
    expect_decode_error(v, size, 0, "unused dimension");
    FRESH(), v[16] = 3, reseal_header(v); /* shape 3x3 = 36 bytes, length says 24 */
    expect_decode_error(v, size, 0, "payload length");
    FRESH(), v[8] = RS_F64, reseal_header(v); /* 6 x f64 = 48 bytes */
    expect_decode_error(v, size, 0, "payload length");
    FRESH();
    expect_decode_error(v, size - 1, 0, "payload bytes");
    FRESH(), v[size] = 0;
    expect_decode_error(v, size + 1, 0, "payload bytes");
    FRESH(), v[16 + 5] = 1, v[24 + 5] = 1, reseal_header(v); /* 2^40 x 2^40 elements */
    expect_decode_error(v, size, 0, "overflow");
    FRESH(), v[64 + 7] ^= 0x80; /* payload corrupted: only verify notices */
    expect_decode_error(v, size, 1, "payload checksum mismatch");
    ASSERT_OK(rs_tensor_decode(v, size, 0, &view, &err_));
#undef FRESH

    /* An empty tensor is valid: shape [0], no payload. */
    uint64_t zero[4] = {0, 0, 0, 0};
    size = build_value(v, RS_U8, 1, zero, "", 0);
    ASSERT_OK(rs_tensor_decode(v, size, 1, &view, &err_));
    ck_assert_uint_eq(view.count, 0);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("tensor");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_crc_known_answers);
    tcase_add_test(tc, test_crc_fast_matches_portable);
    tcase_add_test(tc, test_name_length);
    tcase_add_test(tc, test_bad_header_fields);
    suite_add_tcase(suite, tc);
    SRunner *runner = srunner_create(suite);
    srunner_run_all(runner, CK_NORMAL);
    int failed = srunner_ntests_failed(runner);
    srunner_free(runner);
    return failed ? 1 : 0;
}
