/* ganmf_eval.c - trains GANMF (trainer/ganmf.h) outside the model-family
 * spine and measures its ranking quality, beside the popularity baseline,
 * with the trainer's own loader (core/dataset.h) and evaluator
 * (trainer/evaluate.h, core/metrics.h).
 *
 *   ganmf_eval --train TRAIN.tsv --test TEST.tsv [options]   (--help lists them)
 *
 * Protocol (the paper's, section 5.1): a validation carve-out of the
 * training rows chooses the epoch count (every epoch is evaluated on it,
 * from the training rows only); then a fresh model with the same seed is
 * trained on train + validation ("known") for that many epochs and measured
 * once on the test rows, items of the known rows excluded. Known users are
 * scored by their own factors Sigma[u] V^T, as a served factor model would.
 * One line per epoch on stderr; the result table on stdout.
 *
 * Measured on ../shared/data/ml100k (917 users x 939 items, seed 2026,
 * validation 91 users, test 917 users, standard errors about 0.006-0.007;
 * iALS and EASE from bench/baselines of the h/baselines branch, same
 * loader, carve-out and evaluator, their hyperparameters chosen on the same
 * validation users):
 *
 *   model                                        R@20    R@50    N@50    N@100
 *   popularity                                   0.2249  0.3113  0.2495  0.3030
 *   GANMF, authors' ML1M defaults (h 992), 66 ep 0.1837  0.2409  0.1965  0.2357
 *   GANMF h 992, lr x10, 36 ep                   0.3699  0.4845  0.3926  0.4485
 *   GANMF h 250, lr x10, 23 ep                   0.4247  0.5438  0.4494  0.5086
 *   GANMF h 50, lr x10, 19 ep                    0.4328  0.5554  0.4606  0.5204
 *   GANMF h 50, lr x10, lazy rows, 23 ep (*)     0.4339  0.5557  0.4644  0.5242
 *     its V, users folded in by ridge (L 30)     0.4445  0.5703  0.4752  0.5339
 *   iALS k 64, reg 0.03                          0.4641  0.5898  0.4889  0.5503
 *   EASE lambda 1000                             0.4504  0.5722  0.4768  0.5347
 *   (*) best validation NDCG@50 of the grid (0.3831; iALS 0.3838):
 *       ganmf_eval --train ml100k/train.tsv --test ml100k/test.tsv --hidden 50
 *         --lr-d 1e-3 --lr-g 1.65e-3 --epochs 60 --lazy-users --foldin 10,30
 *       (other options at their defaults; "lr x10" is --lr-d 1e-3 --lr-g 1.65e-3)
 *
 * GANMF does not beat iALS here: -0.030 Recall@20 and -0.025 NDCG@50 with
 * the configuration chosen on validation (seed 7 instead of 2026 moves the
 * dense h 50 row by at most 0.002). The ML1M defaults fail on ml100k for
 * two measured reasons: (1) 917 users are 15 steps per epoch (ML1M: 95), so 66 epochs at
 * lr 1e-4 stop while validation still rises (NDCG@50 0.155 at epoch 66;
 * with h 50, the same learning rates reach 0.377 at epoch 165 of 300);
 * (2) h 992 > 939 items is no bottleneck (the paper asks for one): at
 * lr x10, h 992 peaks at 0.301 on validation, h 250 at 0.347, h 50 at
 * 0.377. Around h 50, alpha 0.1-0.5, m 1-10, K 64-250, batch 32,
 * lambda_D 1e-5..1e-3 and per-batch alternation all stay within
 * 0.360-0.383, i.e. within one standard error (0.017). Through training
 * the fakes' energy stays 100-300 times below the reals' (hinge active
 * in every step), so G is driven mostly by feature matching; the model
 * overfits after about 20 epochs (no lambda_G). Its item factors are
 * better than its user factors: a ridge fold-in over V beats Sigma by 0.01.
 */
