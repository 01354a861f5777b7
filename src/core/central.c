/* What the threads of a size class share: orphan slabs and the ring of fresh slabs.
 *
 * Orphans: slabs whose owner exited. They sit on the class's orphan list under `lock`; whoever
 * holds the lock owns them (collects their remote lists, takes blocks for threads that own no
 * slabs). A thread that needs a new slab adopts an orphan first, an empty one included, so memory
 * left by exited threads is reused before any is claimed: with thread churn (a new thread every
 * few thousand operations) the exiting thread's slabs pass to its successor one adoption (one
 * uncontended lock) at a time instead of a release and a claim each. The daemon's purge tick (and
 * hak_trim) releases orphans whose blocks have all come back.
 *
 * The ring: fresh slabs the refill daemon claimed and pre-faulted ahead of demand, so that a thread
 * taking a new slab neither claims it (RCU walk, maybe mmap) nor faults its pages itself (11-16 us
 * a page here). The daemon engages a class only once its threads keep growing it (claiming slabs
 * beyond their first), and sizes the ring by how fast the class consumes slabs: its depth doubles
 * (up to the class's high watermark) each time a growing thread finds it empty, and halves, the
 * slabs beyond it released, each purge interval that passes without a thread taking one.
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
/* Rings serve classes up to 1 KiB. Above, a slab holds few blocks, threads churn through slabs
 * much faster than they fill them, and pre-faulted ring slabs only raised RSS (Larson 1-32 KiB,
 * 1 thread: 31 MiB daemon off, 67 MiB with rings for every class up to 32 KiB, for 8% less
 * throughput). */
#define RING_CLASS_MAX 1024u
#define RING_BYTES 262144u  /* fresh slabs a class's ring may hold, in bytes */

typedef struct central {
    pthread_mutex_t lock;
    slab_meta_t *orphans;                  /* circular list (lock)                          */
    _Atomic uint32_t norphans;             /* its length; read without the lock as a hint   */
    /* Ring depth the daemon keeps for this class (0: not engaged). Raised by threads that find the
     * ring empty, dropped by the daemon's idle check; relaxed: a hint, the ring is the truth. */
    _Atomic uint32_t depth;
    _Atomic uint32_t taken;                /* ring slabs taken since the last idle check     */
    uint32_t adopted;                      /* orphans adopted since the last idle check (lock) */
    /* Statistics (relaxed): ring slabs taken, slabs claimed by threads, ring slabs the daemon
     * prepared and gave back unused. */
    _Atomic uint64_t refills_ring, refills_sync, prepared, unused;
} __attribute__((aligned(64))) central_t;

static central_t central[HAK_NUM_CLASSES];
/* The rings: the daemon is the only producer (it fills under its work lock), any thread consumes.
 * Slot storage is mapped at start-up. */
static ptr_ring_t rings[HAK_NUM_CLASSES];
static uint32_t ring_high;           /* most slabs kept per ring; set at start-up */

HAK_INLINE unsigned ring_count(unsigned cls) { return ptr_ring_count(&rings[cls]); }

static bool class_uses_ring(unsigned cls) { return hak_class_size[cls] <= RING_CLASS_MAX; }

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
    if (found) c->adopted = 1;
    pthread_mutex_unlock(&c->lock);
    if (found) HAK_COUNT(slab_adopted);
    return found;
}

void *central_alloc_one(unsigned cls) {
    central_t *c = &central[cls];
    void *p = NULL;
    pthread_mutex_lock(&c->lock);
    slab_meta_t *s = c->orphans;
    for (int i = 0; i < ADOPT_SCAN && s && !slab_take(s, 1, &p); i++) s = s->next;
    pthread_mutex_unlock(&c->lock);
    if (p) return p;
    if (!(s = slab_claim(cls))) return NULL;
    slab_take(s, 1, &p);
    central_orphan(s);
    return p;
}

/* ---- The ring of fresh slabs ------------------------------------------------------------------- */

slab_meta_t *central_fresh_slab(unsigned cls) {
    central_t *c = &central[cls];
    if (!class_uses_ring(cls) || !ring_count(cls)) return NULL;
    slab_meta_t *s = ptr_ring_pop(&rings[cls]);
    if (!s) return NULL;
    atomic_fetch_add_explicit(&c->refills_ring, 1, memory_order_relaxed);
    if (!atomic_load_explicit(&c->taken, memory_order_relaxed))
        atomic_store_explicit(&c->taken, 1, memory_order_relaxed);
    HAK_COUNT(slab_from_ring);
    /* The daemon polls engaged rings (daemon.c); only an empty ring is worth a system call. */
    if (!ring_count(cls)) background_wake();
    return s;
}

/* Only growth engages the daemon: a thread claiming the first slab of a class is no sign that
 * the class will need more, and pre-faulting a slab for every class a program touches once would
 * only raise its RSS. A growth claim engages the class (depth 2); each one after that (the ring
 * ran dry again) doubles its depth. (Engaging only on the second growth claim of a purge interval
 * left slowly growing classes flapping between engaged and not, and their threads faulting fresh
 * slabs themselves: growing-heap malloc p99.99 16-21 us instead of about 1 us.) */
bool central_note_sync_claim(unsigned cls, bool growth) {
    central_t *c = &central[cls];
    atomic_fetch_add_explicit(&c->refills_sync, 1, memory_order_relaxed);
    HAK_COUNT(slab_claimed_sync);
    if (!growth || !class_uses_ring(cls)) return false;
    if (!background_running()) {
        background_note_growth();
        return false;
    }
    uint32_t d = atomic_load_explicit(&c->depth, memory_order_relaxed);
    uint32_t want = d ? d * 2 : 2;
    if (want > ring_high) want = ring_high;
    if (want != d) atomic_store_explicit(&c->depth, want, memory_order_relaxed);
    background_wake();
    return true;
}

