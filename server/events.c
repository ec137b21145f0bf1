/* events.c - POST /v1/events with group commit, fresh histories,
 * impressions and the experiment report (see events.h). */
#include "events.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eventlog.h"
#include "events_parse.h"
#include "fresh.h"
#include "impressions.h"
#include "log.h"
#include "ops.h"
#include "outcomes.h"
#include "recommend.h"
#include "registry.h"
#include "request.h"

/* One POST's events waiting for the writer. */
typedef struct batch {
    struct batch *next;
    rs_event_batch parsed; /* owned */
    rs_deferred *answer;   /* the request waiting for the commit */
} batch;

struct rs_events {
    rs_events_options opt;
    const rs_ab *ab;
    rs_eventlog *log;
    rs_event_rules rules;
    rs_fresh *fresh;
    rs_impressions *impressions;
    rs_outcomes *outcomes;
    /* The writer's queue. */
    pthread_mutex_t lock;
    pthread_cond_t work;
    batch *head, *tail;
    size_t pending;
    int stop, writer_started;
    pthread_t writer;
    double tokens, refilled; /* the rate's token bucket (under lock) */
    uint64_t last_seq;       /* the last sequence number committed (writer only) */
    uint64_t *writer_hashes; /* the writer's copy of an impression's items */
    /* Counters. */
    _Atomic uint64_t accepted, rejected, limited, busy, failed, commits, loaded, fresh_used;
};

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void bump(_Atomic uint64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(_Atomic uint64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* ---- applying committed events ---- */

/* Attributes e to the answer its request id names; 1 when it was found. */
static int attribute(rs_events *ev, const rs_event *e, int type, double now)
{
    if (!e->request_id_len || !ev->impressions) return 0;
    rs_impression imp;
    imp.items = ev->writer_hashes;
    if (!rs_impressions_find(ev->impressions, e->request_id, e->request_id_len, now, &imp))
        return 0;
    uint64_t h = rs_id_hash(e->item, e->item_len);
    int hit = 0;
    for (uint32_t i = 0; i < imp.n_items && !hit; i++) hit = imp.items[i] == h;
    if (imp.experiment >= 0)
        rs_outcomes_event(ev->outcomes, imp.experiment, imp.arm, imp.key_hash, type,
                          rs_event_type_positive(&ev->rules, type), hit);
    return 1;
}

/* Adds a positive event inside the window to its key's fresh history. */
static int to_fresh(rs_events *ev, uint64_t seq, const rs_event *e, double now, rs_error *err)
{
    if (!ev->fresh || ev->opt.fresh_window <= 0) return 0;
    int t = rs_event_type_index(&ev->rules, e->type, e->type_len);
    if (!rs_event_type_positive(&ev->rules, t) || e->timestamp < now - ev->opt.fresh_window)
        return 0;
    return rs_fresh_add(ev->fresh, e->key, e->key_len, e->item, e->item_len, e->timestamp, seq,
                        err);
}

static int load_one(void *ctx, uint64_t seq, const rs_event *e, rs_error *err)
{
    rs_events *ev = ctx;
    bump(&ev->loaded, 1);
    return to_fresh(ev, seq, e, unix_now(), err);
}

/* ---- the writer ---- */

/* The answer of a committed batch. */
static void answer_committed(rs_events *ev, batch *b, uint64_t first_seq, uint32_t attributed)
{
    rs_response resp = {.variant_slot = -1};
    size_t n = b->parsed.n;
    bump(&ev->accepted, n);
    rs_response_json(&resp, 200,
                     json_pack("{s:I,s:I,s:I,s:I}", "accepted", (json_int_t)n, "first_seq",
                               (json_int_t)first_seq, "last_seq", (json_int_t)(first_seq + n - 1),
                               "attributed", (json_int_t)attributed));
    rs_deferred_answer(b->answer, &resp);
}

static void answer_failed(rs_events *ev, batch *b, const rs_error *err)
{
    rs_response resp = {.variant_slot = -1};
    bump(&ev->failed, 1);
    rs_response_error(&resp, 503, "events_unavailable", "the events were not stored: %s", err->msg);
    rs_deferred_answer(b->answer, &resp);
}

/* One transaction and one sync for every batch of the group; then the
 * events are applied and every batch is answered. */
static void commit_group(rs_events *ev, batch *group)
{
    size_t n = 0;
    for (batch *b = group; b; b = b->next) n += b->parsed.n;
    rs_event *all = malloc((n ? n : 1) * sizeof(*all));
    rs_error err = {0};
    uint64_t first = 0;
    int rc;
    if (!all) {
        rc = rs_fail_kind(&err, RS_ERR_NO_MEMORY, "out of memory");
    } else {
        size_t at = 0;
        for (batch *b = group; b; b = b->next) {
            memcpy(all + at, b->parsed.events, b->parsed.n * sizeof(*all));
            at += b->parsed.n;
        }
        rc = rs_eventlog_append(ev->log, all, n, &first, &err);
    }
    free(all);
    if (rc == 0) {
        bump(&ev->commits, 1);
        ev->last_seq = first + n - 1;
    } else {
        rs_log(RS_LOG_ERROR, "events: a group of %zu events was not committed: %s", n, err.msg);
    }
    double now = unix_now();
    uint64_t seq = first;
    for (batch *b = group, *next; b; b = next) {
        next = b->next;
        uint64_t batch_first = seq;
        uint32_t attributed = 0;
        for (size_t i = 0; rc == 0 && i < b->parsed.n; i++, seq++) {
            const rs_event *e = &b->parsed.events[i];
            int type = rs_event_type_index(&ev->rules, e->type, e->type_len);
            attributed += (uint32_t)attribute(ev, e, type, now);
            rs_error ferr;
            if (to_fresh(ev, seq, e, now, &ferr) != 0)
                rs_log(RS_LOG_WARN, "events: a fresh history was not updated: %s", ferr.msg);
        }
        pthread_mutex_lock(&ev->lock);
        ev->pending -= b->parsed.n;
        pthread_mutex_unlock(&ev->lock);
        if (rc == 0)
            answer_committed(ev, b, batch_first, attributed);
        else
            answer_failed(ev, b, &err);
        rs_event_batch_free(&b->parsed);
        free(b);
    }
}

static void *writer_main(void *arg)
{
    rs_events *ev = arg;
    pthread_mutex_lock(&ev->lock);
    for (;;) {
        while (!ev->head && !ev->stop) pthread_cond_wait(&ev->work, &ev->lock);
        if (!ev->head) break;
        /* Everything queued while the last sync ran goes in one commit. */
        batch *group = ev->head;
        ev->head = ev->tail = NULL;
        pthread_mutex_unlock(&ev->lock);
        /* The batches' next links are the writer's own now. */
        commit_group(ev, group);
        pthread_mutex_lock(&ev->lock);
    }
    pthread_mutex_unlock(&ev->lock);
    return NULL;
}

/* ---- opening ---- */

int rs_events_open(const rs_events_options *opt, const rs_ab *ab, rs_events **out, rs_error *err)
{
    *out = NULL;
    rs_events *ev = rs_calloc(1, sizeof(*ev), err);
    if (!ev) return -1;
    ev->opt = *opt;
    ev->ab = ab;
    pthread_mutex_init(&ev->lock, NULL);
    pthread_cond_init(&ev->work, NULL);
    double started = rs_now();
    if (rs_event_rules_init(&ev->rules, opt->types, opt->positive, opt->max_batch, err) != 0 ||
        rs_outcomes_create(ab, ev->rules.type_names, ev->rules.n_types, opt->outcome_users,
                           &ev->outcomes, err) != 0 ||
        (opt->impressions &&
         rs_impressions_create(opt->impressions, opt->impression_ttl, opt->impression_items,
                               &ev->impressions, err) != 0) ||
        !(ev->writer_hashes = rs_malloc(opt->impression_items + 1, sizeof(uint64_t), err)) ||
        rs_fresh_create(opt->fresh_max_items, opt->fresh_max_keys, &ev->fresh, err) != 0 ||
        rs_eventlog_open(opt->dir, RS_EVENTLOG_CREATE, opt->map_size, &ev->log, err) != 0 ||
        rs_eventlog_scan(ev->log, 0, load_one, ev, err) != 0 ||
        rs_eventlog_last_seq(ev->log, &ev->last_seq, err) != 0)
        goto fail;
    ev->tokens = opt->rate;
    ev->refilled = rs_now();
    if (pthread_create(&ev->writer, NULL, writer_main, ev) != 0) {
        rs_fail(err, "events: cannot start the writer thread");
        goto fail;
    }
    ev->writer_started = 1;
    uint64_t keys, kept, refused;
    rs_fresh_counts(ev->fresh, &keys, &kept, &refused);
    rs_log(RS_LOG_INFO,
           "events %s: %llu events verified in %.2f s; fresh histories of %llu keys (%llu events)",
           opt->dir, (unsigned long long)get(&ev->loaded), rs_now() - started,
           (unsigned long long)keys, (unsigned long long)kept);
    *out = ev;
    return 0;
fail:
    rs_error_prefix(err, "events");
    rs_events_close(ev);
    return -1;
}

void rs_events_close(rs_events *ev)
{
    if (!ev) return;
    if (ev->writer_started) {
        pthread_mutex_lock(&ev->lock);
        ev->stop = 1;
        pthread_cond_signal(&ev->work);
        pthread_mutex_unlock(&ev->lock);
        pthread_join(ev->writer, NULL);
    }
    rs_eventlog_close(ev->log);
    rs_fresh_free(ev->fresh);
    rs_impressions_free(ev->impressions);
    rs_outcomes_free(ev->outcomes);
    free(ev->writer_hashes);
    pthread_cond_destroy(&ev->work);
    pthread_mutex_destroy(&ev->lock);
    free(ev);
}

/* ---- POST /v1/events ---- */

/* Takes n tokens of the rate; 0 when the budget allows, else the seconds
 * until it would. Called with the lock held. */
static double take_tokens(rs_events *ev, size_t n)
{
    if (!ev->opt.rate) return 0;
    double now = rs_now(), rate = ev->opt.rate;
    ev->tokens += (now - ev->refilled) * rate;
    ev->refilled = now;
    if (ev->tokens > rate) ev->tokens = rate; /* a burst of at most one second */
    if (ev->tokens >= (double)n) {
        ev->tokens -= (double)n;
        return 0;
    }
    return ((double)n - ev->tokens) / rate;
}

/* Queues the batch for the writer (0), or refuses it: 503 when the queue
 * is full, 429 over the rate (*retry_after seconds). */
static int submit(rs_events *ev, batch *b, double *retry_after)
{
    size_t n = b->parsed.n;
    pthread_mutex_lock(&ev->lock);
    if (ev->pending + n > ev->opt.max_pending || ev->stop) {
        pthread_mutex_unlock(&ev->lock);
        bump(&ev->busy, 1);
        return 503;
    }
    double wait = take_tokens(ev, n);
    if (wait > 0) {
        pthread_mutex_unlock(&ev->lock);
        bump(&ev->limited, 1);
        *retry_after = wait;
        return 429;
    }
    ev->pending += n;
    if (ev->tail)
        ev->tail->next = b;
    else
        ev->head = b;
    ev->tail = b;
    pthread_cond_signal(&ev->work);
    pthread_mutex_unlock(&ev->lock);
    return 0;
}

void rs_events_post(rs_events *ev, rs_request *req, rs_response *resp)
{
    if (!ev) {
        rs_response_error(resp, 404, "events_disabled",
                          "events are not enabled on this server (start it with --events-dir)");
        return;
    }
    rs_event_batch parsed;
    int bad_status;
    json_t *error;
    if (rs_event_batch_parse(&ev->rules, req->body, req->body_len, unix_now(), &parsed, &bad_status,
                             &error) != 0) {
        if (bad_status == 422) bump(&ev->rejected, 1);
        if (error)
            rs_response_json(resp, bad_status, error);
        else
            rs_response_error(resp, 503, "out_of_memory", "out of memory reading the events");
        return;
    }
    size_t n = parsed.n;
    batch *b = calloc(1, sizeof(*b));
    if (!b) {
        rs_event_batch_free(&parsed);
        rs_response_error(resp, 503, "out_of_memory", "out of memory queueing the events");
        return;
    }
    b->parsed = parsed;
    /* The pool thread goes back to other requests; the writer answers
     * after the commit (rs_deferred_answer). */
    b->answer = rs_request_defer(req);
    double retry = 0;
    int status = submit(ev, b, &retry);
    if (status == 0) return;
    rs_response now = {.variant_slot = -1};
    if (status == 429) {
        static const char *const after[] = {"1", "2", "3", "4", "5"};
        int s = (int)ceil(retry);
        rs_response_header(&now, "Retry-After", after[s < 1 ? 0 : s > 5 ? 4 : s - 1]);
        rs_response_error(&now, 429, "rate_limited",
                          "over the events rate of %u per second; retry in %.1f s", ev->opt.rate,
                          retry);
    } else {
        rs_response_header(&now, "Retry-After", "1");
        rs_response_error(&now, 503, "events_busy",
                          "%zu events wait for the writer already (the limit is %u); retry", n,
                          ev->opt.max_pending);
    }
    rs_deferred_answer(b->answer, &now);
    rs_event_batch_free(&b->parsed);
    free(b);
}

/* ---- GET /v1/experiments/{name}/report ---- */

void rs_events_report(rs_events *ev, rs_request *req, rs_response *resp)
{
    if (!ev) {
        rs_response_error(resp, 404, "events_disabled",
                          "events are not enabled on this server (start it with --events-dir)");
        return;
    }
    int e = rs_outcomes_find(ev->outcomes, req->param[0], req->param_len[0]);
    if (e < 0) {
        rs_response_error(resp, 404, "unknown_experiment", "no experiment is named \"%.64s\"",
                          req->param[0]);
        return;
    }
    json_t *body = rs_outcomes_report(ev->outcomes, e);
    if (body) {
        json_t *positive = json_array();
        for (int t = 0; t < ev->rules.n_types; t++)
            if (rs_event_type_positive(&ev->rules, t))
                json_array_append_new(positive, json_string(ev->rules.types[t]));
        json_object_set_new(body, "positive_types", positive);
    }
    rs_response_json(resp, 200, body);
}

/* ---- /metrics ---- */

void rs_events_render(rs_events *ev, FILE *out)
{
    if (!ev) return;
    static const char *const names[] = {"recsys_events_accepted_total",
                                        "recsys_events_rejected_batches_total",
                                        "recsys_events_rate_limited_batches_total",
                                        "recsys_events_busy_batches_total",
                                        "recsys_events_failed_batches_total",
                                        "recsys_events_commits_total"};
    static const char *const helps[] = {
        "Events committed (synced to disk) and acknowledged.",
        "Batches refused because an event was invalid (422).",
        "Batches refused over the events rate (429).",
        "Batches refused because the writer's queue was full (503).",
        "Batches whose commit failed (503).",
        "Commits (one sync each) of the group commit writer: accepted events / commits is the "
        "group size."};
    _Atomic uint64_t *values[] = {&ev->accepted, &ev->rejected, &ev->limited,
                                  &ev->busy,     &ev->failed,   &ev->commits};
    for (int k = 0; k < 6; k++)
        fprintf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", names[k], helps[k], names[k],
                names[k], (unsigned long long)get(values[k]));
    uint64_t keys, kept, refused;
    rs_fresh_counts(ev->fresh, &keys, &kept, &refused);
    fprintf(out,
            "# HELP recsys_fresh_keys Users and sessions with a fresh history.\n"
            "# TYPE recsys_fresh_keys gauge\nrecsys_fresh_keys %llu\n"
            "# HELP recsys_fresh_events Events kept in fresh histories.\n"
            "# TYPE recsys_fresh_events gauge\nrecsys_fresh_events %llu\n"
            "# HELP recsys_fresh_refused_total Events of new keys not kept (the table was "
            "full).\n# TYPE recsys_fresh_refused_total counter\nrecsys_fresh_refused_total %llu\n"
            "# HELP recsys_fresh_histories_total Recommendations encoded with fresh events.\n"
            "# TYPE recsys_fresh_histories_total counter\nrecsys_fresh_histories_total %llu\n",
            (unsigned long long)keys, (unsigned long long)kept, (unsigned long long)refused,
            (unsigned long long)get(&ev->fresh_used));
    if (ev->impressions) {
        uint64_t recorded, found, missed;
        rs_impressions_counts(ev->impressions, &recorded, &found, &missed);
        fprintf(out,
                "# HELP recsys_impressions_recorded_total Answers remembered by request id.\n"
                "# TYPE recsys_impressions_recorded_total counter\n"
                "recsys_impressions_recorded_total %llu\n"
                "# HELP recsys_impressions_lookups_total Events' request ids looked up, by "
                "result.\n# TYPE recsys_impressions_lookups_total counter\n"
                "recsys_impressions_lookups_total{result=\"found\"} %llu\n"
                "recsys_impressions_lookups_total{result=\"missed\"} %llu\n"
                "# HELP recsys_impressions_capacity Answers the table can remember.\n"
                "# TYPE recsys_impressions_capacity gauge\nrecsys_impressions_capacity %zu\n"
                "# HELP recsys_impressions_entry_bytes Memory per remembered answer.\n"
                "# TYPE recsys_impressions_entry_bytes gauge\n"
                "recsys_impressions_entry_bytes %zu\n",
                (unsigned long long)recorded, (unsigned long long)found, (unsigned long long)missed,
                rs_impressions_capacity(ev->impressions),
                rs_impressions_entry_bytes(ev->impressions));
    }
    rs_outcomes_render(ev->outcomes, out);
}

/* ---- the recommendation path ---- */

/* A thread's fresh-history storage: the fresh items and the whole history. */
typedef struct fresh_scratch {
    rs_fresh_buf fresh;
    rs_id *history;
    size_t history_cap;
    uint64_t *hashes; /* an impression's item hashes */
    size_t hashes_cap;
} fresh_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local fresh_scratch *tl_scratch;

static void scratch_free(void *p)
{
    fresh_scratch *s = p;
    if (!s) return;
    rs_fresh_buf_free(&s->fresh);
    free(s->history);
    free(s->hashes);
    free(s);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

static fresh_scratch *my_scratch(rs_error *err)
{
    if (tl_scratch) return tl_scratch;
    pthread_once(&scratch_once, scratch_key_init);
    fresh_scratch *s = rs_calloc(1, sizeof(*s), err);
    if (!s) return NULL;
    pthread_setspecific(scratch_key, s);
    tl_scratch = s;
    return s;
}

/* The version's events cutoff: events up to it are in its training data. */
static uint64_t cutoff_of(const rs_loaded *l)
{
    json_t *events = json_object_get(json_object_get(l->manifest, "training"), "events");
    json_t *seq = json_object_get(events, "cutoff_seq");
    return json_is_integer(seq) && json_integer_value(seq) > 0 ? (uint64_t)json_integer_value(seq)
                                                               : 0;
}

int rs_events_fresh_history(rs_events *ev, const rs_loaded *l, const char *key, size_t key_len,
                            rs_reco_query *q, rs_error *err)
{
    if (!ev || ev->opt.fresh_window <= 0 || !key) return 0;
    fresh_scratch *s = my_scratch(err);
    if (!s) return -1;
    uint32_t n_fresh;
    if (rs_fresh_get(ev->fresh, key, key_len, cutoff_of(l), unix_now() - ev->opt.fresh_window,
                     &s->fresh, &n_fresh, err) != 0)
        return -1;
    if (n_fresh == 0) return 0;
    const uint32_t *stored = NULL;
    uint32_t n_stored = 0;
    if (rs_model_user_history(l->model, key, key_len, &stored, &n_stored) != 0) n_stored = 0;
    size_t need = (size_t)n_stored + n_fresh;
    if (need > s->history_cap) {
        rs_id *h = rs_malloc(need, sizeof(rs_id), err);
        if (!h) return -1;
        free(s->history);
        s->history = h;
        s->history_cap = need;
    }
    uint32_t n = 0, n_items = rs_model_n_items(l->model);
    for (uint32_t i = 0; i < n_stored; i++) {
        if (stored[i] >= n_items) continue;
        size_t len;
        const char *id = rs_model_item_id(l->model, stored[i], &len);
        s->history[n++] = (rs_id){id, len};
    }
    memcpy(s->history + n, s->fresh.ids, n_fresh * sizeof(rs_id));
    q->has_history = 1;
    q->history = s->history;
    q->n_history = n + n_fresh;
    bump(&ev->fresh_used, 1);
    return 1;
}

void rs_events_served(rs_events *ev, const rs_request *req, const rs_ops_choice *choice,
                      const rs_loaded *l, const rs_reco_result *res, const char *key,
                      size_t key_len)
{
    if (!ev) return;
    int experiment = choice && choice->experiment ? choice->experiment_index : -1;
    int arm = experiment >= 0 ? choice->arm_index : -1;
    uint64_t key_hash = key ? rs_id_hash(key, key_len) : 0;
    if (experiment >= 0) rs_outcomes_impression(ev->outcomes, experiment, arm, key_hash);
    if (!ev->impressions) return;
    uint32_t n = res->n_items, max = rs_impressions_max_items(ev->impressions);
    if (n > max) n = max;
    rs_error err;
    fresh_scratch *s = my_scratch(&err);
    if (!s) return;
    if (max + 1 > s->hashes_cap) {
        uint64_t *h = rs_malloc(max + 1, sizeof(uint64_t), &err);
        if (!h) return;
        free(s->hashes);
        s->hashes = h;
        s->hashes_cap = max + 1;
    }
    uint64_t *hashes = s->hashes;
    for (uint32_t i = 0; i < n; i++) {
        size_t len;
        const char *id = rs_model_item_id(l->model, res->items[i].id, &len);
        hashes[i] = rs_id_hash(id, len);
    }
    rs_impression what = {experiment, arm, key_hash, 0, n, NULL};
    rs_impressions_record(ev->impressions, req->request_id, req->request_id_len, &what, hashes, n,
                          unix_now());
}
