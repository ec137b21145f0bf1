/* test_family.c - every registered model family through the generic spine
 * (trainer/family.h, params.h, publish.c), with nothing family-specific in
 * the test: a family gets its options by name from its own table, and
 *   - its gradient matches central finite differences (all its tensors);
 *   - trained a few steps and published, it loads into the server's model
 *     with the family's name, its serving MIDX index and the trainer's own
 *     scores (a model that publishes itself, an item-item model, loads as
 *     one, with no index);
 * plus the command line: family options land in the chosen family only,
 * another family's option is still checked against its bounds, and
 * defaults come from the option tables. */
#include <check.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "family.h"
#include "midx.h"
#include "midx_store.h"
#include "model.h"
#include "publish.h"
#include "test_support_trainer.h"

/* Small models: the options a family has of these get these values. */
static void small_options(const rs_family *f, void *options, int full_softmax)
{
    static const char *const settings[][2] = {
        {"hidden", "6"},    {"latent", "3"},    {"batch", "16"}, {"samples", "10"},
        {"codewords", "3"}, {"dropout", "0.2"}, {"factors", "4"}};
    if (f->options_default) f->options_default(options);
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        const rs_option *o = rs_family_option(f, settings[i][0]);
        if (o) ck_assert_int_eq(rs_option_apply(o, settings[i][1], options), 0);
    }
    const rs_option *sampler = rs_family_option(f, "sampler");
    if (sampler)
        ck_assert_int_eq(rs_option_apply(sampler, full_softmax ? "full" : "uniform", options), 0);
}

static void create(const rs_family *f, const rs_dataset *d, int full_softmax, void **options,
                   rs_train_model *model)
{
    *options = calloc(1, f->options_size ? f->options_size : 1);
    small_options(f, *options, full_softmax);
    rs_family_inputs in = {d->report.n_items, d->popularity, 11, d->report.n_users, &d->train};
    rs_error err;
    ck_assert_msg(f->create(*options, &in, model, &err) == 0, "%s: %s", f->name, err.msg);
}

START_TEST(test_every_family_gradient_matches_finite_differences)
{
    char dir[256];
    rs_dataset d;
    test_two_group_dataset("family-grad", dir, sizeof(dir), &d);
    int n_families, checked = 0;
    const rs_family *const *fams = rs_families(&n_families);
    for (int k = 0; k < n_families; k++) {
        void *options;
        rs_train_model model;
        create(fams[k], &d, 1, &options, &model);
        if (!model.params || !model.gradient) {
            model.free(model.self);
            free(options);
            continue;
        }
        uint32_t users[6] = {0, 1, 2, 3, 4, 5};
        rs_train_batch batch = {&d.train, users, 6, 0.3f, NULL};
        rs_params *p = model.params;
        for (size_t i = 0; i < p->n_floats; i++) p->block[i] *= 2.0f; /* every path matters */
        rs_error err;
        double objective, up, down, worst = 0.0;
        ck_assert_msg(model.gradient(model.self, &batch, &objective, &err) == 0, "%s", err.msg);
        float *dense = rs_params_dense_gradient(p, &err);
        ck_assert_ptr_nonnull(dense);
        float *analytic = malloc(p->n_floats * sizeof(float));
        memcpy(analytic, dense, p->n_floats * sizeof(float));
        const float h = 1e-2f;
        for (size_t i = 0; i < p->n_floats; i += 3) {
            float saved = p->block[i];
            p->block[i] = saved + h;
            model.gradient(model.self, &batch, &up, &err);
            p->block[i] = saved - h;
            model.gradient(model.self, &batch, &down, &err);
            p->block[i] = saved;
            double numeric = (up - down) / (2.0 * h);
            double rel =
                fabs(numeric - analytic[i]) / fmax(1e-2, fabs(numeric) + fabs(analytic[i]));
            if (rel > worst) worst = rel;
        }
        ck_assert_msg(worst < 1e-2, "%s: worst relative gradient error %g", fams[k]->name, worst);
        free(analytic);
        model.free(model.self);
        free(options);
        checked++;
    }
    ck_assert_int_ge(checked, 3); /* vae, fastvae, linear at least */
    rs_dataset_free(&d);
    test_remove_tree(dir);
}
END_TEST

