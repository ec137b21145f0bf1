/* midx_sample.c - softmax sampling through the inverted multi-index, and
 * the Gumbel-top-k reference (see midx_sample.h). */
#include "midx_sample.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

struct rs_midx_sampler {
    uint32_t k, n, n_nonempty;
    float *s1, *s2;
    double *bound;    /* n_nonempty: each cell's score bound */
    double *row_cum;  /* k: cumulative row weights */
    double *cell_cum; /* n_nonempty: cumulative cell weights within each row */
    uint64_t *drawn;  /* n bits by item id, clear between queries */
    uint64_t *inhead; /* n bits: the head's items, clear between queries */
    rs_midx_scratch *ms;
    rs_scored *head;
    double *head_w;
    uint32_t head_cap;
    float *scores; /* n, for the fallback pass */
};

int rs_midx_sampler_new(const rs_midx *idx, rs_midx_sampler **out, rs_error *err)
{
    *out = NULL;
    rs_midx_sampler *s = rs_calloc(1, sizeof(*s), err);
    if (!s) return -1;
    s->k = idx->k;
    s->n = idx->n;
    s->n_nonempty = idx->n_nonempty;
    s->head_cap = RS_SAMPLE_HEAD_MAX;
    if (!(s->s1 = rs_malloc(idx->k, sizeof(float), err)) ||
        !(s->s2 = rs_malloc(idx->k, sizeof(float), err)) ||
        !(s->bound = rs_malloc(RS_MAX(idx->n_nonempty, 1u), sizeof(double), err)) ||
        !(s->row_cum = rs_malloc(idx->k, sizeof(double), err)) ||
        !(s->cell_cum = rs_malloc(RS_MAX(idx->n_nonempty, 1u), sizeof(double), err)) ||
        !(s->drawn = rs_calloc(((size_t)idx->n + 63) / 64, sizeof(uint64_t), err)) ||
        !(s->inhead = rs_calloc(((size_t)idx->n + 63) / 64, sizeof(uint64_t), err)) ||
        !(s->head = rs_malloc(RS_SAMPLE_HEAD_MAX, sizeof(rs_scored), err)) ||
        !(s->head_w = rs_malloc(RS_SAMPLE_HEAD_MAX, sizeof(double), err)) ||
        rs_midx_scratch_new(idx, &s->ms, err) != 0 ||
        !(s->scores = rs_malloc(RS_MAX(idx->n, 1u), sizeof(float), err))) {
        rs_midx_sampler_free(s);
        return rs_error_prefix(err, "midx sampler");
    }
    *out = s;
    return 0;
}

void rs_midx_sampler_free(rs_midx_sampler *s)
{
    if (!s) return;
    free(s->s1);
    free(s->s2);
    free(s->bound);
    free(s->row_cum);
    free(s->cell_cum);
    free(s->drawn);
    free(s->inhead);
    free(s->head);
    free(s->head_w);
    rs_midx_scratch_free(s->ms);
    free(s->scores);
    free(s);
}

/* ----------------------------------------------------------------- gumbel */

static double gumbel(rs_rng *rng)
{
    double u = rs_rng_uniform(rng) + 0x1p-54; /* in (0, 1) */
    return -log(-log(u));
}

uint32_t rs_sample_gumbel(const float *scores, const uint32_t *ids, uint32_t n, float temperature,
                          const rs_exclude *ex, const uint64_t *skip, uint32_t k, rs_rng *rng,
                          rs_scored *out)
{
    rs_topk tk;
    rs_topk_init(&tk, out, k);
    const double inv_t = 1.0 / temperature;
    for (uint32_t j = 0; j < n; j++) {
        uint32_t id = ids ? ids[j] : j;
        if (!isfinite(scores[j]) || (skip && (skip[id >> 6] >> (id & 63) & 1)) ||
            !rs_exclude_allows(ex, id))
            continue;
        float key = (float)(scores[j] * inv_t + gumbel(rng));
        if (rs_topk_would_enter(&tk, key, j)) rs_topk_push(&tk, key, j);
    }
    uint32_t got = rs_topk_sorted(&tk);
    for (uint32_t i = 0; i < got; i++) {
        uint32_t j = out[i].id;
        out[i] = (rs_scored){scores[j], ids ? ids[j] : j};
    }
    return got;
}

/* ------------------------------------------------------------------- midx */

