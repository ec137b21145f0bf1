/* ops.c - experiments on the request path, admin and assignment endpoints
 * (see ops.h). */
#include "ops.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "log.h"
#include "names.h"
#include "request.h"

#define MAX_ARMS 64 /* per experiment, as rs_ab_parse allows */

/* The experiments in force and their counters. A config reload installs a
 * new set; the old one stays allocated (and unchanged) until rs_ops_free,
 * because requests in flight may still read its names: a set is a few
 * hundred bytes per experiment, and reloads are operator actions. */
typedef struct exp_set {
    const rs_ab *ab;            /* borrowed (may be NULL) */
    _Atomic uint64_t *assigned; /* [experiment * MAX_ARMS + arm] */
    _Atomic uint64_t *fallbacks;
    struct exp_set *older; /* the sets this one replaced */
} exp_set;

struct rs_ops {
    rs_registry *reg;
    rs_watcher *watcher;
    _Atomic(exp_set *) exps; /* never NULL */
    char *token;
    size_t token_len;
    _Atomic uint64_t admin_denied;
    _Atomic uint64_t config_reloads[2]; /* [0] applied, [1] refused */
};

static void exp_set_free(exp_set *set)
{
    while (set) {
        exp_set *older = set->older;
        free(set->assigned);
        free(set->fallbacks);
        free(set);
        set = older;
    }
}

static exp_set *exp_set_create(const rs_ab *ab)
{
    exp_set *set = calloc(1, sizeof(*set));
    if (!set) return NULL;
    set->ab = ab;
    size_t n = ab ? (size_t)ab->n * MAX_ARMS : 0;
    if (n && (!(set->assigned = calloc(n, sizeof(*set->assigned))) ||
              !(set->fallbacks = calloc(n, sizeof(*set->fallbacks))))) {
        exp_set_free(set);
        return NULL;
    }
    return set;
}

int rs_ops_create(rs_registry *reg, rs_watcher *watcher, const rs_ab *ab, const char *admin_token,
                  rs_ops **out, rs_error *err)
{
    rs_ops *ops = rs_calloc(1, sizeof(*ops), err);
    if (!ops) return -1;
    ops->reg = reg;
    ops->watcher = watcher;
    exp_set *set = exp_set_create(ab);
    atomic_init(&ops->exps, set);
    if (!set) goto oom;
    if (admin_token && !(ops->token = strdup(admin_token))) goto oom;
    ops->token_len = admin_token ? strlen(admin_token) : 0;
    *out = ops;
    return 0;
oom:
    rs_ops_free(ops);
    return rs_fail(err, "out of memory");
}

void rs_ops_free(rs_ops *ops)
{
    if (!ops) return;
    if (ops->token) {
        /* Do not leave the secret in freed memory. */
        volatile char *p = ops->token;
        for (size_t i = 0; i < ops->token_len; i++) p[i] = 0;
        free(ops->token);
    }
    exp_set_free(atomic_load(&ops->exps));
    free(ops);
}

/* The count of (experiment, variant) in set; 0 when set has no such pair. */
static uint64_t old_count(const exp_set *set, const _Atomic uint64_t *counters, const char *name,
                          const char *variant)
{
    for (int e = 0; set->ab && e < set->ab->n; e++) {
        const rs_ab_experiment *x = &set->ab->experiments[e];
        if (strcmp(x->name, name) != 0) continue;
        for (int a = 0; a < x->n_arms; a++)
            if (strcmp(x->arms[a].variant, variant) == 0)
                return atomic_load(&counters[(size_t)e * MAX_ARMS + (size_t)a]);
    }
    return 0;
}

int rs_ops_set_experiments(rs_ops *ops, const rs_ab *ab, rs_error *err)
{
    exp_set *set = exp_set_create(ab);
    if (!set) return rs_fail(err, "out of memory installing the experiments");
    exp_set *cur = atomic_load(&ops->exps);
    /* Counters continue for experiments and variants that stay (Prometheus
     * counters never go down); increments racing with the swap may land in
     * the old set and be lost, a few requests at most. */
    for (int e = 0; ab && e < ab->n; e++)
        for (int a = 0; a < ab->experiments[e].n_arms; a++) {
            size_t i = (size_t)e * MAX_ARMS + (size_t)a;
            const char *name = ab->experiments[e].name, *v = ab->experiments[e].arms[a].variant;
            atomic_store(&set->assigned[i], old_count(cur, cur->assigned, name, v));
            atomic_store(&set->fallbacks[i], old_count(cur, cur->fallbacks, name, v));
        }
    set->older = cur;
    atomic_store_explicit(&ops->exps, set, memory_order_release);
    return 0;
}

