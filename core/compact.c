/* compact.c - int8 item codes, rounded queries and the exact bounded scan
 * (see compact.h for the bound).
 *
 * Rounding. Every norm is summed in double and rounded up to float, then
 * widened by RELATIVE_PAD, which covers the few float operations behind an
 * estimate and a slack (a product of three floats, a conversion from int32,
 * a sum of two): each is within 2^-24 relative, far below the pad. The
 * caller's margin covers what lies outside the real identity of compact.h:
 * the difference between its kernel's float score and the real u . v_i.
 */
#include "compact.h"

#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "linalg.h"
#include "midx.h"

#define RELATIVE_PAD (1.0 + 1e-5)

/* sqrt(s) rounded up to float, widened by RELATIVE_PAD. */
static float norm_up(double s)
{
    double r = sqrt(s) * RELATIVE_PAD;
    float f = (float)r;
    if ((double)f < r) f = nextafterf(f, INFINITY);
    return f;
}

/* The integer dot product, exact in int32 (so every kernel gives the same
 * value): a plain loop, and on x86-64 CPUs with AVX2 one vpmaddwd per 16
 * dimensions (the compiler does not find it in the loop at -O2). The
 * kernel is picked when the codes are built and kept in the rs_compact. */
static int32_t idot_plain(const int16_t *p, const int8_t *code, uint32_t stride)
{
    int32_t acc = 0;
    for (uint32_t j = 0; j < stride; j++) acc += (int32_t)p[j] * (int32_t)code[j];
    return acc;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_IDOT_AVX2 1

__attribute__((target("avx2"))) static int32_t idot_avx2(const int16_t *p, const int8_t *code,
                                                         uint32_t stride)
{
    __m256i acc0 = _mm256_setzero_si256(), acc1 = _mm256_setzero_si256();
    for (uint32_t j = 0; j < stride; j += 32) { /* stride is a multiple of 32 */
        __m256i c0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(code + j)));
        __m256i c1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(code + j + 16)));
        __m256i p0 = _mm256_loadu_si256((const __m256i *)(p + j));
        __m256i p1 = _mm256_loadu_si256((const __m256i *)(p + j + 16));
        acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(c0, p0));
        acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(c1, p1));
    }
    __m256i acc = _mm256_add_epi32(acc0, acc1);
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
    return _mm_cvtsi128_si32(s);
}
#endif

/* Estimates and upper bounds of rows [i0, i0 + count). */
static void rows_plain(const rs_compact *c, const rs_compact_query *q, uint32_t i0, uint32_t count,
                       float *est, float *ub)
{
    const int8_t *row = c->codes + (size_t)i0 * c->stride;
    for (uint32_t k = 0; k < count; k++, row += c->stride) {
        est[k] = c->scale[i0 + k] * q->step * (float)idot_plain(q->p, row, c->stride);
        ub[k] = est[k] + (q->u_norm * c->err[i0 + k] + q->fixed);
    }
}

#ifdef HAVE_IDOT_AVX2
/* Eight rows at a time: eight accumulators reduced together, converted and
 * scaled as one vector (the same float operations as rows_plain, lane by
 * lane, so the values are identical). */
__attribute__((target("avx2"))) static void rows_avx2(const rs_compact *c,
                                                      const rs_compact_query *q, uint32_t i0,
                                                      uint32_t count, float *est, float *ub)
{
    const uint32_t stride = c->stride;
    const int8_t *base = c->codes + (size_t)i0 * stride;
    uint32_t k = 0;
    const __m256 step = _mm256_set1_ps(q->step), u_norm = _mm256_set1_ps(q->u_norm),
                 fixed = _mm256_set1_ps(q->fixed);
    for (; k + 8 <= count; k += 8) {
        __m256i acc[8];
        for (int r = 0; r < 8; r++) acc[r] = _mm256_setzero_si256();
        for (uint32_t j = 0; j < stride; j += 16) {
            __m256i pj = _mm256_loadu_si256((const __m256i *)(q->p + j));
            for (int r = 0; r < 8; r++) {
                const int8_t *row = base + (size_t)(k + r) * stride + j;
                __m256i cj = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)row));
                acc[r] = _mm256_add_epi32(acc[r], _mm256_madd_epi16(cj, pj));
            }
        }
        __m256i s01 = _mm256_hadd_epi32(acc[0], acc[1]), s23 = _mm256_hadd_epi32(acc[2], acc[3]);
        __m256i s45 = _mm256_hadd_epi32(acc[4], acc[5]), s67 = _mm256_hadd_epi32(acc[6], acc[7]);
        __m256i t0 = _mm256_hadd_epi32(s01, s23), t1 = _mm256_hadd_epi32(s45, s67);
        __m256i dots = _mm256_add_epi32(_mm256_permute2x128_si256(t0, t1, 0x20),
                                        _mm256_permute2x128_si256(t0, t1, 0x31));
        __m256 scale = _mm256_loadu_ps(c->scale + i0 + k);
        __m256 e = _mm256_mul_ps(_mm256_mul_ps(scale, step), _mm256_cvtepi32_ps(dots));
        __m256 slack =
            _mm256_add_ps(_mm256_mul_ps(u_norm, _mm256_loadu_ps(c->err + i0 + k)), fixed);
        _mm256_storeu_ps(est + k, e);
        _mm256_storeu_ps(ub + k, _mm256_add_ps(e, slack));
    }
    if (k < count) rows_plain(c, q, i0 + k, count - k, est + k, ub + k);
}
#endif

