/* ease_family.c - EASE (--model ease) on the family spine: the closed-form
 * item-item model of trainer/ease.h, published as a sparse item-item model
 * (proto/model.md, "Item-item models"; served by core/itemitem.h).
 *
 * Epoch mapping. EASE has no iterations: the epoch's first train_batch
 * fits B on batch->data (the whole training matrix; Gram, inverse) and
 * sparsifies its rows, later batches and later epochs do nothing, so one
 * epoch is all it needs (--epochs 1) and every evaluation sees the same
 * model. The fit's loss is reported as 0.
 *
 * What is evaluated is what is published. With --ease-topk K > 0 the
 * dense B is dropped after keeping K weights per row and score() is the
 * served ranking exactly: the sums of the history's kept rows for the
 * items they touch (summed in the same order as the server), then every
 * untouched item below all of them in popularity order (the server's
 * fill-up, server/recommend.h). With --ease-topk 0 the dense B is kept
 * and scored (rs_ease_score): the reference figures, not publishable.
 *
 * The memory guard (rs_ease_check_memory) runs at create time, so a
 * catalogue whose M x M matrices do not fit is refused before training
 * starts, with rs_ease_fit's message; --max-memory sets the bound.
 *
 *   items.neighbours.offsets  (n_items + 1, u64)  row i = [offsets[i], offsets[i+1])
 *   items.neighbours.columns  (n_items K, u32)    the kept items of each row
 *   items.neighbours.weights  (n_items K, f32)    B_ij of the kept items
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ease.h"
#include "family.h"
#include "itemitem.h"

#define NEIGHBOURS "items.neighbours"

typedef struct ease_options {
    float reg;
    uint32_t topk;
    rs_ease_keep keep;
    uint64_t max_memory_mib;
    int batch_size;
} ease_options;

typedef struct ease_family {
    ease_options opt;
    uint32_t n_items;
    int fitted;
    rs_ease dense;          /* kept only with --ease-topk 0 */
    rs_ease_sparse sparse;  /* the published rows (--ease-topk > 0) */
    uint32_t *popular_rank; /* item -> its place by descending popularity */
} ease_family;

static void ease_family_free(void *self)
{
    ease_family *m = self;
    rs_ease_free(&m->dense);
    rs_ease_sparse_free(&m->sparse);
    free(m->popular_rank);
    free(m);
}

static rs_ease_options fit_options(const ease_options *o)
{
    rs_ease_options f;
    rs_ease_options_default(&f);
    f.reg = o->reg;
    f.max_memory = o->max_memory_mib << 20;
    return f;
}

static int ease_train_batch(void *self, const rs_train_batch *batch, rs_step_stats *stats,
                            rs_error *err)
{
    ease_family *m = self;
    *stats = (rs_step_stats){0};
    if (m->fitted) return 0;
    if (batch->data->n_cols != m->n_items)
        return rs_fail(err, "EASE: training matrix has %u items, model %u", batch->data->n_cols,
                       m->n_items);
    rs_ease_options f = fit_options(&m->opt);
    if (rs_ease_fit(batch->data, &f, &m->dense, err) != 0) return -1;
    if (m->opt.topk > 0) {
        if (rs_ease_sparsify(&m->dense, m->opt.topk, m->opt.keep, &m->sparse, err) != 0) return -1;
        rs_ease_free(&m->dense); /* what is published is what is scored */
    }
    m->fitted = 1;
    return 0;
}

/* One history's served ranking as scores (see the top of the file). */
static void sparse_row_scores(const ease_family *m, const uint32_t *history, uint32_t n,
                              float *scores)
{
    const rs_ease_sparse *s = &m->sparse;
    uint32_t M = m->n_items;
    for (uint32_t j = 0; j < M; j++) scores[j] = -INFINITY; /* untouched */
    for (uint32_t h = 0; h < n; h++)
        for (uint64_t p = s->offsets[history[h]]; p < s->offsets[history[h] + 1]; p++) {
            float *cell = &scores[s->columns[p]];
            if (*cell == -INFINITY) *cell = 0.0f;
            *cell += s->weights[p];
        }
    float floor = 0.0f;
    for (uint32_t j = 0; j < M; j++)
        if (scores[j] != -INFINITY && scores[j] < floor) floor = scores[j];
    /* Untouched items: below every touched one, most popular first. */
    for (uint32_t j = 0; j < M; j++)
        if (scores[j] == -INFINITY) scores[j] = floor - 1.0f - (float)m->popular_rank[j];
}

