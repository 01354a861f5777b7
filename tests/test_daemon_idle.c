/* test_daemon_idle: the refill thread burns no CPU when there is nothing to do, and it gives freed
 * memory back to the OS within the purge delay without being asked.
 *
 * Run with HAKMEM_REFILL_THREAD=1 and HAKMEM_PURGE_DELAY_MS=200 (set by ctest).
 *  1. Burst: the main thread and 2 helper threads allocate and write ~150 MiB (small blocks of mixed
 *     sizes and large blocks); the refill thread must be running by then.
 *  2. Idle with the memory held: sleep 2 s; the process's CPU time during the sleep stays below
 *     0.2 s.
 *  3. Everything is freed (helpers exit, the main thread flushes its cache). RSS must fall by at
 *     least half of what was allocated; it is polled for up to 5 s (the purge delay plus a wide
 *     margin; polling stops as soon as the drop is seen).
 *  4. Idle after the purge: sleep 3 s; CPU time during the sleep stays below 0.2 s, and RSS stays
 *     down.
 * The CPU bounds are limits on work done (a refill thread that polls or spins would use a whole
 * core, ~2-3 s of CPU here), not timing thresholds: how fast anything runs does not matter. */
#define _GNU_SOURCE
#include <pthread.h>

#include "api.h"
#include "testutil.h"

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
    uint64_t rng = b->seed;
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
    for (int i = 0; i < 100 && !hak_refill_thread_running(); i++)
        sleep_ms(10);
    CHECK(hak_refill_thread_running() == 1, "the refill thread is not running after the burst");

    /* 2. Idle, memory held. */
    hak_stats_t s0, s1;
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
    double start = now_seconds();
    while ((rss = rss_bytes()) > want && now_seconds() - start < 5.0)
        sleep_ms(20);
    double took = now_seconds() - start;
    CHECK(rss <= want,
          "RSS %.1f MiB 5 s after freeing %.1f MiB (peak %.1f MiB), want <= %.1f MiB: freed memory "
          "is not given back without hak_trim() (HAKMEM_PURGE_DELAY_MS=%s)",
          mib(rss), mib(total), mib(peak), mib(want), delay ? delay : "unset");
    OK("after free: RSS %.1f -> %.1f MiB without hak_trim(), seen after %.2f s "
       "(HAKMEM_PURGE_DELAY_MS=%s)", mib(peak), mib(rss), took, delay ? delay : "unset");

    /* 4. Idle after the purge. */
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