#include <cblas.h>
#include <getopt.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_kernel.h"
#include "dataset.h"
#include "evaluate.h"
#include "ganmf.h"
#include "popularity.h"

typedef struct options {
    rs_data_options data;
    rs_ganmf_config model;
    int epochs, threads, refit, popularity, valid_users_set, validate_only;
    const char *select;
    double foldin[8]; /* ridge strengths for the fold-in measurement */
    int n_foldin;
} options;

static void usage(FILE *f)
{
    fprintf(f, "usage: ganmf_eval --train FILE --test FILE [options]\n"
               "GANMF (user mode) trained and evaluated on an explicit train/test split.\n"
               "Defaults are the authors' tuned values for MovieLens 1M, user mode\n"
               "(experiments/GANMF_user_1M/best_params.txt of their code):\n"
               "  --factors K        latent factors of Sigma and V (250)\n"
               "  --hidden H         units in the autoencoder's coding layer (992)\n"
               "  --batch B          users per step (64)\n"
               "  --margin M         hinge margin coefficient m (10)\n"
               "  --lr-d X           discriminator Adam learning rate (1e-4)\n"
               "  --lr-g X           generator Adam learning rate (1.653e-4)\n"
               "  --reg-d X          lambda_D on ||W||^2/2 of the discriminator (1e-4)\n"
               "  --alpha X          feature-matching weight alpha (0.01)\n"
               "  --epochs N         epochs of the selection run (66)\n"
               "  --alternate MODE   epoch: a D pass then a G pass per epoch (authors' code,\n"
               "                     default); batch: D step then G step per batch (Algorithm 1)\n"
               "  --lazy-users       Adam moves only the batch's rows of Sigma (default: all\n"
               "                     rows, as TF1's Adam in the authors' code)\n"
               "Protocol:\n"
               "  --valid-users N    users with a validation carve-out (10%% of users)\n"
               "  --valid-fraction X share of their items carved out (0.2)\n"
               "  --select METRIC    validation metric choosing the epoch count (ndcg@50)\n"
               "  --no-refit         measure the selection run's best epoch instead of\n"
               "                     retraining on train + validation\n"
               "  --validate-only    stop after the selection run: print its best validation\n"
               "                     figure (for hyperparameter grids), no test\n"
               "  --popularity       also measure the popularity baseline (validation on stderr)\n"
               "  --foldin L1,L2,..  also score the test users from their known rows folded\n"
               "                     in by ridge, sigma = (V^T V + L I)^-1 V^T x, as a server\n"
               "                     would for a history it has no factors for\n"
               "  --seed N           data carve-out and model seed (2026)\n"
               "  --threads N        BLAS and OpenMP threads (all cores)\n");
}

enum {
    OPT_TRAIN = 1,
    OPT_TEST,
    OPT_FACTORS,
    OPT_HIDDEN,
    OPT_BATCH,
    OPT_MARGIN,
    OPT_LR_D,
    OPT_LR_G,
    OPT_REG_D,
    OPT_ALPHA,
    OPT_EPOCHS,
    OPT_ALTERNATE,
    OPT_VALID_USERS,
    OPT_VALID_FRACTION,
    OPT_SELECT,
    OPT_NO_REFIT,
    OPT_VALIDATE_ONLY,
    OPT_FOLDIN,
    OPT_LAZY_USERS,
    OPT_POPULARITY,
    OPT_SEED,
    OPT_THREADS,
    OPT_HELP
};

static int parse_number(const char *name, const char *arg, double lo, double hi, double *out)
{
    char *end;
    const double x = strtod(arg, &end);
    if (end == arg || *end || !(x >= lo && x <= hi)) {
        fprintf(stderr, "ganmf_eval: %s: expected a number in [%g, %g], got '%s'\n", name, lo, hi,
                arg);
        return -1;
    }
    *out = x;
    return 0;
}

