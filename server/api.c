/* api.c - REST API v1 handlers (see api.h and proto/openapi.yaml). */
#include "api.h"

#include <math.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dashboard.h"
#include "events.h"
#include "jsonbuf.h"
#include "ops.h"
#include "process.h"
#include "recommend.h"

struct rs_api {
    rs_registry *reg;
    rs_stats *stats;
    rs_limits limits;
    _Atomic(rs_http_server *) srv;
    double started;    /* Unix time */
    rs_ops *ops;       /* experiments, reload, admin (NULL: none) */
    rs_events *events; /* feedback events, fresh histories, outcomes (NULL: off) */
};

/* ---- helpers ---- */

/* Ids come from data files and are usually UTF-8; JSON needs valid UTF-8,
 * so anything else is sent with its invalid bytes replaced by '?'. */
static json_t *id_json(const char *s, size_t len)
{
    json_t *j = json_stringn(s, len);
    if (j) return j;
    char *copy = malloc(len + 1);
    if (!copy) return NULL;
    for (size_t i = 0; i < len; i++) copy[i] = (s[i] & 0x80) || s[i] == 0 ? '?' : s[i];
    j = json_stringn(copy, len);
    free(copy);
    return j;
}

/* A failure answered by its kind (request.c's table). */
static void answer_failure(rs_response *resp, const rs_error *err)
{
    const char *code;
    int status = rs_error_http_status(err->kind, &code);
    rs_response_error(resp, status, code, "%s", err->msg);
}

/* Resolves the variant to a referenced loaded version, or answers 404/503
 * and returns NULL. With no name, the experiments choose by key (a user id
 * or session key; NULL: none), else the default variant answers; choice
 * (may be NULL) says how. */
/* acquire_for's choice without answering: on failure fills e. */
static rs_loaded *acquire_quiet(rs_api *api, const char *name, size_t len, const char *key,
                                size_t key_len, rs_ops_choice *choice, rs_request_error *e)
{
    rs_ops_choice none;
    if (!choice) choice = &none;
    memset(choice, 0, sizeof(*choice));
    rs_loaded *l = name || !api->ops ? rs_registry_acquire(api->reg, name, len)
                                     : rs_ops_acquire(api->ops, key, key_len, choice);
    rs_error err;
    if (l && rs_loaded_check(l, &err) != 0) {
        rs_loaded_release(l);
        rs_request_fail(e, 503, "store_damaged", "%s", err.msg);
        return NULL;
    }
    if (l) return l;
    if (name)
        rs_request_fail(e, 404, "unknown_variant", "no loaded variant is named \"%.*s\"",
                        (int)(len > 64 ? 64 : len), name);
    else
        rs_request_fail(e, 503, "not_ready", "no model is loaded yet");
    return NULL;
}

static rs_loaded *acquire_for(rs_api *api, const char *name, size_t len, const char *key,
                              size_t key_len, rs_ops_choice *choice, rs_response *resp)
{
    rs_request_error e;
    rs_loaded *l = acquire_quiet(api, name, len, key, key_len, choice, &e);
    if (!l) rs_response_error(resp, e.status, e.code, "%s", e.message);
    return l;
}

/* A query parameter (NULL when absent), or an answered failure: 400 for a
 * malformed encoding. */
static int query(rs_request *req, const char *key, const char **value, rs_response *resp)
{
    rs_error err;
    if (rs_request_query(req, key, value, &err) == 0 || err.kind == RS_ERR_NOT_FOUND) return 0;
    answer_failure(resp, &err);
    return -1;
}

/* ---- recommendations ---- */

/* The ids the model did not know, as a JSON array (NULL: none, or out of
 * memory - then the writer fails too). */
static json_t *unknown_json(const rs_reco_query *q, const rs_reco_result *res)
{
    if (res->n_unknown == 0) return NULL;
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < res->n_unknown; i++) {
        const rs_id *id = &q->history[res->unknown[i]];
        json_array_append_new(a, id_json(id->ptr, id->len));
    }
    return a;
}

/* An item's "reasons": [{"id", "weight"}] (recommend.h). */
static void write_reasons(rs_jsonbuf *b, const rs_model *model, const rs_scored *r)
{
    rs_jsonbuf_lit(b, ",\"reasons\":[");
    for (uint32_t k = 0; k < RS_EXPLAIN_REASONS && r[k].id != UINT32_MAX; k++) {
        size_t len;
        const char *id = rs_model_item_id(model, r[k].id, &len);
        if (k) rs_jsonbuf_lit(b, ",");
        rs_jsonbuf_lit(b, "{\"id\":");
        rs_jsonbuf_string(b, id, len);
        rs_jsonbuf_lit(b, ",\"weight\":");
        rs_jsonbuf_float(b, r[k].score);
        rs_jsonbuf_lit(b, "}");
    }
    rs_jsonbuf_lit(b, "]");
}

/* "sampled": null, or how a sample-mode answer was drawn: {"temperature",
 * "seed", "method", "proposals", "fallback"}. */
