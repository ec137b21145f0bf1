/* main.c - rectrain, the command line of the trainer.
 *
 *   rectrain --data TRAIN [--test TEST] --model vae|fastvae ... [--store DIR --variant NAME]
 *   rectrain synth --out DIR [--users N] [--items N] [--seed S]
 *   rectrain store ls|show|set-current|rm|verify DIR ...   (store_cmd.c)
 *
 * Parses options, loads the data, trains, reports and publishes; the work
 * itself lives in the other trainer/ and core/ modules.
 */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stddef.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blas_kernel.h"
#include "catalog.h"
#include "cli.h"
#include "dataset.h"
#include "events_input.h"
#include "model.h"
#include "options.h"
#include "plot.h"
#include "preflight.h"
#include "publish.h"
#include "store.h"
#include "store_cmd.h"
#include "synth.h"
#include "train.h"

static void set_threads(int threads)
{
    if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads <= 0) threads = 1;
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
}

/* --items: the catalogue of the training data's items, checked before
 * training so that a bad file costs no training time. */
static int load_items(const char *path, rs_dataset *d, rs_error *err)
{
    rs_catalog_report rep;
    if (!(d->catalog = rs_calloc(1, sizeof(*d->catalog), err)) ||
        rs_catalog_read(path, d->items, d->catalog, &rep, err) != 0)
        return -1;
    fprintf(stderr,
            "items %s: %llu records, %llu of the %u items described (%u categories, %u numeric "
            "fields), %llu ids not in the training data skipped\n",
            path, (unsigned long long)rep.lines, (unsigned long long)rep.described,
            d->catalog->n_items, d->catalog->n_categories, d->catalog->n_fields,
            (unsigned long long)rep.unknown);
    return 0;
}

/* Loads the data (and --items); without --valid-users, carves validation
 * out of min(5000, 10% of) the users (counted by the loader). */
static int load_files(rs_cli *c, rs_dataset *d, rs_error *err)
{
    if (!c->valid_users_set) c->data.valid_users_auto = 5000;
    int rc = rs_dataset_load(&c->data, d, err);
    if (rc == 0 && !c->valid_users_set) c->data.valid_users = d->report.valid_users;
    if (rc == 0 && c->items) rc = load_items(c->items, d, err);
    return rc;
}

/* With --events the training file is --data's content followed by the
 * events (events_input.h), written to a temporary file for the load. */
static int load_data(rs_cli *c, rs_dataset *d, rs_events_input *events, rs_error *err)
{
    if (!c->events_dir) return load_files(c, d, err);
    c->data_given = c->data.train_path;
    if (rs_events_input_make(c->events_dir, c->events_types, c->data_given, events, err) != 0)
        return -1;
    fprintf(stderr, "events %s: %llu read, %llu of types %s used (%llu skipped), cutoff %llu\n",
            c->events_dir, (unsigned long long)events->read, (unsigned long long)events->used,
            c->events_types, (unsigned long long)events->skipped,
            (unsigned long long)events->cutoff_seq);
    c->data.train_path = events->path;
    int rc = load_files(c, d, err);
    rs_events_input_remove(events);
    c->data.train_path = c->data_given;
    return rc;
}

static json_t *metrics_json(const rs_metric_set *set, const rs_eval_result *r)
{
    json_t *obj = rs_eval_metrics_json(set, r);
    if (obj) json_object_set_new(obj, "users", json_integer(r->n_users));
    return obj;
}

/* The manifest's record of --denoise prorec: settings and what the last
 * round flagged. */
static json_t *denoise_json(const rs_cli *c)
{
    const rs_prorec_options *o = &c->prorec;
    double share = c->denoise_interactions
                       ? (double)c->denoise_flagged / (double)c->denoise_interactions
                       : 0.0;
    json_t *obj = json_pack(
        "{s:s, s:f, s:f, s:f, s:i, s:s, s:I, s:I, s:f, s:f, s:s, s:i}", "method", "prorec", "gamma",
        (double)o->gamma, "beta", (double)o->beta, "lambda", (double)o->lambda, "rounds", o->rounds,
        "split", o->log_domain ? "log" : "rho", "interactions", (json_int_t)c->denoise_interactions,
        "flagged", (json_int_t)c->denoise_flagged, "flagged_share", share, "seconds",
        c->denoise_seconds, "keep", c->denoise_keep_all ? "always" : "better", "rounds_kept",
        c->denoise_rounds_kept);
    /* NaN (no validation data) is not JSON: the figures are left out. */
    if (obj && !isnan(c->denoise_valid_base)) {
        json_object_set_new(obj, "valid_base", json_real(c->denoise_valid_base));
        json_object_set_new(obj, "valid_kept", json_real(c->denoise_valid_kept));
    }
    return obj;
}

