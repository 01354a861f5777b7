/* wait.c: deadlines and polling (wait.h). */
#define _GNU_SOURCE
#include "wait.h"

#include <errno.h>
#include <string.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include "proc.h"

double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

double test_deadline_seconds(void)
{
    const char *v = getenv("HAKMEM_TEST_DEADLINE_SECONDS");
    double d = v ? strtod(v, NULL) : 0.0;
    return d > 0 ? d : HAK_TEST_DEADLINE_DEFAULT;
}

size_t wait_rss_at_most(size_t want, double deadline_s, double *waited)
{
    double start = now_seconds();
    size_t rss;
    while ((rss = rss_bytes()) > want && now_seconds() - start < deadline_s)
        sleep_ms(20);
    if (waited)
        *waited = now_seconds() - start;
    return rss;
}

int wait_child_exit(pid_t pid, double deadline_s, int *status)
{
    double start = now_seconds();
    for (;;) {
        pid_t w = waitpid(pid, status, WNOHANG);
        if (w == pid)
            return 1;
        CHECK(w == 0 || errno == EINTR, "waitpid(%d): %s", (int)pid, strerror(errno));
        if (now_seconds() - start > deadline_s)
            return 0;
        sleep_ms(2);
    }
}
