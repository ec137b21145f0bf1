/* request.c - request validation (see request.h). */
#include "request.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
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
    lim->max_batch = RS_DEFAULT_MAX_BATCH;
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

/* ---- filters ---- */

static int parse_number(const char *field, json_t *v, double *out, rs_request_error *e)
{
    if (!json_is_number(v))
        return rs_request_fail(e, 400, "invalid_request", "\"%s\" must be a number, got %s", field,
                               rs_json_type_name(v));
    *out = json_number_value(v);
    return 0;
}

static int parse_categories(json_t *v, rs_filter_request *f, rs_request_error *e)
{
    if (!json_is_object(v))
        return rs_request_fail(e, 400, "invalid_request",
                               "\"filter.categories\" must be an object, got %s",
                               rs_json_type_name(v));
    const char *key;
    json_t *list;
    json_object_foreach(v, key, list)
    {
        if (json_is_null(list)) continue;
        int rc;
        if (strcmp(key, "any") == 0) {
            rc = parse_ids("filter.categories.any", list, RS_FILTER_MAX_CATEGORIES, &f->any,
                           &f->n_any, e);
            f->any_given = 1;
        } else if (strcmp(key, "all") == 0) {
            rc = parse_ids("filter.categories.all", list, RS_FILTER_MAX_CATEGORIES, &f->all,
                           &f->n_all, e);
        } else if (strcmp(key, "none") == 0) {
            rc = parse_ids("filter.categories.none", list, RS_FILTER_MAX_CATEGORIES, &f->none,
                           &f->n_none, e);
        } else {
            return rs_request_fail(e, 400, "invalid_request",
                                   "unknown field \"filter.categories.%.64s\" (expected any, "
                                   "all, none)",
                                   key);
        }
        if (rc != 0) return -1;
    }
    return 0;
}

static int parse_range(const char *name, json_t *v, rs_filter_range *r, rs_request_error *e)
{
    if (!json_is_object(v))
        return rs_request_fail(e, 400, "invalid_request",
                               "range \"%.64s\" must be an object {\"min\", \"max\"}, got %s", name,
                               rs_json_type_name(v));
    r->field.ptr = name;
    r->field.len = strlen(name);
    r->min = -INFINITY;
    r->max = INFINITY;
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x)
    {
        if (json_is_null(x)) continue;
        if (strcmp(key, "min") == 0) {
            if (parse_number("min", x, &r->min, e) != 0) return -1;
        } else if (strcmp(key, "max") == 0) {
            if (parse_number("max", x, &r->max, e) != 0) return -1;
        } else {
            return rs_request_fail(e, 400, "invalid_request",
                                   "unknown field \"%.64s\" in range \"%.64s\" (expected min, max)",
                                   key, name);
        }
    }
    if (r->min > r->max)
        return rs_request_fail(e, 422, "out_of_range", "range \"%.64s\": min %g exceeds max %g",
                               name, r->min, r->max);
    return 0;
}

static int parse_ranges(json_t *v, rs_filter_request *f, rs_request_error *e)
{
    if (!json_is_object(v))
        return rs_request_fail(e, 400, "invalid_request",
                               "\"filter.ranges\" must be an object of field ranges, got %s",
                               rs_json_type_name(v));
    size_t n = json_object_size(v);
    if (n > RS_FILTER_MAX_RANGES)
        return rs_request_fail(e, 422, "out_of_range",
                               "\"filter.ranges\" has %zu fields; at most %d are accepted", n,
                               RS_FILTER_MAX_RANGES);
    rs_error err;
    f->ranges = n ? rs_calloc(n, sizeof(*f->ranges), &err) : NULL;
    if (n && !f->ranges) return rs_request_fail_from(e, &err);
    const char *key;
    json_t *x;
    json_object_foreach(v, key, x)
    {
        if (parse_range(key, x, &f->ranges[f->n_ranges], e) != 0) return -1;
        f->n_ranges++;
    }
    return 0;
}

