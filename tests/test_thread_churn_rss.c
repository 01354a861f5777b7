/* test_thread_churn_rss: many short-lived threads, each allocating, freeing and handing blocks on
 * to later threads, do not make RSS grow: what a thread caches is reclaimed when it exits.
 *
 * 100000 threads (argv[1] to change), started in groups of 8 and joined before the next group.
 * Each thread allocates 24 blocks of mixed sizes (a few KiB in all, over many size classes),
 * checks and frees half of them, and swaps the other half into a shared hand-over table, freeing
 * (after checking) the blocks an earlier, now dead, thread left there. So every thread frees
 * memory that came from threads that exited, and leaves memory for threads not yet born.
 *
 * RSS is read after the first 2000 threads (the baseline) and after every 2000 more: it must never
 * be more than 200 MiB above the baseline. A thread cache that leaked at exit would cost at least
 * one batch per size class used per thread: 100000 threads x several KiB each is far more. */
#define _GNU_SOURCE
#include <pthread.h>

#include "api.h"
#include "testutil.h"

#define GROUP 8
#define PER_THREAD 24
#define HANDOVER 4096 /* slots in the shared table */

struct slot {
    void *p;
    uint32_t size;
    uint32_t seed;
};

static pthread_mutex_t handover_lock = PTHREAD_MUTEX_INITIALIZER;
static struct slot handover[HANDOVER];
static unsigned long handed_over_freed;

static void check_block(const struct slot *s, const char *what)
{
    size_t bad = pattern_check(s->p, s->size, s->seed);
    CHECK(bad == s->size, "%s: block %p of %u bytes corrupted at offset %zu", what, s->p, s->size,
          bad);
}

static void *churn_thread(void *arg)
{
    uint64_t id = (uint64_t)(uintptr_t)arg;
    uint64_t rng = id * 0x9E3779B97F4A7C15ULL + 1;
    struct slot mine[PER_THREAD];
    for (int i = 0; i < PER_THREAD; i++) {
        mine[i].size = (uint32_t)(i < 20 ? rng_range(&rng, 1, 512) : rng_range(&rng, 513, 9000));
        mine[i].seed = (uint32_t)(id * PER_THREAD + (uint64_t)i);
        mine[i].p = API(malloc)(mine[i].size);
        CHECK(mine[i].p != NULL, "malloc(%u) in thread %lu", mine[i].size, (unsigned long)id);
        pattern_fill(mine[i].p, mine[i].size, mine[i].seed);
    }
    /* Free the even ones here. */
    for (int i = 0; i < PER_THREAD; i += 2) {
        check_block(&mine[i], "own block");
        API(free)(mine[i].p);
    }
    /* Swap the odd ones into the hand-over table; free what was there (an older thread's). */
    struct slot old[PER_THREAD / 2];
    int nold = 0;
    pthread_mutex_lock(&handover_lock);
    for (int i = 1; i < PER_THREAD; i += 2) {
        size_t k = (size_t)(rng_next(&rng) % HANDOVER);
        if (handover[k].p)
            old[nold++] = handover[k];
        handover[k] = mine[i];
    }
    handed_over_freed += (unsigned long)nold;
    pthread_mutex_unlock(&handover_lock);
    for (int i = 0; i < nold; i++) {
        check_block(&old[i], "handed-over block");
        API(free)(old[i].p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long nthreads = argc > 1 ? atol(argv[1]) : 100000;
    const long step = nthreads >= 20000 ? 2000 : nthreads / 10 > 0 ? nthreads / 10 : 1;
    const size_t bound = 200 * MiB;
    api_check_linked();

    /* Small stacks: the test is about the allocator, not about mapping thread stacks. */
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 128 * KiB);

    size_t base = 0, peak = 0;
    for (long t = 0; t < nthreads; t += GROUP) {
        pthread_t th[GROUP];
        int n = 0;
        for (; n < GROUP && t + n < nthreads; n++) {
            int rc = pthread_create(&th[n], &attr, churn_thread, (void *)(uintptr_t)(t + n));
            CHECK(rc == 0, "pthread_create #%ld: %s", t + n, strerror(rc));
        }
        for (int i = 0; i < n; i++)
            pthread_join(th[i], NULL);
        long done = t + n;
        if (done % step == 0 || done == nthreads) {
            size_t rss = rss_bytes();
            if (base == 0) {
                base = rss;
                NOTE("after %ld threads: RSS %.1f MiB (baseline)", done, mib(rss));
                continue;
            }
            if (rss > peak)
                peak = rss;
            if (done % (step * 10) == 0 || done == nthreads)
                NOTE("after %ld threads: RSS %.1f MiB", done, mib(rss));
#ifndef HAK_TEST_NO_RSS
            CHECK(rss <= base + bound,
                  "after %ld threads RSS is %.1f MiB, more than %.0f MiB above the baseline "
                  "%.1f MiB: exited threads' memory is not reclaimed",
                  done, mib(rss), mib(bound), mib(base));
#endif
        }
    }
    pthread_attr_destroy(&attr);
    for (size_t k = 0; k < HANDOVER; k++)
        if (handover[k].p) {
            check_block(&handover[k], "left-over block");
            API(free)(handover[k].p);
        }
    OK("%ld short threads (groups of %d): every block intact, %lu blocks freed by a thread other "
       "than their (exited) allocator", nthreads, GROUP, handed_over_freed);
#ifndef HAK_TEST_NO_RSS
    OK("RSS bounded: baseline %.1f MiB, peak %.1f MiB (bound +%.0f MiB)", mib(base), mib(peak),
       mib(bound));
#else
    (void)bound;
    NOTE("RSS bound not checked in a sanitizer build");
#endif
    return 0;
}
