/* test_counters_single_thread_exact: in one thread, known sequences of hak_malloc/hak_free move
 * the debug counters by exactly the amounts a model of the thread's lists and slabs predicts.
 *
 * The model (below) mirrors src/core/tls_cache.c and src/core/thread_heap.c: per class the thread
 * has a list whose cap starts at batch * HAKMEM_TLS_CAP_BATCHES blocks; malloc takes from it
 * (malloc_tls_hit) or, when it is empty, counts a miss and refills up to one batch (or a slab's
 * whole free list, when it fits in the list's cap) from the slabs the thread owns
 * (refill_from_slab_free + refill_carved + remote_collected blocks); free pushes (free_tls_push)
 * and, past the cap, overflows: if the list ran empty since the last overflow the cap doubles
 * (tls_cap_grown, up to 1024 batches / 4 MiB per class, the last step clamped, and 16 MiB of growth
 * per thread), else one batch (after 4 calm overflows a batch plus
 * the halved cap) goes back to the slabs (free_overflow, free_to_slabs); hak_thread_flush gives
 * every non-empty list back (free_to_slabs). A refill's size is observed (counter deltas around
 * each malloc the model predicts to miss) and checked against 1..batch (up to the cap for a whole
 * free list); in a fresh class, which only carves, it is predicted exactly: min(batch, blocks left
 * in the slab), a new slab per full one. Blocks refilled over phases 2-5 == blocks the model gave
 * back (all freed and flushed), and hak_trim at the end gives every slab back (slab_claimed ==
 * slab_released).
 *
 *   test_counters_single_thread_exact exact    HAKMEM_REFILL_THREAD=0: every counter exact
 *   test_counters_single_thread_exact daemon   HAKMEM_REFILL_THREAD=1: the list counts are still
 *       exact (they do not depend on where a new slab comes from); new slabs are
 *       slab_claimed_sync + slab_from_ring (whichever the timing gives), and the always-on
 *       refills_sync / refills_ring match them. If phase 2 has not started the daemon, a helper
 *       thread allocates until it runs (deadline 60 s) before phase 3.
 *
 * The expectations read HAKMEM_TINY_REFILL_COUNT and HAKMEM_TLS_CAP_BATCHES (ctest pins them);
 * all sizes used are at most 128 B, whose batch is exactly HAKMEM_TINY_REFILL_COUNT blocks. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "support/check.h"
#include "counters_util.h"
#include "support/daemon_wait.h"
#include "support/wait.h"

#define SLAB_BYTES     65536u         /* a slab (src/core/size_class.h) */
#define LARGE_SIZE     (300u * 1024)  /* above the largest class (256 KiB): a large block */
#define PHASE2_BLOCKS  33000         /* 48 B blocks: more than a full cap (32768), so phase 3 also overflows */
#define CAP_BATCHES_MAX 1024          /* tls_cache.c */
#define CAP_BYTES_MAX  (4u << 20)
#define THREAD_GROWTH_MAX (16l << 20)
#define CALM_OVERFLOWS 4
#define GROW_AFTER_REFILLS 2   /* tls_cache.c */

static int daemon_mode;
static long batch, cap_batches0;

/* ---- The model ------------------------------------------------------------------------------ */

typedef struct model_class {
    unsigned size;
    long len, room, cap_batches, calm;   /* room: as tls_cache_t.room (tls_cache.h) */
    int underflowed;
    int growing;                  /* the last overflow grew the cap, no refill since */
    int predict_carve;            /* fresh class, nothing freed yet: refills only carve */
    long carved_in_slab, slabs;   /* (predict_carve) blocks carved from the current slab, slabs used */
} model_class_t;

typedef struct expect {
    long hit, miss, push, overflow, grown, to_slabs;
    long refilled, given_back;    /* blocks */
} expect_t;

static model_class_t model_new(unsigned size)
{
    return (model_class_t){ .size = size, .cap_batches = cap_batches0, .room = batch * cap_batches0,
                            .predict_carve = 1 };
}

