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

#include "api.h"
#include "blas_kernel.h"
#include "config.h"
#include "conffile.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "ops.h"
#include "registry.h"
#include "stats.h"
#include "store.h"
#include "watcher.h"

#define RS_SERVER_VERSION "0.1.0"

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
    return rs_store_open(dir, RS_STORE_READONLY, map_size, store, err);
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
    rs_log_set_level(cfg.log_level);

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
    char *admin_token = NULL;
    int loaded = 0;
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
    rs_log(RS_LOG_INFO,
           "listening on http://%s (%u threads, BLAS kernel %s, %d variant%s, default %s)", where,
           cfg.http.threads, rs_blas_kernel_name(), loaded, loaded == 1 ? "" : "s",
           rs_registry_slot_name(reg, rs_registry_default_slot(reg)));
    if (cfg.port_file && write_port_file(cfg.port_file, rs_http_port(srv), &err) != 0) goto out;

    int sig = 0;
    for (;;) {
        if (sigwait(&stop_signals, &sig) != 0) continue;
        if (sig != SIGHUP) break;
        rs_log(RS_LOG_INFO, "SIGHUP: checking the store for new versions");
        rs_watcher_request(watcher);
    }
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
    if (cfg.port_file && rc == 0) unlink(cfg.port_file);
    rs_config_free(&cfg);
    return rc;
}
