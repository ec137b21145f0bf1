/* main.c - rectrain, the command line of the trainer.
 *
 *   rectrain --data TRAIN [--test TEST] --model vae|fastvae ... [--store DIR --variant NAME]
 *   rectrain synth --out DIR [--users N] [--items N] [--seed S]
 *   rectrain store ls DIR
 *
 * Parses options, loads the data, trains, reports and publishes; the work
 * itself lives in the other trainer/ and core/ modules.
 */
#include <cblas.h>
#include <errno.h>
#include <getopt.h>
#include <omp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset.h"
#include "fastvae.h"
#include "popularity.h"
#include "publish.h"
#include "store.h"
#include "synth.h"
#include "train.h"
#include "vae.h"

typedef struct cli {
    rs_data_options data;
    rs_train_options train;
    rs_vae_options vae;
    rs_fastvae_options fv;
    rs_metric_set metrics;
    const char *model, *store, *variant, *select, *rankings_out;
    uint32_t rankings_users;
    int threads, valid_users_set, refit, refitted;
    uint32_t keep;
} cli;

/* clang-format off */
static void usage(FILE *f)
{
    fprintf(f,
"usage: rectrain --data TRAIN [options]      train, evaluate, publish\n"
"       rectrain synth --out DIR [options]    write a synthetic data set\n"
"       rectrain store ls DIR                 list variants, versions, manifests\n"
"\n"
"Data:\n"
"  --data FILE          training interactions: user<sep>item[<sep>weight[<sep>time]],\n"
"                       sep = tab, comma or '::'; optional header line\n"
"  --test FILE          test interactions (explicit split; ids must be known)\n"
"  --split MODE         file (default with --test) | holdout (default otherwise)\n"
"                       | users | none\n"
"  --holdout F          holdout: fraction of each user's items held out (0.2)\n"
"  --heldout-users N    users: number of held-out users (10%% of users)\n"
"  --foldin F           users: fraction of a held-out user's items used as input (0.8)\n"
"  --header MODE        auto (default) | yes | no\n"
"  --min-rating R       keep interactions with weight >= R (binarisation)\n"
"  --kcore-users N      iteratively drop users with fewer than N items\n"
"  --kcore-items N      iteratively drop items with fewer than N users\n"
"  --valid-users N      users whose training rows give validation items for\n"
"                       choosing the best epoch (min(5000, 10%% of users); 0 = none,\n"
"                       then the last epoch is kept)\n"
"  --valid-fraction F   share of a validation user's items held out (0.2)\n"
"\n"
"Model and training:\n"
"  --model NAME         vae (Mult-VAE, full softmax) | fastvae (FastVAE: sampled\n"
"                       softmax with MIDX samplers) | popularity (baseline,\n"
"                       not publishable)\n"
"  --epochs N           training epochs (50)\n"
"  --batch N            users per batch (vae 500, fastvae 256)\n"
"  --lr X               Adam learning rate (1e-3)\n"
"  --weight-decay X     L2 weight decay (0)\n"
"  --hidden N           vae: hidden layer width (600); fastvae: item and user\n"
"                       vector width (200)\n"
"  --latent N           latent dimension (vae 200, fastvae 32)\n"
"  --dropout P          dropout probability (0.5): vae on the input, fastvae on\n"
"                       the pooled history embedding\n"
"\n"
"FastVAE (--model fastvae):\n"
"  --sampler NAME       negative sampler of the sampled softmax: uniform | pop |\n"
"                       midx-uni | midx-pop (default) | midx-exact (the exact\n"
"                       softmax drawn through MIDX, O(M) per user: diagnostics)\n"
"                       | full (no sampling: exact softmax over all items)\n"
"  --samples T          items drawn per user, shared by its positives (200)\n"
"  --codewords K        codewords per codebook of the sampler's MIDX (16); the\n"
"                       published serving index sizes its own (sqrt(items / 4))\n"
"  --rebuild-every N    rebuild the sampler from the current item vectors every\n"
"                       N steps (0 = at the start of every epoch)\n"
"  --lr-step N          StepLR: multiply the learning rate by --lr-gamma every\n"
"                       N epochs (5; 0 = constant rate)\n"
"  --lr-gamma G         StepLR factor (0.95)\n"
"  --item-dropout P     drop history items before pooling, as the paper's input\n"
"                       dropout (0.5; 0 = off, as the authors' code)\n"
"  Item tables use lazy Adam (only rows a batch touches are updated).\n"
"\n"
"Both VAEs:\n"
"  --anneal-cap B       KL weight cap (0.2)\n"
"  --anneal-steps N     steps to reach the cap linearly (200000)\n"
"  --pia LAMBDA         Personalized Item Alignment: learnable item anchors pull\n"
"                       the masked posterior toward the user's anchor centroid\n"
"                       (0 = off); anchors are published for item similarity\n"
"  --pia-patience P     evaluations without validation gain before lambda grows (2)\n"
"  --pia-factor S       lambda multiplier when it grows (2)\n"
"\n"
"Training loop:\n""  --eval-every N       evaluate every N epochs (1)\n"
"  --select METRIC      validation metric choosing the best epoch (ndcg@50)\n"
"  --select-rule RULE   within-se (default): the latest epoch within one standard\n"
"                       error of the best validation value; best: the best value\n"
"  --refit              after choosing the epoch count on validation, train a new\n"
"                       model for that many epochs on all training data (train +\n"
"                       validation items) and publish it; test figures are\n"
"                       measured once, at the end of the refit\n"
"  --seed S             seed for initialisation, splits, dropout, noise (2026)\n"
"  --threads N          threads for BLAS and row loops (all cores)\n"
"  --metrics-out FILE   per-evaluated-epoch figures as CSV (columns epoch, phase,\n"
"                       loss, kl, beta, seconds, valid_*, then the test metrics;\n"
"                       with --refit a last row, phase 'refit', holds the\n"
"                       published model's test figures)\n"
"  --progress MODE      auto (bar on a terminal) | on | off\n"
"\n"
"Publishing:\n"
"  --store DIR          LMDB store to publish the best epoch into\n"
"  --variant NAME       variant name ([A-Za-z0-9_.-], default 'default')\n"
"  --keep N             versions of the variant to keep (5; 0 keeps all)\n"
"  --rankings-out FILE  also write the kept model's top-50 (ids and scores) for\n"
"                       the first --rankings-users known users (1000), ranked\n"
"                       from their full history as the server does: JSON lines\n"
"\n"
"  --help               this text\n"
"\n"
"Same seed and thread count give the same figures. SIGINT or SIGTERM stops\n"
"training after the epoch in progress and still publishes the best epoch;\n"
"a second signal stops at once.\n");
}
/* clang-format on */

