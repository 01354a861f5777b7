/* test_cross_thread_free: blocks allocated by one thread and freed by another keep their contents
 * and their memory comes back: RSS stays bounded over many rounds.
 *
 * Two phases, repeated for several rounds with fresh threads each round:
 *  - producer/consumer: 2 producers each hand every block they allocate to their own consumer, which
 *    checks it and frees it; a producer exits while its consumer is still freeing its blocks;
 *  - all-to-all: 4 threads each send blocks to every other thread and free what they receive, and
 *    also allocate and free some blocks locally.
 * Blocks travel through single-producer single-consumer rings with their size and a seed; the
 * receiver checks every byte before freeing. Sizes are mostly small, some up to 40000 B, rarely
 * large (64 KiB..1 MiB).
 *
 * RSS after the second round is the baseline; no later round may exceed it by more than 100 MiB.
 * Every round allocates several hundred MiB in total while at most ~30 MiB is live, so memory
 * freed by the wrong thread that never came back would break the bound within a round or two.
 *
 * Usage: test_cross_thread_free [rounds]   (default 8) */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "api.h"
#include "testutil.h"

#define RING_SIZE 1024 /* entries per ring, power of two */
#define NT 4           /* threads in the all-to-all phase */

struct item {
    void *p;
    uint32_t size;
    uint32_t seed;
};

struct ring {
    _Alignas(64) _Atomic size_t head; /* written by the consumer */
    _Alignas(64) _Atomic size_t tail; /* written by the producer */
    _Alignas(64) struct item slot[RING_SIZE];
};

static int ring_push(struct ring *r, struct item it)
{
    size_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
    if (t - atomic_load_explicit(&r->head, memory_order_acquire) == RING_SIZE)
        return 0;
    r->slot[t & (RING_SIZE - 1)] = it;
    atomic_store_explicit(&r->tail, t + 1, memory_order_release);
    return 1;
}

static int ring_pop(struct ring *r, struct item *it)
{
    size_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
    if (h == atomic_load_explicit(&r->tail, memory_order_acquire))
        return 0;
    *it = r->slot[h & (RING_SIZE - 1)];
    atomic_store_explicit(&r->head, h + 1, memory_order_release);
    return 1;
}

static size_t draw_size(uint64_t *rng)
{
    if (rng_next(rng) % 500 == 0)
        return rng_range(rng, 64 * KiB, 1 * MiB);
    return rng_size_mix(rng);
}

/* Fill: full pattern up to 64 KiB, sparse beyond. */
static struct item make_item(uint64_t *rng, uint32_t seed)
{
    struct item it;
    it.size = (uint32_t)draw_size(rng);
    it.seed = seed;
    it.p = API(malloc)(it.size);
    CHECK(it.p != NULL, "malloc(%u) returned NULL", it.size);
    if (it.size <= 64 * KiB)
        pattern_fill(it.p, it.size, seed);
    else
        pattern_fill_sparse(it.p, it.size, seed);
    return it;
}

static void check_and_free(struct item it, const char *who)
{
    size_t bad = it.size <= 64 * KiB ? pattern_check(it.p, it.size, it.seed)
                                     : pattern_check_sparse(it.p, it.size, it.seed);
    CHECK(bad == it.size, "%s: block %p of %u bytes (seed %u) corrupted at offset %zu", who, it.p,
          it.size, it.seed, bad);
    API(free)(it.p);
}

static atomic_ulong blocks_checked;

/* ---- Producer/consumer --------------------------------------------------------------------- */

struct pc_pair {
    struct ring *ring;
    int count;
    uint64_t seed;
    _Atomic int producer_done;
};

static void *producer(void *arg)
{
    struct pc_pair *pp = arg;
    uint64_t rng = pp->seed;
    for (int i = 0; i < pp->count; i++) {
        struct item it = make_item(&rng, (uint32_t)i);
        while (!ring_push(pp->ring, it))
            sched_yield();
    }
    atomic_store(&pp->producer_done, 1);
    return NULL; /* exits while its consumer still frees its blocks */
}

static void *consumer(void *arg)
{
    struct pc_pair *pp = arg;
    int got = 0;
    struct item it;
    while (got < pp->count) {
        if (ring_pop(pp->ring, &it)) {
            check_and_free(it, "consumer");
            got++;
        } else {
            sched_yield();
        }
    }
    atomic_fetch_add(&blocks_checked, (unsigned long)got);
    return NULL;
}

static void run_producer_consumer(int round, int count)
{
    static struct ring rings[2];
    struct pc_pair pairs[2];
    pthread_t th[4];
    for (int k = 0; k < 2; k++) {
        atomic_store(&rings[k].head, 0);
        atomic_store(&rings[k].tail, 0);
        pairs[k].ring = &rings[k];
        pairs[k].count = count;
        pairs[k].seed = 0x9E3779B97F4A7C15ULL * (uint64_t)(round * 2 + k + 1);
        atomic_store(&pairs[k].producer_done, 0);
        CHECK(pthread_create(&th[2 * k], NULL, producer, &pairs[k]) == 0, "pthread_create");
        CHECK(pthread_create(&th[2 * k + 1], NULL, consumer, &pairs[k]) == 0, "pthread_create");
    }
    for (int k = 0; k < 4; k++)
        pthread_join(th[k], NULL);
}

