/* Per-class stacks of whole batches that application threads give back while the refill daemon
 * runs. A batch is a NULL-terminated chain of exactly hak_class_batch[cls] blocks; the stack links
 * batches through the second word of each batch's first block, so nobody ever walks a batch to
 * find where it ends (that walk, one cache miss per block, cost the daemon 5% of Larson's CPU).
 * Blocks of 8 bytes have no second word: class 0 never uses a return stack.
 *
 * Any thread pushes a batch with one CAS; the daemon (or a thread refilling synchronously) takes
 * the entire stack with one exchange. Nobody pops single entries, so there is no ABA problem.
 * Plain C11 atomics, so TSan sees every edge without annotations:
 *   push: the batch (and its link word) is written, then the CAS publishes it with release;
 *   take: the exchange acquires, so the taker sees every pushed batch. */
#ifndef HAK_RETURN_STACK_H
#define HAK_RETURN_STACK_H
#include "core/internal.h"

typedef struct return_stack {
    _Atomic(void *) top;
    _Atomic uint32_t batches;     /* approximate count, only to decide when to wake the daemon */
} __attribute__((aligned(64))) return_stack_t;

extern return_stack_t hak_returns[HAK_NUM_CLASSES] HAK_INTERNAL;

HAK_INLINE void *batch_link(void *batch) { return block_word(batch, 1); }

HAK_INLINE bool return_stack_usable(unsigned cls) { return cls != 0; }

/* Push one NULL-terminated batch; returns about how many the stack holds. */
HAK_INLINE uint32_t return_stack_push(unsigned cls, void *batch) {
    return_stack_t *rs = &hak_returns[cls];
    void *old = atomic_load_explicit(&rs->top, memory_order_relaxed);
    do {
        block_set_word(batch, 1, old);
    } while (!atomic_compare_exchange_weak_explicit(&rs->top, &old, batch, memory_order_release,
                                                    memory_order_relaxed));
    return atomic_fetch_add_explicit(&rs->batches, 1, memory_order_relaxed) + 1;
}

/* Take every batch: the first, linked to the rest by batch_link(). */
HAK_INLINE void *return_stack_take(unsigned cls) {
    return_stack_t *rs = &hak_returns[cls];
    if (!atomic_load_explicit(&rs->top, memory_order_relaxed)) return NULL;
    atomic_store_explicit(&rs->batches, 0, memory_order_relaxed);
    return atomic_exchange_explicit(&rs->top, NULL, memory_order_acquire);
}

#endif
