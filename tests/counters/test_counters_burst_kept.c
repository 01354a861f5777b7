/* test_counters_burst_kept: a thread's lists keep a burst of frees for its next burst of mallocs,
 * up to a budget per thread (src/core/tls_cache.c, adaptive caps).
 *
 * 1. One class, a burst of 2 MiB of 512 B blocks (4096 blocks: 8 times what the caps allowed
 *    before the ninth session), allocated then freed, three times: from the second round on, every
 *    malloc is a hit on the thread's list and no free overflows it (no block goes back to the
 *    slabs and is taken again).
 * 2. Six classes, a burst of 3 MiB each, 18 MiB in all, against the thread's 16 MiB of growth:
 *    allocated then freed class by class, twice; a third round of mallocs then tells how many
 *    blocks the lists had kept (allocations minus blocks refilled from the slabs, plus at most a
 *    batch left on each list). The lists kept at least two whole bursts (6 MiB) and no more than
 *    the budget plus the caps' floors (a MiB at most).
 *
 * HAKMEM_REFILL_THREAD=0 (ctest): nothing but this thread moves the counters. */
#define _GNU_SOURCE
#include <stdio.h>

#include "support/check.h"
#include "counters_util.h"

#define THREAD_GROWTH_MAX (16 * (long)MiB)   /* tls_cache.c */
#define FLOORS_SLACK     (long)MiB         /* caps' floors and a partial batch per list, generously */

static void **alloc_burst(size_t size, long n)
{
    void **v = hak_malloc((size_t)n * sizeof *v);
    CHECK(v != NULL, "hak_malloc of the pointer array");
    for (long i = 0; i < n; i++) {
        v[i] = hak_malloc(size);
        CHECK(v[i] != NULL, "hak_malloc(%zu)", size);
        *(volatile char *)v[i] = 1;
    }
    return v;
}

static void free_burst(void **v, long n)
{
    for (long i = 0; i < n; i++) hak_free(v[i]);
    hak_free(v);
}

static void one_class_stays(void)
{
    const size_t size = 512;
    const long n = 2 * (long)MiB / (long)size;
    for (int round = 0; round < 3; round++) {
        snap_t a, b, c;
        snap(&a);
        void **v = alloc_burst(size, n);
        snap(&b);
        free_burst(v, n);
        snap(&c);
        if (round == 0) continue;
        /* The pointer array (32 KiB) is a class of its own: one miss at most, for it. */
        CHECK(DELTA(a, b, malloc_tls_miss) <= 1, "round %d: %lld misses in a burst of %ld mallocs of %zu B",
              round, (long long)DELTA(a, b, malloc_tls_miss), n, size);
        EXPECT_EQ(b, c, free_overflow, 0);
    }
    OK("a burst of %ld blocks of %zu B, allocated and freed again: every malloc a hit, no overflow", n, size);
}

static void budget_bounds_what_is_kept(void)
{
    static const size_t sizes[] = { 384, 448, 512, 640, 768, 896 };
    enum { NCLASSES = sizeof sizes / sizeof sizes[0] };
    const long burst = 3 * (long)MiB;
    void **v[NCLASSES];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < NCLASSES; i++) v[i] = alloc_burst(sizes[i], burst / (long)sizes[i]);
        for (int i = 0; i < NCLASSES; i++) free_burst(v[i], burst / (long)sizes[i]);
    }
    long kept = 0;
    for (int i = 0; i < NCLASSES; i++) {
        long n = burst / (long)sizes[i];
        snap_t a, b;
        snap(&a);
        v[i] = alloc_burst(sizes[i], n);
        snap(&b);
        long from_list = n - (long)refill_blocks(&a, &b);   /* blocks left over on the list not counted */
        kept += from_list > 0 ? from_list * (long)sizes[i] : 0;
    }
    for (int i = 0; i < NCLASSES; i++) free_burst(v[i], burst / (long)sizes[i]);
    CHECK(kept >= 2 * burst, "the lists kept %ld KiB of %d bursts of %ld KiB: fewer than two bursts", kept >> 10,
          NCLASSES, burst >> 10);
    CHECK(kept <= THREAD_GROWTH_MAX + FLOORS_SLACK, "the lists kept %ld KiB, above the thread's budget of %ld KiB",
          kept >> 10, THREAD_GROWTH_MAX >> 10);
    OK("%d bursts of %ld KiB (in classes of %zu-%zu B): the lists kept %ld KiB (budget %ld KiB)", NCLASSES,
       burst >> 10, sizes[0], sizes[NCLASSES - 1], kept >> 10, THREAD_GROWTH_MAX >> 10);
}

int main(void)
{
    one_class_stays();
    budget_bounds_what_is_kept();
    hak_thread_flush();
    return 0;
}
