/* daemon_wait.h: getting the refill thread running, for the tests that need it.
 *
 * The library starts its refill thread lazily, when a process has refilled often enough to
 * benefit (docs/configuration.md); exactly when is a tuning decision that may change, so no test
 * may assume "after N refills" or "after this much allocation". A test that needs the thread
 * drives allocation until hak_refill_thread_running() is 1, with a deadline (testutil.h), and
 * decides what to do if it never starts: fail (test_daemon_pause, whose subject is that it
 * starts) or skip the part that needs it with a message saying so.
 *
 *   daemon_drive_until_running(m, f, deadline_s)
 *       rounds of: allocate 2048 blocks over the small classes, free them, hak_thread_flush() (so
 *       the next round's mallocs miss and refill again) until the thread runs or deadline_s
 *       passes. m and f are the entry points to use (API(malloc)/API(free), or hak_malloc/hak_free).
 *       Returns 1 if running; 0 after printing what it waited for and the last values seen. */
#ifndef HAK_TEST_DAEMON_WAIT_H
#define HAK_TEST_DAEMON_WAIT_H

#include "hakmem.h"
#include "testutil.h"

typedef void *(*daemon_wait_malloc_fn)(size_t);
typedef void (*daemon_wait_free_fn)(void *);

static inline int daemon_drive_until_running(daemon_wait_malloc_fn m, daemon_wait_free_fn f,
                                             double deadline_s)
{
    enum { N = 2048 };
    static void *p[N];
    double start = now_seconds();
    long rounds = 0;
    while (!hak_refill_thread_running()) {
        if (now_seconds() - start >= deadline_s) {
            hak_stats_t s;
            hak_stats_get(&s);
            const char *env = getenv("HAKMEM_REFILL_THREAD");
            NOTE("gave up after %.1f s waiting for hak_refill_thread_running() == 1 while "
                 "allocating (%ld rounds of %d mallocs/frees + hak_thread_flush); last value %d, "
                 "synchronous refills %llu, HAKMEM_REFILL_THREAD=%s",
                 now_seconds() - start, rounds, N, hak_refill_thread_running(),
                 (unsigned long long)s.refills_sync, env ? env : "(unset)");
            return 0;
        }
        for (int i = 0; i < N; i++) {
            size_t size = 8 + (size_t)(i * 67) % 1017;   /* 8..1024 B: the classes rings serve */
            p[i] = m(size);
            CHECK(p[i] != NULL, "malloc(%zu) while waiting for the refill thread", size);
            *(volatile char *)p[i] = 1;
        }
        for (int i = 0; i < N; i++)
            f(p[i]);
        hak_thread_flush();
        rounds++;
    }
    NOTE("the refill thread is running (seen after %ld rounds of allocation, %.2f s)", rounds,
         now_seconds() - start);
    return 1;
}

#endif /* HAK_TEST_DAEMON_WAIT_H */