int rs_filter_parse(json_t *v, const rs_limits *lim, rs_filter_request *f, rs_request_error *e)
{
    memset(f, 0, sizeof(*f));
    if (!json_is_object(v))
        return rs_request_fail(e, 400, "invalid_request", "\"filter\" must be an object, got %s",
                               rs_json_type_name(v));
    f->given = 1;
    const char *key;
    json_t *x;
    int rc = 0;
    json_object_foreach(v, key, x)
    {
        if (json_is_null(x)) continue;
        if (strcmp(key, "categories") == 0) {
            rc = parse_categories(x, f, e);
        } else if (strcmp(key, "ranges") == 0) {
            rc = parse_ranges(x, f, e);
        } else if (strcmp(key, "allow") == 0) {
            rc = parse_ids("filter.allow", x, lim->max_exclude, &f->allow, &f->n_allow, e);
            f->allow_given = 1;
        } else if (strcmp(key, "deny") == 0) {
            rc = parse_ids("filter.deny", x, lim->max_exclude, &f->deny, &f->n_deny, e);
        } else {
            rc = rs_request_fail(e, 400, "invalid_request",
                                 "unknown field \"filter.%.64s\" (expected categories, ranges, "
                                 "allow, deny)",
                                 key);
        }
        if (rc != 0) break;
    }
    if (rc != 0) rs_filter_request_free(f);
    return rc;
}

int rs_filter_parse_text(const char *text, const rs_limits *lim, rs_filter_request *out,
                         rs_request_error *e)
{
    memset(out, 0, sizeof(*out));
    size_t len = strlen(text);
    if (!rs_json_depth_ok(text, len, lim->max_depth))
        return rs_request_fail(e, 400, "bad_json", "filter: JSON nests deeper than %u levels",
                               lim->max_depth);
    if (rs_json_values(text, len) > 2 * (size_t)lim->max_exclude + 2 * RS_FILTER_MAX_CATEGORIES)
        return rs_request_fail(e, 422, "out_of_range", "filter: too many values");
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return rs_request_fail(e, 400, "bad_json", "filter: malformed JSON at column %d: %s",
                               jerr.column, jerr.text);
    if (rs_filter_parse(root, lim, out, e) != 0) {
        json_decref(root);
        return -1;
    }
    out->root = root;
    return 0;
}

void rs_filter_request_free(rs_filter_request *f)
{
    free(f->any);
    free(f->all);
    free(f->none);
    free(f->ranges);
    free(f->allow);
    free(f->deny);
    if (f->root) json_decref(f->root);
    memset(f, 0, sizeof(*f));
}

/* ---- the recommend body ---- */

static int parse_mode(json_t *v, rs_reco_request *r, rs_request_error *e)
{
    if (!json_is_string(v))
        return rs_request_fail(e, 400, "invalid_request", "\"mode\" must be a string, got %s",
                               rs_json_type_name(v));
    const char *m = json_string_value(v);
    if (strcmp(m, "top") == 0)
        r->mode = RS_MODE_TOP;
    else if (strcmp(m, "sample") == 0)
        r->mode = RS_MODE_SAMPLE;
    else
        return rs_request_fail(e, 400, "invalid_request",
                               "\"mode\" is \"%.32s\"; expected \"top\" or \"sample\"", m);
    return 0;
}

/* The fields of this feature set: filter, offset, mode, temperature, seed,
 * explain. 1 when key is none of them. */
