/* The refill daemon: one background thread per process that keeps, for the classes whose threads
 * keep needing new slabs, a ring of fresh slabs claimed and pre-faulted ahead of demand (so the
 * application takes neither the claim nor the page faults), collects orphan slabs, and returns
 * idle memory to the OS after HAKMEM_PURGE_DELAY_MS.
 *
 * It is never needed for progress: a thread whose ring is empty claims a slab itself (central.c).
 * It never spins: with nothing to do it sleeps on a futex, with a timeout only while classes are
 * engaged (RING_POLL_MS) or something
 * waits to be purged.
 *
 * Wake-up protocol (no lost wake-ups, one load on the application side when it is awake):
 *   daemon: seq = wake_seq; idle = 1; fence; if no work: futex_wait(&wake_seq, seq)
 *   thread: (made work visible); fence; if idle: wake_seq++, futex_wake
 * The two seq_cst fences order each side's store before its load (Dekker): either the thread
 * sees idle == 1 and bumps wake_seq (then futex_wait returns at once or is woken), or the daemon's
 * re-check sees the thread's work. */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "core/counters.h"

enum { DAEMON_OFF, DAEMON_STARTING, DAEMON_RUNNING };

/* Start only once a process keeps claiming slabs (4 growth claims, 256 KiB) or freeing large
 * blocks: a
 * short-lived command (ls, sort) or a program with a steady heap never pays for a thread. */
#define DAEMON_START_AFTER 4
#define RING_POLL_MS 2

static _Atomic int daemon_state;
static _Atomic uint32_t sync_refills;      /* until the daemon starts */
static _Atomic uint32_t wake_seq;
static _Atomic int daemon_idle;
static _Atomic int daemon_paused;
static pthread_mutex_t daemon_lock = PTHREAD_MUTEX_INITIALIZER;   /* start/fork only */
/* Held by the daemon while it works (fills rings, purges), never while it sleeps: a pause takes
 * it once, so when hak_refill_thread_pause(1) returns the daemon is idle and stays so. Nobody
 * else waits on it, and an application thread only through that call. */
static pthread_mutex_t work_lock = PTHREAD_MUTEX_INITIALIZER;
_Atomic uint64_t hak_daemon_wakeups, hak_daemon_batches;

static void futex_wait(_Atomic uint32_t *word, uint32_t expected, long timeout_ms) {
    struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
    syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, timeout_ms >= 0 ? &ts : NULL, NULL, 0);
}

static void futex_wake_all(_Atomic uint32_t *word) {
    syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

bool daemon_enabled(void) {
    return atomic_load_explicit(&daemon_state, memory_order_relaxed) == DAEMON_RUNNING;
}

void daemon_wake(void) {
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(&daemon_idle, memory_order_relaxed)) {
        atomic_fetch_add_explicit(&wake_seq, 1, memory_order_release);
        futex_wake_all(&wake_seq);
    }
}

/* ---- The loop ----------------------------------------------------------------------------------- */

static uint32_t fill_rings(void) {
    uint32_t made = 0;
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++) made += central_daemon_fill(cls);
    return made;
}

static bool work_waiting(void) {
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++)
        if (central_wants_fill(cls)) return true;
    return false;
}

static void purge_tick(void) {
    uint64_t delay = (uint64_t)hak_opt.purge_delay_ms;
    central_drain(true);                   /* orphans; rings nobody took a slab from since the last tick */
    superslab_purge(delay, false, 0);
    large_purge(delay);
}

