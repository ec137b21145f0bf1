/* factor_foldin.c - is a factor model's request-time fold-in right? For the
 * first N known users of a published factor model (iALS, GANMF), ranks the
 * items outside the user's stored history by brute force twice: from the
 * stored user factor (the server's known-user path) and from the fold-in of
 * the stored history (the path of any other history), and compares the two
 * top-K lists.
 *
 *   factor_foldin STORE VARIANT [USERS (1000)] [K (50)]
 *
 * Prints the mean overlap of the top-K lists, how many lists are identical
 * (same items, same order), the largest score difference at equal rank and
 * the largest relative difference between the two user vectors. For iALS
 * the two are the same solve (trainer/ials_family.c), so the lists must be
 * identical up to float rounding (the Gram is recomputed at load by the
 * same routine); for GANMF the fold-in is a ridge fit, not Sigma, and the
 * overlap measures how far apart they are.
 *
 * Measured (shared ml10m split, rectrain --model ials --factors 128 --reg
 * 0.01 --alpha0 0.1 --epochs 10 --threads 1): 1000/1000 identical top-50
 * lists; max relative user-vector difference 0 with OMP_NUM_THREADS=1 and
 * 1.65e-6 with 2 (the Gram at load summed in another order), max score
 * difference at equal rank 2.4e-7. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blas_kernel.h"
#include "model.h"
#include "store.h"
#include "topk.h"

static void rank(const rs_model *m, const float *u, const uint8_t *skip, uint32_t k, float *scores,
                 rs_scored *top, uint32_t *got)
{
    uint32_t M = rs_model_n_items(m), D = rs_model_dim(m);
    const float *items = rs_model_item_matrix(m);
    for (uint32_t i = 0; i < M; i++) {
        double s = 0;
        for (uint32_t j = 0; j < D; j++) s += (double)u[j] * items[(size_t)i * D + j];
        scores[i] = (float)s;
    }
    *got = rs_topk_dense(scores, M, skip, k, top);
}

int main(int argc, char **argv)
{
    rs_blas_kernel_ensure(argv);
    if (argc < 3) {
        fprintf(stderr, "usage: factor_foldin STORE VARIANT [USERS] [K]\n");
        return 2;
    }
    uint32_t n_users = argc > 3 ? (uint32_t)atoi(argv[3]) : 1000;
    uint32_t k = argc > 4 ? (uint32_t)atoi(argv[4]) : 50;
    rs_error err;
    rs_store *store;
    rs_snapshot *snap;
    rs_model *m;
    if (rs_store_open(argv[1], RS_STORE_READONLY, 0, &store, &err) != 0 ||
        rs_snapshot_open(store, argv[2], 0, 1, &snap, &err) != 0 ||
        rs_model_load(snap, &m, &err) != 0) {
        fprintf(stderr, "factor_foldin: %s\n", err.msg);
        return 1;
    }
    uint64_t n_ids;
    const uint64_t *offsets;
    const char *bytes;
    if (rs_snapshot_strings(snap, "users.ids", &n_ids, &offsets, &bytes, &err) != 0) {
        fprintf(stderr, "factor_foldin: %s\n", err.msg);
        return 1;
    }
    uint32_t M = rs_model_n_items(m), D = rs_model_dim(m);
    float *a = malloc(sizeof(float) * D), *b = malloc(sizeof(float) * D);
    float *scratch = malloc(sizeof(float) * rs_model_scratch_floats(m));
    float *scores = malloc(sizeof(float) * M);
    uint8_t *skip = calloc(M, 1);
    rs_scored *ta = malloc(sizeof(rs_scored) * k), *tb = malloc(sizeof(rs_scored) * k);
    if (!a || !b || !scratch || !scores || !skip || !ta || !tb) {
        fprintf(stderr, "factor_foldin: out of memory\n");
        return 1;
    }
    double overlap = 0, worst_score = 0, worst_vector = 0, seconds = 0;
    uint32_t identical = 0, done = 0;
    for (uint64_t u = 0; u < n_ids && done < n_users; u++) {
        const char *id = bytes + offsets[u];
        size_t len = offsets[u + 1] - offsets[u];
        const uint32_t *items;
        uint32_t n;
        if (rs_model_user_history(m, id, len, &items, &n) != 0 || n == 0) continue;
        double t0 = rs_now();
        int rc = rs_model_encode(m, items, n, b, scratch, &err);
        seconds += rs_now() - t0;
        if (rc != 0 || rs_model_encode_user(m, id, len, a, scratch, &err) != 0) {
            fprintf(stderr, "factor_foldin: user %.*s: %s\n", (int)len, id, err.msg);
            return 1;
        }
        double norm = 1e-30, diff = 0;
        for (uint32_t j = 0; j < D; j++) {
            norm = fmax(norm, fabs(a[j]));
            diff = fmax(diff, fabs((double)a[j] - b[j]));
        }
        worst_vector = fmax(worst_vector, diff / norm);
        for (uint32_t i = 0; i < n; i++) skip[items[i]] = 1;
        uint32_t ga, gb;
        rank(m, a, skip, k, scores, ta, &ga);
        rank(m, b, skip, k, scores, tb, &gb);
        for (uint32_t i = 0; i < n; i++) skip[items[i]] = 0;
        uint32_t common = 0, same = ga == gb;
        for (uint32_t i = 0; i < ga; i++) {
            for (uint32_t j = 0; j < gb; j++)
                if (ta[i].id == tb[j].id) common++;
            if (i < gb) {
                same &= ta[i].id == tb[i].id;
                worst_score = fmax(worst_score, fabs((double)ta[i].score - tb[i].score));
            }
        }
        overlap += ga ? (double)common / ga : 1.0;
        identical += same;
        done++;
    }
    printf("%s: %u users, top-%u, stored factor vs fold-in of the stored history:\n"
           "  mean overlap %.6f, identical lists %u/%u, max score difference at equal rank %.3g,\n"
           "  max relative user-vector difference %.3g, mean fold-in %.3f ms (K = %u)\n",
           rs_model_family(m), done, k, done ? overlap / done : 0.0, identical, done, worst_score,
           worst_vector, done ? 1e3 * seconds / done : 0.0, D);
    free(a), free(b), free(scratch), free(scores), free(skip), free(ta), free(tb);
    rs_model_free(m);
    rs_snapshot_close(snap);
    rs_store_close(store);
    return 0;
}
