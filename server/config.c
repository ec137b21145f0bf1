/* config.c - recserve's option table and command-line parsing (see
 * config.h). Adding a setting is adding a row: parsing, --help, the config
 * file key and the Markdown in etc/README.md follow from it. */
#include "config.h"

#include <netdb.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffile.h"
#include "events_parse.h"
#include "store.h"

#define STRINGIFY_(x) #x
#define STRINGIFY(x)  STRINGIFY_(x)
/* The target of a row: a field of rs_server_config. */
#define TARGET(field)                                                                              \
    .offset = offsetof(rs_server_config, field), .size = sizeof(((rs_server_config *)0)->field)

static const rs_option_choice retrieval_methods[] = {{"auto", RS_RETRIEVAL_AUTO},
                                                     {"bruteforce", RS_RETRIEVAL_BRUTE},
                                                     {"midx", RS_RETRIEVAL_MIDX},
                                                     {0}};
static const rs_option_choice log_levels[] = {{"debug", RS_LOG_DEBUG},
                                              {"info", RS_LOG_INFO},
                                              {"warn", RS_LOG_WARN},
                                              {"error", RS_LOG_ERROR},
                                              {0}};

static int check_variant_name(const char *name, rs_error *err)
{
    return rs_store_check_name("variant", name, err);
}

