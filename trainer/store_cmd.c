/* store_cmd.c - rectrain's store commands (see store_cmd.h). */
#include "store_cmd.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "midx.h"
#include "midx_store.h"
#include "model.h"
#include "store.h"

enum { EXIT_OK = 0, EXIT_FAILED = 1, EXIT_USAGE = 2 };

static int usage(void)
{
    fprintf(stderr, "usage: rectrain store ls DIR [--json]\n"
                    "       rectrain store show DIR VARIANT [VERSION]\n"
                    "       rectrain store set-current DIR VARIANT VERSION\n"
                    "       rectrain store rm DIR VARIANT VERSION [--force]\n"
                    "       rectrain store verify DIR\n");
    return EXIT_USAGE;
}

static int failed(const char *cmd, const rs_error *err)
{
    fprintf(stderr, "rectrain store %s: %s\n", cmd, err->msg);
    return EXIT_FAILED;
}

/* A version number: decimal, >= 1. */
static int parse_version(const char *s, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v == 0) {
        fprintf(stderr, "rectrain store: expected a version number >= 1, got '%s'\n", s);
        return -1;
    }
    *out = v;
    return 0;
}

static int open_store(const char *cmd, const char *dir, int flags, rs_store **store)
{
    rs_error err;
    if (rs_store_open(dir, flags, 0, store, &err) == 0) return 0;
    failed(cmd, &err);
    return -1;
}

/* Opens a version as the server would (every checksum verified, the model
 * built, the serving index checked against the model's item matrix); 0
 * when it loads, else -1 and why. */
static int check_version(rs_store *store, const char *variant, uint64_t version, rs_error *err)
{
    rs_snapshot *snap;
    if (rs_snapshot_open(store, variant, version, 1, &snap, err) != 0) return -1;
    rs_model *model;
    int rc = rs_model_load(snap, &model, err);
    if (rc != 0) {
        rs_snapshot_close(snap);
        return -1;
    }
    json_t *manifest = json_loads(rs_snapshot_manifest(snap), 0, NULL);
    const char *prefix = json_string_value(
        json_object_get(json_object_get(json_object_get(manifest, "retrieval"), "midx"), "prefix"));
    if (prefix) {
        rs_midx idx;
        uint32_t n = rs_model_n_items(model), d = rs_model_dim(model);
        const float *items = rs_model_item_matrix(model);
        if (rs_midx_load(snap, prefix, 1, &idx, err) != 0) {
            rc = rs_error_prefix(err, "serving index \"%s\"", prefix);
        } else {
            if (idx.n != n || idx.d != d)
                rc = rs_fail(err,
                             "serving index \"%s\" covers %u items of dimension %u, the "
                             "model %u of %u",
                             prefix, idx.n, idx.d, n, d);
            for (uint32_t i = 0; rc == 0 && i < n; i++)
                if (memcmp(idx.vectors + (size_t)idx.pos[i] * d, items + (size_t)i * d,
                           sizeof(float) * d) != 0)
                    rc = rs_fail(err,
                                 "serving index \"%s\": item %u's row differs from the "
                                 "model's item matrix",
                                 prefix, i);
            rs_midx_release(&idx);
        }
    }
    json_decref(manifest);
    rs_model_free(model);
    rs_snapshot_close(snap);
    return rc;
}

/* ---- ls ---- */

static const char *manifest_str(json_t *m, const char *a, const char *b)
{
    json_t *v = json_object_get(m, a);
    return json_string_value(b ? json_object_get(v, b) : v);
}

/* "ndcg@50 0.3123" from training.selected_on and training.valid_metrics. */
static void headline(json_t *m, char *out, size_t size)
{
    json_t *training = json_object_get(m, "training");
    const char *metric = json_string_value(json_object_get(training, "selected_on"));
    json_t *v = metric ? json_object_get(json_object_get(training, "valid_metrics"), metric) : NULL;
    if (json_is_number(v))
        snprintf(out, size, "%s %.4f", metric, json_number_value(v));
    else
        snprintf(out, size, "-");
}

