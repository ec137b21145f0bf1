/* main.c - recserve: serves top-N recommendations from an LMDB snapshot
 * store over HTTP (API v1, proto/openapi.yaml).
 *
 * Start-up: parse the command line, open the store read-only, load the
 * current version of every variant (or of those the config file lists),
 * choose the default variant, start the reload watcher and the HTTP pool.
 * Then the main thread waits for a signal: SIGHUP asks the watcher to check
 * the store now; SIGTERM or SIGINT stop accepting connections, let in-flight
 * requests finish, and exit 0.
 * Exit codes: 0 clean stop, 1 runtime failure (store, models, listen),
 * 2 bad command line.
 */
#include <cblas.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "accesslog.h"
#include "api.h"
#include "apikeys.h"
#include "blas_kernel.h"
#include "config.h"
#include "conffile.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "notify.h"
#include "ops.h"
#include "process.h"
#include "registry.h"
#include "stats.h"
#include "store.h"
#include "watcher.h"

/* Writes the port to path atomically (temp file + rename), so a reader never
 * sees a partial number. */
static int write_port_file(const char *path, uint16_t port, rs_error *err)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
        return rs_fail(err, "--port-file %s: path too long", path);
    FILE *f = fopen(tmp, "w");
    if (!f) return rs_fail(err, "--port-file %s: %s", tmp, strerror(errno));
    int ok = fprintf(f, "%u\n", (unsigned)port) > 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        unlink(tmp);
        return rs_fail(err, "--port-file %s: could not write it", path);
    }
    return 0;
}

static int open_store(const char *dir, size_t map_size, rs_store **store, rs_error *err)
{
    struct stat st;
    if (stat(dir, &st) != 0)
        return rs_fail(err, "store %s: %s (train and publish a model with rectrain first)", dir,
                       strerror(errno));
    if (!S_ISDIR(st.st_mode)) return rs_fail(err, "store %s: not a directory", dir);
    if (rs_store_open(dir, RS_STORE_READONLY, map_size, store, err) != 0) return -1;
    if (rs_store_nolock(*store))
        rs_log(RS_LOG_WARN,
               "store %s: lock.mdb is not writable by this process: reading without LMDB's "
               "lock file, so nothing may publish into this store while the server runs "
               "(ship a new store and switch the link instead)",
               dir);
    return 0;
}

static void describe_listen(const rs_server_config *cfg, uint16_t port, char *buf, size_t cap)
{
    /* Replace the configured port (maybe 0) by the bound one. */
    const char *colon = strrchr(cfg->listen, ':');
    if (colon)
        snprintf(buf, cap, "%.*s:%u", (int)(colon - cfg->listen), cfg->listen, port);
    else
        snprintf(buf, cap, "127.0.0.1:%u", port);
}

/* Warns about variants the config names that the watcher does not serve
 * (yet): their users get the default variant until they are published. */
static void check_config_variants(const rs_server_config *cfg, rs_registry *reg)
{
    const rs_conffile *f = cfg->file;
    if (!f || !f->ab) return;
    for (int e = 0; e < f->ab->n; e++) {
        const rs_ab_experiment *x = &f->ab->experiments[e];
        for (int a = 0; a < x->n_arms; a++) {
            const char *name = x->arms[a].variant;
            rs_loaded *l = rs_registry_acquire(reg, name, strlen(name));
            if (l)
                rs_loaded_release(l);
            else
                rs_log(RS_LOG_WARN,
                       "experiment %s: variant %s is not loaded; its users get the default "
                       "variant until a valid version of it is published",
                       x->name, name);
        }
    }
}

/* ---- TLS ---- */

#define TLS_FILE_MAX (1024 * 1024)

/* Reads the certificate chain and key for libmicrohttpd (GnuTLS parses
 * them when the daemon starts). Warns when the key is readable by others. */
