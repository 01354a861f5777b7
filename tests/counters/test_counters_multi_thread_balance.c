/* test_counters_multi_thread_balance: with several threads allocating and freeing (some blocks freed
 * by another thread than the one that allocated them, some kept), the counters summed over live and
 * exited threads balance at quiescence:
 *
 *   (malloc_tls_hit + malloc_tls_miss + large_alloc) - (free_tls_push + large_free) == blocks live
 *
 * and each side is exact on its own (every small malloc is one hit or one miss, every small free
 * one push or one remote free, in whichever thread); free_remote is exactly the frees of blocks in
 * slabs the freeing thread did not own (the neighbour's, then the exited threads' orphans); a miss
 * takes at most one new slab; remote_collected never exceeds free_remote; the early returns count
 * exactly; without the daemon, claimed - released == slabs owned, and after hak_trim with nothing
 * live no slab is left and every remotely freed block was collected; and while threads run and exit, a reader polling
 * hak_stats_get() never sees a counter go down (an exiting thread's counts move from the live list
 * to the exited total under one lock, never lost or counted twice).
 *
 *   test_counters_multi_thread_balance [threads] [blocks per thread]   (default 4 and 4000)
 *
 * Run with the daemon on and off (ctest); the result must not depend on it. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "support/check.h"
#include "counters_util.h"

#define MAX_THREADS 16
#define HOLD        25              /* blocks of each thread's neighbour a thread keeps */
#define LARGE_EVERY 97              /* every 97th block is a large one */
#define LARGE_SIZE  (300u * 1024)   /* above the largest class: its own mapping */
#define NULL_FREES  7               /* hak_free(NULL) per thread */
#define CHURN_WAVES   40            /* thread churn: waves of 8 short threads */
#define CHURN_ROUNDS  5             /* each: 5 x 64 malloc/free pairs */

static int nthreads;
static long per_thread;
static void **slots[MAX_THREADS];
static pthread_barrier_t allocated;
static atomic_int running;

/* What the threads did, summed (relaxed adds; read after join). */
static atomic_long small_mallocs, large_mallocs, zero_mallocs, small_frees, large_frees, null_frees;

static size_t size_of(int t, long i)
{
    static const size_t sizes[] = { 16, 32, 48, 100, 0, 512, 1000, 4000, 40000, 8, 128, 24 };
    if (i % LARGE_EVERY == LARGE_EVERY - 1) return LARGE_SIZE;
    return sizes[(size_t)(i + t) % (sizeof sizes / sizeof sizes[0])];
}

static void count_free(size_t size)
{
    if (size > 262144) atomic_fetch_add_explicit(&large_frees, 1, memory_order_relaxed);
    else atomic_fetch_add_explicit(&small_frees, 1, memory_order_relaxed);
}

/* Held blocks: the last HOLD even-indexed blocks of each thread. */
static int held(long i) { return i % 2 == 0 && i >= per_thread - 2 * HOLD; }

static void *worker(void *arg)
{
    int t = (int)(intptr_t)arg, next = (t + 1) % nthreads;
    for (long i = 0; i < per_thread; i++) {
        size_t size = size_of(t, i);
        CHECK((slots[t][i] = hak_malloc(size)) != NULL, "hak_malloc(%zu)", size);
        memset(slots[t][i], t, size ? (size < 64 ? size : 64) : 0);
        if (size > 262144) atomic_fetch_add_explicit(&large_mallocs, 1, memory_order_relaxed);
        else atomic_fetch_add_explicit(&small_mallocs, 1, memory_order_relaxed);
        if (size == 0) atomic_fetch_add_explicit(&zero_mallocs, 1, memory_order_relaxed);
    }
    for (int i = 0; i < NULL_FREES; i++) hak_free(NULL);
    atomic_fetch_add_explicit(&null_frees, NULL_FREES, memory_order_relaxed);
    pthread_barrier_wait(&allocated);
    /* Own odd blocks, then the neighbour's even ones (it frees its own odd ones meanwhile). */
    for (long i = 1; i < per_thread; i += 2) {
        hak_free(slots[t][i]);
        count_free(size_of(t, i));
    }
    for (long i = 0; i < per_thread; i += 2) {
        if (held(i)) continue;
        hak_free(slots[next][i]);
        count_free(size_of(next, i));
    }
    atomic_fetch_sub_explicit(&running, 1, memory_order_relaxed);
    return NULL;
}

