/* What threads share: orphan slabs per size class, and the pool of fresh slabs for every class up
 * to 1 KiB.
 *
 * Orphans: slabs whose owner exited. They sit on the class's orphan list under `lock`; whoever
 * holds the lock owns them (collects their remote lists, takes blocks for threads that own no
 * slabs). A thread that needs a new slab adopts an orphan first, an empty one included, so memory
 * left by exited threads is reused before any is claimed: with thread churn (a new thread every
 * few thousand operations) the exiting thread's slabs pass to its successor one adoption (one
 * uncontended lock) at a time instead of a release and a claim each. The daemon's purge tick (and
 * hak_trim) releases orphans whose blocks have all come back.
 *
 * The pool: fresh slabs the refill daemon claimed and pre-faulted ahead of demand, so that a thread
 * taking a new slab neither claims it (RCU walk, maybe mmap) nor faults its pages itself (3-16 us
 * a page here). One pool serves every class up to 1 KiB: its slabs have no class until a thread
 * takes one and formats it (slab_format), so a class that grows only now and then finds slabs
 * ready that another class's growth paid for, and the daemon's memory is bounded by one depth,
 * not by a ring per class (rings per class held up to 4 slabs for each class a heap had grown, the
 * daemon's whole RSS premium on heaps that grow and stop: docs/design.md). The daemon engages
 * once threads keep growing the heap (claiming slabs beyond their second of a class), and sizes the
 * pool by how fast slabs go: its depth doubles each time a growing thread finds it empty, up to
 * HAKMEM_RING_HIGH and to a share of the heap (POOL_HEAP_SHARE), and halves, the slabs beyond it
 * given back, each purge interval that passes without a thread taking one.
 *
 * No application thread holds `lock` across a system call: slabs to release are released after
 * the unlock, and a claim is made outside it. */
#include <pthread.h>
#include "core/central.h"
#include "core/background.h"
#include "core/options.h"
#include "core/counters.h"
#include "platform/os.h"
#include "lockfree/ptr_ring.h"

#define ADOPT_SCAN 8        /* orphans looked at per adoption (the list rotates) */
/* The pool serves classes up to 1 KiB. Above, a slab holds few blocks, threads churn through slabs
 * much faster than they fill them, and pre-faulted ring slabs only raised RSS (Larson 1-32 KiB,
 * 1 thread: 31 MiB daemon off, 67 MiB with rings for every class up to 32 KiB, for 8% less
 * throughput). */
#define POOL_CLASS_MAX 1024u
#define POOL_BYTES (2u << 20)   /* most fresh slabs the pool may hold, in bytes */
/* The pool's depth is at most the slabs in use divided by this (at least POOL_MIN_DEPTH): its
 * pre-faulted slabs are what the daemon adds to a heap's RSS when the heap stops growing. */
#define POOL_HEAP_SHARE 32u
#define POOL_MIN_DEPTH 2u

typedef struct central {
    pthread_mutex_t lock;
    slab_meta_t *orphans;                  /* circular list (lock)                          */
    _Atomic uint32_t norphans;             /* its length; read without the lock as a hint   */
    uint32_t adopted;                      /* orphans adopted since the last idle check (lock) */
    /* Statistics (relaxed): pool slabs this class's threads took, slabs they claimed themselves. */
    _Atomic uint64_t refills_ring, refills_sync;
} __attribute__((aligned(64))) central_t;

static central_t central[HAK_NUM_CLASSES];

/* The pool: the daemon is the only producer (it fills under its work lock), any thread consumes.
 * Slot storage is mapped at start-up. Its fields are relaxed: depth and taken are hints (the ring
 * is the truth), the others statistics. */
static struct {
    ptr_ring_t ring;
    _Atomic uint32_t depth;      /* slabs the daemon keeps ready (0: not engaged)     */
    _Atomic uint32_t taken;      /* a thread took a slab since the last idle check    */
    _Atomic uint64_t unused;     /* slabs it prepared and gave back unused            */
    uint32_t high;               /* most slabs kept ready; set at start-up            */
} pool;

HAK_INLINE unsigned pool_count(void) { return ptr_ring_count(&pool.ring); }

static bool class_uses_pool(unsigned cls) { return hak_class_size[cls] <= POOL_CLASS_MAX; }

/* ---- Orphans ------------------------------------------------------------------------------------ */

void central_orphan_list(unsigned cls, slab_meta_t *list, uint32_t n) {
    HAK_ASSERT(list != NULL && n >= 1);
    central_t *c = &central[cls];
    pthread_mutex_lock(&c->lock);
    slab_list_splice(&c->orphans, &list);
    atomic_fetch_add_explicit(&c->norphans, n, memory_order_relaxed);
    pthread_mutex_unlock(&c->lock);
}

