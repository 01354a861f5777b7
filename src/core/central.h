/* What the threads of a size class share (central.c): orphan slabs, and the pool of fresh slabs the
 * refill daemon fills for every class up to 1 KiB. */
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
/* A fresh slab, claimed and pre-faulted ahead by the daemon (popped from the pool), formatted for
 * class cls; NULL if none is ready or the class is above 1 KiB. */
slab_meta_t *central_fresh_slab(unsigned cls) HAK_INTERNAL;
void central_prefetch_fresh(unsigned cls) HAK_INTERNAL;
/* A thread had to claim a slab itself (growth: beyond its second of the class; thread_growth: the
 * thread's growth claims so far): statistics, what starts the daemon (background.h) and what
 * engages its pool. True: it woke the daemon. */
bool  central_note_sync_claim(unsigned cls, bool growth, uint32_t thread_growth) HAK_INTERNAL;
/* Daemon side: top the pool up with fresh, pre-faulted slabs (with touch, every page also read
 * once: os_touch_pages). Returns the slabs added. */
uint32_t central_daemon_fill(bool touch) HAK_INTERNAL;
/* False while warm free slabs exist (threads claim those without a fault): nothing to prepare. */
bool central_pool_wanted(void) HAK_INTERNAL;
bool  central_wants_fill(void) HAK_INTERNAL;     /* the pool is below its depth */
uint32_t central_pool_depth(void) HAK_INTERNAL;  /* slabs the daemon keeps ready now (0: not engaged: no polling) */
/* Collect orphans' remote lists and release the empty ones; halve the pool if nobody took a slab
 * from it since the previous call (empty it, with idle_only false). */
void  central_drain(bool idle_only) HAK_INTERNAL;
/* Start-up: locks, and the pool's slot storage (false: no memory). */
bool  central_init(void) HAK_INTERNAL;
/* The most fresh slabs the pool is kept at (HAKMEM_RING_HIGH, at most 2 MiB of slabs). */
uint32_t central_ring_high(void) HAK_INTERNAL;
void  central_atfork_prepare(void) HAK_INTERNAL;
void  central_atfork_parent(void) HAK_INTERNAL;
void  central_atfork_child(void) HAK_INTERNAL;
void  central_stats(hak_stats_t *out) HAK_INTERNAL;

#endif