static int parse_double(const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi)) {
        fprintf(stderr, "rectrain: %s: expected a number in [%g, %g], got '%s'\n", opt, lo, hi, s);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "rectrain: %s: expected an integer in [%ld, %ld], got '%s'\n", opt, lo, hi,
                s);
        return -1;
    }
    *out = v;
    return 0;
}

/* clang-format off */
enum {
    OPT_RANKINGS_OUT = 200, OPT_RANKINGS_USERS, OPT_REFIT, OPT_SELECT_RULE,
    OPT_DATA = 256, OPT_TEST, OPT_SPLIT, OPT_HOLDOUT, OPT_HELDOUT, OPT_FOLDIN, OPT_HEADER,
    OPT_MIN_RATING, OPT_KCORE_USERS, OPT_KCORE_ITEMS, OPT_VALID_USERS, OPT_VALID_FRACTION,
    OPT_MODEL, OPT_EPOCHS, OPT_BATCH, OPT_LR, OPT_WD, OPT_HIDDEN, OPT_LATENT, OPT_DROPOUT,
    OPT_CAP, OPT_STEPS, OPT_EVAL_EVERY, OPT_SELECT, OPT_SEED, OPT_THREADS, OPT_METRICS_OUT,
    OPT_PROGRESS, OPT_STORE, OPT_VARIANT, OPT_KEEP, OPT_PIA, OPT_PIA_PATIENCE, OPT_PIA_FACTOR,
    OPT_SAMPLER, OPT_SAMPLES, OPT_CODEWORDS, OPT_REBUILD_EVERY, OPT_LR_STEP, OPT_LR_GAMMA,
    OPT_ITEM_DROPOUT,
    OPT_HELP
};

