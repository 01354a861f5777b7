/* daemon_wait.c: driving allocation until the refill thread works (daemon_wait.h). */
#include "daemon_wait.h"

#include <stdlib.h>

#include "check.h"
#include "hakmem.h"
#include "wait.h"

static int done(long long min_batches, hak_stats_t *s)
{
    hak_stats_get(s);
    return hak_refill_thread_running() && (min_batches < 0 || (long long)s->daemon_batches > min_batches);
}

int daemon_grow_until(daemon_wait_malloc_fn m, daemon_wait_free_fn f, double deadline_s, long long min_batches)
{
    enum { N = 2048 };
    static void *p[DAEMON_WAIT_ROUNDS][N];
    double start = now_seconds();
    long rounds = 0;
    int kept = 0, ok;
    hak_stats_t s;
    while (!(ok = done(min_batches, &s)) && now_seconds() - start < deadline_s) {
        if (kept == DAEMON_WAIT_ROUNDS) {
            for (int r = 0; r < kept; r++)
                for (int i = 0; i < N; i++)
                    f(p[r][i]);
            kept = 0;
        }
        for (int i = 0; i < N; i++) {
            size_t size = 8 + (size_t)(i * 67) % 1017; /* 8..1024 B: classes the rings serve */
            p[kept][i] = m(size);
            CHECK(p[kept][i] != NULL, "malloc(%zu) while waiting for the refill thread", size);
            *(volatile char *)p[kept][i] = 1;
        }
        kept++;
        rounds++;
    }
    for (int r = 0; r < kept; r++)
        for (int i = 0; i < N; i++)
            f(p[r][i]);
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
