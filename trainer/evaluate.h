/* evaluate.h - ranking evaluation of a trainable model: for every user with
 * targets, score all items from the user's input row, exclude the items in
 * the user's exclusion row, take the top max-K and average the metric set. */
#ifndef RS_EVALUATE_H
#define RS_EVALUATE_H

#include <jansson.h>

#include "dataset.h"
#include "metrics.h"
#include "trainable.h"

typedef struct rs_eval_result {
    uint32_t n_users; /* users with at least one target */
    double values[RS_METRICS_MAX_K];
    double std_error[RS_METRICS_MAX_K]; /* of the mean over users */
} rs_eval_result;

int rs_evaluate(rs_train_model *model, const rs_csr *input, const rs_csr *exclude,
                const rs_csr *targets, const rs_metric_set *set, rs_eval_result *out,
                rs_error *err);

/* r's figures as a JSON object keyed by metric name ("recall@20": 0.41,
 * ...); NULL when out of memory. The caller owns the reference. */
json_t *rs_eval_metrics_json(const rs_metric_set *set, const rs_eval_result *r);

/* Writes the model's top-k for the first n_users users with a non-empty
 * input row, one JSON object per line: {"user": ID, "items": [IDS],
 * "scores": [...]}, ranked from the input rows with those rows and the
 * rows of `seen` (the published seen-set; NULL: none) excluded, exactly as
 * a server answers a known user. For checking a served model against the
 * trainer's own ranking. */
int rs_write_rankings(rs_train_model *model, const rs_csr *input, const rs_csr *seen,
                      const rs_idtable *users, const rs_idtable *items, uint32_t n_users,
                      uint32_t k, const char *path, rs_error *err);
#endif