static void write_sampled(rs_jsonbuf *b, const rs_reco_query *q, const rs_reco_result *res)
{
    if (!res->sampled) {
        rs_jsonbuf_lit(b, ",\"sampled\":null");
        return;
    }
    rs_jsonbuf_lit(b, ",\"sampled\":{\"temperature\":");
    json_t *t = json_real(q->temperature);
    if (!t) b->failed = 1;
    rs_jsonbuf_json(b, t);
    json_decref(t);
    rs_jsonbuf_lit(b, ",\"seed\":");
    rs_jsonbuf_uint(b, q->seed);
    rs_jsonbuf_lit(b, ",\"method\":");
    rs_jsonbuf_string(b, res->sample.method, strlen(res->sample.method));
    rs_jsonbuf_lit(b, ",\"proposals\":");
    rs_jsonbuf_uint(b, res->sample.proposals);
    if (res->sample.fallback)
        rs_jsonbuf_lit(b, ",\"fallback\":true}");
    else
        rs_jsonbuf_lit(b, ",\"fallback\":false}");
}

/* "filter": null, or what a given filter left: {"allowed", "exhausted"}. */
static void write_filter(rs_jsonbuf *b, int filtered, uint32_t allowed, int exhausted)
{
    if (!filtered) {
        rs_jsonbuf_lit(b, ",\"filter\":null");
        return;
    }
    rs_jsonbuf_lit(b, ",\"filter\":{\"allowed\":");
    rs_jsonbuf_uint(b, allowed);
    if (exhausted)
        rs_jsonbuf_lit(b, ",\"exhausted\":true}");
    else
        rs_jsonbuf_lit(b, ",\"exhausted\":false}");
}

/* The recommendation answer, written directly (see jsonbuf.h for why):
 * {"variant", "version", "model", "fallback", "items": [{"id", "score"}],
 *  "unknown_items", "history_used", "retrieval", "user"?, "experiment",
 *  "request_id"}.
 * Returns malloc'd text ending in a newline, or NULL when out of memory. */
static char *answer_text(const rs_loaded *l, const rs_reco_query *q, const rs_reco_result *res,
                         const rs_ops_choice *choice, const rs_request *req, size_t *len)
{
    const rs_model *model = l->model;
    const char *family = rs_model_family(model), *method = rs_loaded_method(l);
    int fallback = res->fallback != RS_FALLBACK_NONE;
    rs_jsonbuf b;
    rs_jsonbuf_init(&b, 256 + 48 * (size_t)res->n_items);
    rs_jsonbuf_lit(&b, "{\"variant\":");
    rs_jsonbuf_string(&b, l->variant, strlen(l->variant));
    rs_jsonbuf_lit(&b, ",\"version\":");
    rs_jsonbuf_uint(&b, l->version);
    rs_jsonbuf_lit(&b, ",\"model\":");
    rs_jsonbuf_string(&b, family, strlen(family));
    if (fallback)
        rs_jsonbuf_lit(&b, ",\"fallback\":\"popularity\",\"items\":[");
    else
        rs_jsonbuf_lit(&b, ",\"fallback\":null,\"items\":[");
    for (uint32_t i = 0; i < res->n_items; i++) {
        size_t id_len;
        const char *id = rs_model_item_id(model, res->items[i].id, &id_len);
        if (i) rs_jsonbuf_lit(&b, ",");
        rs_jsonbuf_lit(&b, "{\"id\":");
        rs_jsonbuf_string(&b, id, id_len);
        rs_jsonbuf_lit(&b, ",\"score\":");
        rs_jsonbuf_float(&b, res->items[i].score);
        if (res->reasons) write_reasons(&b, model, res->reasons + (size_t)i * RS_EXPLAIN_REASONS);
        rs_jsonbuf_lit(&b, "}");
    }
    rs_jsonbuf_lit(&b, "],\"unknown_items\":");
    if (res->n_unknown) {
        json_t *unknown = unknown_json(q, res);
        if (!unknown) b.failed = 1;
        rs_jsonbuf_json(&b, unknown);
        json_decref(unknown);
    } else {
        rs_jsonbuf_lit(&b, "[]");
    }
    rs_jsonbuf_lit(&b, ",\"history_used\":");
    rs_jsonbuf_uint(&b, res->history_used);
    if (fallback) {
        rs_jsonbuf_lit(&b, ",\"retrieval\":null");
    } else {
        rs_jsonbuf_lit(&b, ",\"retrieval\":{\"method\":");
        rs_jsonbuf_string(&b, method, strlen(method));
        if (res->retrieval.exact)
            rs_jsonbuf_lit(&b, ",\"exact\":true,\"scored\":");
        else
            rs_jsonbuf_lit(&b, ",\"exact\":false,\"scored\":");
        rs_jsonbuf_uint(&b, res->retrieval.scored);
        if (rs_model_itemitem(model)) {
            rs_jsonbuf_lit(&b, ",\"filled\":");
            rs_jsonbuf_uint(&b, res->filled);
        }
        rs_jsonbuf_lit(&b, "}");
    }
    rs_jsonbuf_lit(&b, ",\"offset\":");
    rs_jsonbuf_uint(&b, q->offset);
    write_sampled(&b, q, res);
    if (!q->explain) {
        rs_jsonbuf_lit(&b, ",\"explain\":null");
    } else {
        const char *m = res->reason_method ? res->reason_method : "none";
        rs_jsonbuf_lit(&b, ",\"explain\":{\"method\":");
        rs_jsonbuf_string(&b, m, strlen(m));
        if (strcmp(m, "row_weight") == 0 || strcmp(m, "none") == 0)
            rs_jsonbuf_lit(&b, ",\"heuristic\":false}");
        else
            rs_jsonbuf_lit(&b, ",\"heuristic\":true}");
    }
    write_filter(&b, res->filtered, res->allowed, res->exhausted);
    if (q->user) {
        rs_jsonbuf_lit(&b, ",\"user\":");
        rs_jsonbuf_string(&b, q->user->ptr, q->user->len);
    }
    rs_jsonbuf_lit(&b, ",\"experiment\":");
    json_t *experiment = rs_ops_choice_json(choice);
    rs_jsonbuf_json(&b, experiment);
    json_decref(experiment);
    rs_jsonbuf_lit(&b, ",\"request_id\":");
    rs_jsonbuf_string(&b, req->request_id, req->request_id_len);
    rs_jsonbuf_lit(&b, "}\n");
    return rs_jsonbuf_take(&b, len);
}

