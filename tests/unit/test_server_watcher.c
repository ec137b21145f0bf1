/* test_server_watcher.c - hot reload: the watcher loads new versions on
 * request and by polling, refuses invalid ones (the old version keeps
 * serving, the refusal is reported), swaps versions while readers hold and
 * use them, and follows a store directory replaced behind a symbolic link,
 * closing the old store only once no reader holds a version from it. */
#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "registry.h"
#include "stats.h"
#include "store.h"
#include "watcher.h"

enum { M = 30, H = 4, L = 2, D = 3 };

static char root[256];

static json_t *layer(const char *kind, const char *weight, const char *bias, int in, int out)
{
    json_t *l =
        json_pack("{s:s,s:i,s:i,s:s}", "kind", kind, "in", in, "out", out, "activation", "none");
    if (weight) json_object_set_new(l, "weight", json_string(weight));
    if (bias) json_object_set_new(l, "bias", json_string(bias));
    return l;
}

/* Publishes a small servable model whose item vectors all equal fill (so a
 * reader can tell versions apart); with broken, the item matrix has one row
 * too few, which loading must refuse. Returns the version. */
static uint64_t publish(rs_store *s, const char *variant, float fill, int broken)
{
    static float w1[M * H], b1[H], w2[H * 2 * L], b2[2 * L], w3[L * D], b3[D], pop[M];
    static float vec[M * D], bias[M];
    for (int i = 0; i < M * H; i++) w1[i] = (float)((i * 7) % 11) / 11.0f - 0.5f;
    for (int i = 0; i < H * 2 * L; i++) w2[i] = (float)((i * 5) % 7) / 7.0f - 0.5f;
    for (int i = 0; i < L * D; i++) w3[i] = (float)((i * 3) % 5) / 5.0f - 0.5f;
    for (int i = 0; i < M * D; i++) vec[i] = fill;
    for (int i = 0; i < M; i++) pop[i] = (float)(M - i);
    rs_publish *pub;
    uint64_t version;
    rs_error err;
    ck_assert_msg(rs_publish_begin(s, variant, &pub, &version, &err) == 0, "%s", err.msg);
    struct {
        const char *name;
        const float *data;
        uint32_t ndim;
        uint64_t shape[2];
    } t[] = {
        {"enc.0.w", w1, 2, {M, H}},
        {"enc.0.b", b1, 1, {H, 0}},
        {"enc.1.w", w2, 2, {H, 2 * L}},
        {"enc.1.b", b2, 1, {2 * L, 0}},
        {"dec.0.w", w3, 2, {L, D}},
        {"dec.0.b", b3, 1, {D, 0}},
        {"items.vectors", vec, 2, {broken ? M - 1 : M, D}},
        {"items.bias", bias, 1, {M, 0}},
        {"items.popularity", pop, 1, {M, 0}},
    };
    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
        ck_assert_msg(
            rs_publish_tensor(pub, t[i].name, RS_F32, t[i].ndim, t[i].shape, t[i].data, &err) == 0,
            "%s", err.msg);
    char *items[M], buf[M * 8];
    char *p = buf;
    for (int i = 0; i < M; i++) {
        items[i] = p;
        p += sprintf(p, "i%d", i) + 1;
    }
    char *users[1] = {(char *)"u0"};
    ck_assert_int_eq(rs_publish_strings(pub, "items.ids", items, M, &err), 0);
    ck_assert_int_eq(rs_publish_strings(pub, "users.ids", users, 1, &err), 0);
    uint64_t indptr[2] = {0, 2}, s1 = 2, s2 = 2;
    uint32_t indices[2] = {1, 2};
    ck_assert_int_eq(rs_publish_tensor(pub, "users.history.indptr", RS_U64, 1, &s1, indptr, &err),
                     0);
    ck_assert_int_eq(rs_publish_tensor(pub, "users.history.indices", RS_U32, 1, &s2, indices, &err),
                     0);
    json_t *layers = json_array();
    json_array_append_new(layers, layer("sparse_linear", "enc.0.w", "enc.0.b", M, H));
    json_array_append_new(layers, layer("linear", "enc.1.w", "enc.1.b", H, 2 * L));
    json_array_append_new(layers, layer("gaussian_mean", NULL, NULL, 2 * L, L));
    json_array_append_new(layers, layer("linear", "dec.0.w", "dec.0.b", L, D));
    json_t *manifest =
        json_pack("{s:s,s:i,s:i,s:{s:s,s:o},s:{s:s,s:s,s:i}}", "family", "vae", "n_items", M,
                  "n_users", 1, "encoder", "input", "l2", "layers", layers, "items", "vectors",
                  "items.vectors", "bias", "items.bias", "dim", D);
    char *text = json_dumps(manifest, 0);
    ck_assert_msg(rs_publish_commit(pub, text, 0, &err) == 0, "%s", err.msg);
    free(text);
    json_decref(manifest);
    return version;
}