static json_t *training_json(const rs_cli *c, const rs_train_summary *s,
                             const rs_events_input *events)
{
    json_t *obj = json_pack(
        "{s:s?, s:i, s:i, s:i, s:s, s:b, s:f, s:f, s:f, s:I, s:i, s:f, s:I, s:o, "
        "s:o}",
        "data", c->data.train_path, "epochs", c->train.epochs, "epochs_run", s->epochs_run,
        "best_epoch", s->best_epoch, "selected_on", c->select, "selected_on_validation",
        s->selected_on_valid, "anneal_cap", (double)c->train.anneal_cap, "seconds_total",
        s->seconds_total, "seconds_per_epoch", s->mean_epoch_seconds, "seed",
        (json_int_t)c->train.seed, "threads", c->threads, "valid_fraction", c->data.valid_fraction,
        "anneal_steps", (json_int_t)c->train.anneal_steps, "test_metrics",
        metrics_json(&c->metrics, &s->best_test), "valid_metrics",
        metrics_json(&c->metrics, &s->best_valid));
    if (obj) {
        json_object_set_new(obj, "refit", json_boolean(c->refitted));
        json_object_set_new(obj, "select_rule",
                            json_string(c->train.select_within_se ? "within-se" : "best"));
        if (c->denoise) json_object_set_new(obj, "denoise", denoise_json(c));
        if (c->train.curves) json_object_set(obj, "curves", c->train.curves);
        if (c->events_dir)
            json_object_set_new(obj, "events",
                                rs_events_input_json(events, c->events_dir, c->events_types));
    }
    return obj;
}

static void print_summary(const rs_cli *c, const rs_train_summary *s)
{
    char name[32];
    fprintf(stderr, "best epoch %d of %d (%s on %s); %.1f s per epoch, %.1f s in all\n",
            s->best_epoch, s->epochs_run, c->select,
            s->selected_on_valid ? "validation" : "none: last epoch kept", s->mean_epoch_seconds,
            s->seconds_total);
    if (s->best_test.n_users) {
        fprintf(stderr, "test (%u users):", s->best_test.n_users);
        for (int i = 0; i < c->metrics.n; i++) {
            rs_metric_name(&c->metrics, i, name, sizeof(name));
            fprintf(stderr, " %s %.4f", name, s->best_test.values[i]);
        }
        fprintf(stderr, "\n  standard errors:");
        for (int i = 0; i < c->metrics.n; i++) {
            rs_metric_name(&c->metrics, i, name, sizeof(name));
            fprintf(stderr, " %s %.4f", name, s->best_test.std_error[i]);
        }
        fprintf(stderr, "\n");
    }
}

/* Creates the model the options ask for, to be trained on d->train. */
static int create_model(rs_cli *c, rs_dataset *d, rs_train_model *model, rs_error *err)
{
    rs_family_inputs in = {d->report.n_items, d->popularity, c->train.seed, d->report.n_users,
                           &d->train};
    return c->family->create(c->family_options, &in, model, err);
}

/* Trains a fresh model (same seed) on train + validation items for the
 * epoch count validation chose, replacing *model; its test figures are
 * measured once, after the last epoch. */
static int refit(rs_cli *c, rs_dataset *d, rs_train_model *model, rs_train_summary *summary,
                 rs_error *err)
{
    int epochs = summary->best_epoch;
    if (epochs <= 0 || rs_train_stop_requested) return 0;
    rs_dataset all = *d;
    all.train = d->known;
    uint64_t *no_rows = rs_calloc((size_t)d->known.n_rows + 1, sizeof(uint64_t), err);
    if (!no_rows) return -1;
    all.valid = (rs_csr){d->known.n_rows, d->known.n_cols, no_rows, NULL, NULL};
    rs_train_options o = c->train;
    o.eval_test = 1;
    o.epochs = epochs;
    o.eval_every = epochs;
    o.phase = "refit";
    o.csv_append = 1; /* the refit's row follows the selection pass's rows */
    fprintf(stderr, "refit: %d epochs on train + validation items\n", epochs);
    model->free(model->self);
    memset(model, 0, sizeof(*model));
    rs_train_summary refit_summary;
    int rc = create_model(c, &all, model, err);
    if (rc == 0) rc = rs_train_run(model, &all, &c->metrics, &o, &refit_summary, err);
    free(no_rows);
    if (rc != 0) return -1;
    summary->best_test = refit_summary.best_test;
    summary->seconds_total += refit_summary.seconds_total;
    c->refitted = 1;
    print_summary(c, &refit_summary);
    return 0;
}