START_TEST(test_every_publishable_family_serves_its_scores)
{
    char dir[256], store_dir[300];
    rs_dataset d;
    test_two_group_dataset("family-pub", dir, sizeof(dir), &d);
    snprintf(store_dir, sizeof(store_dir), "%s/store", dir);
    int n_families, published = 0;
    const rs_family *const *fams = rs_families(&n_families);
    for (int k = 0; k < n_families; k++) {
        void *options;
        rs_train_model model;
        create(fams[k], &d, 0, &options, &model);
        rs_rng rng;
        rs_rng_seed(&rng, 3);
        uint32_t users[16];
        for (int step = 0; step < 4; step++) {
            for (int r = 0; r < 16; r++) users[r] = (uint32_t)((step * 16 + r) % 60);
            rs_train_batch batch = {&d.train, users, 16, 0.1f, &rng};
            rs_step_stats stats;
            rs_error err;
            if (model.begin_epoch)
                ck_assert_int_eq(model.begin_epoch(model.self, 1, &rng, &err), 0);
            ck_assert_msg(model.train_batch(model.self, &batch, &stats, &err) == 0, "%s", err.msg);
        }
        json_t *training = json_object();
        uint64_t version;
        rs_error err;
        int rc =
            rs_publish_model(store_dir, fams[k]->name, &model, &d, training, 0, &version, &err);
        json_decref(training);
        if (model.publish) {
            /* A model that publishes itself (an item-item model): it loads as
             * one, without a serving index; test_ease_family.c checks its
             * served rankings. */
            ck_assert_msg(rc == 0, "%s: %s", fams[k]->name, err.msg);
            rs_store *store;
            rs_snapshot *snap;
            rs_model *m;
            ck_assert_int_eq(rs_store_open(store_dir, RS_STORE_READONLY, 0, &store, &err), 0);
            ck_assert_int_eq(rs_snapshot_open(store, fams[k]->name, 0, 1, &snap, &err), 0);
            ck_assert_msg(rs_model_load(snap, &m, &err) == 0, "%s: %s", fams[k]->name, err.msg);
            ck_assert_ptr_nonnull(rs_model_itemitem(m));
            rs_midx idx;
            ck_assert_int_ne(rs_midx_load(snap, "retrieval.midx", 1, &idx, &err), 0);
            rs_model_free(m);
            rs_snapshot_close(snap);
            rs_store_close(store);
            published++;
        } else if (!model.serve.input) { /* a baseline without an encoder says so */
            ck_assert_int_eq(rc, -1);
            ck_assert_ptr_nonnull(strstr(err.msg, "no encoder to publish"));
        } else {
            ck_assert_msg(rc == 0, "%s: %s", fams[k]->name, err.msg);
            rs_store *store;
            rs_snapshot *snap;
            rs_model *m;
            ck_assert_int_eq(rs_store_open(store_dir, RS_STORE_READONLY, 0, &store, &err), 0);
            ck_assert_int_eq(rs_snapshot_open(store, fams[k]->name, 0, 1, &snap, &err), 0);
            ck_assert_msg(rs_model_load(snap, &m, &err) == 0, "%s: %s", fams[k]->name, err.msg);
            ck_assert_str_eq(rs_model_family(m), fams[k]->name);
            rs_midx idx;
            ck_assert_msg(rs_midx_load(snap, "retrieval.midx", 1, &idx, &err) == 0, "%s: %s",
                          fams[k]->name, err.msg);
            ck_assert_uint_eq(idx.n, d.report.n_items);
            ck_assert_uint_eq(idx.d1 + idx.d2, rs_model_dim(m));
            rs_midx_release(&idx);
            uint32_t users_[8];
            for (uint32_t r = 0; r < 8; r++) users_[r] = r * 7;
            test_check_served_scores(m, &model, &d, users_, 8);
            rs_model_free(m);
            rs_snapshot_close(snap);
            rs_store_close(store);
            published++;
        }
        model.free(model.self);
        free(options);
    }
    ck_assert_int_ge(published, 3);
    rs_dataset_free(&d);
    test_remove_tree(dir);
}
END_TEST