void rs_ops_count_config_reload(rs_ops *ops, int applied)
{
    atomic_fetch_add(&ops->config_reloads[applied ? 0 : 1], 1);
}

static const exp_set *experiments(rs_ops *ops)
{
    return atomic_load_explicit(&ops->exps, memory_order_acquire);
}

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- the request path ---- */

/* The assigned variant's version, else the default's; count says whether
 * this is a routed request (the assignment endpoint only looks). */
static rs_loaded *choose(rs_ops *ops, const char *key, size_t len, int count, rs_ops_choice *choice)
{
    memset(choice, 0, sizeof(*choice));
    const exp_set *set = experiments(ops);
    if (set->ab && set->ab->n) {
        rs_ab_assignment a;
        rs_ab_assign(set->ab, key, len, unix_now(), &a);
        if (a.reason == RS_AB_ASSIGNED) {
            size_t e = (size_t)(a.experiment - set->ab->experiments);
            size_t idx = e * MAX_ARMS + (size_t)(a.arm - a.experiment->arms);
            choice->experiment = a.experiment->name;
            choice->assigned = a.arm->variant;
            choice->experiment_index = (int)e;
            choice->arm_index = (int)(a.arm - a.experiment->arms);
            rs_loaded *l = rs_registry_acquire(ops->reg, a.arm->variant, strlen(a.arm->variant));
            if (count) atomic_fetch_add_explicit(&set->assigned[idx], 1, memory_order_relaxed);
            if (l) return l;
            /* Its variant failed to load or is not published yet: serve
             * the default rather than fail the user. */
            if (count) atomic_fetch_add_explicit(&set->fallbacks[idx], 1, memory_order_relaxed);
            choice->fell_back = 1;
        }
    }
    return rs_registry_acquire(ops->reg, NULL, 0);
}

rs_loaded *rs_ops_acquire(rs_ops *ops, const char *key, size_t len, rs_ops_choice *choice)
{
    return choose(ops, key, len, 1, choice);
}

json_t *rs_ops_choice_json(const rs_ops_choice *c)
{
    return c && c->experiment ? json_string(c->experiment) : json_null();
}

/* ---- GET /v1/users/{id}/assignment ---- */

void rs_ops_assignment(rs_ops *ops, rs_request *req, rs_response *resp)
{
    const char *key = req->param[0];
    size_t len = req->param_len[0];
    rs_ab_assignment a;
    rs_ab_assign(experiments(ops)->ab, key, len, unix_now(), &a);
    rs_ops_choice choice;
    rs_loaded *l = choose(ops, key, len, 0, &choice);
    json_t *user = json_stringn(key, len);
    if (!user) {
        if (l) rs_loaded_release(l);
        rs_response_error(resp, 400, "invalid_request", "the user id is not valid UTF-8");
        return;
    }
    json_t *body =
        json_pack("{s:o,s:s,s:o,s:o,s:o,s:b}", "user", user, "reason", rs_ab_reason_name(a.reason),
                  "experiment", a.experiment ? json_string(a.experiment->name) : json_null(),
                  "assigned_variant", a.arm ? json_string(a.arm->variant) : json_null(), "buckets",
                  a.experiment ? json_pack("{s:I,s:I}", "variant", (json_int_t)a.variant_bucket,
                                           "share", (json_int_t)a.share_bucket)
                               : json_null(),
                  "fell_back", choice.fell_back);
    if (body && l) {
        json_object_set_new(body, "variant", json_string(l->variant));
        json_object_set_new(body, "version", json_integer((json_int_t)l->version));
        rs_response_variant(resp, l->slot, l->variant, l->version);
    } else if (body) {
        json_object_set_new(body, "variant", json_null());
        json_object_set_new(body, "version", json_null());
    }
    if (l) rs_loaded_release(l);
    rs_response_json(resp, 200, body);
}

/* ---- POST /v1/admin/reload ---- */

