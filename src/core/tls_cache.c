/* Cold paths of the per-thread cache: refill when a list is empty (from the thread's own slabs,
 * thread_heap.c), give a batch back when it passes its cap, free a block of another thread's
 * slab, register the thread (owner id, caps, exit destructor) and flush it at exit. */
#include <pthread.h>
#include <errno.h>
#include "core/tls_cache.h"
#include "core/thread_heap.h"
#include "core/central.h"
#include "core/remote_cache.h"
#include "core/options.h"
#include "platform/os.h"
#include "core/check_mode.h"

__thread tls_cache_t hak_tls __attribute__((tls_model("initial-exec")));
/* Owning thread only. EXITING: our destructor ran; whatever the thread still allocates or frees
 * during the rest of its teardown (other keys' destructors, libc's own clean-up) goes to orphan
 * slabs, so nothing is left cached (leaked) in a dead thread and its TLS is never linked anywhere
 * again (glibc reuses a dead thread's stack and TLS for the next thread). */
enum { TLS_NEW, TLS_REGISTERED, TLS_EXITING };
static __thread int tls_registered __attribute__((tls_model("initial-exec")));
static pthread_key_t tls_exit_key;
/* tls_cache_init ran (release; threads read it with acquire before registering themselves from a
 * path that may come before start-up, the debug counters' settle). */
static _Atomic int tls_ready;

/* Adaptive caps: a list that ran empty GROW_AFTER_REFILLS times since it last overflowed and then
 * overflows again (a burst bigger than its cap, allocated and freed again) doubles its cap instead
 * of giving a batch back, and keeps doubling at each overflow of the same burst of frees (no
 * refill between), so a burst of 1600 blocks grows a 64-block cap to 2048 in one go (doubling
 * once per burst left the cap behind the burst: it gave batches back, four of them halved the cap
 * again, and bursts of 25..1600 blocks spent a quarter of their instructions giving blocks back
 * to slabs and taking them again), up to CAP_BYTES_MAX of blocks and CAP_BATCHES_MAX batches per
 * class and THREAD_GROWTH_MAX of growth over all classes; after CALM_OVERFLOWS overflows in a row
 * with no underflow between (the thread is only freeing) it halves again, down to
 * HAKMEM_TLS_CAP_BATCHES. So bursts of thousands of blocks stay in the thread's list, and a list
 * that stops cycling gives its memory back to its slabs.
 * The limits were 256 KiB and 64 batches per class until the ninth session: a storm of 50000
 * blocks of 16-512 B (13 MB, about 6400 blocks of the 512 B class) then sent half of its blocks
 * through the slabs each round (walked back onto their slabs' lists at the overflow, carved again
 * after the slabs emptied: 34% of the samples), 73 M allocations per CPU-second against 99 M
 * with the lists holding the storm. The memory so held was live at the thread's peak a moment
 * before; the thread's budget bounds what a thread that bursts and then idles keeps. */
#define CAP_BATCHES_MAX   1024
#define CAP_BYTES_MAX     ((uint32_t)4 << 20)
#define THREAD_GROWTH_MAX ((size_t)16 << 20)
#define CALM_OVERFLOWS  4
/* One refill between overflows is a list wandering around its cap (random replacement); growing
 * it then only spreads the thread's free blocks over more cache lines (measured: -8% on a random
 * replacement workload). Two or more is a burst. */
#define GROW_AFTER_REFILLS 2

/* Bytes by which this thread's caps exceed their floors, over all classes (slow paths only). */
static __thread size_t tls_cap_growth __attribute__((tls_model("initial-exec")));

static int32_t tls_cap(unsigned cls) { return (int32_t)(hak_class_batch[cls] * hak_tls.adapt[cls].cap_batches); }

/* The cap a list starts with and never goes below: HAKMEM_TLS_CAP_BATCHES batches, and
 * CAP_FLOOR_BATCHES for classes above CAP_FLOOR_ABOVE. Those classes have batches of 4-8 blocks,
 * so 2 batches left a thread that frees and allocates them at random giving blocks back to its
 * slabs and taking them again on most operations (and spreading its blocks over more partly used
 * slabs). With 8 (5 interleaved runs each, medians, per CPU-second): Larson 1-32 KiB 2 threads
 * +36%, 8 B-64 KiB +16% (1 thread) and +33% (2), workloads sizes +11-17%, with 10-30% less peak
 * RSS. Tried: 8 batches for every class (3 runs: bursts of 16-64 B -14%, storm -23%, though two
 * identical libraries differ by up to 7% on storm here); a floor of 32 blocks or of 256 KiB per
 * class (too small for 8-32 KiB blocks: no gain). */
