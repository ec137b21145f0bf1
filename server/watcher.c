/* watcher.c - hot reload thread (see watcher.h).
 *
 * Only one pass runs at a time: the initial load on the main thread before
 * the watcher thread starts, afterwards only the watcher thread. So a pass
 * reads the per-variant state without the lock and writes it under the lock,
 * and readers (status, metrics) take the lock for a consistent copy. Loading
 * happens outside the lock: a slow load never blocks a /metrics scrape.
 */
#include "watcher.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "experiment.h"
#include "log.h"

#define MAX_OPEN_STORES (RS_REGISTRY_MAX_STORES + 1)

typedef struct wvar {
    char name[RS_NAME_MAX + 1];
    uint64_t serving;       /* version loaded by the watcher (0: none) */
    int serving_gen;        /* store generation it was read from */
    uint64_t store_version; /* `current` in the store at the last check (0: none) */
    uint64_t refused;       /* last refused version (0: none) */
    uint64_t pinned;        /* serve this version, not `current` (0: follow current; lock) */
    int refused_gen;
    char error[RS_ERROR_MAX]; /* why it was refused */
    char check_error[RS_ERROR_MAX];
    double loaded_at, refused_at; /* Unix time */
    uint64_t n_loaded, n_refused;
} wvar;

typedef struct wstore {
    rs_store *store;
    dev_t dev;
    ino_t ino;
    int gen;
} wstore;

struct rs_watcher {
    rs_registry *reg;
    char *store_dir;
    double interval;
    int verify;
    size_t map_size;
    int fixed; /* the variants were listed in the config */

    pthread_mutex_t lock;
    pthread_mutex_t pin_lock; /* serialises rs_watcher_pin calls (never the watcher thread) */
    pthread_cond_t wake, done;
    wvar vars[RS_REGISTRY_MAX];
    int n_vars;
    wstore stores[MAX_OPEN_STORES];
    int n_stores, cur; /* stores[cur] is where loads read from */
    int next_gen;
    dev_t failed_dev; /* a store that could not be opened (logged once) */
    ino_t failed_ino;
    int dir_missing;

    uint64_t requested, completed;
    int force, stop, started;
    pthread_t thread;
    json_t *last_report;

    /* Pins from the config, applied to a variant when it is first seen. */
    struct {
        char name[RS_NAME_MAX + 1];
        uint64_t version;
    } config_pins[RS_REGISTRY_MAX];
    int n_config_pins;

    uint64_t checks, swaps, swap_failures;
    double last_check;
    /* What became of the current store's data.mdb at the last check. */
    rs_store_file_state file_state;
    char file_error[RS_ERROR_MAX];
    uint64_t file_faults[RS_STORE_FILE_DELETED + 1]; /* by state entered */
};

static double unix_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The config's pin for a variant (0: none). */
static uint64_t config_pin(const rs_watcher *w, const char *name)
{
    for (int i = 0; i < w->n_config_pins; i++)
        if (strcmp(w->config_pins[i].name, name) == 0) return w->config_pins[i].version;
    return 0;
}