/* Compares in time independent of where the first difference is. */
static int token_equal(const char *a, size_t alen, const char *b, size_t blen)
{
    unsigned char diff = alen != blen;
    size_t n = alen < blen ? alen : blen;
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)(a[i] ^ b[i]);
    return diff == 0;
}

/* 0 when the request carries the admin token; otherwise answers and -1. */
static int authorize(rs_ops *ops, rs_request *req, rs_response *resp)
{
    if (!ops->token) {
        rs_response_error(resp, 403, "admin_disabled",
                          "admin endpoints are disabled: name a token file in the config "
                          "(admin.token_file)");
        return -1;
    }
    const char *auth = rs_request_header(req, "Authorization");
    const char *token = NULL;
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0) {
        token = auth + 7;
        while (*token == ' ') token++;
    }
    if (!token || !token_equal(token, strlen(token), ops->token, ops->token_len)) {
        atomic_fetch_add_explicit(&ops->admin_denied, 1, memory_order_relaxed);
        rs_response_header(resp, "WWW-Authenticate", "Bearer realm=\"recserve admin\"");
        rs_response_error(resp, 401, "unauthorized",
                          token ? "the bearer token is not the admin token"
                                : "send the admin token as 'Authorization: Bearer TOKEN'");
        return -1;
    }
    return 0;
}

void rs_ops_reload(rs_ops *ops, rs_request *req, rs_response *resp)
{
    if (authorize(ops, req, resp) != 0) return;
    if (!ops->watcher) {
        rs_response_error(resp, 503, "not_ready", "the reload watcher is not running");
        return;
    }
    rs_log(RS_LOG_INFO, "reload asked for by POST /v1/admin/reload");
    json_t *report = rs_watcher_reload(ops->watcher, 30.0);
    if (!report) {
        rs_response_error(resp, 500, "internal", "out of memory");
        return;
    }
    /* 202: the check still runs; /v1/models shows its outcome later. */
    int done = json_is_true(json_object_get(report, "completed"));
    rs_response_json(resp, done ? 200 : 202, report);
}

/* ---- POST /v1/admin/pin and /v1/admin/unpin ---- */

/* The body's variant name and (with want_version) version, or answers 400. */
static int pin_body(rs_request *req, int want_version, char *name, uint64_t *version,
                    rs_response *resp)
{
    json_error_t jerr;
    json_t *root = req->body && rs_json_depth_ok(req->body, req->body_len, 4)
                       ? json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr)
                       : NULL;
    json_t *v = json_object_get(root, "variant");
    json_t *n = json_object_get(root, "version");
    rs_error err;
    const char *why = NULL;
    if (!json_is_object(root))
        why = want_version ? "send a JSON object {\"variant\": NAME, \"version\": N}"
                           : "send a JSON object {\"variant\": NAME}";
    else if (!json_is_string(v) || rs_store_check_name("variant", json_string_value(v), &err) != 0)
        why = "\"variant\" must be a variant name";
    else if (want_version && (!json_is_integer(n) || json_integer_value(n) < 1))
        why = "\"version\" must be a positive integer";
    if (why) {
        json_decref(root);
        rs_response_error(resp, 400, "invalid_request", "%s", why);
        return -1;
    }
    snprintf(name, RS_NAME_MAX + 1, "%s", json_string_value(v));
    *version = want_version ? (uint64_t)json_integer_value(n) : 0;
    json_decref(root);
    return 0;
}

/* 0 when the store retains version of variant; else answers 404. */
static int version_retained(rs_ops *ops, const char *name, uint64_t version, rs_response *resp)
{
    rs_variant_info *vars;
    uint32_t n;
    rs_error err;
    if (rs_registry_list(ops->reg, &vars, &n, &err) != 0) {
        rs_response_error(resp, 500, "internal", "cannot list the store: %s", err.msg);
        return -1;
    }
    int variant = 0, found = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(vars[i].name, name) != 0) continue;
        variant = 1;
        for (uint32_t k = 0; k < vars[i].n_versions; k++)
            found |= vars[i].versions[k].version == version;
    }
    rs_store_list_free(vars, n);
    if (found) return 0;
    if (!variant)
        rs_response_error(resp, 404, "unknown_variant", "the store has no variant %s", name);
    else
        rs_response_error(resp, 404, "not_found", "the store holds no version %llu of variant %s",
                          (unsigned long long)version, name);
    return -1;
}

