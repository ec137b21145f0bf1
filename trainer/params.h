/* params.h - a model family's parameter tensors, described once in a table
 * (llm.c's way) that drives everything generic about them: one contiguous
 * parameter block, initialisation, gradients (dense, or lazy rows for item
 * tables), Adam, keeping the best epoch, footprint and publishing.
 *
 * A family fills an array of rs_tensor_spec at create time (shapes come
 * from its configuration; a spec with rows == 0 is absent, e.g. the PIA
 * anchors when PIA is off) and reads its tensors back as t[i].value. The
 * block holds the tensors in table order; dense gradients live in a second
 * block holding the dense tensors in table order (so with every tensor
 * dense it has the parameter block's layout). Initialisation draws from one
 * stream seeded with `seed`, tensor by tensor in table order.
 */
#ifndef RS_PARAMS_H
#define RS_PARAMS_H

#include <stddef.h>
#include <stdint.h>

#include "adam.h"
#include "common.h"
#include "rng.h"
#include "store.h"

#define RS_PARAMS_MAX 16

typedef enum {
    RS_INIT_NORMAL,  /* N(0, scale^2) */
    RS_INIT_UNIFORM, /* zero-mean uniform with standard deviation scale */
} rs_init_kind;

typedef enum {
    RS_OPTIM_DENSE, /* dense gradient, dense Adam */
    RS_OPTIM_ROWS,  /* gradient rows of the touched table rows, lazy Adam */
    RS_OPTIM_NONE,  /* solved by the family itself (closed form, ALS, its own
                     * optimiser): no gradient and no Adam state */
} rs_optim_kind;

typedef struct rs_tensor_spec {
    const char *name; /* published name; NULL: not published */
    uint64_t rows;    /* 0: the tensor is absent */
    uint64_t cols;    /* 0: a vector of `rows` floats */
    rs_init_kind init;
    double scale;
    rs_optim_kind optim;
} rs_tensor_spec;

/* The gradient rows of an item table touched by one step. */
typedef struct rs_rowgrad {
    uint32_t width, n, cap, n_table;
    uint32_t *rows; /* n touched table rows, in first-touch order */
    int32_t *slot;  /* by table row: its index in rows / grad, or -1 */
    float *grad;    /* cap x width */
} rs_rowgrad;

typedef struct rs_param {
    rs_tensor_spec spec;
    size_t size;        /* floats */
    float *value;       /* view into the parameter block; NULL when absent */
    float *grad;        /* dense: view into the gradient block; else NULL */
    rs_rowgrad rowgrad; /* RS_OPTIM_ROWS */
    rs_adam adam;
} rs_param;

typedef struct rs_params {
    int n;
    rs_param t[RS_PARAMS_MAX];
    uint64_t seed;
    size_t n_floats, n_dense; /* parameter block, dense gradient block */
    float *block, *grads, *best, *scatter;
} rs_params;

/* Allocates and initialises the tensors of specs[0..n) with Adam(lr, wd). */
int rs_params_init(rs_params *p, const rs_tensor_spec *specs, int n, uint64_t seed, float lr,
                   float weight_decay, rs_error *err);
void rs_params_free(rs_params *p);

/* Zeroes every dense gradient and forgets every touched row. */
void rs_params_zero_grad(rs_params *p);
/* One Adam step of every tensor: dense, or lazy over the touched rows. */
void rs_params_step(rs_params *p);
void rs_params_set_lr(rs_params *p, float lr);

int rs_params_keep_best(rs_params *p, rs_error *err);
int rs_params_restore_best(rs_params *p, rs_error *err);
/* The last step's gradient, dense, in the parameter block's layout (for
 * the finite-difference tests). */
float *rs_params_dense_gradient(rs_params *p, rs_error *err);
/* Bytes of parameters, gradients, optimiser state and best copy. */
size_t rs_params_bytes(const rs_params *p);
/* Writes every published tensor into pub. */
int rs_params_publish(const rs_params *p, rs_publish *pub, rs_error *err);
/* The index of the tensor published as name, or -1. */
int rs_params_find(const rs_params *p, const char *name);

/* Row gradients: room for `more` new rows, so touches cannot fail. */
int rs_rowgrad_reserve(rs_rowgrad *g, uint64_t more, rs_error *err);

/* The gradient row of a table row, claiming a zeroed one on first touch. */
static inline float *rs_rowgrad_touch(rs_rowgrad *g, uint32_t row)
{
    int32_t s = g->slot[row];
    if (s < 0) {
        s = (int32_t)g->n++;
        g->slot[row] = s;
        g->rows[s] = row;
        for (uint32_t j = 0; j < g->width; j++) g->grad[(size_t)s * g->width + j] = 0.0f;
    }
    return g->grad + (size_t)s * g->width;
}

/* The gradient row of table row `row` of tensor t (dense or lazy); lazy
 * tensors need rs_rowgrad_reserve first. */
static inline float *rs_param_grad_row(rs_param *t, uint32_t row)
{
    uint32_t width = (uint32_t)(t->spec.cols ? t->spec.cols : 1);
    return t->grad ? t->grad + (size_t)row * width : rs_rowgrad_touch(&t->rowgrad, row);
}

#endif