int rs_watcher_create(rs_registry *reg, rs_store *store, const rs_watcher_options *opt,
                      rs_watcher **out, rs_error *err)
{
    if (opt->n_variants > RS_REGISTRY_MAX)
        return rs_fail(err, "%d variants listed; at most %d can be served", opt->n_variants,
                       RS_REGISTRY_MAX);
    if (opt->n_pins > RS_REGISTRY_MAX)
        return rs_fail(err, "%d pins listed; at most %d", opt->n_pins, RS_REGISTRY_MAX);
    rs_watcher *w = rs_calloc(1, sizeof(*w), err);
    if (!w) return -1;
    w->store_dir = strdup(opt->store_dir);
    if (!w->store_dir) {
        free(w);
        return rs_fail(err, "out of memory");
    }
    w->reg = reg;
    w->interval = opt->interval;
    w->verify = opt->verify;
    w->map_size = opt->map_size;
    w->fixed = opt->variants != NULL;
    for (int i = 0; i < opt->n_variants; i++)
        snprintf(w->vars[i].name, sizeof(w->vars[i].name), "%s", opt->variants[i]);
    w->n_vars = w->fixed ? opt->n_variants : 0;
    for (int i = 0; i < opt->n_pins; i++) {
        snprintf(w->config_pins[i].name, sizeof(w->config_pins[i].name), "%s",
                 opt->pins[i].variant);
        w->config_pins[i].version = opt->pins[i].version;
    }
    w->n_config_pins = opt->n_pins;
    for (int i = 0; i < w->n_vars; i++) w->vars[i].pinned = config_pin(w, w->vars[i].name);
    struct stat st;
    if (stat(opt->store_dir, &st) != 0) memset(&st, 0, sizeof(st));
    w->stores[0] = (wstore){store, st.st_dev, st.st_ino, 0};
    w->n_stores = 1;
    w->next_gen = 1;
    pthread_mutex_init(&w->lock, NULL);
    pthread_mutex_init(&w->pin_lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w->wake, &ca);
    pthread_cond_init(&w->done, &ca);
    pthread_condattr_destroy(&ca);
    *out = w;
    return 0;
}

/* ---- one pass ---- */

/* Follows the store path: opens the directory it names now when that is not
 * the current store. */
