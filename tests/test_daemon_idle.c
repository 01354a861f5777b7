/* test_daemon_idle: the refill thread burns no CPU when there is nothing to do, and it gives freed
 * memory back to the OS within the purge delay without being asked.
 *
 * Run with HAKMEM_REFILL_THREAD=1 and HAKMEM_PURGE_DELAY_MS=200 (set by ctest).
 *  1. Burst: the main thread and 2 helper threads allocate and write ~150 MiB (small blocks of mixed
 *     sizes and large blocks). Then the refill thread must be running: if the burst did not start
 *     it, allocation is driven until it does (daemon_wait.h, deadline 60 s); if the library never
 *     starts it, the test is skipped (77) with a message saying so: there is nothing to check.
 *  2. Idle with the memory held: first wait until the library is quiet (its batch and purge
 *     counts, mapped bytes and RSS unchanged over 10 polls 50 ms apart, deadline 60 s: a refill round or purge started by the
 *     burst is not idle work), then sleep 2 s; the process's CPU time during the sleep stays below
 *     0.2 s.
 *  3. Everything is freed (helpers exit, the main thread flushes its cache). RSS must fall by at
 *     least half of what was allocated; it is polled until it does, deadline 60 s.
 *  4. Idle after the purge: wait until quiet again (the rest of the purge is not idle work), sleep
 *     3 s; CPU time during the sleep stays below 0.2 s, and RSS stays down.
 * The CPU bounds are limits on work done (a refill thread that polls or spins would use a whole
 * core, ~2-3 s of CPU here), not timing thresholds: CPU time is the process's own, so a busy
 * machine does not add to it, and how fast anything runs does not matter. */
#define _GNU_SOURCE
#include <pthread.h>

#include "support/api.h"
#include "support/daemon_wait.h"
#include "support/proc.h"
#include "support/wait.h"

#define SMALL_BYTES (100 * MiB)
#define LARGE_BYTES (50 * MiB)
#define MAX_SMALL (SMALL_BYTES / 64)

struct burst {
    void **ptr;
    size_t n;
    size_t bytes;
    uint64_t seed;
};

static void *allocate_small(void *arg)
{
    struct burst *b = arg;
    rng_t rng = b->seed;
    b->ptr = API(malloc)(MAX_SMALL * sizeof(void *));
    CHECK(b->ptr != NULL, "malloc pointer table");
    while (b->bytes < SMALL_BYTES / 2) {
        size_t s = rng_range(&rng, 64, 2048);
        void *p = API(malloc)(s);
        CHECK(p != NULL, "malloc(%zu)", s);
        memset(p, 0x77, s);
        b->ptr[b->n++] = p;
        b->bytes += s;
    }
    return NULL;
}

/* Frees another thread's blocks from a thread that then exits. */
static void *free_burst(void *arg)
{
    struct burst *b = arg;
    for (size_t i = 0; i < b->n; i++)
        API(free)(b->ptr[i]);
    API(free)(b->ptr);
    return NULL;
}

/* Waits until nothing moves: the refill thread's batch count, the purge count, the mapped bytes and
 * RSS all unchanged over `need` consecutive polls 50 ms apart. Fails at the deadline with the last
 * readings. */
static void wait_quiet(const char *when)
{
    const int need = 10;
    double deadline = test_deadline_seconds(), start = now_seconds();
    hak_stats_t prev, cur;
    size_t prev_rss = rss_bytes(), rss = prev_rss;
    hak_stats_get(&prev);
    int same = 0;
    while (same < need) {
        CHECK(now_seconds() - start < deadline,
              "%s: waited %.1f s for the library to go quiet (statistics and RSS unchanged over %d "
              "polls 50 ms apart; wake-ups alone do not count); last: %d unchanged, daemon batches %llu, wake-ups %llu, purges "
              "%llu, mapped %.1f MiB, RSS %.1f MiB", when, now_seconds() - start, need, same,
              (unsigned long long)cur.daemon_batches, (unsigned long long)cur.daemon_wakeups,
              (unsigned long long)cur.purges, mib((size_t)cur.bytes_mapped), mib(rss));
        sleep_ms(50);
        hak_stats_get(&cur);
        rss = rss_bytes();
        if (cur.daemon_batches == prev.daemon_batches && cur.purges == prev.purges && cur.bytes_mapped == prev.bytes_mapped && rss == prev_rss)
            same++;
        else
            same = 0;
        prev = cur;
        prev_rss = rss;
    }
    NOTE("%s: quiet (nothing moved over %d polls) after %.2f s", when, need, now_seconds() - start);
}

