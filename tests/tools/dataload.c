/* dataload.c - loads an interaction data set and prints the load report.
 *
 *   dataload [--min-rating R] [--kcore U,I] [--holdout F | --heldout-users N]
 *            [--valid-users N] [--seed S] TRAIN [TEST]
 *
 * With TEST the split is the file split; otherwise holdout / held-out users
 * when asked, else none. Used to time loading and to eyeball reports.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"

int main(int argc, char **argv)
{
    rs_data_options o;
    rs_data_options_default(&o);
    const char *paths[2] = {NULL, NULL};
    int n_paths = 0;
    for (int k = 1; k < argc; k++) {
        const char *a = argv[k];
        int has_value = k + 1 < argc;
        if (!strcmp(a, "--min-rating") && has_value) {
            o.has_min_rating = 1;
            o.min_rating = atof(argv[++k]);
        } else if (!strcmp(a, "--kcore") && has_value) {
            unsigned u = 0, i = 0;
            if (sscanf(argv[++k], "%u,%u", &u, &i) != 2) return fprintf(stderr, "bad --kcore\n"), 2;
            o.kcore_users = u;
            o.kcore_items = i;
        } else if (!strcmp(a, "--holdout") && has_value) {
            o.split = RS_SPLIT_HOLDOUT;
            o.holdout_fraction = atof(argv[++k]);
        } else if (!strcmp(a, "--heldout-users") && has_value) {
            o.split = RS_SPLIT_USERS;
            o.heldout_users = (uint32_t)strtoul(argv[++k], NULL, 10);
        } else if (!strcmp(a, "--valid-users") && has_value) {
            o.valid_users = (uint32_t)strtoul(argv[++k], NULL, 10);
        } else if (!strcmp(a, "--seed") && has_value) {
            o.seed = strtoull(argv[++k], NULL, 10);
        } else if (a[0] != '-' && n_paths < 2) {
            paths[n_paths++] = a;
        } else {
            fprintf(stderr, "usage: dataload [options] TRAIN [TEST]\n");
            return 2;
        }
    }
    if (n_paths == 0) {
        fprintf(stderr, "usage: dataload [options] TRAIN [TEST]\n");
        return 2;
    }
    o.train_path = paths[0];
    if (paths[1]) {
        o.test_path = paths[1];
        o.split = RS_SPLIT_FILE;
    }
    rs_dataset d;
    rs_error err;
    if (rs_dataset_load(&o, &d, &err) != 0) {
        fprintf(stderr, "dataload: %s\n", err.msg);
        return 1;
    }
    rs_data_report_print(&d.report, stdout);
    rs_dataset_free(&d);
    return 0;
}
