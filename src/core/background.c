/* The core's record of background work and the start rule (background.h). */
#include "core/background.h"
#include "core/options.h"

hak_event_t hak_background_event;
_Atomic uint64_t hak_background_wakeups, hak_background_slabs;
_Atomic int hak_background_running;
_Atomic int hak_purge_pending;

static bool (*starter)(void);
static _Atomic uint32_t growth_seen;      /* growth events until the worker starts */
static _Atomic int started;               /* the starter said a worker runs; 0 in a fork child */
static _Atomic int wanted;                /* background_want: start on the first growth */

void background_register(bool (*start)(void)) { starter = start; }
void background_want(void) { atomic_store_explicit(&wanted, 1, memory_order_relaxed); }

void background_set_running(bool running) {
    atomic_store_explicit(&hak_background_running, running, memory_order_relaxed);
}

void background_note_growth(uint32_t own) {
    if (!starter || atomic_load_explicit(&started, memory_order_relaxed)) return;
    if (!atomic_load_explicit(&wanted, memory_order_relaxed)) {
        if (!hak_opt->refill_thread) return;
        uint32_t seen = own ? own : atomic_fetch_add_explicit(&growth_seen, 1, memory_order_relaxed) + 1;
        if (seen < BACKGROUND_START_AFTER) return;
    }
    /* Could not start (no memory, thread limit): stay synchronous, count again from zero (a
     * thread's own count goes on: its next growth claim tries again). */
    if (starter()) atomic_store_explicit(&started, 1, memory_order_relaxed);
    else atomic_store_explicit(&growth_seen, 0, memory_order_relaxed);
}

void background_note_purge_pending(void) {
    if (!atomic_exchange_explicit(&hak_purge_pending, 1, memory_order_relaxed) && background_running())
        background_wake();
}

/* A slot holds a range (0: empty): its first address, a multiple of BACKGROUND_PREFAULT_UNIT, with
 * its length in units in the low bits. Relaxed everywhere: the value is the whole message (a range
 * for madvise, nothing the daemon reads through), and the wake-up that follows a post orders it
 * before the daemon's look (event.h). */
static _Atomic uintptr_t prefault_slot[BACKGROUND_PREFAULT_SLOTS];

bool background_post_prefault(void *from, size_t bytes) {
    /* Not before the daemon runs: its first pass would populate, whole, slabs of a heap that may
     * have just stopped growing (2 threads of random replacement, 4.7 MiB: +0.4 MiB of RSS). */
    if (!background_running()) return false;
    uintptr_t units = bytes / BACKGROUND_PREFAULT_UNIT;
    HAK_ASSERT((uintptr_t)from % BACKGROUND_PREFAULT_UNIT == 0 && units >= 1 && units < BACKGROUND_PREFAULT_UNIT);
    for (unsigned i = 0; i < BACKGROUND_PREFAULT_SLOTS; i++) {
        uintptr_t empty = 0;
        if (atomic_compare_exchange_strong_explicit(&prefault_slot[i], &empty, (uintptr_t)from | units,
                                                    memory_order_relaxed, memory_order_relaxed))
            return true;
    }
    return false;
}

unsigned background_take_prefaults(void **from, size_t *bytes, unsigned max) {
    unsigned n = 0;
    for (unsigned i = 0; i < BACKGROUND_PREFAULT_SLOTS && n < max; i++) {
        if (!atomic_load_explicit(&prefault_slot[i], memory_order_relaxed)) continue;
        uintptr_t v = atomic_exchange_explicit(&prefault_slot[i], 0, memory_order_relaxed);
        if (!v) continue;
        from[n] = (void *)(v & ~(uintptr_t)(BACKGROUND_PREFAULT_UNIT - 1));
        bytes[n++] = (size_t)(v & (BACKGROUND_PREFAULT_UNIT - 1)) * BACKGROUND_PREFAULT_UNIT;
    }
    return n;
}

/* The child has no worker thread: synchronous until it starts one of its own. */
void background_atfork_child(void) {
    atomic_store_explicit(&hak_background_running, 0, memory_order_relaxed);
    atomic_store_explicit(&started, 0, memory_order_relaxed);
    atomic_store_explicit(&growth_seen, 0, memory_order_relaxed);
    for (unsigned i = 0; i < BACKGROUND_PREFAULT_SLOTS; i++)
        atomic_store_explicit(&prefault_slot[i], 0, memory_order_relaxed);
    event_reset(&hak_background_event);
}
