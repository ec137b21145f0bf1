/* store_tool.c - a small driver of the snapshot store for integration tests.
 *
 *   store_tool publish DIR VARIANT N_TENSORS [KEEP_LAST]
 *       publishes a version of N deterministic f32 tensors (content derived
 *       from the version number) and prints "published VARIANT version V"
 *   store_tool check DIR VARIANT
 *       opens the current version with checksum verification, regenerates
 *       every tensor and compares bit by bit; prints "current V ok"
 *   store_tool hold DIR VARIANT READY_FILE
 *       opens the current version, creates READY_FILE and sleeps (a reader
 *       for tests to kill)
 *   store_tool list DIR
 *   store_tool crcbench [MB]
 *       CRC-32C throughput, accelerated and portable, over MB megabytes
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rng.h"
#include "store.h"

static uint64_t tensor_rows(uint64_t i)
{
    return 1 + (i * 997) % 5000; /* 64 bytes .. 320 KB: leaf and overflow pages */
}

static float *make_tensor(uint64_t version, uint64_t i, uint64_t *rows)
{
    *rows = tensor_rows(i);
    float *x = malloc(*rows * 16 * sizeof(float));
    if (!x) return NULL;
    rs_rng rng;
    rs_rng_seed(&rng, version * 1000003 + i);
    for (uint64_t j = 0; j < *rows * 16; j++) x[j] = rs_rng_uniform_f(&rng) - 0.5f;
    return x;
}

static int cmd_publish(const char *dir, const char *variant, uint64_t n, uint32_t keep)
{
    rs_error err;
    rs_store *s;
    if (rs_store_open(dir, RS_STORE_CREATE, 0, &s, &err) != 0) {
        fprintf(stderr, "store_tool: %s\n", err.msg);
        return 1;
    }
    rs_publish *pub;
    uint64_t version;
    if (rs_publish_begin(s, variant, &pub, &version, &err) != 0) {
        fprintf(stderr, "store_tool: %s\n", err.msg);
        rs_store_close(s);
        return 1;
    }
    for (uint64_t i = 0; i < n; i++) {
        uint64_t shape[2] = {0, 16};
        float *x = make_tensor(version, i, &shape[0]);
        char name[32];
        snprintf(name, sizeof(name), "t%llu", (unsigned long long)i);
        int rc = x ? rs_publish_tensor(pub, name, RS_F32, 2, shape, x, &err)
                   : rs_fail(&err, "out of memory");
        free(x);
        if (rc != 0) {
            fprintf(stderr, "store_tool: %s\n", err.msg);
            rs_publish_abort(pub);
            rs_store_close(s);
            return 1;
        }
    }
    char manifest[128];
    snprintf(manifest, sizeof(manifest), "{\"tool\": \"store_tool\", \"tensors\": %llu}",
             (unsigned long long)n);
    if (rs_publish_commit(pub, manifest, keep, &err) != 0) {
        fprintf(stderr, "store_tool: %s\n", err.msg);
        rs_store_close(s);
        return 1;
    }
    printf("published %s version %llu\n", variant, (unsigned long long)version);
    rs_store_close(s);
    return 0;
}

static int check_snapshot(const rs_snapshot *snap, rs_error *err)
{
    json_error_t jerr;
    json_t *m = json_loads(rs_snapshot_manifest(snap), 0, &jerr);
    json_t *jn = json_object_get(m, "tensors");
    if (!json_is_integer(jn)) {
        json_decref(m);
        return rs_fail(err, "manifest has no \"tensors\" count");
    }
    uint64_t n = (uint64_t)json_integer_value(jn);
    json_decref(m);
    uint64_t version = rs_snapshot_version(snap);
    for (uint64_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "t%llu", (unsigned long long)i);
        rs_tensor_view v;
        if (rs_snapshot_tensor(snap, name, RS_F32, &v, err) != 0) return -1;
        uint64_t rows;
        float *x = make_tensor(version, i, &rows);
        if (!x) return rs_fail(err, "out of memory");
        int same = v.ndim == 2 && v.shape[0] == rows && v.shape[1] == 16 &&
                   memcmp(v.data, x, rows * 16 * sizeof(float)) == 0;
        free(x);
        if (!same) return rs_fail(err, "tensor %s differs from what was published", name);
    }
    return rs_snapshot_verify(snap, err);
}

