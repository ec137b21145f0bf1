/* api.c - REST API v1 handlers (see api.h and proto/openapi.yaml). */
#include "api.h"

#include <cblas.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonbuf.h"
#include "log.h"
#include "ops.h"

struct rs_api {
    rs_registry *reg;
    rs_stats *stats;
    rs_limits limits;
    _Atomic(rs_http_server *) srv;
    double started; /* Unix time */
    rs_ops *ops;    /* experiments, reload, admin (NULL: none) */
};

/* ---- per-thread scratch ---- */

typedef struct scratch {
    float *uvec, *enc, *scores;
    size_t uvec_cap, enc_cap, scores_cap;
    uint8_t *mask; /* n_items flags, all zero between requests */
    size_t mask_cap;
    uint32_t *items, *touched; /* history indices; mask entries to clear */
    size_t items_cap, touched_cap;
    rs_scored *top;
    size_t top_cap;
    rs_retrieve_scratch *retrieve;
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local scratch *tl_scratch;

static void scratch_free(void *p)
{
    scratch *s = p;
    if (!s) return;
    free(s->uvec);
    free(s->enc);
    free(s->scores);
    free(s->mask);
    free(s->items);
    free(s->touched);
    free(s->top);
    rs_retrieve_scratch_free(s->retrieve);
    free(s);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

static scratch *my_scratch(void)
{
    if (tl_scratch) return tl_scratch;
        /* First request on this pool thread. OpenMP builds of OpenBLAS size
         * each call's thread team from the calling thread's OpenMP setting,
         * which a thread not created by OpenMP inherits from the environment
         * (all cores): without this, every request's sgemv would fork a team and
         * concurrent requests would spin against each other (measured: 33 vs
         * 1,675 requests/s). Parallelism comes from concurrent requests. */
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    pthread_once(&scratch_once, scratch_key_init);
    scratch *s = calloc(1, sizeof(*s));
    if (!s) return NULL;
    pthread_setspecific(scratch_key, s); /* freed at thread exit */
    tl_scratch = s;
    return s;
}

/* Grows *p to hold need elements of size elem (contents not kept). */
static int reserve(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return 0;
    size_t n = need < 64 ? 64 : need;
    void *q = malloc(n * elem);
    if (!q) return -1;
    free(*p);
    *p = q;
    *cap = n;
    return 0;
}

static int reserve_mask(scratch *s, size_t n)
{
    if (n <= s->mask_cap) return 0;
    uint8_t *m = calloc(n, 1);
    if (!m) return -1;
    free(s->mask);
    s->mask = m;
    s->mask_cap = n;
    return 0;
}

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

static json_t *item_json(const rs_model *model, uint32_t index, double score)
{
    size_t len;
    const char *id = rs_model_item_id(model, index, &len);
    return json_pack("{s:o,s:f}", "id", id_json(id, len), "score", score);
}

/* Resolves the variant to a referenced loaded version, or answers 404/503
 * and returns NULL. With no name, the experiments choose by key (a user id
 * or session key; NULL: none), else the default variant answers; choice
 * (may be NULL) says how. */
static rs_loaded *acquire_for(rs_api *api, const char *name, size_t len, const char *key,
                              size_t key_len, rs_ops_choice *choice, rs_response *resp)
{
    rs_ops_choice none;
    if (!choice) choice = &none;
    memset(choice, 0, sizeof(*choice));
    rs_loaded *l = name || !api->ops ? rs_registry_acquire(api->reg, name, len)
                                     : rs_ops_acquire(api->ops, key, key_len, choice);
    if (l) return l;
    if (name)
        rs_response_error(resp, 404, "unknown_variant", "no loaded variant is named \"%.*s\"",
                          (int)(len > 64 ? 64 : len), name);
    else
        rs_response_error(resp, 503, "not_ready", "no model is loaded yet");
    return NULL;
}

/* A query parameter, or a 400 for a malformed encoding. */
static int query(rs_request *req, const char *key, const char **value, rs_response *resp)
{
    *value = NULL;
    int rc = rs_request_query(req, key, value);
    if (rc < 0) {
        rs_response_error(resp, 400, "invalid_request",
                          "query parameter %s has a malformed percent-encoding", key);
        return -1;
    }
    if (rc > 0) *value = NULL;
    return 0;
}

/* ---- recommendations ---- */

typedef struct reco_input {
    const rs_id *user; /* NULL when not given */
    const rs_id *history;
    uint32_t n_history;
    int has_history;
    const rs_id *exclude;
    uint32_t n_exclude;
    uint32_t n;
    int filter_history;
    const rs_ops_choice *choice; /* how the variant was chosen (NULL: named) */
} reco_input;

/* Marks index in the mask; remembers it for clearing. Returns 1 when it was
 * not marked before. */
static inline int mark(scratch *s, uint32_t index, uint32_t *n_touched)
{
    if (s->mask[index]) return 0;
    s->mask[index] = 1;
    s->touched[(*n_touched)++] = index;
    return 1;
}

static void clear_marks(scratch *s, uint32_t from, uint32_t to)
{
    for (uint32_t i = from; i < to; i++) s->mask[s->touched[i]] = 0;
}

/* Maps the request's history to unique item indices in s->items (marked in
 * the mask). Unknown ids are listed once each in *unknown, a JSON array
 * created at the first one (most requests have none). Returns the count. */
static uint32_t map_history(const rs_model *model, const reco_input *in, scratch *s,
                            uint32_t *n_touched, json_t **unknown)
{
    uint32_t used = 0, n_items = rs_model_n_items(model);
    json_t *seen = NULL;
    if (in->has_history) {
        for (uint32_t i = 0; i < in->n_history; i++) {
            uint32_t idx;
            const rs_id *id = &in->history[i];
            if (rs_model_item_index(model, id->ptr, id->len, &idx) == 0 && idx < n_items) {
                if (mark(s, idx, n_touched)) s->items[used++] = idx;
                continue;
            }
            if (!seen) seen = json_object();
            if (!*unknown) *unknown = json_array();
            if (!seen || !*unknown || json_object_getn(seen, id->ptr, id->len)) continue;
            json_object_setn_new_nocheck(seen, id->ptr, id->len, json_true());
            json_array_append_new(*unknown, id_json(id->ptr, id->len));
        }
    } else if (in->user) {
        const uint32_t *items;
        uint32_t n;
        if (rs_model_user_history(model, in->user->ptr, in->user->len, &items, &n) == 0) {
            for (uint32_t i = 0; i < n; i++)
                if (items[i] < n_items && mark(s, items[i], n_touched)) s->items[used++] = items[i];
        }
    }
    json_decref(seen);
    return used;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : (x > y);
}

/* The encoder wants strictly increasing indices (else it sorts a copy). */
static void sort_u32(uint32_t *v, uint32_t n)
{
    qsort(v, n, sizeof(*v), cmp_u32);
}

static size_t history_capacity(const rs_model *model, const reco_input *in)
{
    if (in->has_history) return in->n_history;
    const uint32_t *items;
    uint32_t n = 0;
    if (in->user && rs_model_user_history(model, in->user->ptr, in->user->len, &items, &n) != 0)
        n = 0;
    return n;
}

/* The recommendation answer, written directly (see jsonbuf.h for why):
 * {"variant", "version", "model", "fallback", "items": [{"id", "score"}],
 *  "unknown_items", "history_used", "retrieval", "user"?, "experiment"}.
 * Returns malloc'd text ending in a newline, or NULL when out of memory. */
static char *answer_text(const rs_loaded *l, const reco_input *in, const rs_scored *top,
                         uint32_t got, int fallback, uint32_t used, const json_t *unknown,
                         const rs_retrieve_stats *rst, size_t *len)
{
    const rs_model *model = l->model;
    const char *family = rs_model_family(model), *method = rs_retriever_method(l->retriever);
    rs_jsonbuf b;
    rs_jsonbuf_init(&b, 256 + 48 * (size_t)got);
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
    for (uint32_t i = 0; i < got; i++) {
        size_t id_len;
        const char *id = rs_model_item_id(model, top[i].id, &id_len);
        if (i) rs_jsonbuf_lit(&b, ",");
        rs_jsonbuf_lit(&b, "{\"id\":");
        rs_jsonbuf_string(&b, id, id_len);
        rs_jsonbuf_lit(&b, ",\"score\":");
        rs_jsonbuf_float(&b, top[i].score);
        rs_jsonbuf_lit(&b, "}");
    }
    rs_jsonbuf_lit(&b, "],\"unknown_items\":");
    if (unknown)
        rs_jsonbuf_json(&b, unknown);
    else
        rs_jsonbuf_lit(&b, "[]");
    rs_jsonbuf_lit(&b, ",\"history_used\":");
    rs_jsonbuf_uint(&b, used);
    if (fallback) {
        rs_jsonbuf_lit(&b, ",\"retrieval\":null");
    } else {
        rs_jsonbuf_lit(&b, ",\"retrieval\":{\"method\":");
        rs_jsonbuf_string(&b, method, strlen(method));
        if (rst->exact)
            rs_jsonbuf_lit(&b, ",\"exact\":true,\"scored\":");
        else
            rs_jsonbuf_lit(&b, ",\"exact\":false,\"scored\":");
        rs_jsonbuf_uint(&b, rst->scored);
        rs_jsonbuf_lit(&b, "}");
    }
    if (in->user) {
        rs_jsonbuf_lit(&b, ",\"user\":");
        rs_jsonbuf_string(&b, in->user->ptr, in->user->len);
    }
    rs_jsonbuf_lit(&b, ",\"experiment\":");
    json_t *choice = rs_ops_choice_json(in->choice);
    rs_jsonbuf_json(&b, choice);
    json_decref(choice);
    rs_jsonbuf_lit(&b, "}\n");
    return rs_jsonbuf_take(&b, len);
}

static void recommend(rs_api *api, rs_loaded *l, const reco_input *in, rs_response *resp)
{
    const rs_model *model = l->model;
    uint32_t n_items = rs_model_n_items(model), dim = rs_model_dim(model);
    scratch *s = my_scratch();
    size_t hist_cap = history_capacity(model, in);
    size_t touch_need = hist_cap + in->n_exclude + 1;
    if (!s || reserve_mask(s, n_items) != 0 ||
        reserve((void **)&s->items, &s->items_cap, hist_cap + 1, sizeof(uint32_t)) != 0 ||
        reserve((void **)&s->touched, &s->touched_cap, touch_need, sizeof(uint32_t)) != 0 ||
        reserve((void **)&s->uvec, &s->uvec_cap, dim, sizeof(float)) != 0 ||
        reserve((void **)&s->enc, &s->enc_cap, rs_model_scratch_floats(model) + 1, sizeof(float)) !=
            0 ||
        reserve((void **)&s->top, &s->top_cap, in->n, sizeof(rs_scored)) != 0 ||
        (!s->retrieve && !(s->retrieve = rs_retrieve_scratch_new()))) {
        rs_response_error(resp, 500, "internal", "out of memory for request scratch");
        return;
    }
    json_t *unknown = NULL;
    uint32_t n_touched = 0;
    uint32_t used = map_history(model, in, s, &n_touched, &unknown);
    /* The history marks double as exclusions only when filtering it. */
    if (!in->filter_history) {
        clear_marks(s, 0, n_touched);
        n_touched = 0;
    }
    for (uint32_t i = 0; i < in->n_exclude; i++) {
        uint32_t idx;
        const rs_id *id = &in->exclude[i];
        if (rs_model_item_index(model, id->ptr, id->len, &idx) == 0 && idx < n_items)
            mark(s, idx, &n_touched);
    }

    uint32_t got = 0;
    rs_retrieve_stats rst = {0, 1};
    int fallback = used == 0;
    rs_error err;
    if (fallback) {
        /* Unknown user or nothing known in the history: most popular first. */
        const uint32_t *order = rs_model_popular_order(model);
        const float *pop = rs_model_popularity(model);
        for (uint32_t i = 0; i < n_items && got < in->n; i++) {
            uint32_t idx = order[i];
            if (idx >= n_items || s->mask[idx]) continue;
            s->top[got++] = (rs_scored){pop[idx], idx};
        }
    } else {
        /* The encoder wants increasing indices (else it sorts a copy); MIDX
         * wants the skipped ids sorted. */
        sort_u32(s->items, used);
        sort_u32(s->touched, n_touched);
        rs_skip skip = {s->mask, s->touched, n_touched};
        if (rs_model_encode(model, s->items, used, s->uvec, s->enc, &err) != 0 ||
            rs_retrieve_topn(l->retriever, s->uvec, &skip, in->n, s->top, &got, s->retrieve, &rst,
                             &err) != 0) {
            clear_marks(s, 0, n_touched);
            json_decref(unknown);
            rs_response_error(resp, 500, "internal", "ranking failed (variant %s version %llu): %s",
                              l->variant, (unsigned long long)l->version, err.msg);
            return;
        }
    }
    clear_marks(s, 0, n_touched);
    for (uint32_t i = 0; i < got; i++) {
        if (isfinite(s->top[i].score)) continue;
        json_decref(unknown);
        rs_response_error(resp, 500, "internal",
                          "the model produced a non-finite score (variant %s version %llu)",
                          l->variant, (unsigned long long)l->version);
        return;
    }
    rs_stats_retrieval(api->stats, l->slot, fallback ? 0 : rst.scored, fallback,
                       json_array_size(unknown));
    size_t len;
    char *text = answer_text(l, in, s->top, got, fallback, used, unknown, &rst, &len);
    json_decref(unknown);
    if (!text) {
        rs_response_error(resp, 500, "internal", "out of memory writing the answer");
        return;
    }
    rs_response_variant(resp, l->slot, l->variant, l->version);
    rs_response_text(resp, 200, "application/json", text, len);
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
    const rs_id *key = r.has_user ? &r.user : r.has_session ? &r.session : NULL;
    rs_ops_choice choice;
    rs_loaded *l = acquire_for(api, r.has_variant ? r.variant.ptr : NULL, r.variant.len,
                               key ? key->ptr : NULL, key ? key->len : 0, &choice, resp);
    if (l) {
        reco_input in = {.user = r.has_user ? &r.user : NULL,
                         .history = r.history,
                         .n_history = r.n_history,
                         .has_history = r.has_history,
                         .exclude = r.exclude,
                         .n_exclude = r.n_exclude,
                         .n = r.n,
                         .filter_history = r.filter_history,
                         .choice = &choice};
        recommend(api, l, &in, resp);
        rs_loaded_release(l);
    }
    rs_reco_request_free(&r);
}

static void h_user_recs(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    const char *n_text, *variant, *filter;
    if (query(req, "n", &n_text, resp) || query(req, "variant", &variant, resp) ||
        query(req, "filter_history", &filter, resp))
        return;
    rs_request_error e;
    reco_input in = {0};
    if (rs_parse_n_param(n_text, &api->limits, &in.n, &e) != 0 ||
        rs_parse_bool_param("filter_history", filter, 1, &in.filter_history, &e) != 0) {
        rs_response_error(resp, e.status, e.code, "%s", e.message);
        return;
    }
    rs_id user = {req->param[0], req->param_len[0]};
    in.user = &user;
    rs_ops_choice choice;
    in.choice = &choice;
    rs_loaded *l =
        acquire_for(api, variant, variant ? strlen(variant) : 0, user.ptr, user.len, &choice, resp);
    if (!l) return;
    recommend(api, l, &in, resp);
    rs_loaded_release(l);
}

/* ---- similar items ---- */

static void similar(rs_api *api, rs_loaded *l, uint32_t item, uint32_t n, rs_response *resp)
{
    const rs_model *model = l->model;
    uint32_t n_items = rs_model_n_items(model);
    int by_anchors = l->sim_anchors;
    const float *m = l->sim_vectors, *norms = l->sim_norms;
    uint32_t d = l->sim_dim;
    scratch *s = my_scratch();
    if (!s || reserve_mask(s, n_items) != 0 ||
        reserve((void **)&s->scores, &s->scores_cap, n_items, sizeof(float)) != 0 ||
        reserve((void **)&s->top, &s->top_cap, n, sizeof(rs_scored)) != 0) {
        rs_response_error(resp, 500, "internal", "out of memory for request scratch");
        return;
    }
    /* Cosine similarity: one pass of dot products, then divide by norms. */
    const float *q = m + (size_t)item * d;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n_items, (int)d, 1.0f, m, (int)d, q, 1, 0.0f,
                s->scores, 1);
    for (uint32_t j = 0; j < n_items; j++) {
        float denom = norms[item] * norms[j];
        s->scores[j] = denom > 0 ? s->scores[j] / denom : 0.0f;
    }
    s->mask[item] = 1;
    uint32_t got = rs_topk_dense(s->scores, n_items, s->mask, n, s->top);
    s->mask[item] = 0;
    rs_stats_retrieval(api->stats, l->slot, n_items, 0, 0);
    json_t *items = json_array();
    for (uint32_t i = 0; i < got; i++) {
        if (!isfinite(s->top[i].score)) continue;
        json_array_append_new(items, item_json(model, s->top[i].id, s->top[i].score));
    }
    size_t len;
    const char *id = rs_model_item_id(model, item, &len);
    json_t *body =
        json_pack("{s:s,s:I,s:o,s:s,s:s,s:o}", "variant", l->variant, "version",
                  (json_int_t)l->version, "item", id_json(id, len), "method",
                  by_anchors ? "anchors" : "item_vectors", "similarity", "cosine", "items", items);
    rs_response_variant(resp, l->slot, l->variant, l->version);
    rs_response_json(resp, 200, body);
}

static void h_similar(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    const char *n_text, *variant, *user, *session;
    if (query(req, "n", &n_text, resp) || query(req, "variant", &variant, resp) ||
        query(req, "user", &user, resp) || query(req, "session", &session, resp))
        return;
    rs_request_error e;
    uint32_t n;
    if (rs_parse_n_param(n_text, &api->limits, &n, &e) != 0) {
        rs_response_error(resp, e.status, e.code, "%s", e.message);
        return;
    }
    /* user or session only choose the experiment variant. */
    const char *key = user ? user : session;
    rs_loaded *l = acquire_for(api, variant, variant ? strlen(variant) : 0, key,
                               key ? strlen(key) : 0, NULL, resp);
    if (!l) return;
    uint32_t item;
    if (rs_model_item_index(l->model, req->param[0], req->param_len[0], &item) != 0 ||
        item >= rs_model_n_items(l->model)) {
        rs_response_variant(resp, l->slot, l->variant, l->version);
        rs_response_error(resp, 404, "unknown_item", "item \"%.100s\" is not in variant %s",
                          req->param[0], l->variant);
    } else {
        similar(api, l, item, n, resp);
    }
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

static void h_models(void *ctx, rs_request *req, rs_response *resp)
{
    rs_api *api = ctx;
    json_t *models = json_array();
    int def = rs_registry_default_slot(api->reg);
    for (int i = 0; i < rs_registry_slots(api->reg); i++) {
        rs_loaded *l = rs_registry_acquire_slot(api->reg, i);
        if (!l) continue;
        json_t *metrics = manifest_metrics(l->manifest);
        json_t *m = json_pack("{s:s,s:I,s:s,s:I,s:I,s:I,s:s,s:I,s:b,s:b,s:o,s:o,s:o}", "variant",
                              l->variant, "version", (json_int_t)l->version, "family",
                              rs_model_family(l->model), "dim", (json_int_t)rs_model_dim(l->model),
                              "n_items", (json_int_t)rs_model_n_items(l->model), "n_users",
                              (json_int_t)rs_model_n_users(l->model), "retrieval",
                              rs_retriever_method(l->retriever), "midx_k",
                              (json_int_t)rs_retriever_midx_k(l->retriever), "default", i == def,
                              "anchors", l->sim_anchors, "loaded_at", iso_time(l->loaded_at),
                              "metrics", metrics ? metrics : json_null(), "manifest",
                              l->manifest ? json_deep_copy(l->manifest) : json_null());
        const char *source = rs_retriever_midx_source(l->retriever);
        if (m) json_object_set_new(m, "midx_source", source ? json_string(source) : json_null());
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
    if (!l) {
        rs_response_error(resp, 503, "not_ready", "no model is loaded yet");
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
    rs_http_server *srv = atomic_load(&api->srv);
    fprintf(out,
            "# HELP recsys_http_in_flight_requests Requests being processed.\n"
            "# TYPE recsys_http_in_flight_requests gauge\n"
            "recsys_http_in_flight_requests %u\n"
            "# HELP recsys_start_time_seconds When the server started (Unix time).\n"
            "# TYPE recsys_start_time_seconds gauge\n"
            "recsys_start_time_seconds %.17g\n",
            srv ? rs_http_in_flight(srv) : 0, api->started);
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

/* ---- the route table ---- */

const rs_http_route rs_api_routes[] = {
    {{"POST", "/v1/recommend"}, h_recommend, 1, "top-N for a known user or an ad-hoc history"},
    {{"GET", "/v1/users/{id}/recommendations"}, h_user_recs, 0, "top-N for a known user"},
    {{"GET", "/v1/items/{id}/similar"}, h_similar, 0, "nearest items to an item"},
    {{"GET", "/v1/models"}, h_models, 0, "loaded variants and versions"},
    {{"GET", "/healthz"}, h_healthz, 0, "liveness"},
    {{"GET", "/readyz"}, h_readyz, 0, "readiness: a model is loaded"},
    {{"GET", "/metrics"}, h_metrics, 0, "Prometheus metrics"},
    {{"GET", "/v1/users/{id}/assignment"}, h_assignment, 0, "the user's experiment variant"},
    {{"POST", "/v1/admin/reload"}, h_admin_reload, 0, "check the store now (bearer token)"},
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

void rs_api_attach_server(rs_api *api, rs_http_server *srv)
{
    atomic_store(&api->srv, srv);
}

void rs_api_free(rs_api *api)
{
    free(api);
}
