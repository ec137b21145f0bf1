/* model.c - a servable model built from a snapshot's manifest and tensors
 * (see model.h and proto/snapshot.md).
 *
 * The manifest's "encoder" object drives a small interpreter: the history is
 * turned into a sparse row with value 1/sqrt(n) per distinct item (the L2
 * normalisation of a binary row, which is also FastVAE's sum / sqrt(count)),
 * then each layer runs in order:
 *   sparse_linear  y = x W + b, W one row per item (n_items x out)
 *   linear         y = x W + b, W (in x out)
 *   gaussian_mean  y = the first half of x (the mean of q(z|x))
 * each followed by its activation (tanh, relu or none). A factor model's
 * encoder is one "foldin" layer instead (core/model_factor.c: stored user
 * factors, and a least-squares fold-in of any other history). The last output is
 * the user vector; with an item bias it gets a trailing 1 and the item rows
 * a trailing bias, so scoring is one inner product.
 *
 * Footprint: weights and item vectors are views into the snapshot's map,
 * except an item matrix with bias, which is copied once (n_items x (d+1)
 * floats), and the id hash tables (about 2 x 16 bytes per id plus the ids).
 */
#include "model.h"

#include <cblas.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "idtable.h"
#include "layers.h"
#include "model_factor.h"

typedef enum { LAYER_SPARSE, LAYER_LINEAR, LAYER_GAUSSIAN_MEAN } layer_kind;
typedef enum { ACT_NONE, ACT_TANH, ACT_RELU } activation;

typedef struct layer {
    layer_kind kind;
    activation act;
    uint32_t in, out;
    const float *W, *b;
} layer;

#define MAX_LAYERS 8

struct rs_model {
    char family[32];
    uint32_t n_items, n_users, dim, vector_dim, widest;
    int has_bias;
    int n_layers;
    layer layers[MAX_LAYERS];
    const float *item_matrix; /* n_items x dim */
    float *owned_item_matrix; /* when the bias is folded in */
    const float *popularity;
    uint32_t *popular_order;
    rs_idtable *item_ids, *user_ids;
    const uint64_t *history_indptr;
    const uint32_t *history_indices;
    /* What each user has seen (users.seen, else the histories). */
    const uint64_t *seen_indptr;
    const uint32_t *seen_indices;
    int is_factor; /* a "foldin" encoder (model_factor.h) instead of layers */
    rs_factor_encoder factor;
    int is_itemitem; /* "kind": "item_item" (itemitem.h): no encoder, no item matrix */
    rs_itemitem itemitem;
};

static int parse_activation(const char *s, activation *out)
{
    if (!strcmp(s, "none"))
        *out = ACT_NONE;
    else if (!strcmp(s, "tanh"))
        *out = ACT_TANH;
    else if (!strcmp(s, "relu"))
        *out = ACT_RELU;
    else
        return -1;
    return 0;
}

/* A float tensor of the exact expected shape (rows x cols; cols 0 for 1-d). */
static int tensor_f32(const rs_snapshot *snap, const char *name, uint64_t rows, uint64_t cols,
                      const float **out, rs_error *err)
{
    rs_tensor_view view;
    if (rs_snapshot_tensor(snap, name, RS_F32, &view, err) != 0) return -1;
    uint32_t ndim = cols ? 2 : 1;
    if (view.ndim != ndim || view.shape[0] != rows || (cols && view.shape[1] != cols))
        return rs_fail(err, "tensor %s has shape [%llu%s%llu], expected [%llu%s%llu]", name,
                       (unsigned long long)view.shape[0], view.ndim > 1 ? ", " : "",
                       view.ndim > 1 ? (unsigned long long)view.shape[1] : 0ULL,
                       (unsigned long long)rows, cols ? ", " : "", (unsigned long long)cols);
    *out = view.data;
    return 0;
}

