/* options.h - table-driven program options, after Redis's static_configs.
 *
 * One rs_option row per setting gives its command-line name, its config-file
 * key (if the file may set it), its type, bounds, default, target (an offset
 * into the program's settings struct) and a help line. The same rows drive
 * command-line parsing (getopt_long), the config file's scalar keys, --help
 * and the Markdown reference in etc/README.md, so the four cannot drift
 * apart. A table ends with a row whose name is NULL.
 *
 * Owns nothing except the copies of config-file strings it makes, which go
 * into an rs_option_strings the caller frees. Command-line strings point
 * into argv. Every error names the option (or the file key) and the value.
 */
#ifndef RS_OPTIONS_H
#define RS_OPTIONS_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "common.h"

typedef enum rs_option_type {
    RS_OPT_STRING,  /* text as given (const char *) */
    RS_OPT_PATH,    /* text; a relative path in the config file is taken
                       relative to the file's directory (const char *) */
    RS_OPT_UINT,    /* non-negative integer in [min, max] (4- or 8-byte unsigned) */
    RS_OPT_SIZE,    /* an RS_OPT_UINT that may end in K or M (times 1024 or 1024^2) */
    RS_OPT_SECONDS, /* decimal seconds in [min, max] (double) */
    RS_OPT_ENUM,    /* one of choices, case-insensitive (int or an enum) */
    RS_OPT_FLAG,    /* no value: stores flag_value (int); in the config file,
                       the target's value as a boolean */
} rs_option_type;

/* Flags of a row. */
#define RS_OPT_EARLY 1u /* read by rs_options_scan, before the config file */
#define RS_OPT_INFO  2u /* informational (--help, --version): no config file */
#define RS_OPT_STOP  4u /* parsing ends here; later arguments are ignored */

typedef struct rs_option_choice {
    const char *name;
    int value;
} rs_option_choice;

typedef struct rs_option {
    const char *name;     /* long option without "--"; NULL ends the table */
    char short_name;      /* single-letter alias, or 0 */
    const char *arg;      /* the value's placeholder in --help ("DIR"); NULL for flags */
    const char *file_key; /* config-file key, "object.key" inside an object; NULL: none */
    rs_option_type type;
    size_t offset, size;                    /* the target in the settings struct */
    double min, max;                        /* UINT, SIZE, SECONDS */
    double min_nonzero;                     /* SECONDS: values in (0, this) are refused */
    const rs_option_choice *choices;        /* ENUM; ends with a NULL name */
    int flag_value;                         /* FLAG: stored when the flag is given */
    const char *default_value;              /* parsed like a command-line value (FLAG:
                                               "true" or "false"); NULL: zero */
    const char *default_text;               /* describes a NULL default ("one per core") */
    int (*check)(const char *, rs_error *); /* STRING, PATH: further validation */
    unsigned flags;                         /* RS_OPT_EARLY | RS_OPT_INFO | RS_OPT_STOP */
    const char *help;                       /* one sentence, no trailing period */
} rs_option;

/* Copies of config-file strings that settings point to. */
typedef struct rs_option_strings {
    char **items;
    int n, cap;
} rs_option_strings;

void rs_option_strings_free(rs_option_strings *s);

/* Checks a table for programming errors: target sizes that do not match the
 * type, bounds beyond the target, defaults that do not parse, duplicate
 * names or keys. Unit tests call it; a valid table never fails here. */
int rs_options_check(const rs_option *table, rs_error *err);

/* Stores every row's default into settings. -1 only for a broken table. */
int rs_options_defaults(const rs_option *table, void *settings, rs_error *err);

/* First pass over argv: stores the RS_OPT_EARLY options and returns the
 * union of the flags of the options given. Reports no errors (the second
 * pass does). */
unsigned rs_options_scan(const rs_option *table, int argc, char **argv, void *settings);

/* Second pass: stores every option in argv order (a later one wins), stops
 * after an RS_OPT_STOP option; refuses unknown options, missing values, bad
 * values and non-option arguments. */
int rs_options_parse(const rs_option *table, int argc, char **argv, void *settings, rs_error *err);

/* Stores the rows' file keys found in the JSON object root. Any other key
 * of root must be in other_keys (NULL-terminated; the caller parses those).
 * Messages start with origin. Strings are copied into strings. */
int rs_options_load_json(const rs_option *table, json_t *root, const char *const *other_keys,
                         const char *origin, const char *base_dir, void *settings,
                         rs_option_strings *strings, rs_error *err);

/* The option list of --help, one wrapped entry per row. */
void rs_options_help(const rs_option *table, FILE *out);

/* The same as a Markdown table: option, config-file key, value, default,
 * meaning. */
void rs_options_markdown(const rs_option *table, FILE *out);

/* Digits only (plus a K or M suffix when suffixes is set) into *out;
 * -1 for anything else or on overflow. */
int rs_option_parse_uint(const char *text, int suffixes, unsigned long long *out);

#endif