/* The model's scores of a block of users ranked from `input`: ProRec's
 * view of any family. */
typedef struct model_scorer {
    rs_train_model *model;
    const rs_csr *input;
} model_scorer;

static int score_block(void *ctx, const uint32_t *users, int size, float *scores, rs_error *err)
{
    model_scorer *s = ctx;
    return s->model->score(s->model->self, s->input, users, size, scores, err);
}

/* Users per scoring block: the model's batch, at most 2^24 scores. */
static int score_block_size(const rs_train_model *model)
{
    uint32_t most = RS_MAX(1u, (1u << 24) / RS_MAX(1u, model->n_items));
    return (int)RS_MIN((uint32_t)model->batch_capacity, most);
}

/* The selection metric's validation value of a training summary, or NaN
 * when the run had no validation data (nothing to compare rounds on). */
static double valid_figure(const rs_cli *c, const rs_train_summary *s)
{
    return s->selected_on_valid ? s->best_valid.values[c->train.select_index] : NAN;
}

/* Relabels soft->train's values from the trained model's matching (flagged
 * per entry) and reports the round. */
static int relabel(rs_cli *c, rs_dataset *soft, double *log_rho, uint8_t *flagged, int round,
                   rs_train_model *model, rs_error *err)
{
    double t0 = rs_now();
    model_scorer scorer = {model, &soft->train};
    if (rs_prorec_matching(&soft->train, c->prorec.gamma, score_block_size(model), score_block,
                           &scorer, log_rho, err) != 0)
        return rs_error_prefix(err, "--denoise prorec");
    int64_t n_flagged =
        rs_prorec_relabel(&soft->train, log_rho, &c->prorec, soft->train.values, flagged, err);
    if (n_flagged < 0) return -1;
    uint64_t nnz = rs_csr_nnz(&soft->train);
    double mean = 0.0;
    for (uint64_t p = 0; p < nnz; p++) mean += soft->train.values[p];
    c->denoise_seconds += rs_now() - t0;
    c->denoise_flagged = (uint64_t)n_flagged;
    c->denoise_interactions = nnz;
    fprintf(stderr,
            "denoise round %d/%d: %lld of %llu interactions flagged (%.2f%%), mean weight %.4f, "
            "%.1fs; retraining on the soft labels\n",
            round, c->prorec.rounds, (long long)n_flagged, (unsigned long long)nnz,
            100.0 * (double)n_flagged / (double)RS_MAX(nnz, 1), mean / (double)RS_MAX(nnz, 1),
            rs_now() - t0);
    return 0;
}

/* One ProRec round: relabel from *model, then train a fresh model (same
 * seed) on the soft labels. With --denoise-keep better the fresh model
 * replaces *model only when its validation figure is at least *model's;
 * otherwise it is dropped and *kept is set to 0 (the caller restores the
 * labels and stops). A round without validation data is always kept. */
static int denoise_round(rs_cli *c, rs_dataset *soft, double *log_rho, uint8_t *flagged, int round,
                         rs_train_model *model, rs_train_summary *summary, int *kept, rs_error *err)
{
    if (relabel(c, soft, log_rho, flagged, round, model, err) != 0) return -1;
    rs_train_model fresh;
    memset(&fresh, 0, sizeof(fresh));
    rs_train_summary fresh_summary;
    rs_train_options o = c->train;
    o.phase = "denoise";
    o.csv_append = 1; /* each round's rows follow the base model's */
    if (create_model(c, soft, &fresh, err) != 0) return -1;
    if (rs_train_run(&fresh, soft, &c->metrics, &o, &fresh_summary, err) != 0) {
        fresh.free(fresh.self);
        return -1;
    }
    print_summary(c, &fresh_summary);
    double before = valid_figure(c, summary), after = valid_figure(c, &fresh_summary);
    *kept = c->denoise_keep_all || isnan(before) || isnan(after) || after >= before;
    fprintf(stderr, "denoise round %d: validation %s %.4f against %.4f before: %s\n", round,
            c->select, after, before, *kept ? "kept" : "dropped, the model before is kept");
    rs_train_model *loser = *kept ? model : &fresh;
    loser->free(loser->self);
    if (*kept) {
        *model = fresh;
        *summary = fresh_summary;
    }
    return 0;
}