static void pin_or_unpin(rs_ops *ops, rs_request *req, rs_response *resp, int pin)
{
    if (authorize(ops, req, resp) != 0) return;
    if (!ops->watcher) {
        rs_response_error(resp, 503, "not_ready", "the reload watcher is not running");
        return;
    }
    char name[RS_NAME_MAX + 1];
    uint64_t version;
    if (pin_body(req, pin, name, &version, resp) != 0) return;
    if (pin && version_retained(ops, name, version, resp) != 0) return;
    json_t *report;
    rs_error err;
    if (rs_watcher_pin(ops->watcher, name, version, 30.0, &report, &err) != 0) {
        if (err.kind == RS_ERR_NOT_FOUND)
            rs_response_error(resp, 404, "unknown_variant", "%s", err.msg);
        else if (err.kind == RS_ERR_INVALID)
            rs_response_error(resp, 422, "version_refused", "%s", err.msg);
        else
            rs_response_error(resp, 503, "not_ready", "%s", err.msg);
        return;
    }
    json_object_set_new(report, "variant", json_string(name));
    json_object_set_new(report, "pinned_version",
                        pin ? json_integer((json_int_t)version) : json_null());
    rs_response_json(resp, 200, report);
}

void rs_ops_pin(rs_ops *ops, rs_request *req, rs_response *resp)
{
    pin_or_unpin(ops, req, resp, 1);
}

void rs_ops_unpin(rs_ops *ops, rs_request *req, rs_response *resp)
{
    pin_or_unpin(ops, req, resp, 0);
}

/* ---- GET /v1/models/{variant}/versions ---- */

/* One retained version as the listing shows it: what its manifest says of
 * the family, the training run and its figures (NULL members when the
 * manifest lacks them). */
static json_t *version_summary(const rs_version_info *info, uint64_t serving, uint64_t pinned)
{
    json_t *m = info->manifest_json ? json_loads(info->manifest_json, 0, NULL) : NULL;
    json_t *training = json_object_get(m, "training");
    json_t *o = json_pack("{s:I,s:b,s:b,s:b}", "version", (json_int_t)info->version, "current",
                          info->is_current, "serving", info->version == serving, "pinned",
                          info->version == pinned);
    static const char *const top[] = {"family", "created_at", "n_items", "n_users", "dim"};
    for (size_t i = 0; o && i < sizeof(top) / sizeof(top[0]); i++) {
        json_t *v = json_object_get(m, top[i]);
        json_object_set(o, top[i], v ? v : json_null());
    }
    static const char *const train[] = {"epochs", "best_epoch", "valid_metrics", "test_metrics"};
    for (size_t i = 0; o && i < sizeof(train) / sizeof(train[0]); i++) {
        json_t *v = json_object_get(training, train[i]);
        json_object_set(o, train[i], v ? v : json_null());
    }
    json_decref(m);
    return o;
}

void rs_ops_versions(rs_ops *ops, rs_request *req, rs_response *resp)
{
    char name[RS_NAME_MAX + 1];
    rs_error err;
    if (!rs_name_length_ok(req->param[0], req->param_len[0])) {
        rs_response_error(resp, 404, "unknown_variant", "no variant by that name");
        return;
    }
    snprintf(name, sizeof(name), "%s", req->param[0]);
    rs_variant_info *vars;
    uint32_t n;
    if (rs_registry_list(ops->reg, &vars, &n, &err) != 0) {
        rs_response_error(resp, 500, "internal", "cannot list the store: %s", err.msg);
        return;
    }
    rs_loaded *l = rs_registry_acquire(ops->reg, name, strlen(name));
    uint64_t serving = l ? l->version : 0;
    rs_loaded_release(l);
    uint64_t pinned = ops->watcher ? rs_watcher_pinned(ops->watcher, name) : 0;
    json_t *list = NULL;
    uint64_t current = 0;
    for (uint32_t i = 0; i < n && !list; i++) {
        if (strcmp(vars[i].name, name) != 0) continue;
        current = vars[i].current;
        list = json_array();
        for (uint32_t k = vars[i].n_versions; k-- > 0;)
            json_array_append_new(list, version_summary(&vars[i].versions[k], serving, pinned));
    }
    rs_store_list_free(vars, n);
    if (!list) {
        rs_response_error(resp, 404, "unknown_variant", "the store has no variant %s", name);
        return;
    }
    rs_response_json(
        resp, 200,
        json_pack("{s:s,s:o,s:o,s:o,s:o}", "variant", name, "current_version",
                  current ? json_integer((json_int_t)current) : json_null(), "serving_version",
                  serving ? json_integer((json_int_t)serving) : json_null(), "pinned_version",
                  pinned ? json_integer((json_int_t)pinned) : json_null(), "versions", list));
}