void central_orphan(slab_meta_t *s) {
    slab_meta_t *list = NULL;
    slab_set_tag(s, slab_tag_make(HAK_TAG_NO_OWNER, s->cls));
    slab_list_add(&list, s);
    central_orphan_list(s->cls, list, 1);
}

static void orphan_remove(central_t *c, slab_meta_t *s) {
    slab_list_remove(&c->orphans, s);
    atomic_fetch_sub_explicit(&c->norphans, 1, memory_order_relaxed);
}

/* Release the slabs chained through `next` (taken off the orphan list under the lock). */
static void release_chain(slab_meta_t *s) {
    while (s) {
        slab_meta_t *next = s->next;
        slab_release(s);
        s = next;
    }
}

/* Lock held. If every block is back (free or remote list), move s to *empty. */
static bool orphan_settle(central_t *c, slab_meta_t *s, slab_meta_t **empty) {
    if (!slab_is_unused(s)) return false;
    orphan_remove(c, s);
    s->next = *empty;
    *empty = s;
    return true;
}

slab_meta_t *central_adopt(unsigned cls) {
    central_t *c = &central[cls];
    if (!atomic_load_explicit(&c->norphans, memory_order_relaxed)) return NULL;
    slab_meta_t *found = NULL;
    pthread_mutex_lock(&c->lock);
    for (int i = 0; i < ADOPT_SCAN && c->orphans && !found; i++) {
        slab_meta_t *s = c->orphans;
        /* An exited owner's slab has a local free list (its last flush) and often a remote one:
         * merging them means walking the remote chain, a cache miss per block (measured: 14% of
         * Larson with a thread per 1024 operations). So: every block free -> as good as a fresh
         * slab; free list empty -> the remote list becomes it; else the remote list waits until
         * the free list runs out (slab_take). */
        if (slab_is_unused(s))
            slab_reset_unused(s);
        else if (!s->free)
            slab_collect_remote(s);
        if (s->free || s->carved < s->capacity) {
            orphan_remove(c, s);
            found = s;
        } else {
            c->orphans = s->next;
        }
    }
    if (found) {
        c->adopted = 1;
        found->adopted = true;
    }
    pthread_mutex_unlock(&c->lock);
    if (found) HAK_COUNT(slab_adopted);
    return found;
}

void *central_alloc_one(unsigned cls) {
    central_t *c = &central[cls];
    void *p = NULL;
    pthread_mutex_lock(&c->lock);
    slab_meta_t *s = c->orphans;
    for (int i = 0; i < ADOPT_SCAN && s && !slab_take(s, 1, 1, &p); i++) s = s->next;
    pthread_mutex_unlock(&c->lock);
    if (p) return p;
    if (!(s = slab_claim(cls))) return NULL;
    slab_take(s, 1, 1, &p);
    central_orphan(s);
    return p;
}

/* ---- The pool of fresh slabs -------------------------------------------------------------------- */

slab_meta_t *central_fresh_slab(unsigned cls) {
    if (!class_uses_pool(cls) || !pool_count()) return NULL;
    slab_meta_t *s = ptr_ring_pop(&pool.ring);
    if (!s) return NULL;
    slab_format(s, cls);   /* ours alone: popped, unowned, never carved */
    atomic_fetch_add_explicit(&central[cls].refills_ring, 1, memory_order_relaxed);
    if (!atomic_load_explicit(&pool.taken, memory_order_relaxed))
        atomic_store_explicit(&pool.taken, 1, memory_order_relaxed);
    HAK_COUNT(slab_from_ring);
    /* No wake-up here, not even when this took the last slab: the daemon polls an engaged pool
     * (daemon.c), and the thread that next finds it empty claims a slab itself, which doubles the
     * depth and wakes the daemon (central_note_sync_claim). Waking on the last slab made one take
     * in two a futex call, and those were the slow takes: 4-64 us each, some over 64 us when the
     * woken daemon preempted the thread (debug histograms, growing heap; docs/design.md). */
    return s;
}

/* Start fetching what the next central_fresh_slab(cls) will touch: the pool slab next in the ring
 * (its metadata line and remote line, its tag, its first blocks) and the class's counters. A take
 * touched about ten lines that the daemon or other classes' takes wrote last, 100-300 ns each on
 * this VM, and their sum made the malloc that took a slab 1-4 us (the largest share of the growing
 * heap's malloc p99.99; docs/design.md). The peeked slab may go to another thread first, and its
 * SuperSlab may even be retired by then: nothing here is dereferenced, the addresses are computed
 * and prefetches never fault. */
