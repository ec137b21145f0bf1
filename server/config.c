/* config.c - command-line parsing for recserve (see config.h). */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conffile.h"

void rs_config_usage(FILE *out, const char *prog)
{
    fprintf(out,
            "usage: %s --store DIR [options]\n"
            "\n"
            "Serves top-N recommendations over HTTP (API v1, see proto/openapi.yaml) for\n"
            "every variant published in the store DIR.\n"
            "\n"
            "  --store DIR             LMDB snapshot store written by rectrain (required)\n"
            "  --listen ADDR           HOST:PORT, [IPV6]:PORT or PORT (default %s;\n"
            "                          port 0 picks a free port, logged and --port-file'd)\n"
            "  --threads N             worker threads (default: one per core)\n"
            "  --max-body BYTES        largest request body; K and M suffixes allowed\n"
            "                          (default 1M); larger bodies get 413\n"
            "  --timeout SECONDS       close connections idle this long (default %d)\n"
            "  --max-connections N     concurrent connections (default 1024)\n"
            "  --default-variant NAME  variant answering requests that name none (default:\n"
            "                          the only variant, else the one named \"default\", else\n"
            "                          the first by name)\n"
            "  --retrieval METHOD      auto, bruteforce or midx (default auto: midx from\n"
            "                          %d items on); midx maps the inverted multi-index\n"
            "                          the trainer published with the version, or builds\n"
            "                          one when it has none\n"
            "  --midx-k K              MIDX codewords per codebook (default: the published\n"
            "                          index's, about sqrt(items / 4); another value\n"
            "                          builds a new index at load)\n"
            "  --midx-budget N         approximate MIDX: examine about N items per query\n"
            "                          (default 0: exact top-N)\n"
            "  --max-n N               largest n a client may ask for (default %d)\n"
            "  --max-history N         longest ad-hoc history (default %d; beyond: 422)\n"
            "  --max-exclude N         longest exclusion list (default %d; beyond: 422)\n"
            "  --shutdown-grace SECS   on SIGTERM/SIGINT, how long in-flight requests may\n"
            "                          take to finish (default 10)\n"
            "  --no-verify             skip tensor checksum verification at load\n"
            "  --port-file FILE        write the bound port number to FILE once listening\n"
            "  --config FILE           serving config (JSON, see etc/README.md): store,\n"
            "                          variants, experiments, reload, admin token; the\n"
            "                          other options override its values\n"
            "  --reload-interval SECS  poll the store for new versions this often (default\n"
            "                          %g; 0: only on SIGHUP or POST /v1/admin/reload)\n"
            "  --admin-token-file FILE enable /v1/admin/* for this bearer token (default:\n"
            "                          admin endpoints disabled)\n"
            "  --log-level LEVEL       debug, info, warn or error (default info)\n"
            "  --print-routes          print the route table (METHOD PATH) and exit\n"
            "  --version               print the version and exit\n"
            "  --help                  this text\n",
            prog, RS_DEFAULT_LISTEN, RS_DEFAULT_TIMEOUT, RS_RETRIEVAL_AUTO_MIN_ITEMS,
            RS_DEFAULT_MAX_N, RS_DEFAULT_MAX_HISTORY, RS_DEFAULT_MAX_EXCLUDE,
            RS_DEFAULT_RELOAD_INTERVAL);
}

/* Strict unsigned parse: digits only (plus an optional K/M suffix when
 * allowed), within [min, max]. */
static int parse_uint(const char *opt, const char *text, unsigned long long min,
                      unsigned long long max, int suffixes, unsigned long long *out, rs_error *err)
{
    const char *p = text;
    if (*p < '0' || *p > '9') goto bad;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno == ERANGE) goto bad;
    if (suffixes && (*end == 'K' || *end == 'k' || *end == 'M' || *end == 'm')) {
        unsigned long long mult = (*end == 'K' || *end == 'k') ? 1024ULL : 1024ULL * 1024ULL;
        if (v > ULLONG_MAX / mult) goto bad;
        v *= mult;
        end++;
    }
    if (*end != '\0') goto bad;
    if (v < min || v > max)
        return rs_fail(err, "%s %s: out of range (expected %llu..%llu)", opt, text, min, max);
    *out = v;
    return 0;
bad:
    return rs_fail(err, "%s %s: expected a non-negative integer%s", opt, text,
                   suffixes ? " (optionally with a K or M suffix)" : "");
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
    if (parse_uint("--listen", port, 0, 65535, 0, &p, err) != 0)
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

