/* recommend.c - history mapping, exclusions, retrieval (or an item-item
 * model's row sums), the popularity fallback and similar items for one
 * request (see recommend.h). */
#include "recommend.h"

#include <cblas.h>
#include <math.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- per-thread scratch ---- */

typedef struct scratch {
    float *uvec, *enc, *scores;
    size_t uvec_cap, enc_cap, scores_cap;
    uint8_t *mask; /* n_items flags, all zero between requests */
    size_t mask_cap;
    uint32_t *items, *touched; /* history indices; mask entries to clear */
    size_t items_cap, touched_cap;
    rs_scored *top;
    size_t top_cap;
    uint32_t *unknown, *seen; /* unknown ids' positions; their hash set */
    size_t unknown_cap, seen_cap, seen_slots;
    rs_retrieve_scratch *retrieve;
    /* Item-item models: the row sums (all 0 between requests), their touch
     * marks (all clear) and the touched items, n_items each. */
    float *sums;
    uint8_t *sum_marks;
    uint32_t *candidates;
    size_t sums_cap;
    rs_scored *reasons; /* explain: RS_EXPLAIN_REASONS per returned item */
    size_t reasons_cap;
    /* A filter's result and its scratch: bitmaps of n_items bits. */
    uint64_t *allow, *allow_tmp;
    size_t allow_cap; /* words */
} scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;
static _Thread_local scratch *tl_scratch;

static void scratch_free(void *p)
{
    scratch *s = p;
    if (!s) return;
    free(s->uvec);
    free(s->enc);
    free(s->scores);
    free(s->mask);
    free(s->items);
    free(s->touched);
    free(s->top);
    free(s->unknown);
    free(s->seen);
    rs_retrieve_scratch_free(s->retrieve);
    free(s->sums);
    free(s->sum_marks);
    free(s->candidates);
    free(s->allow);
    free(s->allow_tmp);
    free(s->reasons);
    free(s);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

static scratch *my_scratch(rs_error *err)
{
    if (tl_scratch) return tl_scratch;
        /* First request on this pool thread. OpenMP builds of OpenBLAS size
         * each call's thread team from the calling thread's OpenMP setting,
         * which a thread not created by OpenMP inherits from the environment
         * (all cores): without this, every request's sgemv would fork a team and
         * concurrent requests would spin against each other (measured: 33 vs
         * 1,675 requests/s). Parallelism comes from concurrent requests. */
#ifdef _OPENMP
    omp_set_num_threads(1);
#endif
    pthread_once(&scratch_once, scratch_key_init);
    scratch *s = rs_calloc(1, sizeof(*s), err);
    if (!s) return NULL;
    pthread_setspecific(scratch_key, s); /* freed at thread exit */
    tl_scratch = s;
    return s;
}

/* Grows *p to hold need elements of size elem (contents not kept). */
static int reserve(void **p, size_t *cap, size_t need, size_t elem, rs_error *err)
{
    if (need <= *cap) return 0;
    size_t n = need < 64 ? 64 : need;
    void *q = rs_malloc(n, elem, err);
    if (!q) return -1;
    free(*p);
    *p = q;
    *cap = n;
    return 0;
}

static int reserve_mask(scratch *s, size_t n, rs_error *err)
{
    if (n <= s->mask_cap) return 0;
    uint8_t *m = rs_calloc(n, 1, err);
    if (!m) return -1;
    free(s->mask);
    s->mask = m;
    s->mask_cap = n;
    return 0;
}

/* The item-item scratch for n items, zeroed when it grows. */
static int reserve_sums(scratch *s, size_t n, rs_error *err)
{
    if (n <= s->sums_cap) return 0;
    float *sums = rs_calloc(n, sizeof(float), err);
    uint8_t *marks = sums ? rs_calloc(n, 1, err) : NULL;
    uint32_t *candidates = marks ? rs_malloc(n, sizeof(uint32_t), err) : NULL;
    if (!candidates) {
        free(sums);
        free(marks);
        return -1;
    }
    free(s->sums);
    free(s->sum_marks);
    free(s->candidates);
    s->sums = sums, s->sum_marks = marks, s->candidates = candidates;
    s->sums_cap = n;
    return 0;
}

/* Marks index in the mask; remembers it for clearing. Returns 1 when it was
 * not marked before. */
static inline int mark(scratch *s, uint32_t index, uint32_t *n_touched)
{
    if (s->mask[index]) return 0;
    s->mask[index] = 1;
    s->touched[(*n_touched)++] = index;
    return 1;
}

static void clear_marks(scratch *s, uint32_t n_touched)
{
    for (uint32_t i = 0; i < n_touched; i++) s->mask[s->touched[i]] = 0;
}

/* ---- unknown history ids, each once ---- */

static uint64_t id_hash(const rs_id *id)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < id->len; i++) h = (h ^ (unsigned char)id->ptr[i]) * 1099511628211ull;
    return h;
}