/* Ranks q on version l and answers; the answer is an impression of the
 * A/B key (NULL: none). */
static void recommend(rs_api *api, rs_loaded *l, rs_reco_query *q, const rs_ops_choice *choice,
                      const rs_id *key, rs_request *req, rs_response *resp)
{
    q->model = l->model;
    q->retriever = l->retriever;
    q->catalog = l->has_catalog ? &l->catalog : NULL;
    q->sim = &l->sim;
    rs_reco_result res;
    rs_error err;
    if (rs_recommend(q, &res, &err) != 0) {
        rs_error_prefix(&err, "ranking failed (variant %s version %llu)", l->variant,
                        (unsigned long long)l->version);
        answer_failure(resp, &err);
        return;
    }
    int fallback = res.fallback != RS_FALLBACK_NONE;
    rs_stats_retrieval(api->stats, l->slot, fallback ? 0 : res.retrieval.scored, fallback,
                       res.n_unknown);
    rs_events_served(api->events, req, choice, l, &res, key ? key->ptr : NULL, key ? key->len : 0);
    size_t len;
    char *text = answer_text(l, q, &res, choice, req, &len);
    if (!text) {
        rs_fail_kind(&err, RS_ERR_NO_MEMORY, "out of memory writing the answer");
        answer_failure(resp, &err);
        return;
    }
    rs_response_variant(resp, l->slot, l->variant, l->version);
    rs_response_text(resp, 200, "application/json", text, len);
}

/* A seed for a sample request that gave none: distinct per call (a
 * process-wide counter through splitmix64, started from the clock). */
static uint64_t fresh_seed(void)
{
    static _Atomic uint64_t counter;
    uint64_t c = atomic_fetch_add(&counter, 1);
    if (c == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t start = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
        atomic_fetch_add(&counter, start);
        c = start;
    }
    uint64_t z = c + 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (z ^ (z >> 31)) & INT64_MAX; /* JSON clients read it back as an integer */
}

/* The ranking question of a parsed body (model and retriever set later). */
static rs_reco_query query_of(const rs_reco_request *r)
{
    return (rs_reco_query){.user = r->has_user ? &r->user : NULL,
                           .has_history = r->has_history,
                           .history = r->history,
                           .n_history = r->n_history,
                           .exclude = r->exclude,
                           .n_exclude = r->n_exclude,
                           .n = r->n,
                           .filter_history = r->filter_history,
                           .filter = &r->filter,
                           .offset = r->offset,
                           .sample = r->mode == RS_MODE_SAMPLE,
                           .temperature = r->temperature,
                           .seed = r->has_seed ? r->seed : fresh_seed(),
                           .explain = r->explain};
}

/* The variant a body names, or its A/B key's. */
static rs_loaded *acquire_body(rs_api *api, const rs_reco_request *r, rs_ops_choice *choice,
                               rs_request_error *e)
{
    const rs_id *key = r->has_user ? &r->user : r->has_session ? &r->session : NULL;
    return acquire_quiet(api, r->has_variant ? r->variant.ptr : NULL, r->variant.len,
                         key ? key->ptr : NULL, key ? key->len : 0, choice, e);
}

static void h_recommend(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    rs_reco_request r;
    rs_request_error e;
    if (rs_reco_request_parse(req->body, req->body_len, &api->limits, &r, &e) != 0) {
        rs_response_error(resp, e.status, e.code, "%s", e.message);
        return;
    }
    /* The A/B key: the user id, else the anonymous session key. */
    rs_ops_choice choice;
    rs_loaded *l = acquire_body(api, &r, &choice, &e);
    if (!l) rs_response_error(resp, e.status, e.code, "%s", e.message);
    if (l) {
        rs_reco_query q = query_of(&r);
        const rs_id *key = r.has_user ? &r.user : r.has_session ? &r.session : NULL;
        rs_error err;
        /* A known user without a history: theirs, with their fresh events. */
        if (r.has_user && !r.has_history &&
            rs_events_fresh_history(api->events, l, r.user.ptr, r.user.len, &q, &err) < 0)
            answer_failure(resp, &err);
        else
            recommend(api, l, &q, &choice, key, req, resp);
        rs_loaded_release(l);
    }
    rs_reco_request_free(&r);
}