static double idle_cpu(long ms)
{
    double c0 = cpu_seconds();
    sleep_ms(ms);
    return cpu_seconds() - c0;
}

int main(void)
{
    api_check_linked();
    const char *delay = getenv("HAKMEM_PURGE_DELAY_MS");
    NOTE("HAKMEM_REFILL_THREAD=%s HAKMEM_PURGE_DELAY_MS=%s",
         getenv("HAKMEM_REFILL_THREAD") ? getenv("HAKMEM_REFILL_THREAD") : "(unset)",
         delay ? delay : "(unset)");
    const double cpu_bound = 0.2;

    /* 1. Burst. */
    size_t before = rss_bytes();
    struct burst b[2] = { { .seed = 1 }, { .seed = 2 } };
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        CHECK(pthread_create(&th[t], NULL, allocate_small, &b[t]) == 0, "pthread_create");
    void *large[64];
    size_t nlarge = 0, large_bytes = 0;
    while (large_bytes < LARGE_BYTES) {
        size_t s = (nlarge % 4 + 1) * 512 * KiB;
        large[nlarge] = API(malloc)(s);
        CHECK(large[nlarge] != NULL, "malloc(%zu)", s);
        memset(large[nlarge], 0x55, s);
        large_bytes += s;
        nlarge++;
    }
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    size_t total = b[0].bytes + b[1].bytes + large_bytes;
    size_t peak = rss_bytes();
    NOTE("burst: %.1f MiB in %zu small and %zu large blocks; RSS %.1f -> %.1f MiB", mib(total),
         b[0].n + b[1].n, nlarge, mib(before), mib(peak));
    if (!hak_refill_thread_running() &&
        !daemon_drive_until_running(API(malloc), api_free_fn, test_deadline_seconds()))
        SKIP_EXIT("the library did not start its refill thread (HAKMEM_REFILL_THREAD=%s): no idle "
                  "refill thread to check", getenv("HAKMEM_REFILL_THREAD") ?
                  getenv("HAKMEM_REFILL_THREAD") : "(unset)");
    OK("the refill thread is running after the burst");

    /* 2. Idle, memory held. */
    hak_stats_t s0, s1;
    wait_quiet("memory held");
    hak_stats_get(&s0);
    double cpu = idle_cpu(2000);
    hak_stats_get(&s1);
    CHECK(cpu < cpu_bound, "idle for 2 s with memory held: the process used %.3f s of CPU", cpu);
    OK("idle 2 s with %.0f MiB held: %.3f s CPU (bound %.1f s), %llu refill-thread wake-ups",
       mib(total), cpu, cpu_bound, (unsigned long long)(s1.daemon_wakeups - s0.daemon_wakeups));

    /* 3. Free everything: half by threads that then exit, the rest here. */
    for (int t = 0; t < 2; t++)
        CHECK(pthread_create(&th[t], NULL, free_burst, &b[t]) == 0, "pthread_create");
    for (size_t i = 0; i < nlarge; i++)
        API(free)(large[i]);
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    hak_thread_flush();
    size_t want = peak - total / 2, rss;
    double took;
    rss = wait_rss_at_most(want, test_deadline_seconds(), &took);
    CHECK(rss <= want,
          "waited %.1f s (the deadline) for RSS <= %.1f MiB after freeing %.1f MiB (peak %.1f MiB); "
          "last RSS %.1f MiB: freed memory is not given back without hak_trim() "
          "(HAKMEM_PURGE_DELAY_MS=%s)",
          took, mib(want), mib(total), mib(peak), mib(rss), delay ? delay : "unset");
    OK("after free: RSS %.1f -> %.1f MiB without hak_trim(), seen after %.2f s "
       "(HAKMEM_PURGE_DELAY_MS=%s)", mib(peak), mib(rss), took, delay ? delay : "unset");

    /* 4. Idle after the purge. */
    wait_quiet("after the purge");
    hak_stats_get(&s0);
    cpu = idle_cpu(3000);
    hak_stats_get(&s1);
    size_t rss_after = rss_bytes();
    CHECK(cpu < cpu_bound, "idle for 3 s after freeing everything: the process used %.3f s of CPU",
          cpu);
    CHECK(rss_after <= want, "RSS rose again to %.1f MiB while idle", mib(rss_after));
    OK("idle 3 s after the purge: %.3f s CPU (bound %.1f s), %llu refill-thread wake-ups, RSS "
       "%.1f MiB", cpu, cpu_bound, (unsigned long long)(s1.daemon_wakeups - s0.daemon_wakeups),
       mib(rss_after));
    return 0;
}