typedef struct fixture {
    rs_store *store;
    rs_stats *stats;
    rs_registry *reg;
    rs_watcher *w;
} fixture;

static void open_fixture(fixture *f, const char *dir, double interval, int publish_first)
{
    rs_error err;
    const char *routes[] = {"/x", "unmatched"};
    ck_assert_msg(rs_store_open(dir, RS_STORE_CREATE, 0, &f->store, &err) == 0, "%s", err.msg);
    if (publish_first) publish(f->store, "default", 1.0f, 0);
    ck_assert_int_eq(rs_stats_create(routes, 2, &f->stats, &err), 0);
    ck_assert_int_eq(rs_registry_create(f->store, f->stats, NULL, &f->reg, &err), 0);
    rs_watcher_options opt = {.store_dir = dir, .interval = interval, .verify = 1};
    ck_assert_int_eq(rs_watcher_create(f->reg, f->store, &opt, &f->w, &err), 0);
    int loaded;
    ck_assert_msg(rs_watcher_load_initial(f->w, &loaded, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(loaded, 1);
    ck_assert_int_eq(rs_registry_set_default(f->reg, NULL, &err), 0);
    ck_assert_int_eq(rs_watcher_start(f->w, &err), 0);
}

static void close_fixture(fixture *f)
{
    rs_watcher_stop(f->w);
    rs_registry_free(f->reg);
    rs_watcher_free(f->w); /* closes the stores */
    rs_stats_free(f->stats);
}

static uint64_t serving(fixture *f)
{
    rs_loaded *l = rs_registry_acquire(f->reg, NULL, 0);
    uint64_t v = l ? l->version : 0;
    rs_loaded_release(l);
    return v;
}

static char *render(rs_watcher *w)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    rs_watcher_render(w, out);
    fclose(out);
    return text;
}

static void make_root(void)
{
    snprintf(root, sizeof(root), "/tmp/rs-watcher-%d-XXXXXX", (int)getpid());
    ck_assert_ptr_nonnull(mkdtemp(root));
}

static void remove_root(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
    ck_assert_int_eq(system(cmd), 0);
}

START_TEST(test_reload_refuse_and_poll)
{
    make_root();
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/store", root);
    fixture f;
    open_fixture(&f, dir, 0, 1); /* no polling: only on request */
    ck_assert_uint_eq(serving(&f), 1);

    publish(f.store, "default", 2.0f, 0);
    usleep(50000);
    ck_assert_uint_eq(serving(&f), 1); /* nobody asked */
    json_t *r = rs_watcher_reload(f.w, 10);
    ck_assert(json_is_true(json_object_get(r, "completed")));
    json_t *o = json_array_get(json_object_get(r, "variants"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "result")), "loaded");
    json_decref(r);
    ck_assert_uint_eq(serving(&f), 2);

    /* A version the model loader refuses: version 2 keeps serving. */
    uint64_t bad = publish(f.store, "default", 3.0f, 1);
    r = rs_watcher_reload(f.w, 10);
    o = json_array_get(json_object_get(r, "variants"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(o, "result")), "refused");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "serving_version")), 2);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(o, "error")), "items.vectors"));
    json_decref(r);
    ck_assert_uint_eq(serving(&f), 2);
    json_t *st = rs_watcher_status(f.w);
    json_t *v = json_array_get(st, 0);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "store_version")), (json_int_t)bad);
    ck_assert_int_eq(json_integer_value(json_object_get(v, "refusals")), 1);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(v, "last_refused"), "version")),
        (json_int_t)bad);
    json_decref(st);
    char *text = render(f.w);
    ck_assert_ptr_nonnull(
        strstr(text, "recsys_model_reloads_total{variant=\"default\",result=\"refused\"} 1\n"));
    ck_assert_ptr_nonnull(
        strstr(text, "recsys_model_reloads_total{variant=\"default\",result=\"loaded\"} 2\n"));
    ck_assert_ptr_nonnull(strstr(text, "recsys_model_refused_version{variant=\"default\"} 3\n"));
    free(text);
    close_fixture(&f);

    /* With polling, a new version arrives by itself. */
    open_fixture(&f, dir, 0.02, 0);
    ck_assert_uint_eq(serving(&f), 2); /* 3 is current but refused at start */
    uint64_t next = publish(f.store, "default", 4.0f, 0);
    for (int i = 0; i < 200 && serving(&f) != next; i++) usleep(10000);
    ck_assert_uint_eq(serving(&f), next);
    close_fixture(&f);
    remove_root();
}
END_TEST