enum {
    OPT_STORE = 256,
    OPT_LISTEN,
    OPT_THREADS,
    OPT_MAX_BODY,
    OPT_TIMEOUT,
    OPT_MAX_CONN,
    OPT_DEFAULT_VARIANT,
    OPT_MAX_N,
    OPT_RETRIEVAL,
    OPT_MIDX_K,
    OPT_MIDX_BUDGET,
    OPT_MAX_HISTORY,
    OPT_MAX_EXCLUDE,
    OPT_GRACE,
    OPT_NO_VERIFY,
    OPT_PORT_FILE,
    OPT_LOG_LEVEL,
    OPT_PRINT_ROUTES,
    OPT_VERSION,
    OPT_HELP,
    OPT_CONFIG,
    OPT_RELOAD_INTERVAL,
    OPT_ADMIN_TOKEN_FILE,
};

/* Seconds as a decimal number within [0, max]. */
static int parse_seconds(const char *opt, const char *text, double max, double *out, rs_error *err)
{
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (end == text || *end != '\0' || errno == ERANGE || !(v >= 0 && v <= max))
        return rs_fail(err, "%s %s: expected seconds in 0..%g", opt, text, max);
    *out = v;
    return 0;
}

void rs_config_free(rs_server_config *cfg)
{
    rs_conffile_free(cfg->file);
    cfg->file = NULL;
}

/* The config file's values, before the command line overrides them. */
static int apply_file(rs_server_config *cfg, rs_error *err)
{
    if (rs_conffile_load(cfg->config_file, &cfg->file, err) != 0) return -1;
    const rs_conffile *f = cfg->file;
    if (f->store) cfg->store_dir = f->store;
    if (f->listen) cfg->listen = f->listen;
    if (f->threads) cfg->http.threads = f->threads;
    if (f->default_variant) cfg->default_variant = f->default_variant;
    if (f->reload_interval >= 0) cfg->reload_interval = f->reload_interval;
    if (f->verify >= 0) cfg->verify = f->verify;
    if (f->admin_token_file) cfg->admin_token_file = f->admin_token_file;
    return 0;
}

