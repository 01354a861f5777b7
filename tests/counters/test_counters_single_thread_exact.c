/* test_counters_single_thread_exact: in one thread, known sequences of hak_malloc/hak_free move
 * the debug counters by exactly the amounts a model of the thread's lists predicts.
 *
 * The model (below) mirrors src/core/tls_cache.c: a list per class holds at most
 * cap = batch * HAKMEM_TLS_CAP_BATCHES blocks; malloc takes from it (malloc_tls_hit) or, when it is
 * empty, counts a miss and refills a whole batch; free pushes (free_tls_push) and, past the cap,
 * detaches one batch (free_overflow). Without the daemon it also mirrors the central pool
 * (src/core/central.c): a refill takes a batch from the transfer cache if there is one
 * (refill_from_transfer) and otherwise gathers `batch` blocks from slabs (refill_from_slab_free +
 * refill_carved); a batch given back goes to the transfer cache up to its cap and otherwise block
 * by block to its slab (free_block_to_slab).
 *
 *   test_counters_single_thread_exact exact    HAKMEM_REFILL_THREAD=0: every counter exact
 *   test_counters_single_thread_exact daemon   HAKMEM_REFILL_THREAD=1: the list counts are still
 *       exact (they do not depend on where a batch comes from); for the rest only what holds
 *       whatever the daemon's timing: every miss ends in one ring hit or one synchronous refill,
 *       every detached batch goes either to the daemon or to the central pool, and so on. If
 *       phase 2 has not started the daemon (when it starts is the library's choice), a helper
 *       thread allocates until it runs (deadline 60 s) before phase 3.
 *
 * The expectations read HAKMEM_TINY_REFILL_COUNT, HAKMEM_TLS_CAP_BATCHES and
 * HAKMEM_TRANSFER_BATCHES (ctest pins them); all sizes used are at most 128 B, whose batch is
 * exactly HAKMEM_TINY_REFILL_COUNT blocks. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "counters_util.h"
#include "daemon_wait.h"

#define SLAB_BYTES     65536u         /* a slab (src/core/internal.h): blocks carved per slab */
#define CLASS_CACHE    524288u        /* what a class's transfer cache may hold, bytes (size_class.c) */
#define LARGE_SIZE     (300u * 1024)  /* above the largest class (256 KiB): a large block */
#define PHASE2_BLOCKS  2000

static int daemon_mode;
static long batch, cap;

/* ---- The model ------------------------------------------------------------------------------ */

typedef struct model_class {
    unsigned size;        /* block size */
    long len;             /* blocks on the thread's list */
    long transfer;        /* batches in the central transfer cache (daemon off) */
    long transfer_cap;
} model_class_t;

/* What one phase should count. */
typedef struct expect {
    long hit, miss, push, overflow, flushed_lists;
    long from_transfer, gathered;          /* refills: batches from the transfer cache, blocks gathered */
    long to_transfer, to_slab;             /* gives back: batches kept whole, blocks to their slabs */
} expect_t;

static model_class_t model_new(unsigned size)
{
    long fit = CLASS_CACHE / ((unsigned long)batch * size);
    long tmax = env_long("HAKMEM_TRANSFER_BATCHES", DEFAULT_TRANSFER_BATCHES);
    long tcap = fit < 1 ? 1 : fit;
    if (tcap > tmax) tcap = tmax;
    return (model_class_t){ .size = size, .transfer_cap = tcap };
}

static void model_give_back(model_class_t *c, expect_t *e, long blocks)
{
    if (blocks == batch && c->transfer < c->transfer_cap) {
        c->transfer++;
        e->to_transfer++;
    } else {
        e->to_slab += blocks;
    }
}

static void model_malloc(model_class_t *c, expect_t *e)
{
    if (c->len > 0) {
        c->len--;
        e->hit++;
        return;
    }
    e->miss++;
    if (c->transfer > 0) {
        c->transfer--;
        e->from_transfer++;
    } else {
        e->gathered += batch;
    }
    c->len = batch - 1;
}

static void model_free(model_class_t *c, expect_t *e)
{
    e->push++;
    if (++c->len > cap) {
        c->len -= batch;
        e->overflow++;
        if (!daemon_mode) model_give_back(c, e, batch);
    }
}

static void model_flush(model_class_t *c, expect_t *e)
{
    if (c->len == 0) return;
    e->flushed_lists++;
    model_give_back(c, e, c->len);
    c->len = 0;
}

/* ---- Checks ---------------------------------------------------------------------------------- */

