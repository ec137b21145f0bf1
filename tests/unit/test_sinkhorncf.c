/* test_sinkhorncf.c - the SinkhornCF family (trainer/sinkhorncf.c) is
 * Mult-VAE with the loss swapped, and nothing else:
 *   - with the transport weight and alpha at 0 its loss is the multinomial
 *     likelihood, so from the same seed its objective and every gradient
 *     equal Mult-VAE's (the hook leaves the architecture, KL and PIA alone);
 *   - with the paper's loss the gradient differs (the loss is really used);
 *   - its manifest options name the loss and its settings.
 * (Its gradient against finite differences and its served scores are
 * checked with every family's in test_family.c.) */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "family.h"
#include "test_support.h"

static void *family_options(const rs_family *f, const char *const (*settings)[2], int n)
{
    void *o = calloc(1, f->options_size);
    f->options_default(o);
    for (int i = 0; i < n; i++) {
        const rs_option *opt = rs_family_option(f, settings[i][0]);
        ck_assert_msg(opt != NULL, "%s has no --%s", f->name, settings[i][0]);
        ck_assert_int_eq(rs_option_apply(opt, settings[i][1], o), 0);
    }
    return o;
}

static void create(const char *family, const rs_dataset *d, const char *const (*settings)[2], int n,
                   rs_train_model *model)
{
    const rs_family *f = rs_family_find(family);
    ck_assert_ptr_nonnull(f);
    void *o = family_options(f, settings, n);
    rs_family_inputs in = {d->report.n_items, d->popularity, 5, d->report.n_users, &d->train};
    rs_error err;
    ck_assert_msg(f->create(o, &in, model, &err) == 0, "%s: %s", family, err.msg);
    free(o);
}

/* Objective and dense gradient (copied) on a fixed batch of users. */
static float *gradient(rs_train_model *model, const rs_dataset *d, double *objective)
{
    uint32_t users[8] = {0, 3, 7, 12, 20, 33, 41, 58};
    rs_train_batch batch = {&d->train, users, 8, 0.2f, NULL};
    rs_error err;
    ck_assert_msg(model->gradient(model->self, &batch, objective, &err) == 0, "%s", err.msg);
    float *g = rs_params_dense_gradient(model->params, &err);
    ck_assert_ptr_nonnull(g);
    float *copy = malloc(model->params->n_floats * sizeof(float));
    memcpy(copy, g, model->params->n_floats * sizeof(float));
    return copy;
}

