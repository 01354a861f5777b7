/* daemon_wait.h: getting the refill thread to work, for the tests that need it.
 *
 * The library starts its refill thread lazily, once a process keeps growing its heap (claiming
 * slabs beyond the first of a class), and the thread prepares fresh slabs only for classes that
 * keep growing (docs/design.md); exactly when is a tuning decision that may change, so no test
 * may assume "after N refills" or "after this much allocation". A test that needs the thread
 * grows the heap until the condition holds, with a deadline (testutil.h), and decides what to do
 * if it never comes: fail (test_daemon_pause, whose subject it is) or skip the part that needs it
 * with a message saying so.
 *
 *   daemon_grow_until(m, f, deadline_s, min_batches)
 *       rounds of: allocate 2048 blocks over the classes the rings serve (about 1 MiB) and keep
 *       them, until the thread runs and has prepared more than min_batches slabs in all
 *       (hak_stats.daemon_batches), or deadline_s passes; then frees every block it kept. The heap
 *       grows by at most DAEMON_WAIT_ROUNDS MiB: past that, the rounds free and start again.
 *       Returns 1 on success; 0 after printing what it waited for and the last values seen.
 *   daemon_drive_until_running(m, f, deadline_s)
 *       the same, until the thread merely runs. */
#ifndef HAK_TEST_DAEMON_WAIT_H
#define HAK_TEST_DAEMON_WAIT_H

#include "hakmem.h"
#include "testutil.h"

typedef void *(*daemon_wait_malloc_fn)(size_t);
typedef void (*daemon_wait_free_fn)(void *);

#define DAEMON_WAIT_ROUNDS 64

static inline int daemon_wait_done(long long min_batches, hak_stats_t *s)
{
    hak_stats_get(s);
    return hak_refill_thread_running() && (min_batches < 0 || (long long)s->daemon_batches > min_batches);
}

static inline int daemon_grow_until(daemon_wait_malloc_fn m, daemon_wait_free_fn f, double deadline_s,
                                    long long min_batches)
{
    enum { N = 2048 };
    static void *p[DAEMON_WAIT_ROUNDS][N];
    double start = now_seconds();
    long rounds = 0;
    int kept = 0, ok;
    hak_stats_t s;
    while (!(ok = daemon_wait_done(min_batches, &s)) && now_seconds() - start < deadline_s) {
        if (kept == DAEMON_WAIT_ROUNDS) {
            for (int r = 0; r < kept; r++)
                for (int i = 0; i < N; i++) f(p[r][i]);
            kept = 0;
        }
        for (int i = 0; i < N; i++) {
            size_t size = 8 + (size_t)(i * 67) % 1017;   /* 8..1024 B: classes the rings serve */
            p[kept][i] = m(size);
            CHECK(p[kept][i] != NULL, "malloc(%zu) while waiting for the refill thread", size);
            *(volatile char *)p[kept][i] = 1;
        }
        kept++;
        rounds++;
    }
    for (int r = 0; r < kept; r++)
        for (int i = 0; i < N; i++) f(p[r][i]);
    if (!ok) {
        const char *env = getenv("HAKMEM_REFILL_THREAD");
        NOTE("gave up after %.1f s waiting for the refill thread to run%s while growing the heap "
             "(%ld rounds of %d mallocs kept); running %d, slabs it prepared %llu, slabs threads "
             "claimed themselves %llu, HAKMEM_REFILL_THREAD=%s",
             now_seconds() - start, min_batches >= 0 ? " and prepare slabs" : "", rounds, N,
             hak_refill_thread_running(), (unsigned long long)s.daemon_batches,
             (unsigned long long)s.refills_sync, env ? env : "(unset)");
    }
    return ok;
}

static inline int daemon_drive_until_running(daemon_wait_malloc_fn m, daemon_wait_free_fn f,
                                             double deadline_s)
{
    return daemon_grow_until(m, f, deadline_s, -1);
}

#endif /* HAK_TEST_DAEMON_WAIT_H */