static const struct option train_options[] = {
    {"rankings-out", 1, 0, OPT_RANKINGS_OUT}, {"rankings-users", 1, 0, OPT_RANKINGS_USERS},
    {"refit", 0, 0, OPT_REFIT}, {"select-rule", 1, 0, OPT_SELECT_RULE},
    {"data", 1, 0, OPT_DATA}, {"test", 1, 0, OPT_TEST}, {"split", 1, 0, OPT_SPLIT},
    {"holdout", 1, 0, OPT_HOLDOUT}, {"heldout-users", 1, 0, OPT_HELDOUT},
    {"foldin", 1, 0, OPT_FOLDIN}, {"header", 1, 0, OPT_HEADER},
    {"min-rating", 1, 0, OPT_MIN_RATING}, {"kcore-users", 1, 0, OPT_KCORE_USERS},
    {"kcore-items", 1, 0, OPT_KCORE_ITEMS}, {"valid-users", 1, 0, OPT_VALID_USERS},
    {"valid-fraction", 1, 0, OPT_VALID_FRACTION}, {"model", 1, 0, OPT_MODEL},
    {"epochs", 1, 0, OPT_EPOCHS}, {"batch", 1, 0, OPT_BATCH}, {"lr", 1, 0, OPT_LR},
    {"weight-decay", 1, 0, OPT_WD}, {"hidden", 1, 0, OPT_HIDDEN}, {"latent", 1, 0, OPT_LATENT},
    {"dropout", 1, 0, OPT_DROPOUT}, {"anneal-cap", 1, 0, OPT_CAP},
    {"anneal-steps", 1, 0, OPT_STEPS}, {"eval-every", 1, 0, OPT_EVAL_EVERY},
    {"select", 1, 0, OPT_SELECT}, {"seed", 1, 0, OPT_SEED}, {"threads", 1, 0, OPT_THREADS},
    {"metrics-out", 1, 0, OPT_METRICS_OUT}, {"progress", 1, 0, OPT_PROGRESS},
    {"store", 1, 0, OPT_STORE}, {"variant", 1, 0, OPT_VARIANT}, {"keep", 1, 0, OPT_KEEP},
    {"pia", 1, 0, OPT_PIA}, {"pia-patience", 1, 0, OPT_PIA_PATIENCE},
    {"pia-factor", 1, 0, OPT_PIA_FACTOR}, {"sampler", 1, 0, OPT_SAMPLER},
    {"samples", 1, 0, OPT_SAMPLES}, {"codewords", 1, 0, OPT_CODEWORDS},
    {"rebuild-every", 1, 0, OPT_REBUILD_EVERY}, {"lr-step", 1, 0, OPT_LR_STEP},
    {"lr-gamma", 1, 0, OPT_LR_GAMMA}, {"item-dropout", 1, 0, OPT_ITEM_DROPOUT},
    {"help", 0, 0, OPT_HELP}, {0, 0, 0, 0}};
/* clang-format on */

static int parse_split(const char *s, rs_split *out)
{
    if (!strcmp(s, "file"))
        *out = RS_SPLIT_FILE;
    else if (!strcmp(s, "holdout"))
        *out = RS_SPLIT_HOLDOUT;
    else if (!strcmp(s, "users"))
        *out = RS_SPLIT_USERS;
    else if (!strcmp(s, "none"))
        *out = RS_SPLIT_NONE;
    else {
        fprintf(stderr, "rectrain: --split: expected file, holdout, users or none, got '%s'\n", s);
        return -1;
    }
    return 0;
}

