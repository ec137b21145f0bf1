/* options.h - command-line options as tables (Redis's static_configs way):
 * one entry per option says its name, type, bounds, target (an offset into
 * the struct it sets), argument name and help line, and the same entries
 * drive parsing, `--help` and the generated Markdown reference. Defaults
 * are the target struct's own (its *_default function), read back from it
 * for the help, so they have one source.
 *
 * rectrain has one program table (main.c) and one table per model family
 * (in the family's file, see family.h); an option several families share
 * (--lr, --batch, ...) is defined once by the RS_OPT_* macros below.
 */
#ifndef RS_OPTIONS_H
#define RS_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"

typedef enum {
    RS_OPT_FLAG,   /* int, set to 1; no argument */
    RS_OPT_STRING, /* const char * */
    RS_OPT_INT,    /* int in [min, max] */
    RS_OPT_LONG,   /* long in [min, max] */
    RS_OPT_U32,    /* uint32_t in [min, max] */
    RS_OPT_U64,    /* uint64_t in [min, max] */
    RS_OPT_FLOAT,  /* float in [lo, hi] */
    RS_OPT_DOUBLE, /* double in [lo, hi] */
    RS_OPT_CUSTOM, /* parse() */
    RS_OPT_SECTION /* not an option: a heading of the help (name = title) */
} rs_option_type;

typedef struct rs_option {
    const char *name; /* without the leading "--" */
    rs_option_type type;
    const char *arg;  /* the argument's name in the help ("N", "FILE") */
    const char *help; /* one line; wrapped by the help printer */
    size_t offset;    /* of the target field in the struct the table sets */
    long min, max;    /* integer bounds */
    double lo, hi;    /* real bounds */
    /* RS_OPT_CUSTOM: sets the struct at base from value; returns -1 after
     * printing "rectrain: ..." to stderr. */
    int (*parse)(const char *value, void *base);
    /* The default as help text when it is not the struct's field (e.g.
     * computed later); "" prints none. */
    const char *default_text;
    /* The default value, set by rs_options_default (NULL: the struct's own
     * default function sets it). */
    const char *def;
    /* RS_GIVEN(type, field): an int field set to 1 when the option is given. */
    size_t given;
} rs_option;

#define RS_GIVEN(type, field) (offsetof(type, field) + 1)

#define RS_OPT_INT_(nm, ty, st, field, a, lo_, hi_, h, d)                                          \
    {                                                                                              \
        .name = nm, .type = ty, .arg = a, .help = h, .offset = offsetof(st, field), .min = lo_,    \
        .max = hi_, .def = d                                                                       \
    }
#define RS_OPT_REAL_(nm, ty, st, field, a, lo_, hi_, h, d)                                         \
    {                                                                                              \
        .name = nm, .type = ty, .arg = a, .help = h, .offset = offsetof(st, field), .lo = lo_,     \
        .hi = hi_, .def = d                                                                        \
    }

/* The options every learned family reads the same way (d: the default). */
#define RS_OPT_BATCH(st, field, d)                                                                 \
    RS_OPT_INT_("batch", RS_OPT_INT, st, field, "N", 1, 100000, "users per batch", d)
#define RS_OPT_LR(st, field, d)                                                                    \
    RS_OPT_REAL_("lr", RS_OPT_FLOAT, st, field, "X", 1e-9, 10, "Adam learning rate", d)
#define RS_OPT_WEIGHT_DECAY(st, field)                                                             \
    RS_OPT_REAL_("weight-decay", RS_OPT_FLOAT, st, field, "X", 0, 10, "L2 weight decay", "0")
#define RS_OPT_HIDDEN(st, field, h, d)                                                             \
    RS_OPT_INT_("hidden", RS_OPT_U32, st, field, "N", 1, 100000, h, d)
#define RS_OPT_LATENT(st, field, d)                                                                \
    RS_OPT_INT_("latent", RS_OPT_U32, st, field, "N", 1, 100000, "latent dimension", d)
#define RS_OPT_DROPOUT(st, field, h)                                                               \
    RS_OPT_REAL_("dropout", RS_OPT_FLOAT, st, field, "P", 0, 0.99, h, "0.5")
/* Personalized Item Alignment (pia.h): fields pia_lambda, pia_patience,
 * pia_factor; off by default. */
#define RS_OPT_PIA(st)                                                                             \
    RS_OPT_REAL_("pia", RS_OPT_FLOAT, st, pia_lambda, "LAMBDA", 0, 1e6,                            \
                 "Personalized Item Alignment: learnable item anchors pull the masked "            \
                 "posterior toward the user's anchor centroid (0 = off); anchors are "             \
                 "published for item similarity",                                                  \
                 "0"),                                                                             \
        RS_OPT_INT_("pia-patience", RS_OPT_INT, st, pia_patience, "P", 1, 1000,                    \
                    "evaluations without validation gain before lambda grows", "2"),               \
        RS_OPT_REAL_("pia-factor", RS_OPT_FLOAT, st, pia_factor, "S", 1, 1000,                     \
                     "lambda multiplier when it grows", "2")

/* Sets every field of the table that has a default (.def) in the struct at
 * base; -1 (after printing why) when a default is out of its bounds. */
int rs_options_default(const rs_option *table, int n, void *base);
/* Sets the option's field in the struct at base from value; prints the
 * error ("rectrain: --NAME: expected ...") and returns -1 when it is bad. */
int rs_option_apply(const rs_option *o, const char *value, void *base);
/* The option's current value in the struct at base, as help text. */
void rs_option_format(const rs_option *o, const void *base, char *out, size_t size);
/* Prints "  --name ARG   help (default)" wrapped to 80 columns. */
void rs_option_print_help(FILE *f, const rs_option *o, const char *help, const char *default_text);
/* A row of the Markdown reference: | `--name ARG` | default | help |. */
void rs_option_print_markdown(FILE *f, const rs_option *o, const char *help,
                              const char *default_text);

#endif
