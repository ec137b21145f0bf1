/* input.h - the sparse input batch every family encodes a history from:
 * the rows of a batch of users gathered from a CSR matrix, each row's
 * values 1/sqrt(n) (the L2 normalisation of a binary row, and the
 * "sqrt_count" pooling of the server's encoder). Families then apply their
 * own per-user randomness (dropout) to the values. A weighted matrix
 * (rs_csr values, e.g. ProRec's soft labels) also yields each entry's
 * weight, for the likelihood targets; the encoder input stays the binary
 * history the server encodes. */
#ifndef RS_INPUT_H
#define RS_INPUT_H

#include "dataset.h"
#include "layers.h"
#include "rng.h"

typedef struct rs_input {
    uint64_t *indptr; /* rows + 1 */
    uint32_t *indices;
    float *values;
    float *weights; /* the entries' weights when the gathered matrix has values */
    uint64_t cap;   /* non-zeros indices / values / weights have room for */
    int rows;
    int weighted; /* the last gather's matrix had values */
} rs_input;

int rs_input_init(rs_input *in, int rows, rs_error *err);
void rs_input_free(rs_input *in);
/* Gathers the rows of users[0..size) of data into in and X. */
int rs_input_gather(rs_input *in, const rs_csr *data, const uint32_t *users, int size,
                    rs_sparse_batch *X, rs_error *err);
/* The last gathered batch's weights, aligned with its indices, or NULL
 * when the matrix was binary (every weight 1). */
static inline const float *rs_input_weights(const rs_input *in)
{
    return in->weighted ? in->weights : NULL;
}
/* Inverted dropout on the values of X (= in's): each entry dropped with
 * probability p (drawn from the user's stream, rs_rng_split(epoch_rng,
 * user id), so results do not depend on batch order or thread count), kept
 * ones scaled by 1/(1-p); nothing is drawn when p <= 0. streams (size
 * entries, may be NULL) receive each user's stream after the draws, for the
 * family's further per-user randomness. */
void rs_input_dropout(rs_input *in, const rs_sparse_batch *X, const uint32_t *users,
                      const rs_rng *epoch_rng, float p, rs_rng *streams);
/* Evaluation or a test: eps (n floats) from fixed, or zero when NULL. */
void rs_input_fixed_noise(float *eps, const float *fixed, size_t n);
/* Grows *p (an array of *cap floats) to hold at least need. */
int rs_grow_floats(float **p, uint64_t *cap, uint64_t need, rs_error *err);

#endif