/* ---- All-to-all ----------------------------------------------------------------------------- */

static struct ring mesh[NT][NT]; /* mesh[src][dst] */

struct a2a_arg {
    int id;
    int per_peer;
    uint64_t seed;
};

static int drain_inbox(int me)
{
    int got = 0;
    struct item it;
    for (int src = 0; src < NT; src++)
        while (src != me && ring_pop(&mesh[src][me], &it)) {
            check_and_free(it, "all-to-all receiver");
            got++;
        }
    return got;
}

static void *all_to_all(void *arg)
{
    struct a2a_arg *a = arg;
    uint64_t rng = a->seed;
    int me = a->id, received = 0, to_receive = a->per_peer * (NT - 1);
    enum { LOCAL = 32 };
    struct item local[LOCAL] = { { 0 } };
    uint32_t seq = 0;
    for (int i = 0; i < a->per_peer * (NT - 1); i++) {
        int dst = (me + 1 + i % (NT - 1)) % NT;
        struct item it = make_item(&rng, seq++);
        while (!ring_push(&mesh[me][dst], it)) {
            received += drain_inbox(me);
            sched_yield();
        }
        /* Some local traffic in between: allocate here, free here. */
        int slot = (int)(rng_next(&rng) % LOCAL);
        if (local[slot].p)
            check_and_free(local[slot], "local");
        local[slot] = make_item(&rng, seq++);
        if ((i & 15) == 0)
            received += drain_inbox(me);
    }
    while (received < to_receive) {
        int got = drain_inbox(me);
        received += got;
        if (!got)
            sched_yield();
    }
    for (int k = 0; k < LOCAL; k++)
        if (local[k].p)
            check_and_free(local[k], "local");
    atomic_fetch_add(&blocks_checked, (unsigned long)received);
    return NULL;
}

static void run_all_to_all(int round, int per_peer)
{
    pthread_t th[NT];
    struct a2a_arg args[NT];
    for (int s = 0; s < NT; s++)
        for (int d = 0; d < NT; d++) {
            atomic_store(&mesh[s][d].head, 0);
            atomic_store(&mesh[s][d].tail, 0);
        }
    for (int t = 0; t < NT; t++) {
        args[t].id = t;
        args[t].per_peer = per_peer;
        args[t].seed = 0xD1B54A32D192ED03ULL * (uint64_t)(round * NT + t + 1);
        CHECK(pthread_create(&th[t], NULL, all_to_all, &args[t]) == 0, "pthread_create");
    }
    for (int t = 0; t < NT; t++)
        pthread_join(th[t], NULL);
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 8;
    const int pc_count = HAK_SCALE(30000, 5000), per_peer = HAK_SCALE(8000, 1500);
    const size_t bound = 100 * MiB;
    CHECK(rounds >= 3, "need at least 3 rounds");
    api_check_linked();

    size_t base = 0, peak = 0;
    for (int r = 0; r < rounds; r++) {
        run_producer_consumer(r, pc_count);
        run_all_to_all(r, per_peer);
        size_t rss = rss_bytes();
        NOTE("round %d: RSS %.1f MiB, %lu blocks checked so far", r, mib(rss),
             (unsigned long)atomic_load(&blocks_checked));
        if (r == 1)
            base = rss;
#ifndef HAK_TEST_NO_RSS
        if (r > 1) {
            if (rss > peak)
                peak = rss;
            CHECK(rss <= base + bound,
                  "RSS grew from %.1f MiB (round 1) to %.1f MiB (round %d): more than %.0f MiB; "
                  "memory freed by other threads is not coming back",
                  mib(base), mib(rss), r, mib(bound));
        }
#endif
    }
    unsigned long expect = (unsigned long)rounds * (2UL * pc_count + (unsigned long)NT * per_peer * (NT - 1));
    CHECK(atomic_load(&blocks_checked) == expect, "checked %lu blocks, expected %lu",
          (unsigned long)atomic_load(&blocks_checked), expect);
    OK("producer/consumer (2 pairs, %d blocks each) x %d rounds: every block intact when freed by "
       "the other thread, producers exiting first", pc_count, rounds);
    OK("all-to-all (%d threads, %d blocks to each peer) x %d rounds: every block intact", NT,
       per_peer, rounds);
#ifndef HAK_TEST_NO_RSS
    OK("RSS bounded: %.1f MiB after round 1, at most %.1f MiB later (bound +%.0f MiB)", mib(base),
       mib(peak), mib(bound));
#else
    (void)base, (void)peak, (void)bound;
    NOTE("RSS bound not checked in a sanitizer build");
#endif
    return 0;
}
