/* The blocks of one slab, as its owner sees them: the local free list, the remote list other
 * threads push onto, and the uncarved rest (a bump index). The owner is the thread whose id is in
 * the slab's tag, or whoever holds the class's orphan lock (central.c); only `remote` is shared.
 *
 * Memory order of the remote list (a Treiber stack, pushes only, taken whole):
 *   push (any thread): the block's link word is written, then a release CAS publishes it;
 *   take (owner): an acquire exchange, so the owner sees every pushed block's link.
 * Nobody pops single entries, so there is no ABA. */
#include "core/slab_blocks.h"
#include "core/counters.h"
#include "core/background.h"
#include "platform/os.h"

_Atomic uint32_t hak_remote_epoch[HAK_REMOTE_EPOCHS];

void slab_push_remote_chain(slab_meta_t *s, void *head, void *tail, uint32_t n, uint32_t owner_bits) {
    uintptr_t old = atomic_load_explicit(&s->remote, memory_order_relaxed), desired;
    do {
        block_set_next(tail, (void *)(old & HAK_REMOTE_PTR_MASK));
        desired = (uintptr_t)head + (old & ~HAK_REMOTE_PTR_MASK) + (uintptr_t)n * HAK_REMOTE_ONE;
    } while (!atomic_compare_exchange_weak_explicit(&s->remote, &old, desired, memory_order_seq_cst,
                                                    memory_order_relaxed));
    /* The owner's epoch is bumped only for a slab on its full list: a slab on its avail list is
     * looked at anyway. Bumped for every slab, the epoch's line went to the freeing core and back
     * to the owner's at each look (`workloads server`, 2 threads: 14% of pushes bumped, and the
     * bump was a third of this function's samples; 19% of them were for full slabs).
     * Why no bump is lost: the CAS above and the flag's load are seq_cst, and so are the owner's
     * store of the flag and its load of the remote word before it lists the slab as full
     * (thread_heap.c, list_as_full): of the two, one sees the other's write, so either this free
     * bumps or the owner sees this block and keeps the slab on its avail list. (x86: the same
     * lock cmpxchg and a plain load.) The epoch itself is relaxed: a hint to look; the blocks are
     * published by the CAS. */
    if (!old && atomic_load_explicit(&s->on_full_list, memory_order_seq_cst))
        atomic_fetch_add_explicit(remote_epoch_of(owner_bits), 1, memory_order_relaxed);
    HAK_COUNT_N(free_remote, n);
}

void slab_collect_remote(slab_meta_t *s) {
    if (!atomic_load_explicit(&s->remote, memory_order_relaxed)) return;
    uintptr_t w = atomic_exchange_explicit(&s->remote, 0, memory_order_acquire);
    void *chain = (void *)(w & HAK_REMOTE_PTR_MASK);
    uint32_t n = (uint32_t)(w >> 48);
    if (s->free) {                      /* rare (orphans): splice the local list after the chain */
        void *tail = chain;
        while (block_next(tail)) tail = block_next(tail);
        block_set_next(tail, s->free);
    }
    s->free = chain;
    s->nfree += n;
    HAK_COUNT_N(remote_collected, n);
}

/* Acquire: the pushes of the dropped remote blocks happen before the blocks are carved again.
 * Nobody pushes concurrently: every block is free, so nobody can free one (short of a double free). */
void slab_reset_unused(slab_meta_t *s) {
    HAK_ASSERT(slab_is_unused(s));
    uintptr_t dropped __attribute__((unused)) = atomic_exchange_explicit(&s->remote, 0, memory_order_acquire);
    HAK_COUNT_N(remote_collected, dropped >> 48);   /* back, like a collect */
    s->free = NULL;
    s->nfree = 0;
    s->carved = 0;
}

bool slab_is_unused(slab_meta_t *s) {
    uintptr_t remote = atomic_load_explicit(&s->remote, memory_order_relaxed);
    return s->nfree + (uint32_t)(remote >> 48) == s->carved;
}

/* Up to n blocks off the free list, or all of it if it holds at most `all`: the list's length is
 * known (nfree), so taking it whole is two stores, where cutting n blocks off walks n links, a
 * cache miss each when other threads freed them (a producer/consumer server spent 16% of its CPU
 * in this walk). */
static uint32_t take_free(slab_meta_t *s, uint32_t n, uint32_t all, void **out) {
    void *head = s->free;
    if (s->nfree <= all) {
        uint32_t got = s->nfree;
        s->free = NULL;
        s->nfree = 0;
        *out = head;
        HAK_COUNT_N(refill_from_slab_free, got);
        return got;
    }
    void *last = head;
    uint32_t got = 1;
    for (void *next; got < n && (next = block_next(last)); got++) last = next;
    s->free = block_next(last);
    block_set_next(last, NULL);
    s->nfree -= got;
    *out = head;
    HAK_COUNT_N(refill_from_slab_free, got);
    return got;
}

/* Fresh blocks are carved at most CARVE_BYTES at a time: linking a batch writes every block's
 * first line, each a cache miss (and a TLB miss per page) in fresh memory, and a 32-block batch of
 * 1 KiB blocks was 32 misses over 8 pages in one malloc (measured: one slow malloc, 2-10 us, per
 * new slab of a growing heap). A page's worth at a time spreads them over the mallocs that use
 * the blocks. */
#define CARVE_BYTES 4096u

