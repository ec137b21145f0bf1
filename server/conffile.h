/* conffile.h - the serving config file (etc/recserve.json, documented field
 * by field in etc/README.md): the variants to serve and the A/B experiments,
 * parsed here, and the scalar settings (store, listen address, reload
 * policy, admin token file...), which the option table (config.c) defines
 * and options.c parses into the rs_server_config.
 *
 * Owns everything it parsed (strings, the experiments). Validation is strict
 * and happens at start: unknown fields, wrong types, values out of bounds,
 * unknown or duplicate variants, bad weights, shares and times are errors
 * naming the field. Relative paths in the file are taken relative to the
 * file's directory. Command-line options override the file (see config.c).
 */
#ifndef RS_CONFFILE_H
#define RS_CONFFILE_H

#include <stddef.h>

#include "common.h"
#include "experiment.h"
#include "options.h"
#include "watcher.h"

#define RS_CONFFILE_MAX_BYTES  (1024 * 1024)
#define RS_MAX_VARIANTS_LISTED 32

struct rs_server_config;

typedef struct rs_conffile {
    char **variants; /* NULL: serve every variant in the store */
    int n_variants;
    rs_watcher_pin_entry *pins; /* "pins": variants served at a fixed version (owned) */
    int n_pins;
    rs_ab *ab;                 /* never NULL after a successful parse (maybe no experiment) */
    rs_option_strings strings; /* the settings' strings from the file */
} rs_conffile;

/* Reads and validates path and stores the settings it gives into settings
 * (whose strings then point into *out). On failure settings is unchanged. */
int rs_conffile_load(const char *path, struct rs_server_config *settings, rs_conffile **out,
                     rs_error *err);
/* The same from text; relative paths are resolved against base_dir (NULL:
 * kept as they are); origin names the text in messages. */
int rs_conffile_parse(const char *text, size_t len, const char *origin, const char *base_dir,
                      struct rs_server_config *settings, rs_conffile **out, rs_error *err);
void rs_conffile_free(rs_conffile *c);

/* Reads a bearer token from path: the first line, surrounding white space
 * removed; it must be 16..4096 printable ASCII characters. *token is
 * malloc'd. Warns in the log when the file is readable by others. */
int rs_admin_token_load(const char *path, char **token, rs_error *err);

#endif
