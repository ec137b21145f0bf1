/* train.c - epochs, annealing, evaluation, best-epoch selection (see train.h). */
#include "train.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "progress.h"

volatile int rs_train_stop_requested = 0;

int rs_model_keep_best(rs_train_model *model, rs_error *err)
{
    return model->params ? rs_params_keep_best(model->params, err) : 0;
}

int rs_model_restore_best(rs_train_model *model, rs_error *err)
{
    return model->params ? rs_params_restore_best(model->params, err) : 0;
}

void rs_model_after_eval(rs_train_model *model, int epoch, int improved)
{
    if (model->pia) rs_pia_after_eval(model->pia, epoch, improved);
}

size_t rs_model_footprint(const rs_train_model *model)
{
    return (model->params ? rs_params_bytes(model->params) : 0) +
           (model->footprint ? model->footprint(model->self) : 0);
}

void rs_train_options_default(rs_train_options *o)
{
    o->epochs = 50;
    o->eval_every = 1;
    o->anneal_cap = 0.2f;
    o->anneal_steps = 200000;
    o->select_index = 2; /* ndcg@50 in the default set */
    o->select_within_se = 1;
    o->eval_test = 1;
    o->metrics_out = NULL;
    o->phase = "train";
    o->csv_append = 0;
    o->progress = -1;
    o->seed = 2026;
    o->curves = NULL;
}

static int open_csv(const rs_train_options *o, const rs_metric_set *set, FILE **out, rs_error *err)
{
    *out = NULL;
    if (!o->metrics_out) return 0;
    FILE *f = fopen(o->metrics_out, o->csv_append ? "a" : "w");
    if (!f) return rs_fail(err, "%s: cannot write: %s", o->metrics_out, strerror(errno));
    *out = f;
    if (o->csv_append) return 0;
    fprintf(f, "epoch,phase,loss,kl,beta,seconds");
    char name[32];
    for (int i = 0; i < set->n; i++) {
        rs_metric_name(set, i, name, sizeof(name));
        fprintf(f, ",valid_%s", name);
    }
    for (int i = 0; i < set->n; i++) {
        rs_metric_name(set, i, name, sizeof(name));
        fprintf(f, ",%s", name);
    }
    fprintf(f, "\n");
    return 0;
}

static void print_metrics(FILE *f, const char *label, const rs_metric_set *set,
                          const rs_eval_result *r)
{
    char name[32];
    fprintf(f, "  %s", label);
    for (int i = 0; i < set->n; i++) {
        rs_metric_name(set, i, name, sizeof(name));
        fprintf(f, " %s %.4f", name, r->values[i]);
    }
}

/* One epoch's point of o->curves; valid/test NULL when not evaluated. */
static int append_curve_point(const rs_train_options *o, const rs_metric_set *set, int epoch,
                              const rs_step_stats *total, uint32_t n_users, float beta,
                              double seconds, const rs_eval_result *valid,
                              const rs_eval_result *test, rs_error *err)
{
    if (!o->curves) return 0;
    json_t *point = json_pack("{s:i, s:s, s:f, s:f, s:f, s:f}", "epoch", epoch, "phase", o->phase,
                              "loss", total->loss / n_users, "kl", total->kl / n_users, "beta",
                              (double)beta, "seconds", seconds);
    int rc = point ? 0 : -1;
    if (rc == 0 && valid && valid->n_users)
        rc = json_object_set_new(point, "valid", rs_eval_metrics_json(set, valid));
    if (rc == 0 && test && test->n_users)
        rc = json_object_set_new(point, "test", rs_eval_metrics_json(set, test));
    if (rc != 0) json_decref(point);
    /* json_array_append_new releases point itself when it fails. */
    if (rc != 0 || json_array_append_new(o->curves, point) != 0)
        return rs_fail(err, "out of memory recording the training curves");
    return 0;
}

/* Users with at least one training item, the rows an epoch visits. */
static uint32_t *trainable_users(const rs_csr *train, uint32_t *n, rs_error *err)
{
    uint32_t *users = rs_malloc(train->n_rows, sizeof(uint32_t), err);
    if (!users) return NULL;
    *n = 0;
    for (uint32_t u = 0; u < train->n_rows; u++)
        if (rs_csr_row_len(train, u) > 0) users[(*n)++] = u;
    return users;
}

/* One pass over the shuffled users. Returns -1 on error. */
static int run_epoch(rs_train_model *model, const rs_csr *train, uint32_t *users, uint32_t n,
                     int epoch, const rs_train_options *o, long *step, rs_rng *rng,
                     rs_step_stats *total, float *beta_out, rs_error *err)
{
    rs_rng epoch_rng;
    rs_rng_split(rng, (uint64_t)epoch, &epoch_rng);
    rs_rng_shuffle_u32(&epoch_rng, users, n);
    if (model->begin_epoch && model->begin_epoch(model->self, epoch, &epoch_rng, err) != 0)
        return -1;
    rs_progress bar;
    char label[32];
    snprintf(label, sizeof(label), "epoch %d/%d", epoch, o->epochs);
    rs_progress_start(&bar, stderr, o->progress, label, "users", n);
    memset(total, 0, sizeof(*total));
    float beta = 0.0f;
    for (uint32_t start = 0; start < n; start += (uint32_t)model->batch_capacity) {
        int size = (int)RS_MIN((uint32_t)model->batch_capacity, n - start);
        beta = o->anneal_steps > 0 ? (float)*step / (float)o->anneal_steps : o->anneal_cap;
        if (beta > o->anneal_cap) beta = o->anneal_cap;
        rs_train_batch batch = {train, users + start, size, beta, &epoch_rng};
        rs_step_stats stats;
        if (model->train_batch(model->self, &batch, &stats, err) != 0) return -1;
        total->loss += stats.loss;
        total->kl += stats.kl;
        total->reg += stats.reg;
        (*step)++;
        rs_progress_update(&bar, start + (uint32_t)size);
    }
    rs_progress_finish(&bar);
    *beta_out = beta;
    return 0;
}

