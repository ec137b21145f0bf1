/* publish.c - a trained model into the LMDB store (see publish.h). */
#include "publish.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalog.h"
#include "midx.h"
#include "midx_store.h"
#include "model.h"
#include "pq.h"
#include "store.h"

#define SNAPSHOT_FORMAT_VERSION 1
#define RETRIEVAL_PREFIX        "retrieval.midx"
#define CATALOG_PREFIX          "items.catalog"
#define RETRIEVAL_SEED_STREAM   0x7265747269657661ULL

/* An id table as an array of C strings (views into the table). */
static char **id_strings(const rs_idtable *table, rs_error *err)
{
    uint32_t n = rs_idtable_count(table);
    char **names = rs_malloc(n, sizeof(char *), err);
    if (!names) return NULL;
    for (uint32_t i = 0; i < n; i++) names[i] = (char *)rs_idtable_name(table, i, NULL);
    return names;
}

static int publish_strings(rs_publish *pub, const char *name, const rs_idtable *table,
                           rs_error *err)
{
    char **names = id_strings(table, err);
    if (!names) return -1;
    int rc = rs_publish_strings(pub, name, names, rs_idtable_count(table), err);
    free(names);
    return rc;
}

/* Item ids and popularity, users' ids and known histories. */
static int publish_data(rs_publish *pub, const rs_dataset *d, rs_error *err)
{
    uint64_t n_items = d->known.n_cols, n_users = d->known.n_rows;
    uint64_t indptr_shape = n_users + 1, nnz = rs_csr_nnz(&d->known);
    if (publish_strings(pub, "items.ids", d->items, err) != 0) return -1;
    if (publish_strings(pub, "users.ids", d->users, err) != 0) return -1;
    if (rs_publish_tensor(pub, "items.popularity", RS_F32, 1, &n_items, d->popularity, err) != 0)
        return -1;
    if (rs_publish_tensor(pub, "users.history.indptr", RS_U64, 1, &indptr_shape, d->known.indptr,
                          err) != 0)
        return -1;
    if (rs_publish_tensor(pub, "users.history.indices", RS_U32, 1, &nnz, d->known.indices, err) !=
        0)
        return -1;
    if (!rs_publish_has_own_seen(d)) return 0;
    uint64_t seen_nnz = rs_csr_nnz(&d->seen);
    if (rs_publish_tensor(pub, "users.seen.indptr", RS_U64, 1, &indptr_shape, d->seen.indptr,
                          err) != 0)
        return -1;
    return rs_publish_tensor(pub, "users.seen.indices", RS_U32, 1, &seen_nnz, d->seen.indices, err);
}

int rs_publish_has_own_seen(const rs_dataset *d)
{
    const rs_csr *seen = &d->seen, *known = &d->known;
    if (!seen->indptr || seen->n_rows != known->n_rows) return 0;
    size_t rows = ((size_t)known->n_rows + 1) * sizeof(uint64_t);
    uint64_t nnz = rs_csr_nnz(known);
    return rs_csr_nnz(seen) != nnz || memcmp(seen->indptr, known->indptr, rows) != 0 ||
           memcmp(seen->indices, known->indices, nnz * sizeof(uint32_t)) != 0;
}

/* The manifest's "seen": which tensors hold what the users have seen (the
 * server's filter) and how many interactions. */
static json_t *seen_json(const rs_dataset *d)
{
    int own = rs_publish_has_own_seen(d);
    return json_pack("{s:s, s:I}", "tensors", own ? "users.seen" : "users.history",
                     "n_interactions", (json_int_t)rs_csr_nnz(own ? &d->seen : &d->known));
}

/* A fingerprint of the training data (FNV-1a over the known matrix), so a
 * manifest says which data a model came from. */