static int load_tls(rs_server_config *cfg, char **cert, char **key, rs_error *err)
{
    size_t len;
    if (rs_read_small_file(cfg->tls_cert_file, TLS_FILE_MAX, cert, &len, err) != 0 ||
        rs_read_small_file(cfg->tls_key_file, TLS_FILE_MAX, key, &len, err) != 0) {
        rs_error_prefix(err, "TLS");
        return -1;
    }
    if (!strstr(*cert, "-----BEGIN CERTIFICATE-----"))
        return rs_fail(err, "TLS: %s holds no PEM certificate", cfg->tls_cert_file);
    if (!strstr(*key, "PRIVATE KEY-----"))
        return rs_fail(err, "TLS: %s holds no PEM private key", cfg->tls_key_file);
    struct stat st;
    if (stat(cfg->tls_key_file, &st) == 0 && (st.st_mode & 077))
        rs_log(RS_LOG_WARN, "TLS key %s is readable by other users (chmod 600 it)",
               cfg->tls_key_file);
    cfg->http.tls_cert_pem = *cert;
    cfg->http.tls_key_pem = *key;
    return 0;
}

/* --check-config: the options and the file parsed already (rs_config_parse
 * validates every field); what is left is the admin token file. */
static int check_config(rs_server_config *cfg)
{
    rs_error err;
    char *token = NULL;
    int rc = 0;
    char *cert = NULL, *key = NULL;
    if ((cfg->admin_token_file && rs_admin_token_load(cfg->admin_token_file, &token, &err) != 0) ||
        (cfg->tls_cert_file && load_tls(cfg, &cert, &key, &err) != 0)) {
        fprintf(stderr, "recserve: %s\n", err.msg);
        rc = 2;
    } else {
        const rs_conffile *f = cfg->file;
        printf("recserve: config valid: store %s, listen %s (%s), %s, %d experiment(s), %d "
               "pin(s), admin %s\n",
               cfg->store_dir, cfg->listen, cert ? "https" : "http",
               f && f->variants ? "listed variants" : "every variant", f && f->ab ? f->ab->n : 0,
               f ? f->n_pins : 0, token ? "enabled" : "disabled");
    }
    free(cert);
    if (key) memset(key, 0, strlen(key));
    free(key);
    if (token) {
        memset(token, 0, strlen(token));
        free(token);
    }
    rs_config_free(cfg);
    return rc;
}

/* ---- readiness ---- */

static int ready(rs_registry *reg)
{
    rs_loaded *l = rs_registry_acquire(reg, NULL, 0);
    if (l) rs_loaded_release(l);
    return l != NULL;
}

static void notify_ready(rs_registry *reg)
{
    char state[128];
    int n = 0;
    for (int i = 0; i < rs_registry_slots(reg); i++) {
        rs_loaded *l = rs_registry_acquire_slot(reg, i);
        if (l) n++;
        if (l) rs_loaded_release(l);
    }
    snprintf(state, sizeof(state), "READY=1\nSTATUS=serving %d variant%s", n, n == 1 ? "" : "s");
    if (rs_notify(state) != 0) rs_log(RS_LOG_WARN, "NOTIFY_SOCKET: %s", strerror(errno));
}

/* ---- SIGHUP: the config file again ---- */

/* Configs replaced by a reload: their experiments may still be read by
 * requests in flight, so they are freed only at exit. */
typedef struct retired_config {
    rs_server_config cfg;
    rs_api_keys *api_keys; /* the keys that were in force after this reload */
    struct retired_config *next;
} retired_config;

static const rs_watcher_pin_entry *find_pin(const rs_conffile *f, const char *variant)
{
    for (int i = 0; f && i < f->n_pins; i++)
        if (strcmp(f->pins[i].variant, variant) == 0) return &f->pins[i];
    return NULL;
}

/* Moves the watcher's pins from old's "pins" to new's: changed and new pins
 * are applied, pins the file no longer lists are lifted (pins set by the
 * admin route on variants the file never named are left alone). */
static void apply_pins(rs_watcher *w, const rs_conffile *old, const rs_conffile *new)
{
    for (int i = 0; new &&i < new->n_pins; i++) {
        const rs_watcher_pin_entry *p = &new->pins[i];
        if (rs_watcher_pinned(w, p->variant) == p->version) continue;
        json_t *report = NULL;
        rs_error err;
        if (rs_watcher_pin(w, p->variant, p->version, 30.0, &report, &err) != 0)
            rs_log(RS_LOG_ERROR, "SIGHUP: pin %s to version %llu: %s", p->variant,
                   (unsigned long long)p->version, err.msg);
        else
            rs_log(RS_LOG_INFO, "SIGHUP: %s pinned to version %llu", p->variant,
                   (unsigned long long)p->version);
        json_decref(report);
    }
    for (int i = 0; old && i < old->n_pins; i++) {
        const char *v = old->pins[i].variant;
        if (find_pin(new, v) || rs_watcher_pinned(w, v) != old->pins[i].version) continue;
        json_t *report = NULL;
        rs_error err;
        if (rs_watcher_pin(w, v, 0, 30.0, &report, &err) != 0)
            rs_log(RS_LOG_ERROR, "SIGHUP: unpin %s: %s", v, err.msg);
        else
            rs_log(RS_LOG_INFO, "SIGHUP: %s unpinned (no longer in the config's pins)", v);
        json_decref(report);
    }
}

