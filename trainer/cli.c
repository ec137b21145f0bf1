/* cli.c - rectrain's option table, parser and help (see cli.h). */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static int parse_split(const char *s, void *base)
{
    rs_split *out = &((rs_cli *)base)->data.split;
    if (!strcmp(s, "file"))
        *out = RS_SPLIT_FILE;
    else if (!strcmp(s, "holdout"))
        *out = RS_SPLIT_HOLDOUT;
    else if (!strcmp(s, "users"))
        *out = RS_SPLIT_USERS;
    else if (!strcmp(s, "none"))
        *out = RS_SPLIT_NONE;
    else if (!strcmp(s, "time"))
        *out = RS_SPLIT_TIME;
    else {
        fprintf(stderr,
                "rectrain: --split: expected file, holdout, time, users or none, got '%s'\n", s);
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

/* A two-valued option: zero or one sets *out to 0 or 1. */
static int parse_choice(const char *opt, const char *s, const char *zero, const char *one, int *out)
{
    if (!strcmp(s, zero))
        *out = 0;
    else if (!strcmp(s, one))
        *out = 1;
    else {
        fprintf(stderr, "rectrain: %s: expected %s or %s, got '%s'\n", opt, zero, one, s);
        return -1;
    }
    return 0;
}

static int parse_header(const char *s, void *base)
{
    return parse_mode("--header", s, "yes", "no", &((rs_cli *)base)->data.header);
}

static int parse_progress(const char *s, void *base)
{
    return parse_mode("--progress", s, "on", "off", &((rs_cli *)base)->train.progress);
}

static int parse_select_rule(const char *s, void *base)
{
    return parse_choice("--select-rule", s, "best", "within-se",
                        &((rs_cli *)base)->train.select_within_se);
}

/* --gate METRIC[:TOLERANCE]: the metric is checked against the metric set
 * later (check), the tolerance here. */
static int parse_gate(const char *s, void *base)
{
    rs_cli *c = base;
    const char *colon = strchr(s, ':');
    size_t len = colon ? (size_t)(colon - s) : strlen(s);
    if (len == 0 || len >= sizeof(c->gate_metric)) {
        fprintf(stderr,
                "rectrain: --gate: expected METRIC[:TOLERANCE] (e.g. ndcg@50:0.01), got '%s'\n", s);
        return -1;
    }
    memcpy(c->gate_metric, s, len);
    c->gate_metric[len] = '\0';
    c->gate_tolerance = 0.0;
    if (colon) {
        char *end;
        double t = strtod(colon + 1, &end);
        if (colon[1] == '\0' || *end != '\0' || !(t >= 0 && t < 1e9)) {
            fprintf(stderr, "rectrain: --gate: the tolerance must be a number >= 0, got '%s'\n",
                    colon + 1);
            return -1;
        }
        c->gate_tolerance = t;
    }
    c->gate = 1;
    return 0;
}

static int parse_denoise(const char *s, void *base)
{
    return parse_choice("--denoise", s, "none", "prorec", &((rs_cli *)base)->denoise);
}

static int parse_denoise_keep(const char *s, void *base)
{
    return parse_choice("--denoise-keep", s, "better", "always",
                        &((rs_cli *)base)->denoise_keep_all);
}

static int parse_denoise_split(const char *s, void *base)
{
    return parse_choice("--denoise-split", s, "rho", "log", &((rs_cli *)base)->prorec.log_domain);
}

#define INT_(nm, ty, field, a, lo, hi, h)  RS_OPT_INT_(nm, ty, rs_cli, field, a, lo, hi, h, NULL)
#define REAL_(nm, ty, field, a, lo, hi, h) RS_OPT_REAL_(nm, ty, rs_cli, field, a, lo, hi, h, NULL)
#define STRING_(nm, field, a, h)                                                                   \
    {                                                                                              \
        .name = nm, .type = RS_OPT_STRING, .arg = a, .help = h, .offset = offsetof(rs_cli, field)  \
    }
#define CUSTOM_(nm, fn, a, h, def)                                                                 \
    {                                                                                              \
        .name = nm, .type = RS_OPT_CUSTOM, .arg = a, .help = h, .parse = fn, .default_text = def   \
    }
#define SECTION_(title)                                                                            \
    {                                                                                              \
        .name = title, .type = RS_OPT_SECTION                                                      \
    }

/* The options before the families' (which follow "Model and training"). */
static const rs_option program_head[] = {
    SECTION_("Data"),
    STRING_("data", data.train_path, "FILE",
            "training interactions: user<sep>item[<sep>weight[<sep>time]], sep = tab, comma or "
            "'::'; optional header line"),
    STRING_("events", events_dir, "DIR",
            "also (or, without --data, only) train on the events recserve stored in this events "
            "environment (recserve --events-dir): each event of --event-types is an interaction of "
            "its user or session key; the manifest records the cutoff (training.events)"),
    STRING_("event-types", events_types, "LIST",
            "the event types --events trains on, comma-separated (default click,purchase)"),
    STRING_("test", data.test_path, "FILE",
            "test interactions (explicit split; ids must be known)"),
    {.name = "split",
     .type = RS_OPT_CUSTOM,
     .arg = "MODE",
     .parse = parse_split,
     .help = "file | holdout | time (each user's latest --holdout fraction by timestamp, the "
             "fourth field) | users | none",
     .default_text = "file with --test, holdout otherwise",
     .given = RS_GIVEN(rs_cli, split_set)},
    REAL_("holdout", RS_OPT_DOUBLE, data.holdout_fraction, "F", 0.01, 0.99,
          "holdout, time: fraction of each user's items held out"),
    {.name = "heldout-users",
     .type = RS_OPT_U32,
     .arg = "N",
     .offset = offsetof(rs_cli, data.heldout_users),
     .min = 1,
     .max = UINT32_MAX,
     .help = "users: number of held-out users",
     .default_text = "10% of users"},
    REAL_("foldin", RS_OPT_DOUBLE, data.foldin_fraction, "F", 0.01, 0.99,
          "users: fraction of a held-out user's items used as input"),
    CUSTOM_("header", parse_header, "MODE", "auto | yes | no", "auto"),
    {.name = "min-rating",
     .type = RS_OPT_DOUBLE,
     .arg = "R",
     .offset = offsetof(rs_cli, data.min_rating),
     .lo = -1e30,
     .hi = 1e30,
     .help = "keep interactions with weight >= R (binarisation)",
     .default_text = "",
     .given = RS_GIVEN(rs_cli, data.has_min_rating)},
    INT_("kcore-users", RS_OPT_U32, data.kcore_users, "N", 0, 1000000,
         "iteratively drop users with fewer than N items"),
    INT_("kcore-items", RS_OPT_U32, data.kcore_items, "N", 0, 1000000,
         "iteratively drop items with fewer than N users"),
    {.name = "valid-users",
     .type = RS_OPT_U32,
     .arg = "N",
     .offset = offsetof(rs_cli, data.valid_users),
     .min = 0,
     .max = UINT32_MAX,
     .given = RS_GIVEN(rs_cli, valid_users_set),
     .help = "users whose training rows give validation items for choosing the best epoch (0 = "
             "none, then the last epoch is kept)",
     .default_text = "min(5000, 10% of users)"},
    REAL_("valid-fraction", RS_OPT_DOUBLE, data.valid_fraction, "F", 0.01, 0.99,
          "share of a validation user's items held out"),
    SECTION_("Model and training"),
    STRING_("model", model, "NAME", NULL), /* help: the registered families */
    INT_("epochs", RS_OPT_INT, train.epochs, "N", 1, 100000, "training epochs"),
};

static const rs_option program_tail[] = {
    SECTION_("Training loop"),
    REAL_("anneal-cap", RS_OPT_FLOAT, train.anneal_cap, "B", 0, 100, "KL weight cap"),
    INT_("anneal-steps", RS_OPT_LONG, train.anneal_steps, "N", 0, 1L << 40,
         "steps to reach the KL weight cap linearly"),
    INT_("eval-every", RS_OPT_INT, train.eval_every, "N", 1, 100000, "evaluate every N epochs"),
    STRING_("select", select, "METRIC", "validation metric choosing the best epoch"),
    CUSTOM_("select-rule", parse_select_rule, "RULE",
            "within-se: the latest epoch within one standard error of the best validation value; "
            "best: the best value",
            "within-se"),
    {.name = "refit",
     .type = RS_OPT_FLAG,
     .offset = offsetof(rs_cli, refit),
     .help = "after choosing the epoch count on validation, train a new model for that many "
             "epochs on all training data (train + validation items) and publish it; test "
             "figures are measured once, at the end of the refit"},
    INT_("seed", RS_OPT_U64, train.seed, "S", 0, (long)(~0UL >> 1),
         "seed for initialisation, splits, dropout, noise"),
    {.name = "threads",
     .type = RS_OPT_INT,
     .arg = "N",
     .offset = offsetof(rs_cli, threads),
     .min = 1,
     .max = 1024,
     .help = "threads for BLAS and row loops",
     .default_text = "all cores"},
    STRING_("metrics-out", train.metrics_out, "FILE",
            "per-evaluated-epoch figures as CSV (columns epoch, phase, loss, kl, beta, seconds, "
            "valid_*, then the test metrics; with --refit a last row, phase 'refit', holds the "
            "published model's test figures; with --denoise each round's retraining follows, "
            "phase 'denoise')"),
    STRING_("plot-out", plot_out, "FILE",
            "at the end of the run, draw the per-epoch curves (loss, KL, beta, validation and "
            "test metrics) as an SVG picture to FILE (the same figures the manifest keeps as "
            "training.curves)"),
    CUSTOM_("progress", parse_progress, "MODE", "auto (bar on a terminal) | on | off", "auto"),
    SECTION_("Denoising"),
    CUSTOM_("denoise", parse_denoise, "METHOD",
            "none | prorec: after training, relabel the training interactions by the model's "
            "relaxed optimal-transport matching (ProRec; observed entries below their user's "
            "split are down-weighted) and retrain on the soft labels; families vae, fastvae, "
            "ials",
            "none"),
    REAL_("denoise-gamma", RS_OPT_FLOAT, prorec.gamma, "G", 1e-6, 1e6,
          "ProRec entropic regularisation gamma of the matching"),
    REAL_("denoise-beta", RS_OPT_FLOAT, prorec.beta, "B", 0, 1e6,
          "ProRec slope beta of the relabelling sigmoid r = sigmoid(beta (rho - rho_split))"),
    REAL_("denoise-lambda", RS_OPT_FLOAT, prorec.lambda, "L", 0, 1,
          "ProRec share of the old label kept: x <- lambda x + (1 - lambda) r x"),
    INT_("denoise-rounds", RS_OPT_INT, prorec.rounds, "N", 1, 100,
         "ProRec relabel + retrain rounds"),
    CUSTOM_("denoise-split", parse_denoise_split, "DOMAIN",
            "log: split and relabel on log rho (the normalised matching's log; at gamma 0.1 "
            "the only domain whose flags meet the noise-detection floor, README); rho: on rho "
            "itself (the paper's literal Eq. 20, which flags all but a user's top few items)",
            "log"),
    CUSTOM_("denoise-keep", parse_denoise_keep, "RULE",
            "better: a round's retrained model replaces the one before only when its validation "
            "figure (--select) is at least as good, else the rounds stop and the better model "
            "and its labels are kept; always: every round's model is kept (the paper)",
            "better"),
    STRING_("denoise-out", denoise_out, "FILE",
            "write the published model's training labels: user, item, original weight, new weight, "
            "flagged "
            "(yes/no), tab-separated"),
    SECTION_("Publishing"),
    STRING_("store", store, "DIR", "LMDB store to publish the best epoch into"),
    STRING_("variant", variant, "NAME", "variant name ([A-Za-z0-9_.-])"),
    INT_("keep", RS_OPT_U32, keep, "N", 0, 1000000,
         "versions of the variant to keep (0 keeps all; the current version is always kept)"),
    {.name = "map-size",
     .type = RS_OPT_U64,
     .arg = "MIB",
     .offset = offsetof(rs_cli, map_size_mib),
     .min = 1,
     .max = 1L << 30,
     .help = "the store's LMDB map size in MiB (address space, not disk); checked against the "
             "estimated size of the version before training",
     .default_text = "65536, less where address space is capped"},
    CUSTOM_("gate", parse_gate, "METRIC[:TOL]",
            "publish gate: write the version but leave the variant's current version serving "
            "when the new validation METRIC (e.g. ndcg@50) is below the current version's by "
            "more than TOL (default 0); exit status 3",
            "off"),
    {.name = "publish-on-interrupt",
     .type = RS_OPT_FLAG,
     .offset = offsetof(rs_cli, publish_on_interrupt),
     .help = "after SIGINT/SIGTERM, still publish the best epoch so far (by default an "
             "interrupted run publishes nothing and exits with status 130)"},
    STRING_("items", items, "FILE",
            "item catalogue published with the version (GET /v1/items/{id}, request filters): "
            "JSON lines {\"id\", \"categories\": [...], numeric fields} or CSV with the header "
            "id,categories,FIELD... (categories separated by |); see proto/model.md"),
    STRING_("rankings-out", rankings_out, "FILE",
            "also write the kept model's top-50 (ids and scores) for the first --rankings-users "
            "known users, ranked from their full history as the server does: JSON lines"),
    INT_("rankings-users", RS_OPT_U32, rankings_users, "N", 1, UINT32_MAX,
         "known users --rankings-out ranks"),
};

#define COUNT(a) (int)(sizeof(a) / sizeof(a[0]))

static void cli_default(rs_cli *c)
{
    memset(c, 0, sizeof(*c));
    rs_data_options_default(&c->data);
    rs_train_options_default(&c->train);
    rs_metric_set_default(&c->metrics);
    c->train.seed = 2026;
    c->model = "vae";
    c->variant = "default";
    c->select = "ndcg@50";
    c->keep = 5;
    c->rankings_users = 1000;
    c->events_types = "click,purchase";
    rs_prorec_options_default(&c->prorec);
}

/* A family's options struct with its defaults; NULL when out of memory. */
static void *family_defaults(const rs_family *f)
{
    void *o = calloc(1, f->options_size ? f->options_size : 1);
    if (o && f->options_default) f->options_default(o);
    return o;
}

/* How many families define an option named name, and the first that does. */
static int families_with(const char *name, const rs_family **first)
{
    int n, count = 0;
    const rs_family *const *fams = rs_families(&n);
    *first = NULL;
    for (int i = 0; i < n; i++)
        if (rs_family_option(fams[i], name)) {
            if (!count++) *first = fams[i];
        }
    return count;
}

/* --- help and Markdown --- */

static void print_section(FILE *f, const char *title, int md)
{
    if (md)
        fprintf(f, "\n### %s\n\n| option | default | meaning |\n| --- | --- | --- |\n", title);
    else
        fprintf(f, "\n%s:\n", title);
}

static void print_option(FILE *f, const rs_option *o, const char *help, const char *def, int md)
{
    if (md)
        rs_option_print_markdown(f, o, help, def);
    else
        rs_option_print_help(f, o, help, def);
}

static void model_help(char *out, size_t size)
{
    int n;
    const rs_family *const *fams = rs_families(&n);
    size_t used = 0;
    for (int i = 0; i < n && used < size; i++)
        used += (size_t)snprintf(out + used, size - used, "%s%s (%s)", i ? " | " : "",
                                 fams[i]->name, fams[i]->summary);
}

static void print_table(FILE *f, const rs_option *t, int n, const rs_cli *defaults, int md)
{
    char def[128], help[1024];
    for (int i = 0; i < n; i++) {
        if (t[i].type == RS_OPT_SECTION) {
            print_section(f, t[i].name, md);
            continue;
        }
        rs_option_format(&t[i], defaults, def, sizeof(def));
        if (!t[i].help) model_help(help, sizeof(help));
        print_option(f, &t[i], t[i].help ? t[i].help : help, def, md);
    }
}

/* An option several families share: one line, with each family's default
 * ("vae 500, fastvae 256"), or each family's meaning when they differ. */
static void print_shared(FILE *f, const char *name, void **defaults, int md)
{
    int n;
    const rs_family *const *fams = rs_families(&n);
    const rs_option *first = NULL;
    char def[256] = "", help[1024] = "", value[64], last[64] = "";
    int same_help = 1, same_default = 1;
    size_t dl = 0, hl = 0;
    for (int i = 0; i < n; i++) {
        const rs_option *o = rs_family_option(fams[i], name);
        if (!o) continue;
        rs_option_format(o, defaults[i], value, sizeof(value));
        if (first) same_help &= !strcmp(o->help, first->help);
        if (first) same_default &= !strcmp(value, last);
        if (!first) first = o;
        snprintf(last, sizeof(last), "%s", value);
        dl += (size_t)snprintf(def + dl, sizeof(def) - RS_MIN(dl, sizeof(def)), "%s%s %s",
                               dl ? ", " : "", fams[i]->name, value);
        hl += (size_t)snprintf(help + hl, sizeof(help) - RS_MIN(hl, sizeof(help)), "%s%s: %s (%s)",
                               hl ? "; " : "", fams[i]->name, o->help, value);
    }
    if (same_help)
        print_option(f, first, first->help, same_default ? last : def, md);
    else
        print_option(f, first, help, "", md);
}

static void print_families(FILE *f, int md)
{
    int n;
    const rs_family *const *fams = rs_families(&n);
    void *defaults[64];
    for (int i = 0; i < n && i < 64; i++) defaults[i] = family_defaults(fams[i]);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < fams[i]->n_options; j++) {
            const rs_family *owner;
            const char *name = fams[i]->options[j].name;
            if (families_with(name, &owner) >= 2 && owner == fams[i])
                print_shared(f, name, defaults, md);
        }
    char def[128];
    for (int i = 0; i < n; i++) {
        int own = 0;
        for (int j = 0; j < fams[i]->n_options; j++) {
            const rs_family *owner;
            const rs_option *o = &fams[i]->options[j];
            if (families_with(o->name, &owner) != 1) continue;
            if (!own++) print_section(f, fams[i]->title, md);
            rs_option_format(o, defaults[i], def, sizeof(def));
            print_option(f, o, o->help, def, md);
        }
    }
    for (int i = 0; i < n && i < 64; i++) free(defaults[i]);
}

static void print_all(FILE *f, int md)
{
    rs_cli defaults;
    cli_default(&defaults);
    print_table(f, program_head, COUNT(program_head), &defaults, md);
    print_families(f, md);
    print_table(f, program_tail, COUNT(program_tail), &defaults, md);
}

void rs_cli_usage(FILE *f)
{
    fprintf(
        f, "usage: rectrain --data TRAIN [options]      train, evaluate, publish\n"
           "       rectrain synth --out DIR [options]    write a synthetic data set\n"
           "       rectrain store ls DIR [--json]        one line per version (--json: manifests)\n"
           "       rectrain store show DIR VARIANT [VERSION]   a version's manifest\n"
           "       rectrain store set-current DIR VARIANT VERSION   roll back or promote\n"
           "       rectrain store rm DIR VARIANT VERSION [--force]  delete a version\n"
           "       rectrain store verify DIR             every checksum and invariant\n");
    print_all(f, 0);
    fprintf(f, "\n  --help               this text\n"
               "  --help-markdown      this text as the Markdown reference (trainer/OPTIONS.md)\n"
               "\n"
               "Same seed and thread count give the same figures. SIGINT or SIGTERM stops\n"
               "training after the epoch in progress; nothing is published unless\n"
               "--publish-on-interrupt is given (exit status 130); a second signal stops at\n"
               "once. Exit status: 0 done, 1 failed, 2 bad options or a pre-training check\n"
               "failed (nothing trained), 3 the publish gate refused to move current.\n");
}

void rs_cli_markdown(FILE *f)
{
    fprintf(f, "# rectrain options\n\n"
               "Generated by `rectrain --help-markdown` from the option tables (trainer/cli.c and\n"
               "each family's file); `tests/integration/trainer.sh` checks it is current.\n"
               "An option several families share lists each family's default.\n");
    print_all(f, 1);
}

/* --- parsing --- */

/* Distinct option names of the program and every family (about 140 in
 * all); build_entries aborts when they outgrow it, so that an option can
 * never be dropped silently (getopt_long would then take a dropped "--lr-g"
 * as an abbreviation of another family's "--lr-gamma"). */
#define MAX_ENTRIES 256
/* getopt_long returns an entry's index plus OPT_BASE: above every
 * character it returns itself ('?' is 63, and a plain index would collide
 * with it: the 64th option was once taken for an unknown one). */
enum { OPT_BASE = 1000, OPT_HELP = OPT_BASE + MAX_ENTRIES, OPT_HELP_MARKDOWN };

/* One getopt entry per distinct name: the program's, then the families'. */
typedef struct entry {
    const rs_option *opt;
    const rs_family *family; /* NULL: a program option */
} entry;

static int add_table(entry *e, int n, const rs_option *t, int count, const rs_family *family)
{
    for (int i = 0; i < count; i++) {
        int seen = t[i].type == RS_OPT_SECTION;
        for (int j = 0; j < n && !seen; j++) seen = !strcmp(e[j].opt->name, t[i].name);
        if (seen) continue;
        if (n == MAX_ENTRIES) {
            fprintf(stderr, "rectrain: more than %d distinct options: raise MAX_ENTRIES\n",
                    MAX_ENTRIES);
            abort();
        }
        e[n++] = (entry){&t[i], family};
    }
    return n;
}

static int build_entries(entry *e, struct option *longopts)
{
    int n = add_table(e, 0, program_head, COUNT(program_head), NULL), n_families;
    n = add_table(e, n, program_tail, COUNT(program_tail), NULL);
    const rs_family *const *fams = rs_families(&n_families);
    for (int i = 0; i < n_families; i++)
        n = add_table(e, n, fams[i]->options, fams[i]->n_options, fams[i]);
    for (int i = 0; i < n; i++)
        longopts[i] =
            (struct option){e[i].opt->name, e[i].opt->type != RS_OPT_FLAG, NULL, OPT_BASE + i};
    longopts[n] = (struct option){"help", 0, NULL, OPT_HELP};
    longopts[n + 1] = (struct option){"help-markdown", 0, NULL, OPT_HELP_MARKDOWN};
    longopts[n + 2] = (struct option){NULL, 0, NULL, 0};
    return n;
}

/* Family options go to the chosen family's struct; an option of another
 * family is still checked against its bounds, as it always was. */
static int apply_family_options(rs_cli *c, const entry *e, const int *given, const char **values,
                                int n)
{
    for (int k = 0; k < n; k++) {
        const rs_option *mine =
            c->family ? rs_family_option(c->family, e[given[k]].opt->name) : NULL;
        if (mine) {
            if (rs_option_apply(mine, values[k], c->family_options) != 0) return -1;
            continue;
        }
        void *scratch = family_defaults(e[given[k]].family);
        int rc = scratch ? rs_option_apply(e[given[k]].opt, values[k], scratch) : -1;
        free(scratch);
        if (rc != 0) return -1;
    }
    return 0;
}

/* The publishing options that need no data: the gate's metric, the
 * options that only make sense with --store. */
static int check_publishing(rs_cli *c)
{
    if (c->gate) {
        c->gate_index = rs_metric_set_find_or_add(&c->metrics, c->gate_metric);
        if (c->gate_index < 0) {
            fprintf(stderr,
                    "rectrain: --gate: unknown metric '%s' (expected recall@K or ndcg@K, e.g. "
                    "ndcg@50:0.01)\n",
                    c->gate_metric);
            return -1;
        }
        if (!c->store) {
            fprintf(stderr, "rectrain: --gate needs --store (it compares with the version "
                            "serving there)\n");
            return -1;
        }
        if (c->valid_users_set && c->data.valid_users == 0) {
            fprintf(stderr, "rectrain: --gate compares validation figures: it needs validation "
                            "users (--valid-users > 0)\n");
            return -1;
        }
    }
    if (c->map_size_mib && !c->store) {
        fprintf(stderr, "rectrain: --map-size goes with --store\n");
        return -1;
    }
    return 0;
}

static int check(rs_cli *c, int argc, char **argv)
{
    if (optind < argc) {
        fprintf(stderr, "rectrain: unexpected argument '%s' (see --help)\n", argv[optind]);
        return -1;
    }
    if (!c->data.train_path && !c->events_dir) {
        fprintf(stderr, "rectrain: --data FILE (or --events DIR) is required (see --help)\n");
        return -1;
    }
    if (!c->split_set) c->data.split = c->data.test_path ? RS_SPLIT_FILE : RS_SPLIT_HOLDOUT;
    if (c->data.split == RS_SPLIT_FILE && !c->data.test_path) {
        fprintf(stderr, "rectrain: --split file needs --test FILE\n");
        return -1;
    }
    if (c->data.split != RS_SPLIT_FILE && c->data.test_path) {
        fprintf(stderr, "rectrain: --test FILE goes with --split file\n");
        return -1;
    }
    if (!c->family) {
        char names[512] = "";
        int n;
        const rs_family *const *fams = rs_families(&n);
        for (int i = 0, used = 0; i < n; i++)
            used += snprintf(names + used, sizeof(names) - (size_t)used, "%s%s", i ? ", " : "",
                             fams[i]->name);
        fprintf(stderr, "rectrain: --model: unknown model '%s' (available: %s)\n", c->model, names);
        return -1;
    }
    if (c->denoise && c->refit) {
        fprintf(stderr, "rectrain: --denoise does not combine with --refit\n");
        return -1;
    }
    if (!c->denoise && c->denoise_out) {
        fprintf(stderr, "rectrain: --denoise-out needs --denoise prorec\n");
        return -1;
    }
    c->train.select_index = rs_metric_set_find_or_add(&c->metrics, c->select);
    if (c->train.select_index < 0) {
        fprintf(stderr, "rectrain: --select: expected recall@K or ndcg@K, got '%s'\n", c->select);
        return -1;
    }
    return check_publishing(c);
}

int rs_cli_parse(int argc, char **argv, rs_cli *c)
{
    cli_default(c);
    entry e[MAX_ENTRIES];
    struct option longopts[MAX_ENTRIES + 3];
    build_entries(e, longopts);
    int *given = malloc(sizeof(int) * (size_t)argc);
    const char **values = malloc(sizeof(char *) * (size_t)argc);
    int n_given = 0, opt, rc = -1;
    if (!given || !values) {
        fprintf(stderr, "rectrain: out of memory\n");
        goto done;
    }
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        if (opt == OPT_HELP || opt == OPT_HELP_MARKDOWN) {
            opt == OPT_HELP ? rs_cli_usage(stdout) : rs_cli_markdown(stdout);
            exit(0);
        }
        if (opt < OPT_BASE || opt >= OPT_BASE + MAX_ENTRIES) goto done; /* getopt said why */
        opt -= OPT_BASE;
        if (e[opt].family) {
            given[n_given] = opt;
            values[n_given++] = optarg;
        } else if (rs_option_apply(e[opt].opt, optarg, c) != 0) {
            goto done;
        }
    }
    c->data.seed = c->train.seed;
    if ((c->family = rs_family_find(c->model)) &&
        !(c->family_options = family_defaults(c->family))) {
        fprintf(stderr, "rectrain: out of memory\n");
        goto done;
    }
    if (apply_family_options(c, e, given, values, n_given) != 0) goto done;
    rc = check(c, argc, argv);
done:
    free(given);
    free(values);
    return rc;
}

void rs_cli_free(rs_cli *c)
{
    free(c->family_options);
    c->family_options = NULL;
}