/* What holds in both modes. */
static void check_common(const char *phase, const snap_t *a, const snap_t *b, const expect_t *e)
{
    EXPECT_EQ(*a, *b, malloc_tls_hit, e->hit);
    EXPECT_EQ(*a, *b, malloc_tls_miss, e->miss);
    EXPECT_EQ(*a, *b, free_tls_push, e->push);
    EXPECT_EQ(*a, *b, free_overflow, e->overflow);
    /* Every miss of a registered thread ends in exactly one ring hit or one synchronous refill. */
    CHECK(DELTA(*a, *b, malloc_tls_miss) == DELTA(*a, *b, refill_ring_hit) + DELTA(*a, *b, refill_sync),
          "%s: misses %lld != ring hits %lld + synchronous refills %lld", phase,
          (long long)DELTA(*a, *b, malloc_tls_miss), (long long)DELTA(*a, *b, refill_ring_hit),
          (long long)DELTA(*a, *b, refill_sync));
    CHECK(DELTA(*a, *b, refill_ring_empty) <= DELTA(*a, *b, refill_sync),
          "%s: an empty ring is always followed by a synchronous refill", phase);
    /* Every detached batch and every flushed list goes either to the daemon or to the central pool. */
    CHECK(DELTA(*a, *b, free_batch_to_daemon) + DELTA(*a, *b, free_batch_to_central) ==
              e->overflow + e->flushed_lists,
          "%s: batches to daemon %lld + to central %lld != overflows %ld + flushed lists %ld", phase,
          (long long)DELTA(*a, *b, free_batch_to_daemon), (long long)DELTA(*a, *b, free_batch_to_central),
          e->overflow, e->flushed_lists);
    /* The always-on figures count the same refills. */
    CHECK(FIELD_DELTA(*a, *b, refills_ring) == DELTA(*a, *b, refill_ring_hit),
          "%s: refills_ring %lld != refill_ring_hit %lld", phase,
          (long long)FIELD_DELTA(*a, *b, refills_ring), (long long)DELTA(*a, *b, refill_ring_hit));
    CHECK(FIELD_DELTA(*a, *b, refills_sync) == DELTA(*a, *b, refill_sync),
          "%s: refills_sync %lld != refill_sync %lld", phase,
          (long long)FIELD_DELTA(*a, *b, refills_sync), (long long)DELTA(*a, *b, refill_sync));
    EXPECT_EQ(*a, *b, invalid_pointer, 0);
    EXPECT_EQ(*a, *b, mmap_failed, 0);
}

/* The refill and give-back sources, exact without the daemon; with it, what the application
 * thread's own refills guarantee (the daemon only adds gathered blocks). */
static void check_sources(const char *phase, const snap_t *a, const snap_t *b, const expect_t *e)
{
    int64_t blocks = DELTA(*a, *b, refill_from_transfer) * batch + DELTA(*a, *b, refill_from_slab_free) +
                     DELTA(*a, *b, refill_carved);
    if (daemon_mode) {
        CHECK(blocks >= DELTA(*a, *b, refill_sync) * batch,
              "%s: blocks of refills %lld < batch * synchronous refills %lld", phase, (long long)blocks,
              (long long)(DELTA(*a, *b, refill_sync) * batch));
        return;
    }
    EXPECT_EQ(*a, *b, refill_sync, e->miss);
    EXPECT_EQ(*a, *b, refill_ring_hit, 0);
    EXPECT_EQ(*a, *b, refill_ring_empty, 0);
    EXPECT_EQ(*a, *b, refill_from_transfer, e->from_transfer);
    CHECK(DELTA(*a, *b, refill_from_slab_free) + DELTA(*a, *b, refill_carved) == e->gathered,
          "%s: refill_from_slab_free %lld + refill_carved %lld != %ld blocks gathered", phase,
          (long long)DELTA(*a, *b, refill_from_slab_free), (long long)DELTA(*a, *b, refill_carved),
          e->gathered);
    CHECK(blocks == DELTA(*a, *b, refill_sync) * batch, "%s: synchronous refills' blocks", phase);
    EXPECT_EQ(*a, *b, free_batch_to_daemon, 0);
    EXPECT_EQ(*a, *b, free_batch_to_central, e->overflow + e->flushed_lists);
    EXPECT_EQ(*a, *b, free_block_to_slab, e->to_slab);
    EXPECT_EQ(*a, *b, daemon_wakeups, 0);
    EXPECT_EQ(*a, *b, daemon_batches, 0);
    EXPECT_EQ(*a, *b, daemon_chains_drained, 0);
    EXPECT_EQ(*a, *b, superslab_retired, 0);
    EXPECT_EQ(*a, *b, grace_periods, 0);
}

