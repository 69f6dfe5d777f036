/* prng.h - xorshift64*: a small fixed-seed generator to scatter test and
 * benchmark inputs; a failure reproduces with the same seed. */
#ifndef WSG_TESTS_PRNG_H
#define WSG_TESTS_PRNG_H

#include <stdint.h>

static inline uint64_t
prng_next(uint64_t *state)
{
    uint64_t x = *state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(0x2545F4914F6CDD1D);
}

#endif