static long cap_of(const model_class_t *c) { return batch * c->cap_batches; }

/* Bytes by which the thread's caps exceed their floors (tls_cache.c: tls_cap_growth). */
static long model_growth;

static long cap_max(const model_class_t *c)
{
    long by_bytes = CAP_BYTES_MAX / (batch * c->size);
    long max = by_bytes < CAP_BATCHES_MAX ? by_bytes : CAP_BATCHES_MAX;
    return max > cap_batches0 ? max : cap_batches0;
}

/* One malloc, done and modelled. On a predicted miss the refill is observed (and, in a fresh
 * class, predicted). */
static void *model_malloc(model_class_t *c, expect_t *e, size_t size)
{
    if (c->len > 0) {
        c->len--;
        c->room++;
        e->hit++;
        void *p = hak_malloc(size);
        CHECK(p != NULL, "hak_malloc(%zu)", size);
        return p;
    }
    snap_t a, b;
    snap(&a);
    void *p = hak_malloc(size);
    snap(&b);
    CHECK(p != NULL, "hak_malloc(%zu)", size);
    EXPECT_EQ(a, b, malloc_tls_miss, 1);
    EXPECT_EQ(a, b, malloc_tls_hit, 0);
    int64_t n = refill_blocks(&a, &b);
    /* A batch, or a slab's whole free list when it fits in the (empty) list's cap. */
    CHECK(n >= 1 && n <= (n > batch ? cap_of(c) : batch), "a refill of size %u got %lld blocks (want 1..%ld, or up to the cap %ld)",
          c->size, (long long)n, batch, cap_of(c));
    if (n > batch) EXPECT_EQ(a, b, refill_from_slab_free, n);   /* only a free list is taken whole */
    if (c->predict_carve) {
        long per_slab = SLAB_BYTES / c->size, want;
        if (c->slabs == 0 || c->carved_in_slab == per_slab) {
            c->slabs++;
            c->carved_in_slab = 0;
        }
        want = per_slab - c->carved_in_slab < batch ? per_slab - c->carved_in_slab : batch;
        c->carved_in_slab += want;
        CHECK(n == want, "fresh class %u: a refill carved %lld blocks, want %ld", c->size, (long long)n, want);
        EXPECT_EQ(a, b, refill_carved, want);
    }
    e->miss++;
    e->refilled += n;
    c->len = n - 1;
    c->room = cap_of(c) - (n - 1);
    c->underflowed++;
    c->calm = 0;
    c->growing = 0;
    return p;
}

static void model_free(model_class_t *c, expect_t *e, void *p)
{
    hak_free(p);
    c->predict_carve = 0;
    e->push++;
    c->len++;
    if (--c->room >= 0) return;
    /* Grow: double, clamped to the class's largest cap and to the thread's budget (whole batches). */
    long to = 2 * c->cap_batches < cap_max(c) ? 2 * c->cap_batches : cap_max(c);
    long budget = (THREAD_GROWTH_MAX - model_growth) / (batch * (long)c->size);
    if (to - c->cap_batches > budget) to = c->cap_batches + budget;
    if ((c->underflowed >= GROW_AFTER_REFILLS || c->growing) && to > c->cap_batches) {
        model_growth += (to - c->cap_batches) * batch * (long)c->size;
        c->room += (to - c->cap_batches) * batch;
        c->cap_batches = to;
        c->underflowed = 0;
        c->calm = 0;
        c->growing = 1;
        e->grown++;
        return;
    }
    c->underflowed = 0;
    c->growing = 0;
    long give = batch;
    if (++c->calm >= CALM_OVERFLOWS && c->cap_batches > cap_batches0) {
        c->cap_batches /= 2;
        give += cap_of(c);
        model_growth -= cap_of(c) * (long)c->size;
        c->calm = 0;
    }
    /* room grows by one batch: the excess given back when halving pays for the smaller cap, so
     * the list again has room for batch - 1 blocks whatever its cap. */
    c->room += batch;
    if (give > c->len) give = c->len;
    c->len -= give;
    e->given_back += give;
    e->overflow++;
    e->to_slabs++;
}

