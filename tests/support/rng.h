/* rng.h: the one pseudo-random generator of the tests, scenarios and benchmarks.
 *
 * xorshift64* (Marsaglia's xorshift, Vigna's multiplier): 64 bits of state, fast, good enough for
 * choosing sizes and operations; never for anything a test's verdict depends on statistically.
 * The state is a plain uint64_t, so a generator can live in any struct or on the stack:
 *
 *   rng_t r = rng_for(seed, stream);   a generator per (seed, stream): a thread, a phase, a child
 *   rng_next(&r)                       64 random bits
 *   rng_below(&r, n)                   uniform in [0, n) (0 if n is 0)
 *   rng_range(&r, lo, hi)              uniform in [lo, hi]
 *   rng_log_range(&r, lo, hi)          log-uniform in [lo, hi]: every octave equally likely
 *   rng_size(&r)                       the scenarios' size mix, 1 B .. 1 MiB (see below)
 *   rng_size_small(&r)                 the quick tests' mix, 1 .. 40000 B (every class, no large)
 *
 * Standalone (no hakmem header): bench/ uses it too, and its numbers depend on drawing exactly
 * the sequences it always drew, so the algorithm must not change. */
#ifndef HAK_TEST_SUPPORT_RNG_H
#define HAK_TEST_SUPPORT_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef uint64_t rng_t;

/* Seeds from (seed, stream) with a splitmix64 step so that nearby seeds and streams diverge; the
 * result is never 0 (xorshift's one fixed point). */
static inline rng_t rng_for(uint64_t seed, uint64_t stream)
{
    uint64_t z = seed * 0x9E3779B97F4A7C15ull + stream * 0xD1B54A32D192ED03ull + 1;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return z ? z : 0x2545F4914F6CDD1Dull;
}

static inline uint64_t rng_next(rng_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

/* Multiply-high instead of %: no division, negligible bias for the n used here. */
static inline uint64_t rng_below(rng_t *s, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(s) * n) >> 64);
}

static inline size_t rng_range(rng_t *s, size_t lo, size_t hi)
{
    return lo + (size_t)rng_below(s, (uint64_t)(hi - lo) + 1);
}

static inline size_t rng_log_range(rng_t *s, size_t lo, size_t hi)
{
    unsigned lo_bit = 63 - (unsigned)__builtin_clzll((unsigned long long)lo);
    unsigned hi_bit = 63 - (unsigned)__builtin_clzll((unsigned long long)hi);
    unsigned b = lo_bit + (unsigned)rng_below(s, hi_bit - lo_bit + 1);
    size_t base = (size_t)1 << b;
    size_t v = base + (size_t)rng_below(s, base);
    if (v < lo)
        v = lo;
    if (v > hi)
        v = hi;
    return v;
}

/* Mostly 8..1024 B (some 1..7 B), some up to 32 KiB, 1.5% up to 1 MiB: every size class and the
 * large path, weighted like real programs. */
static inline size_t rng_size(rng_t *r)
{
    uint64_t x = rng_below(r, 1000);
    if (x < 30) return rng_range(r, 1, 7);
    if (x < 500) return rng_range(r, 8, 128);
    if (x < 860) return rng_range(r, 129, 1024);
    if (x < 985) return rng_range(r, 1025, (size_t)32 << 10);
    return rng_range(r, ((size_t)32 << 10) + 1, (size_t)1 << 20);
}

/* Mostly small, some medium, rarely up to 40000 B (above the largest small class): no large
 * blocks, for tests that make many blocks and must stay quick. */
static inline size_t rng_size_small(rng_t *r)
{
    uint64_t x = rng_below(r, 100);
    if (x < 70) return rng_range(r, 1, 256);
    if (x < 92) return rng_range(r, 257, 4096);
    return rng_range(r, 4097, 40000);
}

#endif /* HAK_TEST_SUPPORT_RNG_H */
