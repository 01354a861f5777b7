/* Per-class stacks of chains that application threads give back while the refill daemon runs.
 * Any thread pushes a whole chain with one CAS; the daemon (or a thread refilling synchronously)
 * takes the entire stack with one exchange. Because nobody pops single entries, there is no ABA
 * problem (an exchange to NULL cannot be confused by a recycled top).
 * Plain C11 atomics, so TSan sees every edge without annotations:
 *   push: tail->next is written, then the CAS publishes it with release;
 *   take: the exchange acquires, so the taker sees every pushed chain's links. */
#ifndef HAK_RETURN_STACK_H
#define HAK_RETURN_STACK_H
#include "core/internal.h"

typedef struct return_stack {
    _Atomic(void *) top;
    _Atomic uint32_t chains;      /* approximate count, only to decide when to wake the daemon */
} __attribute__((aligned(64))) return_stack_t;

extern return_stack_t hak_returns[HAK_NUM_CLASSES] HAK_INTERNAL;

HAK_INLINE uint32_t return_stack_push(unsigned cls, void *head, void *tail) {
    return_stack_t *rs = &hak_returns[cls];
    void *old = atomic_load_explicit(&rs->top, memory_order_relaxed);
    do {
        block_set_next(tail, old);
    } while (!atomic_compare_exchange_weak_explicit(&rs->top, &old, head, memory_order_release,
                                                    memory_order_relaxed));
    return atomic_fetch_add_explicit(&rs->chains, 1, memory_order_relaxed) + 1;
}

HAK_INLINE void *return_stack_take(unsigned cls) {
    return_stack_t *rs = &hak_returns[cls];
    if (!atomic_load_explicit(&rs->top, memory_order_relaxed)) return NULL;
    atomic_store_explicit(&rs->chains, 0, memory_order_relaxed);
    return atomic_exchange_explicit(&rs->top, NULL, memory_order_acquire);
}

#endif
