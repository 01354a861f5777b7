/* Cold paths of the per-thread cache: refill when a list is empty, give a batch back when it
 * passes its cap, register the thread (caps, exit destructor) and flush it at exit. */
#include <errno.h>
#include "core/tls_cache.h"
#include "lockfree/batch_ring.h"
#include "lockfree/return_stack.h"

__thread tls_cache_t hak_tls __attribute__((tls_model("initial-exec")));
/* Owning thread only. EXITING: our destructor ran; whatever the thread still allocates or frees
 * during the rest of its teardown (other keys' destructors, libc's own clean-up) goes straight to
 * the central pools, so nothing is left cached (leaked) in a dead thread and its TLS is never
 * linked anywhere again (glibc reuses a dead thread's stack and TLS for the next thread). */
enum { TLS_NEW, TLS_REGISTERED, TLS_EXITING };
static __thread int tls_registered __attribute__((tls_model("initial-exec")));
static pthread_key_t tls_exit_key;

static unsigned size_class_of(size_t size) {
    return size <= HAK_TABLE_MAX ? size_class_small(size) : size_class_of_large(size);
}

static int32_t tls_cap(unsigned cls) { return (int32_t)(hak_class_batch[cls] * (uint32_t)hak_opt.tls_cap_batches); }

/* Before registration a list's room counts down from 0, so its length is -room. */
static void thread_register(void) {
#if HAKMEM_DEBUG_COUNTERS
    counters_thread_register();
#endif
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) hak_tls.bins[c].room += tls_cap(c);
    /* The key was created early, so its slot is in the thread's static array: no allocation. */
    pthread_setspecific(tls_exit_key, &hak_tls);
    tls_registered = TLS_REGISTERED;
}

/* Give every list back to the central pools. */
static void tls_flush_all(void) {
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        tls_bin_t *b = &hak_tls.bins[c];
        if (!b->head) continue;
        void *head = b->head;
        uint32_t n = (uint32_t)(tls_cap(c) - b->room);
        b->head = NULL;
        b->room = tls_registered == TLS_REGISTERED ? tls_cap(c) : 0;
        central_give_back(c, head, n);   /* lists end in NULL: batches do, pushes prepend */
    }
}

/* pthread key destructor: the thread is exiting. Room 0 sends every later free to tls_overflow. */
static void thread_exit(void *arg) {
    (void)arg;
    tls_flush_all();
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) hak_tls.bins[c].room = 0;
    tls_registered = TLS_EXITING;
#if HAKMEM_DEBUG_COUNTERS
    counters_thread_exit();
#endif
}

void tls_cache_init(void) { pthread_key_create(&tls_exit_key, thread_exit); }

#if HAKMEM_DEBUG_COUNTERS
/* Counts are summed only over registered threads and those that exited through thread_exit. A
 * thread that only uses large blocks (or frees NULL) never reaches thread_register, and one past
 * thread_exit has already folded its counters: register the first, fold the second again. */
void tls_counters_settle(void) {
    if (HAK_LIKELY(tls_registered == TLS_REGISTERED)) return;
    if (tls_registered == TLS_EXITING) counters_thread_fold();
    else if (atomic_load_explicit(&hak_init_state, memory_order_acquire) == 2) thread_register();
}
#endif

static uint32_t refill_from_ring(unsigned cls, void **out) {
    void *batch = batch_ring_pop(cls);
    if (!batch) {
        HAK_COUNT(refill_ring_empty);
        return 0;
    }
    HAK_COUNT(refill_ring_hit);
    central_note_ring_refill(cls);
    if (batch_ring_count(cls) <= hak_class_ring_low[cls]) daemon_wake();
    *out = batch;
    return hak_class_batch[cls];
}

/* One block from the central pool, the rest of the batch straight back. */
static void *alloc_while_exiting(unsigned cls) {
    void *batch;
    uint32_t n = central_refill(cls, &batch);
    if (!n) {
        errno = ENOMEM;
        return NULL;
    }
    if (n > 1) central_give_back(cls, block_next(batch), n - 1);
    return batch;
}

void *tls_refill_alloc(size_t size) {
    if (HAK_UNLIKELY(!hak_ensure_init())) {
        errno = ENOMEM;
        return NULL;
    }
    unsigned cls = size_class_of(size);
    HAK_COUNT(malloc_tls_miss);
    if (HAK_UNLIKELY(tls_registered == TLS_EXITING)) {
        void *p = alloc_while_exiting(cls);
        HAK_COUNTS_SETTLE();
        return p;
    }
    if (HAK_UNLIKELY(tls_registered == TLS_NEW)) thread_register();
    void *p = tls_list_pop(cls);      /* the list may not have been empty for this class */
    if (p) return p;

    void *batch = NULL;
    bool ring = ring_serves(cls);
    uint32_t n = ring ? refill_from_ring(cls, &batch) : 0;
    if (!n) {
        n = central_refill(cls, &batch);
        if (!n) {
            errno = ENOMEM;
            return NULL;
        }
        if (ring) daemon_wake();   /* its ring ran dry */
        else daemon_maybe_start();
    }
    tls_bin_t *b = &hak_tls.bins[cls];
    b->head = block_next(batch);
    b->room = tls_cap(cls) - (int32_t)(n - 1);
    return batch;
}

void tls_overflow(unsigned cls) {
    tls_bin_t *b = &hak_tls.bins[cls];
    if (HAK_UNLIKELY(tls_registered == TLS_EXITING)) {
        void *head = b->head;
        b->head = NULL;
        b->room = 0;
        central_give_back(cls, head, 0);   /* the list ends in NULL; 0: not a whole batch */
        HAK_COUNTS_SETTLE();
        return;
    }
    if (HAK_UNLIKELY(tls_registered == TLS_NEW)) {
        thread_register();
        if (b->room >= 0) return;
    }
    /* Detach one batch from the head: those blocks were freed last, so the walk is cheap. */
    uint32_t per = hak_class_batch[cls];
    void *head = b->head;
    b->head = chain_split(head, per);
    b->room += (int32_t)per;
    HAK_COUNT(free_overflow);
    /* With the daemon running, an uncontended class lock lets the batch go straight back into the
     * ring (the lock holder may produce into it); only under contention does it take the lock-free
     * return stack for the daemon to recycle. */
    bool ring = ring_serves(cls);
    if (ring && central_try_give_back_batch(cls, head)) return;
    if (ring && return_stack_usable(cls)) {
        HAK_COUNT(free_batch_to_daemon);
        if (return_stack_push(cls, head) >= hak_class_ring_high[cls]) daemon_wake();
    } else {
        central_give_back(cls, head, per);
    }
}

HAK_API void hak_thread_flush(void) {
    if (atomic_load_explicit(&hak_init_state, memory_order_acquire) == 2) tls_flush_all();
}
