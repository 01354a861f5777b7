/* daemon_wait.h: getting the refill thread to work, for the tests that need it.
 *
 * The library starts its refill thread lazily, once a process keeps growing its heap (claiming
 * slabs beyond the first of a class), and the thread prepares fresh slabs only for classes that
 * keep growing (docs/design.md); exactly when is a tuning decision that may change, so no test
 * may assume "after N refills" or "after this much allocation". A test that needs the thread
 * grows the heap until the condition holds, with a deadline (wait.h), and decides what to do if
 * it never comes: fail (the refill_pause scenario, whose subject it is) or skip the part that
 * needs it with a message saying so.
 *
 *   daemon_grow_until(m, f, deadline_s, min_batches)
 *       rounds of: allocate 2048 blocks over the classes the rings serve (about 1 MiB) and keep
 *       them, until the thread runs and has prepared more than min_batches slabs in all
 *       (hak_stats.daemon_batches), or deadline_s passes; then frees every block it kept. The heap
 *       grows by at most DAEMON_WAIT_ROUNDS MiB: past that, the rounds free and start again.
 *       Returns 1 on success; 0 after printing what it waited for and the last values seen.
 *   daemon_drive_until_running(m, f, deadline_s)
 *       the same, until the thread merely runs.
 * m and f are the entry points under test (API(malloc), api_free_fn). */
#ifndef HAK_TEST_SUPPORT_DAEMON_WAIT_H
#define HAK_TEST_SUPPORT_DAEMON_WAIT_H

#include <stddef.h>

#ifdef __cplusplus /* tests in C++ (test_new_delete.cpp) link the C library */
extern "C" {
#endif

typedef void *(*daemon_wait_malloc_fn)(size_t);
typedef void (*daemon_wait_free_fn)(void *);

#define DAEMON_WAIT_ROUNDS 64

int daemon_grow_until(daemon_wait_malloc_fn m, daemon_wait_free_fn f, double deadline_s, long long min_batches);

static inline int daemon_drive_until_running(daemon_wait_malloc_fn m, daemon_wait_free_fn f, double deadline_s)
{
    return daemon_grow_until(m, f, deadline_s, -1);
}

#ifdef __cplusplus
}
#endif

#endif /* HAK_TEST_SUPPORT_DAEMON_WAIT_H */
