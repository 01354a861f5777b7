/* stress_refill_pause: the refill thread paused, slowed down, resumed, or off, in the middle of
 * a multi-threaded run. hakmem's rule is that the daemon is never needed for progress.
 *
 * Workers run rounds of: allocate a burst of blocks of one class (more than a ring and a thread
 * cache hold, so refills must happen), hand a share to the next worker through a shared table,
 * check and free everything. The controller (main thread) cycles through four states, switching
 * after a number of worker operations (not after a time: the states are defined by work done):
 *   running   the daemon works normally;
 *   paused    hak_refill_thread_pause(1): rings run dry, threads must refill themselves;
 *   flapping  pause and resume in quick succession ("slowed": it keeps being interrupted);
 *   resumed   hak_refill_thread_pause(0) again.
 * Checked: workers make progress in every state (the watchdog aborts a hang), every canary holds,
 * and across each paused state the daemon prepares no slab (hak_refill_thread_pause(1) returns
 * once it is idle), so whatever the workers needed they took themselves. With HAKMEM_REFILL_THREAD=0 (a separate ctest entry) the daemon must never run and
 * the same workload must pass. */
#include "stress_common.h"

#define BURST 1536
#define TABLE_SLOTS 512
#define OPS_PER_STATE 60000

static _Atomic uint64_t table[TABLE_SLOTS];
static _Atomic int workers_stop;

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    rng_t r = rng_for(opt.seed, id + 1);
    void **p = malloc(BURST * sizeof *p);
    size_t *sz = malloc(BURST * sizeof *sz);
    if (!p || !sz) stress_fail("no memory for the burst table");
    while (!atomic_load_explicit(&workers_stop, memory_order_relaxed)) {
        /* One size per burst (mostly small classes, at most 32 KiB: a burst of 1536 blocks of
         * 1 MiB would be 1.5 GiB), a few blocks of any size mixed in. */
        size_t base = rng_below(&r, 8) ? (size_t)rng_range(&r, 8, 1024) : (size_t)rng_range(&r, 1025, 32 * KiB);
        unsigned n = (unsigned)rng_range(&r, BURST / 4, BURST);
        for (unsigned i = 0; i < n; i++) {
            sz[i] = rng_below(&r, 16) ? base : rng_size(&r);
            if (sz[i] >= PACK_MAX_SIZE) sz[i] = PACK_MAX_SIZE - 1;
            p[i] = rng_below(&r, 4) ? API(malloc)(sz[i]) : alloc_any(&r, sz[i]);
            stamp_new(p[i], sz[i], 0, "burst malloc");
        }
        for (unsigned i = 0; i < n; i++) {
            if (rng_below(&r, 8) == 0) {
                uint64_t old = atomic_exchange_explicit(&table[rng_below(&r, TABLE_SLOTS)], pack_block(p[i], sz[i]),
                                                        memory_order_acq_rel);
                if (old) free_checked(packed_ptr(old), packed_size(old), "handed-over free");
            } else {
                free_checked(p[i], sz[i], "burst free");
            }
        }
        stress_count(2 * n);
    }
    free(p);
    free(sz);
    return NULL;
}

static uint64_t daemon_slabs(void)
{
    hak_stats_t s;
    hak_stats_get(&s);
    return s.daemon_batches;
}

/* Wait until the workers have done `ops` more operations (or the run is out of time). */
static void wait_ops(uint64_t ops)
{
    uint64_t until = atomic_load(&stress_progress) + ops;
    while (atomic_load(&stress_progress) < until && !stress_stopping()) {
        struct timespec ts = { 0, 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    /* --ops is the number of controller cycles (running, paused, flapping, resumed). */
    stress_parse(argc, argv, "stress_refill_pause",
                 (stress_opts_t){ .threads = 3, .ops = 6, .seconds = 30, .seed = 6 });
    const char *env = getenv("HAKMEM_REFILL_THREAD");
    bool daemon_off = env && (!strcmp(env, "0") || !strcasecmp(env, "off") || !strcasecmp(env, "no") ||
                              !strcasecmp(env, "false"));
    stress_start();
    if (opt.threads > 64) opt.threads = 64;
    pthread_t t[64];
    for (unsigned i = 0; i < opt.threads; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i)) stress_fail("pthread_create");

    uint64_t cycles = 0;
    for (; stress_continue(cycles); cycles++) {
        stress_set_phase("running");
        wait_ops(OPS_PER_STATE);

        stress_set_phase("paused");
        hak_refill_thread_pause(1);
        uint64_t before = daemon_slabs();
        wait_ops(OPS_PER_STATE);
        uint64_t after = daemon_slabs();
        /* A paused daemon prepares nothing: the workers' progress is their own. */
        STRESS_CHECK(after == before, "the refill thread prepared %" PRIu64 " slabs while paused",
                     after - before);

        stress_set_phase("flapping");
        uint64_t until = atomic_load(&stress_progress) + OPS_PER_STATE;
        for (unsigned k = 0; atomic_load(&stress_progress) < until && !stress_stopping(); k++) {
            hak_refill_thread_pause((int)(k & 1));
            struct timespec ts = { 0, 200 * 1000 };
            nanosleep(&ts, NULL);
        }

        stress_set_phase("resumed");
        hak_refill_thread_pause(0);
        wait_ops(OPS_PER_STATE);
        if (daemon_off)
            STRESS_CHECK(!hak_refill_thread_running(), "HAKMEM_REFILL_THREAD=0 but the refill thread runs");
    }
    hak_refill_thread_pause(0);
    atomic_store(&workers_stop, 1);
    join_all(t, opt.threads);
    for (unsigned i = 0; i < TABLE_SLOTS; i++) {
        uint64_t v = atomic_exchange(&table[i], 0);
        if (v) free_checked(packed_ptr(v), packed_size(v), "table drain");
    }
    printf("%s: %" PRIu64 " cycles, daemon %s\n", stress_name, cycles,
           daemon_off ? "disabled (HAKMEM_REFILL_THREAD=0)" : hak_refill_thread_running() ? "running" : "not running");
    return stress_report();
}