static int evaluate_epoch(rs_train_model *model, const rs_dataset *d, const rs_metric_set *set,
                          int eval_test, rs_eval_result *valid, rs_eval_result *test, rs_error *err)
{
    memset(valid, 0, sizeof(*valid));
    memset(test, 0, sizeof(*test));
    /* Validation users rank from their (reduced) training rows; test users
     * from their full known history. */
    if (rs_csr_nnz(&d->valid) > 0 &&
        rs_evaluate(model, &d->train, &d->train, &d->valid, set, valid, err) != 0)
        return -1;
    if (eval_test && rs_csr_nnz(&d->test) > 0 &&
        rs_evaluate(model, &d->test_input, &d->test_input, &d->test, set, test, err) != 0)
        return -1;
    return 0;
}

int rs_train_run(rs_train_model *model, const rs_dataset *d, const rs_metric_set *set,
                 const rs_train_options *o, rs_train_summary *summary, rs_error *err)
{
    memset(summary, 0, sizeof(*summary));
    double t0 = rs_now();
    FILE *csv = NULL;
    uint32_t n_users = 0;
    uint32_t *users = trainable_users(&d->train, &n_users, err);
    if (!users) return -1;
    int rc = -1;
    if (n_users == 0) {
        rs_fail(err, "no user has training interactions");
        goto done;
    }
    if (open_csv(o, set, &csv, err) != 0) goto done;
    int has_valid = rs_csr_nnz(&d->valid) > 0;
    double best = -1.0;
    long step = 0;
    rs_rng rng;
    rs_rng_seed(&rng, o->seed);
    for (int epoch = 1; epoch <= o->epochs; epoch++) {
        double e0 = rs_now();
        rs_step_stats total;
        float beta;
        if (run_epoch(model, &d->train, users, n_users, epoch, o, &step, &rng, &total, &beta,
                      err) != 0)
            goto done;
        double train_seconds = rs_now() - e0;
        summary->seconds_train += train_seconds;
        summary->epochs_run = epoch;
        fprintf(stderr, "epoch %3d  loss %.4f  kl %.4f  beta %.4f  %.1fs", epoch,
                total.loss / n_users, total.kl / n_users, beta, train_seconds);
        if (total.reg != 0.0) fprintf(stderr, "  reg %.4f", total.reg / n_users);
        int last = epoch == o->epochs || rs_train_stop_requested;
        int evaluate = epoch % o->eval_every == 0 || last;
        if (!evaluate) {
            fprintf(stderr, "\n");
            if (append_curve_point(o, set, epoch, &total, n_users, beta, train_seconds, NULL, NULL,
                                   err) != 0)
                goto done;
            continue;
        }
        rs_eval_result valid, test;
        if (evaluate_epoch(model, d, set, o->eval_test, &valid, &test, err) != 0) goto done;
        if (has_valid) print_metrics(stderr, "| valid", set, &valid);
        if (test.n_users) print_metrics(stderr, "| test", set, &test);
        double selection = has_valid ? valid.values[o->select_index] : (double)epoch;
        int improved = selection > best;
        double margin = has_valid && o->select_within_se ? valid.std_error[o->select_index] : 0.0;
        int keep = improved || (has_valid && best - selection <= margin);
        if (improved) best = selection;
        if (keep) {
            summary->best_epoch = epoch;
            summary->best_valid = valid;
            summary->best_test = test;
            if (rs_model_keep_best(model, err) != 0) goto done;
        }
        fprintf(stderr, "  (eval %.1fs)%s\n", rs_now() - e0 - train_seconds,
                !has_valid ? ""
                : improved ? " * best"
                : keep     ? " * kept (within 1 s.e.)"
                           : "");
        rs_model_after_eval(model, epoch, improved);
        if (append_curve_point(o, set, epoch, &total, n_users, beta, train_seconds, &valid, &test,
                               err) != 0)
            goto done;
        if (csv) {
            fprintf(csv, "%d,%s,%.6f,%.6f,%.6f,%.3f", epoch, o->phase, total.loss / n_users,
                    total.kl / n_users, beta, train_seconds);
            /* Figures that were not measured are left empty, not 0. */
            for (int i = 0; i < set->n; i++)
                valid.n_users ? fprintf(csv, ",%.6f", valid.values[i]) : fprintf(csv, ",");
            for (int i = 0; i < set->n; i++)
                test.n_users ? fprintf(csv, ",%.6f", test.values[i]) : fprintf(csv, ",");
            fprintf(csv, "\n");
            fflush(csv);
        }
        if (rs_train_stop_requested && epoch < o->epochs) {
            fprintf(stderr, "stopping after epoch %d as requested\n", epoch);
            break;
        }
    }
    summary->selected_on_valid = has_valid;
    if (summary->best_epoch && rs_model_restore_best(model, err) != 0) goto done;
    summary->seconds_total = rs_now() - t0;
    summary->mean_epoch_seconds = summary->seconds_train / summary->epochs_run;
    rc = 0;
done:
    if (csv && fclose(csv) != 0 && rc == 0)
        rc = rs_fail(err, "%s: write failed: %s", o->metrics_out, strerror(errno));
    free(users);
    return rc;
}