static int load_layer(rs_model *m, const rs_snapshot *snap, json_t *spec, int index,
                      uint32_t in_dim, rs_error *err)
{
    const char *kind = NULL, *weight = NULL, *bias = NULL, *act = "none";
    json_int_t in = 0, out = 0;
    json_error_t jerr;
    if (json_unpack_ex(spec, &jerr, 0, "{s:s, s?s, s?s, s:I, s:I, s?s}", "kind", &kind, "weight",
                       &weight, "bias", &bias, "in", &in, "out", &out, "activation", &act) != 0)
        return rs_fail(err, "manifest encoder layer %d: %s", index, jerr.text);
    layer *l = &m->layers[index];
    if (in <= 0 || out <= 0 || in > (1 << 24) || out > (1 << 24))
        return rs_fail(err, "manifest encoder layer %d: bad dimensions %lld -> %lld", index,
                       (long long)in, (long long)out);
    l->in = (uint32_t)in, l->out = (uint32_t)out;
    if (l->in != in_dim)
        return rs_fail(err, "manifest encoder layer %d: input %u, previous output %u", index, l->in,
                       in_dim);
    if (parse_activation(act, &l->act) != 0)
        return rs_fail(err, "manifest encoder layer %d: unknown activation '%s'", index, act);
    if (!strcmp(kind, "gaussian_mean")) {
        l->kind = LAYER_GAUSSIAN_MEAN;
        if (l->in != 2 * l->out)
            return rs_fail(err, "manifest encoder layer %d: gaussian_mean needs in = 2 x out",
                           index);
        return 0;
    }
    if (!strcmp(kind, "sparse_linear"))
        l->kind = LAYER_SPARSE;
    else if (!strcmp(kind, "linear"))
        l->kind = LAYER_LINEAR;
    else
        return rs_fail(err, "manifest encoder layer %d: unknown kind '%s'", index, kind);
    if (!weight) return rs_fail(err, "manifest encoder layer %d: no weight tensor", index);
    if (tensor_f32(snap, weight, l->in, l->out, &l->W, err) != 0) return -1;
    if (bias && tensor_f32(snap, bias, l->out, 0, &l->b, err) != 0) return -1;
    return 0;
}

/* A factor model: one "foldin" layer on the "binary" input. */
static int load_factor_encoder(rs_model *m, const rs_snapshot *snap, const char *input,
                               json_t *layers, rs_error *err)
{
    if (!input || strcmp(input, "binary") || json_array_size(layers) != 1)
        return rs_fail(err, "manifest foldin encoder: one layer on the \"binary\" input");
    if (rs_factor_encoder_load(&m->factor, snap, json_array_get(layers, 0), m->n_items, m->n_users,
                               err) != 0)
        return -1;
    m->is_factor = 1;
    m->vector_dim = m->factor.k;
    return 0;
}

static int load_encoder(rs_model *m, const rs_snapshot *snap, json_t *manifest, rs_error *err)
{
    json_t *encoder = json_object_get(manifest, "encoder");
    json_t *layers = encoder ? json_object_get(encoder, "layers") : NULL;
    if (!json_is_array(layers) || json_array_size(layers) == 0)
        return rs_fail(err, "manifest has no encoder layers");
    if (json_array_size(layers) > MAX_LAYERS)
        return rs_fail(err, "manifest encoder has %zu layers, at most %d supported",
                       json_array_size(layers), MAX_LAYERS);
    const char *input = json_string_value(json_object_get(encoder, "input"));
    const char *first = json_string_value(json_object_get(json_array_get(layers, 0), "kind"));
    if (first && !strcmp(first, "foldin")) return load_factor_encoder(m, snap, input, layers, err);
    if (!input || (strcmp(input, "l2") && strcmp(input, "sqrt_count")))
        return rs_fail(err, "manifest encoder input must be \"l2\" or \"sqrt_count\"");
    m->n_layers = (int)json_array_size(layers);
    uint32_t dim = m->n_items;
    for (int i = 0; i < m->n_layers; i++) {
        if (load_layer(m, snap, json_array_get(layers, (size_t)i), i, dim, err) != 0) return -1;
        if (i == 0 && m->layers[0].kind != LAYER_SPARSE)
            return rs_fail(err, "manifest encoder must start with a sparse_linear layer");
        if (i > 0 && m->layers[i].kind == LAYER_SPARSE)
            return rs_fail(err, "manifest encoder layer %d: sparse_linear only comes first", i);
        dim = m->layers[i].out;
        m->widest = RS_MAX(m->widest, RS_MAX(m->layers[i].in, m->layers[i].out));
    }
    m->vector_dim = dim;
    return 0;
}

