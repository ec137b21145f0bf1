/* metrics.h - ranking quality of one user's top-K list against held-out
 * items, as defined in the project's notes (Mult-VAE definitions):
 *
 *   Recall@K = |top-K ∩ T| / min(K, |T|)
 *   NDCG@K   = DCG@K / IDCG@K,  DCG@K = sum_{n<=K} 1[r_n in T] / log2(n + 1),
 *              IDCG@K = sum_{n<=min(K,|T|)} 1 / log2(n + 1)
 *
 * Users with no held-out items are not scored (the caller skips them).
 */
#ifndef RS_METRICS_H
#define RS_METRICS_H

#include <stdint.h>

#define RS_METRICS_MAX_K 8

/* The cut-offs the project reports everywhere. */
typedef struct rs_metric_set {
    int n;
    uint32_t k[RS_METRICS_MAX_K];
    int is_ndcg[RS_METRICS_MAX_K]; /* 0: recall, 1: ndcg */
} rs_metric_set;

/* recall@20, recall@50, ndcg@50, ndcg@100 */
void rs_metric_set_default(rs_metric_set *set);
/* Largest K in the set: the length of ranked list needed. */
uint32_t rs_metric_set_max_k(const rs_metric_set *set);
/* "recall@20" etc. into buf. */
void rs_metric_name(const rs_metric_set *set, int i, char *buf, int size);
/* Parses "recall@K" or "ndcg@K"; returns index of it in set, adding it if
 * needed; -1 when malformed or the set is full. */
int rs_metric_set_find_or_add(rs_metric_set *set, const char *name);

/* Scores one ranked list. targets must be sorted ascending and unique.
 * values[i] receives metric i of the set. */
void rs_metrics_user(const rs_metric_set *set, const uint32_t *ranked, uint32_t n_ranked,
                     const uint32_t *targets, uint32_t n_targets, double *values);

#endif