/* Records history[pos] as unknown unless an equal id was recorded before.
 * The hash set (positions + 1, 0 = empty) is made at the first unknown id,
 * with room for every history id, so it never fills. */
static int note_unknown(scratch *s, const rs_reco_query *q, uint32_t pos, uint32_t *n_unknown,
                        rs_error *err)
{
    if (*n_unknown == 0) {
        size_t slots = 64;
        while (slots < 2 * (size_t)q->n_history) slots *= 2;
        if (reserve((void **)&s->seen, &s->seen_cap, slots, sizeof(uint32_t), err) != 0 ||
            reserve((void **)&s->unknown, &s->unknown_cap, q->n_history, sizeof(uint32_t), err) !=
                0)
            return -1;
        memset(s->seen, 0, slots * sizeof(uint32_t));
        s->seen_slots = slots;
    }
    const rs_id *id = &q->history[pos];
    size_t slot_mask = s->seen_slots - 1; /* a power of two */
    for (size_t h = id_hash(id) & slot_mask;; h = (h + 1) & slot_mask) {
        uint32_t at = s->seen[h];
        if (at == 0) {
            s->seen[h] = pos + 1;
            s->unknown[(*n_unknown)++] = pos;
            return 0;
        }
        const rs_id *other = &q->history[at - 1];
        if (other->len == id->len && memcmp(other->ptr, id->ptr, id->len) == 0) return 0;
    }
}

/* ---- filters ---- */

/* Item indices of the ids the model knows. */
static uint32_t resolve_items(const rs_model *model, const rs_id *ids, uint32_t n, uint32_t *out)
{
    uint32_t got = 0, n_items = rs_model_n_items(model);
    for (uint32_t i = 0; i < n; i++) {
        uint32_t idx;
        if (rs_model_item_index(model, ids[i].ptr, ids[i].len, &idx) == 0 && idx < n_items)
            out[got++] = idx;
    }
    return got;
}

/* Category indices of the names the catalogue knows; *unknown counts the
 * others. */
static uint32_t resolve_categories(const rs_catalog *cat, const rs_id *names, uint32_t n,
                                   uint32_t *out, uint32_t *unknown)
{
    uint32_t got = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t c;
        if (cat && rs_catalog_find_category(cat, names[i].ptr, names[i].len, &c) == 0)
            out[got++] = c;
        else
            (*unknown)++;
    }
    return got;
}

/* Resolves fr against the version and fills s->allow with the items it
 * passes; returns their count, or -1 (an unknown numeric field is
 * RS_ERR_INVALID). */
static int64_t filter_bits(const rs_filter_request *fr, const rs_model *model,
                           const rs_catalog *cat, scratch *s, rs_error *err)
{
    uint32_t n_items = rs_model_n_items(model);
    size_t words = rs_bitmap_words(n_items);
    if (words > s->allow_cap) {
        uint64_t *a = rs_malloc(words, sizeof(uint64_t), err);
        uint64_t *b = a ? rs_malloc(words, sizeof(uint64_t), err) : NULL;
        if (!b) {
            free(a);
            return -1;
        }
        free(s->allow);
        free(s->allow_tmp);
        s->allow = a, s->allow_tmp = b, s->allow_cap = words;
    }
    size_t total = (size_t)fr->n_any + fr->n_all + fr->n_none + fr->n_allow + fr->n_deny + 1;
    uint32_t *buf = rs_malloc(total, sizeof(uint32_t), err);
    rs_value_range *ranges = buf ? rs_malloc(fr->n_ranges + 1, sizeof(*ranges), err) : NULL;
    if (!ranges) {
        free(buf);
        return -1;
    }
    rs_item_filter f = {.any_given = fr->any_given, .allow_given = fr->allow_given};
    uint32_t *at = buf, unknown_all = 0, ignored = 0;
    f.any = at, f.n_any = resolve_categories(cat, fr->any, fr->n_any, at, &ignored),
    at += fr->n_any;
    f.all = at, f.n_all = resolve_categories(cat, fr->all, fr->n_all, at, &unknown_all),
    at += fr->n_all;
    f.none = at, f.n_none = resolve_categories(cat, fr->none, fr->n_none, at, &ignored),
    at += fr->n_none;
    f.allow = at, f.n_allow = resolve_items(model, fr->allow, fr->n_allow, at), at += fr->n_allow;
    f.deny = at, f.n_deny = resolve_items(model, fr->deny, fr->n_deny, at);
    f.nothing = unknown_all > 0; /* an item cannot carry a category nobody has */
    for (uint32_t i = 0; i < fr->n_ranges; i++) {
        const rs_filter_range *r = &fr->ranges[i];
        uint32_t field;
        if (!cat || rs_catalog_find_field(cat, r->field.ptr, r->field.len, &field) != 0) {
            free(buf);
            free(ranges);
            return rs_fail_kind(err, RS_ERR_INVALID,
                                "filter: the version's item catalogue has no numeric field "
                                "\"%.*s\"",
                                (int)RS_MIN(r->field.len, 64), r->field.ptr);
        }
        ranges[i] = (rs_value_range){field, r->min, r->max};
    }
    f.ranges = ranges, f.n_ranges = fr->n_ranges;
    uint32_t count = rs_item_filter_bits(cat, n_items, &f, s->allow, s->allow_tmp);
    free(buf);
    free(ranges);
    return count;
}