static int parse_list(options *o, const char *arg)
{
    char copy[256];
    snprintf(copy, sizeof(copy), "%s", arg);
    o->n_foldin = 0;
    for (char *save, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->n_foldin == 8) {
            fprintf(stderr, "ganmf_eval: --foldin: at most 8 values\n");
            return -1;
        }
        if (parse_number("--foldin", tok, 0, 1e9, &o->foldin[o->n_foldin++]) != 0) return -1;
    }
    return 0;
}

/* Options taking a number: the accepted range, checked before the value is
 * stored by set_number(). */
static const struct numeric_option {
    int id;
    const char *name;
    double lo, hi;
} numeric_options[] = {
    {OPT_FACTORS, "--factors", 1, 4096},
    {OPT_HIDDEN, "--hidden", 1, 65536},
    {OPT_BATCH, "--batch", 1, 65536},
    {OPT_MARGIN, "--margin", 0, 1e6},
    {OPT_LR_D, "--lr-d", 1e-9, 1},
    {OPT_LR_G, "--lr-g", 1e-9, 1},
    {OPT_REG_D, "--reg-d", 0, 1e3},
    {OPT_ALPHA, "--alpha", 0, 1},
    {OPT_EPOCHS, "--epochs", 1, 100000},
    {OPT_VALID_USERS, "--valid-users", 0, 1e9},
    {OPT_VALID_FRACTION, "--valid-fraction", 0.01, 0.99},
    {OPT_SEED, "--seed", 0, 1e18},
    {OPT_THREADS, "--threads", 1, 1024},
};

static void set_number(options *o, int id, double x)
{
    rs_ganmf_config *m = &o->model;
    switch (id) {
    case OPT_FACTORS:
        m->factors = (uint32_t)x;
        break;
    case OPT_HIDDEN:
        m->hidden = (uint32_t)x;
        break;
    case OPT_BATCH:
        m->batch = (int)x;
        break;
    case OPT_MARGIN:
        m->margin = (float)x;
        break;
    case OPT_LR_D:
        m->lr_discriminator = (float)x;
        break;
    case OPT_LR_G:
        m->lr_generator = (float)x;
        break;
    case OPT_REG_D:
        m->reg_discriminator = (float)x;
        break;
    case OPT_ALPHA:
        m->feature_matching = (float)x;
        break;
    case OPT_EPOCHS:
        o->epochs = (int)x;
        break;
    case OPT_VALID_USERS:
        o->data.valid_users = (uint32_t)x, o->valid_users_set = 1;
        break;
    case OPT_VALID_FRACTION:
        o->data.valid_fraction = x;
        break;
    case OPT_SEED:
        o->data.seed = m->seed = (uint64_t)x;
        break;
    case OPT_THREADS:
        o->threads = (int)x;
        break;
    }
}

static int apply_option(options *o, int id, const char *arg)
{
    for (size_t i = 0; i < sizeof(numeric_options) / sizeof(numeric_options[0]); i++) {
        const struct numeric_option *n = &numeric_options[i];
        if (n->id != id) continue;
        double x;
        if (parse_number(n->name, arg, n->lo, n->hi, &x) != 0) return -1;
        set_number(o, id, x);
        return 0;
    }
    if (id == OPT_TRAIN)
        o->data.train_path = arg;
    else if (id == OPT_TEST)
        o->data.test_path = arg;
    else if (id == OPT_SELECT)
        o->select = arg;
    else if (id == OPT_NO_REFIT)
        o->refit = 0;
    else if (id == OPT_VALIDATE_ONLY)
        o->validate_only = 1;
    else if (id == OPT_POPULARITY)
        o->popularity = 1;
    else if (id == OPT_LAZY_USERS)
        o->model.lazy_user_rows = 1;
    else if (id == OPT_FOLDIN)
        return parse_list(o, arg);
    else if (id == OPT_ALTERNATE) {
        if (strcmp(arg, "epoch") != 0 && strcmp(arg, "batch") != 0) {
            fprintf(stderr, "ganmf_eval: --alternate: expected epoch or batch, got '%s'\n", arg);
            return -1;
        }
        o->model.alternate_per_batch = !strcmp(arg, "batch");
    } else
        return -1;
    return 0;
}