static int parse(rs_cli *c, int argc, const char **argv)
{
    optind = 0; /* a full getopt reset between parses */
    return rs_cli_parse(argc, (char **)argv, c);
}

START_TEST(test_cli_options_reach_the_chosen_family)
{
    rs_cli c;
    const char *fv[] = {"rectrain", "--data", "x.tsv",  "--model", "fastvae",   "--batch", "7",
                        "--lr",     "0.5",    "--seed", "9",       "--sampler", "full"};
    ck_assert_int_eq(parse(&c, 13, fv), 0);
    ck_assert_str_eq(c.family->name, "fastvae");
    const rs_option *batch = rs_family_option(c.family, "batch");
    ck_assert_int_eq(*(int *)((char *)c.family_options + batch->offset), 7);
    const rs_option *lr = rs_family_option(c.family, "lr");
    ck_assert(*(float *)((char *)c.family_options + lr->offset) == 0.5f);
    ck_assert_uint_eq(c.train.seed, 9);
    ck_assert_uint_eq(c.data.seed, 9);
    char value[64];
    rs_option_format(rs_family_option(c.family, "hidden"), c.family_options, value, sizeof(value));
    ck_assert_str_eq(value, "200"); /* the table's default for fastvae */
    rs_cli_free(&c);
    /* The default model, its own default for the same option. */
    const char *vae[] = {"rectrain", "--data", "x.tsv"};
    ck_assert_int_eq(parse(&c, 3, vae), 0);
    ck_assert_str_eq(c.family->name, "vae");
    rs_option_format(rs_family_option(c.family, "hidden"), c.family_options, value, sizeof(value));
    ck_assert_str_eq(value, "600");
    rs_cli_free(&c);
    /* Another family's option is still checked against its bounds. */
    const char *bad[] = {"rectrain", "--data", "x.tsv", "--model", "vae", "--samples", "0"};
    ck_assert_int_eq(parse(&c, 7, bad), -1);
    rs_cli_free(&c);
    const char *unknown[] = {"rectrain", "--data", "x.tsv", "--model", "nope"};
    ck_assert_int_eq(parse(&c, 5, unknown), -1);
    rs_cli_free(&c);
    const char *bound[] = {"rectrain", "--data", "x.tsv", "--epochs", "0"};
    ck_assert_int_eq(parse(&c, 5, bound), -1);
    rs_cli_free(&c);
}
END_TEST

START_TEST(test_every_default_is_within_its_bounds)
{
    int n;
    const rs_family *const *fams = rs_families(&n);
    for (int k = 0; k < n; k++) {
        void *o = calloc(1, fams[k]->options_size ? fams[k]->options_size : 1);
        ck_assert_int_eq(rs_options_default(fams[k]->options, fams[k]->n_options, o), 0);
        for (int i = 0; i < fams[k]->n_options; i++)
            ck_assert_msg(fams[k]->options[i].help && *fams[k]->options[i].help, "%s --%s: no help",
                          fams[k]->name, fams[k]->options[i].name);
        free(o);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("family");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_every_family_gradient_matches_finite_differences);
    tcase_add_test(tc, test_every_publishable_family_serves_its_scores);
    tcase_add_test(tc, test_cli_options_reach_the_chosen_family);
    tcase_add_test(tc, test_every_default_is_within_its_bounds);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