static inline int allowed(const uint64_t *allow, uint32_t i)
{
    return !allow || rs_bitmap_get(allow, i);
}

/* ---- recommendations ---- */

/* Maps the history to unique item indices in s->items (marked in the mask);
 * unknown ids go to s->unknown. Returns the count, or -1 when out of memory. */
static int64_t map_history(const rs_reco_query *q, scratch *s, uint32_t *n_touched,
                           uint32_t *n_unknown, rs_error *err)
{
    uint32_t used = 0, n_items = rs_model_n_items(q->model);
    if (q->has_history) {
        for (uint32_t i = 0; i < q->n_history; i++) {
            uint32_t idx;
            const rs_id *id = &q->history[i];
            if (rs_model_item_index(q->model, id->ptr, id->len, &idx) == 0 && idx < n_items) {
                if (mark(s, idx, n_touched)) s->items[used++] = idx;
            } else if (note_unknown(s, q, i, n_unknown, err) != 0) {
                return -1;
            }
        }
    } else if (q->user) {
        const uint32_t *items;
        uint32_t n;
        if (rs_model_user_history(q->model, q->user->ptr, q->user->len, &items, &n) == 0) {
            for (uint32_t i = 0; i < n; i++)
                if (items[i] < n_items && mark(s, items[i], n_touched)) s->items[used++] = items[i];
        }
    }
    return used;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : (x > y);
}

static size_t history_capacity(const rs_reco_query *q)
{
    if (q->has_history) return q->n_history;
    const uint32_t *items;
    uint32_t n = 0;
    if (q->user && rs_model_user_history(q->model, q->user->ptr, q->user->len, &items, &n) != 0)
        n = 0;
    return n;
}

/* A known user's seen-set (rs_model_user_seen), or none. */
static uint32_t user_seen(const rs_reco_query *q, const uint32_t **items)
{
    uint32_t n = 0;
    if (!q->user || rs_model_user_seen(q->model, q->user->ptr, q->user->len, items, &n) != 0)
        return 0;
    return n;
}

/* When filtering, a known user's seen-set joins the exclusions: every item
 * of the input they interacted with (low-rated and held-out ones too), not
 * only the items their vector was encoded from. */
static void mark_seen(const rs_reco_query *q, scratch *s, uint32_t *n_touched)
{
    const uint32_t *items;
    uint32_t n = user_seen(q, &items), n_items = rs_model_n_items(q->model);
    for (uint32_t i = 0; i < n; i++)
        if (items[i] < n_items) mark(s, items[i], n_touched);
}

