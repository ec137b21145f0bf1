/* events_parse.c - event types and POST /v1/events bodies (see
 * events_parse.h). */
#include "events_parse.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "experiment.h" /* rs_parse_rfc3339 */
#include "http.h"       /* rs_request_id_valid */
#include "request.h"    /* rs_json_depth_ok, rs_json_type_name */

/* ---- the rules ---- */

int rs_event_type_index(const rs_event_rules *ev, const char *name, size_t len)
{
    for (int t = 0; t < ev->n_types; t++)
        if (strlen(ev->types[t]) == len && memcmp(ev->types[t], name, len) == 0) return t;
    return -1;
}

/* Splits a comma-separated list of type names: into the table (add) or,
 * for the positive list, into the mask (each must be a type). */
static int parse_types(rs_event_rules *ev, const char *list, int add, rs_error *err)
{
    const char *what = add ? "--event-types" : "--positive-types";
    for (const char *p = list; *p;) {
        size_t len = strcspn(p, ",");
        if (len == 0 || len > RS_EVENT_TYPE_MAX)
            return rs_fail(err, "%s %s: each type is 1 to %d characters", what, list,
                           RS_EVENT_TYPE_MAX);
        for (size_t i = 0; i < len; i++)
            if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '_'))
                return rs_fail(err, "%s %s: types are made of a-z, 0-9 and _", what, list);
        int t = rs_event_type_index(ev, p, len);
        if (add) {
            if (t >= 0) return rs_fail(err, "%s %s: type %.*s twice", what, list, (int)len, p);
            if (ev->n_types == RS_EVENT_TYPES_MAX)
                return rs_fail(err, "%s %s: at most %d types", what, list, RS_EVENT_TYPES_MAX);
            memcpy(ev->types[ev->n_types], p, len);
            ev->types[ev->n_types][len] = '\0';
            ev->type_names[ev->n_types] = ev->types[ev->n_types];
            ev->n_types++;
        } else {
            if (t < 0)
                return rs_fail(err, "%s: %.*s is not one of --event-types %s", what, (int)len, p,
                               ev->types_text);
            ev->positive |= 1u << t;
        }
        p += len;
        if (*p == ',') p++;
    }
    if (add && !ev->n_types) return rs_fail(err, "%s: no event type", what);
    return 0;
}

int rs_event_rules_init(rs_event_rules *r, const char *types, const char *positive,
                        uint32_t max_batch, rs_error *err)
{
    memset(r, 0, sizeof(*r));
    r->max_batch = max_batch;
    if (parse_types(r, types ? types : "", 1, err) != 0) return -1;
    size_t at = 0;
    for (int t = 0; t < r->n_types; t++)
        at += (size_t)snprintf(r->types_text + at, sizeof(r->types_text) - at, "%s%s", t ? "," : "",
                               r->types[t]);
    return parse_types(r, positive ? positive : "", 0, err);
}

/* The bad events of one POST, for the 422. */
typedef struct problems {
    json_t *list; /* [{"index", "message"}] */
    size_t count;
    char first[RS_ERROR_MAX + 32];
} problems;