float *rs_item_matrix_with_bias(const float *vectors, const float *bias, uint32_t n,
                                uint32_t vector_dim, rs_error *err)
{
    size_t dim = (size_t)vector_dim + 1;
    float *matrix = rs_aligned_alloc((size_t)n * dim, sizeof(float), err);
    if (!matrix) return NULL;
    for (uint32_t i = 0; i < n; i++) {
        memcpy(matrix + i * dim, vectors + (size_t)i * vector_dim, sizeof(float) * vector_dim);
        matrix[i * dim + vector_dim] = bias[i];
    }
    return matrix;
}

static int load_items(rs_model *m, const rs_snapshot *snap, json_t *manifest, rs_error *err)
{
    json_t *items = json_object_get(manifest, "items");
    const char *vectors = json_string_value(json_object_get(items, "vectors"));
    const char *bias_name = json_string_value(json_object_get(items, "bias"));
    if (!vectors) return rs_fail(err, "manifest has no items.vectors tensor name");
    const float *q, *bias = NULL;
    if (tensor_f32(snap, vectors, m->n_items, m->vector_dim, &q, err) != 0) return -1;
    if (bias_name && tensor_f32(snap, bias_name, m->n_items, 0, &bias, err) != 0) return -1;
    m->has_bias = bias != NULL;
    m->dim = m->vector_dim + (uint32_t)m->has_bias;
    if (!bias) {
        m->item_matrix = q;
        return 0;
    }
    float *matrix = rs_item_matrix_with_bias(q, bias, m->n_items, m->vector_dim, err);
    if (!matrix) return -1;
    m->owned_item_matrix = matrix;
    m->item_matrix = matrix;
    return 0;
}

static int load_id_table(const rs_snapshot *snap, const char *name, uint32_t expected,
                         rs_idtable **out, rs_error *err)
{
    uint64_t n;
    const uint64_t *offsets;
    const char *bytes;
    if (rs_snapshot_strings(snap, name, &n, &offsets, &bytes, err) != 0) return -1;
    if (n != expected)
        return rs_fail(err, "%s has %llu ids, manifest says %u", name, (unsigned long long)n,
                       expected);
    rs_idtable *t = rs_idtable_new(err);
    if (!t) return -1;
    for (uint64_t i = 0; i < n; i++) {
        uint32_t index;
        if (rs_idtable_intern(t, bytes + offsets[i], offsets[i + 1] - offsets[i], &index, err)) {
            rs_idtable_free(t);
            return -1;
        }
        if (index != i) {
            rs_idtable_free(t);
            return rs_fail(err, "%s: id %llu repeats an earlier id", name, (unsigned long long)i);
        }
    }
    *out = t;
    return 0;
}

/* A per-user CSR of item indices stored as PREFIX.indptr / PREFIX.indices
 * (users.history, users.seen): shapes, monotone row pointers, items in
 * range. */