static int parse_mode(const char *opt, const char *s, const char *yes, const char *no, int *out)
{
    if (!strcmp(s, "auto"))
        *out = -1;
    else if (!strcmp(s, yes))
        *out = 1;
    else if (!strcmp(s, no))
        *out = 0;
    else {
        fprintf(stderr, "rectrain: %s: expected auto, %s or %s, got '%s'\n", opt, yes, no, s);
        return -1;
    }
    return 0;
}

/* One option into c; returns -1 on a bad value. */
/* clang-format off */
static int apply_option(cli *c, int opt, const char *arg, int *split_set)
{
    double x;
    long n;
    switch (opt) {
    case OPT_DATA: c->data.train_path = arg; return 0;
    case OPT_TEST: c->data.test_path = arg; return 0;
    case OPT_SPLIT: *split_set = 1; return parse_split(arg, &c->data.split);
    case OPT_HOLDOUT:
        if (parse_double("--holdout", arg, 0.01, 0.99, &x)) return -1;
        c->data.holdout_fraction = x; return 0;
    case OPT_HELDOUT:
        if (parse_long("--heldout-users", arg, 1, UINT32_MAX, &n)) return -1;
        c->data.heldout_users = (uint32_t)n; return 0;
    case OPT_FOLDIN:
        if (parse_double("--foldin", arg, 0.01, 0.99, &x)) return -1;
        c->data.foldin_fraction = x; return 0;
    case OPT_HEADER: return parse_mode("--header", arg, "yes", "no", &c->data.header);
    case OPT_MIN_RATING:
        if (parse_double("--min-rating", arg, -1e30, 1e30, &x)) return -1;
        c->data.has_min_rating = 1, c->data.min_rating = x; return 0;
    case OPT_KCORE_USERS:
        if (parse_long("--kcore-users", arg, 0, 1000000, &n)) return -1;
        c->data.kcore_users = (uint32_t)n; return 0;
    case OPT_KCORE_ITEMS:
        if (parse_long("--kcore-items", arg, 0, 1000000, &n)) return -1;
        c->data.kcore_items = (uint32_t)n; return 0;
    case OPT_VALID_USERS:
        if (parse_long("--valid-users", arg, 0, UINT32_MAX, &n)) return -1;
        c->data.valid_users = (uint32_t)n, c->valid_users_set = 1; return 0;
    case OPT_VALID_FRACTION:
        if (parse_double("--valid-fraction", arg, 0.01, 0.99, &x)) return -1;
        c->data.valid_fraction = x; return 0;
    case OPT_MODEL: c->model = arg; return 0;
    case OPT_EPOCHS:
        if (parse_long("--epochs", arg, 1, 100000, &n)) return -1;
        c->train.epochs = (int)n; return 0;
    case OPT_BATCH:
        if (parse_long("--batch", arg, 1, 100000, &n)) return -1;
        c->vae.batch_size = c->fv.batch_size = (int)n; return 0;
    case OPT_LR:
        if (parse_double("--lr", arg, 1e-9, 10, &x)) return -1;
        c->vae.lr = c->fv.lr = (float)x; return 0;
    case OPT_WD:
        if (parse_double("--weight-decay", arg, 0, 10, &x)) return -1;
        c->vae.weight_decay = c->fv.weight_decay = (float)x; return 0;
    case OPT_HIDDEN:
        if (parse_long("--hidden", arg, 1, 100000, &n)) return -1;
        c->vae.hidden = c->fv.hidden = (uint32_t)n; return 0;
    case OPT_LATENT:
        if (parse_long("--latent", arg, 1, 100000, &n)) return -1;
        c->vae.latent = c->fv.latent = (uint32_t)n; return 0;
    case OPT_DROPOUT:
        if (parse_double("--dropout", arg, 0, 0.99, &x)) return -1;
        c->vae.dropout = c->fv.dropout = (float)x; return 0;
    case OPT_CAP:
        if (parse_double("--anneal-cap", arg, 0, 100, &x)) return -1;
        c->train.anneal_cap = (float)x; return 0;
    case OPT_STEPS:
        if (parse_long("--anneal-steps", arg, 0, 1L << 40, &n)) return -1;
        c->train.anneal_steps = n; return 0;
    case OPT_EVAL_EVERY:
        if (parse_long("--eval-every", arg, 1, 100000, &n)) return -1;
        c->train.eval_every = (int)n; return 0;
    case OPT_SELECT: c->select = arg; return 0;
    case OPT_SEED:
        if (parse_long("--seed", arg, 0, (long)(~0UL >> 1), &n)) return -1;
        c->train.seed = c->data.seed = c->vae.seed = c->fv.seed = (uint64_t)n; return 0;
    case OPT_THREADS:
        if (parse_long("--threads", arg, 1, 1024, &n)) return -1;
        c->threads = (int)n; return 0;
    case OPT_METRICS_OUT: c->train.metrics_out = arg; return 0;
    case OPT_PROGRESS: return parse_mode("--progress", arg, "on", "off", &c->train.progress);
    case OPT_PIA:
        if (parse_double("--pia", arg, 0, 1e6, &x)) return -1;
        c->vae.pia_lambda = c->fv.pia_lambda = (float)x; return 0;
    case OPT_PIA_PATIENCE:
        if (parse_long("--pia-patience", arg, 1, 1000, &n)) return -1;
        c->vae.pia_patience = c->fv.pia_patience = (int)n; return 0;
    case OPT_PIA_FACTOR:
        if (parse_double("--pia-factor", arg, 1, 1000, &x)) return -1;
        c->vae.pia_factor = c->fv.pia_factor = (float)x; return 0;
    case OPT_SAMPLER: {
        rs_error err;
        if (rs_fastvae_sampler_parse(arg, &c->fv, &err) == 0) return 0;
        fprintf(stderr, "rectrain: %s\n", err.msg);
        return -1;
    }
    case OPT_SAMPLES:
        if (parse_long("--samples", arg, 1, 1000000, &n)) return -1;
        c->fv.samples = (uint32_t)n; return 0;
    case OPT_CODEWORDS:
        if (parse_long("--codewords", arg, 1, 4096, &n)) return -1;
        c->fv.codewords = (uint32_t)n; return 0;
    case OPT_REBUILD_EVERY:
        if (parse_long("--rebuild-every", arg, 0, 1L << 40, &n)) return -1;
        c->fv.rebuild_every = n; return 0;
    case OPT_LR_STEP:
        if (parse_long("--lr-step", arg, 0, 100000, &n)) return -1;
        c->fv.lr_step = (int)n; return 0;
    case OPT_LR_GAMMA:
        if (parse_double("--lr-gamma", arg, 1e-6, 1, &x)) return -1;
        c->fv.lr_gamma = (float)x; return 0;
    case OPT_RANKINGS_OUT: c->rankings_out = arg; return 0;
    case OPT_REFIT: c->refit = 1; return 0;
    case OPT_SELECT_RULE:
        if (!strcmp(arg, "best")) c->train.select_within_se = 0;
        else if (!strcmp(arg, "within-se")) c->train.select_within_se = 1;
        else {
            fprintf(stderr, "rectrain: --select-rule: expected best or within-se, got '%s'\n", arg);
            return -1;
        }
        return 0;
    case OPT_RANKINGS_USERS:
        if (parse_long("--rankings-users", arg, 1, UINT32_MAX, &n)) return -1;
        c->rankings_users = (uint32_t)n; return 0;
    case OPT_ITEM_DROPOUT:
        if (parse_double("--item-dropout", arg, 0, 0.99, &x)) return -1;
        c->fv.item_dropout = (float)x; return 0;
    case OPT_STORE: c->store = arg; return 0;
    case OPT_VARIANT: c->variant = arg; return 0;
    case OPT_KEEP:
        if (parse_long("--keep", arg, 0, 1000000, &n)) return -1;
        c->keep = (uint32_t)n; return 0;
    }
    return -1;
}
/* clang-format on */