#define CAP_FLOOR_ABOVE   1024u
#define CAP_FLOOR_BATCHES 8u

static uint32_t cap_batches_min(unsigned cls) {
    uint32_t opt = (uint32_t)hak_opt->tls_cap_batches;
    if (hak_class_size[cls] <= CAP_FLOOR_ABOVE) return opt;
    return CAP_FLOOR_BATCHES > opt ? CAP_FLOOR_BATCHES : opt;
}

static uint32_t cap_batches_max(unsigned cls) {
    uint32_t by_bytes = CAP_BYTES_MAX / (hak_class_batch[cls] * hak_class_size[cls]);
    uint32_t max = by_bytes < CAP_BATCHES_MAX ? by_bytes : CAP_BATCHES_MAX;
    uint32_t min = cap_batches_min(cls);
    return max > min ? max : min;
}

/* The cap, in batches, a list of `now` batches grows to in a burst: twice as many, but no more than
 * the class's largest cap (the last step may be less than a doubling: a storm slightly bigger than
 * a power of two of batches otherwise kept only half of its blocks) nor what the thread's budget
 * has left. */
static uint32_t cap_batches_grown(unsigned cls, uint32_t now) {
    uint32_t to = 2 * now, max = cap_batches_max(cls);
    if (to > max) to = max;
    size_t batch_bytes = (size_t)hak_class_batch[cls] * hak_class_size[cls];
    size_t budget_batches = (THREAD_GROWTH_MAX - tls_cap_growth) / batch_bytes;
    if (to > now && to - now > budget_batches) to = now + (uint32_t)budget_batches;
    return to;
}

/* False: no owner id left (more than 16 million live threads); the thread then works like an
 * exiting one, through orphan slabs. */
static bool thread_register(void) {
    uint32_t owner_bits = heap_thread_start();
    if (!owner_bits) {
        tls_registered = TLS_EXITING;
        return false;
    }
    hak_tls.owner_bits = hak_check_mode ? 0 : owner_bits;   /* checking: every free the checked way (check_mode.h) */
#if HAKMEM_DEBUG_COUNTERS
    counters_thread_register();
#endif
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        hak_tls.adapt[c].cap_batches = (uint16_t)cap_batches_min(c);
        hak_tls.room[c] = tls_cap(c);
    }
    /* The key was created early, so its slot is in the thread's static array: no allocation. */
    pthread_setspecific(tls_exit_key, &hak_tls);
    tls_registered = TLS_REGISTERED;
    return true;
}

/* Every list back to the thread's own slabs. */
static void tls_flush_all(void) {
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        if (!hak_tls.head[c]) continue;
        heap_give_back(c, hak_tls.head[c], UINT32_MAX);
        hak_tls.head[c] = NULL;
        hak_tls.room[c] = tls_cap(c);
    }
}

/* pthread key destructor: the thread is exiting. Its slabs become orphans; room 0 and owner bits
 * 0 send every later malloc and free of this thread to the orphan paths. */
static void thread_exit(void *arg) {
    (void)arg;
    tls_flush_all();
    remote_cache_flush();
    hak_tls.owner_bits = 0;   /* no free of ours is local from here on: the slabs change hands */
    heap_thread_exit();
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) hak_tls.room[c] = 0;
    tls_registered = TLS_EXITING;
#if HAKMEM_DEBUG_COUNTERS
    counters_thread_exit();
#endif
}

/* Start-up, last: a thread may register (take slabs) from here on. Without the exit key no thread's
 * slabs would ever be given up, so a failure is fatal rather than a slow leak. */
void tls_cache_init(void) {
    int rc = pthread_key_create(&tls_exit_key, thread_exit);
    if (rc != 0) hak_fatal("hakmem: pthread_key_create failed (error %d): cannot track thread exits", rc);
    atomic_store_explicit(&tls_ready, 1, memory_order_release);
}