static void follow_store(rs_watcher *w)
{
    struct stat st;
    if (stat(w->store_dir, &st) != 0) {
        if (!w->dir_missing)
            rs_log(RS_LOG_WARN, "store %s: %s; still serving what is loaded", w->store_dir,
                   strerror(errno));
        w->dir_missing = 1;
        return;
    }
    w->dir_missing = 0;
    wstore *cur = &w->stores[w->cur];
    if (st.st_dev == cur->dev && st.st_ino == cur->ino) return;
    /* Back to a store we still have open (a swap was undone)? */
    int found = -1;
    for (int i = 0; i < w->n_stores; i++)
        if (w->stores[i].dev == st.st_dev && w->stores[i].ino == st.st_ino) found = i;
    rs_error err;
    if (found < 0) {
        if (w->n_stores == MAX_OPEN_STORES) return; /* retire_stores makes room later */
        rs_store *s;
        if (rs_store_open(w->store_dir, RS_STORE_READONLY, w->map_size, &s, &err) != 0) {
            if (st.st_dev != w->failed_dev || st.st_ino != w->failed_ino) {
                rs_log(RS_LOG_ERROR, "store %s was replaced, but the new one cannot be opened: %s",
                       w->store_dir, err.msg);
                pthread_mutex_lock(&w->lock);
                w->swap_failures++;
                pthread_mutex_unlock(&w->lock);
            }
            w->failed_dev = st.st_dev;
            w->failed_ino = st.st_ino;
            return;
        }
        if (rs_store_nolock(s))
            rs_log(RS_LOG_WARN, "store %s (new): lock.mdb is not writable: reading without it",
                   w->store_dir);
        pthread_mutex_lock(&w->lock);
        found = w->n_stores++;
        w->stores[found] = (wstore){s, st.st_dev, st.st_ino, w->next_gen++};
        pthread_mutex_unlock(&w->lock);
    }
    if (rs_registry_set_store(w->reg, w->stores[found].store, &err) != 0) {
        rs_log(RS_LOG_ERROR, "store %s was replaced, but cannot switch to it yet: %s", w->store_dir,
               err.msg);
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->cur = found;
    w->swaps++;
    pthread_mutex_unlock(&w->lock);
    rs_log(RS_LOG_INFO, "store %s now names another store; reloading every variant from it",
           w->store_dir);
}

/* Examines the current store's data.mdb; logs and counts each change of
 * its state. Returns 0 when loads may read it, -1 (w->file_error says why)
 * when it was truncated, replaced or deleted: then nothing new is loaded
 * from it. Loaded versions keep serving while the file still holds what
 * they map (each request checks, see rs_loaded_check). A replaced or deleted
 * file is not reopened: LMDB allows one environment per lock file in a
 * process, so the new file is read once the directory is swapped
 * (deploy/ship-store.sh) or recserve restarts. */
static int check_file(rs_watcher *w)
{
    rs_store_file f;
    rs_error err;
    char why[RS_ERROR_MAX] = "";
    if (rs_store_file_status(w->stores[w->cur].store, &f, &err) != 0) {
        snprintf(why, sizeof(why), "%s", err.msg);
        f.state = w->file_state; /* unknown: keep the last state */
    } else if (f.state == RS_STORE_FILE_TRUNCATED) {
        snprintf(why, sizeof(why),
                 "data.mdb in %s was truncated to %llu bytes under the server (its pages reach "
                 "%llu); versions it no longer holds answer 503, nothing new is loaded until it "
                 "is restored",
                 w->store_dir, (unsigned long long)f.size, (unsigned long long)f.used);
    } else if (f.state != RS_STORE_FILE_OK) {
        snprintf(why, sizeof(why),
                 "data.mdb in %s was %s; still serving what is loaded from the old file, but "
                 "nothing new is loaded until the store directory is swapped or recserve "
                 "restarts",
                 w->store_dir, rs_store_file_state_name(f.state));
    }
    if (f.state != w->file_state) {
        if (f.state == RS_STORE_FILE_OK)
            rs_log(RS_LOG_INFO, "data.mdb in %s is whole again; loading from it", w->store_dir);
        else
            rs_log(RS_LOG_ERROR, "%s", why);
    }
    pthread_mutex_lock(&w->lock);
    if (f.state != w->file_state && f.state != RS_STORE_FILE_OK) w->file_faults[f.state]++;
    w->file_state = f.state;
    snprintf(w->file_error, sizeof(w->file_error), "%s", why);
    pthread_mutex_unlock(&w->lock);
    return why[0] ? -1 : 0;
}

/* Closes earlier stores that no loaded version uses any more. */
static void retire_stores(rs_watcher *w)
{
    for (int i = 0; i < w->n_stores; i++) {
        if (i == w->cur || rs_registry_store_users(w->reg, w->stores[i].store) != 0) continue;
        rs_store *s = w->stores[i].store;
        pthread_mutex_lock(&w->lock);
        w->stores[i] = w->stores[--w->n_stores];
        if (w->cur == w->n_stores) w->cur = i;
        pthread_mutex_unlock(&w->lock);
        rs_store_close(s);
        rs_log(RS_LOG_INFO, "closed a replaced store: no loaded version uses it any more");
        i--;
    }
}

/* In "every variant" mode: adds the store's variants we do not know yet.
 * Returns how many variants of the store have a current version, or -1. */
static int discover(rs_watcher *w)
{
    rs_variant_info *vars;
    uint32_t n;
    rs_error err;
    if (rs_store_list(w->stores[w->cur].store, &vars, &n, &err) != 0) {
        rs_log(RS_LOG_ERROR, "listing the store's variants: %s", err.msg);
        return -1;
    }
    int published = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!vars[i].current) continue;
        published++;
        int known = 0;
        for (int j = 0; j < w->n_vars && !known; j++)
            known = !strcmp(w->vars[j].name, vars[i].name);
        if (known) continue;
        if (w->n_vars == RS_REGISTRY_MAX) {
            rs_log(RS_LOG_WARN, "variant %s is not served: at most %d variants", vars[i].name,
                   RS_REGISTRY_MAX);
            continue;
        }
        pthread_mutex_lock(&w->lock);
        wvar *v = &w->vars[w->n_vars];
        memset(v, 0, sizeof(*v));
        snprintf(v->name, sizeof(v->name), "%s", vars[i].name);
        v->pinned = config_pin(w, v->name);
        w->n_vars++;
        pthread_mutex_unlock(&w->lock);
    }
    rs_store_list_free(vars, n);
    return published;
}

