/* thread_churn: many short-lived threads, each allocating, freeing and handing blocks on to later
 * threads, keep every block intact and do not make RSS grow: what a thread caches is reclaimed
 * when it exits, while other threads allocate and the refill thread runs.
 *
 * Waves of `threads` threads (half joinable, half detached; 128 KiB stacks: the subject is the
 * allocator, not mapping stacks). A thread frees the argument its creator allocated for it (a
 * cross-thread free of the harness's own memory), allocates its blocks (every allocation call,
 * mixed sizes) and then for each block: keeps it and frees it at the end, frees it at once (it
 * stays in the thread's cache until the thread exits), or swaps it into a shared table, checking
 * and freeing what an earlier, maybe already dead, thread left there. So thread-exit flushes run
 * concurrently with other threads' allocation. Detached threads signal their end through a
 * counter; each wave waits for all of its threads before the next one starts.
 *
 * RSS is read after the first `step` threads (the baseline) and after every `step` more: it must
 * never be more than 200 MiB above the baseline (not in a sanitizer build). A thread cache that
 * leaked at exit would cost at least a batch per size class used per thread: tens of thousands of
 * threads times several KiB is far more.
 *
 * Budgets (support/run.h; --ops is the number of threads in all):
 *   quick: waves of 8, 20000 threads of 24 blocks
 *   long:  waves of 8, 3200 threads of 256 blocks */
#define _GNU_SOURCE
#include "support/proc.h"
#include "support/run.h"

#define TABLE_SLOTS 4096
#define RSS_BOUND (200 * MiB)

static _Atomic uint64_t table[TABLE_SLOTS];
static _Atomic unsigned detached_left;
static _Atomic uint64_t handed_over_freed;
static pthread_mutex_t wave_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wave_done = PTHREAD_COND_INITIALIZER;
static unsigned blocks_per_thread;

typedef struct churn_arg {
    uint64_t seed;
    bool detached;
} churn_arg_t;

static void *churner(void *arg)
{
    churn_arg_t a = *(churn_arg_t *)arg;
    API(free)(arg); /* allocated by the creating thread */
    rng_t r = rng_for(a.seed, 0);
    void *p[256];
    size_t sz[256];
    unsigned n = blocks_per_thread;
    for (unsigned i = 0; i < n; i++) {
        sz[i] = rng_size_packable(&r);
        p[i] = alloc_any(&r, sz[i]);
    }
    uint64_t freed_old = 0;
    for (unsigned i = 0; i < n; i++) {
        uint64_t what = rng_below(&r, 4);
        if (what == 0) /* keep a while, free below */
            continue;
        if (what == 1) { /* free now: it stays in this thread's cache until exit */
            free_checked(p[i], sz[i], "churn free");
        } else { /* hand over; free what the slot held */
            uint64_t old = atomic_exchange_explicit(&table[rng_below(&r, TABLE_SLOTS)], pack_block(p[i], sz[i]),
                                                    memory_order_acq_rel);
            if (old) {
                free_checked(packed_ptr(old), packed_size(old), "churn frees a handed-over block");
                freed_old++;
            }
        }
        p[i] = NULL;
    }
    for (unsigned i = 0; i < n; i++)
        if (p[i])
            free_checked(p[i], sz[i], "churn late free");
    atomic_fetch_add(&handed_over_freed, freed_old);
    run_count(n);
    if (a.detached) {
        pthread_mutex_lock(&wave_lock);
        if (--detached_left == 0)
            pthread_cond_signal(&wave_done);
        pthread_mutex_unlock(&wave_lock);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    static const run_spec_t spec = {
        .name = "thread_churn", .seed = 3,
        .quick = { .threads = 8, .ops = 20000, .seconds = 60 },
        .full = { .threads = 8, .ops = 3200, .seconds = 40 },
    };
    run_begin(argc, argv, &spec);
    blocks_per_thread = run_opt.quick ? 24 : 256;
    unsigned wave = run_opt.threads > 256 ? 256 : run_opt.threads;
    uint64_t total = run_opt.ops;
    uint64_t step = total / 20 > wave ? total / 20 / wave * wave : wave;
    pthread_t t[256];
    pthread_attr_t joinable, detached;
    pthread_attr_init(&joinable);
    pthread_attr_setstacksize(&joinable, 128 * KiB);
    pthread_attr_init(&detached);
    pthread_attr_setstacksize(&detached, 128 * KiB);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    uint64_t threads_run = 0, waves = 0, next_reading = step;
    size_t base = 0, peak = 0;
    run_set_phase("waves");
    while ((total == 0 || threads_run < total) && !run_stopping()) {
        unsigned njoin = 0, ndet = wave / 2;
        atomic_store(&detached_left, ndet);
        for (unsigned i = 0; i < wave; i++) {
            bool det = i < ndet;
            churn_arg_t *a = API(malloc)(sizeof *a); /* the thread frees it */
            CHECK(a != NULL, "no memory for a thread argument");
            a->seed = run_opt.seed ^ (waves << 16 | i);
            a->detached = det;
            pthread_t dummy;
            int rc = pthread_create(det ? &dummy : &t[njoin], det ? &detached : &joinable, churner, a);
            CHECK(rc == 0, "pthread_create #%llu: %s", (unsigned long long)threads_run, strerror(rc));
            if (!det)
                njoin++;
            threads_run++;
        }
        run_join_all(t, njoin);
        pthread_mutex_lock(&wave_lock);
        while (atomic_load(&detached_left))
            pthread_cond_wait(&wave_done, &wave_lock);
        pthread_mutex_unlock(&wave_lock);
        waves++;
        if (threads_run >= next_reading) {
            next_reading += step;
            size_t rss = rss_bytes();
            if (base == 0) {
                base = rss;
                NOTE("after %llu threads: RSS %.1f MiB (baseline)", (unsigned long long)threads_run, mib(rss));
                continue;
            }
            if (rss > peak)
                peak = rss;
#ifndef HAK_TEST_NO_RSS
            CHECK(rss <= base + RSS_BOUND,
                  "after %llu threads RSS is %.1f MiB, more than %.0f MiB above the baseline %.1f MiB: "
                  "exited threads' memory is not reclaimed", (unsigned long long)threads_run, mib(rss),
                  mib(RSS_BOUND), mib(base));
#endif
        }
    }
    pthread_attr_destroy(&joinable);
    pthread_attr_destroy(&detached);
    for (unsigned i = 0; i < TABLE_SLOTS; i++) {
        uint64_t v = atomic_exchange(&table[i], 0);
        if (v)
            free_checked(packed_ptr(v), packed_size(v), "table drain");
    }
    OK("%llu short threads in %llu waves of %u (half detached), %u blocks each: every block intact, "
       "%llu freed by a thread other than their (exited) allocator", (unsigned long long)threads_run,
       (unsigned long long)waves, wave, blocks_per_thread, (unsigned long long)atomic_load(&handed_over_freed));
#ifndef HAK_TEST_NO_RSS
    if (peak)
        OK("RSS bounded: baseline %.1f MiB, peak %.1f MiB (bound +%.0f MiB)", mib(base), mib(peak), mib(RSS_BOUND));
    else
        NOTE("RSS bound not checked: too few threads fitted in the time budget");
#else
    (void)peak;
    NOTE("RSS bound not checked in a sanitizer build");
#endif
    return run_report();
}
