/* fuzz_jsonbuf.c - libFuzzer target for the answer writer (server/jsonbuf.c),
 * which turns arbitrary bytes (item ids from data files, user ids from
 * requests) and floats into JSON text.
 *
 * The input is split in two: bytes written as a JSON string, and 4-byte
 * groups read as floats. Invariants: the document always parses; a string
 * of valid UTF-8 reads back byte for byte, any other reads back with the
 * same length and only its bytes >= 0x80 replaced; every finite float reads
 * back as the same float, every other as null.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonbuf.h"

static void check_string(const char *s, size_t n, const json_t *got)
{
    if (!json_is_string(got) || json_string_length(got) != n) abort();
    const char *back = json_string_value(got);
    if (!memcmp(back, s, n)) return;
    /* Replaced: identical except bytes >= 0x80, which became '?'. */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 ? back[i] != s[i] : back[i] != '?') abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t split = size ? data[0] % (size + 1) : 0;
    if (split == 0 && size) split = 1;
    const char *s = (const char *)data + 1;
    size_t n = split ? split - 1 : 0;
    const uint8_t *fdata = data + split;
    size_t n_floats = (size - split) / 4;

    rs_jsonbuf b;
    rs_jsonbuf_init(&b, 8);
    rs_jsonbuf_lit(&b, "[");
    rs_jsonbuf_string(&b, s, n);
    for (size_t i = 0; i < n_floats; i++) {
        float f;
        memcpy(&f, fdata + 4 * i, sizeof(f));
        rs_jsonbuf_lit(&b, ",");
        rs_jsonbuf_float(&b, f);
    }
    rs_jsonbuf_lit(&b, "]");
    size_t len;
    char *text = rs_jsonbuf_take(&b, &len);
    if (!text || strlen(text) != len) abort();
    json_error_t err;
    json_t *doc = json_loadb(text, len, JSON_ALLOW_NUL, &err);
    if (!doc || json_array_size(doc) != 1 + n_floats) abort();
    check_string(s, n, json_array_get(doc, 0));
    for (size_t i = 0; i < n_floats; i++) {
        float f;
        memcpy(&f, fdata + 4 * i, sizeof(f));
        const json_t *v = json_array_get(doc, 1 + i);
        if (!isfinite(f) ? !json_is_null(v) : (float)json_number_value(v) != f) abort();
    }
    json_decref(doc);
    free(text);
    rs_jsonbuf_free(&b);
    return 0;
}