static int parse_extra_field(const char *key, json_t *v, const rs_limits *lim, rs_reco_request *r,
                             int *has_temperature, rs_request_error *e)
{
    if (strcmp(key, "filter") == 0) return rs_filter_parse(v, lim, &r->filter, e);
    if (strcmp(key, "mode") == 0) return parse_mode(v, r, e);
    if (strcmp(key, "explain") == 0) {
        if (!json_is_boolean(v))
            return rs_request_fail(e, 400, "invalid_request",
                                   "\"explain\" must be a boolean, got %s", rs_json_type_name(v));
        r->explain = json_is_true(v);
        return 0;
    }
    if (strcmp(key, "offset") == 0 || strcmp(key, "seed") == 0) {
        if (!json_is_integer(v))
            return rs_request_fail(e, 400, "invalid_request", "\"%s\" must be an integer, got %s",
                                   key, rs_json_type_name(v));
        json_int_t x = json_integer_value(v);
        if (x < 0 || (key[0] == 'o' && x > RS_MAX_OFFSET))
            return rs_request_fail(e, 422, "out_of_range", "\"%s\" is %lld; expected 0..%lld", key,
                                   (long long)x,
                                   key[0] == 'o' ? (long long)RS_MAX_OFFSET : (long long)INT64_MAX);
        if (key[0] == 'o')
            r->offset = (uint32_t)x;
        else
            r->seed = (uint64_t)x, r->has_seed = 1;
        return 0;
    }
    if (strcmp(key, "temperature") == 0) {
        double t = 0;
        if (parse_number("temperature", v, &t, e) != 0) return -1;
        if (!(t >= RS_MIN_TEMPERATURE && t <= RS_MAX_TEMPERATURE))
            return rs_request_fail(e, 422, "out_of_range", "\"temperature\" is %g; expected %g..%g",
                                   t, RS_MIN_TEMPERATURE, RS_MAX_TEMPERATURE);
        r->temperature = t;
        *has_temperature = 1;
        return 0;
    }
    return 1;
}

static int parse_fields(json_t *root, const rs_limits *lim, rs_reco_request *r, rs_request_error *e)
{
    int has_temperature = 0, rc;
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
        } else if ((rc = parse_extra_field(key, v, lim, r, &has_temperature, e)) != 1) {
            if (rc != 0) return -1;
        } else {
            /* Strict: a misspelt field ("num", "histroy") must not be ignored. */
            return rs_request_fail(
                e, 400, "invalid_request",
                "unknown field \"%.64s\" (expected user, history, n, exclude, filter_history, "
                "variant, session, filter, offset, mode, temperature, seed, explain)",
                key);
        }
    }
    if (!r->has_user && !r->has_history)
        return rs_request_fail(e, 400, "invalid_request",
                               "give \"user\" (a known user id) or \"history\" (item ids)");
    if (r->mode != RS_MODE_SAMPLE && (has_temperature || r->has_seed))
        return rs_request_fail(e, 400, "invalid_request",
                               "\"temperature\" and \"seed\" need \"mode\": \"sample\"");
    if (r->mode == RS_MODE_SAMPLE && r->offset)
        return rs_request_fail(e, 400, "invalid_request",
                               "\"offset\" pages a ranking; a sample has no pages");
    if ((uint64_t)r->offset + r->n > RS_MAX_OFFSET + (uint64_t)lim->max_n)
        return rs_request_fail(e, 422, "out_of_range", "offset + n exceeds %llu",
                               (unsigned long long)RS_MAX_OFFSET + lim->max_n);
    return 0;
}

/* Most values a body may hold: the lists (history, exclude, a filter's
 * allow and deny) at their limits, the filter's categories, the rest. */
static size_t body_values(const rs_limits *lim)
{
    return (size_t)lim->max_history + 3 * (size_t)lim->max_exclude + 3 * RS_FILTER_MAX_CATEGORIES +
           4 * RS_FILTER_MAX_RANGES + 64;
}

static void reco_defaults(rs_reco_request *r, const rs_limits *lim)
{
    r->n = RS_DEFAULT_N < lim->max_n ? RS_DEFAULT_N : lim->max_n;
    r->filter_history = 1;
    r->temperature = 1.0;
}