/* --denoise prorec: rounds of relabel + retrain on a copy of the training
 * matrix that shares d->train's structure and owns its values. The labels
 * of the kept model's training (all ones when no round is kept) are what
 * --denoise-out writes. */
static int denoise(rs_cli *c, rs_dataset *d, rs_train_model *model, rs_train_summary *summary,
                   rs_error *err)
{
    if (!model->weighted)
        return rs_fail_kind(err, RS_ERR_INVALID,
                            "--denoise prorec: the %s family does not train on weighted "
                            "interactions (vae, fastvae and ials do)",
                            model->family);
    uint64_t nnz = rs_csr_nnz(&d->train);
    rs_dataset soft = *d;
    /* The working labels and flags, and a copy of the kept round's (the
     * base model's: all ones, none flagged). */
    soft.train.values = rs_malloc(nnz + 1, sizeof(float), err);
    float *kept_values = soft.train.values ? rs_malloc(nnz + 1, sizeof(float), err) : NULL;
    double *log_rho = kept_values ? rs_malloc(nnz + 1, sizeof(double), err) : NULL;
    uint8_t *flagged = log_rho ? rs_calloc(nnz + 1, 1, err) : NULL;
    uint8_t *kept_flagged = flagged ? rs_calloc(nnz + 1, 1, err) : NULL;
    int rc = kept_flagged ? 0 : -1, kept = 1;
    uint64_t kept_count = 0;
    for (uint64_t p = 0; rc == 0 && p < nnz; p++) soft.train.values[p] = kept_values[p] = 1.0f;
    c->denoise_valid_base = c->denoise_valid_kept = valid_figure(c, summary);
    c->denoise_rounds_kept = 0;
    for (int round = 1; rc == 0 && kept && round <= c->prorec.rounds && !rs_train_stop_requested;
         round++) {
        rc = denoise_round(c, &soft, log_rho, flagged, round, model, summary, &kept, err);
        if (rc == 0 && kept) {
            c->denoise_rounds_kept = round;
            c->denoise_valid_kept = valid_figure(c, summary);
            kept_count = c->denoise_flagged;
            memcpy(kept_values, soft.train.values, nnz * sizeof(float));
            memcpy(kept_flagged, flagged, nnz);
        }
    }
    if (rc == 0 && !kept) { /* the dropped round's labels trained nothing published */
        memcpy(soft.train.values, kept_values, nnz * sizeof(float));
        memcpy(flagged, kept_flagged, nnz);
        c->denoise_flagged = kept_count;
    }
    if (rc == 0 && c->denoise_out)
        rc = rs_prorec_write(c->denoise_out, &soft.train, d->users, d->items, d->train.values,
                             soft.train.values, flagged, err);
    free(soft.train.values);
    free(kept_values);
    free(log_rho);
    free(flagged);
    free(kept_flagged);
    return rc;
}

/* First signal: finish the epoch, then evaluate and publish the best so
 * far. Second signal: the default action (terminate now). */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
    if (rs_train_stop_requested) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    stop_signal = sig;
    rs_train_stop_requested = 1;
}

/* Exit statuses (cli.c's usage text, README "Training"). */
enum { EXIT_FAILED = 1, EXIT_CHECK = 2, EXIT_GATE = 3 };

/* A version published from an evaluation run never learned the held-out
 * interactions; say how to train the production model (README, "Evaluation
 * runs and the production model"). */
static void note_evaluation_run(const rs_cli *c, const rs_dataset *d)
{
    uint64_t test = d->report.test_interactions,
             valid = c->refitted ? 0 : d->report.valid_interactions;
    if (test == 0 && valid == 0) return;
    fprintf(stderr,
            "note: this version did not train on %llu held-out test and %llu validation "
            "interactions (an evaluation run); the production model trains on all of them: "
            "--split none --refit\n",
            (unsigned long long)test, (unsigned long long)valid);
}

