/* Thread heaps: every thread owns the slabs it allocates from, so a cache line of blocks belongs
 * to one thread at a time and two threads never bounce it between cores.
 *
 * Per class, the thread keeps its slabs on two circular lists:
 *   avail  slabs that may have blocks to give (free list, remote list or uncarved room); the head
 *          is the one it takes from;
 *   full   slabs that had nothing to give; other threads' frees may since have put blocks on
 *          their remote lists, so a refill looks at a few of them before taking a new slab.
 * A block the owner frees goes on its TLS list (tls_cache.h) and, when that overflows, back to its
 * slab's free list: no lock, no atomic. A block freed by anyone else goes on the slab's remote
 * list (slab_blocks.c). An empty slab stays where it is if it is the class's only one with room,
 * is parked (up to a budget per thread that follows its bursts) or goes back to its SuperSlab, so
 * that a burst that allocates and frees several slabs' worth does not claim them again each time.
 * At exit the thread's slabs become orphans (central.c), which other threads adopt.
 *
 * Owner ids: 1..HAK_OWNER_ID_MAX, unique among live threads (a bitmap under id_lock), so a
 * slab tag never names a live thread other than its owner. */
#include <pthread.h>
#include <string.h>
#include "core/thread_heap.h"
#include "core/central.h"
#include "core/background.h"
#include "core/counters.h"

enum { LIST_NONE, LIST_AVAIL, LIST_FULL, LIST_EMPTY };

typedef struct heap_class {
    slab_meta_t *avail, *full;
    slab_meta_t *empty;        /* parked: every block free, kept for the next new slab */
    uint32_t seen_epoch;       /* remote epoch the full list was last looked through for */
    uint32_t unlooked;         /* new slabs taken since the full list was last looked at */
    uint32_t slabs_taken;      /* new slabs taken for the class (saturates at GROWTH_AFTER)   */
} heap_class_t;

static __thread heap_class_t heap[HAK_NUM_CLASSES] __attribute__((tls_model("initial-exec")));
/* This thread's owner id shifted into a slab tag's owner bits; 0 before heap_thread_start and after
 * heap_thread_exit. (tls_cache.c keeps its own copy next to the lists, for the free fast path.) */
static __thread uint32_t owner_bits __attribute__((tls_model("initial-exec")));

uint32_t heap_owner_bits(void) { return owner_bits; }
/* Bytes of empty slabs the thread keeps parked (all classes). */
static __thread size_t parked_bytes __attribute__((tls_model("initial-exec")));

/* A thread parks empty slabs instead of releasing them, so that a burst that allocates and frees
 * several slabs' worth takes them back from its own hands: no claim, no daemon, no cold page.
 * Medium slabs (a whole SuperSlab) are never parked. The budget follows what the thread takes
 * back: twice the bytes of its last run of slabs taken from the park, within PARK_BYTES_MIN and
 * PARK_BYTES_MAX. A program that frees a big structure once parks the minimum and releases the
 * rest (the daemon purges it later); one that allocates and frees in storms (`workloads storm`:
 * 50000 blocks of 16-512 B a storm, 13 MiB) reaches the maximum after three storms. With 1 MiB
 * it released and claimed again 166 slabs per storm (111 k claims a second); with this budget
 * storm gained 53% per CPU-second at 1 and 2 threads, 18% at 4 (docs/design.md). Parked slabs stay
 * resident while the thread lives (the daemon cannot reach a thread's lists): hak_trim() from the
 * thread, or its exit, gives them back. */
#define PARK_BYTES_MIN ((size_t)1 << 20)
#define PARK_BYTES_MAX ((size_t)8 << 20)
/* Bytes taken from the park in the current (or last) run of takes, and whether the last park
 * event was a park (a take then starts a new run). */
static __thread size_t unpark_run __attribute__((tls_model("initial-exec")));
static __thread bool parked_last __attribute__((tls_model("initial-exec")));
/* Growth claims this thread made: what starts the daemon (background.h). */
static __thread uint32_t growth_claims __attribute__((tls_model("initial-exec")));

