/* Start-up (lazy, from the first allocation), fork handling and the exit-time statistics.
 *
 * Start-up allocates nothing through malloc: options come straight from `environ`, memory from
 * mmap. Only once the allocator is ready does it call into libc for what may allocate
 * (pthread_atfork, atexit): a malloc made from inside those is then served normally. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include "api/init.h"
#include "core/options.h"
#include "core/size_class.h"
#include "core/superslab.h"
#include "core/thread_heap.h"
#include "core/central.h"
#include "core/tls_cache.h"
#include "core/large.h"
#include "core/check_mode.h"
#include "core/background.h"
#include "core/counters.h"
#include "platform/os.h"
#include "lockfree/rcu.h"
#include "refill_thread/daemon.h"
#include "refill_thread/stats_stream.h"

_Atomic int hak_init_state;

static void atfork_prepare(void) {
    /* Lock order: daemon state, owner ids, central (by class), superslab list, large. A thread inside any of
     * these finishes first, so the child never inherits a held lock. */
    daemon_atfork_prepare();
    heap_atfork_prepare();
    central_atfork_prepare();
    superslab_atfork_prepare();
    large_atfork_prepare();
#if HAKMEM_DEBUG_COUNTERS
    counters_atfork_prepare();
#endif
    hak_rcu_atfork_prepare();
}

static void atfork_parent(void) {
    hak_rcu_atfork_parent();
#if HAKMEM_DEBUG_COUNTERS
    counters_atfork_parent();
#endif
    large_atfork_parent();
    superslab_atfork_parent();
    central_atfork_parent();
    heap_atfork_parent();
    daemon_atfork_parent();
}

static void atfork_child(void) {
    hak_rcu_atfork_child();
#if HAKMEM_DEBUG_COUNTERS
    counters_atfork_child();
#endif
    large_atfork_child();
    superslab_atfork_child();
    central_atfork_child();
    heap_atfork_child();   /* after central and superslab: it makes orphans */
    background_atfork_child();
    daemon_atfork_child();
}

static bool core_init(void) {
    options_load();
    guard_init();
    check_mode_init();
    size_class_init((uint32_t)hak_opt->refill_count);
    if (!central_init()) return false;
    background_register(daemon_start);
    tls_cache_init();   /* pthread_key_create: no allocation. Last: threads may register after it */
    return true;
}

bool hak_init_slow(void) {
    int expected = 0;
    if (atomic_compare_exchange_strong_explicit(&hak_init_state, &expected, 1, memory_order_acquire,
                                                memory_order_acquire)) {
        if (!core_init()) {
            atomic_store_explicit(&hak_init_state, 0, memory_order_release);
            return false;
        }
        atomic_store_explicit(&hak_init_state, 2, memory_order_release);
        /* From here on a nested malloc is served normally. Without the fork handlers a child
         * could inherit a held allocator lock and hang in its first malloc: say so, loudly. */
        int rc = pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
        if (rc != 0) hak_message("hakmem: warning: pthread_atfork failed (error %d): fork() while other threads allocate may deadlock the child", rc);
        if (hak_opt->stats && atexit(stats_at_exit) != 0)
            hak_message("hakmem: warning: atexit failed: no statistics at exit");
        if (hak_opt->verbose) options_print();
        /* HAKMEM_STATS_INTERVAL_MS: the daemon writes the samples, so it starts now (with
         * HAKMEM_REFILL_THREAD=0 for them only); one that is not running (could not start, or a
         * fork child's) starts on the next growth. */
        if (stats_stream_start()) {
            background_want();
            daemon_start();
        }
        return true;
    }
    /* Another thread is initialising (core_init makes no call that could come back here). */
    while (atomic_load_explicit(&hak_init_state, memory_order_acquire) == 1) sched_yield();
    return atomic_load_explicit(&hak_init_state, memory_order_acquire) == 2 || hak_init_slow();
}

HAK_API void hak_trim(void) {
    if (atomic_load_explicit(&hak_init_state, memory_order_acquire) != 2) return;
    /* Between two of the daemon's passes: a purge of its under way would have taken slabs out of
     * the free masks (ours would skip them and return before they are), and a fill under way would
     * put a pre-faulted slab back into the pool we just emptied. */
    daemon_hold(true);
    hak_thread_flush();
    heap_trim();
    central_drain(false);
    superslab_purge(0, false, 0);
    large_purge(0);
    daemon_hold(false);
}
