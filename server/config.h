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
} rs_server_config;

/* Parses argv. Returns 0 (check help / print_routes / version first) or -1
 * with a message naming the bad option. */
int rs_config_parse(int argc, char **argv, rs_server_config *cfg, rs_error *err);

/* Parses "HOST:PORT", "[IPV6]:PORT" or "PORT" (loopback) into a socket
 * address. HOST is a numeric address or "localhost". */
int rs_parse_listen(const char *text, struct sockaddr_storage *addr, socklen_t *len, rs_error *err);

void rs_config_usage(FILE *out, const char *prog);

#endif