/* Publishes the kept model; EXIT_GATE when the gate left `current` alone. */
static int publish(const rs_cli *c, rs_train_model *model, const rs_dataset *d,
                   const rs_train_summary *summary, const rs_events_input *events, rs_error *err)
{
    rs_publish_gate gate = {c->gate_metric, c->gate_tolerance,
                            summary->selected_on_valid ? summary->best_valid.values[c->gate_index]
                                                       : NAN};
    rs_publish_settings settings = {(size_t)(c->map_size_mib << 20), c->keep,
                                    c->gate ? &gate : NULL};
    rs_publish_result res;
    json_t *training = training_json(c, summary, events);
    int rc = rs_publish_model_with(c->store, &settings, c->variant, model, d, training, &res, err);
    json_decref(training);
    if (rc != 0) return EXIT_FAILED;
    unsigned long long v = (unsigned long long)res.version,
                       serving = (unsigned long long)res.gate.serving_version;
    if (!res.moved) {
        fprintf(stderr,
                "gate %s: refused: the new version's validation %s %.4f is below the serving "
                "version %llu's %.4f by more than the tolerance %g; wrote %s version %llu to %s, "
                "version %llu stays current (promote it with: rectrain store set-current %s %s "
                "%llu)\n",
                c->gate_metric, c->gate_metric, gate.value, serving, res.gate.serving_value,
                c->gate_tolerance, c->variant, v, c->store, serving, c->store, c->variant, v);
        return EXIT_GATE;
    }
    if (c->gate && res.gate.compared)
        fprintf(stderr,
                "gate %s: passed: validation %.4f against the serving version %llu's %.4f "
                "(tolerance %g)\n",
                c->gate_metric, gate.value, serving, res.gate.serving_value, c->gate_tolerance);
    else if (c->gate)
        fprintf(stderr, "gate %s: passed: %s\n", c->gate_metric,
                serving ? "the serving version has no validation figure to compare"
                        : "no version serves yet");
    fprintf(stderr, "published %s version %llu to %s\n", c->variant, v, c->store);
    note_evaluation_run(c, d);
    return 0;
}

/* After a SIGINT/SIGTERM: 128 + the signal (nothing is published) unless
 * --publish-on-interrupt; else 0 (go on). */
static int interrupted(const rs_cli *c, const rs_train_summary *summary)
{
    if (!rs_train_stop_requested || c->publish_on_interrupt) return 0;
    int sig = stop_signal ? (int)stop_signal : SIGINT;
    fprintf(stderr, "rectrain: interrupted by %s after epoch %d: nothing published%s\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", summary->epochs_run,
            c->store ? " (--publish-on-interrupt publishes the best epoch so far)" : "");
    return 128 + sig;
}

static int run_train(int argc, char **argv)
{
    rs_cli c;
    if (rs_cli_parse(argc, argv, &c) != 0) {
        rs_cli_free(&c);
        return 2;
    }
    set_threads(c.threads);
    c.threads = openblas_get_num_threads();
    rs_error err;
    rs_dataset d;
    memset(&d, 0, sizeof(d));
    rs_train_model model;
    memset(&model, 0, sizeof(model));
    int rc = EXIT_FAILED, stopped;
    rs_events_input events;
    memset(&events, 0, sizeof(events));
    rs_preflight pf;
    if (rs_preflight_store(&c, &pf, &err) != 0) {
        rc = EXIT_CHECK;
        goto fail;
    }
    if (load_data(&c, &d, &events, &err) != 0) goto fail;
    rs_data_report_print(&d.report, stderr);
    if (create_model(&c, &d, &model, &err) != 0) goto fail;
    fprintf(stderr,
            "model %s: %u items, %d threads (BLAS kernel %s), %.1f MiB of parameters and buffers\n",
            model.family, model.n_items, c.threads, rs_blas_kernel_name(),
            (double)rs_model_footprint(&model) / 1048576.0);
    if (rs_preflight_space(&c, &pf, rs_preflight_version_bytes(&model, &d, c.train.epochs), &err) !=
        0) {
        rc = EXIT_CHECK;
        goto fail;
    }
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    /* With --refit the first pass only chooses the epoch count: its test
     * figures would describe a model that is not published. */
    if (c.refit) c.train.eval_test = 0;
    if (!(c.train.curves = json_array())) {
        rs_fail(&err, "out of memory");
        goto fail;
    }
    rs_train_summary summary;
    if (rs_train_run(&model, &d, &c.metrics, &c.train, &summary, &err) != 0) goto fail;
    print_summary(&c, &summary);
    if ((stopped = interrupted(&c, &summary)) != 0) goto stop;
    if (c.refit && refit(&c, &d, &model, &summary, &err) != 0) goto fail;
    if (c.denoise && denoise(&c, &d, &model, &summary, &err) != 0) goto fail;
    if ((stopped = interrupted(&c, &summary)) != 0) goto stop; /* in the refit or a round */
    if (c.rankings_out && rs_write_rankings(&model, &d.known, &d.seen, d.users, d.items,
                                            c.rankings_users, 50, c.rankings_out, &err) != 0)
        goto fail;
    if (c.plot_out) {
        if (rs_plot_curves_svg(c.train.curves, c.plot_out, &err) != 0) goto fail;
        fprintf(stderr, "wrote the training curves to %s\n", c.plot_out);
    }
    if (c.store && (rc = publish(&c, &model, &d, &summary, &events, &err)) == EXIT_FAILED)
        goto fail;
    if (!c.store) rc = 0;
    goto done;
stop:
    rc = stopped;
    goto done;
fail:
    fprintf(stderr, "rectrain: %s\n", err.msg);
done:
    if (model.free) model.free(model.self);
    rs_catalog_free(d.catalog);
    free(d.catalog);
    rs_dataset_free(&d);
    json_decref(c.train.curves);
    rs_cli_free(&c);
    return rc;
}

