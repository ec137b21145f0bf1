/* test_prorec.c - ProRec (trainer/prorec.h): the streaming matching against
 * a dense double computation of the closed forms, the split against a
 * brute-force search over every split point, the relabelling formula, and
 * weighted training with every weight 1 against unweighted training, bit
 * for bit, for each family that accepts weights. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "family.h"
#include "prorec.h"
#include "random_csr.h"
#include "rng.h"

/* Scores of a dense users x items matrix, row by row. */
typedef struct dense_scores {
    const float *s;
    uint32_t n_items;
} dense_scores;

static int dense_score(void *ctx, const uint32_t *users, int size, float *scores, rs_error *err)
{
    (void)err;
    const dense_scores *d = ctx;
    for (int r = 0; r < size; r++)
        memcpy(scores + (size_t)r * d->n_items, d->s + (size_t)users[r] * d->n_items,
               d->n_items * sizeof(float));
    return 0;
}

/* log ρ of every entry of m from the closed forms over the dense matrix,
 * in double: πV = q_u softmax_i(S/γ), πU = p_i softmax_u(S/γ), π = max,
 * normalised over the user's observed items. */
static double *dense_log_rho(const rs_csr *m, const float *s, double gamma)
{
    uint32_t U = m->n_rows, M = m->n_cols;
    double nnz = (double)rs_csr_nnz(m), *e = malloc(sizeof(double) * U * M);
    double *row = calloc(U, sizeof(double)), *col = calloc(M, sizeof(double));
    double *p = calloc(M, sizeof(double)), *out = malloc(sizeof(double) * rs_csr_nnz(m));
    for (uint64_t k = 0; k < rs_csr_nnz(m); k++) p[m->indices[k]] += 1.0 / nnz;
    for (uint32_t u = 0; u < U; u++)
        for (uint32_t i = 0; i < M; i++) {
            e[(size_t)u * M + i] = exp((double)s[(size_t)u * M + i] / gamma);
            row[u] += e[(size_t)u * M + i];
            col[i] += e[(size_t)u * M + i];
        }
    for (uint32_t u = 0; u < U; u++) {
        double q = rs_csr_row_len(m, u) / nnz, total = 0.0;
        for (uint64_t k = m->indptr[u]; k < m->indptr[u + 1]; k++) {
            uint32_t i = m->indices[k];
            double v = q * e[(size_t)u * M + i] / row[u], w = p[i] * e[(size_t)u * M + i] / col[i];
            out[k] = v > w ? v : w;
            total += out[k];
        }
        for (uint64_t k = m->indptr[u]; k < m->indptr[u + 1]; k++) out[k] = log(out[k] / total);
    }
    free(e), free(row), free(col), free(p);
    return out;
}

/* _i selects γ: 0.5 or the paper's 0.1 (exp(S/γ) up to e^60 here). */
START_TEST(test_streaming_matching_equals_dense)
{
    const uint32_t U = 13, M = 9;
    double gamma = _i ? 0.1 : 0.5;
    rs_csr m = {0};
    random_csr(U, M, 0.3, 5 + (uint64_t)_i, &m);
    float *s = malloc(sizeof(float) * U * M);
    rs_rng rng;
    rs_rng_seed(&rng, 17);
    for (uint32_t k = 0; k < U * M; k++) s[k] = (float)(2.0 * rs_rng_normal(&rng));
    double *expected = dense_log_rho(&m, s, gamma);
    uint64_t nnz = rs_csr_nnz(&m);
    double *got = malloc(sizeof(double) * nnz);
    dense_scores ctx = {s, M};
    const int blocks[] = {1, 4, (int)U, 100};
    for (size_t b = 0; b < sizeof(blocks) / sizeof(blocks[0]); b++) {
        rs_error err;
        ck_assert_msg(rs_prorec_matching(&m, gamma, blocks[b], dense_score, &ctx, got, &err) == 0,
                      "%s", err.msg);
        for (uint64_t k = 0; k < nnz; k++)
            ck_assert_msg(fabs(got[k] - expected[k]) < 1e-9 * fmax(1.0, fabs(expected[k])),
                          "block %d entry %llu: log rho %.12g, dense %.12g", blocks[b],
                          (unsigned long long)k, got[k], expected[k]);
    }
    free(s), free(expected), free(got);
    rs_csr_free(&m);
}
END_TEST

/* Σ (v - mean)² over v[0..n), computed directly. */
static double sse(const double *v, uint32_t n)
{
    double mean = 0.0, s = 0.0;
    for (uint32_t j = 0; j < n; j++) mean += v[j] / n;
    for (uint32_t j = 0; j < n; j++) s += (v[j] - mean) * (v[j] - mean);
    return s;
}

