/* sampler.c - uniform, popularity and MIDX negative samplers (see sampler.h).
 *
 * Layout of the index (struct sampler_index, swapped in whole at rebuild so
 * a failed rebuild changes nothing):
 *   pop, log_pop       by item id (pop kinds)
 *   pop_table          alias table over all items (pop)
 *   pq                 codebooks, cells, items in cell order (midx kinds)
 *   log_cell           log G(cell) for midx-uni (log count) and midx-pop
 *                      (log of the cell's summed popularity); -inf if empty
 *   cell_thresh/alias  midx-pop: the cells' alias tables packed back to back
 *                      by position; cell c's table is [offsets[c], offsets[c+1])
 *                      with slot and alias indices local to the cell
 *
 * Per-user state (struct rs_sampler_user), all doubles:
 *   s1[K], s2[K]     codeword scores z1 . c1[k], z2 . c2[k]
 *   cum2[K*K]        row k1: cumulative sums over k2 of exp(log W(k1,k2) - max)
 *   cum1[K]          cumulative sums over k1 of the rows' totals
 *   exact only: lcell[K*K] log G per cell, zr[M] z . r_i by item id,
 *   cum3[M] per-cell cumulative exp(z . r_i - max over the cell) by position.
 * shift = max + log Z, so that log Q(i) = s1[k1] + s2[k2] + lg_i - shift
 * with lg_i = 0, log pop(i) or z . r_i.
 */
#include "sampler.h"

#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "alias.h"

typedef struct sampler_index {
    uint64_t generation; /* 0: no index */
    uint32_t M, D;
    double *pop;
    double *log_pop;
    double log_pop_total;
    rs_alias pop_table;
    int has_pq;
    rs_pq pq;
    double *log_cell;
    uint32_t *cell_thresh;
    uint32_t *cell_alias;
} sampler_index;

struct rs_sampler {
    rs_sampler_kind kind;
    rs_sampler_options opt;
    sampler_index idx;
};

struct rs_sampler_user {
    const rs_sampler *owner;
    uint64_t generation;
    double shift;
    size_t cap; /* doubles in buf */
    double *buf;
    double *s1, *s2, *cum1, *cum2, *lcell, *zr, *cum3;
};

/* Generations are unique across all samplers of the process, so a user
 * state can never be mistaken for one prepared on another index. */
static _Atomic uint64_t next_generation = 1;

static const char *const kind_names[] = {"uniform", "pop", "midx-uni", "midx-pop", "midx-exact"};

rs_sampler_options rs_sampler_defaults(void)
{
    return (rs_sampler_options){.k = 16,
                                .kmeans_iters = 10,
                                .kmeans_train = 65536,
                                .transform = RS_POP_LOG1P,
                                .count_floor = 0.0};
}

int rs_sampler_kind_parse(const char *name, rs_sampler_kind *kind, rs_error *err)
{
    for (int k = 0; k < (int)(sizeof(kind_names) / sizeof(kind_names[0])); k++)
        if (name && strcmp(name, kind_names[k]) == 0) {
            *kind = (rs_sampler_kind)k;
            return 0;
        }
    return rs_fail(err,
                   "unknown sampler '%s' (expected uniform, pop, midx-uni, midx-pop or "
                   "midx-exact)",
                   name ? name : "(null)");
}

const char *rs_sampler_kind_name(rs_sampler_kind kind)
{
    return (unsigned)kind < sizeof(kind_names) / sizeof(kind_names[0]) ? kind_names[kind] : "?";
}

int rs_sampler_kind_uses_pop(rs_sampler_kind kind)
{
    return kind == RS_SAMPLER_POP || kind == RS_SAMPLER_MIDX_POP;
}

int rs_sampler_kind_uses_vectors(rs_sampler_kind kind)
{
    return kind == RS_SAMPLER_MIDX_UNI || kind == RS_SAMPLER_MIDX_POP ||
           kind == RS_SAMPLER_MIDX_EXACT;
}

static void index_free(sampler_index *x)
{
    free(x->pop);
    free(x->log_pop);
    rs_alias_free(&x->pop_table);
    if (x->has_pq) rs_pq_free(&x->pq);
    free(x->log_cell);
    free(x->cell_thresh);
    free(x->cell_alias);
    memset(x, 0, sizeof(*x));
}

