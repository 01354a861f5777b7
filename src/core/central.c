/* The central pool of each size class: where batches come from when a thread's list is empty and
 * where they go when it overflows.
 *
 * Per class, under one mutex (`lock`):
 *   - the transfer cache: whole batches given back, handed out again as they are (no walking);
 *   - the partial list: the class's slabs that have blocks to give (free list or uncarved);
 *   - producing into the class's ring (the daemon, or hak_trim draining it).
 * Without the lock: threads dequeue from the ring (lock-free, batch_ring.h) and push chains onto
 * the return stack (lock-free, return_stack.h), which whoever holds the lock drains.
 * Lock order: central lock -> (superslab claim: lock-free; superslab map: ss_list_lock). */
#include <time.h>
#include "core/counters.h"
#include "lockfree/batch_ring.h"
#include "lockfree/return_stack.h"

#define TRANSFER_MAX 64

typedef struct central {
    pthread_mutex_t lock;
    slab_meta_t *partial;
    /* Loose blocks: the less-than-a-batch remainders of lists flushed at thread exit, pooled so
     * they leave again as whole batches instead of going through the slabs (with thread churn,
     * re-gathering them block by block was 15% of Larson's CPU). */
    void *loose;
    uint32_t nloose;
    uint32_t ntransfer;
    void *transfer[TRANSFER_MAX];
    /* Set (relaxed) by threads that refill from this class; cleared by the daemon's idle check.
     * Only a hint for when to drain an unused class. */
    _Atomic uint32_t active;
    _Atomic uint64_t refills_ring, refills_sync;   /* statistics, relaxed */
    uint32_t nslabs;                               /* slabs the class owns (lock) */
} __attribute__((aligned(64))) central_t;

static central_t central[HAK_NUM_CLASSES];
return_stack_t hak_returns[HAK_NUM_CLASSES];

/* ---- Slabs of the class (lock held) ------------------------------------------------------ */

static void partial_push(central_t *c, slab_meta_t *s) {
    s->prev = NULL;
    s->next = c->partial;
    if (c->partial) c->partial->prev = s;
    c->partial = s;
    s->in_partial = 1;
}

static void partial_remove(central_t *c, slab_meta_t *s) {
    if (s->prev) s->prev->next = s->next;
    else c->partial = s->next;
    if (s->next) s->next->prev = s->prev;
    s->in_partial = 0;
}

/* Build a chain of up to n blocks from the class's slabs, claiming new slabs as needed. */
static uint32_t gather(unsigned cls, uint32_t n, void **out) {
    central_t *c = &central[cls];
    void *head = NULL, *tail = NULL;   /* linked with block_set_next (ASan builds poison free blocks) */
    uint32_t got = 0;
    for (; got < n && c->loose; got++) {
        void *b = c->loose;
        c->loose = block_next(b);
        c->nloose--;
        if (tail) block_set_next(tail, b);
        else head = b;
        tail = b;
    }
    while (got < n) {
        slab_meta_t *s = c->partial;
        if (!s) {
            if (!(s = slab_claim(cls))) break;
            HAK_COUNT(slab_claimed);
            c->nslabs++;
            partial_push(c, s);
        }
        uint32_t before = got;
        (void)before;   /* only the debug counters use it */
        for (; got < n && s->free; got++) {
            void *b = s->free;
            s->free = block_next(b);
            s->nfree--;
            if (tail) block_set_next(tail, b);
            else head = b;
            tail = b;
        }
        HAK_COUNT_N(refill_from_slab_free, got - before);
        if (got < n && s->carved < s->capacity) {
            before = got;
            char *base = slab_base(ss_of_meta(s), s->index);
            for (; got < n && s->carved < s->capacity; got++) {
                void *b = base + (size_t)s->carved++ * s->block_size;
                if (tail) block_set_next(tail, b);
                else head = b;
                tail = b;
            }
            HAK_COUNT_N(refill_carved, got - before);
        }
        if (!s->free && s->carved == s->capacity) partial_remove(c, s);
    }
    if (tail) block_set_next(tail, NULL);
    *out = head;
    return got;
}