static json_t *outcome(const wvar *v, const char *result, const char *error)
{
    json_t *o = json_pack("{s:s,s:I,s:I,s:s}", "variant", v->name, "store_version",
                          (json_int_t)v->store_version, "serving_version", (json_int_t)v->serving,
                          "result", result);
    if (o && error && *error) json_object_set_new(o, "error", json_string(error));
    if (o && v->pinned)
        json_object_set_new(o, "pinned_version", json_integer((json_int_t)v->pinned));
    return o;
}

/* When a variant has nothing to serve (at start) and its current version
 * is refused, the newest older version that loads serves instead, so that a
 * restart does not take down a variant whose latest publish is broken.
 * Returns the version loaded, or 0. */
static uint64_t load_older(rs_watcher *w, wvar *v, uint64_t refused)
{
    rs_variant_info *vars;
    uint32_t n;
    rs_error err;
    uint64_t got = 0;
    if (rs_store_list(w->stores[w->cur].store, &vars, &n, &err) != 0) return 0;
    for (uint32_t i = 0; i < n && !got; i++) {
        if (strcmp(vars[i].name, v->name) != 0) continue;
        for (uint32_t k = vars[i].n_versions; k-- > 0 && !got;) {
            uint64_t version = vars[i].versions[k].version;
            if (version >= refused) continue;
            if (rs_registry_load(w->reg, v->name, version, w->verify, &err) == 0)
                got = version;
            else
                rs_log(RS_LOG_WARN, "variant %s: older version %llu cannot be loaded either: %s",
                       v->name, (unsigned long long)version, err.msg);
        }
    }
    rs_store_list_free(vars, n);
    return got;
}

/* Checks one variant; loads its current version when it is new. Returns 1
 * when a version was loaded. */
static int check_variant(rs_watcher *w, wvar *v, int force, json_t *report)
{
    const wstore *s = &w->stores[w->cur];
    uint64_t cur;
    rs_error err;
    const char *result;
    int loaded = 0;
    if (rs_store_current(s->store, v->name, &cur, &err) != 0) {
        if (strcmp(v->check_error, err.msg) != 0)
            rs_log(RS_LOG_ERROR, "variant %s: cannot read its current version: %s", v->name,
                   err.msg);
        pthread_mutex_lock(&w->lock);
        snprintf(v->check_error, sizeof(v->check_error), "%s", err.msg);
        pthread_mutex_unlock(&w->lock);
        if (report) json_array_append_new(report, outcome(v, "error", err.msg));
        return 0;
    }
    pthread_mutex_lock(&w->lock);
    v->check_error[0] = '\0';
    v->store_version = cur;
    /* A pinned variant serves its pin whatever `current` says. */
    if (v->pinned) cur = v->pinned;
    pthread_mutex_unlock(&w->lock);
    if (cur == 0) {
        result = "missing";
    } else if (cur == v->serving && v->serving_gen == s->gen) {
        result = "unchanged";
    } else if (!force && cur == v->refused && v->refused_gen == s->gen) {
        result = "refused";
    } else if (rs_registry_load(w->reg, v->name, cur, w->verify, &err) == 0) {
        pthread_mutex_lock(&w->lock);
        v->serving = cur;
        v->serving_gen = s->gen;
        v->loaded_at = unix_now();
        v->n_loaded++;
        pthread_mutex_unlock(&w->lock);
        result = "loaded";
        loaded = 1;
    } else {
        pthread_mutex_lock(&w->lock);
        v->refused = cur;
        v->refused_gen = s->gen;
        v->refused_at = unix_now();
        v->n_refused++;
        snprintf(v->error, sizeof(v->error), "%s", err.msg);
        pthread_mutex_unlock(&w->lock);
        result = "refused";
        /* Said once what will serve, so that the line is not contradicted
         * by the next one. */
        uint64_t older = v->serving ? 0 : load_older(w, v, cur);
        if (v->serving)
            rs_log(RS_LOG_ERROR, "refused variant %s version %llu (still serving version %llu): %s",
                   v->name, (unsigned long long)cur, (unsigned long long)v->serving, err.msg);
        else if (older)
            rs_log(RS_LOG_ERROR,
                   "refused variant %s version %llu (serving older version %llu instead): %s",
                   v->name, (unsigned long long)cur, (unsigned long long)older, err.msg);
        else
            rs_log(RS_LOG_ERROR,
                   "skipping variant %s: refused version %llu and no older version loads "
                   "(nothing to serve): %s",
                   v->name, (unsigned long long)cur, err.msg);
        if (older) {
            pthread_mutex_lock(&w->lock);
            v->serving = older;
            v->serving_gen = s->gen;
            v->loaded_at = unix_now();
            v->n_loaded++;
            pthread_mutex_unlock(&w->lock);
            loaded = 1;
        }
    }
    rs_log(RS_LOG_DEBUG, "check %s: store current %llu%s, serving %llu: %s", v->name,
           (unsigned long long)v->store_version, v->pinned ? " (pinned)" : "",
           (unsigned long long)v->serving, result);
    if (report)
        json_array_append_new(report,
                              outcome(v, result, !strcmp(result, "refused") ? v->error : NULL));
    return loaded;
}