/* The fastest exact kernels this CPU runs. */
static void pick_kernels(rs_compact *c)
{
    c->idot = idot_plain;
    c->rows = rows_plain;
#ifdef HAVE_IDOT_AVX2
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2")) c->idot = idot_avx2, c->rows = rows_avx2;
#endif
}

int32_t rs_compact_idot(const int16_t *p, const int8_t *code, uint32_t stride)
{
    return idot_plain(p, code, stride);
}

/* Codes, scale and error bound of one row; returns ||s c||^2 and sets *v2 to
 * ||v||^2 (0 for a row that is not finite). */
static double encode_row(const float *v, uint32_t d, int8_t *code, float *scale_out, float *err_out,
                         double *v2)
{
    *v2 = 0;
    float most = 0;
    int finite = 1;
    for (uint32_t j = 0; j < d; j++) {
        finite &= isfinite(v[j]) != 0;
        most = fmaxf(most, fabsf(v[j]));
    }
    if (!finite || most == 0) { /* codes stay zero */
        *scale_out = 0;
        *err_out = finite ? 0.0f : INFINITY;
        return 0;
    }
    float scale = most / RS_COMPACT_LEVELS;
    if (!(scale > 0)) scale = most; /* subnormal: one level per unit of `most` */
    double err2 = 0, code2 = 0;
    for (uint32_t j = 0; j < d; j++) {
        long q = lrintf(v[j] / scale);
        q = RS_MAX(-RS_COMPACT_LEVELS, RS_MIN(RS_COMPACT_LEVELS, q));
        code[j] = (int8_t)q;
        double approx = (double)scale * (double)q; /* exact: 24 x 8 bits */
        double e = (double)v[j] - approx;
        err2 += e * e;
        code2 += approx * approx;
        *v2 += (double)v[j] * v[j];
    }
    *scale_out = scale;
    *err_out = err2 > 0 ? norm_up(err2) : 0.0f;
    return code2;
}

/* The head basis: the RS_COMPACT_HEAD_DIM leading eigenvectors of the
 * second-moment matrix of up to HEAD_SAMPLE rows (any basis keeps answers
 * exact; the sample only has to be representative). */
#define HEAD_SAMPLE 65536

static float *head_basis(const float *v, uint32_t n, uint32_t d, rs_error *err)
{
    uint32_t step = n > HEAD_SAMPLE ? n / HEAD_SAMPLE : 1, m = n / step;
    float *rows = rs_malloc((size_t)m * d, sizeof(float), err);
    float *gram = rows ? rs_malloc((size_t)d * d, sizeof(float), err) : NULL;
    float *values = gram ? rs_malloc(d, sizeof(float), err) : NULL;
    float *basis = values ? rs_malloc((size_t)RS_COMPACT_HEAD_DIM * d, sizeof(float), err) : NULL;
    int ok = basis != NULL;
    for (uint32_t i = 0; ok && i < m; i++) {
        const float *row = v + (size_t)i * step * d;
        for (uint32_t j = 0; j < d; j++) rows[(size_t)i * d + j] = isfinite(row[j]) ? row[j] : 0;
    }
    if (ok) {
        rs_gram(rows, m, d, gram);
        ok = rs_symmetric_eigen(gram, d, values, err) == 0;
    }
    for (uint32_t r = 0; ok && r < RS_COMPACT_HEAD_DIM; r++) /* largest first */
        memcpy(basis + (size_t)r * d, gram + (size_t)(d - 1 - r) * d, sizeof(float) * d);
    free(values);
    free(gram);
    free(rows);
    if (!ok) {
        free(basis);
        return NULL;
    }
    return basis;
}