static void *daemon_main(void *arg) {
    (void)arg;
#if HAKMEM_DEBUG_COUNTERS
    counters_thread_register();
#endif
    uint64_t next_tick = os_now_ms() + (uint64_t)hak_opt.purge_delay_ms;
    for (;;) {
        uint32_t seq = atomic_load_explicit(&wake_seq, memory_order_acquire);
        pthread_mutex_lock(&work_lock);
        bool paused = atomic_load_explicit(&daemon_paused, memory_order_relaxed);
        uint32_t made = paused ? 0 : fill_rings();
        atomic_fetch_add_explicit(&hak_daemon_batches, made, memory_order_relaxed);
        HAK_COUNT_N(daemon_batches, made);

        uint64_t now = os_now_ms();
        if (!paused && now >= next_tick) {
            purge_tick();
            next_tick = now + (uint64_t)hak_opt.purge_delay_ms / 2 + 1;
        }
        pthread_mutex_unlock(&work_lock);
        if (made) continue;

        atomic_store_explicit(&daemon_idle, 1, memory_order_relaxed);
        atomic_thread_fence(memory_order_seq_cst);
        if (paused || !work_waiting()) {
            /* Sleep until woken; wake for the purge timer only if something may need purging. */
            long timeout = -1;
            bool engaged = !paused && central_any_engaged();
            if (!paused && atomic_load_explicit(&hak_purge_pending, memory_order_relaxed))
                timeout = (long)(next_tick > now ? next_tick - now : 1);
            else if (!paused && !engaged)
                next_tick = UINT64_MAX;   /* nothing to purge: the next release re-arms the timer */
            /* While classes are engaged, look at their rings every RING_POLL_MS instead of being
             * woken: a futex wake is a system call in the application's malloc (measured: a
             * wake per slab taken made 2200 of 9 M mallocs of a growing heap take 2-20 us). The
             * purge tick disengages idle classes, and then the daemon sleeps without timeout. */
            if (engaged && (timeout < 0 || timeout > RING_POLL_MS)) timeout = RING_POLL_MS;
            futex_wait(&wake_seq, seq, timeout);
            atomic_fetch_add_explicit(&hak_daemon_wakeups, 1, memory_order_relaxed);
            HAK_COUNT(daemon_wakeups);
            if (next_tick == UINT64_MAX) next_tick = os_now_ms() + (uint64_t)hak_opt.purge_delay_ms / 2 + 1;
        }
        atomic_store_explicit(&daemon_idle, 0, memory_order_relaxed);
    }
    return NULL;
}

/* ---- Start, pause, fork ------------------------------------------------------------------------- */

static void daemon_start(void) {
    pthread_mutex_lock(&daemon_lock);
    if (atomic_load_explicit(&daemon_state, memory_order_relaxed) != DAEMON_OFF) {
        pthread_mutex_unlock(&daemon_lock);
        return;
    }
    atomic_store_explicit(&daemon_state, DAEMON_STARTING, memory_order_relaxed);
    /* The daemon must not take the application's signals. pthread_create allocates (stack, TLS):
     * we hold no allocator lock here, so those nested mallocs are served normally. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    pthread_t tid;
    int rc = pthread_create(&tid, &attr, daemon_main, NULL);
    pthread_attr_destroy(&attr);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc == 0) {
        pthread_setname_np(tid, "hakmem-refill");
        atomic_store_explicit(&daemon_state, DAEMON_RUNNING, memory_order_release);
    } else {
        /* Could not start (no memory, thread limit): stay synchronous; try again later. */
        atomic_store_explicit(&sync_refills, 0, memory_order_relaxed);
        atomic_store_explicit(&daemon_state, DAEMON_OFF, memory_order_relaxed);
    }
    pthread_mutex_unlock(&daemon_lock);
}

void daemon_maybe_start(void) {
    int state = atomic_load_explicit(&daemon_state, memory_order_relaxed);
    if (state != DAEMON_OFF || !hak_opt.refill_thread) return;
    if (atomic_fetch_add_explicit(&sync_refills, 1, memory_order_relaxed) + 1 >= DAEMON_START_AFTER)
        daemon_start();
}

/* Only the 0 -> 1 transition wakes the daemon, so that it arms its purge timer: once per purge
 * cycle, not once per release. */
void daemon_note_purge_pending(void) {
    if (!atomic_exchange_explicit(&hak_purge_pending, 1, memory_order_relaxed) && daemon_enabled())
        daemon_wake();
}

HAK_API void hak_refill_thread_pause(int paused) {
    atomic_store_explicit(&daemon_paused, paused != 0, memory_order_relaxed);
    if (paused) {   /* wait out a pass already under way: the next one reads the flag */
        pthread_mutex_lock(&work_lock);
        pthread_mutex_unlock(&work_lock);
    }
    atomic_fetch_add_explicit(&wake_seq, 1, memory_order_release);
    futex_wake_all(&wake_seq);
}

HAK_API int hak_refill_thread_running(void) { return daemon_enabled(); }

void daemon_atfork_prepare(void) { pthread_mutex_lock(&daemon_lock); }
void daemon_atfork_parent(void)  { pthread_mutex_unlock(&daemon_lock); }

/* The child has no daemon thread: go back to synchronous refills until it starts one of its own.
 * Batches left in the rings are still valid and get used or drained as usual. */
void daemon_atfork_child(void) {
    pthread_mutex_init(&daemon_lock, NULL);
    pthread_mutex_init(&work_lock, NULL);   /* the daemon may have held it: it is gone */
    atomic_store_explicit(&daemon_state, DAEMON_OFF, memory_order_relaxed);
    atomic_store_explicit(&sync_refills, 0, memory_order_relaxed);
    atomic_store_explicit(&daemon_idle, 0, memory_order_relaxed);
}