static size_t park_budget(void) {
    size_t b = 2 * unpark_run;
    return b < PARK_BYTES_MIN ? PARK_BYTES_MIN : b > PARK_BYTES_MAX ? PARK_BYTES_MAX : b;
}

/* Full slabs looked at for remote frees before a refill takes a new slab: a new slab is one per
 * 64 KiB of blocks, so looking at a few dozen first costs little, and in a producer/consumer
 * program it finds the blocks the consumers gave back instead of growing the heap. */
#define FULL_SCAN 64
#define LOOK_ANYWAY 64

/* ---- Owner ids ---------------------------------------------------------------------------------- */

#define ID_WORDS (((size_t)HAK_OWNER_ID_MAX + 64) / 64)
static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t id_used[ID_WORDS];     /* bit i: id i taken (bit 0 always: id 0 is never used) */
static size_t id_cursor, id_words_seen;

static uint32_t id_take(void) {
    pthread_mutex_lock(&id_lock);
    id_used[0] |= 1;
    uint32_t id = 0;
    for (size_t n = 0; n < ID_WORDS; n++, id_cursor = (id_cursor + 1) % ID_WORDS) {
        uint64_t free_bits = ~id_used[id_cursor];
        if (!free_bits) continue;
        unsigned bit = (unsigned)__builtin_ctzll(free_bits);
        uint64_t v = (uint64_t)id_cursor * 64 + bit;
        if (v > HAK_OWNER_ID_MAX) continue;
        id_used[id_cursor] |= 1ull << bit;
        if (id_cursor + 1 > id_words_seen) id_words_seen = id_cursor + 1;
        id = (uint32_t)v;
        break;
    }
    pthread_mutex_unlock(&id_lock);
    return id;
}

static void id_give_back(uint32_t id) {
    pthread_mutex_lock(&id_lock);
    id_used[id / 64] &= ~(1ull << (id % 64));
    pthread_mutex_unlock(&id_lock);
}

/* ---- Taking a slab ------------------------------------------------------------------------------ */

/* A class grows (its new slabs may come from the daemon's pool, or be posted to it to pre-fault)
 * from its third new slab on, while it has a full one. A pool slab, or a posted one, is populated
 * whole, where a slab the thread claims itself is populated 16 KiB ahead of its carving: a class
 * that stops growing keeps the uncarved rest of its last slab resident. The classes of a steady
 * heap take one to three slabs each (random replacement of 4096 blocks of 8-1024 B per thread), so
 * counting growth from the second slab gave the last, half-carved slab of many classes to the
 * daemon: peak RSS 4 threads 8.9 MiB against 7.9 daemon off, 2 threads 5.2 against 4.7; from the
 * third, 8.0 and 4.7. From the fourth, the growing heap's malloc p99.99 went from 0.6 to 2.2 us
 * (its 24 classes each claimed and populated one more slab themselves). */
#define GROWTH_AFTER 2

static bool class_grows(heap_class_t *h) {
    bool grows = h->full != NULL && h->slabs_taken >= GROWTH_AFTER;
    if (h->slabs_taken < GROWTH_AFTER) h->slabs_taken++;
    return grows;
}