static int parse_train_args(int argc, char **argv, cli *c)
{
    memset(c, 0, sizeof(*c));
    rs_data_options_default(&c->data);
    rs_train_options_default(&c->train);
    rs_vae_options_default(&c->vae);
    rs_fastvae_options_default(&c->fv);
    rs_metric_set_default(&c->metrics);
    c->train.seed = c->data.seed = c->vae.seed = c->fv.seed = 2026;
    c->model = "vae";
    c->variant = "default";
    c->select = "ndcg@50";
    c->keep = 5;
    c->rankings_users = 1000;
    int split_set = 0, opt;
    while ((opt = getopt_long(argc, argv, "", train_options, NULL)) != -1) {
        if (opt == OPT_HELP) {
            usage(stdout);
            exit(0);
        }
        if (opt == '?' || apply_option(c, opt, optarg, &split_set) != 0) return -1;
    }
    if (optind < argc) {
        fprintf(stderr, "rectrain: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    if (!c->data.train_path) {
        fprintf(stderr, "rectrain: --data FILE is required (see --help)\n");
        return -1;
    }
    if (!split_set) c->data.split = c->data.test_path ? RS_SPLIT_FILE : RS_SPLIT_HOLDOUT;
    if (c->data.split == RS_SPLIT_FILE && !c->data.test_path) {
        fprintf(stderr, "rectrain: --split file needs --test FILE\n");
        return -1;
    }
    if (c->data.split != RS_SPLIT_FILE && c->data.test_path) {
        fprintf(stderr, "rectrain: --test FILE goes with --split file\n");
        return -1;
    }
    if (strcmp(c->model, "vae") != 0 && strcmp(c->model, "fastvae") != 0 &&
        strcmp(c->model, "popularity") != 0) {
        fprintf(stderr,
                "rectrain: --model: unknown model '%s' (available: vae, fastvae, popularity)\n",
                c->model);
        return -1;
    }
    c->train.select_index = rs_metric_set_find_or_add(&c->metrics, c->select);
    if (c->train.select_index < 0) {
        fprintf(stderr, "rectrain: --select: expected recall@K or ndcg@K, got '%s'\n", c->select);
        return -1;
    }
    return 0;
}

static void set_threads(int threads)
{
    if (threads <= 0) threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads <= 0) threads = 1;
    openblas_set_num_threads(threads);
    omp_set_num_threads(threads);
}

