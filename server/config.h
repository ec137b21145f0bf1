/* config.h - recserve's settings: the option table (rs_server_options),
 * which gives every setting's command-line name, config-file key, type,
 * bounds, default and help line, and the parse that applies the defaults,
 * then the --config file, then the other options.
 *
 * Owns the parsed config file (cfg->file); every other string points into
 * argv, which outlives the config. Every numeric option is range-checked and
 * every error names the option (or the file key) and the offending value.
 */
#ifndef RS_CONFIG_H
#define RS_CONFIG_H

#include <stdio.h>
#include <sys/socket.h>

#include "common.h"
#include "events.h"
#include "http.h"
#include "log.h"
#include "options.h"
#include "request.h"
#include "retrieve.h"

typedef struct rs_server_config {
    const char *store_dir;
    size_t map_size;    /* LMDB map of each store opened (0: the default) */
    const char *listen; /* as given */
    rs_http_config http;
    rs_limits limits;
    rs_retriever_options retrieval;
    const char *default_variant; /* NULL: choose (see --default-variant) */
    const char *port_file;       /* write the bound port here */
    double shutdown_grace;       /* seconds in-flight requests get at shutdown */
    int verify;                  /* verify tensor checksums when loading */
    rs_log_level log_level;
    int print_routes;
    int check_config; /* --check-config: validate and exit */
    int help;
    int help_markdown; /* print the option table as Markdown */
    int version;
    /* Operations (hot reload, experiments, admin): */
    const char *config_file;      /* --config: the serving config file */
    struct rs_conffile *file;     /* its parsed content (owned) */
    double reload_interval;       /* seconds between store polls; 0: only on request */
    const char *admin_token_file; /* NULL: admin endpoints disabled */
    const char *access_log;       /* NULL: none; "-": stderr */
    unsigned access_log_one_in;   /* log one answer in this many */
    const char *api_keys_file;    /* NULL: the public routes need no key */
    const char *tls_cert_file;    /* with tls_key_file: HTTPS */
    const char *tls_key_file;
    rs_events_options events; /* POST /v1/events, fresh histories, outcomes */
} rs_server_config;

/* Every option, in --help order; targets are fields of rs_server_config. */
extern const rs_option rs_server_options[];

/* Parses argv. Returns 0 (check help, help_markdown, print_routes and
 * version first) or -1 with a message naming the bad option. The defaults
 * come first, then with --config FILE the file's values, then the other
 * options. Release with rs_config_free(), also after a failure. */
int rs_config_parse(int argc, char **argv, rs_server_config *cfg, rs_error *err);
void rs_config_free(rs_server_config *cfg);

/* Parses "HOST:PORT", "[IPV6]:PORT" or "PORT" (loopback) into a socket
 * address. HOST is a numeric address or "localhost". */
int rs_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len, rs_error *err);

/* --help: a synopsis, then the option table. */
void rs_config_usage(FILE *out, const char *prog);
/* --help-markdown: the option table as the Markdown etc/README.md holds. */
void rs_config_markdown(FILE *out);

#endif