/* Projects every row on the basis, codes the projections and folds each
 * row's projection residual into its code error (compact.h). */
static int build_head(rs_compact *c, const float *v, rs_error *err)
{
    const uint32_t n = c->n, d = c->d, r = RS_COMPACT_HEAD_DIM;
    enum { BLOCK = 4096 };
    struct rs_compact_head *h = &c->head;
    h->basis = head_basis(v, n, d, err);
    float *proj = h->basis ? rs_malloc((size_t)n * r, sizeof(float), err) : NULL;
    float *back = proj ? rs_malloc((size_t)BLOCK * d, sizeof(float), err) : NULL;
    h->codes = back ? rs_calloc(1, sizeof(rs_compact), err) : NULL;
    int ok = h->codes != NULL;
    double rows2 = 0, a2_max = 0;
    for (uint32_t k = 0; ok && k < r; k++) {
        double s = 0;
        for (uint32_t j = 0; j < d; j++) s += (double)h->basis[k * d + j] * h->basis[k * d + j];
        rows2 = RS_MAX(rows2, s);
    }
    if (ok) /* a_i = B v_i for every row */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)r, (int)d, 1.0f, v,
                    (int)d, h->basis, (int)d, 0.0f, proj, (int)r);
    ok = ok && rs_compact_build(proj, n, r, 0, h->codes, err) == 0;
    if (ok) h->row_norm_max = norm_up(rows2);
    for (uint32_t i0 = 0; ok && i0 < n; i0 += BLOCK) {
        uint32_t count = RS_MIN((uint32_t)BLOCK, n - i0);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)count, (int)d, (int)r, 1.0f,
                    proj + (size_t)i0 * r, (int)r, h->basis, (int)d, 0.0f, back, (int)d);
        for (uint32_t k = 0; k < count; k++) {
            uint32_t i = i0 + k;
            double e2 = 0, a2 = 0;
            for (uint32_t j = 0; j < d; j++) {
                double e = (double)v[(size_t)i * d + j] - back[(size_t)k * d + j];
                e2 += e * e;
            }
            for (uint32_t j = 0; j < r; j++)
                a2 += (double)proj[(size_t)i * r + j] * proj[(size_t)i * r + j];
            a2_max = isfinite(a2) ? RS_MAX(a2_max, a2) : a2_max;
            /* back is a float product of r terms: its rounding, at most
             * (r + 2) 2^-24 ||a_i|| ||B row|| per coordinate, is added. */
            double pad = (r + 2.0) * ldexp(1.0, -24) * sqrt(a2) * h->row_norm_max * sqrt((double)d);
            double total = (double)h->codes->err[i] + norm_up(e2) + pad;
            float f = (float)(total * RELATIVE_PAD);
            if ((double)f < total) f = nextafterf(f, INFINITY);
            h->codes->err[i] = isfinite(e2) && isfinite(a2) ? f : INFINITY;
        }
    }
    if (ok) h->a_norm_max = norm_up(a2_max);
    free(back);
    free(proj);
    return ok ? 0 : -1;
}

