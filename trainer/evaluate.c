/* evaluate.c - batched ranking evaluation (see evaluate.h). */
#include "evaluate.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topk.h"

/* Scores one user's row: masks the excluded items, ranks, measures. */
static void measure_row(float *scores, uint32_t n_items, const rs_csr *exclude,
                        const rs_csr *targets, uint32_t user, const rs_metric_set *set,
                        rs_scored *top, uint32_t *ranked, double *values)
{
    for (uint64_t p = exclude->indptr[user]; p < exclude->indptr[user + 1]; p++)
        scores[exclude->indices[p]] = -INFINITY;
    uint32_t k = rs_metric_set_max_k(set);
    uint32_t n = rs_topk_dense(scores, n_items, NULL, k, top);
    for (uint32_t i = 0; i < n; i++) ranked[i] = top[i].id;
    rs_metrics_user(set, ranked, n, targets->indices + targets->indptr[user],
                    rs_csr_row_len(targets, user), values);
}

int rs_evaluate(rs_train_model *model, const rs_csr *input, const rs_csr *exclude,
                const rs_csr *targets, const rs_metric_set *set, rs_eval_result *out, rs_error *err)
{
    memset(out, 0, sizeof(*out));
    uint32_t n_users = targets->n_rows, M = model->n_items, k = rs_metric_set_max_k(set);
    int B = model->batch_capacity;
    uint32_t *users = rs_malloc(n_users, sizeof(uint32_t), err);
    float *scores = rs_aligned_alloc((size_t)B * M, sizeof(float), err);
    double *values = rs_malloc((size_t)B * RS_METRICS_MAX_K, sizeof(double), err);
    rs_scored *top = rs_malloc((size_t)B * k, sizeof(rs_scored), err);
    uint32_t *ranked = rs_malloc((size_t)B * k, sizeof(uint32_t), err);
    int rc = -1;
    if (!users || !scores || !values || !top || !ranked) goto done;
    uint32_t n_eval = 0;
    for (uint32_t u = 0; u < n_users; u++)
        if (rs_csr_row_len(targets, u) > 0) users[n_eval++] = u;
    double sums[RS_METRICS_MAX_K] = {0}, squares[RS_METRICS_MAX_K] = {0};
    for (uint32_t start = 0; start < n_eval; start += (uint32_t)B) {
        int size = (int)RS_MIN((uint32_t)B, n_eval - start);
        if (model->score(model->self, input, users + start, size, scores, err) != 0) goto done;
#pragma omp parallel for schedule(dynamic, 8)
        for (int r = 0; r < size; r++)
            measure_row(scores + (size_t)r * M, M, exclude, targets, users[start + r], set,
                        top + (size_t)r * k, ranked + (size_t)r * k,
                        values + (size_t)r * RS_METRICS_MAX_K);
        /* Summed in user order, whatever the thread count. */
        for (int r = 0; r < size; r++)
            for (int i = 0; i < set->n; i++) {
                double v = values[(size_t)r * RS_METRICS_MAX_K + i];
                sums[i] += v;
                squares[i] += v * v;
            }
    }
    out->n_users = n_eval;
    for (int i = 0; i < set->n && n_eval > 0; i++) {
        double mean = sums[i] / n_eval, var = squares[i] / n_eval - mean * mean;
        out->values[i] = mean;
        out->std_error[i] = n_eval > 1 && var > 0 ? sqrt(var / (n_eval - 1)) : 0.0;
    }
    rc = 0;
done:
    free(users);
    free(scores);
    free(values);
    free(top);
    free(ranked);
    return rc;
}

static void write_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

int rs_write_rankings(rs_train_model *model, const rs_csr *input, const rs_csr *seen,
                      const rs_idtable *users, const rs_idtable *items, uint32_t n_users,
                      uint32_t k, const char *path, rs_error *err)
{
    uint32_t M = model->n_items, chosen[64];
    int batch = RS_MIN(64, model->batch_capacity); /* a model scores at most its capacity */
    float *scores = rs_aligned_alloc((size_t)batch * M, sizeof(float), err);
    rs_scored *top = rs_malloc(k, sizeof(rs_scored), err);
    FILE *f = NULL;
    int rc = -1;
    if (!scores || !top) goto done;
    if (!(f = fopen(path, "w"))) {
        rs_fail(err, "%s: cannot write: %s", path, strerror(errno));
        goto done;
    }
    uint32_t written = 0;
    for (uint32_t u = 0; u < input->n_rows && written < n_users;) {
        int size = 0;
        for (; u < input->n_rows && size < batch && written + (uint32_t)size < n_users; u++)
            if (rs_csr_row_len(input, u) > 0) chosen[size++] = u;
        if (size == 0) break;
        if (model->score(model->self, input, chosen, size, scores, err) != 0) goto done;
        for (int r = 0; r < size; r++) {
            float *row = scores + (size_t)r * M;
            for (uint64_t p = input->indptr[chosen[r]]; p < input->indptr[chosen[r] + 1]; p++)
                row[input->indices[p]] = -INFINITY;
            for (uint64_t p = seen ? seen->indptr[chosen[r]] : 0;
                 seen && p < seen->indptr[chosen[r] + 1]; p++)
                row[seen->indices[p]] = -INFINITY;
            uint32_t n = rs_topk_dense(row, M, NULL, k, top);
            fprintf(f, "{\"user\": ");
            write_json_string(f, rs_idtable_name(users, chosen[r], NULL));
            fprintf(f, ", \"items\": [");
            for (uint32_t i = 0; i < n; i++) {
                if (i) fputs(", ", f);
                write_json_string(f, rs_idtable_name(items, top[i].id, NULL));
            }
            fprintf(f, "], \"scores\": [");
            for (uint32_t i = 0; i < n; i++) fprintf(f, "%s%.9g", i ? ", " : "", top[i].score);
            fprintf(f, "]}\n");
        }
        written += (uint32_t)size;
    }
    rc = 0;
done:
    if (f && fclose(f) != 0 && rc == 0) rc = rs_fail(err, "%s: write failed", path);
    free(scores);
    free(top);
    return rc;
}

json_t *rs_eval_metrics_json(const rs_metric_set *set, const rs_eval_result *r)
{
    json_t *obj = json_object();
    char name[32];
    for (int i = 0; obj && i < set->n; i++) {
        rs_metric_name(set, i, name, sizeof(name));
        if (json_object_set_new(obj, name, json_real(r->values[i])) != 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}
