/* counters_util.h: snapshots of hak_stats_get() and counter deltas by name, for the tests of the
 * debug counters (docs/counters.md).
 *
 *   snap_t a; snap(&a);             take a snapshot (hak_stats_get: sums live and exited threads)
 *   DELTA(a, b, malloc_tls_hit)     b's counter minus a's, looked up by its documented name, so
 *                                   the tests do not depend on the order of hak_stats_t.counters[]
 *   refill_blocks(&a, &b)           blocks refills brought into the lists (slab free lists,
 *                                   carving, remote lists)
 *   EXPECT_EQ(a, b, name, value)    CHECK that the delta is exactly value, with both in the message
 *
 * Everything is static; include it once per test, after check.h. */
#ifndef HAK_COUNTERS_UTIL_H
#define HAK_COUNTERS_UTIL_H

#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "support/check.h"
#include "hakmem.h"

typedef struct snap {
    hak_stats_t s;
} snap_t;

static inline void snap(snap_t *out) { hak_stats_get(&out->s); }

/* Index of a counter in hak_stats_t.counters[]; fails the test if the library has no such name. */
static inline unsigned counter_index(const char *name)
{
    for (unsigned i = 0; i < HAK_STATS_COUNTERS; i++) {
        const char *n = hak_stats_counter_name(i);
        CHECK(n != NULL, "hak_stats_counter_name(%u) is NULL below HAK_STATS_COUNTERS", i);
        if (strcmp(n, name) == 0) return i;
    }
    CHECK(0, "no debug counter named '%s'", name);
    return 0;
}

static inline uint64_t counter_of(const snap_t *s, const char *name)
{
    return s->s.counters[counter_index(name)];
}

static inline int64_t counter_delta(const snap_t *a, const snap_t *b, const char *name)
{
    return (int64_t)(counter_of(b, name) - counter_of(a, name));
}

#define DELTA(a, b, name) counter_delta(&(a), &(b), #name)
/* Blocks that refills brought into the thread's lists between a and b, from wherever they came. */
static inline int64_t refill_blocks(const snap_t *a, const snap_t *b)
{
    return DELTA(*a, *b, refill_from_slab_free) + DELTA(*a, *b, refill_carved) + DELTA(*a, *b, remote_collected);
}

/* Delta of an always-on field of hak_stats_t. */
#define FIELD_DELTA(a, b, field) ((int64_t)((b).s.field - (a).s.field))

#define EXPECT_EQ(a, b, name, value)                                                            \
    do {                                                                                         \
        int64_t got_ = DELTA(a, b, name), want_ = (int64_t)(value);                             \
        CHECK(got_ == want_, "%s: counted %" PRId64 ", expected %" PRId64, #name, got_, want_); \
    } while (0)

/* A HAKMEM_* setting as the library reads it (decimal, default when unset). The tests pin these in
 * their ctest ENVIRONMENT; reading them here keeps the expectations right if someone changes
 * one there. */
static inline long env_long(const char *name, long def)
{
    const char *s = getenv(name);
    return s && *s ? strtol(s, NULL, 10) : def;
}

/* Library defaults (src/core/options.c) of the settings the expectations depend on. */
#define DEFAULT_REFILL_COUNT     32   /* HAKMEM_TINY_REFILL_COUNT: blocks per batch up to 128 B  */
#define DEFAULT_TLS_CAP_BATCHES  2    /* HAKMEM_TLS_CAP_BATCHES: thread list cap, in batches     */


#endif /* HAK_COUNTERS_UTIL_H */
