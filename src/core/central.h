/* What the threads of a size class share (central.c): orphan slabs and the ring of fresh slabs the
 * refill daemon fills. */
#ifndef HAK_CENTRAL_H
#define HAK_CENTRAL_H
#include "core/slab_blocks.h"
#include "core/slab_list.h"

/* An orphan with blocks to give, now the caller's (tag not yet set), or NULL. */
slab_meta_t *central_adopt(unsigned cls) HAK_INTERNAL;
/* A slab nobody owns any more (its owner exited): blocks still live elsewhere. */
void  central_orphan(slab_meta_t *s) HAK_INTERNAL;
/* An exiting thread's n slabs of class cls (a circular list, tags already "no owner"), in one
 * splice under the lock. */
void  central_orphan_list(unsigned cls, slab_meta_t *list, uint32_t n) HAK_INTERNAL;
/* One block for a thread that owns no slabs (exiting): from an orphan slab, under the lock. */
void *central_alloc_one(unsigned cls) HAK_INTERNAL;
/* A fresh slab of class cls, claimed ahead by the daemon (popped from its ring), or NULL. */
slab_meta_t *central_fresh_slab(unsigned cls) HAK_INTERNAL;
/* A thread had to claim a slab itself (growth: beyond its first of the class): statistics, and
 * what engages the daemon for the class. True: it woke the daemon. */
bool  central_note_sync_claim(unsigned cls, bool growth) HAK_INTERNAL;
/* Daemon side: top the class's ring up with fresh, pre-faulted slabs. Returns the slabs added. */
uint32_t central_daemon_fill(unsigned cls) HAK_INTERNAL;
/* False while warm free slabs exist (threads claim those without a fault): nothing to prepare. */
bool central_rings_wanted(void) HAK_INTERNAL;
bool  central_wants_fill(unsigned cls) HAK_INTERNAL;
bool  central_any_engaged(void) HAK_INTERNAL;   /* some class has a ring depth: the daemon polls */
/* Collect orphans' remote lists and release the empty ones; give back the ring slabs of classes
 * nobody took one from since the previous call (all, with idle_only false). */
void  central_drain(bool idle_only) HAK_INTERNAL;
/* Start-up: locks, and the rings' slot storage (false: no memory). */
bool  central_init(void) HAK_INTERNAL;
/* The most fresh slabs a class's ring is kept at (HAKMEM_RING_HIGH, at most 256 KiB of slabs). */
uint32_t central_ring_high(void) HAK_INTERNAL;
void  central_atfork_prepare(void) HAK_INTERNAL;
void  central_atfork_parent(void) HAK_INTERNAL;
void  central_atfork_child(void) HAK_INTERNAL;
void  central_stats(hak_stats_t *out) HAK_INTERNAL;

#endif