/* Pins: a pinned variant serves its pin through later publishes; a pin to
 * a version that fails validation or does not exist is refused and the
 * previous pin stays; unpinning goes back to the store's current version.
 * The config's pins apply from the first load. */
START_TEST(test_pin_and_unpin)
{
    make_root();
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/store", root);
    fixture f;
    open_fixture(&f, dir, 0, 1);
    publish(f.store, "default", 2.0f, 0);
    json_t *r = rs_watcher_reload(f.w, 10);
    json_decref(r);
    uint64_t bad = publish(f.store, "default", 3.0f, 1);
    r = rs_watcher_reload(f.w, 10);
    json_decref(r);
    ck_assert_uint_eq(serving(&f), 2); /* 3 is refused */

    rs_error err;
    ck_assert_msg(rs_watcher_pin(f.w, "default", 1, 10, &r, &err) == 0, "%s", err.msg);
    json_decref(r);
    ck_assert_uint_eq(serving(&f), 1);
    ck_assert_uint_eq(rs_watcher_pinned(f.w, "default"), 1);
    uint64_t newest = publish(f.store, "default", 4.0f, 0);
    r = rs_watcher_reload(f.w, 10);
    json_t *o = json_array_get(json_object_get(r, "variants"), 0);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "pinned_version")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(o, "store_version")), (json_int_t)newest);
    json_decref(r);
    ck_assert_uint_eq(serving(&f), 1); /* the publish did not move it */

    /* Refused pins keep the old pin. */
    ck_assert_int_eq(rs_watcher_pin(f.w, "default", bad, 10, &r, &err), -1);
    ck_assert_int_eq(err.kind, RS_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "items.vectors"));
    ck_assert_int_eq(rs_watcher_pin(f.w, "default", 77, 10, &r, &err), -1);
    ck_assert_int_eq(err.kind, RS_ERR_INVALID);
    ck_assert_int_eq(rs_watcher_pin(f.w, "nosuch", 1, 10, &r, &err), -1);
    ck_assert_int_eq(err.kind, RS_ERR_NOT_FOUND);
    ck_assert_uint_eq(rs_watcher_pinned(f.w, "default"), 1);
    ck_assert_uint_eq(serving(&f), 1);
    char *text = render(f.w);
    ck_assert_ptr_nonnull(strstr(text, "recsys_model_pinned_version{variant=\"default\"} 1\n"));
    free(text);

    ck_assert_msg(rs_watcher_pin(f.w, "default", 0, 10, &r, &err) == 0, "%s", err.msg);
    json_decref(r);
    ck_assert_uint_eq(rs_watcher_pinned(f.w, "default"), 0);
    ck_assert_uint_eq(serving(&f), newest);
    close_fixture(&f);

    /* A pin from the config holds from the start. */
    rs_watcher_pin_entry pins[] = {{"default", 2}};
    const char *routes[] = {"/x", "unmatched"};
    ck_assert_int_eq(rs_store_open(dir, 0, 0, &f.store, &err), 0);
    ck_assert_int_eq(rs_stats_create(routes, 2, &f.stats, &err), 0);
    ck_assert_int_eq(rs_registry_create(f.store, f.stats, NULL, &f.reg, &err), 0);
    rs_watcher_options opt = {.store_dir = dir, .verify = 1, .pins = pins, .n_pins = 1};
    ck_assert_int_eq(rs_watcher_create(f.reg, f.store, &opt, &f.w, &err), 0);
    int loaded;
    ck_assert_msg(rs_watcher_load_initial(f.w, &loaded, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(rs_registry_set_default(f.reg, NULL, &err), 0);
    ck_assert_uint_eq(serving(&f), 2);
    close_fixture(&f);
    remove_root();
}
END_TEST

/* Readers acquire the current version, read all of its item matrix and
 * release, while the watcher swaps in new versions: every read sees one
 * version's values (no torn or freed data; ASan checks the memory side) and
 * versions never go backwards. */
typedef struct reader {
    fixture *f;
    atomic_int *stop;
    long reads, errors;
} reader;

static void *read_loop(void *p)
{
    reader *r = p;
    uint64_t last = 0;
    while (!atomic_load(r->stop)) {
        rs_loaded *l = rs_registry_acquire(r->f->reg, NULL, 0);
        if (!l) {
            r->errors++;
            continue;
        }
        const float *m = rs_model_item_matrix(l->model);
        uint32_t n = rs_model_n_items(l->model), d = rs_model_dim(l->model);
        float first = m[0];
        /* dim includes the bias column: compare the vector columns only. */
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j + 1 < d; j++)
                if (m[(size_t)i * d + j] != first) r->errors++;
        if (l->version < last) r->errors++;
        last = l->version;
        rs_loaded_release(l);
        r->reads++;
    }
    return NULL;
}