/* Loads the data; without --valid-users, carves validation out of
 * min(5000, 10% of) the users, which needs the user count first. */
static int load_data(cli *c, rs_dataset *d, rs_error *err)
{
    if (!c->valid_users_set) {
        rs_data_options probe = c->data;
        probe.valid_users = 0;
        if (rs_dataset_load(&probe, d, err) != 0) return -1;
        uint32_t n_users = d->report.n_users;
        rs_dataset_free(d);
        c->data.valid_users = RS_MIN(5000u, n_users / 10);
    }
    return rs_dataset_load(&c->data, d, err);
}

static json_t *metrics_json(const rs_metric_set *set, const rs_eval_result *r)
{
    json_t *obj = json_object();
    char name[32];
    for (int i = 0; obj && i < set->n; i++) {
        rs_metric_name(set, i, name, sizeof(name));
        json_object_set_new(obj, name, json_real(r->values[i]));
    }
    if (obj) json_object_set_new(obj, "users", json_integer(r->n_users));
    return obj;
}

static json_t *training_json(const cli *c, const rs_train_summary *s)
{
    json_t *obj = json_pack(
        "{s:s, s:i, s:i, s:i, s:s, s:b, s:f, s:f, s:f, s:I, s:i, s:f, s:I, s:o, "
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
    }
    return obj;
}