/* Settings a running server cannot change: say so instead of ignoring
 * them silently. */
static void warn_restart_only(const rs_server_config *old, const rs_server_config *new)
{
    if (strcmp(old->store_dir, new->store_dir) != 0)
        rs_log(RS_LOG_WARN, "SIGHUP: store changed to %s: takes effect at restart", new->store_dir);
    if (strcmp(old->listen, new->listen) != 0)
        rs_log(RS_LOG_WARN, "SIGHUP: listen changed to %s: takes effect at restart", new->listen);
    const rs_conffile *a = old->file, *b = new->file;
    int same = (a && a->variants ? a->n_variants : -1) == (b && b->variants ? b->n_variants : -1);
    for (int i = 0; same && a && a->variants && i < a->n_variants; i++)
        same = strcmp(a->variants[i], b->variants[i]) == 0;
    if (!same) rs_log(RS_LOG_WARN, "SIGHUP: \"variants\" changed: takes effect at restart");
}

/* Reads the config file again (with the same command line, which still
 * overrides it) and applies what can change while serving: experiments,
 * pins and the log level. A file that does not validate changes nothing. */
/* Reads the API key file named by next (if any) into r->api_keys (freed at
 * exit: requests in flight may still read a replaced set). 0 on success or
 * when no file is named. */
static int reload_api_keys(const rs_server_config *next, retired_config *r, rs_error *err)
{
    if (!next->api_keys_file) return 0;
    return rs_api_keys_load(next->api_keys_file, &r->api_keys, err);
}

static void reload_config(int argc, char **argv, rs_server_config *cfg, rs_ops *ops,
                          rs_watcher *watcher, rs_http_server *srv, retired_config **retired)
{
    retired_config *r = calloc(1, sizeof(*r));
    rs_error err;
    if (!r) {
        rs_fail(&err, "out of memory");
        goto refused;
    }
    if (rs_config_parse(argc, argv, &r->cfg, &err) != 0) goto refused;
    if (!cfg->api_keys_file != !r->cfg.api_keys_file) {
        rs_fail(&err, "API keys can be rotated but not turned on or off without a restart");
        goto refused;
    }
    if (reload_api_keys(&r->cfg, r, &err) != 0) goto refused;
    const rs_ab *ab = r->cfg.file ? r->cfg.file->ab : NULL;
    if (rs_ops_set_experiments(ops, ab, &err) != 0) goto refused;
    if (r->api_keys) {
        rs_http_set_api_keys(srv, r->api_keys);
        rs_log(RS_LOG_INFO, "SIGHUP: API keys: %d, from %s", rs_api_keys_count(r->api_keys),
               r->cfg.api_keys_file);
    }
    warn_restart_only(cfg, &r->cfg);
    apply_pins(watcher, cfg->file, r->cfg.file);
    rs_log_set_level(r->cfg.log_level);
    rs_log(RS_LOG_INFO, "SIGHUP: config %s applied: %d experiment(s), %d pin(s), log level %s",
           cfg->config_file ? cfg->config_file : "(command line only)", ab ? ab->n : 0,
           r->cfg.file ? r->cfg.file->n_pins : 0, rs_log_level_name(r->cfg.log_level));
    /* The new config becomes the running one; the old one is retired. */
    rs_server_config old = *cfg;
    *cfg = r->cfg;
    r->cfg = old;
    r->next = *retired;
    *retired = r;
    rs_ops_count_config_reload(ops, 1);
    return;
refused:
    rs_log(RS_LOG_ERROR, "SIGHUP: config refused, the running one is kept: %s", err.msg);
    if (r) {
        rs_config_free(&r->cfg);
        rs_api_keys_free(r->api_keys);
        free(r);
    }
    rs_ops_count_config_reload(ops, 0);
}

