/* test_preflight.c - the pre-training checks of publishing
 * (trainer/preflight.c) and the publish gate's decision (publish.c):
 *   - the size estimate bounds what each publishable family's version
 *     really adds to a store (measured as the growth of the store's pages),
 *     and is not wildly above it;
 *   - a family says it is unpublishable exactly when publishing it fails;
 *   - the store check refuses bad variant names, unpublishable families,
 *     paths that cannot be created and files in the way, and accepts a new
 *     path under a writable directory and an existing store (creating
 *     nothing);
 *   - the gate passes and refuses by the rule, with the figures. */
#include <check.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "family.h"
#include "preflight.h"
#include "publish.h"
#include "synth.h"
#include "test_support_trainer.h"

static void small_options(const rs_family *f, void *options)
{
    static const char *const settings[][2] = {{"hidden", "16"},   {"latent", "4"},
                                              {"batch", "32"},    {"samples", "10"},
                                              {"codewords", "3"}, {"factors", "8"}};
    if (f->options_default) f->options_default(options);
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        const rs_option *o = rs_family_option(f, settings[i][0]);
        if (o) ck_assert_int_eq(rs_option_apply(o, settings[i][1], options), 0);
    }
    const rs_option *sampler = rs_family_option(f, "sampler");
    if (sampler) ck_assert_int_eq(rs_option_apply(sampler, "uniform", options), 0);
}

