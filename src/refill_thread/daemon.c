/* The refill daemon: one background thread per process that keeps, for the classes whose threads
 * keep needing new slabs, a ring of fresh slabs claimed and pre-faulted ahead of demand (so the
 * application takes neither the claim nor the page faults), collects orphan slabs, and returns
 * idle memory to the OS after HAKMEM_PURGE_DELAY_MS.
 *
 * It sits above the core and only calls down: the core signals hak_background_event when there is
 * work, and asks the starter registered in core/background.h (daemon_start) to start the thread;
 * the start rule is there. The daemon is never needed for progress: a thread that finds the pool
 * empty claims a slab itself (central.c). It never spins: with nothing to do it sleeps on the
 * event (platform/event.h: no lost wake-ups), with a timeout only while the pool is engaged
 * (RING_POLL_MS) or something waits to be purged.
 *
 * The same thread writes the live statistics (stats_stream.c, HAKMEM_STATS_INTERVAL_MS): then it
 * starts at start-up, sleeps no longer than the next sample is due, and with
 * HAKMEM_REFILL_THREAD=0 runs for the statistics only, paused for ever (no ring, no purge), without
 * telling the core it runs. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include "refill_thread/daemon.h"
#include "refill_thread/stats_stream.h"
#include "core/background.h"
#include "core/central.h"
#include "core/superslab.h"
#include "core/large.h"
#include "core/options.h"
#include "core/counters.h"
#include "platform/os.h"

enum { DAEMON_OFF, DAEMON_STARTING, DAEMON_RUNNING };

#define RING_POLL_MS 2
/* A poll that found the pool full doubles the next interval, up to this, and so does a fill that
 * found most of it still there (poll_after_fill): in a steady state the daemon then wakes 30 times
 * a second instead of 500, and each wake-up on a 2-core machine with two busy threads is a
 * preemption. A thread that finds the pool dry claims a slab itself and wakes it at once
 * (central_note_sync_claim). */
#define RING_POLL_MAX_MS 32

/* Written under daemon_lock; read without it only to return early (a stale read costs a lock). */
static _Atomic int daemon_state;
static _Atomic int daemon_paused;
static pthread_mutex_t daemon_lock = PTHREAD_MUTEX_INITIALIZER;   /* start/fork only */
/* Held by the daemon while it works (fills rings, purges), never while it sleeps: a pause takes
 * it once, so when hak_refill_thread_pause(1) returns the daemon is idle and stays so. Nobody
 * else waits on it, and an application thread only through that call. */
static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
static hak_event_t *const wake = &hak_background_event;

/* ---- The loop ----------------------------------------------------------------------------------- */

/* Reading every page the daemon pre-faults (os_touch_pages) takes the hypervisor's share of each
 * fault off the application too (4.5 us a page on this VM: growing-heap malloc p99.99 with one
 * thread 11 -> 6-8 us), but makes a pass over a few slabs last about a millisecond, and a pass that
 * runs while the application keeps every CPU busy preempts one of its threads that long (growing
 * heap, 2 threads on 2 CPUs: request p99.99 330 -> 1000-1300 us). So the daemon touches only while
 * the application leaves a CPU idle: its threads' CPU time (the process's less the daemon's own)
 * grew by less than (CPUs - 1/2) times the wall time of the last window. A window shorter than
 * SPARE_WINDOW_NS keeps the last verdict. Plain accesses: only the daemon thread reads and
 * writes the window, and a fork child's only thread resets it before it starts a daemon. */
#define SPARE_WINDOW_NS 10000000ull

/* The last window's start and verdict (a fork child starts over: its CPU time starts at 0). */
static struct { uint64_t wall0, app0; unsigned cpus; bool busy; } window;

static bool cpu_to_spare(void) {
    uint64_t wall = os_now_ns(), app = os_process_cpu_ns() - os_thread_cpu_ns();
    if (!window.cpus) window.cpus = os_cpus_allowed();
    if (wall - window.wall0 < SPARE_WINDOW_NS) return !window.busy;
    /* busy: app - app0 >= (cpus - 1/2) * (wall - wall0), in integers */
    if (window.wall0)
        window.busy = 2 * (app - window.app0) >= (2 * (uint64_t)window.cpus - 1) * (wall - window.wall0);
    window.wall0 = wall;
    window.app0 = app;
    return !window.busy;
}

