/* params.c - parameter tensors from one table (see params.h). */
#include "params.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int rowgrad_init(rs_rowgrad *g, uint32_t n_rows, uint32_t width, rs_error *err)
{
    g->width = width;
    g->n = 0;
    g->n_table = n_rows;
    g->cap = RS_MIN(n_rows, 1024u);
    if (!(g->slot = rs_malloc(n_rows, sizeof(int32_t), err))) return -1;
    for (uint32_t i = 0; i < n_rows; i++) g->slot[i] = -1;
    if (!(g->rows = rs_malloc(g->cap, sizeof(uint32_t), err))) return -1;
    if (!(g->grad = rs_malloc((size_t)g->cap * width, sizeof(float), err))) return -1;
    return 0;
}

static void rowgrad_free(rs_rowgrad *g)
{
    free(g->slot);
    free(g->rows);
    free(g->grad);
    memset(g, 0, sizeof(*g));
}

int rs_rowgrad_reserve(rs_rowgrad *g, uint64_t more, rs_error *err)
{
    uint64_t need = RS_MIN((uint64_t)g->n + more, (uint64_t)g->n_table);
    if (need <= g->cap) return 0;
    uint64_t cap = RS_MIN(RS_MAX(need, (uint64_t)g->cap * 2), (uint64_t)g->n_table);
    uint32_t *rows = realloc(g->rows, cap * sizeof(uint32_t));
    if (!rows) return rs_fail(err, "out of memory for %llu gradient rows", (unsigned long long)cap);
    g->rows = rows;
    float *grad = realloc(g->grad, cap * g->width * sizeof(float));
    if (!grad) return rs_fail(err, "out of memory for %llu gradient rows", (unsigned long long)cap);
    g->grad = grad;
    g->cap = (uint32_t)cap;
    return 0;
}

static void rowgrad_clear(rs_rowgrad *g)
{
    for (uint32_t k = 0; k < g->n; k++) g->slot[g->rows[k]] = -1;
    g->n = 0;
}

static void init_values(float *x, size_t n, rs_init_kind kind, double scale, rs_rng *rng)
{
    if (kind == RS_INIT_NORMAL) {
        for (size_t i = 0; i < n; i++) x[i] = (float)(scale * rs_rng_normal(rng));
        return;
    }
    /* Uniform on [-a, a] has standard deviation a / sqrt(3); cheaper than
     * normal draws for the M x H tables of a million-item model. */
    float a = (float)(scale * sqrt(3.0));
    for (size_t i = 0; i < n; i++) x[i] = a * (2.0f * rs_rng_uniform_f(rng) - 1.0f);
}

static uint32_t width_of(const rs_tensor_spec *s)
{
    return (uint32_t)(s->cols ? s->cols : 1);
}

/* Views of every tensor into the two blocks, then optimiser state. */
static int attach(rs_params *p, float lr, float weight_decay, rs_error *err)
{
    size_t off = 0, dense_off = 0;
    for (int i = 0; i < p->n; i++) {
        rs_param *t = &p->t[i];
        if (!t->size) continue;
        t->value = p->block + off;
        off += t->size;
        if (t->spec.optim == RS_OPTIM_NONE) continue;
        if (t->spec.optim == RS_OPTIM_DENSE) {
            t->grad = p->grads + dense_off;
            dense_off += t->size;
        } else if (rowgrad_init(&t->rowgrad, (uint32_t)t->spec.rows, width_of(&t->spec), err) !=
                   0) {
            return -1;
        }
        if (rs_adam_init(&t->adam, t->size, lr, weight_decay, err) != 0) return -1;
    }
    return 0;
}

int rs_params_init(rs_params *p, const rs_tensor_spec *specs, int n, uint64_t seed, float lr,
                   float weight_decay, rs_error *err)
{
    memset(p, 0, sizeof(*p));
    if (n > RS_PARAMS_MAX) return rs_fail(err, "%d tensors (at most %d)", n, RS_PARAMS_MAX);
    p->n = n;
    p->seed = seed;
    for (int i = 0; i < n; i++) {
        p->t[i].spec = specs[i];
        p->t[i].size = (size_t)specs[i].rows * width_of(&specs[i]);
        if (!specs[i].rows) p->t[i].size = 0;
        p->n_floats += p->t[i].size;
        if (specs[i].optim == RS_OPTIM_DENSE) p->n_dense += p->t[i].size;
    }
    if (!(p->block = rs_aligned_alloc(p->n_floats, sizeof(float), err))) return -1;
    if (p->n_dense && !(p->grads = rs_aligned_alloc(p->n_dense, sizeof(float), err))) return -1;
    if (attach(p, lr, weight_decay, err) != 0) return -1;
    rs_rng rng;
    rs_rng_seed(&rng, seed);
    for (int i = 0; i < n; i++)
        if (p->t[i].size)
            init_values(p->t[i].value, p->t[i].size, specs[i].init, specs[i].scale, &rng);
    return 0;
}