/* One check of everything. Returns the variants loaded, or -1 when the
 * store lists no published variant (only in "every variant" mode). */
static int pass(rs_watcher *w, int force, json_t *report)
{
    follow_store(w);
    int published = 0, loaded = 0;
    if (check_file(w) != 0) {
        for (int i = 0; report && i < w->n_vars; i++)
            json_array_append_new(report, outcome(&w->vars[i], "error", w->file_error));
        published = w->n_vars; /* known variants still serve */
    } else {
        if (!w->fixed) published = discover(w);
        for (int i = 0; i < w->n_vars; i++) loaded += check_variant(w, &w->vars[i], force, report);
    }
    retire_stores(w);
    pthread_mutex_lock(&w->lock);
    w->checks++;
    w->last_check = unix_now();
    pthread_mutex_unlock(&w->lock);
    return !w->fixed && published <= 0 ? -1 : loaded;
}

int rs_watcher_load_initial(rs_watcher *w, int *loaded, rs_error *err)
{
    *loaded = 0;
    /* Configured variants take slots in the config's order, loaded or not. */
    for (int i = 0; w->fixed && i < w->n_vars; i++)
        if (rs_registry_reserve(w->reg, w->vars[i].name, err) != 0) return -1;
    int rc = pass(w, 1, NULL);
    if (rc < 0)
        return rs_fail(err, "the store has no published variant (publish one with rectrain)");
    int serving = 0, published = 0;
    for (int i = 0; i < w->n_vars; i++) {
        serving += w->vars[i].serving != 0;
        published += w->vars[i].store_version != 0;
        if (w->fixed && !w->vars[i].store_version)
            rs_log(RS_LOG_WARN,
                   "variant %s (from the config) has no published version yet; it will be "
                   "loaded when one is published",
                   w->vars[i].name);
    }
    if (published && !serving)
        return rs_fail(err, "no published variant could be loaded (see the errors above)");
    if (!published)
        rs_log(RS_LOG_WARN,
               "none of the %d configured variants has a published version yet: not ready "
               "(readyz 503) until one is published",
               w->n_vars);
    *loaded = serving;
    return 0;
}

/* ---- the thread ---- */