/* A cold slab of small blocks that its owner carves itself (its first slab of a class, or growth
 * before the daemon runs) is populated POPULATE_CHUNK at a time, ahead of the carve, with one
 * madvise: a fault per page was one slow malloc (4-16 us) per 4 KiB carved, the most frequent
 * slow malloc of a growing heap after slab takes; one call per 4 pages makes a quarter as many
 * and costs less in total (2.2-2.8 us a page populated, 3.2 touched). The first chunk of a first
 * slab still faults page by page, so a class that holds a few blocks (most classes of a small
 * program) keeps only the pages it touches; a growth slab's is populated when the thread claims
 * it (slab_populate_start). Populating growth slabs whole at once raised peak RSS 6% on small
 * heaps (workloads random, 2 threads, 5.0 -> 5.3 MiB); chunks leave at most 12 KiB untouched per
 * class. Blocks above POPULATE_MAX_BLOCK are left to fault: a large block is often used only in
 * part. */
#define POPULATE_CHUNK     (16u << 10)
#define POPULATE_MAX_BLOCK 1024u

static size_t chunk_round_up(size_t off) { return (off + POPULATE_CHUNK - 1) & ~(size_t)(POPULATE_CHUNK - 1); }

/* The owner populates pages of its own slab ahead of its carving, and reads each of them at once:
 * on this VM a populated page still costs 4.5-6 us at its first access (the hypervisor's side of
 * the fault), so without the read every page of the chunk was one more slow malloc when the
 * carving reached it; with it the chunk costs one malloc about 28 us. Growing heap, 1 thread, 4
 * runs: refills over 4 us 600-653 -> 392-407, malloc p99.99 4.2-5.1 -> 0.9-1.3 us, throughput
 * level (docs/design.md, eighth session). The slab is the caller's and mapped. */
static void populate_here(void *p, size_t size) {
    os_prefault(p, size);
    os_touch_pages(p, size);
}

static bool populates_ahead(slab_meta_t *s) { return s->cold && s->block_size <= POPULATE_MAX_BLOCK; }

/* Post the pages of s's blocks in [from, to) (offsets in the slab) to the daemon to populate
 * (background.h). False: nothing to post, the daemon does not run, or its mailbox is full. */
static bool post_to_daemon(slab_meta_t *s, size_t from, size_t to) {
    size_t end = (size_t)s->capacity * s->block_size, unit = BACKGROUND_PREFAULT_UNIT;
    if (to > end) to = end;
    from &= ~(unit - 1);
    to = (to + unit - 1) & ~(unit - 1);
    return from < to && background_post_prefault(slab_base(ss_of(s), s->index) + from, to - from);
}

bool slab_populate_start(slab_meta_t *s) {
    if (!s->cold || s->carved) return false;
    if (post_to_daemon(s, 0, HAK_SLAB_SIZE)) {
        s->cold = false;   /* the daemon's now: carving populates nothing ahead */
        return true;
    }
    if (populates_ahead(s)) populate_here(slab_base(ss_of(s), s->index), POPULATE_CHUNK);
    return false;
}

/* The carve of [from, to) enters a chunk nobody populated yet. With the daemon running, the
 * daemon populates (and reads, CPU permitting) the rest of that chunk from `to` on, while the
 * carving uses the page it writes now (which faults here: one slow malloc either way); without
 * it, the owner populates and reads the chunk (populate_here): one slow malloc per chunk either
 * way, and none at the first touch of its other pages once the daemon or the owner read them.
 * Handing the daemon the chunk after it as well made a few fewer slow mallocs but kept a chunk
 * more resident per class (workloads random, 4 threads: +0.5-0.9 MiB), and handing it the whole
 * rest of the slab +1 MiB (docs/design.md). */
static void populate_ahead(slab_meta_t *s, uint32_t got) {
    size_t from = (size_t)s->carved * s->block_size, to = from + (size_t)got * s->block_size;
    size_t end = (size_t)s->capacity * s->block_size;
    /* Chunks before the one `from` is in were populated by an earlier carve (or faulted). */
    size_t start = chunk_round_up(from), stop = chunk_round_up(to);
    if (start < POPULATE_CHUNK) start = POPULATE_CHUNK;
    if (stop >= end) {
        stop = end;
        s->cold = false;
    }
    if (start >= stop) return;
    /* Not an adopted slab: a program whose threads come and go adopts thousands of slabs a second,
     * and posting their chunks woke the daemon 5000 times a second, each wake-up preempting a
     * worker (Larson 8-1024 B, 100 rounds per thread, 4 threads: 10% below daemon off, with 3400
     * involuntary switches a second against 600; docs/design.md). */
    if (!s->adopted && background_running() && post_to_daemon(s, to, stop)) {
        background_wake();
        return;
    }
    populate_here(slab_base(ss_of(s), s->index) + start, stop - start);
}

static uint32_t carve(slab_meta_t *s, uint32_t n, void **out) {
    uint32_t per_page = CARVE_BYTES / s->block_size;
    if (n > per_page) n = per_page ? per_page : 1;
    uint32_t left = s->capacity - s->carved, got = n < left ? n : left;
    if (populates_ahead(s)) populate_ahead(s, got);
    char *b = slab_base(ss_of(s), s->index) + (size_t)s->carved * s->block_size;
    for (uint32_t i = 1; i < got; i++, b += s->block_size) block_set_next(b, b + s->block_size);
    block_set_next(b, NULL);
    *out = slab_base(ss_of(s), s->index) + (size_t)s->carved * s->block_size;
    s->carved += got;
    HAK_COUNT_N(refill_carved, got);
    return got;
}

uint32_t slab_take(slab_meta_t *s, uint32_t n, uint32_t all, void **out) {
    HAK_ASSERT(n >= 1);
    if (!s->free) slab_collect_remote(s);
    if (s->free) return take_free(s, n, all, out);
    if (s->carved < s->capacity) return carve(s, n, out);
    return 0;
}
