/* Start-up (init.c): lazy, from the first allocation that needs more than the fast path. The entry
 * points call hak_ensure_init before any core slow path; the core itself never initialises. */
#ifndef HAK_INIT_H
#define HAK_INIT_H
#include "platform/base.h"

extern _Atomic int hak_init_state HAK_INTERNAL;   /* 0 none, 1 in progress, 2 ready */
bool hak_init_slow(void) HAK_INTERNAL;            /* false: could not initialise (no memory) */
/* Acquire: everything start-up wrote (options, classes, rings) is visible once we see "ready". */
HAK_INLINE bool hak_ensure_init(void) {
    return HAK_LIKELY(atomic_load_explicit(&hak_init_state, memory_order_acquire) == 2) || hak_init_slow();
}
HAK_INLINE bool hak_is_ready(void) { return atomic_load_explicit(&hak_init_state, memory_order_acquire) == 2; }
void stats_at_exit(void) HAK_INTERNAL;            /* stats.c */
#endif