/* ---- batches ---- */

/* One batch answer that is an error: the single request's error body with
 * its status. */
static char *error_text(int status, const char *code, const char *message, size_t *len)
{
    json_t *j =
        json_pack("{s:{s:s,s:s},s:i}", "error", "code", code, "message", message, "status", status);
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    *len = text ? strlen(text) : 0;
    return text;
}

typedef struct batch_slot {
    rs_loaded *l;
    rs_ops_choice choice;
    rs_reco_query q;
    char *text;
    size_t len;
} batch_slot;

/* Ranks the queries served by slots[first].l together, writes their answers.
 * They share the request's id; a batch is not recorded as impressions
 * (events attribute to one answer per request id) and uses the stored
 * histories, not fresh ones. */
static int batch_group(rs_api *api, const rs_request *req, batch_slot *slots, uint32_t n,
                       uint32_t first, uint8_t *done)
{
    rs_loaded *l = slots[first].l;
    uint32_t m = 0;
    uint32_t *which = malloc(sizeof(uint32_t) * n);
    rs_reco_query *qs = malloc(sizeof(*qs) * n);
    rs_reco_result *res = malloc(sizeof(*res) * n);
    int *failed = malloc(sizeof(int) * n);
    rs_error *errors = malloc(sizeof(rs_error) * n);
    rs_reco_batch *batch = NULL;
    rs_error err;
    int rc = which && qs && res && failed && errors ? 0 : -1;
    for (uint32_t i = first; rc == 0 && i < n; i++) {
        if (done[i] || slots[i].l != l) continue;
        done[i] = 1;
        which[m] = i;
        qs[m] = slots[i].q;
        qs[m].model = l->model;
        qs[m].retriever = l->retriever;
        qs[m].catalog = l->has_catalog ? &l->catalog : NULL;
        qs[m].sim = &l->sim;
        slots[i].q = qs[m++];
    }
    if (rc == 0) rc = rs_recommend_batch(qs, m, res, failed, errors, &batch, &err);
    for (uint32_t k = 0; rc == 0 && k < m; k++) {
        batch_slot *b = &slots[which[k]];
        if (failed[k]) {
            const char *code;
            int status = rs_error_http_status(errors[k].kind, &code);
            b->text = error_text(status, code, errors[k].msg, &b->len);
        } else {
            int fallback = res[k].fallback != RS_FALLBACK_NONE;
            rs_stats_retrieval(api->stats, l->slot, fallback ? 0 : res[k].retrieval.scored,
                               fallback, res[k].n_unknown);
            b->text = answer_text(l, &b->q, &res[k], &b->choice, req, &b->len);
        }
        if (!b->text) rc = -1;
    }
    rs_reco_batch_free(batch);
    free(which), free(qs), free(res), free(failed), free(errors);
    return rc;
}

static void h_recommend_batch(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    rs_reco_request *reqs;
    uint32_t n;
    json_t *root;
    rs_request_error e;
    if (rs_reco_batch_parse(req->body, req->body_len, &api->limits, &reqs, &n, &root, &e) != 0) {
        rs_response_error(resp, e.status, e.code, "%s", e.message);
        return;
    }
    batch_slot *slots = calloc(n, sizeof(*slots));
    uint8_t *done = calloc(n, 1);
    int rc = slots && done ? 0 : -1;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        slots[i].q = query_of(&reqs[i]);
        slots[i].l = acquire_body(api, &reqs[i], &slots[i].choice, &e);
        if (!slots[i].l) {
            done[i] = 1;
            if (!(slots[i].text = error_text(e.status, e.code, e.message, &slots[i].len))) rc = -1;
        }
    }
    for (uint32_t i = 0; rc == 0 && i < n; i++)
        if (!done[i]) rc = batch_group(api, req, slots, n, i, done);
    rs_jsonbuf b;
    rs_jsonbuf_init(&b, 64);
    rs_jsonbuf_lit(&b, "{\"answers\":[");
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        if (i) rs_jsonbuf_lit(&b, ",");
        size_t len = slots[i].len;
        while (len && slots[i].text[len - 1] == '\n') len--; /* each single answer ends a line */
        rs_jsonbuf_raw(&b, slots[i].text, len);
    }
    rs_jsonbuf_lit(&b, "]}\n");
    size_t len;
    char *text = rs_jsonbuf_take(&b, &len);
    for (uint32_t i = 0; slots && i < n; i++) {
        free(slots[i].text);
        rs_loaded_release(slots[i].l);
    }
    free(slots);
    free(done);
    rs_reco_batch_request_free(reqs, n, root);
    if (rc != 0 || !text) {
        free(text);
        rs_response_error(resp, 503, "out_of_memory", "out of memory answering the batch");
        return;
    }
    rs_response_text(resp, 200, "application/json", text, len);
}