void rs_params_free(rs_params *p)
{
    for (int i = 0; i < p->n; i++) {
        rowgrad_free(&p->t[i].rowgrad);
        rs_adam_free(&p->t[i].adam);
    }
    free(p->block);
    free(p->grads);
    free(p->best);
    free(p->scatter);
    memset(p, 0, sizeof(*p));
}

void rs_params_zero_grad(rs_params *p)
{
    if (p->grads) memset(p->grads, 0, p->n_dense * sizeof(float));
    for (int i = 0; i < p->n; i++)
        if (p->t[i].size && p->t[i].spec.optim == RS_OPTIM_ROWS) rowgrad_clear(&p->t[i].rowgrad);
}

void rs_params_step(rs_params *p)
{
    for (int i = 0; i < p->n; i++) {
        rs_param *t = &p->t[i];
        if (!t->size || t->spec.optim == RS_OPTIM_NONE) continue;
        if (t->grad)
            rs_adam_step(&t->adam, t->value, t->grad);
        else
            rs_adam_step_rows(&t->adam, t->value, t->rowgrad.grad, t->rowgrad.rows, t->rowgrad.n,
                              t->rowgrad.width);
    }
}

void rs_params_set_lr(rs_params *p, float lr)
{
    for (int i = 0; i < p->n; i++) p->t[i].adam.lr = lr;
}

int rs_params_keep_best(rs_params *p, rs_error *err)
{
    if (!p->best && !(p->best = rs_aligned_alloc(p->n_floats, sizeof(float), err))) return -1;
    memcpy(p->best, p->block, p->n_floats * sizeof(float));
    return 0;
}

int rs_params_restore_best(rs_params *p, rs_error *err)
{
    if (!p->best) return rs_fail(err, "no best parameters were kept");
    memcpy(p->block, p->best, p->n_floats * sizeof(float));
    return 0;
}

float *rs_params_dense_gradient(rs_params *p, rs_error *err)
{
    if (!p->scatter && !(p->scatter = rs_aligned_alloc(p->n_floats, sizeof(float), err)))
        return NULL;
    memset(p->scatter, 0, p->n_floats * sizeof(float));
    for (int i = 0; i < p->n; i++) {
        const rs_param *t = &p->t[i];
        float *out = p->scatter + (t->value - p->block);
        if (!t->size) continue;
        if (t->grad) {
            memcpy(out, t->grad, t->size * sizeof(float));
            continue;
        }
        const rs_rowgrad *g = &t->rowgrad;
        for (uint32_t k = 0; k < g->n; k++)
            memcpy(out + (size_t)g->rows[k] * g->width, g->grad + (size_t)k * g->width,
                   sizeof(float) * g->width);
    }
    return p->scatter;
}

size_t rs_params_bytes(const rs_params *p)
{
    size_t optimised = 0; /* floats with Adam state (m and v) */
    for (int i = 0; i < p->n; i++)
        if (p->t[i].spec.optim != RS_OPTIM_NONE) optimised += p->t[i].size;
    size_t floats = p->n_floats * (p->best ? 2 : 1) + 2 * optimised + p->n_dense;
    size_t bytes = 0;
    for (int i = 0; i < p->n; i++) {
        const rs_rowgrad *g = &p->t[i].rowgrad;
        if (g->slot) bytes += (size_t)g->cap * g->width * sizeof(float) + g->n_table * 4;
    }
    return floats * sizeof(float) + bytes;
}

int rs_params_publish(const rs_params *p, rs_publish *pub, rs_error *err)
{
    for (int i = 0; i < p->n; i++) {
        const rs_param *t = &p->t[i];
        if (!t->size || !t->spec.name) continue;
        uint64_t shape[2] = {t->spec.rows, t->spec.cols};
        if (rs_publish_tensor(pub, t->spec.name, RS_F32, t->spec.cols ? 2 : 1, shape, t->value,
                              err) != 0)
            return -1;
    }
    return 0;
}

int rs_params_find(const rs_params *p, const char *name)
{
    for (int i = 0; i < p->n; i++)
        if (p->t[i].size && p->t[i].spec.name && !strcmp(p->t[i].spec.name, name)) return i;
    return -1;
}