START_TEST(test_swaps_under_readers)
{
    make_root();
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/store", root);
    fixture f;
    open_fixture(&f, dir, 0.005, 1);
    atomic_int stop = 0;
    reader rd[4];
    pthread_t th[4];
    for (int i = 0; i < 4; i++) {
        rd[i] = (reader){&f, &stop, 0, 0};
        pthread_create(&th[i], NULL, read_loop, &rd[i]);
    }
    uint64_t last = 0;
    for (int k = 0; k < 25; k++) {
        last = publish(f.store, "default", (float)(k + 2), 0);
        for (int i = 0; i < 300 && serving(&f) != last; i++) usleep(2000);
    }
    atomic_store(&stop, 1);
    long reads = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(rd[i].errors, 0);
        reads += rd[i].reads;
    }
    ck_assert_uint_eq(serving(&f), last);
    ck_assert_int_gt(reads, 100);
    close_fixture(&f);
    remove_root();
}
END_TEST

START_TEST(test_store_swap_waits_for_readers)
{
    make_root();
    char a[300], b[300], link[300], tmp[320];
    snprintf(a, sizeof(a), "%s/store.a", root);
    snprintf(b, sizeof(b), "%s/store.b", root);
    snprintf(link, sizeof(link), "%s/store", root);
    snprintf(tmp, sizeof(tmp), "%s/store.tmp", root);
    /* Store b, written and closed beforehand: versions 1..3 of "default". */
    rs_store *sb;
    rs_error err;
    ck_assert_int_eq(rs_store_open(b, RS_STORE_CREATE, 0, &sb, &err), 0);
    for (int k = 0; k < 3; k++) publish(sb, "default", 10.0f + k, 0);
    rs_store_close(sb);
    /* The replica opens the link, which names store a (version 1). */
    ck_assert_int_eq(rs_store_open(a, RS_STORE_CREATE, 0, &sb, &err), 0);
    publish(sb, "default", 1.0f, 0);
    rs_store_close(sb);
    ck_assert_int_eq(symlink("store.a", link), 0);
    fixture f;
    open_fixture(&f, link, 0, 0);
    ck_assert_uint_eq(serving(&f), 1);
    rs_loaded *held = rs_registry_acquire(f.reg, NULL, 0); /* a request in flight */

    /* Swap the link atomically, as deploy/ship-store.sh does. */
    ck_assert_int_eq(symlink("store.b", tmp), 0);
    ck_assert_int_eq(rename(tmp, link), 0);
    json_t *r = rs_watcher_reload(f.w, 10);
    json_decref(r);
    ck_assert_uint_eq(serving(&f), 3);
    char *text = render(f.w);
    ck_assert_ptr_nonnull(strstr(text, "recsys_store_swaps_total 1\n"));
    ck_assert_ptr_nonnull(strstr(text, "recsys_stores_open 2\n")); /* held keeps a open */
    free(text);
    /* The held version still reads from store a. */
    ck_assert(rs_model_item_matrix(held->model)[0] == 1.0f);
    ck_assert_uint_eq(held->version, 1);
    rs_loaded_release(held);
    r = rs_watcher_reload(f.w, 10);
    json_decref(r);
    text = render(f.w);
    ck_assert_ptr_nonnull(strstr(text, "recsys_stores_open 1\n"));
    free(text);

    /* A link to something that is not a store is refused; b keeps serving. */
    char junk[300];
    snprintf(junk, sizeof(junk), "%s/junk", root);
    ck_assert_int_eq(mkdir(junk, 0755), 0);
    ck_assert_int_eq(symlink("junk", tmp), 0);
    ck_assert_int_eq(rename(tmp, link), 0);
    r = rs_watcher_reload(f.w, 10);
    json_decref(r);
    ck_assert_uint_eq(serving(&f), 3);
    text = render(f.w);
    ck_assert_ptr_nonnull(strstr(text, "recsys_store_swap_failures_total 1\n"));
    free(text);
    close_fixture(&f);
    remove_root();
}
END_TEST

int main(void)
{
    rs_log_set_level((rs_log_level)(RS_LOG_ERROR + 1)); /* quiet: refusals are expected */
    Suite *s = suite_create("server_watcher");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_reload_refuse_and_poll);
    tcase_add_test(tc, test_pin_and_unpin);
    tcase_add_test(tc, test_swaps_under_readers);
    tcase_add_test(tc, test_store_swap_waits_for_readers);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
