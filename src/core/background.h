/* The core's side of background work. The refill daemon (refill_thread/) sits above the core:
 * the core never calls it. Instead the core records here what it observes (the heap grows, memory
 * waits to be purged) and signals hak_background_event; the daemon sleeps on that event and calls
 * down into the core to do the work. Starting the daemon is the one thing the core cannot do by
 * itself: the daemon registers a starter (background_register, from start-up in api/init.c),
 * which the core calls once growth says a thread will pay for itself.
 *
 * Start rule: once one thread has made BACKGROUND_START_AFTER growth claims (claimed a slab of a
 * class beyond its second, while it has a full one: its heap keeps growing, by 16 x 64 KiB = 1 MiB)
 * or after as many large frees (a large-only program gets its mapping cache purged too). A
 * short-lived command, a program whose threads each keep a steady heap of a MiB or two, or one
 * that never grows past one slab per class never starts a thread: the daemon's fixed cost (its
 * pool slabs, pre-faulted whole, and its thread) was 20-35% of such a program's RSS (a 3 MiB
 * random-replacement heap: 3.8 vs 3.1 MiB after 4 growth claims), and it had nothing to do once
 * the heap stopped growing. Counted per thread, not per process: a process of N threads with
 * steady heaps makes N times the claims of one, and the daemon started by 16 claims in all gave
 * 2 threads of random replacement (2 MiB each) +0.4 MiB of RSS (+9% over daemon off) for 4 pool
 * slabs taken. A growing heap pays its first MiB of page faults itself: each growth slab a thread
 * claims before the daemon runs is about 13 slow mallocs, and with 32 claims (2 MiB) that was most
 * of the growing heap's slow mallocs (1090 refills over 4 us in 3 s, 680 with 16). With 8, 420,
 * but the daemon then started in programs whose heap stops at 1-2 MiB (workloads lifetimes, random
 * with 1 thread: +0.4 MiB, 12% of its RSS, for no gain: docs/design.md). HAKMEM_REFILL_THREAD=0
 * never starts it, unless the worker has work of its own (background_want: the live statistics),
 * which starts it on the first growth instead (a fork child, which has no worker). */
#ifndef HAK_BACKGROUND_H
#define HAK_BACKGROUND_H
#include "platform/event.h"

#define BACKGROUND_START_AFTER 16

/* The daemon sleeps on this; the core signals it (one fence and one load while it is awake). */
extern hak_event_t hak_background_event HAK_INTERNAL;
/* Statistics the daemon keeps (relaxed; hak_stats_get reads them). */
extern _Atomic uint64_t hak_background_wakeups HAK_INTERNAL, hak_background_slabs HAK_INTERNAL;

/* The daemon's starter: returns true once a worker thread runs. Registered once at start-up,
 * before the allocator is published as ready (so every later reader sees it). */
void background_register(bool (*start)(void)) HAK_INTERNAL;
/* The worker runs: set by the daemon once its thread exists, cleared in a fork child. Relaxed:
 * a hint for choices (use rings, purge now or later), never for correctness. */
void background_set_running(bool running) HAK_INTERNAL;
extern _Atomic int hak_background_running HAK_INTERNAL;
HAK_INLINE bool background_running(void) {
    return atomic_load_explicit(&hak_background_running, memory_order_relaxed);
}
/* The heap grew: a thread's growth claim (own: the thread's growth claims so far) or a large free
 * (own 0: counted process-wide). Applies the start rule. From slow paths with no lock held only
 * (starting a thread allocates). */
void background_note_growth(uint32_t own) HAK_INTERNAL;
/* The worker has work of its own besides the core's (the live statistics stream): once it is
 * gone (fork child), the first growth starts it again, even with HAKMEM_REFILL_THREAD=0. Whether
 * the core may count on it (background_running) stays the starter's to say. */
void background_want(void) HAK_INTERNAL;
/* Memory was released that the purge timer should look at: arms it (wakes the daemon on the
 * first release after a purge, not on every release). */
void background_note_purge_pending(void) HAK_INTERNAL;
/* Something was released since the last purge (the daemon's timer looks at it). */
extern _Atomic int hak_purge_pending HAK_INTERNAL;
HAK_INLINE void background_wake(void) { event_signal(&hak_background_event); }
/* Pre-faulting slabs a thread claimed itself. With the daemon running, a thread that found no pool
 * slab ready claims a cold one (never touched, or purged) and carves it a page per refill: a page
 * fault (3-16 us on this VM, run to run) in every 16th-or-so malloc of the class, the whole tail of
 * a growing heap's malloc latency (docs/counters.md, latency histograms). So the thread posts the
 * range its carving will reach next (a growth slab whole, a class's first slab a chunk ahead:
 * slab_blocks.c) and the daemon populates it (os_populate: MADV_POPULATE_WRITE, no write; then,
 * while a CPU is idle, a read of each page under RCU if the SuperSlab is still registered:
 * superslab_touch_if_mapped), ahead of the carving. Only a range crosses, never a pointer the
 * daemon follows: a slab released, even unmapped, before the daemon gets to it costs an error
 * return or pages resident until the next purge, nothing worse. A full mailbox drops the post (the
 * thread then populates as before). Only while the daemon runs. The range is in whole
 * BACKGROUND_PREFAULT_UNITs, fewer than BACKGROUND_PREFAULT_UNIT of them. True: posted; the caller
 * wakes the daemon. */
#define BACKGROUND_PREFAULT_SLOTS 32
#define BACKGROUND_PREFAULT_UNIT 4096u
bool background_post_prefault(void *from, size_t bytes) HAK_INTERNAL;
/* The daemon: up to max posted ranges, each taken once. */
unsigned background_take_prefaults(void **from, size_t *bytes, unsigned max) HAK_INTERNAL;
void background_atfork_child(void) HAK_INTERNAL;
#endif
