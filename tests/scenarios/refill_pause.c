/* refill_pause: the refill thread starts by itself when enabled, never runs when disabled, and is
 * never needed for progress: paused, slowed down (paused and resumed in quick succession) or off,
 * the application threads refill themselves and every block stays intact; resumed, it prepares
 * slabs again.
 *
 * Workers run rounds of: allocate a burst of blocks of one class (more than a ring and a thread
 * cache hold, so refills must happen; some of any size and through any allocation call), hand a
 * share to other workers through a shared table, check and free everything. With the refill thread
 * enabled (the default), the main thread first grows the heap until the thread runs (support/
 * daemon_wait.h, with the test deadline: when it starts is the library's choice) and then cycles
 * through four states, each lasting a number of worker operations (never a time):
 *   running   the daemon works normally;
 *   paused    hak_refill_thread_pause(1), which returns once the thread is idle: from then on not
 *             one slab may come from it, and the threads' own (synchronous) refills must grow,
 *             since the workload needs slabs (waited for with the deadline);
 *   flapping  paused and resumed every 200 us: a daemon that keeps being interrupted;
 *   resumed   hak_refill_thread_pause(0): it prepares slabs again once the heap grows (waited for
 *             with the deadline), and hak_refill_thread_running() stays 1 throughout.
 * With HAKMEM_REFILL_THREAD=0 (a separate ctest entry) the same cycles run, pause and resume
 * included; the thread never runs, never makes a batch, no refill is served from a ring, and the
 * threads' own refills are counted.
 *
 * Budgets (support/run.h; --ops is the number of cycles): quick 3 workers, 1 cycle of 20000
 * operations per state; long 3 workers, 40 cycles of 60000. */
#define _GNU_SOURCE
#include <strings.h>

#include "support/daemon_wait.h"
#include "support/run.h"
#include "support/wait.h"

#define BURST 1536
#define TABLE_SLOTS 512

static _Atomic uint64_t table[TABLE_SLOTS];
static _Atomic int workers_stop;
static uint64_t ops_per_state;

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    rng_t r = rng_for(run_opt.seed, id + 1);
    void **p = malloc(BURST * sizeof *p); /* the harness's own memory */
    size_t *sz = malloc(BURST * sizeof *sz);
    CHECK(p && sz, "no memory for the burst table");
    while (!atomic_load_explicit(&workers_stop, memory_order_relaxed)) {
        /* One size per burst (mostly small classes, at most 32 KiB: a burst of 1536 blocks of
         * 1 MiB would be 1.5 GiB), a few blocks of any size mixed in. */
        size_t base = rng_below(&r, 8) ? rng_range(&r, 8, 1024) : rng_range(&r, 1025, 32 * KiB);
        unsigned n = (unsigned)rng_range(&r, BURST / 4, BURST);
        for (unsigned i = 0; i < n; i++) {
            sz[i] = rng_below(&r, 16) ? base : rng_size_packable(&r);
            if (rng_below(&r, 4)) {
                p[i] = API(malloc)(sz[i]);
                stamp_new(p[i], sz[i], 0, "burst malloc");
            } else {
                p[i] = alloc_any(&r, sz[i]);
            }
        }
        for (unsigned i = 0; i < n; i++) {
            if (rng_below(&r, 8) == 0) {
                uint64_t old = atomic_exchange_explicit(&table[rng_below(&r, TABLE_SLOTS)], pack_block(p[i], sz[i]),
                                                        memory_order_acq_rel);
                if (old)
                    free_checked(packed_ptr(old), packed_size(old), "handed-over free");
            } else {
                free_checked(p[i], sz[i], "burst free");
            }
        }
        run_count(2 * n);
    }
    free(p);
    free(sz);
    return NULL;
}

static hak_stats_t stats(void)
{
    hak_stats_t s;
    hak_stats_get(&s);
    return s;
}

/* Wait until the workers have done `ops` more operations (or the run is out of time). The
 * watchdog fails the run if they stop making progress. */
static void wait_ops(uint64_t ops)
{
    uint64_t until = atomic_load(&run_progress) + ops;
    while (atomic_load(&run_progress) < until && !run_stopping())
        sleep_ms(1);
}

static bool env_says_off(void)
{
    const char *v = getenv("HAKMEM_REFILL_THREAD");
    return v && (!strcmp(v, "0") || !strcasecmp(v, "off") || !strcasecmp(v, "no") || !strcasecmp(v, "false"));
}