#if HAKMEM_DEBUG_COUNTERS
/* Counts are summed only over registered threads and those that exited through thread_exit. A
 * thread that only frees or uses large blocks never reaches thread_register, and one past
 * thread_exit has already folded its counters: register the first, fold the second again. */
void tls_counters_settle(void) {
    if (HAK_LIKELY(tls_registered == TLS_REGISTERED)) return;
    if (tls_registered == TLS_EXITING) counters_thread_fold();
    else if (atomic_load_explicit(&tls_ready, memory_order_acquire)) (void)thread_register();
}
#endif

/* A refill takes a slab's whole free list, without walking it, when the list fits in the TLS
 * list's cap (the list is empty at a refill, so its room is the cap): for blocks up to
 * WHOLE_LIST_MAX_BLOCK. Walking a batch off a list that other threads freed into is a cache miss
 * per block (producer/consumer +15-24%, server 2 threads +10%, storm +6%). Larger blocks keep
 * batches: whole lists of 1-32 KiB blocks kept more of them in the lists and fewer slabs empty
 * (Larson 1-32 KiB, 2 threads: peak RSS +5%). Up to 4 KiB (was 1 KiB): server 2 threads +11.5%,
 * 4 threads +4% (7 runs), Larson 1-32 KiB and 8 B-64 KiB, sizes, replace: level, RSS the same. */
#define WHOLE_LIST_MAX_BLOCK 4096u

static uint32_t whole_list_max(unsigned cls) {
    return hak_class_size[cls] <= WHOLE_LIST_MAX_BLOCK ? (uint32_t)tls_cap(cls) : 0;
}

void *tls_refill_alloc(size_t size) {
    unsigned cls = size_class_of(size);
    HAK_COUNT(malloc_tls_miss);
    if (HAK_UNLIKELY(tls_registered != TLS_REGISTERED)
        && (tls_registered == TLS_EXITING || !thread_register())) {
        void *p = hak_check_mode ? check_alloc_orphan(size) : central_alloc_one(cls);
        if (p) block_clear_free_key(p);
        else errno = ENOMEM;
        HAK_COUNTS_SETTLE();
        return p;
    }
    if (HAK_UNLIKELY(hak_check_mode)) return check_alloc(size);
    void *p = tls_list_pop(cls);      /* the list may not have been empty for this class */
    if (p) return p;
    void *batch;
    HAK_TIMER_START(t0);
    uint32_t n = heap_refill(cls, whole_list_max(cls), &batch);
    HAK_COUNT_LATENCY(refill, t0);
    if (!n) {
        errno = ENOMEM;
        return NULL;
    }
    tls_adapt_t *b = &hak_tls.adapt[cls];
    hak_tls.head[cls] = block_next(batch);
    hak_tls.room[cls] = tls_cap(cls) - (int32_t)(n - 1);
    if (b->underflowed < UINT8_MAX) b->underflowed++;
    b->calm = 0;
    b->growing = 0;
    block_clear_free_key(batch);
    return batch;
}

/* The list passed its cap: one batch's worth of its most recently freed blocks goes back to
 * their slabs. Only registered threads get here: the others have no local frees. */
void tls_overflow(unsigned cls) {
    tls_adapt_t *b = &hak_tls.adapt[cls];
    uint32_t per = hak_class_batch[cls], give = per;
    bool burst = b->underflowed >= GROW_AFTER_REFILLS || b->growing;
    uint32_t to = burst ? cap_batches_grown(cls, b->cap_batches) : 0;
    if (to > b->cap_batches) {
        uint32_t more = (to - b->cap_batches) * per;   /* a burst: grow the cap, keep every block */
        hak_tls.room[cls] += (int32_t)more;
        tls_cap_growth += (size_t)more * hak_class_size[cls];
        b->cap_batches = (uint16_t)to;
        b->underflowed = 0;
        b->calm = 0;
        b->growing = 1;
        HAK_COUNT(tls_cap_grown);
        return;
    }
    b->underflowed = 0;
    b->growing = 0;
    uint32_t min = cap_batches_min(cls);
    if (++b->calm >= CALM_OVERFLOWS && b->cap_batches > min) {
        int32_t old_cap = tls_cap(cls);   /* only freeing: halve the cap, give the excess back */
        b->cap_batches = (uint16_t)(b->cap_batches / 2 > min ? b->cap_batches / 2 : min);
        give += (uint32_t)(old_cap - tls_cap(cls));
        tls_cap_growth -= (size_t)(old_cap - tls_cap(cls)) * hak_class_size[cls];
        b->calm = 0;
    }
    hak_tls.head[cls] = heap_give_back(cls, hak_tls.head[cls], give);
    hak_tls.room[cls] += (int32_t)per;   /* what was given beyond a batch pays for the smaller cap */
    HAK_COUNT(free_overflow);
}