rs_sampler *rs_sampler_new(rs_sampler_kind kind, const rs_sampler_options *o, rs_error *err)
{
    if ((unsigned)kind > RS_SAMPLER_MIDX_EXACT) {
        rs_fail(err, "sampler: invalid kind %d", (int)kind);
        return NULL;
    }
    rs_sampler_options opt = o ? *o : rs_sampler_defaults();
    if (opt.k == 0 || opt.k > RS_PQ_MAX_K) {
        rs_fail(err, "sampler: codebook size %u must be in [1, %u]", opt.k, RS_PQ_MAX_K);
        return NULL;
    }
    if (opt.transform != RS_POP_LOG1P && opt.transform != RS_POP_COUNT) {
        rs_fail(err, "sampler: invalid popularity transform %d", (int)opt.transform);
        return NULL;
    }
    if (!isfinite(opt.count_floor) || opt.count_floor < 0) {
        rs_fail(err, "sampler: count floor %g must be finite and >= 0", opt.count_floor);
        return NULL;
    }
    rs_sampler *s = rs_calloc(1, sizeof(*s), err);
    if (!s) return NULL;
    s->kind = kind;
    s->opt = opt;
    return s;
}

void rs_sampler_free(rs_sampler *s)
{
    if (!s) return;
    index_free(&s->idx);
    free(s);
}

/* pop(i) and log pop(i) from raw counts. */
static int build_pop(sampler_index *x, const rs_sampler_options *o, const float *counts, uint32_t M,
                     rs_error *err)
{
    if (!counts) return rs_fail(err, "sampler rebuild: this sampler needs item counts (NULL)");
    if (!(x->pop = rs_malloc(M, sizeof(double), err))) return -1;
    if (!(x->log_pop = rs_malloc(M, sizeof(double), err))) return -1;
    double total = 0.0;
    for (uint32_t i = 0; i < M; i++) {
        double c = counts[i];
        if (!isfinite(c) || c < 0)
            return rs_fail(err, "sampler rebuild: item %u has count %g (expected finite, >= 0)", i,
                           c);
        c = RS_MAX(c, o->count_floor);
        double p = o->transform == RS_POP_LOG1P ? log1p(c) : c;
        x->pop[i] = p;
        x->log_pop[i] = log(p); /* -inf for 0 */
        total += p;
    }
    if (!(total > 0.0))
        return rs_fail(err,
                       "sampler rebuild: all %u items have popularity 0 (no counts; "
                       "raise the count floor)",
                       M);
    x->log_pop_total = log(total);
    return 0;
}

/* log G per cell for midx-uni / midx-pop, and midx-pop's per-cell tables. */
static int build_cells(sampler_index *x, rs_sampler_kind kind, rs_error *err)
{
    const rs_pq *pq = &x->pq;
    if (!(x->log_cell = rs_malloc(pq->n_cells, sizeof(double), err))) return -1;
    if (kind == RS_SAMPLER_MIDX_UNI) {
        for (uint32_t c = 0; c < pq->n_cells; c++) {
            uint32_t n = pq->offsets[c + 1] - pq->offsets[c];
            x->log_cell[c] = n ? log((double)n) : -INFINITY;
        }
        return 0;
    }
    if (kind != RS_SAMPLER_MIDX_POP) return 0; /* exact: per user */
    uint32_t M = pq->n, largest = 1;
    for (uint32_t c = 0; c < pq->n_cells; c++)
        largest = RS_MAX(largest, pq->offsets[c + 1] - pq->offsets[c]);
    x->cell_thresh = rs_calloc(M, sizeof(uint32_t), err);
    x->cell_alias = x->cell_thresh ? rs_calloc(M, sizeof(uint32_t), err) : NULL;
    double *w = x->cell_alias ? rs_malloc(largest, sizeof(double), err) : NULL;
    void *work = w ? rs_malloc(rs_alias_work_bytes(largest), 1, err) : NULL;
    if (!work) {
        free(w);
        return -1;
    }
    for (uint32_t c = 0; c < pq->n_cells; c++) {
        uint32_t off = pq->offsets[c], n = pq->offsets[c + 1] - off;
        double sum = 0.0;
        for (uint32_t j = 0; j < n; j++) sum += (w[j] = x->pop[pq->ids[off + j]]);
        x->log_cell[c] = log(sum); /* -inf: empty, or only zero popularity */
        if (sum > 0.0 &&
            rs_alias_fill(w, n, x->cell_thresh + off, x->cell_alias + off, work, NULL, err) != 0) {
            free(w);
            free(work);
            return rs_error_prefix(err, "sampler rebuild, cell %u", c);
        }
    }
    free(w);
    free(work);
    return 0;
}