static void *churn_worker(void *arg)
{
    (void)arg;
    void *v[64];
    for (int r = 0; r < CHURN_ROUNDS; r++) {
        for (int i = 0; i < 64; i++) CHECK((v[i] = hak_malloc(64 + (size_t)i)) != NULL, "hak_malloc");
        for (int i = 0; i < 64; i++) hak_free(v[i]);
    }
    atomic_fetch_add_explicit(&small_mallocs, 64 * CHURN_ROUNDS, memory_order_relaxed);
    atomic_fetch_add_explicit(&small_frees, 64 * CHURN_ROUNDS, memory_order_relaxed);
    return NULL;
}

/* Creates and joins waves of short threads while the main thread polls the counters. */
static void *churn_spawner(void *arg)
{
    (void)arg;
    for (int wave = 0; wave < CHURN_WAVES; wave++) {
        pthread_t c[8];
        for (int i = 0; i < 8; i++) CHECK(pthread_create(&c[i], NULL, churn_worker, NULL) == 0, "pthread_create");
        for (int i = 0; i < 8; i++) pthread_join(c[i], NULL);
    }
    atomic_fetch_sub_explicit(&running, 1, memory_order_relaxed);
    return NULL;
}

/* Poll hak_stats_get() until no thread runs; every counter must be at least its last value. */
static long poll_monotonic(snap_t *last)
{
    long polls = 0;
    snap_t now;
    do {
        snap(&now);
        for (unsigned i = 0; i < HAK_STATS_COUNTERS; i++)
            CHECK(now.s.counters[i] >= last->s.counters[i], "%s went down from %llu to %llu",
                  hak_stats_counter_name(i), (unsigned long long)last->s.counters[i],
                  (unsigned long long)now.s.counters[i]);
        *last = now;
        polls++;
        sched_yield();
    } while (atomic_load_explicit(&running, memory_order_relaxed) > 0);
    return polls;
}

/* live_small/live_large: blocks still held; remote: small frees of blocks whose slab the freeing
 * thread did not own (known exactly in each phase). */
