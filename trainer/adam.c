/* adam.c - Adam over a contiguous parameter block (see adam.h). */
#include "adam.h"

#include <math.h>
#include <stdlib.h>

int rs_adam_init(rs_adam *adam, size_t n_params, float lr, float weight_decay, rs_error *err)
{
    adam->lr = lr;
    adam->beta1 = 0.9f;
    adam->beta2 = 0.999f;
    adam->eps = 1e-8f;
    adam->weight_decay = weight_decay;
    adam->step = 0;
    adam->n = n_params;
    adam->m = rs_calloc(n_params, sizeof(float), err);
    adam->v = rs_calloc(n_params, sizeof(float), err);
    if (!adam->m || !adam->v) {
        rs_adam_free(adam);
        return -1;
    }
    return 0;
}

void rs_adam_free(rs_adam *adam)
{
    free(adam->m);
    free(adam->v);
    adam->m = adam->v = NULL;
}

void rs_adam_step(rs_adam *adam, float *params, const float *grads)
{
    adam->step++;
    const float b1 = adam->beta1, b2 = adam->beta2, wd = adam->weight_decay, eps = adam->eps;
    const float c1 = 1.0f - powf(b1, (float)adam->step);
    const float c2 = 1.0f - powf(b2, (float)adam->step);
    const float step_size = adam->lr / c1, inv_sqrt_c2 = 1.0f / sqrtf(c2);
    float *m = adam->m, *v = adam->v;
    long n = (long)adam->n;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < n; i++) {
        float g = grads[i] + wd * params[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        params[i] -= step_size * m[i] / (sqrtf(v[i]) * inv_sqrt_c2 + eps);
    }
}

void rs_adam_step_rows(rs_adam *adam, float *params, const float *grad_rows, const uint32_t *rows,
                       uint32_t n_rows, uint32_t width)
{
    adam->step++;
    const float b1 = adam->beta1, b2 = adam->beta2, wd = adam->weight_decay, eps = adam->eps;
    const float c1 = 1.0f - powf(b1, (float)adam->step);
    const float c2 = 1.0f - powf(b2, (float)adam->step);
    const float step_size = adam->lr / c1, inv_sqrt_c2 = 1.0f / sqrtf(c2);
#pragma omp parallel for schedule(static) if (n_rows > 64)
    for (long k = 0; k < (long)n_rows; k++) {
        size_t base = (size_t)rows[k] * width;
        float *p = params + base, *m = adam->m + base, *v = adam->v + base;
        const float *g_row = grad_rows + (size_t)k * width;
#pragma omp simd
        for (uint32_t j = 0; j < width; j++) {
            float g = g_row[j] + wd * p[j];
            m[j] = b1 * m[j] + (1.0f - b1) * g;
            v[j] = b2 * v[j] + (1.0f - b2) * g * g;
            p[j] -= step_size * m[j] / (sqrtf(v[j]) * inv_sqrt_c2 + eps);
        }
    }
}
