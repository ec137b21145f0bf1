/* rng.c - xoshiro256** with splitmix64 seeding (see rng.h). */
#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rs_rng_seed(rs_rng *rng, uint64_t seed)
{
    uint64_t state = seed;
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&state);
}

void rs_rng_split(const rs_rng *parent, uint64_t stream, rs_rng *child)
{
    uint64_t state = parent->s[0] ^ (parent->s[3] * 0x9e3779b97f4a7c15ULL) ^ (stream + 1);
    rs_rng_seed(child, splitmix64(&state) ^ stream);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t rs_rng_u64(rs_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rs_rng_uniform(rs_rng *rng)
{
    return (double)(rs_rng_u64(rng) >> 11) * 0x1.0p-53;
}

float rs_rng_uniform_f(rs_rng *rng)
{
    return (float)(rs_rng_u64(rng) >> 40) * 0x1.0p-24f;
}

uint64_t rs_rng_below(rs_rng *rng, uint64_t n)
{
    /* Lemire: multiply-shift with rejection of the biased low region. */
    unsigned __int128 m = (unsigned __int128)rs_rng_u64(rng) * n;
    uint64_t low = (uint64_t)m;
    if (low < n) {
        uint64_t threshold = -n % n;
        while (low < threshold) {
            m = (unsigned __int128)rs_rng_u64(rng) * n;
            low = (uint64_t)m;
        }
    }
    return (uint64_t)(m >> 64);
}

double rs_rng_normal(rs_rng *rng)
{
    /* Box-Muller without caching, so that the stream position depends only
     * on the number of calls (simpler to reason about across threads). */
    double u1 = rs_rng_uniform(rng), u2 = rs_rng_uniform(rng);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void rs_rng_shuffle_u32(rs_rng *rng, uint32_t *values, uint32_t n)
{
    for (uint32_t i = n; i > 1; i--) {
        uint32_t j = (uint32_t)rs_rng_below(rng, i);
        uint32_t tmp = values[i - 1];
        values[i - 1] = values[j];
        values[j] = tmp;
    }
}
