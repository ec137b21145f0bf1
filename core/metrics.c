/* metrics.c - Recall@K and NDCG@K of one ranked list (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rs_metric_set_default(rs_metric_set *set)
{
    memset(set, 0, sizeof(*set));
    rs_metric_set_find_or_add(set, "recall@20");
    rs_metric_set_find_or_add(set, "recall@50");
    rs_metric_set_find_or_add(set, "ndcg@50");
    rs_metric_set_find_or_add(set, "ndcg@100");
}

uint32_t rs_metric_set_max_k(const rs_metric_set *set)
{
    uint32_t k = 0;
    for (int i = 0; i < set->n; i++) k = set->k[i] > k ? set->k[i] : k;
    return k;
}

void rs_metric_name(const rs_metric_set *set, int i, char *buf, int size)
{
    snprintf(buf, (size_t)size, "%s@%u", set->is_ndcg[i] ? "ndcg" : "recall", set->k[i]);
}

int rs_metric_set_find_or_add(rs_metric_set *set, const char *name)
{
    int is_ndcg;
    const char *at;
    if (strncmp(name, "recall@", 7) == 0)
        is_ndcg = 0, at = name + 7;
    else if (strncmp(name, "ndcg@", 5) == 0)
        is_ndcg = 1, at = name + 5;
    else
        return -1;
    char *end;
    long k = strtol(at, &end, 10);
    if (*at == '\0' || *end != '\0' || k < 1 || k > 100000) return -1;
    for (int i = 0; i < set->n; i++)
        if (set->k[i] == (uint32_t)k && set->is_ndcg[i] == is_ndcg) return i;
    if (set->n == RS_METRICS_MAX_K) return -1;
    set->k[set->n] = (uint32_t)k;
    set->is_ndcg[set->n] = is_ndcg;
    return set->n++;
}

static int contains(const uint32_t *sorted, uint32_t n, uint32_t x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (sorted[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && sorted[lo] == x;
}

void rs_metrics_user(const rs_metric_set *set, const uint32_t *ranked, uint32_t n_ranked,
                     const uint32_t *targets, uint32_t n_targets, double *values)
{
    uint32_t max_k = rs_metric_set_max_k(set);
    uint32_t depth = n_ranked < max_k ? n_ranked : max_k;
    /* hits_upto[n] = hits among the first n; dcg_upto[n] likewise. */
    uint32_t hits = 0;
    double dcg = 0.0;
    uint32_t hits_at[RS_METRICS_MAX_K] = {0};
    double dcg_at[RS_METRICS_MAX_K] = {0};
    for (uint32_t n = 0; n < max_k; n++) {
        if (n < depth && contains(targets, n_targets, ranked[n])) {
            hits++;
            dcg += 1.0 / log2((double)n + 2.0);
        }
        for (int i = 0; i < set->n; i++)
            if (set->k[i] == n + 1) hits_at[i] = hits, dcg_at[i] = dcg;
    }
    for (int i = 0; i < set->n; i++) {
        uint32_t ideal = n_targets < set->k[i] ? n_targets : set->k[i];
        if (ideal == 0) {
            values[i] = 0.0;
            continue;
        }
        if (!set->is_ndcg[i]) {
            values[i] = (double)hits_at[i] / ideal;
        } else {
            double idcg = 0.0;
            for (uint32_t n = 0; n < ideal; n++) idcg += 1.0 / log2((double)n + 2.0);
            values[i] = dcg_at[i] / idcg;
        }
    }
}