int rs_sampler_rebuild(rs_sampler *s, const float *item_vectors, uint32_t M, uint32_t D,
                       const float *counts, rs_rng *rng, rs_error *err)
{
    if (!s) return rs_fail(err, "sampler rebuild: NULL sampler");
    if (M == 0) return rs_fail(err, "sampler rebuild: no items (M = 0)");
    sampler_index x = {.M = M, .D = D};
    if (rs_sampler_kind_uses_pop(s->kind) && build_pop(&x, &s->opt, counts, M, err) != 0) goto fail;
    if (s->kind == RS_SAMPLER_POP && rs_alias_init(&x.pop_table, x.pop, M, err) != 0) goto fail;
    if (rs_sampler_kind_uses_vectors(s->kind)) {
        if (!item_vectors) {
            rs_fail(err, "sampler rebuild: %s needs item vectors (NULL)", kind_names[s->kind]);
            goto fail;
        }
        if (!rng) {
            rs_fail(err, "sampler rebuild: %s needs an rng for k-means", kind_names[s->kind]);
            goto fail;
        }
        rs_pq_options po = rs_pq_defaults();
        po.k = s->opt.k;
        po.kmeans.max_iter = s->opt.kmeans_iters;
        po.kmeans.max_train = s->opt.kmeans_train;
        po.kmeans.seed = rs_rng_u64(rng);
        if (rs_pq_build(item_vectors, M, D, &po, &x.pq, err) != 0) {
            rs_error_prefix(err, "sampler rebuild");
            goto fail;
        }
        x.has_pq = 1;
        if (build_cells(&x, s->kind, err) != 0) goto fail;
    }
    x.generation = atomic_fetch_add(&next_generation, 1);
    index_free(&s->idx);
    s->idx = x;
    return 0;
fail:
    index_free(&x);
    return -1;
}

rs_sampler_kind rs_sampler_get_kind(const rs_sampler *s)
{
    return s->kind;
}

uint32_t rs_sampler_n_items(const rs_sampler *s)
{
    return s->idx.M;
}

uint32_t rs_sampler_dim(const rs_sampler *s)
{
    return s->idx.D;
}

const double *rs_sampler_pop(const rs_sampler *s)
{
    return s->idx.pop;
}

const rs_pq *rs_sampler_index(const rs_sampler *s)
{
    return s->idx.has_pq ? &s->idx.pq : NULL;
}

size_t rs_sampler_bytes(const rs_sampler *s)
{
    const sampler_index *x = &s->idx;
    size_t b = sizeof(*s);
    if (x->pop) b += 2 * (size_t)x->M * sizeof(double);
    if (x->pop_table.n) b += 2 * (size_t)x->pop_table.n * sizeof(uint32_t);
    if (x->has_pq) b += rs_pq_bytes(&x->pq);
    if (x->log_cell) b += (size_t)x->pq.n_cells * sizeof(double);
    if (x->cell_thresh) b += 2 * (size_t)x->M * sizeof(uint32_t);
    return b;
}

rs_sampler_user *rs_sampler_user_new(rs_error *err)
{
    return rs_calloc(1, sizeof(rs_sampler_user), err);
}

void rs_sampler_user_free(rs_sampler_user *u)
{
    if (!u) return;
    free(u->buf);
    free(u);
}

/* Sizes the user state for this index and points its arrays into buf. */
static int user_layout(rs_sampler_user *u, const rs_sampler *s, rs_error *err)
{
    const rs_pq *pq = &s->idx.pq;
    size_t k = pq->k, cells = pq->n_cells, M = pq->n;
    int exact = s->kind == RS_SAMPLER_MIDX_EXACT;
    size_t need = 3 * k + cells + (exact ? cells + 2 * M : 0);
    if (need > u->cap) {
        double *b = rs_malloc(need, sizeof(double), err);
        if (!b) return -1;
        free(u->buf);
        u->buf = b;
        u->cap = need;
    }
    u->s1 = u->buf;
    u->s2 = u->s1 + k;
    u->cum1 = u->s2 + k;
    u->cum2 = u->cum1 + k;
    u->lcell = exact ? u->cum2 + cells : NULL;
    u->zr = exact ? u->lcell + cells : NULL;
    u->cum3 = exact ? u->zr + M : NULL;
    return 0;
}

