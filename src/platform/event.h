/* An event one thread sleeps on and others signal, without lost wake-ups, costing the signalling
 * side one fence and one load while the sleeper is awake (futex, event.c).
 *
 * Protocol (Dekker-style):
 *   sleeper:  seq = event_seq(e); ... work ...; event_idle(e) (idle = 1, fence);
 *             if no work is visible: event_sleep(e, seq, timeout); event_busy(e)
 *   signaller: make the work visible; event_signal(e) (fence; if idle: seq++, futex wake)
 * The two seq_cst fences order each side's store before its load: either the signaller sees
 * idle == 1 and bumps seq (then the futex wait returns at once or is woken), or the sleeper's
 * check after event_idle sees the work. */
#ifndef HAK_EVENT_H
#define HAK_EVENT_H
#include "platform/base.h"

typedef struct hak_event {
    _Atomic uint32_t seq;    /* bumped by every signal that found the sleeper idle (the futex word) */
    _Atomic int      idle;   /* the sleeper is about to sleep or sleeping */
} hak_event_t;

/* Acquire: pairs with the signaller's release increment, so work published before a signal is
 * visible once the sleeper sees the new sequence number. */
HAK_INLINE uint32_t event_seq(hak_event_t *e) { return atomic_load_explicit(&e->seq, memory_order_acquire); }

HAK_INLINE void event_idle(hak_event_t *e) {
    atomic_store_explicit(&e->idle, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_seq_cst);
}

HAK_INLINE void event_busy(hak_event_t *e) { atomic_store_explicit(&e->idle, 0, memory_order_relaxed); }

/* Sleeps until seq moves past `seq`, or timeout_ms passes (< 0: no timeout). May return early. */
void event_sleep(hak_event_t *e, uint32_t seq, long timeout_ms) HAK_INTERNAL;
/* Wakes the sleeper whether or not it is idle (a state change it must look at). */
void event_kick(hak_event_t *e) HAK_INTERNAL;

HAK_INLINE void event_signal(hak_event_t *e) {
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&e->idle, memory_order_relaxed)) event_kick(e);
}

/* Fork child: the sleeper is gone. */
HAK_INLINE void event_reset(hak_event_t *e) { atomic_store_explicit(&e->idle, 0, memory_order_relaxed); }
#endif