/* The checks and the parse every body gets; a JSON object in *root. */
static int parse_body(const char *body, size_t len, const rs_limits *lim, json_t **root,
                      rs_request_error *e)
{
    *root = NULL;
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
    if (values > body_values(lim))
        return rs_request_fail(e, 422, "out_of_range",
                               "the body holds about %zu values; history and exclude take at "
                               "most %u and %u ids",
                               values, lim->max_history, lim->max_exclude);
    json_error_t jerr;
    /* jansson rejects invalid UTF-8 and \u0000 by default; duplicate keys
     * are ambiguous, so refuse them too. Any value parses, so that a body
     * that is JSON but not an object is told so. */
    json_t *doc = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!doc && json_error_code(&jerr) == json_error_numeric_overflow)
        return rs_request_fail(e, 422, "out_of_range",
                               "a number at line %d column %d is out of range: %s", jerr.line,
                               jerr.column, jerr.text);
    if (!doc)
        return rs_request_fail(e, 400, "bad_json", "malformed JSON at line %d column %d: %s",
                               jerr.line, jerr.column, jerr.text);
    if (!json_is_object(doc)) {
        rs_request_fail(e, 400, "invalid_request", "the body must be a JSON object, got %s",
                        rs_json_type_name(doc));
        json_decref(doc);
        return -1;
    }
    *root = doc;
    return 0;
}

int rs_reco_request_parse(const char *body, size_t len, const rs_limits *lim, rs_reco_request *out,
                          rs_request_error *e)
{
    memset(out, 0, sizeof(*out));
    reco_defaults(out, lim);
    json_t *root;
    if (parse_body(body, len, lim, &root, e) != 0) return -1;
    out->root = root;
    if (stringify_ids(root, e) != 0 || parse_fields(root, lim, out, e) != 0) {
        rs_reco_request_free(out);
        return -1;
    }
    return 0;
}

int rs_reco_batch_parse(const char *body, size_t len, const rs_limits *lim, rs_reco_request **out,
                        uint32_t *n, json_t **root, rs_request_error *e)
{
    *out = NULL;
    *n = 0;
    if (parse_body(body, len, lim, root, e) != 0) return -1;
    json_t *queries = json_object_get(*root, "queries");
    const char *key;
    json_t *v;
    json_object_foreach(*root, key, v) if (strcmp(key, "queries") != 0)
    {
        rs_request_fail(e, 400, "invalid_request", "unknown field \"%.64s\" (expected queries)",
                        key);
        goto fail;
    }
    if (!json_is_array(queries)) {
        rs_request_fail(e, 400, "invalid_request",
                        "\"queries\" must be an array of recommend bodies, got %s",
                        queries ? rs_json_type_name(queries) : "nothing");
        goto fail;
    }
    size_t count = json_array_size(queries);
    if (count < 1 || count > lim->max_batch) {
        rs_request_fail(e, 422, "out_of_range", "\"queries\" has %zu queries; expected 1..%u",
                        count, lim->max_batch);
        goto fail;
    }
    rs_error err;
    rs_reco_request *reqs = rs_calloc(count, sizeof(*reqs), &err);
    if (!reqs) {
        rs_request_fail_from(e, &err);
        goto fail;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *q = json_array_get(queries, i);
        reco_defaults(&reqs[i], lim);
        int rc = json_is_object(q)
                     ? (stringify_ids(q, e) != 0 ? -1 : parse_fields(q, lim, &reqs[i], e))
                     : rs_request_fail(e, 400, "invalid_request", "must be a JSON object, got %s",
                                       rs_json_type_name(q));
        if (rc != 0) {
            char msg[RS_ERROR_MAX];
            memcpy(msg, e->message, sizeof(msg));
            snprintf(e->message, sizeof(e->message), "queries[%zu]: %.480s", i, msg);
            rs_reco_batch_request_free(reqs, (uint32_t)i + 1, *root);
            *root = NULL;
            return -1;
        }
    }
    *out = reqs;
    *n = (uint32_t)count;
    return 0;
fail:
    json_decref(*root);
    *root = NULL;
    return -1;
}

void rs_reco_batch_request_free(rs_reco_request *reqs, uint32_t n, json_t *root)
{
    for (uint32_t i = 0; reqs && i < n; i++) rs_reco_request_free(&reqs[i]);
    free(reqs);
    if (root) json_decref(root);
}

void rs_reco_request_free(rs_reco_request *r)
{
    free(r->history);
    free(r->exclude);
    rs_filter_request_free(&r->filter);
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