const rs_option rs_server_options[] = {
    {.name = "store",
     .arg = "DIR",
     .file_key = "store",
     .type = RS_OPT_PATH,
     TARGET(store_dir),
     .help = "LMDB snapshot store written by rectrain (required)"},
    {.name = "map-size",
     .arg = "BYTES",
     .type = RS_OPT_SIZE,
     TARGET(map_size),
     .min = 0,
     .max = 1ULL << 44,
     .default_text = "64 GiB of address space, halved until the system grants it",
     .help = "LMDB map size for the store (address space, not memory or disk): at least the "
             "size of data.mdb, which a trainer may grow while recserve serves; 0: the default"},
    {.name = "listen",
     .arg = "ADDR",
     .file_key = "listen",
     .type = RS_OPT_STRING,
     TARGET(listen),
     .default_value = "127.0.0.1:8080",
     .help = "HOST:PORT, [IPV6]:PORT or PORT (loopback); port 0 picks a free port, logged and "
             "--port-file'd"},
    {.name = "threads",
     .arg = "N",
     .file_key = "threads",
     .type = RS_OPT_UINT,
     TARGET(http.threads),
     .min = 1,
     .max = 1024,
     .default_text = "one per core",
     .help = "HTTP worker threads"},
    {.name = "max-body",
     .arg = "BYTES",
     .type = RS_OPT_SIZE,
     TARGET(http.max_body),
     .min = 64,
     .max = 1 << 30,
     .default_value = "1M",
     .help = "largest request body; larger bodies get 413"},
    {.name = "timeout",
     .arg = "SECS",
     .type = RS_OPT_UINT,
     TARGET(http.timeout_s),
     .min = 1,
     .max = 3600,
     .default_value = "30",
     .help = "close connections idle this long"},
    {.name = "max-connections",
     .arg = "N",
     .type = RS_OPT_UINT,
     TARGET(http.max_connections),
     .min = 1,
     .max = 1000000,
     .default_value = "1024",
     .help = "concurrent connections; one more is answered 503 too_many_connections and closed"},
    {.name = "max-per-address",
     .arg = "N",
     .type = RS_OPT_UINT,
     TARGET(http.max_per_address),
     .min = 0,
     .max = 1000000,
     .default_value = "256",
     .help = "concurrent connections from one client address (a proxy in front counts as one); "
             "one more is answered 503 too_many_connections; 0: no limit"},
    {.name = "request-timeout",
     .arg = "SECS",
     .type = RS_OPT_SECONDS,
     TARGET(http.request_timeout_s),
     .min = 0,
     .max = 3600,
     .min_nonzero = 0.1,
     .default_value = "60",
     .help = "a request's line, headers and body must arrive within this long of the connection "
             "being ready for it (accepted, or the previous answer sent), however slowly they "
             "trickle in; else 408 and the connection is closed; 0: no deadline"},
    {.name = "default-variant",
     .arg = "NAME",
     .file_key = "default_variant",
     .type = RS_OPT_STRING,
     TARGET(default_variant),
     .check = check_variant_name,
     .default_text = "the one named \"default\", else the first in the config file's "
                     "\"variants\", else the first by name",
     .help = "variant answering requests that name none and that no experiment claims"},
    {.name = "retrieval",
     .arg = "METHOD",
     .type = RS_OPT_ENUM,
     TARGET(retrieval.method),
     .choices = retrieval_methods,
     .default_value = "auto",
     .help = "top-N search: auto is midx from " STRINGIFY(
         RS_RETRIEVAL_AUTO_MIN_ITEMS) " items "
                                      "on, else bruteforce; midx maps the inverted multi-index the "
                                      "trainer published "
                                      "with the version, or builds one when it has none"},
    {.name = "midx-k",
     .arg = "K",
     .type = RS_OPT_UINT,
     TARGET(retrieval.midx_k),
     .min = 1,
     .max = 4096,
     .default_text = "the published index's, about sqrt(items / 4)",
     .help = "MIDX codewords per codebook; another value than the published index's builds a "
             "new index at load"},
    {.name = "midx-budget",
     .arg = "N",
     .type = RS_OPT_UINT,
     TARGET(retrieval.midx_budget),
     .min = 0,
     .max = 1ULL << 40,
     .default_value = "0",
     .help = "approximate MIDX: examine about N items per query; 0 is the exact top-N"},
    {.name = "max-n",
     .arg = "N",
     .type = RS_OPT_UINT,
     TARGET(limits.max_n),
     .min = 1,
     .max = 1000000,
     .default_value = STRINGIFY(RS_DEFAULT_MAX_N),
     .help = "largest n a client may ask for"},
    {.name = "max-history",
     .arg = "N",
     .type = RS_OPT_UINT,
     TARGET(limits.max_history),
     .min = 1,
     .max = 10000000,
     .default_value = STRINGIFY(RS_DEFAULT_MAX_HISTORY),
     .help = "longest ad-hoc history; longer ones get 422"},
    {.name = "max-exclude",
     .arg = "N",
     .type = RS_OPT_UINT,
     TARGET(limits.max_exclude),
     .min = 0,
     .max = 10000000,
     .default_value = STRINGIFY(RS_DEFAULT_MAX_EXCLUDE),
     .help = "longest exclusion list; longer ones get 422"},
    {.name = "max-batch",
     .arg = "N",
     .type = RS_OPT_UINT,
     TARGET(limits.max_batch),
     .min = 1,
     .max = 10000,
     .default_value = STRINGIFY(RS_DEFAULT_MAX_BATCH),
     .help = "most queries in one POST /v1/recommend/batch; more get 422"},
    {.name = "shutdown-grace",
     .arg = "SECS",
     .type = RS_OPT_SECONDS,
     TARGET(shutdown_grace),
     .min = 0,
     .max = 3600,
     .default_value = "10",
     .help = "on SIGTERM or SIGINT, how long in-flight requests may take to finish"},
    {.name = "no-verify",
     .file_key = "reload.verify",
     .type = RS_OPT_FLAG,
     TARGET(verify),
     .flag_value = 0,
     .default_value = "true",
     .help = "skip the tensor checksum verification of a version before it serves"},
    {.name = "port-file",
     .arg = "FILE",
     .type = RS_OPT_PATH,
     TARGET(port_file),
     .help = "write the bound port number to FILE once listening"},
    {.name = "config",
     .arg = "FILE",
     .type = RS_OPT_PATH,
     TARGET(config_file),
     .flags = RS_OPT_EARLY,
     .help = "serving config file (JSON, see etc/README.md): variants, experiments and the "
             "settings with a config-file key; the other options override its values"},
    {.name = "reload-interval",
     .arg = "SECS",
     .file_key = "reload.interval_seconds",
     .type = RS_OPT_SECONDS,
     TARGET(reload_interval),
     .min = 0,
     .max = 86400,
     .min_nonzero = 0.01,
     .default_value = "1",
     .help = "poll the store for new versions this often; 0: only on SIGHUP or "
             "POST /v1/admin/reload"},
    {.name = "admin-token-file",
     .arg = "FILE",
     .file_key = "admin.token_file",
     .type = RS_OPT_PATH,
     TARGET(admin_token_file),
     .default_text = "admin endpoints disabled",
     .help = "enable the admin endpoints for the bearer token on the first line of FILE"},
    {.name = "access-log",
     .arg = "FILE",
     .file_key = "access_log.path",
     .type = RS_OPT_PATH,
     TARGET(access_log),
     .default_text = "no access log",
     .help = "append one JSON line per answer (time, request id, client, method, path, route, "
             "status, latency, bytes, variant, version) to FILE, \"-\" for stderr; reopened on "
             "SIGHUP (log rotation)"},
    {.name = "access-log-sample",
     .arg = "N",
     .file_key = "access_log.one_in",
     .type = RS_OPT_UINT,
     TARGET(access_log_one_in),
     .min = 1,
     .max = 1000000,
     .default_value = "1",
     .help = "log one answer in N, chosen by request id (the same ones on every replica); "
             "answers with status 500 or more are always logged"},
    {.name = "api-keys-file",
     .arg = "FILE",
     .file_key = "api_keys_file",
     .type = RS_OPT_PATH,
     TARGET(api_keys_file),
     .default_text = "no key needed",
     .help = "require an API key (X-Api-Key or Authorization: Bearer) on the /v1 routes but "
             "admin: one key per line, \"KEY\" or \"NAME KEY\"; read again on SIGHUP"},
    {.name = "tls-cert",
     .arg = "FILE",
     .file_key = "tls.cert_file",
     .type = RS_OPT_PATH,
     TARGET(tls_cert_file),
     .default_text = "plain HTTP",
     .help = "serve HTTPS (libmicrohttpd with GnuTLS) with the PEM certificate chain in FILE; "
             "needs --tls-key"},
    {.name = "tls-key",
     .arg = "FILE",
     .file_key = "tls.key_file",
     .type = RS_OPT_PATH,
     TARGET(tls_key_file),
     .help = "the PEM private key of --tls-cert (keep it readable by the server's user only)"},
    {.name = "events-dir",
     .arg = "DIR",
     .file_key = "events.dir",
     .type = RS_OPT_PATH,
     TARGET(events.dir),
     .default_text = "events off",
     .help = "the events environment (an LMDB directory of its own, created when missing): "
             "enables POST /v1/events, fresh histories and experiment reports"},
    {.name = "events-map-size",
     .arg = "BYTES",
     .file_key = "events.map_size",
     .type = RS_OPT_SIZE,
     TARGET(events.map_size),
     .min = 1 << 20,
     .max = 1ULL << 44,
     .default_value = "1024M",
     .help = "LMDB map size of the events environment: the most its data.mdb may grow to"},
    {.name = "events-max-batch",
     .arg = "N",
     .file_key = "events.max_batch",
     .type = RS_OPT_UINT,
     TARGET(events.max_batch),
     .min = 1,
     .max = 100000,
     .default_value = "1000",
     .help = "most events in one POST /v1/events; more get 422"},
    {.name = "events-rate",
     .arg = "N",
     .file_key = "events.rate",
     .type = RS_OPT_UINT,
     TARGET(events.rate),
     .min = 0,
     .max = 100000000,
     .default_value = "0",
     .help = "events accepted per second over the server (bursts of one second's worth); "
             "a batch over it gets 429 with Retry-After; 0: no limit"},
    {.name = "events-max-pending",
     .arg = "N",
     .file_key = "events.max_pending",
     .type = RS_OPT_UINT,
     TARGET(events.max_pending),
     .min = 1,
     .max = 100000000,
     .default_value = "100000",
     .help = "events queued for the writer at most; a batch beyond gets 503 events_busy"},
    {.name = "event-types",
     .arg = "LIST",
     .file_key = "events.types",
     .type = RS_OPT_STRING,
     TARGET(events.types),
     .default_value = RS_EVENTS_DEFAULT_TYPES,
     .help = "the event types accepted, comma-separated (a-z, 0-9, _)"},
    {.name = "positive-types",
     .arg = "LIST",
     .file_key = "events.positive_types",
     .type = RS_OPT_STRING,
     TARGET(events.positive),
     .default_value = RS_EVENTS_DEFAULT_POSITIVE,
     .help = "the types that count: added to fresh histories and converting a user in the "
             "experiment reports"},
    {.name = "fresh-window",
     .arg = "SECS",
     .file_key = "events.fresh_window_seconds",
     .type = RS_OPT_SECONDS,
     TARGET(events.fresh_window),
     .min = 0,
     .max = 1e9,
     .default_value = "2592000",
     .help = "how far back a fresh history reaches (events older than this are not added to "
             "the history encoded); 0: no fresh histories"},
    {.name = "fresh-max-items",
     .arg = "N",
     .file_key = "events.fresh_max_items",
     .type = RS_OPT_UINT,
     TARGET(events.fresh_max_items),
     .min = 1,
     .max = 100000,
     .default_value = "200",
     .help = "latest positive events kept per user or session for fresh histories"},
    {.name = "fresh-max-keys",
     .arg = "N",
     .file_key = "events.fresh_max_keys",
     .type = RS_OPT_UINT,
     TARGET(events.fresh_max_keys),
     .min = 1,
     .max = 1000000000,
     .default_value = "1000000",
     .help = "users and sessions with a fresh history at most; events of further keys are "
             "stored but not kept in memory"},
    {.name = "impressions",
     .arg = "N",
     .file_key = "events.impressions",
     .type = RS_OPT_UINT,
     TARGET(events.impressions),
     .min = 0,
     .max = 1ULL << 32,
     .default_value = "65536",
     .help = "recommendation answers remembered by request id for attribution (about the last "
             "N; 8 x --impression-items + 96 bytes each, recsys_impressions_entry_bytes); 0: none"},
    {.name = "impression-ttl",
     .arg = "SECS",
     .file_key = "events.impression_ttl_seconds",
     .type = RS_OPT_SECONDS,
     TARGET(events.impression_ttl),
     .min = 1,
     .max = 1e7,
     .default_value = "3600",
     .help = "an event is attributed to an answer at most this long after it was served"},
    {.name = "impression-items",
     .arg = "N",
     .file_key = "events.impression_items",
     .type = RS_OPT_UINT,
     TARGET(events.impression_items),
     .min = 1,
     .max = 10000,
     .default_value = "20",
     .help = "items of an answer remembered for hit rates (the first N of the list)"},
    {.name = "outcome-users",
     .arg = "N",
     .file_key = "events.outcome_users",
     .type = RS_OPT_UINT,
     TARGET(events.outcome_users),
     .min = 64,
     .max = 1ULL << 32,
     .default_value = "1048576",
     .help = "distinct users counted per server for the experiment reports (16 bytes each, "
             "allocated when experiments are configured); more are counted as untracked"},
    {.name = "log-level",
     .arg = "LEVEL",
     .file_key = "log_level",
     .type = RS_OPT_ENUM,
     TARGET(log_level),
     .choices = log_levels,
     .default_value = "info",
     .help = "least severe messages logged"},
    {.name = "check-config",
     .type = RS_OPT_FLAG,
     TARGET(check_config),
     .flag_value = 1,
     .help = "validate the options, the --config file and the admin token file, print a "
             "summary and exit (0: valid, 2: the first error); opens no store and no port"},
    {.name = "print-routes",
     .type = RS_OPT_FLAG,
     TARGET(print_routes),
     .flag_value = 1,
     .flags = RS_OPT_INFO,
     .help = "print the route table (METHOD PATH) and exit"},
    {.name = "version",
     .type = RS_OPT_FLAG,
     TARGET(version),
     .flag_value = 1,
     .flags = RS_OPT_INFO,
     .help = "print the version and exit"},
    {.name = "help-markdown",
     .type = RS_OPT_FLAG,
     TARGET(help_markdown),
     .flag_value = 1,
     .flags = RS_OPT_INFO | RS_OPT_STOP,
     .help = "print this table as Markdown (the reference in etc/README.md) and exit"},
    {.name = "help",
     .short_name = 'h',
     .type = RS_OPT_FLAG,
     TARGET(help),
     .flag_value = 1,
     .flags = RS_OPT_INFO | RS_OPT_STOP,
     .help = "print this text and exit"},
    {0},
};