static void model_flush(model_class_t *c, expect_t *e)
{
    if (c->len == 0) return;
    e->to_slabs++;
    e->given_back += c->len;
    c->len = 0;
    c->room = cap_of(c);
}

/* ---- Checks ---------------------------------------------------------------------------------- */

/* What holds in both modes. */
static void check_common(const char *phase, const snap_t *a, const snap_t *b, const expect_t *e)
{
    EXPECT_EQ(*a, *b, malloc_tls_hit, e->hit);
    EXPECT_EQ(*a, *b, malloc_tls_miss, e->miss);
    EXPECT_EQ(*a, *b, free_tls_push, e->push);
    EXPECT_EQ(*a, *b, free_overflow, e->overflow);
    EXPECT_EQ(*a, *b, tls_cap_grown, e->grown);
    EXPECT_EQ(*a, *b, free_to_slabs, e->to_slabs);
    EXPECT_EQ(*a, *b, free_remote, 0);           /* one thread: every block is its own */
    EXPECT_EQ(*a, *b, remote_collected, 0);
    EXPECT_EQ(*a, *b, slab_adopted, 0);          /* no thread exited holding blocks */
    CHECK(refill_blocks(a, b) == e->refilled, "%s: refilled blocks %lld, observed per miss %ld", phase,
          (long long)refill_blocks(a, b), e->refilled);
    /* A new slab is taken only by a miss (at most one each): claimed, from the ring, or parked. */
    int64_t new_slabs = DELTA(*a, *b, slab_claimed_sync) + DELTA(*a, *b, slab_from_ring);
    CHECK(new_slabs <= e->miss, "%s: %lld new slabs for %ld misses", phase, (long long)new_slabs, e->miss);
    /* The always-on figures count the same events. */
    CHECK(FIELD_DELTA(*a, *b, refills_ring) == DELTA(*a, *b, slab_from_ring),
          "%s: refills_ring %lld != slab_from_ring %lld", phase,
          (long long)FIELD_DELTA(*a, *b, refills_ring), (long long)DELTA(*a, *b, slab_from_ring));
    CHECK(FIELD_DELTA(*a, *b, refills_sync) == DELTA(*a, *b, slab_claimed_sync),
          "%s: refills_sync %lld != slab_claimed_sync %lld", phase,
          (long long)FIELD_DELTA(*a, *b, refills_sync), (long long)DELTA(*a, *b, slab_claimed_sync));
    EXPECT_EQ(*a, *b, invalid_pointer, 0);
    EXPECT_EQ(*a, *b, mmap_failed, 0);
    if (!daemon_mode) {
        EXPECT_EQ(*a, *b, slab_from_ring, 0);
        EXPECT_EQ(*a, *b, slab_claimed, DELTA(*a, *b, slab_claimed_sync));
        EXPECT_EQ(*a, *b, daemon_wakeups, 0);
        EXPECT_EQ(*a, *b, daemon_batches, 0);
        EXPECT_EQ(*a, *b, superslab_retired, 0);
        EXPECT_EQ(*a, *b, grace_periods, 0);
    }
}

/* A counter that nothing in the phase may touch (checked where the daemon cannot run). */
static void check_untouched(const snap_t *a, const snap_t *b, const char *const *names)
{
    for (; *names; names++) {
        int64_t d = counter_delta(a, b, *names);
        CHECK(d == 0, "%s moved by %lld", *names, (long long)d);
    }
}

/* Drives allocation from a thread of its own until the daemon runs (daemon_wait.h). */
static void *drive_daemon(void *arg)
{
    daemon_drive_until_running(hak_malloc, hak_free, test_deadline_seconds());
    return arg;
}