int rs_config_parse(int argc, char **argv, rs_server_config *cfg, rs_error *err)
{
    static const struct option longopts[] = {
        {"store", required_argument, NULL, OPT_STORE},
        {"listen", required_argument, NULL, OPT_LISTEN},
        {"threads", required_argument, NULL, OPT_THREADS},
        {"max-body", required_argument, NULL, OPT_MAX_BODY},
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"max-connections", required_argument, NULL, OPT_MAX_CONN},
        {"default-variant", required_argument, NULL, OPT_DEFAULT_VARIANT},
        {"max-n", required_argument, NULL, OPT_MAX_N},
        {"retrieval", required_argument, NULL, OPT_RETRIEVAL},
        {"midx-k", required_argument, NULL, OPT_MIDX_K},
        {"midx-budget", required_argument, NULL, OPT_MIDX_BUDGET},
        {"max-history", required_argument, NULL, OPT_MAX_HISTORY},
        {"max-exclude", required_argument, NULL, OPT_MAX_EXCLUDE},
        {"shutdown-grace", required_argument, NULL, OPT_GRACE},
        {"no-verify", no_argument, NULL, OPT_NO_VERIFY},
        {"port-file", required_argument, NULL, OPT_PORT_FILE},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"print-routes", no_argument, NULL, OPT_PRINT_ROUTES},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, OPT_HELP},
        {"config", required_argument, NULL, OPT_CONFIG},
        {"reload-interval", required_argument, NULL, OPT_RELOAD_INTERVAL},
        {"admin-token-file", required_argument, NULL, OPT_ADMIN_TOKEN_FILE},
        {NULL, 0, NULL, 0},
    };
    memset(cfg, 0, sizeof(*cfg));
    cfg->listen = RS_DEFAULT_LISTEN;
    cfg->http.threads = default_threads();
    cfg->http.max_body = RS_DEFAULT_MAX_BODY;
    cfg->http.timeout_s = RS_DEFAULT_TIMEOUT;
    cfg->http.max_connections = 1024;
    rs_limits_default(&cfg->limits);
    cfg->shutdown_grace = 10.0;
    cfg->verify = 1;
    cfg->log_level = RS_LOG_INFO;
    cfg->reload_interval = RS_DEFAULT_RELOAD_INTERVAL;

    unsigned long long v;
    int c;
    opterr = 0;
    /* First pass: only --config (unless just asking for help), whose values
     * the other options then override. Errors are reported by the second. */
    optind = 1;
    int informational = 0;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == OPT_CONFIG) cfg->config_file = optarg;
        if (c == 'h' || c == OPT_HELP || c == OPT_VERSION || c == OPT_PRINT_ROUTES)
            informational = 1;
    }
    if (cfg->config_file && !informational && apply_file(cfg, err) != 0) return -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_STORE:
            cfg->store_dir = optarg;
            break;
        case OPT_LISTEN:
            cfg->listen = optarg;
            break;
        case OPT_THREADS:
            if (parse_uint("--threads", optarg, 1, 1024, 0, &v, err) != 0) return -1;
            cfg->http.threads = (unsigned)v;
            break;
        case OPT_MAX_BODY:
            if (parse_uint("--max-body", optarg, 64, 1ULL << 30, 1, &v, err) != 0) return -1;
            cfg->http.max_body = (size_t)v;
            break;
        case OPT_TIMEOUT:
            if (parse_uint("--timeout", optarg, 1, 3600, 0, &v, err) != 0) return -1;
            cfg->http.timeout_s = (unsigned)v;
            break;
        case OPT_MAX_CONN:
            if (parse_uint("--max-connections", optarg, 1, 1000000, 0, &v, err) != 0) return -1;
            cfg->http.max_connections = (unsigned)v;
            break;
        case OPT_DEFAULT_VARIANT:
            cfg->default_variant = optarg;
            break;
        case OPT_MAX_N:
            if (parse_uint("--max-n", optarg, 1, 1000000, 0, &v, err) != 0) return -1;
            cfg->limits.max_n = (uint32_t)v;
            break;
        case OPT_RETRIEVAL:
            if (rs_retrieval_parse(optarg, &cfg->retrieval.method) != 0)
                return rs_fail(err, "--retrieval %s: expected auto, bruteforce or midx", optarg);
            break;
        case OPT_MIDX_K:
            if (parse_uint("--midx-k", optarg, 1, 4096, 0, &v, err) != 0) return -1;
            cfg->retrieval.midx_k = (uint32_t)v;
            break;
        case OPT_MIDX_BUDGET:
            if (parse_uint("--midx-budget", optarg, 0, 1ULL << 40, 0, &v, err) != 0) return -1;
            cfg->retrieval.midx_budget = v;
            break;
        case OPT_MAX_HISTORY:
            if (parse_uint("--max-history", optarg, 1, 10000000, 0, &v, err) != 0) return -1;
            cfg->limits.max_history = (uint32_t)v;
            break;
        case OPT_MAX_EXCLUDE:
            if (parse_uint("--max-exclude", optarg, 0, 10000000, 0, &v, err) != 0) return -1;
            cfg->limits.max_exclude = (uint32_t)v;
            break;
        case OPT_GRACE:
            if (parse_uint("--shutdown-grace", optarg, 0, 3600, 0, &v, err) != 0) return -1;
            cfg->shutdown_grace = (double)v;
            break;
        case OPT_NO_VERIFY:
            cfg->verify = 0;
            break;
        case OPT_PORT_FILE:
            cfg->port_file = optarg;
            break;
        case OPT_LOG_LEVEL:
            if (rs_log_parse_level(optarg, &cfg->log_level) != 0)
                return rs_fail(err, "--log-level %s: expected debug, info, warn or error", optarg);
            break;
        case OPT_PRINT_ROUTES:
            cfg->print_routes = 1;
            break;
        case OPT_CONFIG:
            break; /* read in the first pass */
        case OPT_RELOAD_INTERVAL:
            if (parse_seconds("--reload-interval", optarg, 86400, &cfg->reload_interval, err) != 0)
                return -1;
            if (cfg->reload_interval > 0 && cfg->reload_interval < 0.01)
                return rs_fail(err, "--reload-interval %s: at least 0.01 (or 0 for no polling)",
                               optarg);
            break;
        case OPT_ADMIN_TOKEN_FILE:
            cfg->admin_token_file = optarg;
            break;
        case OPT_VERSION:
            cfg->version = 1;
            break;
        case 'h':
        case OPT_HELP:
            cfg->help = 1;
            return 0;
        case ':':
            return rs_fail(err, "option %s needs a value (see --help)", argv[optind - 1]);
        default:
            return rs_fail(err, "unknown option %s (see --help)", argv[optind - 1]);
        }
    }
    if (optind < argc) return rs_fail(err, "unexpected argument \"%s\" (see --help)", argv[optind]);
    if (cfg->print_routes || cfg->version) return 0;
    if (!cfg->store_dir)
        return rs_fail(err, "--store DIR is required, or \"store\" in the --config file (see "
                            "--help)");
    if (rs_parse_listen(cfg->listen, &cfg->http.addr, &cfg->http.addr_len, err) != 0) return -1;
    return 0;
}