static float half_norm(const float *v, uint32_t d)
{
    double s = 0;
    for (uint32_t j = 0; j < d; j++) s += (double)v[j] * v[j];
    return (float)sqrt(s);
}

/* The first index in cum[0..n) whose value exceeds x (cum ascending, x <
 * cum[n - 1]). */
static uint32_t search_cum(const double *cum, uint32_t n, double x)
{
    uint32_t lo = 0, hi = n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cum[mid] > x)
            hi = mid;
        else
            lo = mid + 1;
    }
    return lo;
}

/* The tail's proposal (midx_sample.h): per non-empty cell c = (k1, k2) the
 * bound b_c = min(s1[k1] + s2[k2] + ||u1|| r1(c) + ||u2|| r2(c) + margin,
 * cap) (the cell's own residual maxima, and no tail item scores above the
 * head's last score, cap) and the weight |c| exp((b_c - top) / T);
 * s->cell_cum holds the weights cumulated within each row, s->row_cum the
 * rows' totals cumulated, s->bound the bounds. Returns the total weight. */
static double tail_proposal(const rs_midx *idx, rs_midx_sampler *s, float u1n, float u2n,
                            double margin, double cap, double top, double inv_t)
{
    const uint32_t k = idx->k;
    double total = 0;
    for (uint32_t k1 = 0; k1 < k; k1++) {
        double row = 0;
        for (uint32_t c = idx->row_first[k1]; c < idx->row_first[k1 + 1]; c++) {
            const struct rs_midx_cell *cell = &idx->cells[c];
            double b = (double)s->s1[k1] + s->s2[idx->cell_k2[c]] + (double)u1n * cell->r1 +
                       (double)u2n * cell->r2 + margin;
            b = RS_MIN(b, cap);
            s->bound[c] = b;
            row += (double)(cell->end - cell->beg) * exp((b - top) * inv_t);
            s->cell_cum[c] = row;
        }
        total += row;
        s->row_cum[k1] = total;
    }
    return total;
}

/* The head: the exact top-M allowed items (rs_midx_search), their weights
 * exp((score - top) / T) in s->head_w, marked in s->inhead. Returns how many;
 * *cap receives the M-th score (-INFINITY when every allowed item is in the
 * head: no tail). */
static int find_head(const rs_midx *idx, rs_midx_sampler *s, const float *u, const rs_exclude *ex,
                     uint32_t m, uint32_t *n_head, double *cap, rs_error *err)
{
    rs_midx_query q = {.u = u, .top_n = m, .exclude = ex};
    if (rs_midx_search(idx, s->ms, &q, s->head, n_head, NULL, err) != 0) return -1;
    *cap = *n_head < m ? -INFINITY : (double)s->head[*n_head - 1].score;
    for (uint32_t i = 0; i < *n_head; i++) {
        uint32_t id = s->head[i].id;
        s->inhead[id >> 6] |= 1ull << (id & 63);
    }
    return 0;
}