static uint64_t data_fingerprint(const rs_csr *m)
{
    uint64_t h = 1469598103934665603ULL;
    const unsigned char *p = (const unsigned char *)m->indptr;
    for (size_t i = 0; i < ((size_t)m->n_rows + 1) * sizeof(uint64_t); i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    p = (const unsigned char *)m->indices;
    for (size_t i = 0; i < rs_csr_nnz(m) * sizeof(uint32_t); i++) h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static json_t *base_manifest(const rs_dataset *d, json_t *training)
{
    char created[32], fingerprint[24];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(fingerprint, sizeof(fingerprint), "%016llx",
             (unsigned long long)data_fingerprint(&d->known));
    return json_pack("{s:i, s:s, s:I, s:I, s:I, s:s, s:O}", "format_version",
                     SNAPSHOT_FORMAT_VERSION, "created_at", created, "n_items",
                     (json_int_t)d->known.n_cols, "n_users", (json_int_t)d->known.n_rows,
                     "n_interactions", (json_int_t)rs_csr_nnz(&d->known), "data_fingerprint",
                     fingerprint, "training", training);
}

/* A factor model's one layer (core/model_factor.h). */
static json_t *foldin_layer(const rs_layer_spec *l, const rs_foldin_spec *f)
{
    json_t *layer =
        json_pack("{s:s, s:s, s:I, s:I, s:f, s:f, s:f, s:f}", "kind", l->kind, "weight", l->weight,
                  "in", (json_int_t)l->in, "out", (json_int_t)l->out, "unobserved_weight",
                  (double)f->unobserved_weight, "observed_weight", (double)f->observed_weight,
                  "reg", (double)f->reg, "reg_exponent", (double)f->reg_exponent);
    if (layer && f->users) json_object_set_new(layer, "users", json_string(f->users));
    return layer;
}

static json_t *manifest_layer(const rs_layer_spec *l, const rs_foldin_spec *foldin)
{
    if (foldin) return foldin_layer(l, foldin);
    json_t *layer =
        json_pack("{s:s, s:s, s:I, s:I, s:s}", "kind", l->kind, "weight", l->weight, "in",
                  (json_int_t)l->in, "out", (json_int_t)l->out, "activation", l->activation);
    if (layer && l->bias) json_object_set_new(layer, "bias", json_string(l->bias));
    return layer;
}

/* The serving MIDX index of the item matrix the server will rank with (row
 * i = vectors[i], then bias[i] when bias is not NULL; see
 * rs_item_matrix_with_bias) as tensors "retrieval.midx.*", with
 * rs_midx_serving_k(n) codewords, named in the manifest: "retrieval":
 * {"midx": {"prefix", "codewords", "n_items", "dim"}}. The server maps it
 * instead of building one at load. */
static int publish_retrieval_index(rs_publish *pub, json_t *manifest, const float *vectors,
                                   const float *bias, uint32_t n, uint32_t vector_dim,
                                   uint64_t seed, rs_error *err)
{
    uint32_t dim = vector_dim + (bias ? 1 : 0);
    if (n == 0 || dim < 2) return 0; /* MIDX needs two halves: brute force it is */
    float *owned = NULL;
    const float *items = vectors;
    if (bias && !(items = owned = rs_item_matrix_with_bias(vectors, bias, n, vector_dim, err)))
        return rs_error_prefix(err, "serving index");
    rs_pq pq;
    rs_pq_options po = rs_pq_defaults();
    po.k = rs_midx_serving_k(n);
    po.kmeans.seed = seed ^ RETRIEVAL_SEED_STREAM;
    int rc = rs_pq_build(items, n, dim, &po, &pq, err);
    if (rc == 0) {
        rc = rs_midx_publish(pub, RETRIEVAL_PREFIX, &pq, err);
        json_t *midx =
            json_pack("{s:s, s:I, s:I, s:I}", "prefix", RETRIEVAL_PREFIX, "codewords",
                      (json_int_t)pq.k, "n_items", (json_int_t)n, "dim", (json_int_t)dim);
        json_t *retrieval = midx ? json_pack("{s:o}", "midx", midx) : NULL;
        if (rc == 0 && !retrieval) rc = rs_fail(err, "out of memory building the manifest");
        if (rc == 0)
            json_object_set_new(manifest, "retrieval", retrieval);
        else
            json_decref(retrieval);
        rs_pq_free(&pq);
    }
    free(owned);
    return rc == 0 ? 0 : rs_error_prefix(err, "serving index");
}

/* "encoder" and "items" of the manifest from the model's description
 * (proto/model.md); NULL when out of memory. */
static json_t *encoder_json(const rs_servable *s)
{
    json_t *layers = json_array();
    for (int i = 0; layers && i < s->n_layers; i++)
        if (json_array_append_new(layers, manifest_layer(&s->layers[i], s->foldin)) != 0) {
            json_decref(layers);
            return NULL;
        }
    return layers ? json_pack("{s:s, s:o}", "input", s->input, "layers", layers) : NULL;
}

static json_t *items_json(const rs_servable *s, const rs_param *vectors, int has_anchors)
{
    json_t *items =
        json_pack("{s:s, s:I}", "vectors", s->vectors, "dim", (json_int_t)vectors->spec.cols);
    if (items && s->bias) json_object_set_new(items, "bias", json_string(s->bias));
    if (items && has_anchors) json_object_set_new(items, "anchors", json_string(s->anchors));
    return items;
}

static json_t *options_json(rs_train_model *model)
{
    json_t *options = model->options_json ? model->options_json(model->self) : json_object();
    if (options && model->pia) {
        json_object_set_new(options, "pia_lambda", json_real(model->pia->lambda_initial));
        json_object_set_new(options, "pia_lambda_final", json_real(model->pia->lambda));
    }
    return options;
}

/* A model that publishes itself (rs_train_model.publish): its tensors and
 * manifest part, then the family and options every manifest has. */
static int publish_own(rs_train_model *model, const rs_csr *known, rs_publish *pub,
                       json_t *manifest, rs_error *err)
{
    if (model->before_publish && model->before_publish(model->self, known, err) != 0) return -1;
    if (model->publish(model->self, pub, manifest, err) != 0) return -1;
    json_t *options = options_json(model);
    if (!options) return rs_fail(err, "out of memory building the manifest");
    json_object_set_new(manifest, "family", json_string(model->family));
    json_object_set_new(manifest, "model_options", options);
    return 0;
}

/* The model's tensors, its description in the manifest and ALWAYS the
 * serving index of its item matrix (unless the model publishes itself, an
 * item-item model: it has none): no family can forget one. */
static int publish_servable(rs_train_model *model, const rs_csr *known, rs_publish *pub,
                            json_t *manifest, rs_error *err)
{
    if (model->publish) return publish_own(model, known, pub, manifest, err);
    const rs_servable *s = &model->serve;
    const rs_params *p = model->params;
    if (!s->input || !p)
        return rs_fail(err, "the %s baseline has no encoder to publish", model->family);
    int iv = rs_params_find(p, s->vectors), ib = s->bias ? rs_params_find(p, s->bias) : -1;
    int has_anchors = s->anchors && rs_params_find(p, s->anchors) >= 0;
    if (iv < 0 || (s->bias && ib < 0))
        return rs_fail(err, "%s: the item matrix or bias is not in the tensor table",
                       model->family);
    if (model->before_publish && model->before_publish(model->self, known, err) != 0) return -1;
    if (rs_params_publish(p, pub, err) != 0) return -1;
    const rs_param *vectors = &p->t[iv];
    json_t *encoder = encoder_json(s), *items = items_json(s, vectors, has_anchors),
           *options = options_json(model);
    if (!encoder || !items || !options) {
        json_decref(encoder);
        json_decref(items);
        json_decref(options);
        return rs_fail(err, "out of memory building the manifest");
    }
    json_object_set_new(manifest, "family", json_string(model->family));
    json_object_set_new(manifest, "encoder", encoder);
    json_object_set_new(manifest, "items", items);
    json_object_set_new(manifest, "model_options", options);
    return publish_retrieval_index(pub, manifest, vectors->value, ib >= 0 ? p->t[ib].value : NULL,
                                   (uint32_t)vectors->spec.rows, (uint32_t)vectors->spec.cols,
                                   p->seed, err);
}

int rs_publish_gate_decide(const rs_publish_gate *g, uint64_t serving_version,
                           const char *serving_manifest, rs_gate_outcome *out)
{
    memset(out, 0, sizeof(*out));
    out->serving_version = serving_version;
    out->serving_value = NAN;
    out->passed = 1;
    if (!g) return 0;
    if (serving_manifest) {
        json_t *m = json_loads(serving_manifest, 0, NULL);
        json_t *v = json_object_get(
            json_object_get(json_object_get(m, "training"), "valid_metrics"), g->metric);
        if (json_is_number(v)) {
            out->serving_value = json_number_value(v);
            out->compared = 1;
        }
        json_decref(m);
    }
    if (serving_version == 0)
        out->passed = 1; /* a variant's first version: nothing serves yet */
    else if (isnan(g->value))
        out->passed = 0; /* nothing to compare: the new version is not trusted */
    else if (out->compared)
        out->passed = g->value >= out->serving_value - g->tolerance;
    return 0;
}

/* The manifest's "gate": the rule, both figures and the outcome. */
static json_t *gate_json(const rs_publish_gate *g, const rs_gate_outcome *o)
{
    json_t *obj = json_pack("{s:s, s:f, s:b, s:I}", "metric", g->metric, "tolerance", g->tolerance,
                            "passed", o->passed, "serving_version", (json_int_t)o->serving_version);
    if (!obj) return NULL;
    json_object_set_new(obj, "value", isnan(g->value) ? json_null() : json_real(g->value));
    json_object_set_new(obj, "serving_value",
                        o->compared ? json_real(o->serving_value) : json_null());
    return obj;
}

/* With a gate: the serving version's figure, read inside the publish's
 * transaction (no other publish can move `current` before the commit). */
static int apply_gate(rs_publish *pub, const rs_publish_gate *gate, json_t *manifest,
                      rs_gate_outcome *out, rs_error *err)
{
    uint64_t serving = 0;
    char *text = NULL;
    if (gate && rs_publish_current(pub, &serving, &text, err) != 0) return -1;
    rs_publish_gate_decide(gate, serving, text, out);
    free(text);
    if (gate) json_object_set_new(manifest, "gate", gate_json(gate, out));
    return 0;
}

/* The item catalogue (rectrain --items), named in the manifest's
 * "catalog" (proto/model.md). */
static int publish_catalog(rs_publish *pub, const rs_catalog *cat, json_t *manifest, rs_error *err)
{
    json_t *spec;
    if (rs_catalog_publish(pub, CATALOG_PREFIX, cat, &spec, err) != 0) return -1;
    json_object_set_new(manifest, "catalog", spec);
    return 0;
}

int rs_publish_model_with(const char *store_dir, const rs_publish_settings *settings,
                          const char *variant, rs_train_model *model, const rs_dataset *d,
                          json_t *training, rs_publish_result *result, rs_error *err)
{
    rs_store *store = NULL;
    rs_publish *pub = NULL;
    json_t *manifest = NULL;
    char *text = NULL;
    int rc = -1;
    memset(result, 0, sizeof(*result));
    if (rs_store_open(store_dir, RS_STORE_CREATE, settings->map_size, &store, err) != 0) goto done;
    if (rs_publish_begin(store, variant, &pub, &result->version, err) != 0) goto done;
    if (!(manifest = base_manifest(d, training))) {
        rs_fail(err, "out of memory building the manifest");
        goto done;
    }
    json_object_set_new(manifest, "variant", json_string(variant));
    json_object_set_new(manifest, "version", json_integer((json_int_t)result->version));
    json_object_set_new(manifest, "seen", seen_json(d));
    if (apply_gate(pub, settings->gate, manifest, &result->gate, err) != 0) goto done;
    if (publish_servable(model, &d->known, pub, manifest, err) != 0) goto done;
    if (publish_data(pub, d, err) != 0) goto done;
    if (d->catalog && publish_catalog(pub, d->catalog, manifest, err) != 0) goto done;
    if (!(text = json_dumps(manifest, JSON_INDENT(2) | JSON_SORT_KEYS))) {
        rs_fail(err, "out of memory serialising the manifest");
        goto done;
    }
    rs_publish *committing = pub;
    pub = NULL; /* commit frees it on success and on failure */
    result->moved = result->gate.passed;
    if (rs_publish_commit_as(committing, text, settings->keep_last, result->moved, err) != 0)
        goto done;
    rc = 0;
done:
    if (pub) rs_publish_abort(pub);
    if (rc != 0) rs_error_prefix(err, "publishing %s to %s", variant, store_dir);
    free(text);
    json_decref(manifest);
    if (store) rs_store_close(store);
    return rc;
}

int rs_publish_model(const char *store_dir, const char *variant, rs_train_model *model,
                     const rs_dataset *d, json_t *training, uint32_t keep_last, uint64_t *version,
                     rs_error *err)
{
    rs_publish_settings settings = {.keep_last = keep_last};
    rs_publish_result result;
    int rc = rs_publish_model_with(store_dir, &settings, variant, model, d, training, &result, err);
    if (version) *version = result.version;
    return rc;
}