static int ease_score(void *self, const rs_csr *input, const uint32_t *users, int size,
                      float *scores, rs_error *err)
{
    ease_family *m = self;
    if (!m->fitted) return rs_fail(err, "EASE: scored before the fit");
    uint32_t M = m->n_items;
#pragma omp parallel for schedule(dynamic, 4)
    for (int r = 0; r < size; r++) {
        uint32_t u = users ? users[r] : (uint32_t)r;
        const uint32_t *history = input->indices + input->indptr[u];
        uint32_t n = (uint32_t)(input->indptr[u + 1] - input->indptr[u]);
        float *row = scores + (size_t)r * M;
        if (m->opt.topk > 0)
            sparse_row_scores(m, history, n, row);
        else
            rs_ease_score(&m->dense, history, n, row);
    }
    return 0;
}

static int ease_publish(void *self, rs_publish *pub, json_t *manifest, rs_error *err)
{
    ease_family *m = self;
    if (m->opt.topk == 0)
        return rs_fail(err, "EASE with --ease-topk 0 (dense) is for evaluation only; publish "
                            "with --ease-topk K > 0 (the sparse item-item model)");
    if (!m->fitted) return rs_fail(err, "EASE: published before the fit");
    const rs_ease_sparse *s = &m->sparse;
    uint64_t n_offsets = (uint64_t)s->n_items + 1, n_entries = s->offsets[s->n_items];
    if (rs_publish_tensor(pub, NEIGHBOURS ".offsets", RS_U64, 1, &n_offsets, s->offsets, err) ||
        rs_publish_tensor(pub, NEIGHBOURS ".columns", RS_U32, 1, &n_entries, s->columns, err) ||
        rs_publish_tensor(pub, NEIGHBOURS ".weights", RS_F32, 1, &n_entries, s->weights, err))
        return -1;
    json_t *spec = json_pack("{s:s, s:I}", "prefix", NEIGHBOURS, "k", (json_int_t)s->k);
    if (!spec) return rs_fail(err, "out of memory building the manifest");
    json_object_set_new(manifest, "kind", json_string("item_item"));
    json_object_set_new(manifest, "item_item", spec);
    return 0;
}

static const char *keep_name(rs_ease_keep keep)
{
    return keep == RS_EASE_KEEP_MAGNITUDE ? "magnitude" : "largest";
}

static json_t *ease_options_json(const void *self)
{
    const ease_family *m = self;
    return json_pack("{s:f, s:I, s:s}", "reg", (double)m->opt.reg, "topk", (json_int_t)m->opt.topk,
                     "keep", keep_name(m->opt.keep));
}

/* The kept rows: k (column, weight) pairs per item and the offsets. */
static uint64_t ease_publish_bytes(const void *self)
{
    const ease_family *m = self;
    return (uint64_t)m->n_items * m->opt.topk * 8 + ((uint64_t)m->n_items + 1) * 8;
}

static size_t ease_footprint(const void *self)
{
    const ease_family *m = self;
    size_t M = m->n_items, kept = m->sparse.offsets ? m->sparse.offsets[M] : 0;
    return (m->dense.weights ? M * M * sizeof(float) : 0) + kept * 8 + (M + 1) * 8 +
           M * sizeof(uint32_t);
}

/* Descending popularity, ties by index (as the server's fill-up orders). */
static int by_popularity(const void *a, const void *b, void *context)
{
    const float *pop = context;
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    if (pop[i] != pop[j]) return pop[i] > pop[j] ? -1 : 1;
    return i < j ? -1 : (i > j);
}

