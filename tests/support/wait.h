/* wait.h: waiting for something asynchronous, the way docs/testing.md asks.
 *
 * A test that needs something asynchronous to have happened (the refill thread started, a purge
 * done, a child exited, a thread past a point) polls for the condition with a deadline long enough
 * for a slow, loaded machine, and when it gives up says what it waited for and the last value it
 * saw. The deadline only ends a failing run: a passing run stops polling as soon as the condition
 * holds, so how long it took is never a verdict.
 *
 *   now_seconds()               monotonic seconds (for deadlines and notes only)
 *   sleep_ms(ms)                one polling interval
 *   test_deadline_seconds()     60 s, or HAKMEM_TEST_DEADLINE_SECONDS (e.g. longer under valgrind)
 *   WAIT_UNTIL(ms, cond, fmt, ...)  poll cond every ms until it holds; at the deadline FAIL with
 *                               "waited N s (the deadline) for <cond>: <message>"
 *   wait_rss_at_most(want, deadline, &waited)   poll RSS until <= want; returns the last reading
 *   wait_child_exit(pid, deadline, &status)     waitpid with a deadline; 0 if the child is still
 *                                               running at the deadline (the caller kills it) */
#ifndef HAK_TEST_SUPPORT_WAIT_H
#define HAK_TEST_SUPPORT_WAIT_H

#include <stddef.h>
#include <sys/types.h>

#include "check.h"

#ifdef __cplusplus /* tests in C++ (test_new_delete.cpp) link the C library */
extern "C" {
#endif

#define HAK_TEST_DEADLINE_DEFAULT 60.0

double now_seconds(void);
void sleep_ms(long ms);
double test_deadline_seconds(void);
size_t wait_rss_at_most(size_t want, double deadline_s, double *waited);
int wait_child_exit(pid_t pid, double deadline_s, int *status);

#define WAIT_UNTIL(poll_ms, cond, ...)                                                        \
    do {                                                                                      \
        double wait_start_ = now_seconds(), wait_deadline_ = test_deadline_seconds();         \
        while (!(cond)) {                                                                     \
            if (now_seconds() - wait_start_ > wait_deadline_)                                 \
                hak_test_fail(__FILE__, __LINE__, "waited for " #cond, __VA_ARGS__);          \
            sleep_ms(poll_ms);                                                                \
        }                                                                                     \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif /* HAK_TEST_SUPPORT_WAIT_H */