static void print_line(const rs_variant_info *var, const rs_version_info *ver)
{
    json_t *m = json_loads(ver->manifest_json, 0, NULL);
    const char *family = manifest_str(m, "family", NULL),
               *created = manifest_str(m, "created_at", NULL);
    json_t *items = json_object_get(m, "n_items");
    char valid[64], n_items[24] = "-";
    headline(m, valid, sizeof(valid));
    if (json_is_integer(items))
        snprintf(n_items, sizeof(n_items), "%lld", (long long)json_integer_value(items));
    json_t *gate = json_object_get(m, "gate");
    int refused = json_is_false(json_object_get(gate, "passed"));
    printf("%-16s %7llu %-3s %-10s %-20s %7s  %s%s\n", var->name, (unsigned long long)ver->version,
           ver->is_current ? "*" : "", family ? family : "?", created ? created : "?", n_items,
           valid, refused ? "  (gate refused)" : "");
    json_decref(m);
}

static json_t *listing_json(const char *dir, const rs_variant_info *vars, uint32_t n)
{
    json_t *variants = json_array();
    for (uint32_t i = 0; variants && i < n; i++) {
        json_t *versions = json_array();
        for (uint32_t j = 0; versions && j < vars[i].n_versions; j++) {
            const rs_version_info *v = &vars[i].versions[j];
            json_array_append_new(versions,
                                  json_pack("{s:I, s:b, s:o*}", "version", (json_int_t)v->version,
                                            "current", v->is_current, "manifest",
                                            json_loads(v->manifest_json, 0, NULL)));
        }
        json_array_append_new(variants, json_pack("{s:s, s:I, s:I, s:o*}", "name", vars[i].name,
                                                  "current", (json_int_t)vars[i].current, "next",
                                                  (json_int_t)vars[i].next, "versions", versions));
    }
    return variants ? json_pack("{s:s, s:o}", "store", dir, "variants", variants) : NULL;
}

static int cmd_ls(int argc, char **argv)
{
    int as_json = argc == 3 && !strcmp(argv[2], "--json");
    if (argc != 2 && !as_json) return usage();
    rs_store *store;
    if (open_store("ls", argv[1], RS_STORE_READONLY, &store) != 0) return EXIT_FAILED;
    rs_variant_info *vars;
    uint32_t n;
    rs_error err;
    if (rs_store_list(store, &vars, &n, &err) != 0) {
        rs_store_close(store);
        return failed("ls", &err);
    }
    int rc = EXIT_OK;
    if (as_json) {
        json_t *doc = listing_json(argv[1], vars, n);
        char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        if (text)
            printf("%s\n", text);
        else
            rc = EXIT_FAILED, fprintf(stderr, "rectrain store ls: out of memory\n");
        free(text);
        json_decref(doc);
    } else {
        uint32_t total = 0;
        for (uint32_t i = 0; i < n; i++) total += vars[i].n_versions;
        printf("store %s: %u variant%s, %u version%s (* current)\n", argv[1], n, n == 1 ? "" : "s",
               total, total == 1 ? "" : "s");
        printf("%-16s %7s %-3s %-10s %-20s %7s  %s\n", "VARIANT", "VERSION", "CUR", "FAMILY",
               "CREATED", "ITEMS", "VALIDATION");
        for (uint32_t i = 0; i < n; i++)
            for (uint32_t j = 0; j < vars[i].n_versions; j++)
                print_line(&vars[i], &vars[i].versions[j]);
    }
    rs_store_list_free(vars, n);
    rs_store_close(store);
    return rc;
}

/* ---- show ---- */