static double dot(const float *a, const float *b, uint32_t n)
{
    double s = 0.0;
    for (uint32_t j = 0; j < n; j++) s += (double)a[j] * (double)b[j];
    return s;
}

/* midx-exact: z . r_i for every item, per-cell cumulative weights and log G. */
static int prepare_exact(const rs_pq *pq, const float *z, rs_sampler_user *u, rs_error *err)
{
    for (uint32_t c = 0; c < pq->n_cells; c++) {
        uint32_t off = pq->offsets[c], end = pq->offsets[c + 1];
        double a = u->s1[rs_pq_k1(pq, c)] + u->s2[rs_pq_k2(pq, c)], mx = -INFINITY;
        for (uint32_t pos = off; pos < end; pos++) {
            double r = dot(z, pq->vectors + (size_t)pos * pq->d, pq->d) - a;
            if (!isfinite(r))
                return rs_fail(err, "sampler prepare: non-finite score for item %u", pq->ids[pos]);
            u->zr[pq->ids[pos]] = r;
            mx = RS_MAX(mx, r);
        }
        double sum = 0.0;
        for (uint32_t pos = off; pos < end; pos++)
            u->cum3[pos] = (sum += exp(u->zr[pq->ids[pos]] - mx));
        u->lcell[c] = end > off ? mx + log(sum) : -INFINITY;
    }
    return 0;
}

int rs_sampler_prepare(const rs_sampler *s, const float *z, rs_sampler_user *u, rs_error *err)
{
    if (!s || !u) return rs_fail(err, "sampler prepare: NULL sampler or user state");
    if (!s->idx.generation)
        return rs_fail(err, "sampler prepare: no index yet (call rs_sampler_rebuild first)");
    u->generation = 0;
    u->owner = s;
    if (!rs_sampler_kind_uses_vectors(s->kind)) {
        u->generation = s->idx.generation;
        return 0;
    }
    if (!z) return rs_fail(err, "sampler prepare: NULL user vector");
    const rs_pq *pq = &s->idx.pq;
    uint32_t K = pq->k;
    if (user_layout(u, s, err) != 0) return -1;
    for (uint32_t k = 0; k < K; k++) {
        u->s1[k] = dot(z, pq->c1 + (size_t)k * pq->d1, pq->d1);
        u->s2[k] = dot(z + pq->d1, pq->c2 + (size_t)k * pq->d2, pq->d2);
        if (!isfinite(u->s1[k]) || !isfinite(u->s2[k]))
            return rs_fail(err, "sampler prepare: non-finite codeword score (is z finite?)");
    }
    const double *lcell = s->idx.log_cell;
    if (s->kind == RS_SAMPLER_MIDX_EXACT) {
        if (prepare_exact(pq, z, u, err) != 0) return -1;
        lcell = u->lcell;
    }
    /* log W per cell, shifted by its maximum; then cumulative sums. */
    double mx = -INFINITY;
    for (uint32_t c = 0; c < pq->n_cells; c++) {
        double lw = u->s1[c / K] + u->s2[c % K] + lcell[c];
        u->cum2[c] = lw;
        if (lw > mx) mx = lw;
    }
    if (!isfinite(mx)) return rs_fail(err, "sampler prepare: every cell has weight 0");
    double total = 0.0;
    for (uint32_t k1 = 0; k1 < K; k1++) {
        double *row = u->cum2 + (size_t)k1 * K, sum = 0.0;
        for (uint32_t k2 = 0; k2 < K; k2++) row[k2] = (sum += exp(row[k2] - mx));
        u->cum1[k1] = (total += sum);
    }
    u->shift = mx + log(total);
    u->generation = s->idx.generation;
    return 0;
}

/* First j in [0, n) with cum[j] > x. If rounding puts x at or beyond the
 * total, the last entry with positive weight. */
static inline uint32_t search_cum(const double *cum, uint32_t n, double x)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    if (lo == n) {
        lo = n - 1;
        while (lo > 0 && !(cum[lo] > cum[lo - 1])) lo--;
    }
    return lo;
}