static int descending(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

START_TEST(test_split_equals_brute_force)
{
    rs_rng rng;
    rs_rng_seed(&rng, 99);
    double v[64];
    for (int trial = 0; trial < 2000; trial++) {
        uint32_t n = 2 + (uint32_t)(rs_rng_uniform(&rng) * 60);
        /* Uniform, or heavy-tailed like a peaked matching. */
        for (uint32_t j = 0; j < n; j++) {
            double x = rs_rng_uniform(&rng);
            v[j] = trial % 2 ? x : exp(8.0 * x);
        }
        qsort(v, n, sizeof(double), descending);
        uint32_t best = 0;
        double best_sse = INFINITY;
        for (uint32_t eta = 1; eta < n; eta++) {
            double e = sse(v, eta) + sse(v + eta, n - eta);
            if (e < best_sse) best_sse = e, best = eta;
        }
        ck_assert_msg(rs_prorec_split(v, n) == best, "trial %d, n %u: split %u, brute force %u",
                      trial, n, rs_prorec_split(v, n), best);
    }
    double one = 0.5;
    ck_assert_uint_eq(rs_prorec_split(&one, 1), 1);
}
END_TEST

/* One user, ρ = (0.6, 0.3, 0.1) in item order 2, 0, 1: the split keeps the
 * top item; the others are flagged and relabelled by the sigmoid. */
START_TEST(test_relabel_formula)
{
    uint64_t indptr[] = {0, 3};
    uint32_t indices[] = {0, 1, 2};
    rs_csr m = {1, 3, indptr, indices, NULL};
    double rho[] = {0.3, 0.1, 0.6}, log_rho[3];
    for (int k = 0; k < 3; k++) log_rho[k] = log(rho[k]);
    float w[] = {1.0f, 1.0f, 0.5f};
    uint8_t flagged[3];
    rs_prorec_options o;
    rs_prorec_options_default(&o);
    ck_assert_int_eq(o.log_domain, 1); /* the default split domain is log ρ */
    o.log_domain = 0;
    rs_error err;
    ck_assert_int_eq(rs_prorec_relabel(&m, log_rho, &o, w, flagged, &err), 2);
    /* SSE: top {0.6} | {0.3, 0.1} = 0.02 against {0.6, 0.3} | {0.1} = 0.045. */
    const double threshold = 0.6, old[] = {1.0, 1.0, 0.5};
    for (int k = 0; k < 3; k++) {
        double r = 1.0 / (1.0 + exp(-20.0 * (rho[k] - threshold)));
        ck_assert_msg(fabs(w[k] - (0.5 * old[k] + 0.5 * r * old[k])) < 1e-6, "entry %d: %g", k,
                      (double)w[k]);
        ck_assert_int_eq(flagged[k], k != 2);
    }
    /* The log domain splits log ρ: {log 0.6, log 0.3} | {log 0.1}. */
    o.log_domain = 1;
    ck_assert_int_eq(rs_prorec_relabel(&m, log_rho, &o, w, flagged, &err), 1);
    ck_assert_int_eq(flagged[1], 1);
}
END_TEST

/* One user with 20 well-fitted items (scores spread over 0.5..0.9) and 3
 * poorly fitted ones (0, 0.05, 0.1), ρ ∝ exp(S / 0.1) as a peaked matching
 * gives it: the log split flags exactly the 3, ρ's split also flags most of
 * the well-fitted items (why log is the default). */
START_TEST(test_log_split_separates_planted_tail)
{
    enum { CLEAN = 20, NOISE = 3, N = CLEAN + NOISE };
    uint64_t indptr[] = {0, N};
    uint32_t indices[N];
    double log_rho[N], norm = 0.0;
    for (uint32_t k = 0; k < N; k++) {
        indices[k] = k;
        /* the noisy items interleaved with the clean ones, every 7th entry */
        uint32_t c = k / 7 + k;
        double s = k % 7 == 3 && k / 7 < NOISE ? 0.05 * (double)(k / 7) : 0.5 + 0.4 * c / N;
        log_rho[k] = s / 0.1;
        norm += exp(log_rho[k]);
    }
    for (uint32_t k = 0; k < N; k++) log_rho[k] -= log(norm);
    rs_csr m = {1, N, indptr, indices, NULL};
    float w[N];
    uint8_t flagged[N];
    rs_prorec_options o;
    rs_prorec_options_default(&o);
    rs_error err;
    for (int domain = 1; domain >= 0; domain--) {
        o.log_domain = domain;
        for (uint32_t k = 0; k < N; k++) w[k] = 1.0f;
        int64_t n = rs_prorec_relabel(&m, log_rho, &o, w, flagged, &err);
        uint32_t noise_flagged = 0, clean_flagged = 0;
        for (uint32_t k = 0; k < N; k++) {
            int noise = k % 7 == 3 && k / 7 < NOISE;
            noise_flagged += noise && flagged[k];
            clean_flagged += !noise && flagged[k];
        }
        ck_assert_int_eq(n, noise_flagged + clean_flagged);
        ck_assert_uint_eq(noise_flagged, NOISE);
        if (domain)
            ck_assert_uint_eq(clean_flagged, 0);
        else
            ck_assert_msg(clean_flagged >= CLEAN / 2, "rho split flagged %u clean", clean_flagged);
    }
}
END_TEST

/* The parameters after `epochs` epochs of the family name (options set)
 * on m, through the spine's callbacks with the spine's epoch streams. */
static float *train_params(const char *name, const char *const (*set)[2], int n_set,
                           const rs_csr *m, int epochs, size_t *n_floats)
{
    const rs_family *f = rs_family_find(name);
    ck_assert_ptr_nonnull(f);
    void *o = calloc(1, f->options_size);
    f->options_default(o);
    for (int i = 0; i < n_set; i++)
        ck_assert_int_eq(rs_option_apply(rs_family_option(f, set[i][0]), set[i][1], o), 0);
    float *pop = calloc(m->n_cols, sizeof(float));
    for (uint64_t p = 0; p < rs_csr_nnz(m); p++) pop[m->indices[p]] += 1.0f;
    rs_family_inputs in = {m->n_cols, pop, 7, m->n_rows, m};
    rs_train_model model;
    rs_error err;
    ck_assert_msg(f->create(o, &in, &model, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(model.weighted, 1);
    uint32_t *users = malloc(sizeof(uint32_t) * m->n_rows);
    for (uint32_t u = 0; u < m->n_rows; u++) users[u] = u;
    rs_rng root;
    rs_rng_seed(&root, 3);
    for (int e = 1; e <= epochs; e++) {
        rs_rng epoch_rng;
        rs_rng_split(&root, (uint64_t)e, &epoch_rng);
        if (model.begin_epoch)
            ck_assert_msg(model.begin_epoch(model.self, e, &epoch_rng, &err) == 0, "%s", err.msg);
        for (uint32_t s = 0; s < m->n_rows; s += (uint32_t)model.batch_capacity) {
            int size = (int)RS_MIN((uint32_t)model.batch_capacity, m->n_rows - s);
            rs_train_batch b = {m, users + s, size, 0.1f, &epoch_rng};
            rs_step_stats stats;
            ck_assert_msg(model.train_batch(model.self, &b, &stats, &err) == 0, "%s", err.msg);
        }
    }
    *n_floats = model.params->n_floats;
    float *out = malloc(sizeof(float) * *n_floats);
    memcpy(out, model.params->block, sizeof(float) * *n_floats);
    model.free(model.self);
    free(users), free(pop), free(o);
    return out;
}

/* _i: vae, fastvae (sampled softmax), fastvae (full softmax), ials. */
START_TEST(test_unit_weights_train_bit_exactly)
{
    static const char *const vae[][2] = {{"hidden", "16"}, {"latent", "4"}, {"batch", "8"}};
    static const char *const fastvae[][2] = {
        {"hidden", "16"}, {"latent", "4"}, {"batch", "8"}, {"samples", "10"}, {"sampler", "pop"}};
    static const char *const fastvae_full[][2] = {
        {"hidden", "16"}, {"latent", "4"}, {"batch", "8"}, {"sampler", "full"}};
    static const char *const ials[][2] = {{"factors", "6"}, {"reg", "0.05"}};
    const struct {
        const char *name;
        const char *const (*set)[2];
        int n;
    } cases[] = {
        {"vae", vae, 3}, {"fastvae", fastvae, 5}, {"fastvae", fastvae_full, 4}, {"ials", ials, 2}};
    rs_csr binary = {0};
    random_csr(30, 20, 0.2, 41, &binary);
    rs_csr weighted = binary;
    weighted.values = malloc(sizeof(float) * rs_csr_nnz(&binary));
    for (uint64_t p = 0; p < rs_csr_nnz(&binary); p++) weighted.values[p] = 1.0f;
    size_t n0, n1;
    float *a = train_params(cases[_i].name, cases[_i].set, cases[_i].n, &binary, 3, &n0);
    float *b = train_params(cases[_i].name, cases[_i].set, cases[_i].n, &weighted, 3, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert_msg(memcmp(a, b, sizeof(float) * n0) == 0, "%s: weight-1 training differs",
                  cases[_i].name);
    /* And the weights do matter: halving one user's labels changes the fit. */
    for (uint64_t p = binary.indptr[0]; p < binary.indptr[1]; p++) weighted.values[p] = 0.5f;
    float *c = train_params(cases[_i].name, cases[_i].set, cases[_i].n, &weighted, 3, &n1);
    ck_assert_msg(memcmp(a, c, sizeof(float) * n0) != 0, "%s ignores the weights", cases[_i].name);
    free(a), free(b), free(c), free(weighted.values);
    rs_csr_free(&binary);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prorec");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_streaming_matching_equals_dense, 0, 2);
    tcase_add_test(tc, test_split_equals_brute_force);
    tcase_add_test(tc, test_relabel_formula);
    tcase_add_test(tc, test_log_split_separates_planted_tail);
    tcase_add_loop_test(tc, test_unit_weights_train_bit_exactly, 0, 4);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