static void h_user_recs(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    const char *n_text, *variant, *filter;
    if (query(req, "n", &n_text, resp) || query(req, "variant", &variant, resp) ||
        query(req, "filter_history", &filter, resp))
        return;
    rs_request_error e;
    rs_reco_query q = {0};
    if (rs_parse_n_param(n_text, &api->limits, &q.n, &e) != 0 ||
        rs_parse_bool_param("filter_history", filter, 1, &q.filter_history, &e) != 0) {
        rs_response_error(resp, e.status, e.code, "%s", e.message);
        return;
    }
    rs_id user = {req->param[0], req->param_len[0]};
    q.user = &user;
    rs_ops_choice choice;
    rs_loaded *l =
        acquire_for(api, variant, variant ? strlen(variant) : 0, user.ptr, user.len, &choice, resp);
    if (!l) return;
    /* The user's (or an anonymous session's) events since the model. */
    rs_error err;
    if (rs_events_fresh_history(api->events, l, user.ptr, user.len, &q, &err) < 0)
        answer_failure(resp, &err);
    else
        recommend(api, l, &q, &choice, &user, req, resp);
    rs_loaded_release(l);
}

/* ---- similar items ---- */

/* Query parameter "offset": absent 0, else an integer 0..RS_MAX_OFFSET. */
static int parse_offset_param(const char *value, uint32_t *offset, rs_request_error *e)
{
    *offset = 0;
    if (!value) return 0;
    if (!*value || strspn(value, "0123456789") != strlen(value))
        return rs_request_fail(e, 400, "invalid_request",
                               "query parameter offset must be an integer, got \"%.32s\"", value);
    if (strlen(value) > 6 || atol(value) > RS_MAX_OFFSET)
        return rs_request_fail(e, 422, "out_of_range", "offset is %.32s; expected 0..%d", value,
                               RS_MAX_OFFSET);
    *offset = (uint32_t)atol(value);
    return 0;
}

static json_t *similar_json(const rs_loaded *l, const rs_similar_result *res, uint32_t offset)
{
    const rs_model *model = l->model;
    json_t *items = json_array();
    for (uint32_t i = 0; i < res->n_items; i++) {
        size_t len;
        const char *id = rs_model_item_id(model, res->items[i].id, &len);
        json_array_append_new(items, json_pack("{s:o,s:f}", "id", id_json(id, len), "score",
                                               (double)res->items[i].score));
    }
    size_t len;
    const char *id = rs_model_item_id(model, res->item, &len);
    /* An item-item model answers with the item's kept row (recommend.h). */
    int rows = rs_model_itemitem(model) != NULL;
    const char *method = rows ? RS_METHOD_ITEM_ITEM : l->sim.anchors ? "anchors" : "item_vectors";
    json_t *filter = res->filtered ? json_pack("{s:I,s:b}", "allowed", (json_int_t)res->allowed,
                                               "exhausted", res->exhausted)
                                   : json_null();
    return json_pack("{s:s,s:I,s:o,s:s,s:s,s:o,s:I,s:o}", "variant", l->variant, "version",
                     (json_int_t)l->version, "item", id_json(id, len), "method", method,
                     "similarity", rows ? "weight" : "cosine", "items", items, "offset",
                     (json_int_t)offset, "filter", filter);
}

static void h_similar(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    const char *n_text, *variant, *user, *session, *filter_text, *offset_text;
    if (query(req, "n", &n_text, resp) || query(req, "variant", &variant, resp) ||
        query(req, "user", &user, resp) || query(req, "session", &session, resp) ||
        query(req, "filter", &filter_text, resp) || query(req, "offset", &offset_text, resp))
        return;
    rs_request_error e;
    uint32_t n, offset = 0;
    rs_filter_request filter = {0};
    if (rs_parse_n_param(n_text, &api->limits, &n, &e) != 0 ||
        parse_offset_param(offset_text, &offset, &e) != 0 ||
        (filter_text && rs_filter_parse_text(filter_text, &api->limits, &filter, &e) != 0)) {
        rs_response_error(resp, e.status, e.code, "%s", e.message);
        return;
    }
    /* user or session only choose the experiment variant. */
    const char *key = user ? user : session;
    rs_loaded *l = acquire_for(api, variant, variant ? strlen(variant) : 0, key,
                               key ? strlen(key) : 0, NULL, resp);
    if (!l) {
        rs_filter_request_free(&filter);
        return;
    }
    rs_similar_query q = {l->model, &l->sim, {req->param[0], req->param_len[0]},
                          n,        &filter, l->has_catalog ? &l->catalog : NULL,
                          offset};
    rs_similar_result res;
    rs_error err;
    if (rs_similar(&q, &res, &err) != 0) {
        if (err.kind == RS_ERR_NOT_FOUND) {
            rs_response_variant(resp, l->slot, l->variant, l->version);
            rs_response_error(resp, 404, "unknown_item", "item \"%.100s\" is not in variant %s",
                              req->param[0], l->variant);
        } else {
            rs_error_prefix(&err, "similar items (variant %s version %llu)", l->variant,
                            (unsigned long long)l->version);
            answer_failure(resp, &err);
        }
    } else {
        rs_stats_retrieval(api->stats, l->slot, rs_model_n_items(l->model), 0, 0);
        rs_response_variant(resp, l->slot, l->variant, l->version);
        rs_response_json(resp, 200, similar_json(l, &res, offset));
    }
    rs_loaded_release(l);
    rs_filter_request_free(&filter);
}