int rs_midx_sample(const rs_midx *idx, rs_midx_sampler *s, const float *u, float temperature,
                   const rs_exclude *ex, uint32_t n, uint32_t head, uint64_t max_proposals,
                   rs_rng *rng, rs_scored *out, uint32_t *n_out, rs_sample_stats *stats,
                   rs_error *err)
{
    rs_sample_stats st = {0};
    *n_out = 0;
    if (stats) *stats = st;
    if (!idx || !s || s->k != idx->k || s->n != idx->n || s->n_nonempty != idx->n_nonempty)
        return rs_fail(err, "midx sampler: made for another index");
    if (!(temperature > 0) || !isfinite(temperature))
        return rs_fail_kind(err, RS_ERR_INVALID, "midx sampler: temperature must be positive");
    if (n == 0 || idx->n == 0) return 0;
    const uint32_t k = idx->k, d = idx->d;
    const double inv_t = 1.0 / temperature;
    float u1n = half_norm(u, idx->d1), u2n = half_norm(u + idx->d1, idx->d2);
    /* Scores and bounds differ by at most this much from rounding (midx.c). */
    double margin = (4.0 * d + 32.0) * ldexp(1.0, -24) * ((double)u1n + u2n) * idx->norm_bound;
    uint32_t m = RS_MIN(head ? head : RS_MAX(RS_SAMPLE_HEAD, 4 * n), s->head_cap), n_head;
    double cap;
    if (find_head(idx, s, u, ex, m, &n_head, &cap, err) != 0) return -1;
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)k, (int)idx->d1, 1.0f, idx->c1, (int)idx->d1, u,
                1, 0.0f, s->s1, 1);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)k, (int)idx->d2, 1.0f, idx->c2, (int)idx->d2,
                u + idx->d1, 1, 0.0f, s->s2, 1);
    double top = n_head ? (double)s->head[0].score : 0, head_total = 0;
    for (uint32_t i = 0; i < n_head; i++) {
        s->head_w[i] = exp(((double)s->head[i].score - top) * inv_t);
        head_total += s->head_w[i];
    }
    double tail_total = isinf(cap) ? 0 : tail_proposal(idx, s, u1n, u2n, margin, cap, top, inv_t);
    uint32_t got = 0;
    while (got < n && head_total + tail_total > 0 && st.proposals < max_proposals) {
        st.proposals++;
        double x = rs_rng_uniform(rng) * (head_total + tail_total);
        if (x < head_total) { /* a head item, by its exact weight: always accepted */
            uint32_t i = 0;
            for (double acc = s->head_w[0]; i + 1 < n_head && acc <= x; acc += s->head_w[++i]) {
            }
            if (s->head_w[i] == 0) continue; /* rounding reached a drawn one */
            head_total -= s->head_w[i];
            s->head_w[i] = 0;
            if (head_total < 0) head_total = 0;
            st.accepted++;
            out[got++] = s->head[i];
            s->drawn[s->head[i].id >> 6] |= 1ull << (s->head[i].id & 63);
            continue;
        }
        uint32_t k1 = search_cum(s->row_cum, k, rs_rng_uniform(rng) * tail_total);
        uint32_t c0 = idx->row_first[k1], c1 = idx->row_first[k1 + 1];
        if (c0 == c1) continue; /* an empty row has no weight; rounding got here */
        double row_total = s->cell_cum[c1 - 1];
        uint32_t c = c0 + search_cum(s->cell_cum + c0, c1 - c0, rs_rng_uniform(rng) * row_total);
        const struct rs_midx_cell *cell = &idx->cells[c];
        uint32_t p = cell->beg + (uint32_t)rs_rng_below(rng, cell->end - cell->beg);
        uint32_t id = idx->ids[p];
        if ((s->inhead[id >> 6] >> (id & 63) & 1) || (s->drawn[id >> 6] >> (id & 63) & 1) ||
            !rs_exclude_allows(ex, id))
            continue;
        /* A first test on the item's own residual norms (no inner product),
         * then on its score: the product is exp((score - bound) / T). */
        double own = (double)s->s1[k1] + s->s2[idx->cell_k2[c]] + (double)u1n * idx->res1[p] +
                     (double)u2n * idx->res2[p] + margin;
        own = RS_MIN(own, cap);
        if (rs_rng_uniform(rng) >= exp((own - s->bound[c]) * inv_t)) continue;
        float sc = rs_midx_dot(u, idx->vectors + (size_t)p * d, d);
        if (!isfinite(sc) || rs_rng_uniform(rng) >= exp(((double)sc - own) * inv_t)) continue;
        st.accepted++;
        s->drawn[id >> 6] |= 1ull << (id & 63);
        out[got++] = (rs_scored){sc, id};
    }
    for (uint32_t i = 0; i < n_head; i++) s->inhead[s->head[i].id >> 6] = 0;
    if (got < n) { /* the exact pass over every item draws the rest */
        st.fallback = 1;
        cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)idx->n, (int)d, 1.0f, idx->vectors, (int)d, u,
                    1, 0.0f, s->scores, 1);
        uint32_t more = rs_sample_gumbel(s->scores, idx->ids, idx->n, temperature, ex, s->drawn,
                                         n - got, rng, out + got);
        for (uint32_t i = got; i < got + more; i++) /* the kernel's score bits, as drawn above */
            out[i].score = rs_midx_dot(u, idx->vectors + (size_t)idx->pos[out[i].id] * d, d);
        got += more;
    }
    for (uint32_t i = 0; i < got; i++) s->drawn[out[i].id >> 6] &= ~(1ull << (out[i].id & 63));
    *n_out = got;
    if (stats) *stats = st;
    return 0;
}