/* ---- /v1/models and /metrics ---- */

static json_t *time_or_null(int has, double t)
{
    if (!has) return json_null();
    char buf[32];
    rs_format_rfc3339(t, buf, sizeof(buf));
    return json_string(buf);
}

void rs_ops_models(rs_ops *ops, json_t *body)
{
    if (!body) return;
    json_t *exps = json_array();
    double now = unix_now();
    const rs_ab *ab = experiments(ops)->ab;
    for (int e = 0; ab && e < ab->n; e++) {
        const rs_ab_experiment *x = &ab->experiments[e];
        json_t *arms = json_array();
        for (int a = 0; a < x->n_arms; a++)
            json_array_append_new(arms, json_pack("{s:s,s:f,s:[I,I]}", "variant",
                                                  x->arms[a].variant, "weight", x->arms[a].weight,
                                                  "buckets", (json_int_t)x->arms[a].first,
                                                  (json_int_t)x->arms[a].end));
        json_array_append_new(exps, json_pack("{s:s,s:b,s:f,s:o,s:o,s:o}", "name", x->name,
                                              "active", rs_ab_active(x, now), "share", x->share,
                                              "start", time_or_null(x->has_start, x->start), "end",
                                              time_or_null(x->has_end, x->end), "variants", arms));
    }
    json_object_set_new(body, "experiments", exps);
    json_object_set_new(body, "reload",
                        ops->watcher ? rs_watcher_status(ops->watcher) : json_array());
    json_object_set_new(body, "admin", json_string(ops->token ? "enabled" : "disabled"));
}

void rs_ops_render(rs_ops *ops, FILE *out)
{
    if (ops->watcher) rs_watcher_render(ops->watcher, out);
    fprintf(out,
            "# HELP recsys_admin_denied_total Admin requests refused for a missing or wrong "
            "token.\n# TYPE recsys_admin_denied_total counter\nrecsys_admin_denied_total %llu\n",
            (unsigned long long)atomic_load(&ops->admin_denied));
    fprintf(out,
            "# HELP recsys_config_reloads_total Config file reloads (SIGHUP), by result.\n"
            "# TYPE recsys_config_reloads_total counter\n"
            "recsys_config_reloads_total{result=\"applied\"} %llu\n"
            "recsys_config_reloads_total{result=\"refused\"} %llu\n",
            (unsigned long long)atomic_load(&ops->config_reloads[0]),
            (unsigned long long)atomic_load(&ops->config_reloads[1]));
    const exp_set *set = experiments(ops);
    const rs_ab *ab = set->ab;
    if (!ab || !ab->n) return;
    static const char *const names[] = {"recsys_ab_assignments_total", "recsys_ab_fallbacks_total"};
    static const char *const helps[] = {
        "Requests routed by an experiment, by experiment and assigned variant.",
        "Of those, requests served by the default variant because the assigned one was not "
        "loaded."};
    for (int k = 0; k < 2; k++) {
        _Atomic uint64_t *c = k ? set->fallbacks : set->assigned;
        fprintf(out, "# HELP %s %s\n# TYPE %s counter\n", names[k], helps[k], names[k]);
        for (int e = 0; e < ab->n; e++) {
            const rs_ab_experiment *x = &ab->experiments[e];
            for (int a = 0; a < x->n_arms; a++)
                fprintf(out, "%s{experiment=\"%s\",variant=\"%s\"} %llu\n", names[k], x->name,
                        x->arms[a].variant,
                        (unsigned long long)atomic_load_explicit(&c[e * MAX_ARMS + a],
                                                                 memory_order_relaxed));
        }
    }
}