/* A counter that nothing in the phase may touch (checked where the daemon cannot run). */
static void check_untouched(const snap_t *a, const snap_t *b, const char *const *names)
{
    for (; *names; names++) {
        int64_t d = counter_delta(a, b, *names);
        CHECK(d == 0, "%s moved by %lld", *names, (long long)d);
    }
}

static unsigned long ceil_div(unsigned long a, unsigned long b) { return (a + b - 1) / b; }

/* Drives allocation from a thread of its own until the daemon runs (daemon_wait.h). */
static void *drive_daemon(void *arg)
{
    daemon_drive_until_running(hak_malloc, hak_free, test_deadline_seconds());
    return arg;
}

/* ---- The phases ------------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mode = argc > 1 ? argv[1] : "exact";
    daemon_mode = strcmp(mode, "daemon") == 0;
    CHECK(daemon_mode || strcmp(mode, "exact") == 0, "usage: %s exact|daemon", argv[0]);
    long want_daemon = env_long("HAKMEM_REFILL_THREAD", 1);
    CHECK(want_daemon == daemon_mode, "mode %s needs HAKMEM_REFILL_THREAD=%d", mode, daemon_mode);
    batch = env_long("HAKMEM_TINY_REFILL_COUNT", DEFAULT_REFILL_COUNT);
    cap = batch * env_long("HAKMEM_TLS_CAP_BATCHES", DEFAULT_TLS_CAP_BATCHES);
    CHECK(batch >= 4, "this test needs batches of at least 4 blocks");

    snap_t s0, s1;
    snap(&s0);
    if (!s0.s.debug_counters) SKIP_EXIT("the library was built without HAKMEM_DEBUG_COUNTERS");

    model_class_t c32 = model_new(32), c8 = model_new(8), c48 = model_new(48);

    /* Warm-up: the first malloc initialises the library, registers the thread and maps the first
     * SuperSlab; its first slab goes to the 32-byte class. */
    expect_t e = { 0 };
    void *p = hak_malloc(32);
    model_malloc(&c32, &e);
    hak_free(p);
    model_free(&c32, &e);
    snap(&s1);
    check_common("warm-up", &s0, &s1, &e);
    check_sources("warm-up", &s0, &s1, &e);
    EXPECT_EQ(s0, s1, superslab_mapped, 1);
    EXPECT_EQ(s0, s1, slab_claimed, 1);
    EXPECT_EQ(s0, s1, refill_carved, batch);
    OK("warm-up: 1 miss, 1 synchronous refill carving %ld blocks, 1 SuperSlab, 1 slab", batch);

    /* Phase 1: hits and pushes only, plus the early returns and the large path. The daemon has not
     * started in either mode (it starts after 16 synchronous refills and large frees; this phase
     * brings the total to 10), so everything is exact. */
    enum { NULLS = 5, ZEROS = 3, LARGES = 4 };
    long n1 = batch / 2;
    void *blocks[PHASE2_BLOCKS];
    e = (expect_t){ 0 };
    s0 = s1;
    for (long i = 0; i < n1; i++) {
        blocks[i] = hak_malloc(32);
        model_malloc(&c32, &e);
    }
    for (long i = 0; i < n1; i++) {
        hak_free(blocks[i]);
        model_free(&c32, &e);
    }
    for (int i = 0; i < NULLS; i++) hak_free(NULL);
    for (int i = 0; i < ZEROS; i++) {
        blocks[i] = hak_malloc(0);
        CHECK(blocks[i] != NULL, "malloc(0)");
        model_malloc(&c8, &e);                 /* size 0 is served from the 8-byte class */
    }
    for (int i = 0; i < ZEROS; i++) {
        hak_free(blocks[i]);
        model_free(&c8, &e);
    }
    for (int round = 0; round < 2; round++) {  /* the second round reuses the cached mappings */
        for (int i = 0; i < LARGES; i++) CHECK((blocks[i] = hak_malloc(LARGE_SIZE)) != NULL, "large malloc");
        for (int i = 0; i < LARGES; i++) hak_free(blocks[i]);
    }
    snap(&s1);
    CHECK(e.miss == 1 && e.overflow == 0, "model: phase 1 has one miss (first 8-byte block), no overflow");
    check_common("phase 1", &s0, &s1, &e);
    check_sources("phase 1", &s0, &s1, &e);
    EXPECT_EQ(s0, s1, free_null, NULLS);
    EXPECT_EQ(s0, s1, malloc_zero, ZEROS);
    EXPECT_EQ(s0, s1, large_alloc, 2 * LARGES);
    EXPECT_EQ(s0, s1, large_free, 2 * LARGES);
    EXPECT_EQ(s0, s1, large_cache_hit, LARGES);
    EXPECT_EQ(s0, s1, slab_claimed, 1);
    EXPECT_EQ(s0, s1, refill_carved, batch);
    CHECK(DELTA(s0, s1, refill_sync_ns) > 0, "refill_sync_ns: the synchronous refill took no time");
    CHECK(FIELD_DELTA(s0, s1, large_live) == 0 && FIELD_DELTA(s0, s1, large_cached) == LARGES,
          "always-on: large_live %+lld (want 0), large_cached %+lld (want %d)",
          (long long)FIELD_DELTA(s0, s1, large_live), (long long)FIELD_DELTA(s0, s1, large_cached), LARGES);
    static const char *const untouched1[] = {
        "refill_ring_hit", "refill_ring_empty", "refill_from_transfer", "refill_from_slab_free",
        "superslab_mapped", "free_overflow", "free_batch_to_daemon", "free_batch_to_central",
        "free_block_to_slab", "daemon_wakeups", "daemon_batches", "daemon_chains_drained",
        "slab_released", "slab_runs_purged", "superslab_retired", "grace_periods", NULL,
    };
    check_untouched(&s0, &s1, untouched1);
    OK("phase 1: %ld malloc(32)/free: %ld hits, %ld pushes; %d free(NULL); %d malloc(0) (1 miss); "
       "%d large mallocs/frees, %d from the cache; nothing else moved",
       n1, n1, n1, NULLS, ZEROS, 2 * LARGES, LARGES);

    /* Phase 2: a fresh class refilled again and again. */
    e = (expect_t){ 0 };
    s0 = s1;
    for (int i = 0; i < PHASE2_BLOCKS; i++) {
        CHECK((blocks[i] = hak_malloc(48)) != NULL, "malloc(48)");
        model_malloc(&c48, &e);
    }
    snap(&s1);
    check_common("phase 2", &s0, &s1, &e);
    check_sources("phase 2", &s0, &s1, &e);
    EXPECT_EQ(s0, s1, malloc_tls_hit, PHASE2_BLOCKS - e.miss);
    if (!daemon_mode) {
        /* A fresh class has nothing to recycle: every block is carved, slab after slab. */
        EXPECT_EQ(s0, s1, refill_from_slab_free, 0);
        EXPECT_EQ(s0, s1, refill_carved, e.gathered);
        EXPECT_EQ(s0, s1, slab_claimed, ceil_div((unsigned long)e.gathered, SLAB_BYTES / 48));
        OK("phase 2: %d malloc(48): %ld misses = %ld synchronous refills carving %ld blocks from %lld slabs",
           PHASE2_BLOCKS, e.miss, e.miss, e.gathered, (long long)DELTA(s0, s1, slab_claimed));
    } else {
        OK("phase 2: %d malloc(48): %ld misses = %lld ring hits + %lld synchronous refills (%lld found "
           "the ring empty); the daemon %s",
           PHASE2_BLOCKS, e.miss, (long long)DELTA(s0, s1, refill_ring_hit),
           (long long)DELTA(s0, s1, refill_sync), (long long)DELTA(s0, s1, refill_ring_empty),
           hak_refill_thread_running() ? "started" : "has not started yet");
        /* When the daemon starts is the library's choice (not "after N refills"). The phases below
         * should run with it: if phase 2 did not start it, a helper thread (its own lists, so the
         * model of this thread's lists is untouched) allocates until it runs, deadline 60 s. */
        if (!hak_refill_thread_running()) {
            pthread_t helper;
            CHECK(pthread_create(&helper, NULL, drive_daemon, NULL) == 0, "pthread_create");
            pthread_join(helper, NULL);
            snap(&s1);
        }
        if (hak_refill_thread_running())
            OK("the daemon runs for phases 3-5");
        else
            NOTE("the library did not start the daemon: phases 3-5 check their timing-free "
                 "invariants without it (the daemon's side of them is not exercised)");
    }

    /* Phase 3: free them all: the list overflows one batch at a time. */
    e = (expect_t){ 0 };
    s0 = s1;
    for (int i = 0; i < PHASE2_BLOCKS; i++) {
        hak_free(blocks[i]);
        model_free(&c48, &e);
    }
    snap(&s1);
    check_common("phase 3", &s0, &s1, &e);
    check_sources("phase 3", &s0, &s1, &e);
    CHECK(e.overflow > 0, "model: phase 3 overflows");
    if (!daemon_mode) {
        CHECK(DELTA(s0, s1, slab_released) <= 2, "at most the two slabs of phase 2 can be released");
        OK("phase 3: %d frees: %ld pushes, %ld overflows -> central pool: %ld batches kept whole "
           "(transfer cap %ld), %ld blocks back to their slabs",
           PHASE2_BLOCKS, e.push, e.overflow, e.to_transfer, c48.transfer_cap, e.to_slab);
    } else {
        /* The daemon runs: each batch goes straight into the ring under the class lock when the
         * lock is free, or onto the return stack when the daemon holds it: either way exactly one
         * of the two counts it. Which one depends on timing. */
        CHECK(DELTA(s0, s1, free_batch_to_daemon) + DELTA(s0, s1, free_batch_to_central) == e.overflow,
              "phase 3: to_daemon %lld + to_central %lld != %ld overflows",
              (long long)DELTA(s0, s1, free_batch_to_daemon), (long long)DELTA(s0, s1, free_batch_to_central),
              e.overflow);
        OK("phase 3: %d frees: %ld pushes, %ld overflows: %lld batches into the ring under the lock, "
           "%lld onto the daemon's return stack",
           PHASE2_BLOCKS, e.push, e.overflow, (long long)DELTA(s0, s1, free_batch_to_central),
           (long long)DELTA(s0, s1, free_batch_to_daemon));
    }

    /* Phase 4: allocate them again: refills recycle what phase 3 gave back. */
    e = (expect_t){ 0 };
    s0 = s1;
    for (int i = 0; i < PHASE2_BLOCKS; i++) {
        CHECK((blocks[i] = hak_malloc(48)) != NULL, "malloc(48)");
        model_malloc(&c48, &e);
    }
    snap(&s1);
    check_common("phase 4", &s0, &s1, &e);
    check_sources("phase 4", &s0, &s1, &e);
    if (!daemon_mode) {
        OK("phase 4: %d malloc(48): %ld misses: %ld whole batches from the transfer cache, %lld blocks "
           "from slab free lists, %lld carved",
           PHASE2_BLOCKS, e.miss, e.from_transfer, (long long)DELTA(s0, s1, refill_from_slab_free),
           (long long)DELTA(s0, s1, refill_carved));
    } else {
        OK("phase 4: %d malloc(48): %ld misses = %lld ring hits + %lld synchronous refills",
           PHASE2_BLOCKS, e.miss, (long long)DELTA(s0, s1, refill_ring_hit),
           (long long)DELTA(s0, s1, refill_sync));
    }

    /* Phase 5: free everything, then flush the thread's lists: one chain per non-empty list. */
    e = (expect_t){ 0 };
    s0 = s1;
    for (int i = 0; i < PHASE2_BLOCKS; i++) {
        hak_free(blocks[i]);
        model_free(&c48, &e);
    }
    hak_thread_flush();
    model_flush(&c8, &e);
    model_flush(&c32, &e);
    model_flush(&c48, &e);
    snap(&s1);
    check_common("phase 5", &s0, &s1, &e);
    check_sources("phase 5", &s0, &s1, &e);
    CHECK(e.flushed_lists == 3, "model: three non-empty lists");
    OK("phase 5: %d frees (%ld overflows) and hak_thread_flush(): %ld lists given back",
       PHASE2_BLOCKS, e.overflow, e.flushed_lists);

    /* After the flush every list is empty: the next malloc of each class misses. */
    e = (expect_t){ 0 };
    s0 = s1;
    p = hak_malloc(32);
    model_malloc(&c32, &e);
    hak_free(p);
    model_free(&c32, &e);
    snap(&s1);
    check_common("after flush", &s0, &s1, &e);
    check_sources("after flush", &s0, &s1, &e);
    CHECK(e.miss == 1, "model: a miss after the flush");
    OK("after hak_thread_flush() the next malloc(32) is a miss%s",
       daemon_mode ? "" : ", refilled with the flushed batch from the transfer cache");

    printf("all counter checks passed (%s)\n", mode);
    return 0;
}