int rs_compact_build(const float *v, uint32_t n, uint32_t d, int with_head, rs_compact *c,
                     rs_error *err)
{
    memset(c, 0, sizeof(*c));
    if (!v || n == 0 || d == 0) return rs_fail(err, "compact codes: empty matrix (%u x %u)", n, d);
    uint32_t stride = (d + RS_COMPACT_ALIGN - 1) / RS_COMPACT_ALIGN * RS_COMPACT_ALIGN;
    /* |p . c| <= stride * levels * 127 must stay inside int32. */
    uint64_t levels = (uint64_t)INT32_MAX / ((uint64_t)stride * RS_COMPACT_LEVELS);
    if (levels < 1023)
        return rs_fail(err, "compact codes: dimension %u is too large for int32 sums", d);
    pick_kernels(c);
    c->query_levels = (int16_t)RS_MIN(levels, (uint64_t)INT16_MAX);
    c->n = n;
    c->d = d;
    c->stride = stride;
    c->codes = rs_aligned_alloc((size_t)n * stride, 1, err);
    c->scale = c->codes ? rs_malloc(n, sizeof(float), err) : NULL;
    c->err = c->scale ? rs_malloc(n, sizeof(float), err) : NULL;
    if (!c->err) {
        rs_compact_free(c);
        return rs_error_prefix(err, "compact codes");
    }
    memset(c->codes, 0, (size_t)n * stride);
    double code2_max = 0, v2_max = 0;
    for (uint32_t i = 0; i < n; i++) {
        double v2, code2 = encode_row(v + (size_t)i * d, d, c->codes + (size_t)i * stride,
                                      &c->scale[i], &c->err[i], &v2);
        code2_max = RS_MAX(code2_max, code2);
        v2_max = RS_MAX(v2_max, v2);
    }
    c->code_norm_max = norm_up(code2_max);
    c->norm_max = norm_up(v2_max);
    if (with_head && d >= RS_COMPACT_HEAD_MIN_DIM && n >= 4 * RS_COMPACT_HEAD_DIM &&
        build_head(c, v, err) != 0) {
        rs_compact_free(c);
        return rs_error_prefix(err, "compact codes, head stage");
    }
    return 0;
}

void rs_compact_free(rs_compact *c)
{
    if (!c) return;
    if (c->head.codes) rs_compact_free(c->head.codes);
    free(c->head.codes);
    free(c->head.basis);
    free(c->codes);
    free(c->scale);
    free(c->err);
    memset(c, 0, sizeof(*c));
}

size_t rs_compact_bytes(const rs_compact *c)
{
    size_t bytes = (size_t)c->n * (c->stride + 2 * sizeof(float));
    if (c->head.codes)
        bytes += rs_compact_bytes(c->head.codes) + sizeof(float) * RS_COMPACT_HEAD_DIM * c->d;
    return bytes;
}

/* Scratch layout: the main query's int16 codes, then for a head stage its
 * rs_compact_query, B u (floats) and its codes. */
size_t rs_compact_scratch_bytes(const rs_compact *c)
{
    size_t bytes = (size_t)c->stride * sizeof(int16_t);
    if (c->head.codes)
        bytes +=
            sizeof(rs_compact_query) + RS_COMPACT_HEAD_DIM * (sizeof(float) + sizeof(int16_t)) + 16;
    return bytes;
}

static int query_plain(const rs_compact *c, const float *u, float margin, int16_t *p,
                       rs_compact_query *q, rs_error *err)
{
    float most = 0;
    double u2 = 0;
    for (uint32_t j = 0; j < c->d; j++) {
        if (!isfinite(u[j])) return rs_fail(err, "compact codes: the query is not finite");
        most = fmaxf(most, fabsf(u[j]));
        u2 += (double)u[j] * u[j];
    }
    memset(p, 0, c->stride * sizeof(int16_t));
    float step = most / c->query_levels;
    if (most > 0 && !(step > 0)) step = most; /* subnormal query */
    double f2 = 0;
    for (uint32_t j = 0; most > 0 && j < c->d; j++) {
        long r = lrintf(u[j] / step);
        r = RS_MAX(-(long)c->query_levels, RS_MIN((long)c->query_levels, r));
        p[j] = (int16_t)r;
        double e = (double)u[j] - (double)step * (double)r;
        f2 += e * e;
    }
    float f_norm = f2 > 0 ? norm_up(f2) : 0.0f;
    *q = (rs_compact_query){.p = p,
                            .step = step,
                            .u_norm = norm_up(u2),
                            .fixed = (float)((double)f_norm * c->code_norm_max * RELATIVE_PAD +
                                             (double)margin * RELATIVE_PAD),
                            .head = NULL};
    /* Past this, a float32 score could overflow and the bounds say nothing. */
    if (!isfinite(q->fixed) || (double)q->u_norm * c->norm_max > 0.25 * FLT_MAX)
        return rs_fail(err, "compact codes: the query is too large");
    return 0;
}