static int load_user_rows(const rs_snapshot *snap, const char *prefix, const rs_model *m,
                          const uint64_t **indptr_out, const uint32_t **indices_out, rs_error *err)
{
    char name[RS_NAME_MAX + 1];
    rs_tensor_view indptr, indices;
    snprintf(name, sizeof(name), "%s.indptr", prefix);
    if (rs_snapshot_tensor(snap, name, RS_U64, &indptr, err) != 0) return -1;
    snprintf(name, sizeof(name), "%s.indices", prefix);
    if (rs_snapshot_tensor(snap, name, RS_U32, &indices, err) != 0) return -1;
    if (indptr.ndim != 1 || indptr.count != (uint64_t)m->n_users + 1 || indices.ndim != 1)
        return rs_fail(err, "%s tensors do not match %u users", prefix, m->n_users);
    const uint64_t *p = indptr.data;
    const uint32_t *ix = indices.data;
    if (p[0] != 0 || p[m->n_users] != indices.count)
        return rs_fail(err, "%s.indptr does not span %s.indices", prefix, prefix);
    for (uint32_t u = 0; u < m->n_users; u++)
        if (p[u + 1] < p[u]) return rs_fail(err, "%s.indptr decreases at user %u", prefix, u);
    for (uint64_t k = 0; k < indices.count; k++)
        if (ix[k] >= m->n_items)
            return rs_fail(err, "%s.indices[%llu] = %u is not an item", prefix,
                           (unsigned long long)k, ix[k]);
    *indptr_out = p;
    *indices_out = ix;
    return 0;
}

/* The known histories (encoded) and the seen-sets (filtered); a version
 * published before seen-sets existed has none, and its histories are
 * what the users are known to have seen. */
static int load_histories(rs_model *m, const rs_snapshot *snap, rs_error *err)
{
    if (load_user_rows(snap, "users.history", m, &m->history_indptr, &m->history_indices, err) != 0)
        return -1;
    if (!rs_snapshot_has(snap, "users.seen.indptr") &&
        !rs_snapshot_has(snap, "users.seen.indices")) {
        m->seen_indptr = m->history_indptr;
        m->seen_indices = m->history_indices;
        return 0;
    }
    return load_user_rows(snap, "users.seen", m, &m->seen_indptr, &m->seen_indices, err);
}

/* Descending popularity, ties by index (qsort_r context: the counts). */
static int by_popularity(const void *a, const void *b, void *context)
{
    const float *pop = context;
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    if (pop[i] != pop[j]) return pop[i] > pop[j] ? -1 : 1;
    return i < j ? -1 : (i > j);
}

static int load_popularity(rs_model *m, const rs_snapshot *snap, rs_error *err)
{
    if (tensor_f32(snap, "items.popularity", m->n_items, 0, &m->popularity, err) != 0) return -1;
    m->popular_order = rs_malloc(m->n_items, sizeof(uint32_t), err);
    if (!m->popular_order) return -1;
    for (uint32_t i = 0; i < m->n_items; i++) m->popular_order[i] = i;
    qsort_r(m->popular_order, m->n_items, sizeof(uint32_t), by_popularity, (void *)m->popularity);
    return 0;
}

static int read_counts(rs_model *m, json_t *manifest, rs_error *err)
{
    const char *family = json_string_value(json_object_get(manifest, "family"));
    json_t *items = json_object_get(manifest, "n_items"),
           *users = json_object_get(manifest, "n_users");
    if (!family || !json_is_integer(items) || !json_is_integer(users))
        return rs_fail(err, "manifest lacks family, n_items or n_users");
    json_int_t ni = json_integer_value(items), nu = json_integer_value(users);
    if (ni <= 0 || ni > (json_int_t)UINT32_MAX / 2 || nu < 0 || nu > (json_int_t)UINT32_MAX / 2)
        return rs_fail(err, "manifest item or user count out of range");
    snprintf(m->family, sizeof(m->family), "%s", family);
    m->n_items = (uint32_t)ni;
    m->n_users = (uint32_t)nu;
    return 0;
}

/* The model's representation: an item-item model's rows, else the encoder
 * and the item matrix. */
static int load_ranker(rs_model *m, const rs_snapshot *snap, json_t *manifest, rs_error *err)
{
    const char *kind = json_string_value(json_object_get(manifest, "kind"));
    if (kind && !strcmp(kind, "item_item")) {
        m->is_itemitem = 1;
        return rs_itemitem_load(&m->itemitem, snap, json_object_get(manifest, "item_item"),
                                m->n_items, err);
    }
    if (kind && strcmp(kind, "embedding"))
        return rs_fail_kind(err, RS_ERR_CORRUPT, "manifest: unknown model kind '%s'", kind);
    if (load_encoder(m, snap, manifest, err) != 0) return -1;
    return load_items(m, snap, manifest, err);
}

