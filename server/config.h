/* config.h - recserve's command line: options, defaults, validation, --help.
 *
 * Owns nothing: the parsed config points into argv, which outlives it.
 * Every numeric option is range-checked and every error names the option
 * and the offending value.
 */
#ifndef RS_CONFIG_H
#define RS_CONFIG_H

#include <stdio.h>
#include <sys/socket.h>

#include "common.h"
#include "http.h"
#include "log.h"
#include "request.h"
#include "retrieve.h"

#define RS_DEFAULT_LISTEN   "127.0.0.1:8080"
#define RS_DEFAULT_MAX_BODY (1024 * 1024)
#define RS_DEFAULT_TIMEOUT  30

typedef struct rs_server_config {
    const char *store_dir;
    const char *listen; /* as given */
    rs_http_config http;
    rs_limits limits;
    rs_retriever_options retrieval;
    const char *default_variant; /* NULL: choose (see rs_config_usage) */
    const char *port_file;       /* write the bound port here */
    double shutdown_grace;       /* seconds in-flight requests get at shutdown */
    int verify;                  /* verify tensor checksums when loading */
    rs_log_level log_level;
    int print_routes;
    int help;
    int version;
    /* Operations (hot reload, experiments, admin): */
    const char *config_file;      /* --config: the serving config file */
    struct rs_conffile *file;     /* its parsed content (owned) */
    double reload_interval;       /* seconds between store polls; 0: only on request */
    const char *admin_token_file; /* NULL: admin endpoints disabled */
} rs_server_config;

#define RS_DEFAULT_RELOAD_INTERVAL 1.0

/* Parses argv. Returns 0 (check help / print_routes / version first) or -1
 * with a message naming the bad option. With --config FILE, the file's
 * values come first and the other options override them. Release with
 * rs_config_free(), also after a failure. */
int rs_config_parse(int argc, char **argv, rs_server_config *cfg, rs_error *err);
void rs_config_free(rs_server_config *cfg);

/* Parses "HOST:PORT", "[IPV6]:PORT" or "PORT" (loopback) into a socket
 * address. HOST is a numeric address or "localhost". */
int rs_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len, rs_error *err);

void rs_config_usage(FILE *out, const char *prog);

#endif
