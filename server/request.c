/* request.c - request validation (see request.h). */
#include "request.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rs_limits_default(rs_limits *lim)
{
    lim->max_n = RS_DEFAULT_MAX_N;
    lim->max_history = RS_DEFAULT_MAX_HISTORY;
    lim->max_exclude = RS_DEFAULT_MAX_EXCLUDE;
    lim->max_depth = RS_DEFAULT_MAX_DEPTH;
}

int rs_request_fail(rs_request_error *e, int status, const char *code, const char *fmt, ...)
{
    e->status = status;
    e->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return -1;
}

int rs_error_http_status(rs_error_kind kind, const char **code)
{
    switch (kind) {
    case RS_ERR_INVALID:
        *code = "invalid_request";
        return 400;
    case RS_ERR_NOT_FOUND:
        *code = "not_found";
        return 404;
    case RS_ERR_NO_MEMORY:
        /* Transient: another replica, or this one a moment later, may have it. */
        *code = "out_of_memory";
        return 503;
    case RS_ERR_NONE:
    case RS_ERR_GENERIC:
    case RS_ERR_CORRUPT:
    case RS_ERR_IO:
        break;
    }
    *code = "internal";
    return 500;
}

int rs_request_fail_from(rs_request_error *e, const rs_error *err)
{
    const char *code;
    int status = rs_error_http_status(err->kind, &code);
    return rs_request_fail(e, status, code, "%s", err->msg);
}

int rs_json_depth_ok(const char *text, size_t len, uint32_t max_depth)
{
    uint32_t depth = 0;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++; /* skip the escaped character, whatever it is */
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > max_depth) return 0;
        } else if ((c == ']' || c == '}') && depth > 0) {
            depth--;
        }
    }
    return 1;
}

size_t rs_json_values(const char *text, size_t len)
{
    size_t commas = 0;
    int in_string = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
        } else if (c == '"') {
            in_string = 1;
        } else if (c == ',') {
            commas++;
        }
    }
    return commas + 1;
}

const char *rs_json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

/* An array of string ids, at most max long. */
static int parse_ids(const char *field, json_t *v, uint32_t max, rs_id **out, uint32_t *n,
                     rs_request_error *e)
{
    if (!json_is_array(v))
        return rs_request_fail(e, 400, "invalid_request",
                               "\"%s\" must be an array of item ids (strings or integers), got %s",
                               field, rs_json_type_name(v));
    size_t count = json_array_size(v);
    if (count > max)
        return rs_request_fail(e, 422, "out_of_range",
                               "\"%s\" has %zu ids; at most %u are accepted", field, count, max);
    rs_error err;
    rs_id *ids = count ? rs_malloc(count, sizeof(*ids), &err) : NULL;
    if (count && !ids) return rs_request_fail_from(e, &err);
    for (size_t i = 0; i < count; i++) {
        json_t *item = json_array_get(v, i);
        if (!json_is_string(item)) {
            free(ids);
            return rs_request_fail(
                e, 400, "invalid_request",
                "\"%s\"[%zu] must be an item id (a string or an integer), got %s", field, i,
                rs_json_type_name(item));
        }
        ids[i].ptr = json_string_value(item);
        ids[i].len = json_string_length(item);
    }
    *out = ids;
    *n = (uint32_t)count;
    return 0;
}

static int parse_string(const char *field, json_t *v, rs_id *out, rs_request_error *e)
{
    if (!json_is_string(v))
        return rs_request_fail(e, 400, "invalid_request", "\"%s\" must be a string, got %s", field,
                               rs_json_type_name(v));
    out->ptr = json_string_value(v);
    out->len = json_string_length(v);
    return 0;
}

/* Ids that are JSON integers (MovieLens-style numeric ids: {"user": 42,
 * "history": [1, 2]}) become the strings they stand for, in the document
 * itself, so that rs_id can point into it like for string ids. Other
 * numbers (1.5, 1e3) stay what they are and are refused later. */