static int reserve_for_query(scratch *s, const rs_reco_query *q, rs_error *err)
{
    const rs_model *model = q->model;
    const uint32_t *seen;
    size_t hist_cap = history_capacity(q), seen_cap = q->filter_history ? user_seen(q, &seen) : 0;
    size_t want = (size_t)q->offset + q->n;
    int filtered = q->filter && q->filter->given;
    size_t top =
        rs_model_itemitem(model) && filtered ? RS_MAX(want, rs_model_n_items(model)) : want;
    if (reserve_mask(s, rs_model_n_items(model), err) != 0 ||
        reserve((void **)&s->items, &s->items_cap, hist_cap + 1, sizeof(uint32_t), err) != 0 ||
        reserve((void **)&s->touched, &s->touched_cap,
                hist_cap + seen_cap + q->n_exclude + want + 1, sizeof(uint32_t), err) != 0 ||
        reserve((void **)&s->uvec, &s->uvec_cap, rs_model_dim(model), sizeof(float), err) != 0 ||
        reserve((void **)&s->enc, &s->enc_cap, rs_model_scratch_floats(model) + 1, sizeof(float),
                err) != 0 ||
        reserve((void **)&s->top, &s->top_cap, top, sizeof(rs_scored), err) != 0)
        return -1;
    if (rs_model_itemitem(model) && reserve_sums(s, rs_model_n_items(model), err) != 0) return -1;
    if (!s->retrieve && !(s->retrieve = rs_retrieve_scratch_new()))
        return rs_fail_kind(err, RS_ERR_NO_MEMORY, "out of memory for the retrieval scratch");
    return 0;
}

/* Unknown user or nothing known in the history: the most popular items
 * not marked, into s->top from position got on (an item-item model's
 * fill-up, see recommend.h, starts after its ranked items). */
static uint32_t popular(const rs_model *model, const scratch *s, const uint64_t *allow,
                        uint32_t got, uint32_t n)
{
    const uint32_t *order = rs_model_popular_order(model);
    const float *pop = rs_model_popularity(model);
    uint32_t n_items = rs_model_n_items(model);
    for (uint32_t i = 0; i < n_items && got < n; i++) {
        uint32_t idx = order[i];
        if (idx >= n_items || s->mask[idx] || !isfinite(pop[idx]) || !allowed(allow, idx)) continue;
        s->top[got++] = (rs_scored){pop[idx], idx};
    }
    return got;
}

/* An item-item model: the history's rows summed (in increasing item order,
 * as the trainer sums them), the best n touched items outside the mask,
 * then, when fewer, the most popular others (recommend.h). */
static uint32_t rank_rows(const rs_reco_query *q, const rs_itemitem *ii, scratch *s, uint32_t used,
                          const uint64_t *allow, uint32_t want, uint32_t *n_touched,
                          rs_reco_result *out)
{
    qsort(s->items, used, sizeof(uint32_t), cmp_u32);
    uint32_t n_candidates;
    /* With a filter every touched item is ranked, then the ones it passes
     * kept (s->top holds n_items then). */
    uint32_t got = rs_itemitem_recommend(ii, s->items, used, s->mask,
                                         allow ? rs_model_n_items(q->model) : want, s->sums,
                                         s->sum_marks, s->candidates, &n_candidates, s->top);
    if (allow) {
        uint32_t kept = 0;
        for (uint32_t i = 0; i < got && kept < want; i++)
            if (allowed(allow, s->top[i].id)) s->top[kept++] = s->top[i];
        got = kept;
    }
    out->retrieval = (rs_retrieve_stats){n_candidates, 1, 0};
    if (got == want) return got;
    for (uint32_t i = 0; i < got; i++) mark(s, s->top[i].id, n_touched);
    uint32_t filled = popular(q->model, s, allow, got, want);
    out->filled = filled - got;
    return filled;
}

/* Ranks offset .. want - 1 of the got ranked items (an item-item model's
 * fill-up counted within the page). */
static void page(rs_reco_result *out, const rs_scored *top, uint32_t got, uint32_t offset,
                 uint32_t want)
{
    uint32_t ranked = got - out->filled; /* the fill-up trails */
    out->items = top + RS_MIN(offset, got);
    out->n_items = got > offset ? got - offset : 0;
    out->filled = got > RS_MAX(offset, ranked) ? got - RS_MAX(offset, ranked) : 0;
    out->exhausted = got < want;
}

/* ---- reasons ---- */

/* Item j's weight in item h's kept row (0 when h keeps no weight for j). */
static float row_weight(const rs_itemitem *ii, uint32_t h, uint32_t j, int *found)
{
    *found = 0;
    for (uint64_t p = ii->offsets[h]; p < ii->offsets[h + 1]; p++)
        if (ii->columns[p] == j) {
            *found = 1;
            return ii->weights[p];
        }
    return 0;
}

static float cosine(const rs_similarity *sim, uint32_t a, uint32_t b, int *found)
{
    float denom = sim->norms[a] * sim->norms[b];
    *found = denom != 0.0f;
    if (!*found) return 0;
    return cblas_sdot((int)sim->dim, sim->vectors + (size_t)a * sim->dim, 1,
                      sim->vectors + (size_t)b * sim->dim, 1) /
           denom;
}