/* ---- item attributes ---- */

/* An item's catalogue entry: categories and numeric fields (empty when
 * the version has no catalogue or the file did not describe the item). */
static json_t *item_json(const rs_loaded *l, uint32_t item)
{
    const rs_catalog *cat = &l->catalog;
    int described = l->has_catalog && cat->described[item];
    json_t *cats = json_array(), *fields = json_object();
    for (uint32_t p = described ? cat->item_indptr[item] : 0;
         described && cats && p < cat->item_indptr[item + 1]; p++) {
        size_t len;
        const char *name = rs_catalog_category(cat, cat->item_cats[p], &len);
        json_array_append_new(cats, id_json(name, len));
    }
    for (uint32_t f = 0; described && fields && f < cat->n_fields; f++) {
        double v = cat->values[(size_t)f * cat->n_items + item];
        if (isnan(v)) continue;
        size_t len;
        const char *name = rs_catalog_field(cat, f, &len);
        char key[260];
        snprintf(key, sizeof(key), "%.*s", (int)RS_MIN(len, 256), name);
        json_object_set_new(fields, key, json_real(v));
    }
    size_t len;
    const char *id = rs_model_item_id(l->model, item, &len);
    const float *pop = rs_model_popularity(l->model);
    return json_pack("{s:s,s:I,s:o,s:b,s:o,s:o,s:f}", "variant", l->variant, "version",
                     (json_int_t)l->version, "id", id_json(id, len), "described", described,
                     "categories", cats ? cats : json_null(), "fields",
                     fields ? fields : json_null(), "popularity", pop ? (double)pop[item] : 0.0);
}

static void h_item(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    const char *variant;
    if (query(req, "variant", &variant, resp)) return;
    rs_loaded *l = acquire_for(api, variant, variant ? strlen(variant) : 0, NULL, 0, NULL, resp);
    if (!l) return;
    uint32_t item;
    rs_response_variant(resp, l->slot, l->variant, l->version);
    if (rs_model_item_index(l->model, req->param[0], req->param_len[0], &item) != 0 ||
        item >= rs_model_n_items(l->model))
        rs_response_error(resp, 404, "unknown_item", "item \"%.100s\" is not in variant %s",
                          req->param[0], l->variant);
    else
        rs_response_json(resp, 200, item_json(l, item));
    rs_loaded_release(l);
}

/* ---- models, health, metrics ---- */

