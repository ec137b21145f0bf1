/* conffile.h - the serving config file (etc/recserve.json, documented field
 * by field in etc/README.md): store, listen address, variants to serve,
 * reload policy, admin token file and A/B experiments.
 *
 * Owns everything it parsed (strings, the experiments). Validation is strict
 * and happens at start: unknown fields, wrong types, unknown or duplicate
 * variants, bad weights, shares and times are errors naming the field.
 * Relative paths in the file are taken relative to the file's directory.
 * Command-line options override the file (see config.c).
 */
#ifndef RS_CONFFILE_H
#define RS_CONFFILE_H

#include <stddef.h>

#include "common.h"
#include "experiment.h"

#define RS_CONFFILE_MAX_BYTES  (1024 * 1024)
#define RS_MAX_VARIANTS_LISTED 32

typedef struct rs_conffile {
    char *store;           /* NULL: not given */
    char *listen;          /* NULL: not given */
    unsigned threads;      /* 0: not given */
    char *default_variant; /* NULL: not given */
    char **variants;       /* NULL: serve every variant in the store */
    int n_variants;
    double reload_interval; /* seconds between polls; < 0: not given; 0: no polling */
    int verify;             /* -1: not given */
    char *admin_token_file; /* NULL: admin endpoints disabled */
    rs_ab *ab;              /* never NULL after a successful parse (maybe no experiment) */
} rs_conffile;

/* Reads and validates path. */
int rs_conffile_load(const char *path, rs_conffile **out, rs_error *err);
/* The same from text; relative paths are resolved against base_dir (NULL:
 * kept as they are); origin names the text in messages. */
int rs_conffile_parse(const char *text, size_t len, const char *origin, const char *base_dir,
                      rs_conffile **out, rs_error *err);
void rs_conffile_free(rs_conffile *c);

/* Reads a bearer token from path: the first line, surrounding white space
 * removed; it must be 16..4096 printable ASCII characters. *token is
 * malloc'd. Warns in the log when the file is readable by others. */
int rs_admin_token_load(const char *path, char **token, rs_error *err);

#endif