static slab_meta_t *take_new_slab(unsigned cls) {
    heap_class_t *h = &heap[cls];
    bool grows = class_grows(h);
    slab_meta_t *s = h->empty;
    if (s) {
        slab_list_remove(&h->empty, s);
        parked_bytes -= HAK_SLAB_SIZE;
        if (parked_last) unpark_run = 0;
        parked_last = false;
        unpark_run += HAK_SLAB_SIZE;
        s->list = LIST_AVAIL;
        slab_list_add(&h->avail, s);
        h->avail = s;
        return s;
    }
    s = central_adopt(cls);
    if (!s && grows) s = central_fresh_slab(cls);
    if (!s) {
        s = slab_claim(cls);
        if (!s) return NULL;
        /* Growth: the class grows (above) and this slab is cold (never touched or purged), so
         * the heap really grows. A warm slab is reuse: counting it woke the daemon
         * for every slab of a program that frees and allocates its heap in rounds (16000 futex
         * wake-ups a second, storm at 0.83x daemon-off) and it had nothing to prepare. Only growth
         * is pre-faulted from its first page: a class's first slabs may stay mostly unused, so
         * their carving populates ahead only past their first 16 KiB (slab_blocks.c). */
        bool growth = grows && s->cold;
        bool posted = growth && !class_is_medium(cls) && slab_populate_start(s);
        if (growth && growth_claims < UINT32_MAX) growth_claims++;
        if (!central_note_sync_claim(cls, growth, growth_claims) && posted) background_wake();
    }
    slab_set_tag(s, slab_tag_make(owner_bits, cls));
    s->list = LIST_AVAIL;
    slab_list_add(&heap[cls].avail, s);
    heap[cls].avail = s;               /* the new slab is the one to take from */
    return s;
}

static slab_meta_t *new_slab(unsigned cls) {
    HAK_TIMER_START(t0);
    slab_meta_t *s = take_new_slab(cls);
    HAK_COUNT_LATENCY(new_slab, t0);
    return s;
}

/* s leaves the full list (to avail, the park, its SuperSlab or the orphans): frees of its blocks
 * stop bumping our epoch. Relaxed: a free that still sees the flag bumps once more, a hint. */
static void unlist_full(slab_meta_t *s) {
    if (s->list == LIST_FULL) atomic_store_explicit(&s->on_full_list, false, memory_order_relaxed);
}

/* s, on the full list, has blocks again (remote frees, or its owner gave some back): to avail. */
static void full_to_avail(heap_class_t *h, slab_meta_t *s) {
    unlist_full(s);
    slab_list_remove(&h->full, s);
    s->list = LIST_AVAIL;
    slab_list_add(&h->avail, s);
}

/* s had nothing to give: list it as full, unless a remote free came in since slab_take looked (then
 * it stays at the head of avail, and the caller's next take collects it). The flag's store and the
 * remote word's load are seq_cst, against the free's seq_cst CAS and flag load
 * (slab_push_remote_chain): either that free sees the flag and bumps the epoch, or we see its block
 * here. So a full slab's remote blocks are always announced. */
static void list_as_full(heap_class_t *h, slab_meta_t *s) {
    atomic_store_explicit(&s->on_full_list, true, memory_order_seq_cst);
    if (atomic_load_explicit(&s->remote, memory_order_seq_cst)) {
        atomic_store_explicit(&s->on_full_list, false, memory_order_relaxed);
        return;
    }
    slab_list_remove(&h->avail, s);
    s->list = LIST_FULL;
    slab_list_add(&h->full, s);
}

/* A full slab that other threads have given blocks back to, moved to avail; or NULL. Looked for
 * only when a remote free reached one of our full slabs since we last looked everywhere (each
 * look is a cache miss per slab: 64 of them cost a growing heap's malloc 5-20 us). The full list
 * rotates, so every full slab is looked at in turn; the epoch counts as seen only once a look
 * found a slab or covered the whole list. */
static slab_meta_t *full_with_remote(heap_class_t *h) {
    uint32_t epoch = atomic_load_explicit(remote_epoch_of(owner_bits), memory_order_relaxed);
    if (!h->full) return NULL;
    /* A free that read a slab's tag just before the slab changed hands bumped the previous
     * owner's epoch: look anyway every LOOK_ANYWAY new slabs, so no block waits for ever. */
    if (epoch == h->seen_epoch && ++h->unlooked < LOOK_ANYWAY) return NULL;
    h->unlooked = 0;
    slab_meta_t *first = h->full;
    for (int i = 0; i < FULL_SCAN && h->full; i++) {
        slab_meta_t *s = h->full;
        if (atomic_load_explicit(&s->remote, memory_order_relaxed)) {
            full_to_avail(h, s);
            h->avail = s;
            return s;
        }
        h->full = s->next;
        if (h->full == first) break;   /* went all the way round */
    }
    if (h->full == first) h->seen_epoch = epoch;
    return NULL;
}