static int parse_args(int argc, char **argv, options *o)
{
    static const struct option longs[] = {{"train", 1, 0, OPT_TRAIN},
                                          {"test", 1, 0, OPT_TEST},
                                          {"factors", 1, 0, OPT_FACTORS},
                                          {"hidden", 1, 0, OPT_HIDDEN},
                                          {"batch", 1, 0, OPT_BATCH},
                                          {"margin", 1, 0, OPT_MARGIN},
                                          {"lr-d", 1, 0, OPT_LR_D},
                                          {"lr-g", 1, 0, OPT_LR_G},
                                          {"reg-d", 1, 0, OPT_REG_D},
                                          {"alpha", 1, 0, OPT_ALPHA},
                                          {"epochs", 1, 0, OPT_EPOCHS},
                                          {"alternate", 1, 0, OPT_ALTERNATE},
                                          {"valid-users", 1, 0, OPT_VALID_USERS},
                                          {"valid-fraction", 1, 0, OPT_VALID_FRACTION},
                                          {"select", 1, 0, OPT_SELECT},
                                          {"no-refit", 0, 0, OPT_NO_REFIT},
                                          {"validate-only", 0, 0, OPT_VALIDATE_ONLY},
                                          {"foldin", 1, 0, OPT_FOLDIN},
                                          {"lazy-users", 0, 0, OPT_LAZY_USERS},
                                          {"popularity", 0, 0, OPT_POPULARITY},
                                          {"seed", 1, 0, OPT_SEED},
                                          {"threads", 1, 0, OPT_THREADS},
                                          {"help", 0, 0, OPT_HELP},
                                          {0, 0, 0, 0}};
    memset(o, 0, sizeof(*o));
    rs_data_options_default(&o->data);
    o->data.split = RS_SPLIT_FILE;
    rs_ganmf_config_default(&o->model);
    o->model.seed = o->data.seed;
    o->epochs = 66;
    o->refit = 1;
    o->select = "ndcg@50";
    int id;
    while ((id = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (id == OPT_HELP) {
            usage(stdout);
            exit(0);
        }
        if (id == '?' || apply_option(o, id, optarg) != 0) {
            usage(stderr);
            return -1;
        }
    }
    if (!o->data.train_path || !o->data.test_path) {
        fprintf(stderr, "ganmf_eval: --train and --test are required\n");
        usage(stderr);
        return -1;
    }
    return 0;
}

/* The evaluator's view of a GANMF model: known users' generated profiles.
 * Training goes through rs_ganmf_train_epoch, not through this adapter. */
static int ganmf_score(void *self, const rs_csr *input, const uint32_t *users, int size,
                       float *scores, rs_error *err)
{
    rs_ganmf_score(self, users, size, scores);
    return 0;
}

static void as_model(rs_ganmf *g, rs_train_model *m)
{
    memset(m, 0, sizeof(*m));
    m->family = "ganmf";
    m->self = g;
    m->batch_capacity = 256;
    m->n_items = g->n_items;
    m->score = ganmf_score;
}

static void print_row(const char *name, const rs_metric_set *set, const rs_eval_result *r)
{
    printf("%-12s", name);
    for (int i = 0; i < set->n; i++) printf("  %.4f (%.4f)", r->values[i], r->std_error[i]);
    printf("   users %u\n", r->n_users);
}

static void print_header(const rs_metric_set *set)
{
    printf("%-12s", "model");
    char name[32];
    for (int i = 0; i < set->n; i++) {
        rs_metric_name(set, i, name, sizeof(name));
        printf("  %-15s", name);
    }
    printf("\n");
}

/* Trains epochs epochs on data; with valid non-NULL evaluates every epoch
 * on it and returns the best epoch by set index select (kept in *best). */
static int train_run(const options *o, const rs_dataset *d, const rs_csr *data, int epochs,
                     const rs_metric_set *set, int select, rs_ganmf *g, int *best_epoch,
                     rs_eval_result *best_valid, rs_error *err)
{
    if (rs_ganmf_init(g, &o->model, data->n_rows, data->n_cols, err) != 0) return -1;
    rs_train_model view;
    as_model(g, &view);
    double best = -1.0;
    *best_epoch = epochs;
    for (int e = 1; e <= epochs; e++) {
        rs_ganmf_epoch_stats s;
        const double t0 = rs_now();
        rs_ganmf_train_epoch(g, data, &s);
        fprintf(stderr,
                "epoch %3d  L_D %.5f  L_G %.5f  D(x) %.5f  D(G) %.5f  fm %.3g  hinge %.2f  %.1fs",
                e, s.loss_d, s.loss_g, s.real_energy, s.fake_energy, s.feature_distance,
                s.hinge_active, rs_now() - t0);
        if (best_epoch && select >= 0) {
            rs_eval_result r;
            if (rs_evaluate(&view, &d->train, &d->train, &d->valid, set, &r, err) != 0) return -1;
            char name[32];
            rs_metric_name(set, select, name, sizeof(name));
            fprintf(stderr, "  valid %s %.4f", name, r.values[select]);
            if (r.values[select] > best) {
                best = r.values[select], *best_epoch = e;
                if (best_valid) *best_valid = r;
            }
        }
        fprintf(stderr, "\n");
    }
    return 0;
}

/* LAPACK's Cholesky solve, as OpenBLAS exports it (column-major). */
extern void sposv_(const char *uplo, const int *n, const int *nrhs, float *a, const int *lda,
                   float *b, const int *ldb, int *info);

/* factors (n_users x K) = ridge fold-in of every row of rows against V. In
 * column-major terms the right-hand sides X V are a K x n_users matrix. */
static int fold_in(const rs_ganmf *g, const rs_csr *rows, double lambda, float *factors,
                   rs_error *err)
{
    const int K = (int)g->config.factors, U = (int)rows->n_rows;
    float *gram = rs_malloc((size_t)K * K, sizeof(float), err);
    if (!gram) return -1;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, K, (int)g->n_items, 1.0f,
                g->item_factors, K, g->item_factors, K, 0.0f, gram, K);
    for (int k = 0; k < K; k++) gram[(size_t)k * K + k] += (float)lambda;
    memset(factors, 0, (size_t)U * K * sizeof(float));
    for (int u = 0; u < U; u++)
        for (uint64_t j = rows->indptr[u]; j < rows->indptr[u + 1]; j++)
            cblas_saxpy(K, 1.0f, g->item_factors + (size_t)rows->indices[j] * K, 1,
                        factors + (size_t)u * K, 1);
    int info = 0;
    sposv_("L", &K, &U, gram, &K, factors, &K, &info);
    free(gram);
    if (info != 0) return rs_fail(err, "fold-in: Cholesky failed (info %d)", info);
    return 0;
}