void rs_config_usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s --store DIR [options]\n"
            "\n"
            "Serves top-N recommendations over HTTP (API v1, see proto/openapi.yaml) for\n"
            "every variant published in the store DIR.\n"
            "\n",
            prog);
    rs_options_help(rs_server_options, out);
}

void rs_config_markdown(FILE *out)
{
    rs_options_markdown(rs_server_options, out);
}

int rs_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len, rs_error *err)
{
    char host[256];
    const char *port;
    if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || close[1] != ':')
            return rs_fail(err, "--listen %s: expected [IPV6]:PORT", text);
        size_t hl = (size_t)(close - text - 1);
        if (hl == 0 || hl >= sizeof(host)) return rs_fail(err, "--listen %s: bad host", text);
        memcpy(host, text + 1, hl);
        host[hl] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(text, ':');
        if (!colon) {
            snprintf(host, sizeof(host), "127.0.0.1");
            port = text;
        } else {
            size_t hl = (size_t)(colon - text);
            if (hl == 0 || hl >= sizeof(host))
                return rs_fail(err, "--listen %s: expected HOST:PORT (e.g. 127.0.0.1:8080)", text);
            if (memchr(text, ':', hl))
                return rs_fail(err, "--listen %s: write IPv6 addresses as [ADDR]:PORT", text);
            memcpy(host, text, hl);
            host[hl] = '\0';
            port = colon + 1;
        }
    }
    unsigned long long p;
    if (rs_option_parse_uint(port, 0, &p) != 0 || p > 65535)
        return rs_fail(err, "--listen %s: the port must be a number 0..65535", text);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    /* Only numeric addresses and localhost: no DNS at start-up. */
    if (strcmp(host, "localhost") != 0) hints.ai_flags |= AI_NUMERICHOST;
    char port_text[8];
    snprintf(port_text, sizeof(port_text), "%llu", p);
    int rc = getaddrinfo(host, port_text, &hints, &res);
    if (rc != 0 || !res)
        return rs_fail(err, "--listen %s: bad address \"%s\" (%s)", text, host, gai_strerror(rc));
    memset(addr, 0, sizeof(*addr));
    memcpy(addr, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

static unsigned default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

void rs_config_free(rs_server_config *cfg)
{
    rs_conffile_free(cfg->file);
    cfg->file = NULL;
}

int rs_config_parse(int argc, char **argv, rs_server_config *cfg, rs_error *err)
{
    memset(cfg, 0, sizeof(*cfg));
    rs_limits_default(&cfg->limits); /* for the limits without an option */
    if (rs_options_defaults(rs_server_options, cfg, err) != 0) return -1;
    /* A first pass finds --config (errors are the second pass's to report);
     * the other options then override the file. --help reads no file. */
    unsigned given = rs_options_scan(rs_server_options, argc, argv, cfg);
    if (cfg->config_file && !(given & RS_OPT_INFO) &&
        rs_conffile_load(cfg->config_file, cfg, &cfg->file, err) != 0)
        return -1;
    if (rs_options_parse(rs_server_options, argc, argv, cfg, err) != 0) return -1;
    if (cfg->http.threads == 0) cfg->http.threads = default_threads();
    if (cfg->help || cfg->help_markdown || cfg->print_routes || cfg->version) return 0;
    if (!cfg->store_dir)
        return rs_fail(err, "--store DIR is required, or \"store\" in the --config file (see "
                            "--help)");
    if (rs_parse_listen(cfg->listen, &cfg->http.addr, &cfg->http.addr_len, err) != 0) return -1;
    if (!cfg->tls_cert_file != !cfg->tls_key_file)
        return rs_fail(err, "--tls-cert and --tls-key go together (\"tls\": {\"cert_file\", "
                            "\"key_file\"} in the config file)");

    rs_event_rules rules; /* the event types are checked now, not at start */
    return rs_event_rules_init(&rules, cfg->events.types, cfg->events.positive,
                               cfg->events.max_batch, err);
}
