/* jsonbuf.c - JSON text written straight into a growable buffer (see
 * jsonbuf.h). */
#include "jsonbuf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void rs_jsonbuf_init(rs_jsonbuf *b, size_t initial_capacity)
{
    b->len = 0;
    b->failed = 0;
    b->cap = initial_capacity ? initial_capacity : 256;
    b->data = malloc(b->cap);
    if (!b->data) b->failed = 1, b->cap = 0;
}

void rs_jsonbuf_free(rs_jsonbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

/* Room for n more bytes and a NUL; 0 on success. */
static int reserve(rs_jsonbuf *b, size_t n)
{
    if (b->failed) return -1;
    if (n < b->cap - b->len) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len <= n) {
        if (cap > SIZE_MAX / 2) {
            b->failed = 1;
            return -1;
        }
        cap *= 2;
    }
    char *grown = realloc(b->data, cap);
    if (!grown) {
        b->failed = 1;
        return -1;
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

void rs_jsonbuf_raw(rs_jsonbuf *b, const char *s, size_t n)
{
    if (reserve(b, n) != 0) return;
    memcpy(b->data + b->len, s, n);
    b->len += n;
}

/* Length of the valid UTF-8 sequence at s (at most n bytes), 0 if invalid:
 * no overlong forms, no surrogates, nothing above U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (len > n) return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

static int utf8_valid(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < n;) {
        size_t len = utf8_sequence(u + i, n - i);
        if (!len) return 0;
        i += len;
    }
    return 1;
}

void rs_jsonbuf_string(rs_jsonbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    /* Worst case: every byte becomes \u00XX. */
    if (n > (SIZE_MAX - 2) / 6 || reserve(b, 6 * n + 2) != 0) {
        b->failed = 1;
        return;
    }
    int replace_high = !utf8_valid(s, n);
    char *out = b->data + b->len;
    *out++ = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            *out++ = '\\';
            *out++ = (char)c;
        } else if (c < 0x20) {
            *out++ = '\\';
            switch (c) {
            case '\n':
                *out++ = 'n';
                break;
            case '\r':
                *out++ = 'r';
                break;
            case '\t':
                *out++ = 't';
                break;
            default:
                memcpy(out, "u00", 3);
                out[3] = hex[c >> 4];
                out[4] = hex[c & 15];
                out += 5;
            }
        } else {
            *out++ = c >= 0x80 && replace_high ? '?' : (char)c;
        }
    }
    *out++ = '"';
    b->len = (size_t)(out - b->data);
}

void rs_jsonbuf_uint(rs_jsonbuf *b, uint64_t v)
{
    char digits[24];
    int n = 0;
    do {
        digits[sizeof(digits) - 1 - n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    rs_jsonbuf_raw(b, digits + sizeof(digits) - n, (size_t)n);
}

/* The 9 significant digits of a > 0 as an integer in [1e8, 1e9), and the
 * decimal exponent of the first digit. The scaling is exact to about 1e-16
 * relative, so the rounding can differ from a correctly rounded printf only
 * at a near tie, where either neighbour still reads back as the same float
 * (floats need 9 digits, and are 6e-8 apart relative). */
static uint32_t nine_digits(double a, int *exponent)
{
    int e = (int)floor(log10(a));
    double m = nearbyint(a * pow(10.0, 8 - e));
    if (m < 1e8) { /* log10 rounded up across a power of ten */
        e--;
        m = nearbyint(a * pow(10.0, 8 - e));
    }
    if (m >= 1e9) { /* rounding carried into a tenth digit */
        e++;
        m = nearbyint(a * pow(10.0, 8 - e));
    }
    *exponent = e;
    return (uint32_t)m;
}

size_t rs_format_float(float v, char *out)
{
    char *p = out;
    if (!isfinite(v)) {
        memcpy(out, "null", 5);
        return 4;
    }
    if (v == 0.0f) {
        memcpy(out, "0.0", 4);
        return 3;
    }
    double a = v;
    if (a < 0) *p++ = '-', a = -a;
    int e;
    uint32_t m = nine_digits(a, &e);
    char d[9];
    for (int i = 8; i >= 0; i--) d[i] = (char)('0' + m % 10), m /= 10;
    int nd = 9;
    while (nd > 1 && d[nd - 1] == '0') nd--;
    if (e >= 0 && e < 9) { /* ddd.ddd, at least one digit after the point */
        for (int i = 0; i <= e; i++) *p++ = i < nd ? d[i] : '0';
        *p++ = '.';
        if (nd > e + 1)
            for (int i = e + 1; i < nd; i++) *p++ = d[i];
        else
            *p++ = '0';
    } else if (e < 0 && e >= -5) { /* 0.000ddd */
        *p++ = '0';
        *p++ = '.';
        for (int i = -1; i > e; i--) *p++ = '0';
        for (int i = 0; i < nd; i++) *p++ = d[i];
    } else { /* d.ddde-XX */
        *p++ = d[0];
        if (nd > 1) {
            *p++ = '.';
            for (int i = 1; i < nd; i++) *p++ = d[i];
        }
        *p++ = 'e';
        if (e < 0) *p++ = '-', e = -e;
        if (e >= 10) *p++ = (char)('0' + e / 10);
        *p++ = (char)('0' + e % 10);
    }
    *p = '\0';
    return (size_t)(p - out);
}

void rs_jsonbuf_float(rs_jsonbuf *b, float v)
{
    char text[32];
    size_t n = rs_format_float(v, text);
    rs_jsonbuf_raw(b, text, n);
}

static int dump_callback(const char *buffer, size_t size, void *data)
{
    rs_jsonbuf *b = data;
    rs_jsonbuf_raw(b, buffer, size);
    return b->failed ? -1 : 0;
}

void rs_jsonbuf_json(rs_jsonbuf *b, const json_t *v)
{
    if (!v) {
        rs_jsonbuf_lit(b, "null");
        return;
    }
    if (json_dump_callback(v, dump_callback, b, JSON_COMPACT | JSON_ENCODE_ANY) != 0) b->failed = 1;
}

char *rs_jsonbuf_take(rs_jsonbuf *b, size_t *len)
{
    if (b->failed || !b->data) {
        rs_jsonbuf_free(b);
        b->failed = 0;
        *len = 0;
        return NULL;
    }
    char *text = b->data;
    text[b->len] = '\0';
    *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return text;
}