static int cmd_show(int argc, char **argv)
{
    if (argc != 3 && argc != 4) return usage();
    uint64_t version = 0;
    if (argc == 4 && parse_version(argv[3], &version) != 0) return EXIT_USAGE;
    rs_store *store;
    if (open_store("show", argv[1], RS_STORE_READONLY, &store) != 0) return EXIT_FAILED;
    rs_snapshot *snap;
    rs_error err;
    int rc = EXIT_OK;
    if (rs_snapshot_open(store, argv[2], version, 0, &snap, &err) != 0) {
        rc = failed("show", &err);
    } else {
        json_t *m = json_loads(rs_snapshot_manifest(snap), 0, NULL);
        char *text = m ? json_dumps(m, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        if (text)
            printf("%s\n", text);
        else
            rc = EXIT_FAILED, fprintf(stderr, "rectrain store show: out of memory\n");
        free(text);
        json_decref(m);
        rs_snapshot_close(snap);
    }
    rs_store_close(store);
    return rc;
}

/* ---- set-current, rm ---- */

static int cmd_set_current(int argc, char **argv)
{
    uint64_t version, before = 0;
    if (argc != 4) return usage();
    if (parse_version(argv[3], &version) != 0) return EXIT_USAGE;
    rs_store *store;
    if (open_store("set-current", argv[1], 0, &store) != 0) return EXIT_FAILED;
    rs_error err;
    int rc = EXIT_OK;
    /* A version servers would refuse is not made current: they would keep
     * serving the old one and report it refused. */
    if (rs_store_current(store, argv[2], &before, &err) != 0 ||
        check_version(store, argv[2], version, &err) != 0 ||
        rs_store_set_current(store, argv[2], version, &err) != 0)
        rc = failed("set-current", &err);
    else
        printf("variant %s: current version %llu (was %llu)\n", argv[2],
               (unsigned long long)version, (unsigned long long)before);
    rs_store_close(store);
    return rc;
}

static int cmd_rm(int argc, char **argv)
{
    int force = argc == 5 && !strcmp(argv[4], "--force");
    if (argc != 4 && !force) return usage();
    uint64_t version, current;
    if (parse_version(argv[3], &version) != 0) return EXIT_USAGE;
    rs_store *store;
    if (open_store("rm", argv[1], 0, &store) != 0) return EXIT_FAILED;
    rs_error err;
    int rc = EXIT_OK;
    if (rs_store_remove_version(store, argv[2], version, force, &current, &err) != 0)
        rc = failed("rm", &err);
    else
        printf("variant %s: removed version %llu; current version %llu\n", argv[2],
               (unsigned long long)version, (unsigned long long)current);
    rs_store_close(store);
    return rc;
}

/* ---- verify ---- */

static int cmd_verify(int argc, char **argv)
{
    if (argc != 2) return usage();
    rs_store *store;
    if (open_store("verify", argv[1], RS_STORE_READONLY, &store) != 0) return EXIT_FAILED;
    rs_error err;
    rs_variant_info *vars;
    uint32_t n, versions = 0, bad = 0;
    if (rs_store_check_invariants(store, &err) != 0 || rs_store_list(store, &vars, &n, &err) != 0) {
        rs_store_close(store);
        return failed("verify", &err);
    }
    for (uint32_t i = 0; i < n; i++)
        for (uint32_t j = 0; j < vars[i].n_versions; j++, versions++) {
            uint64_t v = vars[i].versions[j].version;
            if (check_version(store, vars[i].name, v, &err) == 0) {
                printf("%s %llu: ok\n", vars[i].name, (unsigned long long)v);
            } else {
                printf("%s %llu: FAILED: %s\n", vars[i].name, (unsigned long long)v, err.msg);
                bad++;
            }
        }
    rs_store_list_free(vars, n);
    rs_store_close(store);
    if (bad) {
        fprintf(stderr, "rectrain store verify: %u of %u versions are damaged (see FAILED)\n", bad,
                versions);
        return EXIT_FAILED;
    }
    printf("store %s: %u variant%s, %u version%s, every checksum and invariant holds\n", argv[1], n,
           n == 1 ? "" : "s", versions, versions == 1 ? "" : "s");
    return EXIT_OK;
}

int rs_store_command(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*run)(int argc, char **argv);
    } commands[] = {{"ls", cmd_ls},
                    {"show", cmd_show},
                    {"set-current", cmd_set_current},
                    {"rm", cmd_rm},
                    {"verify", cmd_verify}};
    if (argc < 3) return usage();
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "rectrain store: unknown command '%s'\n", argv[1]);
    return usage();
}
