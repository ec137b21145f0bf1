/* synth.c - writes the synthetic data set (core/synth.h) to two TSV files.
 *
 *   synth [--users N] [--items N] [--tastes N] [--mean-history X]
 *         [--taste-share X] [--seed S] TRAIN TEST
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "synth.h"

int main(int argc, char **argv)
{
    rs_synth_options o;
    rs_synth_options_default(&o);
    const char *paths[2] = {NULL, NULL};
    int n_paths = 0;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        int v = k + 1 < argc;
        if (!strcmp(a, "--users") && v)
            o.n_users = (uint32_t)strtoul(argv[++k], NULL, 10);
        else if (!strcmp(a, "--items") && v)
            o.n_items = (uint32_t)strtoul(argv[++k], NULL, 10);
        else if (!strcmp(a, "--tastes") && v)
            o.n_tastes = (uint32_t)strtoul(argv[++k], NULL, 10);
        else if (!strcmp(a, "--mean-history") && v)
            o.mean_history = atof(argv[++k]);
        else if (!strcmp(a, "--taste-share") && v)
            o.taste_share = atof(argv[++k]);
        else if (!strcmp(a, "--seed") && v)
            o.seed = strtoull(argv[++k], NULL, 10);
        else if (a[0] != '-' && n_paths < 2)
            paths[n_paths++] = a;
        else
            n_paths = 99;
    }
    if (n_paths != 2) {
        fprintf(stderr, "usage: synth [--users N] [--items N] [--tastes N] [--mean-history X] "
                        "[--taste-share X] [--seed S] TRAIN TEST\n");
        return 2;
    }
    rs_error err;
    if (rs_synth_write(&o, paths[0], paths[1], &err) != 0) {
        fprintf(stderr, "synth: %s\n", err.msg);
        return 1;
    }
    return 0;
}