/* Per returned item, the history items (s->items[0..used)) that weigh most
 * for it (recommend.h). */
static int explain(const rs_reco_query *q, scratch *s, uint32_t used, rs_reco_result *out,
                   rs_error *err)
{
    const rs_itemitem *ii = rs_model_itemitem(q->model);
    const rs_similarity *sim = q->sim;
    if (used == 0 || out->n_items == 0 || (!ii && (!sim || !sim->vectors))) return 0;
    size_t need = (size_t)out->n_items * RS_EXPLAIN_REASONS;
    if (reserve((void **)&s->reasons, &s->reasons_cap, need, sizeof(rs_scored), err) != 0)
        return -1;
    uint32_t h = RS_MIN(used, RS_EXPLAIN_HISTORY);
    for (uint32_t j = 0; j < out->n_items; j++) {
        uint32_t item = out->items[j].id;
        rs_scored *r = s->reasons + (size_t)j * RS_EXPLAIN_REASONS;
        rs_topk tk;
        rs_topk_init(&tk, r, RS_EXPLAIN_REASONS);
        for (uint32_t k = 0; k < h; k++) {
            int found;
            uint32_t hist = s->items[k];
            float w = ii ? row_weight(ii, hist, item, &found) : cosine(sim, hist, item, &found);
            if (found && isfinite(w) && rs_topk_would_enter(&tk, w, hist))
                rs_topk_push(&tk, w, hist);
        }
        for (uint32_t k = rs_topk_sorted(&tk); k < RS_EXPLAIN_REASONS; k++)
            r[k] = (rs_scored){0, UINT32_MAX};
    }
    out->reasons = s->reasons;
    out->reason_method = ii ? "row_weight" : sim->anchors ? "anchor_cosine" : "item_cosine";
    return 0;
}

/* A query of a batch whose ranking is left to rs_retrieve_batch: its user
 * vector, skip list and filter, copied out of the scratch (owned). */
typedef struct deferred {
    int pending;
    uint32_t want;
    float *u;
    uint32_t *ids, n_ids;
    uint64_t *allow;
    uint32_t n_allowed;
} deferred;

static void *copy_of(const void *p, size_t bytes, rs_error *err)
{
    void *c = rs_malloc(bytes ? bytes : 1, 1, err);
    if (c && bytes) memcpy(c, p, bytes);
    return c;
}

static int defer_ranking(deferred *d, const rs_model *model, const float *u, const rs_skip *skip,
                         uint32_t want, rs_error *err)
{
    size_t words = rs_bitmap_words(rs_model_n_items(model));
    d->u = copy_of(u, sizeof(float) * rs_model_dim(model), err);
    d->ids = d->u ? copy_of(skip->ids, sizeof(uint32_t) * skip->n_ids, err) : NULL;
    d->allow = d->ids && skip->allow ? copy_of(skip->allow, sizeof(uint64_t) * words, err) : NULL;
    if (!d->ids || (skip->allow && !d->allow)) return -1;
    d->n_ids = skip->n_ids;
    d->n_allowed = skip->n_allowed;
    d->want = want;
    d->pending = 1;
    return 0;
}