int rs_model_load(const rs_snapshot *snap, rs_model **out, rs_error *err)
{
    *out = NULL;
    json_error_t jerr;
    json_t *manifest = json_loads(rs_snapshot_manifest(snap), 0, &jerr);
    if (!manifest) return rs_fail(err, "manifest is not valid JSON: %s", jerr.text);
    rs_model *m = rs_calloc(1, sizeof(*m), err);
    int rc = -1;
    if (!m) goto done;
    if (read_counts(m, manifest, err) != 0 || load_ranker(m, snap, manifest, err) != 0 ||
        load_popularity(m, snap, err) != 0 ||
        load_id_table(snap, "items.ids", m->n_items, &m->item_ids, err) != 0 ||
        load_id_table(snap, "users.ids", m->n_users, &m->user_ids, err) != 0 ||
        load_histories(m, snap, err) != 0)
        goto done;
    *out = m;
    rc = 0;
done:
    if (rc != 0) {
        rs_model_free(m);
        rs_error_prefix(err, "%s version %llu", rs_snapshot_variant(snap),
                        (unsigned long long)rs_snapshot_version(snap));
    }
    json_decref(manifest);
    return rc;
}

void rs_model_free(rs_model *model)
{
    if (!model) return;
    rs_factor_encoder_free(&model->factor);
    free(model->owned_item_matrix);
    free(model->popular_order);
    rs_idtable_free(model->item_ids);
    rs_idtable_free(model->user_ids);
    free(model);
}

const char *rs_model_family(const rs_model *model)
{
    return model->family;
}

uint32_t rs_model_n_items(const rs_model *model)
{
    return model->n_items;
}

uint32_t rs_model_n_users(const rs_model *model)
{
    return model->n_users;
}

uint32_t rs_model_dim(const rs_model *model)
{
    return model->dim;
}

const float *rs_model_item_matrix(const rs_model *model)
{
    return model->item_matrix;
}

const rs_itemitem *rs_model_itemitem(const rs_model *model)
{
    return model->is_itemitem ? &model->itemitem : NULL;
}

size_t rs_model_scratch_floats(const rs_model *model)
{
    /* Two activation buffers of the widest layer, or the fold-in's. */
    if (model->is_factor) return rs_factor_encoder_scratch_floats(&model->factor) + 16;
    return 2 * (size_t)model->widest + 16;
}

static int compare_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : (x > y);
}

/* Runs the first (sparse) layer on the distinct items of the history. */
static void encode_input(const rs_model *m, const uint32_t *items, uint32_t n, float *y)
{
    const layer *l = &m->layers[0];
    if (l->b)
        memcpy(y, l->b, sizeof(float) * l->out);
    else
        memset(y, 0, sizeof(float) * l->out);
    if (n == 0) return;
    float value = 1.0f / sqrtf((float)n);
    for (uint32_t k = 0; k < n; k++) {
        const float *w = l->W + (size_t)items[k] * l->out;
        for (uint32_t j = 0; j < l->out; j++) y[j] += value * w[j];
    }
}

static void activate(activation act, float *y, uint32_t n)
{
    if (act == ACT_TANH)
        rs_tanh_forward(y, y, n);
    else if (act == ACT_RELU)
        rs_relu_forward(y, y, n);
}