static json_t *id_string(json_t *v)
{
    char text[32];
    snprintf(text, sizeof(text), "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    return json_string(text);
}

static int stringify_ids(json_t *root, rs_request_error *e)
{
    static const char *const scalars[] = {"user", "session"}, *const lists[] = {"history",
                                                                                "exclude"};
    for (size_t k = 0; k < 2; k++) {
        json_t *v = json_object_get(root, scalars[k]);
        if (json_is_integer(v) && json_object_set_new(root, scalars[k], id_string(v)) != 0)
            return rs_request_fail(e, 503, "out_of_memory", "out of memory reading ids");
        json_t *list = json_object_get(root, lists[k]);
        for (size_t i = 0; json_is_array(list) && i < json_array_size(list); i++) {
            json_t *item = json_array_get(list, i);
            if (json_is_integer(item) && json_array_set_new(list, i, id_string(item)) != 0)
                return rs_request_fail(e, 503, "out_of_memory", "out of memory reading ids");
        }
    }
    return 0;
}

static int parse_fields(json_t *root, const rs_limits *lim, rs_reco_request *r, rs_request_error *e)
{
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        /* null means "not given" for every optional field. */
        if (json_is_null(v)) continue;
        if (strcmp(key, "user") == 0) {
            if (parse_string("user", v, &r->user, e) != 0) return -1;
            r->has_user = 1;
        } else if (strcmp(key, "history") == 0) {
            if (parse_ids("history", v, lim->max_history, &r->history, &r->n_history, e) != 0)
                return -1;
            r->has_history = 1;
        } else if (strcmp(key, "exclude") == 0) {
            if (parse_ids("exclude", v, lim->max_exclude, &r->exclude, &r->n_exclude, e) != 0)
                return -1;
        } else if (strcmp(key, "n") == 0) {
            if (!json_is_integer(v))
                return rs_request_fail(e, 400, "invalid_request",
                                       "\"n\" must be an integer, got %s", rs_json_type_name(v));
            json_int_t n = json_integer_value(v);
            if (n < 1 || n > (json_int_t)lim->max_n)
                return rs_request_fail(e, 422, "out_of_range", "\"n\" is %lld; expected 1..%u",
                                       (long long)n, lim->max_n);
            r->n = (uint32_t)n;
        } else if (strcmp(key, "filter_history") == 0) {
            if (!json_is_boolean(v))
                return rs_request_fail(e, 400, "invalid_request",
                                       "\"filter_history\" must be a boolean, got %s",
                                       rs_json_type_name(v));
            r->filter_history = json_is_true(v);
        } else if (strcmp(key, "variant") == 0) {
            if (parse_string("variant", v, &r->variant, e) != 0) return -1;
            r->has_variant = 1;
        } else if (strcmp(key, "session") == 0) {
            if (parse_string("session", v, &r->session, e) != 0) return -1;
            r->has_session = 1;
        } else {
            /* Strict: a misspelt field ("num", "histroy") must not be ignored. */
            return rs_request_fail(
                e, 400, "invalid_request",
                "unknown field \"%.64s\" (expected user, history, n, exclude, filter_history, "
                "variant, session)",
                key);
        }
    }
    if (!r->has_user && !r->has_history)
        return rs_request_fail(e, 400, "invalid_request",
                               "give \"user\" (a known user id) or \"history\" (item ids)");
    return 0;
}

int rs_reco_request_parse(const char *body, size_t len, const rs_limits *lim, rs_reco_request *out,
                          rs_request_error *e)
{
    memset(out, 0, sizeof(*out));
    out->n = RS_DEFAULT_N < lim->max_n ? RS_DEFAULT_N : lim->max_n;
    out->filter_history = 1;
    if (len == 0)
        return rs_request_fail(e, 400, "bad_json",
                               "the request body is empty; expected a JSON "
                               "object");
    if (!rs_json_depth_ok(body, len, lim->max_depth))
        return rs_request_fail(e, 400, "bad_json", "JSON nests deeper than %u levels",
                               lim->max_depth);
    /* The parsed document costs some 50 bytes per value: refuse one that
     * cannot be valid (more values than the lists may hold, plus the other
     * fields) before building it. */
    size_t values = rs_json_values(body, len);
    size_t most = (size_t)lim->max_history + lim->max_exclude + 64;
    if (values > most)
        return rs_request_fail(e, 422, "out_of_range",
                               "the body holds about %zu values; history and exclude take at "
                               "most %u and %u ids",
                               values, lim->max_history, lim->max_exclude);
    json_error_t jerr;
    /* jansson rejects invalid UTF-8 and \u0000 by default; duplicate keys
     * are ambiguous, so refuse them too. Any value parses, so that a body
     * that is JSON but not an object is told so. */
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root && json_error_code(&jerr) == json_error_numeric_overflow)
        return rs_request_fail(e, 422, "out_of_range",
                               "a number at line %d column %d is out of range: %s", jerr.line,
                               jerr.column, jerr.text);
    if (!root)
        return rs_request_fail(e, 400, "bad_json", "malformed JSON at line %d column %d: %s",
                               jerr.line, jerr.column, jerr.text);
    if (!json_is_object(root)) {
        rs_request_fail(e, 400, "invalid_request", "the body must be a JSON object, got %s",
                        rs_json_type_name(root));
        json_decref(root);
        return -1;
    }
    out->root = root;
    if (stringify_ids(root, e) != 0 || parse_fields(root, lim, out, e) != 0) {
        rs_reco_request_free(out);
        return -1;
    }
    return 0;
}

void rs_reco_request_free(rs_reco_request *r)
{
    free(r->history);
    free(r->exclude);
    if (r->root) json_decref(r->root);
    memset(r, 0, sizeof(*r));
}

int rs_parse_n_param(const char *value, const rs_limits *lim, uint32_t *n, rs_request_error *e)
{
    if (!value) {
        *n = RS_DEFAULT_N < lim->max_n ? RS_DEFAULT_N : lim->max_n;
        return 0;
    }
    const char *p = value;
    if (*p == '-' || *p == '+') p++;
    if (*p == '\0' || strspn(p, "0123456789") != strlen(p))
        return rs_request_fail(e, 400, "invalid_request",
                               "query parameter n must be an integer, got \"%.32s\"", value);
    errno = 0;
    long long v = strtoll(value, NULL, 10);
    if (errno == ERANGE || v < 1 || v > (long long)lim->max_n)
        return rs_request_fail(e, 422, "out_of_range", "n is %.32s; expected 1..%u", value,
                               lim->max_n);
    *n = (uint32_t)v;
    return 0;
}

int rs_parse_bool_param(const char *name, const char *value, int dflt, int *out,
                        rs_request_error *e)
{
    if (!value)
        *out = dflt;
    else if (strcmp(value, "true") == 0 || strcmp(value, "1") == 0)
        *out = 1;
    else if (strcmp(value, "false") == 0 || strcmp(value, "0") == 0)
        *out = 0;
    else
        return rs_request_fail(e, 400, "invalid_request",
                               "query parameter %s must be true or false, got \"%.32s\"", name,
                               value);
    return 0;
}
