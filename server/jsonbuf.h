/* jsonbuf.h - JSON text written straight into a growable buffer.
 *
 * The recommendation answer is the server's hottest output: building it as a
 * jansson tree costs one allocation per value and a printf per score, about a
 * third of the request's user time under load. rs_jsonbuf appends the text
 * directly; the caller writes the punctuation. A failed allocation is
 * remembered, every later append is a no-op, and rs_jsonbuf_take returns
 * NULL, so callers check once at the end.
 *
 * Ownership: the buffer owns its bytes until rs_jsonbuf_take hands them to
 * the caller (malloc'd, NUL-terminated); rs_jsonbuf_free releases what was
 * not taken.
 */
#ifndef RS_JSONBUF_H
#define RS_JSONBUF_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rs_jsonbuf {
    char *data;
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete */
} rs_jsonbuf;

void rs_jsonbuf_init(rs_jsonbuf *b, size_t initial_capacity);
void rs_jsonbuf_free(rs_jsonbuf *b);

/* Bytes as they are (punctuation, keys known to need no escaping). */
void rs_jsonbuf_raw(rs_jsonbuf *b, const char *s, size_t n);
#define rs_jsonbuf_lit(b, literal) rs_jsonbuf_raw((b), "" literal, sizeof(literal) - 1)

/* A JSON string of n bytes: quotes, backslashes and control characters are
 * escaped. Text that is not valid UTF-8 has every byte >= 0x80 replaced by
 * '?' (the answer must stay valid JSON; ids come from data files). */
void rs_jsonbuf_string(rs_jsonbuf *b, const char *s, size_t n);
void rs_jsonbuf_uint(rs_jsonbuf *b, uint64_t v);
/* A float with 9 significant digits (enough to read back the same float);
 * non-finite values are written as null. */
void rs_jsonbuf_float(rs_jsonbuf *b, float v);
/* A jansson value, serialised compactly (NULL writes null). */
void rs_jsonbuf_json(rs_jsonbuf *b, const json_t *v);

/* Hands over the text (NUL-terminated, length in *len); NULL when an
 * allocation failed. The buffer is empty afterwards. */
char *rs_jsonbuf_take(rs_jsonbuf *b, size_t *len);

/* Writes v as rs_jsonbuf_float does into out (at least 32 bytes); returns
 * the length. */
size_t rs_format_float(float v, char *out);

#endif