int main(int argc, char **argv)
{
    static const run_spec_t spec = {
        .name = "refill_pause", .seed = 6,
        .quick = { .threads = 3, .ops = 1, .seconds = 60 },
        .full = { .threads = 3, .ops = 40, .seconds = 40 },
    };
    run_begin(argc, argv, &spec);
    ops_per_state = run_opt.quick ? 20000 : 60000;
    bool off = env_says_off();
    double deadline = test_deadline_seconds();
    if (!off) {
        run_set_phase("waiting for the refill thread to start");
        CHECK(daemon_drive_until_running(API(malloc), api_free_fn, deadline),
              "the refill thread is not running after %.0f s of allocation (HAKMEM_REFILL_THREAD=%s)", deadline,
              getenv("HAKMEM_REFILL_THREAD") ? getenv("HAKMEM_REFILL_THREAD") : "unset");
        OK("the refill thread started by itself while the program allocated");
    }
    if (run_opt.threads > 64)
        run_opt.threads = 64;
    pthread_t t[64];
    for (uintptr_t i = 0; i < run_opt.threads; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0, "pthread_create");

    uint64_t cycles = 0, paused_batches = 0, paused_sync = 0, resumed_batches = 0;
    for (; (run_opt.ops == 0 || cycles < run_opt.ops) && !run_stopping(); cycles++) {
        run_set_phase("running");
        wait_ops(ops_per_state);

        run_set_phase("paused");
        hak_refill_thread_pause(1);
        hak_stats_t before = stats(), now;
        wait_ops(ops_per_state);
        /* The workload needs slabs: with the daemon paused the threads claim them themselves. */
        WAIT_UNTIL(1, (now = stats()).refills_sync > before.refills_sync || run_stopping(),
                   "paused: the threads claimed no slab themselves (%llu) while they allocated",
                   (unsigned long long)now.refills_sync);
        now = stats();
        CHECK(now.daemon_batches == before.daemon_batches,
              "the refill thread prepared %llu slabs after hak_refill_thread_pause(1) returned",
              (unsigned long long)(now.daemon_batches - before.daemon_batches));
        CHECK(hak_refill_thread_running() == !off, "paused: hak_refill_thread_running() is %d",
              hak_refill_thread_running());
        paused_sync += now.refills_sync - before.refills_sync;
        paused_batches += now.daemon_batches - before.daemon_batches;

        run_set_phase("flapping");
        uint64_t until = atomic_load(&run_progress) + ops_per_state;
        for (unsigned k = 0; atomic_load(&run_progress) < until && !run_stopping(); k++) {
            hak_refill_thread_pause((int)(k & 1));
            struct timespec ts = { 0, 200 * 1000 };
            nanosleep(&ts, NULL);
        }

        run_set_phase("resumed");
        hak_refill_thread_pause(0);
        before = stats();
        if (!off) {
            /* It prepares slabs again once the heap grows. */
            CHECK(daemon_grow_until(API(malloc), api_free_fn, deadline, (long long)before.daemon_batches),
                  "resumed: the refill thread prepared no slab while the heap grew");
            resumed_batches += stats().daemon_batches - before.daemon_batches;
        }
        wait_ops(ops_per_state);
        CHECK(hak_refill_thread_running() == !off, "resumed: hak_refill_thread_running() is %d%s",
              hak_refill_thread_running(), off ? " with HAKMEM_REFILL_THREAD=0" : "");
    }
    hak_refill_thread_pause(0);
    atomic_store(&workers_stop, 1);
    run_join_all(t, run_opt.threads);
    for (unsigned i = 0; i < TABLE_SLOTS; i++) {
        uint64_t v = atomic_exchange(&table[i], 0);
        if (v)
            free_checked(packed_ptr(v), packed_size(v), "table drain");
    }
    CHECK(cycles > 0, "no cycle within the time budget");
    hak_stats_t s = stats();
    if (off) {
        CHECK(s.daemon_batches == 0 && s.refills_ring == 0,
              "HAKMEM_REFILL_THREAD=0: %llu daemon batches, %llu refills from rings",
              (unsigned long long)s.daemon_batches, (unsigned long long)s.refills_ring);
        CHECK(s.refills_sync > 0, "HAKMEM_REFILL_THREAD=0: no synchronous refill counted");
        OK("HAKMEM_REFILL_THREAD=0: %llu cycles (pause and resume included), every block intact; the "
           "refill thread never ran, 0 batches, %llu synchronous refills", (unsigned long long)cycles,
           (unsigned long long)s.refills_sync);
    } else {
        OK("%llu cycles of running, paused, flapping, resumed: every block intact; paused, the threads "
           "claimed %llu slabs themselves and the refill thread none (%llu); resumed, it prepared %llu",
           (unsigned long long)cycles, (unsigned long long)paused_sync, (unsigned long long)paused_batches,
           (unsigned long long)resumed_batches);
    }
    return run_report();
}