/* The largest |a - b| over the gradient, relative to the largest |b|. */
static double relative_difference(const float *a, const float *b, size_t n)
{
    double diff = 0.0, scale = 0.0;
    for (size_t i = 0; i < n; i++) {
        diff = fmax(diff, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return diff / scale;
}

START_TEST(test_without_transport_and_alpha_it_is_mult_vae)
{
    char dir[256];
    rs_dataset d;
    test_two_group_dataset("sinkhorncf", dir, sizeof(dir), &d);
    static const char *const shape[][2] = {{"hidden", "8"}, {"latent", "4"}, {"batch", "16"}};
    static const char *const plain[][2] = {{"hidden", "8"},
                                           {"latent", "4"},
                                           {"batch", "16"},
                                           {"sinkhorn-alpha", "0"},
                                           {"sinkhorn-transport-weight", "0"}};
    rs_train_model vae, plain_sinkhorn, sinkhorn;
    create("vae", &d, shape, 3, &vae);
    create("sinkhorn", &d, plain, 5, &plain_sinkhorn);
    create("sinkhorn", &d, shape, 3, &sinkhorn);
    ck_assert_str_eq(sinkhorn.family, "sinkhorn");
    size_t n = vae.params->n_floats;
    ck_assert_uint_eq(plain_sinkhorn.params->n_floats, n);
    ck_assert(memcmp(vae.params->block, plain_sinkhorn.params->block, n * sizeof(float)) == 0);
    double o_vae, o_plain, o_sinkhorn;
    float *g_vae = gradient(&vae, &d, &o_vae);
    float *g_plain = gradient(&plain_sinkhorn, &d, &o_plain);
    float *g_sinkhorn = gradient(&sinkhorn, &d, &o_sinkhorn);
    ck_assert_msg(fabs(o_plain - o_vae) < 1e-5 * fabs(o_vae), "objective %.9g vs Mult-VAE %.9g",
                  o_plain, o_vae);
    double same = relative_difference(g_plain, g_vae, n);
    ck_assert_msg(same < 1e-4, "gradient differs from Mult-VAE's by %g", same);
    double other = relative_difference(g_sinkhorn, g_vae, n);
    ck_assert_msg(other > 1e-2, "the paper's loss gives Mult-VAE's gradient (%g)", other);
    free(g_vae), free(g_plain), free(g_sinkhorn);
    vae.free(vae.self);
    plain_sinkhorn.free(plain_sinkhorn.self);
    sinkhorn.free(sinkhorn.self);
    rs_dataset_free(&d);
    test_remove_tree(dir);
}
END_TEST

START_TEST(test_manifest_options_name_the_loss)
{
    char dir[256];
    rs_dataset d;
    test_two_group_dataset("sinkhorncf-json", dir, sizeof(dir), &d);
    static const char *const settings[][2] = {
        {"hidden", "8"},          {"latent", "4"},
        {"sinkhorn-k", "7"},      {"sinkhorn-iters", "3"},
        {"sinkhorn-eps", "0.5"},  {"sinkhorn-alpha", "0.1"},
        {"sinkhorn-shrink", "9"}, {"sinkhorn-neighbours", "11"}};
    rs_train_model model;
    create("sinkhorn", &d, settings, 8, &model);
    json_t *o = model.options_json(model.self);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "hidden")), 8);
    json_t *loss = json_object_get(o, "loss");
    ck_assert_ptr_nonnull(loss);
    ck_assert_str_eq(json_string_value(json_object_get(loss, "name")), "sinkhorn");
    ck_assert_int_eq(json_integer_value(json_object_get(loss, "k")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(loss, "iterations")), 3);
    ck_assert(json_real_value(json_object_get(loss, "epsilon")) == 0.5);
    ck_assert(json_real_value(json_object_get(loss, "alpha")) == 0.1);
    ck_assert(json_real_value(json_object_get(loss, "transport_weight")) == 1.0);
    ck_assert(json_is_false(json_object_get(loss, "renormalise_topk")));
    ck_assert(json_real_value(json_object_get(loss, "cost_shrink")) == 9.0);
    ck_assert_int_eq(json_integer_value(json_object_get(loss, "cost_neighbours")), 11);
    json_decref(o);
    model.free(model.self);
    /* Mult-VAE's own options have no loss object. */
    rs_train_model vae;
    create("vae", &d, settings, 2, &vae);
    o = vae.options_json(vae.self);
    ck_assert_ptr_null(json_object_get(o, "loss"));
    json_decref(o);
    vae.free(vae.self);
    rs_dataset_free(&d);
    test_remove_tree(dir);
}
END_TEST

START_TEST(test_needs_the_training_matrix)
{
    char dir[256];
    rs_dataset d;
    test_two_group_dataset("sinkhorncf-in", dir, sizeof(dir), &d);
    const rs_family *f = rs_family_find("sinkhorn");
    void *o = family_options(f, NULL, 0);
    rs_family_inputs in = {d.report.n_items, d.popularity, 5, d.report.n_users, NULL};
    rs_train_model model;
    rs_error err;
    ck_assert_int_eq(f->create(o, &in, &model, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "training matrix"));
    free(o);
    rs_dataset_free(&d);
    test_remove_tree(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sinkhorncf");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_without_transport_and_alpha_it_is_mult_vae);
    tcase_add_test(tc, test_manifest_options_name_the_loss);
    tcase_add_test(tc, test_needs_the_training_matrix);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