static int popular_ranks(ease_family *m, const float *popularity, rs_error *err)
{
    uint32_t M = m->n_items, *order = rs_malloc(M, sizeof(uint32_t), err);
    if (!order || !(m->popular_rank = rs_malloc(M, sizeof(uint32_t), err))) {
        free(order);
        return -1;
    }
    for (uint32_t i = 0; i < M; i++) order[i] = i;
    qsort_r(order, M, sizeof(uint32_t), by_popularity, (void *)popularity);
    for (uint32_t r = 0; r < M; r++) m->popular_rank[order[r]] = r;
    free(order);
    return 0;
}

static int ease_create(const void *options, const rs_family_inputs *in, rs_train_model *out,
                       rs_error *err)
{
    const ease_options *o = options;
    rs_ease_options f = fit_options(o);
    if (rs_ease_check_memory(in->n_items, &f, err) != 0) return -1;
    ease_family *m = rs_calloc(1, sizeof(*m), err);
    if (!m) return -1;
    m->opt = *o;
    m->n_items = in->n_items;
    if (popular_ranks(m, in->popularity, err) != 0) {
        ease_family_free(m);
        return -1;
    }
    *out = (rs_train_model){
        .family = "ease",
        .self = m,
        .batch_capacity = o->batch_size,
        .n_items = m->n_items,
        .train_batch = ease_train_batch,
        .score = ease_score,
        .options_json = ease_options_json,
        .footprint = ease_footprint,
        .free = ease_family_free,
        .publish = ease_publish,
        .publish_bytes = ease_publish_bytes,
    };
    return 0;
}

static int parse_keep(const char *value, void *options)
{
    ease_options *o = options;
    if (!strcmp(value, "magnitude"))
        o->keep = RS_EASE_KEEP_MAGNITUDE;
    else if (!strcmp(value, "largest"))
        o->keep = RS_EASE_KEEP_LARGEST;
    else {
        fprintf(stderr, "rectrain: --ease-keep: expected magnitude or largest, not '%s'\n", value);
        return -1;
    }
    return 0;
}

static const rs_option ease_option_table[] = {
    RS_OPT_REAL_("reg", RS_OPT_FLOAT, ease_options, reg, "L", 1e-6, 1e9,
                 "regularisation lambda of B = argmin |X - XB|^2 + lambda |B|^2, diag(B) = 0",
                 "500"),
    RS_OPT_INT_("ease-topk", RS_OPT_U32, ease_options, topk, "K", 0, 1000000,
                "weights kept per item row: the published sparse item-item model, which is "
                "also what is evaluated (0: the dense B, evaluation only, not publishable)",
                "200"),
    {.name = "ease-keep",
     .type = RS_OPT_CUSTOM,
     .arg = "RULE",
     .parse = parse_keep,
     .def = "magnitude",
     .default_text = "magnitude",
     .help = "which weights a row keeps: magnitude (largest |B_ij|, the negative weights that "
             "demote items too) | largest (largest B_ij)"},
    RS_OPT_INT_("max-memory", RS_OPT_U64, ease_options, max_memory_mib, "MIB", 0, 1L << 40,
                "refuse catalogues whose fit (M x M matrices) needs more than MIB MiB "
                "(0: the available memory)",
                "0"),
    RS_OPT_BATCH(ease_options, batch_size, "256"),
};

static void ease_default(void *options)
{
    rs_options_default(RS_FAMILY_OPTIONS(ease_option_table), options);
}

static const char *ease_unpublishable(const void *options)
{
    const ease_options *o = options;
    return o->topk == 0 ? "EASE with --ease-topk 0 (dense) is for evaluation only; publish with "
                          "--ease-topk K > 0 (the sparse item-item model)"
                        : NULL;
}

const rs_family rs_family_ease = {
    "ease",
    "EASE (Steck 2019), closed form, served as a sparse item-item model",
    "EASE (--model ease; one epoch fits; --batch: users per scoring batch)",
    sizeof(ease_options),
    ease_default,
    RS_FAMILY_OPTIONS(ease_option_table),
    ease_create,
    ease_unpublishable,
};
