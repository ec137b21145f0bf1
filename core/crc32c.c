/* crc32c.c - CRC-32C (see crc32c.h): slicing-by-8 tables for any CPU, and
 * three interleaved streams of the SSE4.2 crc32 instruction where it exists.
 */
#include "crc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <nmmintrin.h>
#define RS_HAVE_X86_CRC 1
#endif

/* ------------------------------------------------------------------------ */
/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).                   */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
        crc_table[0][i] = c;
    }
    /* Slicing-by-8: table t advances a byte through t further zero bytes. */
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

uint32_t rs_crc32c_portable(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    uint32_t c = ~crc;
    while (n && ((uintptr_t)p & 7)) {
        c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
        n--;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        w ^= c;
        c = crc_table[7][w & 0xff] ^ crc_table[6][(w >> 8) & 0xff] ^
            crc_table[5][(w >> 16) & 0xff] ^ crc_table[4][(w >> 24) & 0xff] ^
            crc_table[3][(w >> 32) & 0xff] ^ crc_table[2][(w >> 40) & 0xff] ^
            crc_table[1][(w >> 48) & 0xff] ^ crc_table[0][w >> 56];
        p += 8;
        n -= 8;
    }
    while (n--) c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
    return ~c;
}

#ifdef RS_HAVE_X86_CRC
/* The crc32 instruction has a latency of 3 cycles and a throughput of one
 * per cycle, so three independent streams keep it busy. The streams are
 * combined by shifting the first two across the bytes that follow them,
 * which is a multiplication by x^(8*len) mod P done with precomputed
 * zero-run operators. */
#define HW_BLOCK 4096 /* bytes per stream per round */

static uint32_t shift_table[4][256]; /* crc over HW_BLOCK zero bytes, 4 slices */
static pthread_once_t shift_once = PTHREAD_ONCE_INIT;

/* GF(2) 32x32 matrix times vector: mat[i] is the image of bit i. */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;
    for (int i = 0; vec; i++, vec >>= 1)
        if (vec & 1) sum ^= mat[i];
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
    for (int i = 0; i < 32; i++) square[i] = gf2_times(mat, mat[i]);
}

/* Operator that advances a raw (non-inverted) CRC register over len zero
 * bytes; len is a power of two here. */
static void zeros_operator(uint32_t *op, size_t len)
{
    uint32_t odd[32], even[32];
    odd[0] = 0x82F63B78u; /* one zero bit */
    for (int i = 1; i < 32; i++) odd[i] = 1u << (i - 1);
    gf2_square(even, odd); /* two bits */
    gf2_square(odd, even); /* four bits */
    /* odd = one zero nibble; square up to len bytes (len * 8 bits). */
    size_t bits = 4;
    uint32_t *cur = odd, *other = even;
    while (bits < len * 8) {
        gf2_square(other, cur);
        uint32_t *t = cur;
        cur = other;
        other = t;
        bits *= 2;
    }
    memcpy(op, cur, sizeof(odd));
}

static void shift_init(void)
{
    uint32_t op[32];
    zeros_operator(op, HW_BLOCK);
    for (int s = 0; s < 4; s++)
        for (uint32_t b = 0; b < 256; b++) shift_table[s][b] = gf2_times(op, b << (8 * s));
}

static uint32_t shift_block(uint32_t crc)
{
    return shift_table[0][crc & 0xff] ^ shift_table[1][(crc >> 8) & 0xff] ^
           shift_table[2][(crc >> 16) & 0xff] ^ shift_table[3][crc >> 24];
}

__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const uint8_t *p,
                                                            size_t n)
{
    uint64_t c0 = (uint32_t)~crc;
    while (n && ((uintptr_t)p & 7)) {
        c0 = _mm_crc32_u8((uint32_t)c0, *p++);
        n--;
    }
    if (n >= 3 * HW_BLOCK) pthread_once(&shift_once, shift_init);
    while (n >= 3 * HW_BLOCK) {
        uint64_t c1 = 0, c2 = 0;
        const uint8_t *p1 = p + HW_BLOCK, *p2 = p + 2 * HW_BLOCK;
        for (size_t i = 0; i < HW_BLOCK; i += 8) {
            uint64_t w0, w1, w2;
            memcpy(&w0, p + i, 8);
            memcpy(&w1, p1 + i, 8);
            memcpy(&w2, p2 + i, 8);
            c0 = _mm_crc32_u64(c0, w0);
            c1 = _mm_crc32_u64(c1, w1);
            c2 = _mm_crc32_u64(c2, w2);
        }
        /* Registers are linear: crc(A|B) = shift(crc(A), |B|) ^ crc0(B). */
        c0 = shift_block(shift_block((uint32_t)c0) ^ (uint32_t)c1) ^ (uint32_t)c2;
        p += 3 * HW_BLOCK;
        n -= 3 * HW_BLOCK;
    }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c0 = _mm_crc32_u64(c0, w);
        p += 8;
        n -= 8;
    }
    while (n--) c0 = _mm_crc32_u8((uint32_t)c0, *p++);
    return ~(uint32_t)c0;
}
#endif

uint32_t rs_crc32c(uint32_t crc, const void *data, size_t n)
{
#ifdef RS_HAVE_X86_CRC
    if (__builtin_cpu_supports("sse4.2")) return crc32c_hw(crc, data, n);
#endif
    return rs_crc32c_portable(crc, data, n);
}