static void add(expect_t *sum, const expect_t *e)
{
    sum->refilled += e->refilled;
    sum->given_back += e->given_back;
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
    cap_batches0 = env_long("HAKMEM_TLS_CAP_BATCHES", DEFAULT_TLS_CAP_BATCHES);
    CHECK(batch >= 4, "this test needs batches of at least 4 blocks");

    snap_t s0, s1, start;
    snap(&s0);
    start = s0;
    if (!s0.s.debug_counters) SKIP_EXIT("the library was built without HAKMEM_DEBUG_COUNTERS");

    model_class_t c32 = model_new(32), c8 = model_new(8), c48 = model_new(48);

    /* Warm-up: the first malloc initialises the library, registers the thread and maps the first
     * SuperSlab; the thread claims its first slab for the 32-byte class and carves one batch. */
    expect_t e = { 0 };
    void *p = model_malloc(&c32, &e, 32);
    model_free(&c32, &e, p);
    snap(&s1);
    check_common("warm-up", &s0, &s1, &e);
    EXPECT_EQ(s0, s1, superslab_mapped, 1);
    EXPECT_EQ(s0, s1, slab_claimed, 1);
    EXPECT_EQ(s0, s1, slab_claimed_sync, 1);
    EXPECT_EQ(s0, s1, refill_carved, batch);
    OK("warm-up: 1 miss, 1 slab claimed, %ld blocks carved, 1 SuperSlab", batch);

    /* Phase 1: hits and pushes only, plus the early returns and the large path. The daemon has not
     * started in either mode (too few claims), so everything is exact. */
    enum { NULLS = 5, ZEROS = 3, LARGES = 4 };
    long n1 = batch / 2;
    static void *blocks[PHASE2_BLOCKS];
    e = (expect_t){ 0 };
    s0 = s1;
    for (long i = 0; i < n1; i++) blocks[i] = model_malloc(&c32, &e, 32);
    for (long i = 0; i < n1; i++) model_free(&c32, &e, blocks[i]);
    for (int i = 0; i < NULLS; i++) hak_free(NULL);
    for (int i = 0; i < ZEROS; i++) blocks[i] = model_malloc(&c8, &e, 0);   /* size 0: the 8-byte class */
    for (int i = 0; i < ZEROS; i++) model_free(&c8, &e, blocks[i]);
    for (int round = 0; round < 2; round++) {  /* the second round reuses the cached mappings */
        for (int i = 0; i < LARGES; i++) CHECK((blocks[i] = hak_malloc(LARGE_SIZE)) != NULL, "large malloc");
        for (int i = 0; i < LARGES; i++) hak_free(blocks[i]);
    }
    snap(&s1);
    CHECK(e.miss == 1 && e.overflow == 0, "model: phase 1 has one miss (first 8-byte block), no overflow");
    check_common("phase 1", &s0, &s1, &e);
    EXPECT_EQ(s0, s1, free_null, NULLS);
    EXPECT_EQ(s0, s1, malloc_zero, ZEROS);
    EXPECT_EQ(s0, s1, large_alloc, 2 * LARGES);
    EXPECT_EQ(s0, s1, large_free, 2 * LARGES);
    EXPECT_EQ(s0, s1, large_cache_hit, LARGES);
    EXPECT_EQ(s0, s1, slab_claimed, 1);
    EXPECT_EQ(s0, s1, slab_claimed_sync, 1);
    EXPECT_EQ(s0, s1, refill_carved, batch);
    /* The cache holds every freed byte; mappings that lie side by side merge into one entry. */
    CHECK(FIELD_DELTA(s0, s1, large_live) == 0 && FIELD_DELTA(s0, s1, large_cached) >= 1
              && FIELD_DELTA(s0, s1, large_cached) <= LARGES
              && FIELD_DELTA(s0, s1, large_cached_bytes) == (long long)LARGES * LARGE_SIZE,
          "always-on: large_live %+lld (want 0), large_cached %+lld (want 1..%d), large_cached_bytes %+lld (want %lld)",
          (long long)FIELD_DELTA(s0, s1, large_live), (long long)FIELD_DELTA(s0, s1, large_cached), LARGES,
          (long long)FIELD_DELTA(s0, s1, large_cached_bytes), (long long)LARGES * LARGE_SIZE);
    static const char *const untouched1[] = {
        "slab_from_ring", "refill_from_slab_free", "superslab_mapped", "free_overflow",
        "tls_cap_grown", "free_to_slabs", "daemon_wakeups", "daemon_batches",
        "slab_released", "slab_runs_purged", "superslab_retired", "grace_periods", NULL,
    };
    check_untouched(&s0, &s1, untouched1);
    OK("phase 1: %ld malloc(32)/free: %ld hits, %ld pushes; %d free(NULL); %d malloc(0) (1 miss, 1 "
       "slab); %d large mallocs/frees, %d from the cache; nothing else moved",
       n1, n1, n1, NULLS, ZEROS, 2 * LARGES, LARGES);

    /* Phase 2: a fresh class refilled again and again: every refill carves, slab after slab. */
    expect_t sum48 = { 0 };
    e = (expect_t){ 0 };
    s0 = s1;
    for (int i = 0; i < PHASE2_BLOCKS; i++) blocks[i] = model_malloc(&c48, &e, 48);
    snap(&s1);
    check_common("phase 2", &s0, &s1, &e);
    add(&sum48, &e);
    EXPECT_EQ(s0, s1, refill_from_slab_free, 0);
    EXPECT_EQ(s0, s1, refill_carved, e.refilled);
    CHECK(DELTA(s0, s1, slab_claimed_sync) + DELTA(s0, s1, slab_from_ring) == c48.slabs,
          "phase 2: new slabs: claimed %lld + from the ring %lld, want %ld",
          (long long)DELTA(s0, s1, slab_claimed_sync), (long long)DELTA(s0, s1, slab_from_ring), c48.slabs);
    if (!daemon_mode) {
        EXPECT_EQ(s0, s1, slab_claimed, c48.slabs);
        OK("phase 2: %d malloc(48): %ld misses carving %ld blocks (a partial batch at each slab's "
           "end) from %ld claimed slabs", PHASE2_BLOCKS, e.miss, e.refilled, c48.slabs);
    } else {
        OK("phase 2: %d malloc(48): %ld misses carving %ld blocks from %ld slabs (%lld from the ring); "
           "the daemon %s", PHASE2_BLOCKS, e.miss, e.refilled, c48.slabs,
           (long long)DELTA(s0, s1, slab_from_ring), hak_refill_thread_running() ? "started" : "has not started yet");
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
                 "invariants without it");
    }

    /* Phase 3: free them all: the list first grows its cap (it ran empty since it last
     * overflowed), doubling at each overflow of this burst up to its largest cap, then overflows
     * give batches back, then calm overflows halve the cap again. */
    e = (expect_t){ 0 };
    s0 = s1;
    for (int i = 0; i < PHASE2_BLOCKS; i++) model_free(&c48, &e, blocks[i]);
    snap(&s1);
    check_common("phase 3", &s0, &s1, &e);
    add(&sum48, &e);
    CHECK(e.overflow > 0 && e.grown > 0, "model: phase 3 grows the cap and overflows");
    EXPECT_EQ(s0, s1, malloc_tls_miss, 0);
    /* A slab goes back only once all its blocks are free: at most as many as the blocks given back
     * fill (the halved cap gives back about 16 k blocks, more than the park budget holds). */
    int64_t released3 = DELTA(s0, s1, slab_released);
    if (!daemon_mode)
        CHECK(DELTA(s0, s1, slab_released) <= e.given_back / (SLAB_BYTES / 48), "phase 3: %lld slabs released for %ld blocks given back",
              (long long)DELTA(s0, s1, slab_released), e.given_back);
    OK("phase 3: %d frees: %ld pushes, cap grown %ld times, %ld overflows giving back %ld blocks",
       PHASE2_BLOCKS, e.push, e.grown, e.overflow, e.given_back);

    /* Phase 4: allocate them again: refills take the blocks phase 3 gave back (or carve parked
     * slabs afresh); new slabs only for those phase 3 released beyond the park budget. */
    e = (expect_t){ 0 };
    s0 = s1;
    for (int i = 0; i < PHASE2_BLOCKS; i++) blocks[i] = model_malloc(&c48, &e, 48);
    snap(&s1);
    check_common("phase 4", &s0, &s1, &e);
    add(&sum48, &e);
    int64_t claimed4 = DELTA(s0, s1, slab_claimed_sync) + DELTA(s0, s1, slab_from_ring);
    CHECK(claimed4 <= released3, "phase 4: %lld new slabs, but phase 3 released only %lld", (long long)claimed4,
          (long long)released3);
    OK("phase 4: %d malloc(48): %ld misses: %lld blocks from slab free lists, %lld carved, %lld new slabs "
       "(phase 3 released %lld)", PHASE2_BLOCKS, e.miss, (long long)DELTA(s0, s1, refill_from_slab_free),
       (long long)DELTA(s0, s1, refill_carved), (long long)claimed4, (long long)released3);

    /* Phase 5: free everything, then flush the thread's lists: one give-back per non-empty list. */
    e = (expect_t){ 0 };
    s0 = s1;
    for (int i = 0; i < PHASE2_BLOCKS; i++) model_free(&c48, &e, blocks[i]);
    long before_flush = e.to_slabs;
    sum48.given_back += e.given_back + c48.len;   /* phase 5's overflows, then the flushed list */
    hak_thread_flush();
    model_flush(&c8, &e);
    model_flush(&c32, &e);
    model_flush(&c48, &e);
    snap(&s1);
    check_common("phase 5", &s0, &s1, &e);
    sum48.refilled += e.refilled;
    long flushed = e.to_slabs - before_flush;
    CHECK(flushed == 3, "model: three non-empty lists flushed, got %ld", flushed);
    /* Conservation: every block of the 48-byte class refilled into the list since phase 2 went back
     * to the slabs (all freed, list flushed). */
    CHECK(sum48.refilled == sum48.given_back, "48-byte class: %ld blocks refilled, %ld given back",
          sum48.refilled, sum48.given_back);
    OK("phase 5: %d frees (%ld overflows) and hak_thread_flush(): %ld lists given back; the 48-byte "
       "class got %ld blocks by refills and gave back as many", PHASE2_BLOCKS, e.overflow, flushed, sum48.refilled);

    /* After the flush every list is empty: the next malloc(32) misses and takes the flushed
     * blocks back from its slab's free list (the class's only slab, kept though empty). */
    e = (expect_t){ 0 };
    s0 = s1;
    p = model_malloc(&c32, &e, 32);
    model_free(&c32, &e, p);
    snap(&s1);
    check_common("after flush", &s0, &s1, &e);
    CHECK(e.miss == 1, "model: a miss after the flush");
    EXPECT_EQ(s0, s1, refill_from_slab_free, batch);
    EXPECT_EQ(s0, s1, refill_carved, 0);
    EXPECT_EQ(s0, s1, slab_claimed, 0);
    OK("after hak_thread_flush() the next malloc(32) is a miss refilled with %ld blocks from its slab's "
       "free list", batch);

    /* Everything is free: hak_trim flushes the lists and gives back parked and empty slabs. */
    hak_trim();
    snap(&s1);
    uint64_t owned = 0;
    for (unsigned c = 0; c < HAK_STATS_CLASSES; c++) owned += s1.s.class_slabs[c];
    if (!daemon_mode) {
        CHECK(owned == 0, "after hak_trim with nothing live, classes still own %llu slabs", (unsigned long long)owned);
        CHECK(DELTA(start, s1, slab_claimed) == DELTA(start, s1, slab_released),
              "after hak_trim: slabs claimed %lld != released %lld", (long long)DELTA(start, s1, slab_claimed),
              (long long)DELTA(start, s1, slab_released));
        OK("hak_trim with nothing live: every slab claimed (%lld) was released",
           (long long)DELTA(start, s1, slab_claimed));
    } else {
        NOTE("after hak_trim: classes own %llu slabs (the daemon may refill rings meanwhile)",
             (unsigned long long)owned);
    }

    printf("all counter checks passed (%s)\n", mode);
    return 0;
}