void central_prefetch_fresh(unsigned cls) {
    if (!class_uses_pool(cls)) return;
    slab_meta_t *s = ptr_ring_peek(&pool.ring);
    if (!s) return;
    superslab_t *ss = ss_of_meta(s);
    size_t index = (size_t)(s - ss->slabs);
    __builtin_prefetch(s, 1);
    __builtin_prefetch((const void *)&s->remote, 1);
    __builtin_prefetch(&ss->slab_tag[index], 1);
    __builtin_prefetch(&hak_class_slabs[cls], 1);
    __builtin_prefetch(&central[cls], 1);
    char *first = slab_base(ss, (unsigned)index);
    for (unsigned line = 0; line < 4; line++) __builtin_prefetch(first + 64 * line, 1);
}

/* The pool's depth may not exceed this share of the heap (slabs of every class in use). */
static uint32_t depth_for_heap(void) {
    uint32_t slabs = 0;
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++)
        slabs += atomic_load_explicit(&hak_class_slabs[cls], memory_order_relaxed);
    slabs /= POOL_HEAP_SHARE;
    return slabs > POOL_MIN_DEPTH ? slabs : POOL_MIN_DEPTH;
}

/* Only growth engages the daemon: a thread claiming the first slabs of a class is no sign that
 * the class will need more, and pre-faulting a slab for every class a program touches once would
 * only raise its RSS. A growth claim engages the pool (depth 2); each one after that (the pool
 * ran dry again) doubles its depth, within the heap's share. (Engaging only on the second growth
 * claim of a purge interval left slowly growing classes flapping between engaged and not, and
 * their threads faulting fresh slabs themselves: growing-heap malloc p99.99 16-21 us instead of
 * about 1 us.) */
bool central_note_sync_claim(unsigned cls, bool growth, uint32_t thread_growth) {
    atomic_fetch_add_explicit(&central[cls].refills_sync, 1, memory_order_relaxed);
    HAK_COUNT(slab_claimed_sync);
    if (!growth || !class_uses_pool(cls)) return false;
    if (!background_running()) {
        background_note_growth(thread_growth);
        return false;
    }
    uint32_t d = atomic_load_explicit(&pool.depth, memory_order_relaxed);
    uint32_t want = d ? d * 2 : POOL_MIN_DEPTH, cap = depth_for_heap();
    if (want > cap) want = cap;
    if (want > pool.high) want = pool.high;
    if (want > d) atomic_store_explicit(&pool.depth, want, memory_order_relaxed);
    background_wake();
    return true;
}

uint32_t central_pool_depth(void) { return atomic_load_explicit(&pool.depth, memory_order_relaxed); }

bool central_wants_fill(void) {
    return pool_count() < atomic_load_explicit(&pool.depth, memory_order_relaxed);
}

/* Warm free slabs (released, still resident) are as good as pool slabs: a thread claims one
 * without a fault (claim_free_bit takes them first). While any exists the daemon prepares nothing:
 * handing them through a ring only added the daemon's claim and a ring hop to every slab of a
 * program that frees and allocates its heap in rounds (storm, 50000 blocks a round: 0.83x
 * daemon-off), and kept pre-faulted slabs idle beside resident free ones.
 * Tried and dropped, with a ring per class: a global cap on ring slabs (a tenth or a sixteenth of
 * the slabs in use, at least 2-4): classes that had engaged once and took nothing kept the cap
 * while hungry ones went without (growing-heap loop: 415 instead of 91 slabs claimed by the
 * thread, malloc p99.99 4.8 -> 8-13 us). One pool shared by every class has no such idle holder. */
bool central_pool_wanted(void) { return superslab_warm_free_slabs() == 0; }

uint32_t central_daemon_fill(bool touch) {
    uint32_t made = 0;
    while (central_wants_fill()) {
        slab_meta_t *s = slab_claim_unformatted();
        if (!s) break;
        /* A warm slab (released and claimed again before the purger took its pages) would only
         * cost a system call that walks 16 resident pages: bursts that free and claim slabs again
         * every round paid the daemon 0.4 CPU-s in 2 s for nothing. */
        if (s->cold) {
            os_prefault(slab_base(ss_of(s), s->index), HAK_SLAB_SIZE);
            if (touch) os_touch_pages(slab_base(ss_of(s), s->index), HAK_SLAB_SIZE);   /* ours: mapped */
        }
        s->cold = false;   /* resident now: the thread that takes it populates nothing */
        if (!ptr_ring_push(&pool.ring, s)) {   /* cannot happen: depth < ring size; be safe */
            slab_unclaim(s);
            break;
        }
        made++;
    }
    return made;
}