int rs_model_encode(const rs_model *model, const uint32_t *items, uint32_t n, float *user_vector,
                    float *scratch, rs_error *err)
{
    const rs_model *m = model;
    if (m->is_itemitem)
        return rs_fail_kind(err, RS_ERR_INVALID, "an item-item model has no user vector");
    for (uint32_t k = 0; k < n; k++)
        if (items[k] >= m->n_items)
            return rs_fail(err, "item index %u out of range (%u items)", items[k], m->n_items);
    /* Duplicates count once: sort and deduplicate a copy when the caller's
     * list is not strictly increasing. */
    uint32_t *distinct = NULL, n_distinct = n;
    int sorted = 1;
    for (uint32_t k = 1; k < n && sorted; k++) sorted = items[k] > items[k - 1];
    if (!sorted) {
        distinct = rs_malloc(n, sizeof(uint32_t), err);
        if (!distinct) return -1;
        memcpy(distinct, items, sizeof(uint32_t) * n);
        qsort(distinct, n, sizeof(uint32_t), compare_u32);
        n_distinct = 0;
        for (uint32_t k = 0; k < n; k++)
            if (n_distinct == 0 || distinct[k] != distinct[n_distinct - 1])
                distinct[n_distinct++] = distinct[k];
        items = distinct;
    }
    if (m->is_factor) {
        int rc = rs_factor_encode(&m->factor, items, n_distinct, user_vector, scratch, err);
        free(distinct);
        if (rc == 0 && m->has_bias) user_vector[m->vector_dim] = 1.0f;
        return rc;
    }
    float *x = scratch, *y = scratch + m->widest;
    encode_input(m, items, n_distinct, x);
    activate(m->layers[0].act, x, m->layers[0].out);
    free(distinct);
    for (int i = 1; i < m->n_layers; i++) {
        const layer *l = &m->layers[i];
        if (l->kind == LAYER_GAUSSIAN_MEAN) {
            memcpy(y, x, sizeof(float) * l->out);
        } else {
            if (l->b)
                memcpy(y, l->b, sizeof(float) * l->out);
            else
                memset(y, 0, sizeof(float) * l->out);
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)l->in, (int)l->out, 1.0f, l->W, (int)l->out,
                        x, 1, 1.0f, y, 1);
        }
        activate(l->act, y, l->out);
        float *t = x;
        x = y, y = t;
    }
    memcpy(user_vector, x, sizeof(float) * m->vector_dim);
    if (m->has_bias) user_vector[m->vector_dim] = 1.0f;
    return 0;
}

int rs_model_item_index(const rs_model *model, const char *id, size_t len, uint32_t *index)
{
    return rs_idtable_find(model->item_ids, id, len, index);
}

const char *rs_model_item_id(const rs_model *model, uint32_t index, size_t *len)
{
    return rs_idtable_name(model->item_ids, index, len);
}

const float *rs_model_popularity(const rs_model *model)
{
    return model->popularity;
}

const uint32_t *rs_model_popular_order(const rs_model *model)
{
    return model->popular_order;
}

int rs_model_user_history(const rs_model *model, const char *id, size_t len, const uint32_t **items,
                          uint32_t *n)
{
    uint32_t u;
    if (rs_idtable_find(model->user_ids, id, len, &u) != 0) return -1;
    *items = model->history_indices + model->history_indptr[u];
    *n = (uint32_t)(model->history_indptr[u + 1] - model->history_indptr[u]);
    return 0;
}

int rs_model_user_seen(const rs_model *model, const char *id, size_t len, const uint32_t **items,
                       uint32_t *n)
{
    uint32_t u;
    if (rs_idtable_find(model->user_ids, id, len, &u) != 0) return -1;
    *items = model->seen_indices + model->seen_indptr[u];
    *n = (uint32_t)(model->seen_indptr[u + 1] - model->seen_indptr[u]);
    return 0;
}

int rs_model_encode_user(const rs_model *model, const char *id, size_t len, float *user_vector,
                         float *scratch, rs_error *err)
{
    uint32_t u;
    if (rs_idtable_find(model->user_ids, id, len, &u) != 0)
        return rs_fail_kind(err, RS_ERR_NOT_FOUND, "unknown user");
    if (model->is_itemitem)
        return rs_fail_kind(err, RS_ERR_INVALID, "an item-item model has no user vector");
    if (model->is_factor && model->factor.users) {
        if (rs_factor_user(&model->factor, u, user_vector, err) != 0) return -1;
        if (model->has_bias) user_vector[model->vector_dim] = 1.0f;
        return 0;
    }
    const uint64_t *p = model->history_indptr;
    return rs_model_encode(model, model->history_indices + p[u], (uint32_t)(p[u + 1] - p[u]),
                           user_vector, scratch, err);
}