static void print_summary(const cli *c, const rs_train_summary *s)
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
        fprintf(stderr, "\n");
    }
}

/* Creates the model the options ask for. */
static int create_model(cli *c, rs_dataset *d, rs_train_model *model, rs_error *err)
{
    if (strcmp(c->model, "popularity") == 0)
        return rs_popularity_create(d->popularity, d->report.n_items, model, err);
    if (strcmp(c->model, "fastvae") == 0) {
        if (rs_fastvae_create(&c->fv, d->report.n_items, d->popularity, model, err) != 0) return -1;
        fprintf(stderr, "fastvae: sampler %s, %u samples, %u codewords, batch %d, lr %g\n",
                rs_fastvae_sampler_name(&c->fv), c->fv.samples, c->fv.codewords, c->fv.batch_size,
                (double)c->fv.lr);
        return 0;
    }
    return rs_vae_create(&c->vae, d->report.n_items, model, err);
}

/* Trains a fresh model (same seed) on train + validation items for the
 * epoch count validation chose, replacing *model; its test figures are
 * measured once, after the last epoch. */
static int refit(cli *c, rs_dataset *d, rs_train_model *model, rs_train_summary *summary,
                 rs_error *err)
{
    int epochs = summary->best_epoch;
    if (epochs <= 0 || rs_train_stop_requested) return 0;
    rs_dataset all = *d;
    all.train = d->known;
    uint64_t *no_rows = rs_calloc((size_t)d->known.n_rows + 1, sizeof(uint64_t), err);
    if (!no_rows) return -1;
    all.valid = (rs_csr){d->known.n_rows, d->known.n_cols, no_rows, NULL};
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
    int rc = create_model(c, d, model, err);
    if (rc == 0) rc = rs_train_run(model, &all, &c->metrics, &o, &refit_summary, err);
    free(no_rows);
    if (rc != 0) return -1;
    summary->best_test = refit_summary.best_test;
    summary->seconds_total += refit_summary.seconds_total;
    c->refitted = 1;
    print_summary(c, &refit_summary);
    return 0;
}

/* First signal: finish the epoch, then evaluate and publish the best so
 * far. Second signal: the default action (terminate now). */
static void on_stop_signal(int sig)
{
    if (rs_train_stop_requested) {
        signal(sig, SIG_DFL);
        raise(sig);
    }
    rs_train_stop_requested = 1;
}

