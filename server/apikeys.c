/* apikeys.c - the API key file (see apikeys.h). */
#include "apikeys.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"

#define KEY_MIN 16
#define KEY_MAX 4096

typedef struct api_key {
    char name[64];
    char *key;
    size_t len;
} api_key;

struct rs_api_keys {
    int n;
    api_key keys[];
};

void rs_api_keys_free(rs_api_keys *keys)
{
    if (!keys) return;
    for (int i = 0; i < keys->n; i++) {
        volatile char *p = keys->keys[i].key;
        for (size_t j = 0; j < keys->keys[i].len; j++) p[j] = 0;
        free(keys->keys[i].key);
    }
    free(keys);
}

int rs_api_keys_count(const rs_api_keys *keys)
{
    return keys ? keys->n : 0;
}

/* Equal strings, in time that depends only on the lengths. */
static int same(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = alen != blen;
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

const char *rs_api_keys_match(const rs_api_keys *keys, const char *candidate, size_t len)
{
    const char *found = NULL;
    /* Every key is compared, so timing does not tell which one matched. */
    for (int i = 0; keys && i < keys->n; i++)
        if (same(candidate, len, keys->keys[i].key, keys->keys[i].len)) found = keys->keys[i].name;
    return found;
}

static int printable(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] <= ' ' || s[i] >= 0x7f) return 0;
    return 1;
}

/* Adds the key of one line (NAME KEY or KEY); line is NUL-terminated and
 * trimmed. */
static int add_line(rs_api_keys *keys, char *line, int lineno, const char *path, rs_error *err)
{
    char *key = line, *name = NULL, *space = strpbrk(line, " \t");
    if (space) {
        *space = '\0';
        name = line;
        key = space + 1;
        while (*key == ' ' || *key == '\t') key++;
    }
    size_t n = strlen(key);
    if (n < KEY_MIN || n > KEY_MAX || !printable(key, n) || (name && strlen(name) > 63))
        return rs_fail(err,
                       "%s:%d: a key must be %d..%d printable characters without spaces, "
                       "after an optional name of at most 63",
                       path, lineno, KEY_MIN, KEY_MAX);
    if (rs_api_keys_match(keys, key, n))
        return rs_fail(err, "%s:%d: the same key as an earlier line", path, lineno);
    if (keys->n == RS_API_KEYS_MAX)
        return rs_fail(err, "%s: more than %d keys", path, RS_API_KEYS_MAX);
    api_key *k = &keys->keys[keys->n];
    if (!(k->key = strdup(key))) return rs_fail(err, "out of memory");
    k->len = n;
    if (name)
        snprintf(k->name, sizeof(k->name), "%s", name);
    else
        snprintf(k->name, sizeof(k->name), "key %d", lineno);
    keys->n++;
    return 0;
}

int rs_api_keys_load(const char *path, rs_api_keys **out, rs_error *err)
{
    *out = NULL;
    char *text;
    size_t len;
    if (rs_read_small_file(path, 1 << 20, &text, &len, err) != 0)
        return rs_error_prefix(err, "API key file");
    rs_api_keys *keys = calloc(1, sizeof(*keys) + RS_API_KEYS_MAX * sizeof(api_key));
    int rc = keys ? 0 : rs_fail(err, "out of memory");
    int lineno = 0;
    for (char *line = text, *next; rc == 0 && line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = '\0';
        lineno++;
        char *end = line + strlen(line);
        while (end > line && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t')) *--end = 0;
        while (*line == ' ' || *line == '\t') line++;
        if (*line && *line != '#') rc = add_line(keys, line, lineno, path, err);
    }
    memset(text, 0, len);
    free(text);
    if (rc == 0 && keys->n == 0) rc = rs_fail(err, "API key file %s holds no key", path);
    if (rc != 0) {
        rs_api_keys_free(keys);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0 && (st.st_mode & 0077))
        rs_log(RS_LOG_WARN, "API key file %s is readable by other users (mode %03o); chmod 600 it",
               path, (unsigned)(st.st_mode & 0777));
    *out = keys;
    return 0;
}