/* s was just carved out, so the next refill of the class will most likely move it to the full list
 * and take a new slab: start fetching the lines that will touch (the full list's two ends, s's
 * remote list, the pool's next slab) while the blocks of this batch are used. Without it, the
 * malloc that took a new slab waited for each of these misses in turn (growing heap, 1 thread:
 * 360-930 of about 1300 slab takes a run over 1 us; with it 100-340). */
static void prefetch_next_slab(heap_class_t *h, slab_meta_t *s, unsigned cls) {
    if (h->full) {
        __builtin_prefetch(h->full, 1);
        __builtin_prefetch(h->full->prev, 1);
    }
    __builtin_prefetch((const void *)&s->remote, 0);
    central_prefetch_fresh(cls);
}

uint32_t heap_refill(unsigned cls, uint32_t room, void **out) {
    heap_class_t *h = &heap[cls];
    uint32_t want = hak_class_batch[cls];
    for (;;) {
        slab_meta_t *s = h->avail;
        if (!s && !(s = full_with_remote(h)) && !(s = new_slab(cls))) return 0;
        uint32_t n = slab_take(s, want, room, out);
        if (n) {
            if (!s->free && s->carved == s->capacity) prefetch_next_slab(h, s, cls);
            return n;
        }
        list_as_full(h, s);   /* nothing left in it, unless a remote free just came */
    }
}

/* ---- Giving blocks back ------------------------------------------------------------------------- */

static slab_meta_t **list_of(heap_class_t *h, slab_meta_t *s) {
    return s->list == LIST_AVAIL ? &h->avail : s->list == LIST_FULL ? &h->full : &h->empty;
}

static void release(heap_class_t *h, slab_meta_t *s) {
    if (s->list == LIST_EMPTY) parked_bytes -= HAK_SLAB_SIZE;
    unlist_full(s);
    slab_list_remove(list_of(h, s), s);
    s->list = LIST_NONE;
    slab_release(s);
}

/* All of s's blocks are free: keep it where it is if it is the class's one slab with room, park
 * it if the budget allows, else release it. A parked slab starts carving afresh (its free list is
 * dropped: every block is free), so blocks come out in address order again. */
static void maybe_release(heap_class_t *h, slab_meta_t *s) {
    if (s->list == LIST_AVAIL && s->next == s) return;
    if (class_is_medium(s->cls) || parked_bytes + HAK_SLAB_SIZE > park_budget()) {
        release(h, s);
        return;
    }
    slab_list_remove(list_of(h, s), s);
    unlist_full(s);
    s->free = NULL;
    s->nfree = 0;
    s->carved = 0;
    s->cold = false;   /* populated as far as it was carved; the rest (rare) faults page by page */
    s->list = LIST_EMPTY;
    slab_list_add(&h->empty, s);
    parked_bytes += HAK_SLAB_SIZE;
    parked_last = true;
}

void *heap_give_back(unsigned cls, void *head, uint32_t n) {
    heap_class_t *h = &heap[cls];
    for (; n && head; n--) {
        HAK_ASSERT((slab_tag_of(head) & ~HAK_TAG_CLASS_MASK) == owner_bits);   /* our own blocks only */
        void *next = block_next(head);
        /* Blocks freed on the fast path were not checked for being at a block boundary: each is
         * before it joins its slab (an interior pointer is caught here, late, or at exit). Inline:
         * an and, a multiply and a compare per block (a call per block cost bursts of frees 18%
         * more instructions before the TLS cap kept them). */
        if (HAK_UNLIKELY(!block_at_boundary(head, cls))) hak_report_bad_free("free", head, HAK_MSG_INTERIOR);
        slab_meta_t *s = slab_of(head);
        block_set_next(head, s->free);
        s->free = head;
        s->nfree++;
        if (s->list == LIST_FULL) full_to_avail(h, s);
        if (s->nfree == s->carved && slab_is_unused(s)) maybe_release(h, s);
        head = next;
    }
    HAK_COUNT(free_to_slabs);
    return head;
}