static int run_train(int argc, char **argv)
{
    cli c;
    if (parse_train_args(argc, argv, &c) != 0) return 2;
    set_threads(c.threads);
    c.threads = openblas_get_num_threads();
    rs_error err;
    rs_dataset d;
    memset(&d, 0, sizeof(d));
    rs_train_model model;
    memset(&model, 0, sizeof(model));
    int rc = 1;
    if (load_data(&c, &d, &err) != 0) goto fail;
    rs_data_report_print(&d.report, stderr);
    if (create_model(&c, &d, &model, &err) != 0) goto fail;
    fprintf(stderr, "model %s: %u items, %d threads, %.1f MiB of parameters and buffers\n",
            model.family, model.n_items, c.threads, (double)rs_model_footprint(&model) / 1048576.0);
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    /* With --refit the first pass only chooses the epoch count: its test
     * figures would describe a model that is not published. */
    if (c.refit) c.train.eval_test = 0;
    rs_train_summary summary;
    if (rs_train_run(&model, &d, &c.metrics, &c.train, &summary, &err) != 0) goto fail;
    print_summary(&c, &summary);
    if (c.refit && refit(&c, &d, &model, &summary, &err) != 0) goto fail;
    if (c.rankings_out && rs_write_rankings(&model, &d.known, d.users, d.items, c.rankings_users,
                                            50, c.rankings_out, &err) != 0)
        goto fail;
    if (c.store) {
        json_t *training = training_json(&c, &summary);
        uint64_t version = 0;
        int prc =
            rs_publish_model(c.store, c.variant, &model, &d, training, c.keep, &version, &err);
        json_decref(training);
        if (prc != 0) goto fail;
        fprintf(stderr, "published %s version %llu to %s\n", c.variant, (unsigned long long)version,
                c.store);
    }
    rc = 0;
    goto done;
fail:
    fprintf(stderr, "rectrain: %s\n", err.msg);
done:
    if (model.free) model.free(model.self);
    rs_dataset_free(&d);
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

static int run_synth(int argc, char **argv)
{
    rs_synth_options o;
    rs_synth_options_default(&o);
    const char *out = NULL;
    static const struct option opts[] = {
        {"out", 1, 0, 'o'},  {"users", 1, 0, 'u'}, {"items", 1, 0, 'i'}, {"tastes", 1, 0, 't'},
        {"seed", 1, 0, 's'}, {"help", 0, 0, 'h'},  {0, 0, 0, 0}};
    int opt;
    long n;
    optind = 1;
    while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (opt) {
        case 'o':
            out = optarg;
            break;
        case 'u':
            if (parse_long("--users", optarg, 1, 100000000, &n)) return 2;
            o.n_users = (uint32_t)n;
            break;
        case 'i':
            if (parse_long("--items", optarg, 2, 100000000, &n)) return 2;
            o.n_items = (uint32_t)n;
            break;
        case 't':
            if (parse_long("--tastes", optarg, 1, 100000, &n)) return 2;
            o.n_tastes = (uint32_t)n;
            break;
        case 's':
            if (parse_long("--seed", optarg, 0, (long)(~0UL >> 1), &n)) return 2;
            o.seed = (uint64_t)n;
            break;
        case 'h':
            printf("usage: rectrain synth --out DIR [--users N (2000)] [--items N (1000)]\n"
                   "                      [--tastes N (12)] [--seed S (2026)]\n"
                   "Writes DIR/train.tsv and DIR/test.tsv: clustered tastes, long-tailed\n"
                   "popularity, per-user 80/20 split. Same options, same bytes.\n");
            return 0;
        default:
            return 2;
        }
    }
    if (!out) {
        fprintf(stderr, "rectrain synth: --out DIR is required\n");
        return 2;
    }
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

static int run_store_ls(const char *dir)
{
    rs_error err;
    rs_store *store;
    if (rs_store_open(dir, RS_STORE_READONLY, 0, &store, &err) != 0) {
        fprintf(stderr, "rectrain store ls: %s\n", err.msg);
        return 1;
    }
    rs_variant_info *variants;
    uint32_t n;
    if (rs_store_list(store, &variants, &n, &err) != 0) {
        fprintf(stderr, "rectrain store ls: %s\n", err.msg);
        rs_store_close(store);
        return 1;
    }
    printf("store %s: %u variant%s\n", dir, n, n == 1 ? "" : "s");
    for (uint32_t i = 0; i < n; i++) {
        printf("\nvariant %s  current %llu  versions %u\n", variants[i].name,
               (unsigned long long)variants[i].current, variants[i].n_versions);
        for (uint32_t j = 0; j < variants[i].n_versions; j++) {
            const rs_version_info *v = &variants[i].versions[j];
            printf("  version %llu%s\n", (unsigned long long)v->version,
                   v->is_current ? " (current)" : "");
            printf("    manifest: %s\n", v->manifest_json);
        }
    }
    rs_store_list_free(variants, n);
    rs_store_close(store);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "synth")) return run_synth(argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "store")) {
        if (argc == 4 && !strcmp(argv[2], "ls")) return run_store_ls(argv[3]);
        fprintf(stderr, "usage: rectrain store ls DIR\n");
        return 2;
    }
    if (argc == 1) {
        usage(stderr);
        return 2;
    }
    return run_train(argc, argv);
}