int rs_compact_query_init(const rs_compact *c, const float *u, float margin, void *scratch,
                          rs_compact_query *q, rs_error *err)
{
    char *at = scratch;
    if (query_plain(c, u, margin, (int16_t *)(void *)at, q, err) != 0) return -1;
    if (!c->head.codes) return 0;
    const struct rs_compact_head *h = &c->head;
    const uint32_t r = RS_COMPACT_HEAD_DIM, d = c->d;
    at += (size_t)c->stride * sizeof(int16_t);
    at += (uintptr_t)at % 16 ? 16 - (uintptr_t)at % 16 : 0;
    rs_compact_query *hq = (rs_compact_query *)(void *)at;
    float *b = (float *)(void *)(at + sizeof(*hq));
    int16_t *hp = (int16_t *)(void *)(b + r);
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)r, (int)d, 1.0f, h->basis, (int)d, u, 1, 0.0f, b,
                1);
    /* ||B u - fl(B u)|| <= sqrt(r) (d + 2) 2^-24 max ||B row|| ||u||, times
     * max ||a_i|| in the bound. */
    double drift =
        sqrt((double)r) * (d + 2.0) * ldexp(1.0, -24) * h->row_norm_max * q->u_norm * h->a_norm_max;
    if (query_plain(h->codes, b, (float)((double)margin + drift * RELATIVE_PAD), hp, hq, err) != 0)
        return -1;
    /* err_i holds the code error of a_i (scaled by ||B u||) plus the
     * projection residual (scaled by ||u||): scale both by the larger. */
    hq->u_norm = fmaxf(hq->u_norm, q->u_norm);
    q->head = hq;
    return 0;
}

#define SCAN_BLOCK 256

int rs_compact_topn(const rs_compact *c, const float *vectors, const float *u, float margin,
                    uint32_t top_n, const rs_exclude *ex, uint32_t *cand, void *scratch,
                    rs_scored *out, uint32_t *n_out, rs_compact_stats *stats, rs_error *err)
{
    if (!c || !c->codes || !vectors || !u || !cand || !scratch || !n_out || (top_n && !out))
        return rs_fail(err, "compact scan: bad argument");
    if (rs_exclude_check(ex, err) != 0) return -1;
    *n_out = 0;
    if (stats) stats->rescored = 0;
    if (top_n == 0) return 0;
    rs_compact_query q;
    if (rs_compact_query_init(c, u, margin, scratch, &q, err) != 0) return -1;

    /* One pass: the N best lower bounds so far give a floor that only
     * rises; an item whose upper bound is below it is beaten by N items for
     * certain, the others are kept as candidates. */
    rs_topk tk;
    rs_topk_init(&tk, out, top_n);
    float floor_lb = -INFINITY;
    uint32_t n_cand = 0;
    float est[SCAN_BLOCK], ub[SCAN_BLOCK];
    const rs_compact *h = c->head.codes;
    for (uint32_t i0 = 0; i0 < c->n; i0 += SCAN_BLOCK) {
        uint32_t count = RS_MIN(SCAN_BLOCK, c->n - i0);
        if (h) /* the head's bounds first, the full codes for what passes */
            h->rows(h, q.head, i0, count, est, ub);
        else
            c->rows(c, &q, i0, count, est, ub);
        for (uint32_t k = 0; k < count; k++) {
            uint32_t i = i0 + k;
            if (ub[k] < floor_lb || rs_exclude_disallowed(ex, i)) continue;
            if (h) {
                est[k] = rs_compact_estimate(c, &q, i);
                ub[k] = est[k] + rs_compact_slack(c, &q, i);
                if (ub[k] < floor_lb) continue;
            }
            if (!rs_exclude_allows(ex, i)) continue;
            cand[n_cand++] = i;
            float lb = est[k] - (ub[k] - est[k]);
            if (lb > -INFINITY && rs_topk_would_enter(&tk, lb, i)) {
                rs_topk_push(&tk, lb, i);
                floor_lb = rs_topk_threshold(&tk);
            }
        }
    }
    /* Rescore in float32 the candidates whose upper bound reaches the final
     * floor. */
    uint32_t rescored = 0;
    rs_topk_init(&tk, out, top_n);
    for (uint32_t k = 0; k < n_cand; k++) {
        uint32_t i = cand[k];
        float e = rs_compact_estimate(c, &q, i);
        if (e + rs_compact_slack(c, &q, i) < floor_lb) continue;
        float sc = rs_midx_dot(u, vectors + (size_t)i * c->d, c->d);
        rescored++;
        if (isfinite(sc) && rs_topk_would_enter(&tk, sc, i)) rs_topk_push(&tk, sc, i);
    }
    *n_out = rs_topk_sorted(&tk);
    if (stats) stats->rescored = rescored;
    return 0;
}