static int cmd_check(const char *dir, const char *variant)
{
    rs_error err;
    rs_store *s;
    rs_snapshot *snap = NULL;
    if (rs_store_open(dir, RS_STORE_READONLY, 0, &s, &err) != 0) {
        fprintf(stderr, "store_tool: %s\n", err.msg);
        return 1;
    }
    int rc = rs_snapshot_open(s, variant, 0, 1, &snap, &err);
    if (rc == 0) rc = check_snapshot(snap, &err);
    if (rc == 0)
        printf("current %llu ok\n", (unsigned long long)rs_snapshot_version(snap));
    else
        fprintf(stderr, "store_tool: %s\n", err.msg);
    rs_snapshot_close(snap);
    rs_store_close(s);
    return rc ? 1 : 0;
}

static int cmd_hold(const char *dir, const char *variant, const char *ready)
{
    rs_error err;
    rs_store *s;
    rs_snapshot *snap;
    if (rs_store_open(dir, RS_STORE_READONLY, 0, &s, &err) != 0 ||
        rs_snapshot_open(s, variant, 0, 1, &snap, &err) != 0) {
        fprintf(stderr, "store_tool: %s\n", err.msg);
        return 1;
    }
    FILE *f = fopen(ready, "w");
    if (f) fclose(f);
    for (;;) sleep(1);
}

static int cmd_list(const char *dir)
{
    rs_error err;
    rs_store *s;
    rs_variant_info *list;
    uint32_t n;
    if (rs_store_open(dir, RS_STORE_READONLY, 0, &s, &err) != 0 ||
        rs_store_list(s, &list, &n, &err) != 0) {
        fprintf(stderr, "store_tool: %s\n", err.msg);
        return 1;
    }
    for (uint32_t i = 0; i < n; i++) {
        printf("%s current %llu:", list[i].name, (unsigned long long)list[i].current);
        for (uint32_t j = 0; j < list[i].n_versions; j++)
            printf(" %llu", (unsigned long long)list[i].versions[j].version);
        printf("\n");
    }
    rs_store_list_free(list, n);
    rs_store_close(s);
    return 0;
}

static double best_seconds(uint32_t (*crc)(uint32_t, const void *, size_t), const void *buf,
                           size_t n, int reps, uint32_t *out)
{
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = rs_now();
        *out = crc(0, buf, n);
        double dt = rs_now() - t0;
        if (dt < best) best = dt;
    }
    return best;
}

static int cmd_crcbench(size_t mb)
{
    size_t n = mb << 20;
    uint8_t *buf = malloc(n);
    if (!buf) return 1;
    rs_rng rng;
    rs_rng_seed(&rng, 1);
    for (size_t i = 0; i + 8 <= n; i += 8) {
        uint64_t w = rs_rng_u64(&rng);
        memcpy(buf + i, &w, 8);
    }
    uint32_t a, b;
    double fast = best_seconds(rs_crc32c, buf, n, 5, &a);
    double slow = best_seconds(rs_crc32c_portable, buf, n, 2, &b);
    printf("crc32c over %zu MiB: accelerated %.3f s (%.0f MB/s), portable %.3f s (%.0f MB/s), %s\n",
           mb, fast, (double)n / fast / 1e6, slow, (double)n / slow / 1e6,
           a == b ? "results agree" : "RESULTS DIFFER");
    free(buf);
    return a == b ? 0 : 1;
}

static int usage(void)
{
    fprintf(stderr, "usage: store_tool publish DIR VARIANT N_TENSORS [KEEP_LAST]\n"
                    "       store_tool check DIR VARIANT\n"
                    "       store_tool hold DIR VARIANT READY_FILE\n"
                    "       store_tool list DIR\n"
                    "       store_tool crcbench [MB]\n");
    return 2;
}

int main(int argc, char **argv)
{
    if (argc < 2) return usage();
    const char *cmd = argv[1];
    if (strcmp(cmd, "publish") == 0 && (argc == 5 || argc == 6))
        return cmd_publish(argv[2], argv[3], strtoull(argv[4], NULL, 10),
                           argc == 6 ? (uint32_t)strtoul(argv[5], NULL, 10) : 0);
    if (strcmp(cmd, "check") == 0 && argc == 4) return cmd_check(argv[2], argv[3]);
    if (strcmp(cmd, "hold") == 0 && argc == 5) return cmd_hold(argv[2], argv[3], argv[4]);
    if (strcmp(cmd, "list") == 0 && argc == 3) return cmd_list(argv[2]);
    if (strcmp(cmd, "crcbench") == 0 && argc <= 3)
        return cmd_crcbench(argc == 3 ? strtoull(argv[2], NULL, 10) : 256);
    return usage();
}