/* ---- Draining ------------------------------------------------------------------------------------ */

/* With idle_only, a class whose threads adopted an orphan since the last call keeps its empty
 * orphans: with thread churn they are the next thread's slabs, and releasing them made successors
 * claim (and fault) fresh ones (Larson 8-1000 B, a thread per 102400 operations: 3.5x the new
 * slabs and +50% RSS with the daemon than without). */
static void drain_orphans(central_t *c, bool idle_only) {
    slab_meta_t *empty = NULL;
    pthread_mutex_lock(&c->lock);
    bool busy = c->adopted;
    c->adopted = 0;
    if (idle_only && busy) {
        pthread_mutex_unlock(&c->lock);
        return;
    }
    uint32_t n = atomic_load_explicit(&c->norphans, memory_order_relaxed);
    for (uint32_t i = 0; i < n && c->orphans; i++) {
        slab_meta_t *s = c->orphans;
        if (!orphan_settle(c, s, &empty)) c->orphans = s->next;
    }
    pthread_mutex_unlock(&c->lock);
    release_chain(empty);
}

/* Halve the pool's depth (to 0 with all), giving back the slabs beyond it. */
static void drain_pool(bool all) {
    uint32_t depth = all ? 0 : atomic_load_explicit(&pool.depth, memory_order_relaxed) / 2;
    atomic_store_explicit(&pool.depth, depth, memory_order_relaxed);
    slab_meta_t *s;
    uint64_t n = 0;
    for (; pool_count() > depth && (s = ptr_ring_pop(&pool.ring)); n++) slab_unclaim(s);
    if (n) atomic_fetch_add_explicit(&pool.unused, n, memory_order_relaxed);
}

void central_drain(bool idle_only) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) {
        central_t *c = &central[cls];
        if (atomic_load_explicit(&c->norphans, memory_order_relaxed)) drain_orphans(c, idle_only);
    }
    if (idle_only && atomic_exchange_explicit(&pool.taken, 0, memory_order_relaxed)) return;
    if (pool_count() || atomic_load_explicit(&pool.depth, memory_order_relaxed)) drain_pool(!idle_only);
}

/* ---- Statistics, start-up, fork -------------------------------------------------------------------- */

void central_stats(hak_stats_t *out) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) {
        central_t *c = &central[cls];
        out->class_ring_taken[cls] = atomic_load_explicit(&c->refills_ring, memory_order_relaxed);
        out->class_sync_claims[cls] = atomic_load_explicit(&c->refills_sync, memory_order_relaxed);
        out->refills_ring += out->class_ring_taken[cls];
        out->refills_sync += out->class_sync_claims[cls];
        out->class_slabs[cls] = atomic_load_explicit(&hak_class_slabs[cls], memory_order_relaxed);
        out->class_size[cls] = hak_class_size[cls];
    }
    out->ring_unused = atomic_load_explicit(&pool.unused, memory_order_relaxed);
}

static void init_locks(void) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) pthread_mutex_init(&central[cls].lock, NULL);
}

bool central_init(void) {
    init_locks();
    /* HAKMEM_RING_SIZE slots, a power of two; options.c already clamps HAKMEM_RING_HIGH to the
     * one less that ck_ring holds. */
    unsigned slots = (unsigned)hak_opt->ring_size;
    uint32_t by_bytes = POOL_BYTES / HAK_SLAB_SIZE;
    pool.high = (uint32_t)hak_opt->ring_high < by_bytes ? (uint32_t)hak_opt->ring_high : by_bytes;
    char *storage = os_map(ptr_ring_bytes(slots));
    if (!storage) return false;
    ptr_ring_init(&pool.ring, storage, slots);
    return true;
}

uint32_t central_ring_high(void) { return pool.high; }

void central_atfork_prepare(void) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) pthread_mutex_lock(&central[cls].lock);
}
void central_atfork_parent(void) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) pthread_mutex_unlock(&central[cls].lock);
}
/* The forking thread took the locks in central_atfork_prepare and is the child's only thread:
 * unlock, not re-initialise (ThreadSanitizer keeps a re-initialised mutex locked, and reported a
 * forked child's thread that orphaned its slabs at exit as a double lock, as for the owner ids). */
void central_atfork_child(void) { central_atfork_parent(); }