static int recommend_one(const rs_reco_query *q, rs_reco_result *out, deferred *defer,
                         rs_error *err)
{
    memset(out, 0, sizeof(*out));
    out->retrieval = (rs_retrieve_stats){0, 1, 0};
    scratch *s = my_scratch(err);
    if (!s || reserve_for_query(s, q, err) != 0) return -1;
    const rs_model *model = q->model;
    uint32_t n_items = rs_model_n_items(model), n_touched = 0, n_unknown = 0;
    uint32_t want = q->offset + q->n;
    const uint64_t *allow = NULL;
    if (q->filter && q->filter->given) {
        int64_t count = filter_bits(q->filter, model, q->catalog, s, err);
        if (count < 0) return -1;
        allow = s->allow;
        out->filtered = 1;
        out->allowed = (uint32_t)count;
    }
    int64_t used = map_history(q, s, &n_touched, &n_unknown, err);
    if (used < 0) {
        clear_marks(s, n_touched);
        return -1;
    }
    /* The history marks double as exclusions only when filtering it. */
    if (!q->filter_history) {
        clear_marks(s, n_touched);
        n_touched = 0;
    } else {
        mark_seen(q, s, &n_touched);
    }
    for (uint32_t i = 0; i < q->n_exclude; i++) {
        uint32_t idx;
        const rs_id *id = &q->exclude[i];
        if (rs_model_item_index(model, id->ptr, id->len, &idx) == 0 && idx < n_items)
            mark(s, idx, &n_touched);
    }
    uint32_t got = 0;
    const rs_itemitem *ii = rs_model_itemitem(model);
    if (q->sample && ii) {
        clear_marks(s, n_touched);
        return rs_fail_kind(err, RS_ERR_INVALID,
                            "\"mode\": \"sample\" needs a model with item vectors; variant's "
                            "model is item-item");
    }
    if (used > 0 && ii) {
        got = rank_rows(q, ii, s, (uint32_t)used, allow, want, &n_touched, out);
    } else if (used == 0) {
        out->fallback = RS_FALLBACK_POPULARITY;
        got = popular(model, s, allow, 0, want);
    } else {
        /* The encoder wants increasing indices (else it sorts a copy); MIDX
         * wants the skipped ids sorted. */
        qsort(s->items, (size_t)used, sizeof(uint32_t), cmp_u32);
        qsort(s->touched, n_touched, sizeof(uint32_t), cmp_u32);
        rs_skip skip = {s->mask, s->touched, n_touched, allow, out->allowed};
        /* A known user without a given history: their stored vector (a
         * factor model's stored factor; else the same encoding). */
        int encoded =
            q->has_history
                ? rs_model_encode(model, s->items, (uint32_t)used, s->uvec, s->enc, err)
                : rs_model_encode_user(model, q->user->ptr, q->user->len, s->uvec, s->enc, err);
        int ranked = encoded != 0 ? -1
                     : defer && !q->sample && !q->explain
                         ? defer_ranking(defer, model, s->uvec, &skip, want, err)
                     : q->sample ? rs_retrieve_sample(q->retriever, s->uvec, &skip, q->n,
                                                      (float)q->temperature, q->seed, s->top, &got,
                                                      s->retrieve, &out->sample, err)
                                 : rs_retrieve_topn(q->retriever, s->uvec, &skip, want, s->top,
                                                    &got, s->retrieve, &out->retrieval, err);
        if (ranked != 0) {
            clear_marks(s, n_touched);
            return -1;
        }
        if (q->sample) {
            out->sampled = 1;
            uint64_t scored = strcmp(out->sample.method, "midx") == 0 && !out->sample.fallback
                                  ? out->sample.proposals
                                  : n_items;
            out->retrieval = (rs_retrieve_stats){scored, 0, 0};
        }
    }
    clear_marks(s, n_touched);
    page(out, s->top, got, q->offset, want);
    out->history_used = (uint32_t)used;
    out->unknown = s->unknown;
    out->n_unknown = n_unknown;
    if (q->explain && explain(q, s, (uint32_t)used, out, err) != 0) return -1;
    return 0;
}

int rs_recommend(const rs_reco_query *q, rs_reco_result *out, rs_error *err)
{
    return recommend_one(q, out, NULL, err);
}

/* ---- batches ---- */

struct rs_reco_batch {
    uint32_t n;
    deferred *d;
    rs_scored **items; /* per query: its ranked items (owned) */
    rs_scored **reasons;
    uint32_t **unknown; /* per query: copies of the unknown positions */
};

void rs_reco_batch_free(rs_reco_batch *b)
{
    if (!b) return;
    for (uint32_t i = 0; i < b->n; i++) {
        free(b->d[i].u);
        free(b->d[i].ids);
        free(b->d[i].allow);
        free(b->items[i]);
        free(b->reasons[i]);
        free(b->unknown[i]);
    }
    free(b->d);
    free(b->items);
    free(b->reasons);
    free(b->unknown);
    free(b);
}

/* Copies what query i's result points to in the scratch into b. */
static int keep_result(rs_reco_batch *b, uint32_t i, rs_reco_result *res, rs_error *err)
{
    if (!(b->unknown[i] = copy_of(res->unknown, sizeof(uint32_t) * res->n_unknown, err))) return -1;
    res->unknown = b->unknown[i];
    if (b->d[i].pending) return 0;
    if (!(b->items[i] = copy_of(res->items, sizeof(rs_scored) * res->n_items, err))) return -1;
    res->items = b->items[i];
    if (res->reasons) {
        size_t bytes = sizeof(rs_scored) * res->n_items * RS_EXPLAIN_REASONS;
        if (!(b->reasons[i] = copy_of(res->reasons, bytes, err))) return -1;
        res->reasons = b->reasons[i];
    }
    return 0;
}