static uint32_t fill_pool(bool touch) { return central_pool_wanted() ? central_daemon_fill(touch) : 0; }

/* Slabs threads claimed themselves: populate the ranges they posted before their carving gets
 * there (background.h). A range is in 4 KiB units: on a machine with larger pages it is
 * widened to whole pages (populating a page the carving has reached already is harmless). */
static void prefault_posted(bool touch) {
    void *from[BACKGROUND_PREFAULT_SLOTS];
    size_t bytes[BACKGROUND_PREFAULT_SLOTS];
    unsigned n = background_take_prefaults(from, bytes, BACKGROUND_PREFAULT_SLOTS);
    uintptr_t page = (uintptr_t)os_page_size();
    for (unsigned i = 0; i < n; i++) {
        uintptr_t start = (uintptr_t)from[i] & ~(page - 1);
        uintptr_t end = ((uintptr_t)from[i] + bytes[i] + page - 1) & ~(page - 1);
        if (os_populate((void *)start, end - start) && touch) superslab_touch_if_mapped((void *)start, end - start);
    }
}

/* A pool not wanted (warm free slabs exist) is no work: the daemon never spins on it. */
static bool work_waiting(void) { return central_pool_wanted() && central_wants_fill(); }

/* Come back when about half the pool is gone: a pass that found most of it still there polled
 * early (twice the interval), one that found most of it gone late (half). Each poll is a wake-up,
 * and with both cores busy a preemption of an application thread; a pool that runs dry in between
 * still calls the daemon at once (the next thread's own claim, central_note_sync_claim). */
static long poll_after_fill(long poll_ms, uint32_t made) {
    uint32_t depth = central_pool_depth();
    if (4 * made < depth && poll_ms < RING_POLL_MAX_MS) return poll_ms * 2;
    if (2 * made > depth && poll_ms > RING_POLL_MS) return poll_ms / 2;
    return poll_ms;
}

static void purge_tick(void) {
    uint64_t delay = (uint64_t)hak_opt->purge_delay_ms;
    central_drain(true);   /* orphans; the pool, if nobody took a slab from it since the last tick */
    superslab_purge(delay, false, 0);
    large_purge(delay);
}

static void *daemon_main(void *arg) {
    (void)arg;
#if HAKMEM_DEBUG_COUNTERS
    counters_thread_register();
#endif
    uint64_t next_tick = os_now_ms() + (uint64_t)hak_opt->purge_delay_ms;
    long poll_ms = RING_POLL_MS;
    for (;;) {
        uint32_t seq = event_seq(wake);
        stats_stream_tick();
        pthread_mutex_lock(&work_lock);
        bool paused = atomic_load_explicit(&daemon_paused, memory_order_relaxed) || !hak_opt->refill_thread;
        bool touch = !paused && cpu_to_spare();
        if (!paused) prefault_posted(touch);
        uint32_t made = paused ? 0 : fill_pool(touch);
        atomic_fetch_add_explicit(&hak_background_slabs, made, memory_order_relaxed);
        HAK_COUNT_N(daemon_batches, made);

        uint64_t now = os_now_ms();
        if (!paused && now >= next_tick) {
            purge_tick();
            next_tick = now + (uint64_t)hak_opt->purge_delay_ms / 2 + 1;
        }
        pthread_mutex_unlock(&work_lock);
        if (made) poll_ms = poll_after_fill(poll_ms, made);

        event_idle(wake);
        if (paused || !work_waiting()) {
            /* Sleep until woken; wake for the purge timer only if something may need purging. */
            long timeout = -1;
            bool engaged = !paused && central_pool_depth() != 0;
            if (!paused && atomic_load_explicit(&hak_purge_pending, memory_order_relaxed))
                timeout = (long)(next_tick > now ? next_tick - now : 1);
            else if (!paused && !engaged)
                next_tick = UINT64_MAX;   /* nothing to purge: the next release re-arms the timer */
            /* While the pool is engaged, look at it every poll_ms instead of being woken: a futex
             * wake is a system call in the application's malloc (measured: a wake per slab taken
             * made 2200 of 9 M mallocs of a growing heap take 2-20 us). The purge tick halves an
             * idle pool down to nothing, and then the daemon sleeps without timeout. */
            if (engaged && (timeout < 0 || timeout > poll_ms)) timeout = poll_ms;
            if (engaged && !made && poll_ms < RING_POLL_MAX_MS) poll_ms *= 2;   /* this poll found nothing to do */
            long wait_ms = stats_stream_timeout(timeout);
            event_sleep(wake, seq, wait_ms);
            /* A wake-up only for the next statistics sample (no signal came, and the daemon's own
             * timeout was longer) is not counted: daemon_wakeups keeps meaning the daemon's work. */
            if (wait_ms == timeout || event_seq(wake) != seq) {
                atomic_fetch_add_explicit(&hak_background_wakeups, 1, memory_order_relaxed);
                HAK_COUNT(daemon_wakeups);
            }
            if (next_tick == UINT64_MAX) next_tick = os_now_ms() + (uint64_t)hak_opt->purge_delay_ms / 2 + 1;
        }
        event_busy(wake);
    }
    return NULL;
}