/* The key is set here too, so the owner's confirmation knows the block is free if the next free
 * of it is the owner's; a second free on this path cannot be confirmed (the owner takes the remote
 * list and reuses its links concurrently), so the key is not checked here. The boundary check
 * costs a multiply: this path is already a CAS on a shared line. */
void tls_free_remote(void *p, uint32_t tag) {
    if (HAK_UNLIKELY(hak_check_mode) && check_free(p, tag)) {
        HAK_COUNTS_SETTLE();
        return;
    }
    unsigned cls = tag & HAK_TAG_CLASS_MASK;
    free_check_boundary(p, cls, "free");
    slab_meta_t *s = slab_of_class(p, cls);
    block_set_free_key(p);
    /* Kept in the remote cache, which a thread that only frees joins by registering here, so that
     * its exit flushes what it keeps. Not in hardened builds: the owner's double-free check looks
     * for the block on the slab's remote list, and a kept block is not there yet. */
    if (!HAKMEM_HARDENED
        && (HAK_LIKELY(tls_registered == TLS_REGISTERED)
            || (tls_registered == TLS_NEW && atomic_load_explicit(&tls_ready, memory_order_acquire)
                && thread_register()))) {
        remote_cache_put(s, p, tag);
    } else {
        slab_push_remote_chain(s, p, p, 1, tag & ~HAK_TAG_CLASS_MASK);
    }
    HAK_COUNTS_SETTLE();
}

/* Lists are walked at most this far: a list longer than any slab or TLS cap is corrupt (a cycle
 * left by an earlier undetected double free), and the walk must end anyway. */
#define WALK_MAX (1u << 20)

static bool list_holds(void *head, void *p, uint32_t max) {
    uint32_t n = 0;
    for (void *b = head; b; b = block_next(b)) {
        if (b == p) return true;
        if (++n > max) hak_fatal("hakmem: free(%p): a free list is corrupted (longer than %u)", p, max);
    }
    return false;
}

/* The caller owns p's slab (its tag carries our owner bits), so the slab's free list and our TLS
 * list are ours alone. The remote list is pushed by other threads concurrently but taken only by
 * the owner: the acquire load below sees every block pushed before it with its link written
 * (slab_blocks.c), and those links do not change until we take the list, so walking that snapshot
 * is safe. A block of our slab that is free is on exactly one of these three lists: other
 * threads' frees of it go to the remote list, never to their own TLS lists. */
static void free_confirm(void *p, unsigned cls) {
    free_check_boundary(p, cls, "free");
    slab_meta_t *s = slab_of(p);
    if (block_offset(p, cls) / s->block_size >= s->carved)
        hak_report_bad_free("free", p, "not a block in use: never handed out, or freed and its slab reset");
    uintptr_t remote = atomic_load_explicit(&s->remote, memory_order_acquire);
    if (list_holds(hak_tls.head[cls], p, WALK_MAX)
        || list_holds(s->free, p, s->nfree)
        || list_holds((void *)(remote & HAK_REMOTE_PTR_MASK), p, (uint32_t)(remote >> 48)))
        hak_report_double_free("free", p);
    /* A live block whose second word held the key by chance: an ordinary free. */
}

/* Aborts if p is free already (free_confirm); else the key was user data: push it. */
void tls_push_suspect(unsigned cls, void *p) {
    free_confirm(p, cls);
    tls_list_link(cls, p);
}

HAK_API void hak_thread_flush(void) {
    if (tls_registered != TLS_REGISTERED) return;   /* registered: start-up is done */
    tls_flush_all();
    remote_cache_flush();
}