static json_t *iso_time(double unix_time)
{
    char buf[32];
    time_t t = (time_t)unix_time;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

/* Training metrics from the manifest: a top-level "metrics" object, else the
 * trainer's training.test_metrics / training.valid_metrics. A new object. */
static json_t *manifest_metrics(json_t *manifest)
{
    if (!manifest) return NULL;
    json_t *m = json_object_get(manifest, "metrics");
    if (json_is_object(m)) return json_deep_copy(m);
    json_t *training = json_object_get(manifest, "training");
    json_t *test = json_object_get(training, "test_metrics");
    json_t *valid = json_object_get(training, "valid_metrics");
    if (!json_is_object(test) && !json_is_object(valid)) return NULL;
    json_t *out = json_object();
    if (json_is_object(test)) json_object_set_new(out, "test", json_deep_copy(test));
    if (json_is_object(valid)) json_object_set_new(out, "valid", json_deep_copy(valid));
    json_t *best = json_object_get(training, "best_epoch");
    if (json_is_integer(best))
        json_object_set_new(out, "best_epoch", json_integer(json_integer_value(best)));
    return out;
}

/* The manifest as /v1/models shows it, to anyone: the training data path
 * is cut to its file name, so the server's paths are not exposed. */
static json_t *public_manifest(const json_t *manifest)
{
    json_t *m = json_deep_copy(manifest);
    json_t *training = json_object_get(m, "training");
    const char *data = json_string_value(json_object_get(training, "data"));
    const char *slash = data ? strrchr(data, '/') : NULL;
    if (slash) json_object_set_new(training, "data", json_string(slash + 1));
    return m;
}

/* /v1/models' summary of a version's item catalogue (null: none). */
static json_t *catalog_json(const rs_loaded *l)
{
    if (!l->has_catalog) return json_null();
    json_t *fields = json_array();
    for (uint32_t f = 0; fields && f < l->catalog.n_fields; f++) {
        size_t len;
        const char *name = rs_catalog_field(&l->catalog, f, &len);
        json_array_append_new(fields, id_json(name, len));
    }
    return json_pack("{s:I,s:I,s:o}", "described", (json_int_t)l->catalog.n_described, "categories",
                     (json_int_t)l->catalog.n_categories, "fields", fields ? fields : json_array());
}

static void h_models(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    json_t *models = json_array();
    int def = rs_registry_default_slot(api->reg);
    for (int i = 0; i < rs_registry_slots(api->reg); i++) {
        rs_loaded *l = rs_registry_acquire_slot(api->reg, i);
        if (!l) continue;
        json_t *metrics = manifest_metrics(l->manifest);
        json_t *m = json_pack(
            "{s:s,s:I,s:s,s:I,s:I,s:I,s:s,s:I,s:b,s:b,s:o,s:o,s:o}", "variant", l->variant,
            "version", (json_int_t)l->version, "family", rs_model_family(l->model), "dim",
            (json_int_t)rs_model_dim(l->model), "n_items", (json_int_t)rs_model_n_items(l->model),
            "n_users", (json_int_t)rs_model_n_users(l->model), "retrieval", rs_loaded_method(l),
            "midx_k", (json_int_t)(l->retriever ? rs_retriever_midx_k(l->retriever) : 0), "default",
            i == def, "anchors", l->sim.anchors, "loaded_at", iso_time(l->loaded_at), "metrics",
            metrics ? metrics : json_null(), "manifest",
            l->manifest ? public_manifest(l->manifest) : json_null());
        const char *source = l->retriever ? rs_retriever_midx_source(l->retriever) : NULL;
        if (m) json_object_set_new(m, "midx_source", source ? json_string(source) : json_null());
        if (m) json_object_set_new(m, "catalog", catalog_json(l));
        json_array_append_new(models, m);
        rs_loaded_release(l);
    }
    const char *def_name = rs_registry_slot_name(api->reg, def);
    json_t *body = json_pack("{s:o,s:o}", "default_variant",
                             def_name ? json_string(def_name) : json_null(), "models", models);
    if (api->ops) rs_ops_models(api->ops, body);
    rs_response_json(resp, 200, body);
}

static void h_healthz(void *ctx, rs_request *req, rs_response *resp)
{
    rs_response_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static void h_readyz(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    rs_loaded *l = rs_registry_acquire(api->reg, NULL, 0);
    rs_error err;
    if (!l || rs_loaded_check(l, &err) != 0) {
        rs_response_error(resp, 503, "not_ready", "%s", l ? err.msg : "no model is loaded yet");
        rs_loaded_release(l);
        return;
    }
    rs_response_json(resp, 200,
                     json_pack("{s:s,s:s,s:I}", "status", "ready", "default_variant", l->variant,
                               "version", (json_int_t)l->version));
    rs_loaded_release(l);
}

static void h_metrics(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    if (!out) {
        rs_response_error(resp, 500, "internal", "out of memory rendering metrics");
        return;
    }
    rs_stats_render(api->stats, out);
    static const struct {
        const char *name, *help;
    } gauges[] = {
        {"recsys_model_version", "Version of each variant's loaded model."},
        {"recsys_model_items", "Items the variant's loaded model ranks."},
        {"recsys_model_loaded_timestamp_seconds", "When the variant's version was loaded."},
    };
    for (size_t g = 0; g < sizeof(gauges) / sizeof(gauges[0]); g++) {
        fprintf(out, "# HELP %s %s\n# TYPE %s gauge\n", gauges[g].name, gauges[g].help,
                gauges[g].name);
        for (int i = 0; i < rs_registry_slots(api->reg); i++) {
            rs_loaded *l = rs_registry_acquire_slot(api->reg, i);
            if (!l) continue;
            double v = g == 0   ? (double)l->version
                       : g == 1 ? (double)rs_model_n_items(l->model)
                                : l->loaded_at;
            fprintf(out, "%s{variant=\"%s\"} %.17g\n", gauges[g].name, l->variant, v);
            rs_loaded_release(l);
        }
    }
    if (api->ops) rs_ops_render(api->ops, out);
    rs_process_render(out, api->started);
    rs_events_render(api->events, out);
    rs_http_server *srv = atomic_load(&api->srv);
    fprintf(out,
            "# HELP recsys_http_in_flight_requests Requests being processed.\n"
            "# TYPE recsys_http_in_flight_requests gauge\n"
            "recsys_http_in_flight_requests %u\n"
            "# HELP recsys_http_connections_open Client connections open.\n"
            "# TYPE recsys_http_connections_open gauge\n"
            "recsys_http_connections_open %u\n"
            "# HELP recsys_start_time_seconds When the server started (Unix time).\n"
            "# TYPE recsys_start_time_seconds gauge\n"
            "recsys_start_time_seconds %.17g\n",
            srv ? rs_http_in_flight(srv) : 0, srv ? rs_http_connections(srv) : 0, api->started);
    fclose(out);
    rs_response_text(resp, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* ---- operations (ops.c) ---- */

static void h_assignment(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    if (!api->ops) {
        rs_response_error(resp, 404, "not_found", "no experiments are configured");
        return;
    }
    rs_ops_assignment(api->ops, req, resp);
}

static void h_admin_reload(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    if (!api->ops) {
        rs_response_error(resp, 403, "admin_disabled", "admin endpoints are disabled");
        return;
    }
    rs_ops_reload(api->ops, req, resp);
}

/* Admin and listing routes that need the operations side. */
#define OPS_HANDLER(fn, call, status, code, message)                                               \
    static void fn(void *ctx, rs_request *req, rs_response *resp)                                  \
    {                                                                                              \
        rs_api *api = ctx;                                                                         \
        if (!api->ops) {                                                                           \
            rs_response_error(resp, status, code, message);                                        \
            return;                                                                                \
        }                                                                                          \
        call(api->ops, req, resp);                                                                 \
    }
OPS_HANDLER(h_admin_pin, rs_ops_pin, 403, "admin_disabled", "admin endpoints are disabled")
OPS_HANDLER(h_admin_unpin, rs_ops_unpin, 403, "admin_disabled", "admin endpoints are disabled")
OPS_HANDLER(h_versions, rs_ops_versions, 503, "not_ready", "the store is not attached")

/* ---- events (events.c; a NULL rs_events answers 404 events_disabled) ---- */

static void h_events(void *ctx, rs_request *req, rs_response *resp)
{
    rs_events_post(((rs_api *)ctx)->events, req, resp);
}

static void h_report(void *ctx, rs_request *req, rs_response *resp)
{
    rs_events_report(((rs_api *)ctx)->events, req, resp);
}

/* ---- the route table ---- */

/* KEYED routes need an API key when the server has keys (apikeys.h); OPEN
 * ones never do: probes, metrics, the dashboard's files (its page then sends
 * the key it is given) and the admin routes (they have their own token). */
#define KEYED 0
#define OPEN  1

const rs_http_route rs_api_routes[] = {
    {{"POST", "/v1/recommend"},
     h_recommend,
     1,
     "top-N for a known user or an ad-hoc history",
     KEYED},
    {{"POST", "/v1/recommend/batch"},
     h_recommend_batch,
     1,
     "several recommend bodies at once",
     KEYED},
    {{"GET", "/v1/users/{id}/recommendations"}, h_user_recs, 0, "top-N for a known user", KEYED},
    {{"GET", "/v1/items/{id}/similar"}, h_similar, 0, "nearest items to an item", KEYED},
    {{"GET", "/v1/items/{id}"}, h_item, 0, "an item's catalogue attributes", KEYED},
    {{"GET", "/v1/models"}, h_models, 0, "loaded variants and versions", KEYED},
    {{"GET", "/healthz"}, h_healthz, 0, "liveness", OPEN},
    {{"GET", "/readyz"}, h_readyz, 0, "readiness: a model is loaded", OPEN},
    {{"GET", "/metrics"}, h_metrics, 0, "Prometheus metrics", OPEN},
    {{"GET", "/v1/users/{id}/assignment"}, h_assignment, 0, "the user's experiment variant", KEYED},
    {{"POST", "/v1/admin/reload"}, h_admin_reload, 0, "check the store now (bearer token)", OPEN},
    {{"POST", "/v1/admin/pin"},
     h_admin_pin,
     1,
     "serve a variant at a retained version (bearer token)",
     OPEN},
    {{"POST", "/v1/admin/unpin"},
     h_admin_unpin,
     1,
     "follow the store's current version again (bearer token)",
     OPEN},
    {{"GET", "/v1/models/{variant}/versions"},
     h_versions,
     0,
     "a variant's retained versions",
     KEYED},
    {{"POST", "/v1/events"}, h_events, 1, "feedback events, stored durably (group commit)", KEYED},
    {{"GET", "/v1/experiments/{name}/report"},
     h_report,
     0,
     "an experiment's outcomes per variant, with a test against the control",
     KEYED},
    {{"GET", "/dashboard"}, rs_dashboard_page, 0, "the operator console (HTML)", OPEN},
    {{"GET", "/dashboard/{file}"},
     rs_dashboard_file,
     0,
     "the console's script and stylesheet",
     OPEN},
};
const int rs_api_n_routes = (int)(sizeof(rs_api_routes) / sizeof(rs_api_routes[0]));

void rs_api_print_routes(FILE *out)
{
    for (int i = 0; i < rs_api_n_routes; i++)
        fprintf(out, "%-5s %-36s %s\n", rs_api_routes[i].route.method,
                rs_api_routes[i].route.pattern, rs_api_routes[i].summary);
}

int rs_api_create(rs_registry *reg, rs_stats *stats, const rs_limits *limits, rs_api **out,
                  rs_error *err)
{
    rs_api *api = rs_calloc(1, sizeof(*api), err);
    if (!api) return -1;
    api->reg = reg;
    api->stats = stats;
    api->limits = *limits;
    api->started = (double)time(NULL);
    *out = api;
    return 0;
}

void rs_api_attach_ops(rs_api *api, rs_ops *ops)
{
    api->ops = ops;
}

void rs_api_attach_events(rs_api *api, rs_events *events)
{
    api->events = events;
}

void rs_api_attach_server(rs_api *api, rs_http_server *srv)
{
    atomic_store(&api->srv, srv);
}

void rs_api_free(rs_api *api)
{
    free(api);
}