/* Return one block to its slab; true if that emptied the slab's SuperSlab. */
static bool block_to_slab(central_t *c, void *b) {
    slab_meta_t *s = slab_of(b);
    block_set_next(b, s->free);
    s->free = b;
    s->nfree++;
    HAK_COUNT(free_block_to_slab);
    if (s->nfree == s->carved) {
        if (s->in_partial) partial_remove(c, s);
        c->nslabs--;
        HAK_COUNT(slab_released);
        return slab_release(s);
    }
    if (!s->in_partial) partial_push(c, s);
    return false;
}

static bool chain_to_slabs(central_t *c, void *head) {
    bool emptied = false;
    while (head) {
        void *next = block_next(head);
        emptied |= block_to_slab(c, head);
        head = next;
    }
    return emptied;
}

/* A whole batch given back: into the ring (if asked), the transfer cache, or back to its slabs.
 * Returned batches may fill the ring to twice the daemon's high watermark: the daemon tops the
 * ring up to `high` with fresh blocks, and returns that find it there must not spill into the
 * slabs only for the daemon to gather them again block by block (measured: gather was 15% of
 * the CPU of Larson with thread churn). */
static bool stash_batch(unsigned cls, void *batch, bool to_ring) {
    central_t *c = &central[cls];
    if (to_ring && batch_ring_count(cls) < 2 * hak_class_ring_high[cls] && batch_ring_push(cls, batch))
        return false;
    if (c->ntransfer < hak_class_transfer[cls]) {
        c->transfer[c->ntransfer++] = batch;
        return false;
    }
    return chain_to_slabs(c, batch);
}

/* Drain the return stack: every entry is a whole batch, stashed without walking it. */
static bool drain_returns(unsigned cls, bool to_ring) {
    void *batch = return_stack_take(cls);
    bool emptied = false;
    while (batch) {
        void *next = batch_link(batch);
        HAK_COUNT(daemon_chains_drained);
        emptied |= stash_batch(cls, batch, to_ring);
        batch = next;
    }
    return emptied;
}

/* After an unlock: with no daemon to purge later, trim wholly empty SuperSlabs now, keeping one
 * unpurged so that a program cycling through allocate-all/free-all does not fault every time. */
static void after_emptied(bool emptied) {
    if (emptied && !daemon_enabled()) superslab_purge(0, true, 1);
}

/* ---- Entry points ----------------------------------------------------------------------- */

static void mark_active(central_t *c) {
    if (!atomic_load_explicit(&c->active, memory_order_relaxed))
        atomic_store_explicit(&c->active, 1, memory_order_relaxed);
}

uint32_t central_refill(unsigned cls, void **out) {
    central_t *c = &central[cls];
    uint32_t n;
#if HAKMEM_DEBUG_COUNTERS
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
#endif
    mark_active(c);
    pthread_mutex_lock(&c->lock);
    bool emptied = drain_returns(cls, false);
    if (c->ntransfer) {
        *out = c->transfer[--c->ntransfer];
        n = hak_class_batch[cls];
        HAK_COUNT(refill_from_transfer);
    } else {
        n = gather(cls, hak_class_batch[cls], out);
    }
    pthread_mutex_unlock(&c->lock);
    atomic_fetch_add_explicit(&c->refills_sync, 1, memory_order_relaxed);
    after_emptied(emptied);
#if HAKMEM_DEBUG_COUNTERS
    clock_gettime(CLOCK_MONOTONIC, &t1);
    HAK_COUNT(refill_sync);
    HAK_COUNT_N(refill_sync_ns, (t1.tv_sec - t0.tv_sec) * 1000000000ll + (t1.tv_nsec - t0.tv_nsec));
#endif
    return n;
}

void central_note_ring_refill(unsigned cls) {
    central_t *c = &central[cls];
    mark_active(c);
    atomic_fetch_add_explicit(&c->refills_ring, 1, memory_order_relaxed);
}

/* Whole batches are cut off the chain and kept as batches (ring, transfer cache): a thread that
 * exits with a full list hands its successor batches, not blocks to gather again one by one.
 * The rest goes back to the slabs. */
