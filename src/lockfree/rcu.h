/* RCU (liburcu, "bp" flavour) as hakmem uses it: readers walk the SuperSlab list to claim a slab
 * without a lock; the thread that unlinks a SuperSlab waits for a grace period before unmapping.
 * Why bp: it registers reader threads by itself on their first read-side section (application
 * threads never call into us to register), and it is the flavour with fork hooks. The costlier
 * read lock (a library call, ~9 ns here) is fine: read-side sections are on the slab-claim path
 * only (once per 64 KiB slab), never on malloc/free fast paths.
 * call_rcu/defer_rcu allocate and start threads: hakmem never uses them. */
#ifndef HAK_RCU_H
#define HAK_RCU_H
#include "platform/base.h"

void hak_rcu_read_lock(void) HAK_INTERNAL;
void hak_rcu_read_unlock(void) HAK_INTERNAL;
/* Waits until every read-side section that began before the call has ended. Must not be called
 * inside a read-side section. Allocates nothing. */
void hak_rcu_synchronize(void) HAK_INTERNAL;
void hak_rcu_atfork_prepare(void) HAK_INTERNAL;
void hak_rcu_atfork_parent(void) HAK_INTERNAL;
void hak_rcu_atfork_child(void) HAK_INTERNAL;
#endif