bool central_any_engaged(void) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++)
        if (atomic_load_explicit(&central[cls].depth, memory_order_relaxed)) return true;
    return false;
}

bool central_wants_fill(unsigned cls) {
    return class_uses_ring(cls)
        && ring_count(cls) < atomic_load_explicit(&central[cls].depth, memory_order_relaxed);
}

/* Warm free slabs (released, still resident) are as good as ring slabs: a thread claims one
 * without a fault (claim_free_bit takes them first). While any exists the daemon prepares nothing:
 * handing them through a ring only added the daemon's claim and a ring hop to every slab of a
 * program that frees and allocates its heap in rounds (storm, 50000 blocks a round: 0.83x
 * daemon-off), and kept pre-faulted slabs idle beside resident free ones.
 * Tried and dropped: a global cap on ring slabs (a tenth or a sixteenth of the slabs in use, at
 * least 2-4), for RSS: classes that had engaged once and took nothing kept the cap while hungry
 * ones went without (growing-heap loop: 415 instead of 91 slabs claimed by the thread, malloc
 * p99.99 4.8 -> 8-13 us); exempting heaps that take 8 ring slabs per 100 ms made it flap. */
bool central_rings_wanted(void) { return superslab_warm_free_slabs() == 0; }

uint32_t central_daemon_fill(unsigned cls) {
    uint32_t made = 0;
    while (central_wants_fill(cls)) {
        slab_meta_t *s = slab_claim(cls);
        if (!s) break;
        /* A warm slab (released and claimed again before the purger took its pages) would only
         * cost a system call that walks 16 resident pages: bursts that free and claim slabs again
         * every round paid the daemon 0.4 CPU-s in 2 s for nothing. */
        if (s->cold) os_prefault(slab_base(ss_of(s), s->index), HAK_SLAB_SIZE);
        if (!ptr_ring_push(&rings[cls], s)) {   /* cannot happen: depth < ring size; be safe */
            slab_release(s);
            break;
        }
        made++;
    }
    if (made) atomic_fetch_add_explicit(&central[cls].prepared, made, memory_order_relaxed);
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

/* Halve the class's ring depth (to 0 with all), releasing the slabs beyond it. */
static void drain_ring(unsigned cls, bool all) {
    central_t *c = &central[cls];
    uint32_t depth = all ? 0 : atomic_load_explicit(&c->depth, memory_order_relaxed) / 2;
    atomic_store_explicit(&c->depth, depth, memory_order_relaxed);
    slab_meta_t *s;
    uint64_t n = 0;
    for (; ring_count(cls) > depth && (s = ptr_ring_pop(&rings[cls])); n++) slab_release(s);
    if (n) atomic_fetch_add_explicit(&c->unused, n, memory_order_relaxed);
}

void central_drain(bool idle_only) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) {
        central_t *c = &central[cls];
        if (atomic_load_explicit(&c->norphans, memory_order_relaxed)) drain_orphans(c, idle_only);
        if (!class_uses_ring(cls)) continue;
        if (idle_only && atomic_exchange_explicit(&c->taken, 0, memory_order_relaxed)) continue;
        if (ring_count(cls) || atomic_load_explicit(&c->depth, memory_order_relaxed)) drain_ring(cls, !idle_only);
    }
}

/* ---- Statistics, start-up, fork -------------------------------------------------------------------- */

void central_stats(hak_stats_t *out) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) {
        central_t *c = &central[cls];
        out->class_ring_taken[cls] = atomic_load_explicit(&c->refills_ring, memory_order_relaxed);
        out->class_sync_claims[cls] = atomic_load_explicit(&c->refills_sync, memory_order_relaxed);
        out->class_ring_prepared[cls] = atomic_load_explicit(&c->prepared, memory_order_relaxed);
        out->class_ring_unused[cls] = atomic_load_explicit(&c->unused, memory_order_relaxed);
        out->refills_ring += out->class_ring_taken[cls];
        out->refills_sync += out->class_sync_claims[cls];
        out->class_slabs[cls] = atomic_load_explicit(&hak_class_slabs[cls], memory_order_relaxed);
        out->class_size[cls] = hak_class_size[cls];
    }
}

static void init_locks(void) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) pthread_mutex_init(&central[cls].lock, NULL);
}

bool central_init(void) {
    init_locks();
    uint32_t by_bytes = RING_BYTES / HAK_SLAB_SIZE;
    ring_high = (uint32_t)hak_opt->ring_high < by_bytes ? (uint32_t)hak_opt->ring_high : by_bytes;
    unsigned slots = (unsigned)hak_opt->ring_size;   /* a power of two (options.c) */
    char *storage = os_map(ptr_ring_bytes(slots) * HAK_NUM_CLASSES);
    if (!storage) return false;
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++)
        ptr_ring_init(&rings[cls], storage + cls * ptr_ring_bytes(slots), slots);
    return true;
}

uint32_t central_ring_high(void) { return ring_high; }

void central_atfork_prepare(void) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) pthread_mutex_lock(&central[cls].lock);
}
void central_atfork_parent(void) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) pthread_mutex_unlock(&central[cls].lock);
}
void central_atfork_child(void) { init_locks(); }