static void deadline_after(struct timespec *ts, double seconds)
{
    clock_gettime(CLOCK_MONOTONIC, ts);
    double ns = ts->tv_nsec + seconds * 1e9;
    ts->tv_sec += (time_t)(ns / 1e9);
    ts->tv_nsec = (long)(ns - (double)(time_t)(ns / 1e9) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

static void *run(void *arg)
{
    rs_watcher *w = arg;
    pthread_mutex_lock(&w->lock);
    while (!w->stop) {
        if (w->requested == w->completed) {
            if (w->interval > 0) {
                struct timespec ts;
                deadline_after(&ts, w->interval);
                int rc = 0;
                while (!w->stop && w->requested == w->completed && rc != ETIMEDOUT)
                    rc = pthread_cond_timedwait(&w->wake, &w->lock, &ts);
            } else {
                while (!w->stop && w->requested == w->completed)
                    pthread_cond_wait(&w->wake, &w->lock);
            }
            if (w->stop) break;
        }
        uint64_t ticket = w->requested;
        int force = w->force;
        w->force = 0;
        pthread_mutex_unlock(&w->lock);
        json_t *report = json_array();
        pass(w, force, report);
        pthread_mutex_lock(&w->lock);
        w->completed = ticket;
        if (w->last_report) json_decref(w->last_report);
        w->last_report = report;
        pthread_cond_broadcast(&w->done);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int rs_watcher_start(rs_watcher *w, rs_error *err)
{
    pthread_mutex_lock(&w->lock);
    int rc = pthread_create(&w->thread, NULL, run, w);
    w->started = rc == 0;
    pthread_mutex_unlock(&w->lock);
    if (rc != 0) return rs_fail(err, "cannot start the reload watcher: %s", strerror(rc));
    if (w->interval > 0)
        rs_log(RS_LOG_INFO, "watching %s for new versions every %gs", w->store_dir, w->interval);
    else
        rs_log(RS_LOG_INFO, "reloading %s only on SIGHUP or POST /v1/admin/reload", w->store_dir);
    return 0;
}

void rs_watcher_request(rs_watcher *w)
{
    pthread_mutex_lock(&w->lock);
    w->requested++;
    w->force = 1;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

json_t *rs_watcher_reload(rs_watcher *w, double timeout)
{
    struct timespec ts;
    deadline_after(&ts, timeout);
    pthread_mutex_lock(&w->lock);
    uint64_t ticket = ++w->requested;
    w->force = 1;
    pthread_cond_signal(&w->wake);
    int rc = 0;
    while (w->started && w->completed < ticket && rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&w->done, &w->lock, &ts);
    int completed = w->completed >= ticket;
    json_t *variants = completed && w->last_report ? json_deep_copy(w->last_report) : json_array();
    pthread_mutex_unlock(&w->lock);
    return json_pack("{s:b,s:o}", "completed", completed, "variants", variants);
}

/* ---- pins ---- */

static wvar *find_var(rs_watcher *w, const char *name)
{
    for (int i = 0; i < w->n_vars; i++)
        if (strcmp(w->vars[i].name, name) == 0) return &w->vars[i];
    return NULL;
}

int rs_watcher_pin(rs_watcher *w, const char *variant, uint64_t version, double timeout,
                   json_t **report, rs_error *err)
{
    *report = NULL;
    pthread_mutex_lock(&w->pin_lock);
    pthread_mutex_lock(&w->lock);
    wvar *v = find_var(w, variant);
    if (!v) {
        pthread_mutex_unlock(&w->lock);
        pthread_mutex_unlock(&w->pin_lock);
        return rs_fail_kind(err, RS_ERR_NOT_FOUND, "variant %s is not served here", variant);
    }
    uint64_t before = v->pinned;
    v->pinned = version;
    pthread_mutex_unlock(&w->lock);
    if (version)
        rs_log(RS_LOG_INFO, "variant %s: pinning to version %llu", variant,
               (unsigned long long)version);
    else
        rs_log(RS_LOG_INFO, "variant %s: unpinned, following the store's current version", variant);
    json_t *r = rs_watcher_reload(w, timeout);
    pthread_mutex_lock(&w->lock);
    int completed = r && json_is_true(json_object_get(r, "completed"));
    int took = completed && (version == 0 || v->serving == version);
    char why[RS_ERROR_MAX];
    snprintf(why, sizeof(why), "%s", v->refused == version ? v->error : "");
    if (!took && version) v->pinned = before; /* the pin did not take: as it was */
    pthread_mutex_unlock(&w->lock);
    pthread_mutex_unlock(&w->pin_lock);
    if (!completed) {
        json_decref(r);
        if (version && before != version) rs_watcher_request(w); /* settle back */
        return rs_fail_kind(err, RS_ERR_GENERIC,
                            "the reload watcher did not finish within %gs; nothing was changed",
                            timeout);
    }
    if (!took) {
        json_decref(r);
        return rs_fail_kind(err, RS_ERR_INVALID,
                            "variant %s version %llu cannot be served (still serving what it "
                            "served): %s",
                            variant, (unsigned long long)version, why[0] ? why : "not loaded");
    }
    *report = r;
    return 0;
}

uint64_t rs_watcher_pinned(rs_watcher *w, const char *variant)
{
    pthread_mutex_lock(&w->lock);
    const wvar *v = find_var(w, variant);
    uint64_t pinned = v ? v->pinned : 0;
    pthread_mutex_unlock(&w->lock);
    return pinned;
}

/* ---- status ---- */

static json_t *time_json(double t)
{
    if (t <= 0) return json_null();
    char buf[32];
    rs_format_rfc3339(t, buf, sizeof(buf));
    return json_string(buf);
}

json_t *rs_watcher_status(rs_watcher *w)
{
    json_t *list = json_array();
    pthread_mutex_lock(&w->lock);
    for (int i = 0; i < w->n_vars; i++) {
        const wvar *v = &w->vars[i];
        json_t *refused = v->refused ? json_pack("{s:I,s:s,s:o}", "version", (json_int_t)v->refused,
                                                 "error", v->error, "at", time_json(v->refused_at))
                                     : json_null();
        json_t *o =
            json_pack("{s:s,s:I,s:I,s:o,s:I,s:I,s:o}", "variant", v->name, "serving_version",
                      (json_int_t)v->serving, "store_version", (json_int_t)v->store_version,
                      "loaded_at", time_json(v->loaded_at), "loads", (json_int_t)v->n_loaded,
                      "refusals", (json_int_t)v->n_refused, "last_refused", refused);
        if (o && v->check_error[0])
            json_object_set_new(o, "check_error", json_string(v->check_error));
        if (o)
            json_object_set_new(o, "pinned_version",
                                v->pinned ? json_integer((json_int_t)v->pinned) : json_null());
        json_array_append_new(list, o);
    }
    pthread_mutex_unlock(&w->lock);
    return list;
}

void rs_watcher_render(rs_watcher *w, FILE *out)
{
    pthread_mutex_lock(&w->lock);
    fputs("# HELP recsys_model_reloads_total Versions the watcher tried to load, by result.\n"
          "# TYPE recsys_model_reloads_total counter\n",
          out);
    for (int i = 0; i < w->n_vars; i++) {
        fprintf(out, "recsys_model_reloads_total{variant=\"%s\",result=\"loaded\"} %llu\n",
                w->vars[i].name, (unsigned long long)w->vars[i].n_loaded);
        fprintf(out, "recsys_model_reloads_total{variant=\"%s\",result=\"refused\"} %llu\n",
                w->vars[i].name, (unsigned long long)w->vars[i].n_refused);
    }
    fputs("# HELP recsys_model_refused_version Last version refused by validation (0: none).\n"
          "# TYPE recsys_model_refused_version gauge\n",
          out);
    for (int i = 0; i < w->n_vars; i++)
        fprintf(out, "recsys_model_refused_version{variant=\"%s\"} %llu\n", w->vars[i].name,
                (unsigned long long)w->vars[i].refused);
    fputs("# HELP recsys_model_pinned_version The version a variant is pinned to (0: it follows "
          "the store's current version).\n"
          "# TYPE recsys_model_pinned_version gauge\n",
          out);
    for (int i = 0; i < w->n_vars; i++)
        fprintf(out, "recsys_model_pinned_version{variant=\"%s\"} %llu\n", w->vars[i].name,
                (unsigned long long)w->vars[i].pinned);
    fputs("# HELP recsys_store_current_version The variant's current version in the store (differs "
          "from recsys_model_version while a version is refused or not yet loaded).\n"
          "# TYPE recsys_store_current_version gauge\n",
          out);
    for (int i = 0; i < w->n_vars; i++)
        fprintf(out, "recsys_store_current_version{variant=\"%s\"} %llu\n", w->vars[i].name,
                (unsigned long long)w->vars[i].store_version);
    fprintf(out,
            "# HELP recsys_reload_checks_total Checks of the store for new versions.\n"
            "# TYPE recsys_reload_checks_total counter\n"
            "recsys_reload_checks_total %llu\n"
            "# HELP recsys_reload_last_check_timestamp_seconds When the store was last checked.\n"
            "# TYPE recsys_reload_last_check_timestamp_seconds gauge\n"
            "recsys_reload_last_check_timestamp_seconds %.3f\n"
            "# HELP recsys_store_swaps_total Times the store directory was replaced and reopened.\n"
            "# TYPE recsys_store_swaps_total counter\n"
            "recsys_store_swaps_total %llu\n"
            "# HELP recsys_store_swap_failures_total Replaced store directories that could not be "
            "opened.\n"
            "# TYPE recsys_store_swap_failures_total counter\n"
            "recsys_store_swap_failures_total %llu\n"
            "# HELP recsys_stores_open Store environments open (more than 1 while requests still "
            "use a replaced one).\n"
            "# TYPE recsys_stores_open gauge\n"
            "recsys_stores_open %d\n",
            (unsigned long long)w->checks, w->last_check, (unsigned long long)w->swaps,
            (unsigned long long)w->swap_failures, w->n_stores);
    fputs("# HELP recsys_store_file_faults_total Times the store's data.mdb was found truncated, "
          "replaced or deleted under the server.\n"
          "# TYPE recsys_store_file_faults_total counter\n",
          out);
    for (int i = RS_STORE_FILE_TRUNCATED; i <= RS_STORE_FILE_DELETED; i++)
        fprintf(out, "recsys_store_file_faults_total{fault=\"%s\"} %llu\n",
                rs_store_file_state_name((rs_store_file_state)i),
                (unsigned long long)w->file_faults[i]);
    fprintf(out,
            "# HELP recsys_store_file_intact 1 while the store's data.mdb is the file the server "
            "mapped, whole.\n"
            "# TYPE recsys_store_file_intact gauge\n"
            "recsys_store_file_intact %d\n",
            w->file_state == RS_STORE_FILE_OK);
    pthread_mutex_unlock(&w->lock);
}

void rs_watcher_stop(rs_watcher *w)
{
    if (!w) return;
    pthread_mutex_lock(&w->lock);
    int started = w->started;
    w->stop = 1;
    pthread_cond_broadcast(&w->wake);
    pthread_mutex_unlock(&w->lock);
    if (!started) return;
    pthread_join(w->thread, NULL);
    /* Wake admin requests still waiting for a pass. */
    pthread_mutex_lock(&w->lock);
    w->started = 0;
    pthread_cond_broadcast(&w->done);
    pthread_mutex_unlock(&w->lock);
}

void rs_watcher_free(rs_watcher *w)
{
    if (!w) return;
    rs_watcher_stop(w);
    for (int i = 0; i < w->n_stores; i++) rs_store_close(w->stores[i].store);
    if (w->last_report) json_decref(w->last_report);
    pthread_cond_destroy(&w->wake);
    pthread_cond_destroy(&w->done);
    pthread_mutex_destroy(&w->lock);
    pthread_mutex_destroy(&w->pin_lock);
    free(w->store_dir);
    free(w);
}
