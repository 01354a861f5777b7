/* testutil.h: compatibility header for tests written before the test-support library
 * (docs/testing.md): the support headers, plus the old names of the fill pattern. New tests
 * include "support/<name>.h" and use canary_fill / canary_find directly. */
#ifndef HAK_TEST_UTIL_COMPAT_H
#define HAK_TEST_UTIL_COMPAT_H

#include "support/canary.h"
#include "support/check.h"
#include "support/proc.h"
#include "support/rng.h"
#include "support/wait.h"

/* The old fill functions, keyed by a seed; the dense/sparse choice is now the canary's own (by
 * size), so the _sparse names are the same calls. */
static inline void pattern_fill(void *p, size_t n, uint64_t seed) { canary_fill(p, n, seed); }
static inline void pattern_fill_sparse(void *p, size_t n, uint64_t seed) { canary_fill(p, n, seed); }
static inline size_t pattern_check(const void *p, size_t n, uint64_t seed) { return canary_find(p, n, seed); }
static inline size_t pattern_check_sparse(const void *p, size_t n, uint64_t seed) { return canary_find(p, n, seed); }
static inline size_t rng_size_mix(rng_t *r) { return rng_size_small(r); }

#endif /* HAK_TEST_UTIL_COMPAT_H */