void central_give_back(unsigned cls, void *head, uint32_t n) {
    central_t *c = &central[cls];
    uint32_t per = hak_class_batch[cls];
    bool to_ring = ring_serves(cls), emptied = false;
    HAK_COUNT(free_batch_to_central);
    pthread_mutex_lock(&c->lock);
    for (; n >= per && head; n -= per) {
        void *rest = chain_split(head, per);
        emptied |= stash_batch(cls, head, to_ring);
        head = rest;
    }
    if (head && n) {                   /* a counted remainder joins the loose blocks */
        void *tail = head;
        while (block_next(tail)) tail = block_next(tail);
        block_set_next(tail, c->loose);
        c->loose = head;
        c->nloose += n;
        head = NULL;
        if (c->nloose >= per) {
            void *batch;
            gather(cls, per, &batch);  /* takes loose blocks first: a whole batch of them */
            emptied |= stash_batch(cls, batch, to_ring);
        }
    }
    emptied |= chain_to_slabs(c, head);
    pthread_mutex_unlock(&c->lock);
    after_emptied(emptied);
}

bool central_try_give_back_batch(unsigned cls, void *batch) {
    central_t *c = &central[cls];
    if (pthread_mutex_trylock(&c->lock) != 0) return false;
    HAK_COUNT(free_batch_to_central);
    bool emptied = stash_batch(cls, batch, true);
    pthread_mutex_unlock(&c->lock);
    after_emptied(emptied);
    return true;
}

bool central_wants_fill(unsigned cls) {
    return class_uses_ring(cls) && atomic_load_explicit(&central[cls].active, memory_order_relaxed)
        && batch_ring_count(cls) <= hak_class_ring_low[cls];
}

uint32_t central_daemon_fill(unsigned cls) {
    central_t *c = &central[cls];
    uint32_t made = 0, per = hak_class_batch[cls];
    if (!class_uses_ring(cls)) return 0;
    if (!atomic_load_explicit(&c->active, memory_order_relaxed)
        && !atomic_load_explicit(&hak_returns[cls].top, memory_order_relaxed))
        return 0;
    pthread_mutex_lock(&c->lock);
    bool emptied = drain_returns(cls, true);
    while (atomic_load_explicit(&c->active, memory_order_relaxed)
           && batch_ring_count(cls) < hak_class_ring_high[cls]) {
        void *batch;
        if (c->ntransfer) {
            batch = c->transfer[--c->ntransfer];
        } else {
            uint32_t n = gather(cls, per, &batch);
            if (n < per) {                       /* out of memory: give the partial chain back */
                emptied |= chain_to_slabs(c, batch);
                break;
            }
        }
        if (!batch_ring_push(cls, batch)) {      /* cannot happen below high < size; be safe */
            emptied |= stash_batch(cls, batch, false);
            break;
        }
        made++;
    }
    pthread_mutex_unlock(&c->lock);
    after_emptied(emptied);
    return made;
}

static bool drain_class(unsigned cls) {
    central_t *c = &central[cls];
    void *batch;
    pthread_mutex_lock(&c->lock);
    /* The ring's producer side is ours while we hold the lock; popping is allowed to anyone. */
    bool emptied = drain_returns(cls, false);
    while ((batch = batch_ring_pop(cls))) emptied |= chain_to_slabs(c, batch);
    while (c->ntransfer) emptied |= chain_to_slabs(c, c->transfer[--c->ntransfer]);
    emptied |= chain_to_slabs(c, c->loose);
    c->loose = NULL;
    c->nloose = 0;
    pthread_mutex_unlock(&c->lock);
    return emptied;
}

void central_drain(bool idle_only) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) {
        central_t *c = &central[cls];
        if (idle_only && atomic_exchange_explicit(&c->active, 0, memory_order_relaxed)) continue;
        after_emptied(drain_class(cls));
    }
}

void central_stats(hak_stats_t *out) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) {
        out->refills_ring += atomic_load_explicit(&central[cls].refills_ring, memory_order_relaxed);
        out->refills_sync += atomic_load_explicit(&central[cls].refills_sync, memory_order_relaxed);
        pthread_mutex_lock(&central[cls].lock);
        out->class_slabs[cls] = central[cls].nslabs;
        pthread_mutex_unlock(&central[cls].lock);
        out->class_size[cls] = hak_class_size[cls];
    }
}

void central_init(void) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) pthread_mutex_init(&central[cls].lock, NULL);
}

void central_atfork_prepare(void) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) pthread_mutex_lock(&central[cls].lock);
}
void central_atfork_parent(void) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) pthread_mutex_unlock(&central[cls].lock);
}
void central_atfork_child(void) { central_init(); }
