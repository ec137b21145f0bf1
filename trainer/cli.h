/* cli.h - rectrain's training command line: the program's option table
 * plus every registered family's (family.h), parsed with getopt_long and
 * printed as --help and as the Markdown reference (--help-markdown, kept
 * in trainer/OPTIONS.md). */
#ifndef RS_CLI_H
#define RS_CLI_H

#include <stdio.h>

#include "dataset.h"
#include "family.h"
#include "metrics.h"
#include "prorec.h"
#include "train.h"

typedef struct rs_cli {
    rs_data_options data;
    rs_train_options train;
    rs_metric_set metrics;
    const char *model; /* --model */
    const rs_family *family;
    void *family_options; /* family->options_size bytes, set from the command line */
    const char *store, *variant, *select, *rankings_out, *plot_out;
    /* --events DIR: the server's events environment as training data (with
     * the types of --event-types), beside or instead of --data. The data
     * option's path is set to the combined file while loading. */
    const char *events_dir, *events_types, *data_given;
    const char *items; /* --items: the item catalogue file */
    uint32_t rankings_users, keep;
    uint64_t map_size_mib; /* --map-size (0: the store's default) */
    int publish_on_interrupt;
    /* --gate METRIC[:TOLERANCE]: gate_index in metrics. */
    int gate, gate_index;
    char gate_metric[32];
    double gate_tolerance;
    int threads, valid_users_set, split_set, refit, refitted;
    /* --denoise prorec (denoise 1) and its settings; after the run, what
     * the last round flagged, for the manifest. */
    int denoise;
    rs_prorec_options prorec;
    const char *denoise_out;
    int denoise_keep_all; /* --denoise-keep always: every round's model is kept */
    uint64_t denoise_flagged, denoise_interactions;
    double denoise_seconds;
    /* Rounds whose model was kept, and the validation figure (the selection
     * metric) of the base model and of the model published. */
    int denoise_rounds_kept;
    double denoise_valid_base, denoise_valid_kept;
} rs_cli;

/* Parses argv into c. Returns 0, or -1 after printing why to stderr; with
 * --help or --help-markdown prints to stdout and exits 0. */
int rs_cli_parse(int argc, char **argv, rs_cli *c);
void rs_cli_free(rs_cli *c);

void rs_cli_usage(FILE *f);
void rs_cli_markdown(FILE *f);

#endif