int rs_recommend_batch(const rs_reco_query *qs, uint32_t nq, rs_reco_result *results, int *failed,
                       rs_error *errors, rs_reco_batch **out, rs_error *err)
{
    *out = NULL;
    rs_reco_batch *b = rs_calloc(1, sizeof(*b), err);
    if (!b) return -1;
    b->d = rs_calloc(RS_MAX(nq, 1u), sizeof(deferred), err);
    b->items = b->d ? rs_calloc(RS_MAX(nq, 1u), sizeof(rs_scored *), err) : NULL;
    b->unknown = b->items ? rs_calloc(RS_MAX(nq, 1u), sizeof(uint32_t *), err) : NULL;
    b->reasons = b->unknown ? rs_calloc(RS_MAX(nq, 1u), sizeof(rs_scored *), err) : NULL;
    rs_batch_query *bq = b->reasons ? rs_calloc(RS_MAX(nq, 1u), sizeof(*bq), err) : NULL;
    uint32_t *which = bq ? rs_malloc(RS_MAX(nq, 1u), sizeof(uint32_t), err) : NULL;
    int rc = which ? 0 : -1;
    if (rc == 0) b->n = nq; /* every per-query array exists: rs_reco_batch_free walks them */
    uint32_t n_pending = 0;
    for (uint32_t i = 0; rc == 0 && i < nq; i++) {
        /* Only a shared retriever can rank queries together. */
        deferred *d =
            qs[i].retriever == qs[0].retriever && qs[i].model == qs[0].model ? &b->d[i] : NULL;
        failed[i] = recommend_one(&qs[i], &results[i], d, &errors[i]) != 0;
        if (failed[i]) {
            memset(&results[i], 0, sizeof(results[i]));
            if (errors[i].kind == RS_ERR_NO_MEMORY)
                rc = rs_fail_kind(err, RS_ERR_NO_MEMORY, "%s", errors[i].msg);
            continue;
        }
        rc = keep_result(b, i, &results[i], err);
        if (rc == 0 && b->d[i].pending) {
            deferred *p = &b->d[i];
            if (!(b->items[i] = rs_malloc(RS_MAX(p->want, 1u), sizeof(rs_scored), err))) rc = -1;
            bq[n_pending] =
                (rs_batch_query){.u = p->u,
                                 .skip = {NULL, p->ids, p->n_ids, p->allow, p->n_allowed},
                                 .n = p->want,
                                 .out = b->items[i]};
            which[n_pending++] = i;
        }
    }
    if (rc == 0 && n_pending) {
        scratch *s = my_scratch(err);
        rc = s ? rs_retrieve_batch(qs[0].retriever, bq, n_pending, s->retrieve, err) : -1;
    }
    for (uint32_t k = 0; rc == 0 && k < n_pending; k++) {
        uint32_t i = which[k];
        results[i].retrieval = bq[k].stats;
        page(&results[i], b->items[i], bq[k].n_out, qs[i].offset, b->d[i].want);
    }
    free(bq);
    free(which);
    if (rc != 0) {
        rs_reco_batch_free(b);
        return -1;
    }
    *out = b;
    return 0;
}

/* ---- similar items ---- */

int rs_similarity_init(rs_similarity *sim, const float *vectors, uint32_t n_items, uint32_t dim,
                       int anchors, rs_error *err)
{
    memset(sim, 0, sizeof(*sim));
    float *norms = rs_malloc(n_items, sizeof(float), err);
    if (!norms) return -1;
    for (uint32_t i = 0; i < n_items; i++) {
        const float *row = vectors + (size_t)i * dim;
        double sum = 0;
        for (uint32_t j = 0; j < dim; j++) sum += (double)row[j] * row[j];
        norms[i] = (float)sqrt(sum);
    }
    *sim = (rs_similarity){vectors, n_items, dim, anchors, norms};
    return 0;
}

void rs_similarity_release(rs_similarity *sim)
{
    free(sim->norms);
    memset(sim, 0, sizeof(*sim));
}

/* The filter of a similar-items query into s->allow (NULL: none). */
static int similar_filter(const rs_similar_query *q, scratch *s, rs_similar_result *out,
                          const uint64_t **allow, rs_error *err)
{
    *allow = NULL;
    if (!q->filter || !q->filter->given) return 0;
    int64_t count = filter_bits(q->filter, q->model, q->catalog, s, err);
    if (count < 0) return -1;
    *allow = s->allow;
    out->filtered = 1;
    out->allowed = (uint32_t)count;
    return 0;
}