/* ---- Start, pause, fork ------------------------------------------------------------------------- */

static bool spawn(void) {
    /* The daemon must not take the application's signals. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t tid;
    bool ok = pthread_create(&tid, &attr, daemon_main, NULL) == 0;
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (ok) pthread_setname_np(tid, "hakmem-refill");
    return ok;
}

/* pthread_create allocates (stack, TLS): we hold no allocator lock, so those nested mallocs are
 * served normally, and one that counts as growth and calls back in here finds the state STARTING
 * and returns before taking daemon_lock (which it would otherwise wait on forever). */
bool daemon_start(void) {
    if (atomic_load_explicit(&daemon_state, memory_order_relaxed) != DAEMON_OFF)
        return atomic_load_explicit(&daemon_state, memory_order_relaxed) == DAEMON_RUNNING;
    pthread_mutex_lock(&daemon_lock);
    if (atomic_load_explicit(&daemon_state, memory_order_relaxed) == DAEMON_OFF) {
        atomic_store_explicit(&daemon_state, DAEMON_STARTING, memory_order_relaxed);
        bool ok = spawn();   /* on failure (no memory, thread limit) stay synchronous */
        atomic_store_explicit(&daemon_state, ok ? DAEMON_RUNNING : DAEMON_OFF, memory_order_relaxed);
        /* With HAKMEM_REFILL_THREAD=0 the thread runs for the statistics stream only: the core
         * must not count on it (no rings, purges by the threads themselves). */
        if (ok && hak_opt->refill_thread) background_set_running(true);
    }
    bool running = atomic_load_explicit(&daemon_state, memory_order_relaxed) == DAEMON_RUNNING;
    pthread_mutex_unlock(&daemon_lock);
    return running;
}

HAK_API void hak_refill_thread_pause(int paused) {
    atomic_store_explicit(&daemon_paused, paused != 0, memory_order_relaxed);
    if (paused) {   /* wait out a pass already under way: the next one reads the flag */
        daemon_hold(true);
        daemon_hold(false);
    }
    event_kick(wake);
}

HAK_API int hak_refill_thread_running(void) { return background_running(); }

/* work_lock is the outermost lock of the daemon's passes: it takes the others (class, SuperSlab
 * list, large) only inside it, and no application thread waits for work_lock while holding one. */
void daemon_hold(bool hold) {
    if (hold)
        pthread_mutex_lock(&work_lock);
    else
        pthread_mutex_unlock(&work_lock);
}

void daemon_atfork_prepare(void) { pthread_mutex_lock(&daemon_lock); }
void daemon_atfork_parent(void)  { pthread_mutex_unlock(&daemon_lock); }

/* The child has no daemon thread: synchronous refills until it starts one of its own
 * (background_atfork_child resets the core's side). Slabs left in the rings are still valid and
 * get used or drained as usual. */
void daemon_atfork_child(void) {
    pthread_mutex_init(&daemon_lock, NULL);
    pthread_mutex_init(&work_lock, NULL);   /* the daemon may have held it: it is gone */
    atomic_store_explicit(&daemon_state, DAEMON_OFF, memory_order_relaxed);
    memset(&window, 0, sizeof window);
}
