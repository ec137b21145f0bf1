/* train.h - the training loop shared by every model family: epochs of
 * shuffled mini-batches with KL annealing, a progress bar, evaluation every N
 * epochs on validation (selection) and test (reporting) data, a CSV of
 * per-epoch figures, and keeping the best epoch's parameters. */
#ifndef RS_TRAIN_H
#define RS_TRAIN_H

#include <jansson.h>

#include "dataset.h"
#include "evaluate.h"
#include "metrics.h"
#include "trainable.h"

typedef struct rs_train_options {
    int epochs;
    int eval_every;    /* evaluate every N epochs (and after the last) */
    float anneal_cap;  /* KL weight cap, default 0.2 */
    long anneal_steps; /* steps to reach the cap linearly, default 200000 */
    int select_index;  /* metric of the set the best epoch is chosen on */
    /* Selection rule. 0: the epoch with the best validation value. 1 (the
     * default): the LATEST epoch whose validation value is within one
     * standard error of the best so far: a small validation set cannot tell
     * such epochs apart, and the later one has trained longer. */
    int select_within_se;
    int eval_test;           /* also measure test data at each evaluation (1) */
    const char *metrics_out; /* CSV path or NULL */
    const char *phase;       /* CSV "phase": "train" (default), "refit" or "denoise" */
    int csv_append;          /* append rows to metrics_out instead of rewriting it */
    int progress;            /* -1 auto, 0 off, 1 on */
    /* When set, every epoch appends one object to this array: epoch, phase,
     * loss, kl, beta, seconds and, when evaluated, valid and test metrics
     * (the manifest's training.curves, the --plot-out picture). */
    json_t *curves;
    uint64_t seed;
} rs_train_options;

void rs_train_options_default(rs_train_options *o);

typedef struct rs_train_summary {
    int epochs_run;
    int best_epoch;        /* 0 when never evaluated */
    int selected_on_valid; /* 1: chosen on validation; 0: last epoch */
    rs_eval_result best_valid, best_test;
    double seconds_total, seconds_train;
    double mean_epoch_seconds;
} rs_train_summary;

/* Set from a signal handler (SIGINT/SIGTERM): training stops after the
 * epoch in progress, evaluates it, and returns normally so the best epoch
 * so far is still published. */
extern volatile int rs_train_stop_requested;

/* Trains model on d.train, leaving the best epoch's parameters in the model. */
int rs_train_run(rs_train_model *model, const rs_dataset *d, const rs_metric_set *set,
                 const rs_train_options *o, rs_train_summary *summary, rs_error *err);

#endif
