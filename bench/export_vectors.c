/* export_vectors.c - a trained model's item matrix and user vectors in the
 * retrieval benchmark's format, so bench_retrieval runs on real embeddings.
 *
 *   export_vectors STORE VARIANT OUT_DIR [--queries Q] [--history H] [--seed S]
 *
 * Writes OUT_DIR/items.f32 (the matrix the server ranks with, n x dim),
 * queries.f32 (Q user vectors, each the model's encoding of a history of H
 * items drawn from the most popular tenth of the catalogue, as bench/e2e.sh
 * sends) and meta.json. Encoder models only (not item-item).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "rng.h"
#include "store.h"

static int write_f32(const char *dir, const char *name, const float *v, size_t n)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(v, sizeof(float), n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "export_vectors: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s STORE VARIANT OUT_DIR [--queries Q] [--history H] [--seed S]\n",
                argv[0]);
        return 2;
    }
    uint32_t nq = 1000, hist = 20;
    uint64_t seed = 7;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--queries"))
            nq = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--history"))
            hist = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--seed"))
            seed = strtoull(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "export_vectors: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    rs_error err;
    rs_store *store = NULL;
    rs_snapshot *snap = NULL;
    rs_model *model = NULL;
    if (rs_store_open(argv[1], RS_STORE_READONLY, 0, &store, &err) != 0 ||
        rs_snapshot_open(store, argv[2], 0, 1, &snap, &err) != 0 ||
        rs_model_load(snap, &model, &err) != 0) {
        fprintf(stderr, "export_vectors: %s\n", err.msg);
        return 1;
    }
    const float *items = rs_model_item_matrix(model);
    uint32_t n = rs_model_n_items(model), d = rs_model_dim(model);
    if (!items || hist == 0 || nq == 0) {
        fprintf(stderr, "export_vectors: the model has no item matrix (an item-item model?)\n");
        return 1;
    }
    float *queries = malloc(sizeof(float) * (size_t)nq * d);
    float *scratch = malloc(sizeof(float) * rs_model_scratch_floats(model));
    uint32_t *h = malloc(sizeof(uint32_t) * hist);
    const uint32_t *popular = rs_model_popular_order(model);
    uint32_t pool = n / 10 > hist ? n / 10 : n;
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    for (uint32_t q = 0; q < nq; q++) {
        for (uint32_t j = 0; j < hist; j++) h[j] = popular[rs_rng_below(&rng, pool)];
        if (rs_model_encode(model, h, hist, queries + (size_t)q * d, scratch, &err) != 0) {
            fprintf(stderr, "export_vectors: %s\n", err.msg);
            return 1;
        }
    }
    int rc = write_f32(argv[3], "items.f32", items, (size_t)n * d) ||
             write_f32(argv[3], "queries.f32", queries, (size_t)nq * d);
    char path[4096];
    snprintf(path, sizeof(path), "%s/meta.json", argv[3]);
    FILE *f = rc ? NULL : fopen(path, "w");
    if (f) {
        fprintf(f,
                "{\"items\": %u, \"dim\": %u, \"queries\": %u, \"seed\": %llu, \"generator\": "
                "\"export_vectors %s\"}\n",
                n, d, nq, (unsigned long long)seed, argv[2]);
        rc = fclose(f) != 0;
    } else {
        rc = 1;
    }
    if (!rc)
        printf("export_vectors: %u items x %u and %u user vectors into %s\n", n, d, nq, argv[3]);
    free(h);
    free(scratch);
    free(queries);
    rs_model_free(model);
    rs_snapshot_close(snap);
    rs_store_close(store);
    return rc;
}