static uint64_t store_used(const char *dir)
{
    rs_store *s;
    rs_error err;
    uint64_t map, used;
    ck_assert_msg(rs_store_open(dir, RS_STORE_CREATE, 0, &s, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rs_store_space(s, &map, &used, &err), 0);
    ck_assert_uint_eq(map, RS_STORE_DEFAULT_MAP_SIZE);
    rs_store_close(s);
    return used;
}

/* Trains a few batches of family f on d and publishes it into a fresh
 * store under dir; returns the estimate, *growth the store's growth, and
 * whether the publish worked. */
static int publish_one(const rs_family *f, const rs_dataset *d, const char *dir, uint64_t *estimate,
                       uint64_t *growth)
{
    void *options = calloc(1, f->options_size ? f->options_size : 1);
    small_options(f, options);
    rs_family_inputs in = {d->report.n_items, d->popularity, 5, d->report.n_users, &d->train};
    rs_train_model model;
    rs_error err;
    ck_assert_msg(f->create(options, &in, &model, &err) == 0, "%s: %s", f->name, err.msg);
    rs_rng rng;
    rs_rng_seed(&rng, 3);
    uint32_t users[32];
    for (int step = 0; step < 3; step++) {
        for (int r = 0; r < 32; r++) users[r] = (uint32_t)((step * 32 + r) % d->report.n_users);
        rs_train_batch batch = {&d->train, users, 32, 0.1f, &rng};
        rs_step_stats stats;
        if (model.begin_epoch) ck_assert_int_eq(model.begin_epoch(model.self, 1, &rng, &err), 0);
        ck_assert_msg(model.train_batch(model.self, &batch, &stats, &err) == 0, "%s", err.msg);
    }
    char store_dir[512];
    snprintf(store_dir, sizeof(store_dir), "%s/store-%s", dir, f->name);
    uint64_t before = store_used(store_dir);
    *estimate = rs_preflight_version_bytes(&model, d, 50);
    json_t *training = json_object();
    uint64_t version;
    int rc = rs_publish_model(store_dir, "v", &model, d, training, 0, &version, &err);
    json_decref(training);
    *growth = store_used(store_dir) - before;
    model.free(model.self);
    free(options);
    return rc == 0;
}

START_TEST(test_estimate_bounds_every_family)
{
    char dir[256], train[300], test[300];
    snprintf(dir, sizeof(dir), "/tmp/recsys-test-preflight-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(train, sizeof(train), "%s/train.tsv", dir);
    snprintf(test, sizeof(test), "%s/test.tsv", dir);
    rs_synth_options so;
    rs_synth_options_default(&so);
    so.n_users = 1500;
    so.n_items = 800;
    rs_error err;
    ck_assert_msg(rs_synth_write(&so, train, test, &err) == 0, "%s", err.msg);
    rs_data_options o;
    rs_data_options_default(&o);
    o.train_path = train;
    o.test_path = test;
    o.split = RS_SPLIT_FILE;
    rs_dataset d;
    ck_assert_msg(rs_dataset_load(&o, &d, &err) == 0, "%s", err.msg);
    int n, published = 0;
    const rs_family *const *fams = rs_families(&n);
    for (int k = 0; k < n; k++) {
        void *options = calloc(1, fams[k]->options_size ? fams[k]->options_size : 1);
        small_options(fams[k], options);
        const char *why = fams[k]->unpublishable ? fams[k]->unpublishable(options) : NULL;
        free(options);
        uint64_t estimate, growth;
        int ok = publish_one(fams[k], &d, dir, &estimate, &growth);
        /* The pre-training answer agrees with the publisher. */
        ck_assert_msg(ok == (why == NULL), "%s: unpublishable says %s, publishing %s",
                      fams[k]->name, why ? why : "no", ok ? "worked" : "failed");
        if (!ok) continue;
        published++;
        ck_assert_msg(estimate >= growth && estimate <= 2 * growth + (1u << 20),
                      "%s: estimate %llu bytes, the version took %llu", fams[k]->name,
                      (unsigned long long)estimate, (unsigned long long)growth);
    }
    ck_assert_int_ge(published, n - 1);
    rs_dataset_free(&d);
    test_remove_tree(dir);
}
END_TEST

/* Parses a command line into c (the store check reads only options). */
static void parse(rs_cli *c, const char *model, const char *store, const char *variant)
{
    char *argv[] = {"rectrain", "--data",      "x.tsv",     "--model",       (char *)model,
                    "--store",  (char *)store, "--variant", (char *)variant, NULL};
    optind = 0;
    ck_assert_int_eq(rs_cli_parse(9, argv, c), 0);
}

static void expect_refused(const char *model, const char *store, const char *variant,
                           const char *needle)
{
    rs_cli c;
    rs_preflight pf;
    rs_error err;
    parse(&c, model, store, variant);
    ck_assert_int_eq(rs_preflight_store(&c, &pf, &err), -1);
    ck_assert_msg(strstr(err.msg, needle) != NULL, "expected '%s' in '%s'", needle, err.msg);
    rs_cli_free(&c);
}

START_TEST(test_store_check)
{
    char dir[256], path[512], file[512];
    snprintf(dir, sizeof(dir), "/tmp/recsys-test-preflight-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(file, sizeof(file), "%s/afile", dir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/new/deeper/store", dir);
    expect_refused("vae", path, "bad/name", "--variant");
    expect_refused("popularity", path, "default", "cannot be published");
    snprintf(path, sizeof(path), "%s/afile/store", dir);
    expect_refused("vae", path, "default", "cannot be created");
    expect_refused("vae", file, "default", "is not a directory");
    /* A new path under a writable directory: accepted, nothing created. */
    rs_cli c;
    rs_preflight pf;
    rs_error err;
    snprintf(path, sizeof(path), "%s/new/deeper/store", dir);
    parse(&c, "vae", path, "default");
    ck_assert_msg(rs_preflight_store(&c, &pf, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(pf.store_exists, 0);
    ck_assert_uint_eq(pf.map_size, RS_STORE_DEFAULT_MAP_SIZE);
    struct stat st;
    snprintf(file, sizeof(file), "%s/new", dir);
    ck_assert_int_ne(stat(file, &st), 0);
    /* The space check: the map against the estimate. */
    ck_assert_int_eq(rs_preflight_space(&c, &pf, 1u << 30, &err), 0);
    pf.map_size = 1u << 20;
    ck_assert_int_eq(rs_preflight_space(&c, &pf, 2u << 20, &err), -1);
    ck_assert_msg(strstr(err.msg, "--map-size 3") != NULL, "%s", err.msg);
    rs_cli_free(&c);
    /* An existing store: opened and measured. */
    rs_store *s;
    snprintf(path, sizeof(path), "%s/store", dir);
    ck_assert_int_eq(rs_store_open(path, RS_STORE_CREATE, 0, &s, &err), 0);
    rs_store_close(s);
    parse(&c, "vae", path, "default");
    ck_assert_msg(rs_preflight_store(&c, &pf, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(pf.store_exists, 1);
    ck_assert_uint_gt(pf.used, 0);
    rs_cli_free(&c);
    test_remove_tree(dir);
}
END_TEST

START_TEST(test_gate_decision)
{
    const char *serving = "{\"training\": {\"valid_metrics\": {\"ndcg@50\": 0.30}}}";
    rs_publish_gate g = {"ndcg@50", 0.01, 0.295};
    rs_gate_outcome o;
    rs_publish_gate_decide(&g, 4, serving, &o);
    ck_assert(o.passed && o.compared);
    ck_assert_uint_eq(o.serving_version, 4);
    ck_assert_double_eq_tol(o.serving_value, 0.30, 1e-12);
    g.value = 0.289; /* worse by more than the tolerance */
    rs_publish_gate_decide(&g, 4, serving, &o);
    ck_assert(!o.passed && o.compared);
    g.tolerance = 0;
    g.value = 0.30; /* equal passes */
    rs_publish_gate_decide(&g, 4, serving, &o);
    ck_assert(o.passed);
    g.value = NAN; /* no validation figure of its own: refused */
    rs_publish_gate_decide(&g, 4, serving, &o);
    ck_assert(!o.passed);
    rs_publish_gate_decide(&g, 0, NULL, &o); /* a first version: passes */
    ck_assert(o.passed && !o.compared);
    g.value = 0.1; /* a serving version without the figure: passes, not compared */
    rs_publish_gate_decide(&g, 2, "{\"training\": {\"valid_metrics\": {\"recall@20\": 0.5}}}", &o);
    ck_assert(o.passed && !o.compared && isnan(o.serving_value));
    rs_publish_gate_decide(NULL, 2, serving, &o); /* no gate */
    ck_assert(o.passed);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("preflight");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_estimate_bounds_every_family);
    tcase_add_test(tc, test_store_check);
    tcase_add_test(tc, test_gate_decision);
    suite_add_tcase(suite, tc);
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