/* Keeps ranks offset .. offset + n - 1 of the got items in out. */
static void similar_page(const rs_similar_query *q, const rs_scored *top, uint32_t got,
                         rs_similar_result *out)
{
    out->items = top + RS_MIN(q->offset, got);
    out->n_items = got > q->offset ? got - q->offset : 0;
    out->exhausted = got < q->offset + q->n;
}

/* An item-item model's similar items: the item's kept row. */
static int similar_row(const rs_similar_query *q, const rs_itemitem *ii, rs_similar_result *out,
                       rs_error *err)
{
    uint32_t item, want = q->offset + q->n;
    if (rs_model_item_index(q->model, q->item.ptr, q->item.len, &item) != 0 || item >= ii->n_items)
        return rs_fail_kind(err, RS_ERR_NOT_FOUND, "item \"%.*s\" is not in the model",
                            (int)RS_MIN(q->item.len, 100), q->item.ptr);
    scratch *s = my_scratch(err);
    int filtered = q->filter && q->filter->given;
    size_t cap = filtered ? RS_MAX(want, ii->n_items) : want;
    const uint64_t *allow;
    if (!s || reserve((void **)&s->top, &s->top_cap, cap, sizeof(rs_scored), err) != 0 ||
        similar_filter(q, s, out, &allow, err) != 0)
        return -1;
    out->item = item;
    uint32_t got = rs_itemitem_row(ii, item, (uint32_t)cap, s->top), kept = 0;
    for (uint32_t i = 0; i < got && kept < want; i++)
        if (allowed(allow, s->top[i].id)) s->top[kept++] = s->top[i];
    similar_page(q, s->top, kept, out);
    return 0;
}

/* Top k of scores over the items neither masked nor filtered out, finite
 * scores only. */
static uint32_t topk_allowed(const float *scores, uint32_t n, const uint8_t *mask,
                             const uint64_t *allow, uint32_t k, rs_scored *out)
{
    rs_topk tk;
    rs_topk_init(&tk, out, k);
    for (uint32_t i = 0; i < n; i++) {
        if (mask[i] || !rs_bitmap_get(allow, i) || !isfinite(scores[i])) continue;
        if (rs_topk_would_enter(&tk, scores[i], i)) rs_topk_push(&tk, scores[i], i);
    }
    return rs_topk_sorted(&tk);
}

int rs_similar(const rs_similar_query *q, rs_similar_result *out, rs_error *err)
{
    memset(out, 0, sizeof(*out));
    const rs_itemitem *ii = rs_model_itemitem(q->model);
    if (ii) return similar_row(q, ii, out, err);
    const rs_similarity *sim = q->sim;
    uint32_t n_items = sim->n_items, d = sim->dim, item, want = q->offset + q->n;
    if (rs_model_item_index(q->model, q->item.ptr, q->item.len, &item) != 0 || item >= n_items)
        return rs_fail_kind(err, RS_ERR_NOT_FOUND, "item \"%.*s\" is not in the model",
                            (int)RS_MIN(q->item.len, 100), q->item.ptr);
    scratch *s = my_scratch(err);
    const uint64_t *allow;
    if (!s || reserve_mask(s, n_items, err) != 0 ||
        reserve((void **)&s->scores, &s->scores_cap, n_items, sizeof(float), err) != 0 ||
        reserve((void **)&s->top, &s->top_cap, want, sizeof(rs_scored), err) != 0 ||
        similar_filter(q, s, out, &allow, err) != 0)
        return -1;
    /* Cosine similarity: one pass of dot products, then divide by norms (a
     * zero vector is similar to nothing: 0). */
    const float *m = sim->vectors, *norms = sim->norms;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n_items, (int)d, 1.0f, m, (int)d,
                m + (size_t)item * d, 1, 0.0f, s->scores, 1);
    for (uint32_t j = 0; j < n_items; j++) {
        float denom = norms[item] * norms[j];
        s->scores[j] = denom == 0.0f ? 0.0f : s->scores[j] / denom;
    }
    s->mask[item] = 1;
    uint32_t got = allow ? topk_allowed(s->scores, n_items, s->mask, allow, want, s->top)
                         : rs_topk_finite(s->scores, n_items, s->mask, want, s->top);
    s->mask[item] = 0;
    out->item = item;
    similar_page(q, s->top, got, out);
    return 0;
}