/* Test figures of the model with its user factors replaced by fold-ins. */
static int measure_foldins(const options *o, const rs_dataset *d, const rs_ganmf *g,
                           const rs_metric_set *set, rs_error *err)
{
    float *factors = rs_malloc((size_t)g->n_users * g->config.factors, sizeof(float), err);
    if (!factors) return -1;
    rs_ganmf folded = *g; /* shares V; only score() reads this copy */
    folded.user_factors = factors;
    rs_train_model view;
    as_model(&folded, &view);
    for (int i = 0; i < o->n_foldin; i++) {
        rs_eval_result r;
        if (fold_in(g, &d->test_input, o->foldin[i], factors, err) != 0 ||
            rs_evaluate(&view, &d->test_input, &d->known, &d->test, set, &r, err) != 0) {
            free(factors);
            return -1;
        }
        char label[32];
        snprintf(label, sizeof(label), "foldin(%g)", o->foldin[i]);
        print_row(label, set, &r);
    }
    free(factors);
    return 0;
}

int main(int argc, char **argv)
{
    rs_blas_kernel_ensure(argv);
    options o;
    if (parse_args(argc, argv, &o) != 0) return 2;
    if (o.threads > 0) {
        openblas_set_num_threads(o.threads);
        omp_set_num_threads(o.threads);
    }
    rs_error err;
    rs_dataset d;
    rs_metric_set set;
    rs_metric_set_default(&set);
    const int select = rs_metric_set_find_or_add(&set, o.select);
    if (select < 0) {
        fprintf(stderr, "ganmf_eval: --select: expected recall@K or ndcg@K, got '%s'\n", o.select);
        return 2;
    }
    if (!o.valid_users_set) {
        rs_data_options probe = o.data;
        probe.valid_users = 0;
        if (rs_dataset_load(&probe, &d, &err) != 0) goto fail_load;
        o.data.valid_users = d.report.n_users / 10;
        rs_dataset_free(&d);
    }
    if (rs_dataset_load(&o.data, &d, &err) != 0) goto fail_load;
    rs_data_report_print(&d.report, stderr);

    print_header(&set);
    rs_eval_result r;
    if (o.popularity) {
        rs_train_model pop;
        if (rs_popularity_create(d.popularity, d.report.n_items, &pop, &err) != 0) goto fail;
        rs_eval_result valid = {0};
        int rc = rs_evaluate(&pop, &d.test_input, &d.known, &d.test, &set, &r, &err);
        if (rc == 0 && rs_csr_nnz(&d.valid) > 0)
            rc = rs_evaluate(&pop, &d.train, &d.train, &d.valid, &set, &valid, &err);
        pop.free(pop.self);
        if (rc != 0) goto fail;
        fprintf(stderr, "popularity: valid %s %.4f (%.4f)\n", o.select, valid.values[select],
                valid.std_error[select]);
        print_row("popularity", &set, &r);
        fflush(stdout);
    }

    rs_ganmf g;
    int best_epoch;
    const int has_valid = rs_csr_nnz(&d.valid) > 0;
    rs_eval_result valid = {0};
    if (train_run(&o, &d, &d.train, o.epochs, &set, has_valid ? select : -1, &g, &best_epoch,
                  &valid, &err) != 0)
        goto fail_model;
    fprintf(stderr, "selected %d of %d epochs on validation\n", best_epoch, o.epochs);
    if (o.validate_only) {
        char label[32];
        snprintf(label, sizeof(label), "valid@%d", best_epoch);
        print_row(label, &set, &valid);
        rs_ganmf_free(&g);
        rs_dataset_free(&d);
        return 0;
    }
    if (o.refit) {
        rs_ganmf_free(&g);
        fprintf(stderr, "refit: %d epochs on train + validation\n", best_epoch);
        if (train_run(&o, &d, &d.known, best_epoch, &set, -1, &g, &best_epoch, NULL, &err) != 0)
            goto fail_model;
    } else if (best_epoch != o.epochs) {
        /* Without a refit, measure the selected epoch: retrain to it. */
        rs_ganmf_free(&g);
        if (train_run(&o, &d, &d.train, best_epoch, &set, -1, &g, &best_epoch, NULL, &err) != 0)
            goto fail_model;
    }
    rs_train_model view;
    as_model(&g, &view);
    if (rs_evaluate(&view, &d.test_input, &d.known, &d.test, &set, &r, &err) != 0) goto fail_model;
    char label[32];
    snprintf(label, sizeof(label), "ganmf@%d", best_epoch);
    print_row(label, &set, &r);
    if (measure_foldins(&o, &d, &g, &set, &err) != 0) goto fail_model;
    rs_ganmf_free(&g);
    rs_dataset_free(&d);
    return 0;
fail_model:
    rs_ganmf_free(&g);
fail:
    rs_dataset_free(&d);
fail_load:
    fprintf(stderr, "ganmf_eval: %s\n", err.msg);
    return 1;
}