static void problem(problems *p, size_t index, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(problems *p, size_t index, const char *fmt, ...)
{
    char msg[RS_ERROR_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (p->count++ == 0) snprintf(p->first, sizeof(p->first), "events[%zu]: %s", index, msg);
    if (p->count > RS_EVENT_ERRORS_LISTED) return;
    json_t *m = json_string(msg);
    if (!m) m = json_string("(the message is not valid UTF-8)");
    json_array_append_new(p->list,
                          json_pack("{s:I,s:o}", "index", (json_int_t)index, "message", m));
}

/* A string member that must be an id: NULL when absent, else checked. */
static int id_member(json_t *o, const char *name, size_t max, const char **s, size_t *len,
                     problems *p, size_t index)
{
    json_t *v = json_object_get(o, name);
    *s = NULL;
    *len = 0;
    if (!v) return 0;
    if (!json_is_string(v)) {
        problem(p, index, "\"%s\" must be a string, not %s", name, rs_json_type_name(v));
        return -1;
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    if (*len == 0 || *len > max || memchr(*s, '\0', *len)) {
        problem(p, index, "\"%s\" must be 1 to %zu bytes without NUL", name, max);
        return -1;
    }
    return 0;
}

/* Validates events[index] into e (views into the document). */
static int parse_event(const rs_event_rules *ev, json_t *o, size_t index, double now, rs_event *e,
                       problems *p)
{
    memset(e, 0, sizeof(*e));
    if (!json_is_object(o)) {
        problem(p, index, "an event must be an object, not %s", rs_json_type_name(o));
        return -1;
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        static const char *const known[] = {"user",  "session",   "item",      "type",
                                            "value", "timestamp", "request_id"};
        int found = 0;
        for (size_t k = 0; k < sizeof(known) / sizeof(known[0]); k++)
            found |= !strcmp(key, known[k]);
        if (!found) {
            problem(p, index, "unknown field \"%.64s\"", key);
            return -1;
        }
    }
    const char *user, *session, *type;
    size_t user_len, session_len;
    if (id_member(o, "user", RS_EVENT_ID_MAX, &user, &user_len, p, index) != 0 ||
        id_member(o, "session", RS_EVENT_ID_MAX, &session, &session_len, p, index) != 0 ||
        id_member(o, "item", RS_EVENT_ID_MAX, &e->item, &e->item_len, p, index) != 0 ||
        id_member(o, "type", RS_EVENT_TYPE_MAX, &type, &e->type_len, p, index) != 0 ||
        id_member(o, "request_id", RS_EVENT_RID_MAX, &e->request_id, &e->request_id_len, p,
                  index) != 0)
        return -1;
    if (!user == !session) {
        problem(p, index, "give exactly one of \"user\" and \"session\"");
        return -1;
    }
    e->session = session != NULL;
    e->key = user ? user : session;
    e->key_len = user ? user_len : session_len;
    if (!e->item) {
        problem(p, index, "\"item\" is required");
        return -1;
    }
    if (!type || rs_event_type_index(ev, type, e->type_len) < 0) {
        problem(p, index, "\"type\" must be one of %s", ev->types_text);
        return -1;
    }
    e->type = type;
    if (e->request_id && !rs_request_id_valid(e->request_id, e->request_id_len)) {
        problem(p, index, "\"request_id\" must be 1 to %d characters of [A-Za-z0-9._:-]",
                RS_REQUEST_ID_MAX);
        return -1;
    }
    if ((v = json_object_get(o, "value"))) {
        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            problem(p, index, "\"value\" must be a finite number");
            return -1;
        }
        e->has_value = 1;
        e->value = json_number_value(v);
    }
    e->timestamp = now;
    if ((v = json_object_get(o, "timestamp"))) {
        double t = 0;
        if (json_is_number(v))
            t = json_number_value(v);
        else if (!json_is_string(v) || rs_parse_rfc3339(json_string_value(v), &t) != 0)
            t = NAN;
        if (!isfinite(t) || t <= 0 || t > now + RS_EVENT_FUTURE_SLACK) {
            problem(p, index,
                    "\"timestamp\" must be Unix seconds or an RFC 3339 time, after 1970 and "
                    "at most a day ahead");
            return -1;
        }
        e->timestamp = t;
    }
    return 0;
}

/* An error body; NULL when out of memory (the caller answers 503). */
static json_t *error_body(const char *code, const char *message, json_t *errors)
{
    json_t *msg = json_string(message);
    if (!msg) msg = json_string("(the message is not valid UTF-8)");
    json_t *body = json_pack("{s:{s:s,s:o}}", "error", "code", code, "message", msg);
    if (body && errors) json_object_set(json_object_get(body, "error"), "errors", errors);
    return body;
}

static int refuse(int *status, json_t **error, int code_status, const char *code,
                  const char *message)
{
    *status = code_status;
    *error = error_body(code, message, NULL);
    return -1;
}

int rs_event_batch_parse(const rs_event_rules *r, const char *body, size_t len, double now,
                         rs_event_batch *out, int *status, json_t **error)
{
    memset(out, 0, sizeof(*out));
    *error = NULL;
    json_error_t jerr;
    char msg[RS_ERROR_MAX + 64];
    if (!body || !len) return refuse(status, error, 400, "bad_json", "the body is empty");
    if (!rs_json_depth_ok(body, len, 8))
        return refuse(status, error, 400, "bad_json", "the body nests deeper than 8 levels");
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf(msg, sizeof(msg), "the body is not JSON: %s (at %d:%d)", jerr.text, jerr.line,
                 jerr.column);
        return refuse(status, error, 400, "bad_json", msg);
    }
    json_t *list = json_object_get(root, "events");
    if (!json_is_object(root) || json_object_size(root) != 1 || !json_is_array(list)) {
        json_decref(root);
        return refuse(status, error, 400, "invalid_request",
                      "send a JSON object {\"events\": [EVENT, ...]} and nothing else");
    }
    size_t n = json_array_size(list);
    if (n == 0 || n > r->max_batch) {
        json_decref(root);
        snprintf(msg, sizeof(msg), "a batch holds 1 to %u events, not %zu", r->max_batch, n);
        return refuse(status, error, 422, "out_of_range", msg);
    }
    rs_event *events = malloc(n * sizeof(*events));
    problems p = {.list = json_array()};
    if (!events || !p.list) {
        free(events);
        json_decref(p.list);
        json_decref(root);
        return refuse(status, error, 503, "out_of_memory", "out of memory reading the events");
    }
    for (size_t i = 0; i < n; i++) parse_event(r, json_array_get(list, i), i, now, &events[i], &p);
    if (p.count) {
        snprintf(msg, sizeof(msg), "%s%s", p.first, p.count > 1 ? " (and more: see errors)" : "");
        *status = 422;
        *error = error_body("invalid_event", msg, p.list);
        json_decref(p.list);
        free(events);
        json_decref(root);
        return -1;
    }
    json_decref(p.list);
    *out = (rs_event_batch){root, events, n};
    return 0;
}

void rs_event_batch_free(rs_event_batch *b)
{
    free(b->events);
    json_decref(b->root);
    memset(b, 0, sizeof(*b));
}