/* mkdir -p: creates dir and its missing parents. */
static int make_dirs(const char *dir)
{
    char path[4096];
    if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) return -1;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

typedef struct synth_cli {
    rs_synth_options o;
    const char *out;
    int help;
} synth_cli;

static const rs_option synth_options[] = {
    {.name = "out",
     .type = RS_OPT_STRING,
     .arg = "DIR",
     .offset = offsetof(synth_cli, out),
     .help = "directory for train.tsv and test.tsv (required)"},
    RS_OPT_INT_("users", RS_OPT_U32, synth_cli, o.n_users, "N", 1, 100000000, "users", NULL),
    RS_OPT_INT_("items", RS_OPT_U32, synth_cli, o.n_items, "N", 2, 100000000, "items", NULL),
    RS_OPT_INT_("tastes", RS_OPT_U32, synth_cli, o.n_tastes, "N", 1, 100000, "taste clusters",
                NULL),
    RS_OPT_INT_("seed", RS_OPT_U64, synth_cli, o.seed, "S", 0, (long)(~0UL >> 1), "seed", NULL),
    {.name = "help",
     .type = RS_OPT_FLAG,
     .offset = offsetof(synth_cli, help),
     .help = "this text",
     .default_text = ""},
};

static int run_synth(int argc, char **argv)
{
    synth_cli c = {.out = NULL};
    rs_synth_options_default(&c.o);
    enum { N = sizeof(synth_options) / sizeof(synth_options[0]) };
    struct option opts[N + 1];
    for (int i = 0; i < N; i++)
        opts[i] =
            (struct option){synth_options[i].name, synth_options[i].type != RS_OPT_FLAG, NULL, i};
    opts[N] = (struct option){NULL, 0, NULL, 0};
    int opt;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1)
        if (opt == '?' || rs_option_apply(&synth_options[opt], optarg, &c) != 0) return 2;
    if (c.help) {
        synth_cli defaults = {.out = NULL};
        rs_synth_options_default(&defaults.o);
        printf("usage: rectrain synth --out DIR [options]\n"
               "Writes DIR/train.tsv and DIR/test.tsv: clustered tastes, long-tailed\n"
               "popularity, per-user 80/20 split. Same options, same bytes.\n\n");
        char def[64];
        for (int i = 0; i < N; i++) {
            rs_option_format(&synth_options[i], &defaults, def, sizeof(def));
            rs_option_print_help(stdout, &synth_options[i], synth_options[i].help, def);
        }
        return 0;
    }
    if (!c.out) {
        fprintf(stderr, "rectrain synth: --out DIR is required\n");
        return 2;
    }
    const char *out = c.out;
    rs_synth_options o = c.o;
    if (make_dirs(out) != 0) {
        fprintf(stderr, "rectrain synth: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    char train[4096], test[4096];
    snprintf(train, sizeof(train), "%s/train.tsv", out);
    snprintf(test, sizeof(test), "%s/test.tsv", out);
    rs_error err;
    if (rs_synth_write(&o, train, test, &err) != 0) {
        fprintf(stderr, "rectrain synth: %s\n", err.msg);
        return 1;
    }
    fprintf(stderr, "wrote %s and %s (%u users, %u items, seed %llu)\n", train, test, o.n_users,
            o.n_items, (unsigned long long)o.seed);
    return 0;
}

int main(int argc, char **argv)
{
    rs_blas_kernel_ensure(argv);
    if (argc >= 2 && !strcmp(argv[1], "synth")) return run_synth(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "store")) return rs_store_command(argc - 1, argv + 1);
    if (argc == 1) {
        rs_cli_usage(stderr);
        return 2;
    }
    return run_train(argc, argv);
}