/* ---- Thread start, exit, trim ---------------------------------------------------------------------- */

uint32_t heap_thread_start(void) {
    uint32_t id = id_take();
    owner_bits = id << 8;
    return owner_bits;
}

/* Every slab of the class becomes an orphan, in one splice: the next thread that needs a slab of
 * the class adopts them (central.c). Without the daemon, whose purge tick would release the empty
 * ones later, empty slabs beyond ORPHAN_EMPTY_KEEP per exit are released now, so a program whose
 * threads exit gives their memory back. */
#define ORPHAN_EMPTY_KEEP 16

static void give_up_class(unsigned cls) {
    heap_class_t *h = &heap[cls];
    slab_meta_t **lists[3] = { &h->avail, &h->full, &h->empty };
    slab_meta_t *orphans = NULL, *s;
    uint32_t n = 0, empty_kept = 0;
    bool release_empty = !background_running();
    h->slabs_taken = 0;
    for (int l = 0; l < 3; l++) {
        while ((s = *lists[l])) {
            slab_list_remove(lists[l], s);
            unlist_full(s);
            s->list = LIST_NONE;
            if (slab_is_unused(s) && release_empty && empty_kept++ >= ORPHAN_EMPTY_KEEP) {
                slab_release(s);
                continue;
            }
            slab_set_tag(s, slab_tag_make(HAK_TAG_NO_OWNER, cls));
            slab_list_add(&orphans, s);
            n++;
        }
    }
    if (orphans) central_orphan_list(cls, orphans, n);
}

void heap_thread_exit(void) {
    uint32_t bits = owner_bits;
    if (!bits) return;
    owner_bits = 0;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) give_up_class(c);
    parked_bytes = 0;
    unpark_run = 0;
    parked_last = false;
    id_give_back(bits >> 8);
}

/* Every slab of the list whose blocks are all free, counting its remote list: giving blocks back
 * releases a slab only when its own free list holds them all, and blocks other threads freed into
 * it wait on its remote list until its owner refills the class. */
static void release_unused(heap_class_t *h, slab_meta_t **list) {
    slab_meta_t *s = *list;
    uint32_t n = 0;
    if (s) {
        do n++; while ((s = s->next) != *list);
    }
    for (; n; n--) {
        slab_meta_t *next = s->next;
        if (slab_is_unused(s)) release(h, s);
        s = next;
    }
}

void heap_trim(void) {
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        heap_class_t *h = &heap[c];
        while (h->empty) release(h, h->empty);
        release_unused(h, &h->full);
        release_unused(h, &h->avail);
    }
}

void heap_atfork_prepare(void) { pthread_mutex_lock(&id_lock); }
void heap_atfork_parent(void)  { pthread_mutex_unlock(&id_lock); }

/* Fork child: a slab that a thread of the parent other than the forking one owned becomes an
 * orphan (its blocks may be live in the child). */
static void orphan_if_other(slab_meta_t *m, uint32_t tag) {
    uint32_t owner = tag & ~HAK_TAG_CLASS_MASK;
    if (owner == HAK_TAG_NO_OWNER || owner == owner_bits) return;
    unlist_full(m);
    m->list = LIST_NONE;
    central_orphan(m);
}

/* The child has one thread, the forking one: every other id is free again, and every slab that a
 * thread of the parent owned becomes an orphan (its blocks may be live in the child). */
void heap_atfork_child(void) {
    /* The forking thread took the lock in heap_atfork_prepare and is the child's thread: unlock,
     * not re-initialise (ThreadSanitizer keeps a re-initialised mutex locked, and reported the
     * first thread the child starts as a double lock). */
    pthread_mutex_unlock(&id_lock);
    memset(id_used, 0, id_words_seen * sizeof id_used[0]);
    id_used[0] |= 1;
    uint32_t mine = owner_bits >> 8;
    if (mine) id_used[mine / 64] |= 1ull << (mine % 64);
    superslab_visit_slabs_single_threaded(orphan_if_other);
}