int main(int argc, char **argv)
{
    rs_blas_kernel_ensure(argv);
    rs_server_config cfg;
    rs_error err;
    if (rs_config_parse(argc, argv, &cfg, &err) != 0) {
        fprintf(stderr, "recserve: %s\n", err.msg);
        rs_config_free(&cfg);
        return 2;
    }
    if (cfg.help || cfg.help_markdown || cfg.version || cfg.print_routes) {
        if (cfg.help) rs_config_usage(stdout, "recserve");
        if (cfg.help_markdown) rs_config_markdown(stdout);
        if (cfg.version) printf("recserve %s\n", RS_SERVER_VERSION);
        if (cfg.print_routes) rs_api_print_routes(stdout);
        rs_config_free(&cfg);
        return 0;
    }
    if (cfg.check_config) return check_config(&cfg);
    rs_log_set_level(cfg.log_level);
    rs_log(RS_LOG_DEBUG,
           "settings: store %s, listen %s, %u threads, reload every %gs, checksums %s, config "
           "%s, admin %s",
           cfg.store_dir, cfg.listen, cfg.http.threads, cfg.reload_interval,
           cfg.verify ? "verified" : "not verified", cfg.config_file ? cfg.config_file : "none",
           cfg.admin_token_file ? "enabled" : "disabled");

    /* Signals are taken synchronously by the main thread (sigwait): block
     * them before any thread starts so that every thread inherits the mask. */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Parallelism comes from concurrent requests; one BLAS thread each. */
    openblas_set_num_threads(1);

    int rc = 1;
    rs_store *store = NULL;
    rs_stats *stats = NULL;
    rs_registry *reg = NULL;
    rs_api *api = NULL;
    rs_http_server *srv = NULL;
    rs_watcher *watcher = NULL;
    rs_ops *ops = NULL;
    rs_events *events = NULL;
    char *admin_token = NULL, *tls_cert = NULL, *tls_key = NULL;
    rs_api_keys *api_keys = NULL; /* the first set; later ones hang off retired configs */
    rs_access_log *access_log = NULL;
    int loaded = 0;
    retired_config *retired = NULL;
    const rs_conffile *file = cfg.file;
    rs_watcher_options wopt = {.store_dir = cfg.store_dir,
                               .variants = file ? (const char *const *)file->variants : NULL,
                               .n_variants = file ? file->n_variants : 0,
                               .interval = cfg.reload_interval,
                               .pins = file ? file->pins : NULL,
                               .n_pins = file ? file->n_pins : 0,
                               .map_size = cfg.map_size,
                               .verify = cfg.verify};
    if (cfg.admin_token_file && rs_admin_token_load(cfg.admin_token_file, &admin_token, &err) != 0)
        goto out;
    if (cfg.tls_cert_file && load_tls(&cfg, &tls_cert, &tls_key, &err) != 0) goto out;
    if (cfg.access_log) {
        if (rs_access_log_open(cfg.access_log, 1.0 / cfg.access_log_one_in, &access_log, &err) != 0)
            goto out;
        cfg.http.access_log = access_log;
    }
    if (cfg.api_keys_file) {
        if (rs_api_keys_load(cfg.api_keys_file, &api_keys, &err) != 0) goto out;
        cfg.http.api_keys = api_keys;
        rs_log(RS_LOG_INFO, "API keys: %d, from %s", rs_api_keys_count(api_keys),
               cfg.api_keys_file);
    }
    if (open_store(cfg.store_dir, cfg.map_size, &store, &err) != 0 ||
        rs_http_stats_create(rs_api_routes, rs_api_n_routes, &stats, &err) != 0 ||
        rs_registry_create(store, stats, &cfg.retrieval, &reg, &err) != 0)
        goto out;
    /* From here on the watcher owns the store. */
    if (rs_watcher_create(reg, store, &wopt, &watcher, &err) != 0) goto out;
    store = NULL;
    if (rs_watcher_load_initial(watcher, &loaded, &err) != 0) goto out;
    if (rs_registry_set_default(reg, cfg.default_variant, &err) != 0 ||
        rs_api_create(reg, stats, &cfg.limits, &api, &err) != 0 ||
        rs_ops_create(reg, watcher, file ? file->ab : NULL, admin_token, &ops, &err) != 0)
        goto out;
    check_config_variants(&cfg, reg);
    rs_api_attach_ops(api, ops);
    if (cfg.events.dir && rs_events_open(&cfg.events, file ? file->ab : NULL, &events, &err) != 0)
        goto out;
    rs_api_attach_events(api, events);
    if (rs_watcher_start(watcher, &err) != 0) goto out;
    if (rs_http_start(&cfg.http, rs_api_routes, rs_api_n_routes, api, stats, &srv, &err) != 0) {
        rs_error_prefix(&err, "--listen %s", cfg.listen);
        goto out;
    }
    rs_api_attach_server(api, srv);
    char where[300];
    describe_listen(&cfg, rs_http_port(srv), where, sizeof(where));
    rs_log(
        RS_LOG_INFO, "listening on %s://%s (%u threads, BLAS kernel %s, %d variant%s, default %s)",
        cfg.http.tls_cert_pem ? "https" : "http", where, cfg.http.threads, rs_blas_kernel_name(),
        loaded, loaded == 1 ? "" : "s", rs_registry_slot_name(reg, rs_registry_default_slot(reg)));
    if (cfg.port_file && write_port_file(cfg.port_file, rs_http_port(srv), &err) != 0) goto out;

    int sig = 0, notified = 0;
    for (;;) {
        /* Ready for systemd once a model answers: at once, or (configured
         * variants awaiting their first publish) when the watcher loads one. */
        if (!notified && (notified = ready(reg))) notify_ready(reg);
        if (!notified) {
            struct timespec poll = {0, 200 * 1000 * 1000};
            sig = sigtimedwait(&stop_signals, NULL, &poll);
            if (sig < 0) continue;
        } else if (sigwait(&stop_signals, &sig) != 0) {
            continue;
        }
        if (sig != SIGHUP) break;
        if (cfg.config_file || cfg.api_keys_file)
            reload_config(argc, argv, &cfg, ops, watcher, srv, &retired);
        if (access_log && rs_access_log_reopen(access_log, &err) != 0)
            rs_log(RS_LOG_ERROR, "SIGHUP: %s (logging on to the old file)", err.msg);
        rs_log(RS_LOG_INFO, "SIGHUP: checking the store for new versions");
        rs_watcher_request(watcher);
    }
    if (rs_notify("STOPPING=1") != 0) rs_log(RS_LOG_WARN, "NOTIFY_SOCKET: %s", strerror(errno));
    rs_log(RS_LOG_INFO, "%s: finishing %u in-flight request(s), then stopping",
           sig == SIGTERM ? "SIGTERM" : "SIGINT", rs_http_in_flight(srv));
    unsigned left = rs_http_stop(srv, cfg.shutdown_grace);
    srv = NULL;
    if (left)
        rs_log(RS_LOG_WARN, "%u request(s) did not finish within %.0fs", left, cfg.shutdown_grace);
    rs_log(RS_LOG_INFO, "stopped");
    rc = 0;
out:
    if (rc != 0) rs_log(RS_LOG_ERROR, "%s", err.msg);
    if (srv) rs_http_stop(srv, 0);
    /* No request runs now; the watcher stops before the versions go, and
     * closes its stores only after them. */
    rs_watcher_stop(watcher);
    rs_events_close(events); /* commits what is queued (nothing: no request runs) */
    rs_registry_free(reg);
    rs_api_free(api);
    rs_ops_free(ops);
    rs_watcher_free(watcher);
    rs_stats_free(stats);
    rs_store_close(store);
    free(admin_token);
    rs_api_keys_free(api_keys);
    rs_access_log_close(access_log); /* after the daemon stopped: no writer left */
    free(tls_cert);
    if (tls_key) {
        memset(tls_key, 0, strlen(tls_key)); /* the secret does not linger in freed memory */
        free(tls_key);
    }
    if (cfg.port_file && rc == 0) unlink(cfg.port_file);
    rs_config_free(&cfg);
    while (retired) {
        retired_config *next = retired->next;
        rs_config_free(&retired->cfg);
        rs_api_keys_free(retired->api_keys);
        free(retired);
        retired = next;
    }
    return rc;
}