/* log g_i of an item (the within-cell weight, see the top comment). */
static inline double item_lg(const rs_sampler *s, const rs_sampler_user *u, uint32_t item)
{
    switch (s->kind) {
    case RS_SAMPLER_MIDX_POP:
        return s->idx.log_pop[item];
    case RS_SAMPLER_MIDX_EXACT:
        return u->zr[item];
    default:
        return 0.0;
    }
}

static void draw_midx(const rs_sampler *s, const rs_sampler_user *u, uint32_t T, rs_rng *rng,
                      uint32_t *items, float *log_q)
{
    const rs_pq *pq = &s->idx.pq;
    uint32_t K = pq->k;
    double total = u->cum1[K - 1];
    for (uint32_t t = 0; t < T; t++) {
        uint32_t k1 = search_cum(u->cum1, K, rs_rng_uniform(rng) * total);
        const double *row = u->cum2 + (size_t)k1 * K;
        uint32_t k2 = search_cum(row, K, rs_rng_uniform(rng) * row[K - 1]);
        uint32_t c = k1 * K + k2;
        uint32_t off = pq->offsets[c], n = pq->offsets[c + 1] - off, pos;
        if (s->kind == RS_SAMPLER_MIDX_UNI)
            pos = off + (uint32_t)rs_rng_below(rng, n);
        else if (s->kind == RS_SAMPLER_MIDX_POP)
            pos = off + rs_alias_pick(s->idx.cell_thresh + off, s->idx.cell_alias + off, n, rng);
        else
            pos = off + search_cum(u->cum3 + off, n, rs_rng_uniform(rng) * u->cum3[off + n - 1]);
        uint32_t item = pq->ids[pos];
        items[t] = item;
        if (log_q) log_q[t] = (float)(u->s1[k1] + u->s2[k2] + item_lg(s, u, item) - u->shift);
    }
}

int rs_sampler_draw(const rs_sampler *s, const rs_sampler_user *u, uint32_t T, rs_rng *rng,
                    uint32_t *items, float *log_q, rs_error *err)
{
    if (!s || !u || !rng) return rs_fail(err, "sampler draw: NULL sampler, user state or rng");
    if (u->owner != s || !u->generation || u->generation != s->idx.generation)
        return rs_fail(err, "sampler draw: user state not prepared for this sampler's current "
                            "index (rs_sampler_prepare after every rebuild)");
    if (T == 0) return 0;
    if (!items) return rs_fail(err, "sampler draw: NULL item buffer for %u draws", T);
    const sampler_index *x = &s->idx;
    switch (s->kind) {
    case RS_SAMPLER_UNIFORM: {
        float lq = (float)-log((double)x->M);
        for (uint32_t t = 0; t < T; t++) {
            items[t] = (uint32_t)rs_rng_below(rng, x->M);
            if (log_q) log_q[t] = lq;
        }
        break;
    }
    case RS_SAMPLER_POP:
        for (uint32_t t = 0; t < T; t++) {
            uint32_t i = rs_alias_draw(&x->pop_table, rng);
            items[t] = i;
            if (log_q) log_q[t] = (float)(x->log_pop[i] - x->log_pop_total);
        }
        break;
    default:
        draw_midx(s, u, T, rng, items, log_q);
    }
    return 0;
}

float rs_sampler_log_q(const rs_sampler *s, const rs_sampler_user *u, uint32_t item)
{
    if (!s || !u || u->owner != s || !u->generation || u->generation != s->idx.generation ||
        item >= s->idx.M)
        return NAN;
    const sampler_index *x = &s->idx;
    switch (s->kind) {
    case RS_SAMPLER_UNIFORM:
        return (float)-log((double)x->M);
    case RS_SAMPLER_POP:
        return (float)(x->log_pop[item] - x->log_pop_total);
    default: {
        uint32_t c = x->pq.code[item];
        return (float)(u->s1[rs_pq_k1(&x->pq, c)] + u->s2[rs_pq_k2(&x->pq, c)] +
                       item_lg(s, u, item) - u->shift);
    }
    }
}

int rs_sampler_sample(const rs_sampler *s, const float *z, rs_sampler_user *u, uint32_t T,
                      rs_rng *rng, uint32_t *items, float *log_q, rs_error *err)
{
    if (rs_sampler_prepare(s, z, u, err) != 0) return -1;
    return rs_sampler_draw(s, u, T, rng, items, log_q, err);
}
