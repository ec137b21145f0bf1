/* rng.h - the project's random number generator (xoshiro256**, seeded by
 * splitmix64). Every stochastic step (dropout, reparameterisation noise,
 * shuffling, sampling, k-means seeding) draws from an rs_rng so that a run is
 * reproducible from --seed. Streams for threads are derived with
 * rs_rng_split(), never shared between threads.
 */
#ifndef RS_RNG_H
#define RS_RNG_H

#include <stdint.h>

typedef struct rs_rng {
    uint64_t s[4];
} rs_rng;

void rs_rng_seed(rs_rng *rng, uint64_t seed);
/* A new independent stream, derived from (seed of parent, stream id). */
void rs_rng_split(const rs_rng *parent, uint64_t stream, rs_rng *child);
uint64_t rs_rng_u64(rs_rng *rng);
/* Uniform in [0, 1) with 53 bits (double) or 24 bits (float). */
double rs_rng_uniform(rs_rng *rng);
float rs_rng_uniform_f(rs_rng *rng);
/* Uniform integer in [0, n), unbiased (Lemire's method). n > 0. */
uint64_t rs_rng_below(rs_rng *rng, uint64_t n);
/* Standard normal (Box-Muller, one value per call). */
double rs_rng_normal(rs_rng *rng);
/* Fisher-Yates shuffle of n uint32 values. */
void rs_rng_shuffle_u32(rs_rng *rng, uint32_t *values, uint32_t n);

#endif