static void check_balance(const char *when, const snap_t *a, const snap_t *b, long live_small, long live_large,
                          long remote)
{
    int64_t small_in = DELTA(*a, *b, malloc_tls_hit) + DELTA(*a, *b, malloc_tls_miss);
    int64_t small_out = DELTA(*a, *b, free_tls_push) + DELTA(*a, *b, free_remote);
    int64_t large_in = DELTA(*a, *b, large_alloc), large_out = DELTA(*a, *b, large_free);
    CHECK(small_in == atomic_load(&small_mallocs), "%s: hits + misses %lld != small mallocs %ld", when,
          (long long)small_in, atomic_load(&small_mallocs));
    CHECK(small_out == atomic_load(&small_frees), "%s: pushes + remote frees %lld != small frees %ld", when,
          (long long)small_out, atomic_load(&small_frees));
    CHECK(DELTA(*a, *b, free_remote) == remote, "%s: free_remote %lld, want %ld", when,
          (long long)DELTA(*a, *b, free_remote), remote);
    CHECK(large_in == atomic_load(&large_mallocs), "%s: large_alloc %lld != %ld", when, (long long)large_in,
          atomic_load(&large_mallocs));
    CHECK(large_out == atomic_load(&large_frees), "%s: large_free %lld != %ld", when, (long long)large_out,
          atomic_load(&large_frees));
    CHECK((small_in + large_in) - (small_out + large_out) == live_small + live_large,
          "%s: allocations - frees = %lld, live blocks %ld", when,
          (long long)((small_in + large_in) - (small_out + large_out)), live_small + live_large);
    CHECK(FIELD_DELTA(*a, *b, large_live) == live_large, "%s: always-on large_live %+lld, held %ld", when,
          (long long)FIELD_DELTA(*a, *b, large_live), live_large);
    /* A miss takes at most one new slab (claimed, from the ring or adopted; a parked one is not
     * counted), and a refill hands out at least the block the miss returns. */
    int64_t new_slabs = DELTA(*a, *b, slab_claimed_sync) + DELTA(*a, *b, slab_from_ring) + DELTA(*a, *b, slab_adopted);
    CHECK(new_slabs <= DELTA(*a, *b, malloc_tls_miss), "%s: %lld new slabs for %lld misses", when,
          (long long)new_slabs, (long long)DELTA(*a, *b, malloc_tls_miss));
    int64_t refilled = refill_blocks(a, b);
    CHECK(refilled >= DELTA(*a, *b, malloc_tls_miss), "%s: %lld blocks refilled for %lld misses", when,
          (long long)refilled, (long long)DELTA(*a, *b, malloc_tls_miss));
    /* Since the process started: no block is collected from a remote list that was not pushed. */
    CHECK(counter_of(b, "remote_collected") <= counter_of(b, "free_remote"), "%s: remote_collected %llu > free_remote %llu",
          when, (unsigned long long)counter_of(b, "remote_collected"), (unsigned long long)counter_of(b, "free_remote"));
    CHECK(DELTA(*a, *b, malloc_zero) == atomic_load(&zero_mallocs), "%s: malloc_zero", when);
    CHECK(DELTA(*a, *b, free_null) == atomic_load(&null_frees), "%s: free_null", when);
    CHECK(FIELD_DELTA(*a, *b, refills_sync) == DELTA(*a, *b, slab_claimed_sync), "%s: refills_sync", when);
    CHECK(FIELD_DELTA(*a, *b, refills_ring) == DELTA(*a, *b, slab_from_ring), "%s: refills_ring", when);
    EXPECT_EQ(*a, *b, invalid_pointer, 0);
    if (env_long("HAKMEM_REFILL_THREAD", 1) == 0) {
        /* Without the daemon nothing changes them behind our back: the always-on figures that
         * count the same events agree exactly (with it, a snapshot may fall between the two). */
        CHECK(FIELD_DELTA(*a, *b, superslabs_mapped_total) == DELTA(*a, *b, superslab_mapped), "%s: mapped", when);
        CHECK(FIELD_DELTA(*a, *b, superslabs_unmapped_total) == DELTA(*a, *b, superslab_retired), "%s: retired", when);
        CHECK(FIELD_DELTA(*a, *b, purges) == DELTA(*a, *b, slab_runs_purged), "%s: purges %lld != slab_runs_purged %lld",
              when, (long long)FIELD_DELTA(*a, *b, purges), (long long)DELTA(*a, *b, slab_runs_purged));
        /* Every claim is a thread's own (the daemon claims none). */
        EXPECT_EQ(*a, *b, slab_claimed, DELTA(*a, *b, slab_claimed_sync));
        EXPECT_EQ(*a, *b, slab_from_ring, 0);
        /* Since the start of the process: the slabs classes own now are those claimed minus those
         * released (a medium class's whole SuperSlab is one slab). */
        uint64_t owned = 0;
        for (unsigned c = 0; c < HAK_STATS_CLASSES; c++) owned += b->s.class_slabs[c];
        CHECK(owned == counter_of(b, "slab_claimed") - counter_of(b, "slab_released"),
              "%s: classes own %llu slabs, claimed %llu - released %llu", when, (unsigned long long)owned,
              (unsigned long long)counter_of(b, "slab_claimed"), (unsigned long long)counter_of(b, "slab_released"));
        EXPECT_EQ(*a, *b, daemon_wakeups, 0);
        EXPECT_EQ(*a, *b, daemon_batches, 0);
    }
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    nthreads = argc > 1 ? atoi(argv[1]) : 4;
    per_thread = argc > 2 ? atol(argv[2]) : 4000;
    CHECK(nthreads >= 2 && nthreads <= MAX_THREADS, "threads: 2..%d", MAX_THREADS);
    CHECK(per_thread >= 4 * HOLD && per_thread % 2 == 0, "blocks per thread: even, at least %d", 4 * HOLD);

    snap_t s0, s1, last;
    hak_free(hak_malloc(16));   /* initialise, register the main thread */
    snap(&s0);
    if (!s0.s.debug_counters) SKIP_EXIT("the library was built without HAKMEM_DEBUG_COUNTERS");

    /* ---- Threads that allocate, free across threads, keep some, and exit ----------------------- */
    pthread_t tid[MAX_THREADS];
    pthread_barrier_init(&allocated, NULL, (unsigned)nthreads);
    atomic_store(&running, nthreads);
    for (int t = 0; t < nthreads; t++) {
        CHECK((slots[t] = calloc((size_t)per_thread, sizeof(void *))) != NULL, "calloc");
        CHECK(pthread_create(&tid[t], NULL, worker, (void *)(intptr_t)t) == 0, "pthread_create");
    }
    last = s0;
    long polls = poll_monotonic(&last);
    for (int t = 0; t < nthreads; t++) pthread_join(tid[t], NULL);
    snap(&s1);
    long held_small = 0, held_large = 0;
    for (int t = 0; t < nthreads; t++)
        for (long i = 0; i < per_thread; i++)
            if (held(i)) {
                if (size_of(t, i) > 262144) held_large++;
                else held_small++;
            }
    /* Each worker freed its own odd blocks (local: it owned their slabs, being alive) and its
     * neighbour's even ones but the held (remote: another thread's slab, or an orphan). */
    long remote1 = 0;
    for (int t = 0; t < nthreads; t++)
        for (long i = 0; i < per_thread; i += 2)
            if (!held(i) && size_of(t, i) <= 262144) remote1++;
    check_balance("threads joined, blocks held", &s0, &s1, held_small, held_large, remote1);
    OK("%d threads x %ld blocks (cross-thread frees), joined: allocations - frees = %ld blocks still "
       "held (%ld large); hits+misses, pushes, large, malloc(0), free(NULL) all exact",
       nthreads, per_thread, held_small + held_large, held_large);
    OK("%ld polls of hak_stats_get() while they ran: no counter ever went down", polls);
    NOTE("misses %lld; new slabs: claimed %lld, from the ring %lld, adopted %lld; overflows %lld",
         (long long)DELTA(s0, s1, malloc_tls_miss), (long long)DELTA(s0, s1, slab_claimed_sync),
         (long long)DELTA(s0, s1, slab_from_ring), (long long)DELTA(s0, s1, slab_adopted),
         (long long)DELTA(s0, s1, free_overflow));

    /* ---- The main thread frees what the threads kept ------------------------------------------- */
    for (int t = 0; t < nthreads; t++)
        for (long i = 0; i < per_thread; i++)
            if (held(i)) {
                hak_free(slots[t][i]);
                count_free(size_of(t, i));
            }
    snap(&s1);
    /* Their owners exited: the slabs are orphans, every free of main is remote. */
    check_balance("held blocks freed by main", &s0, &s1, 0, 0, remote1 + held_small);
    OK("main freed the %ld held blocks: allocations - frees = 0", held_small + held_large);

    /* ---- Thread churn: many short threads exit while the counters are read --------------------- */
    pthread_t spawner;
    atomic_store(&running, 1);
    CHECK(pthread_create(&spawner, NULL, churn_spawner, NULL) == 0, "pthread_create");
    long churn_polls = poll_monotonic(&last);
    pthread_join(spawner, NULL);
    snap(&s1);
    /* Churn threads free only their own blocks, in slabs they own (claimed or adopted). */
    check_balance("after thread churn", &s0, &s1, 0, 0, remote1 + held_small);
    OK("free_remote: %ld cross-thread frees + %ld frees of orphans' blocks, exact", remote1, held_small);

    /* ---- Everything freed, every thread but main gone: hak_trim gives every slab back ---------- */
    hak_trim();
    snap(&s1);
    if (env_long("HAKMEM_REFILL_THREAD", 1) == 0) {
        uint64_t owned = 0;
        for (unsigned c = 0; c < HAK_STATS_CLASSES; c++) owned += s1.s.class_slabs[c];
        CHECK(owned == 0, "after hak_trim with nothing live, classes own %llu slabs", (unsigned long long)owned);
        CHECK(counter_of(&s1, "remote_collected") == counter_of(&s1, "free_remote"),
              "after hak_trim: remote_collected %llu != free_remote %llu (blocks left on remote lists)",
              (unsigned long long)counter_of(&s1, "remote_collected"), (unsigned long long)counter_of(&s1, "free_remote"));
        OK("hak_trim with nothing live: no slab left, every remotely freed block collected");
    }
    OK("%d short threads exited while main polled %ld times: no counter went down; balance still 0",
       CHURN_WAVES * 8, churn_polls);

    NOTE("whole run: SuperSlabs mapped %lld, retired %lld (%lld grace periods); purge runs %lld; slabs claimed %lld, "
         "released %lld", (long long)DELTA(s0, s1, superslab_mapped), (long long)DELTA(s0, s1, superslab_retired),
         (long long)DELTA(s0, s1, grace_periods), (long long)DELTA(s0, s1, slab_runs_purged),
         (long long)DELTA(s0, s1, slab_claimed), (long long)DELTA(s0, s1, slab_released));
    for (int t = 0; t < nthreads; t++) free(slots[t]);
    pthread_barrier_destroy(&allocated);
    printf("all counter checks passed\n");
    return 0;
}
