/* test_counters_unregistered_threads: counts made outside a thread's registered life are summed
 * too. Two such cases:
 *   - a thread that only allocates large blocks and frees NULL never reaches thread_register()
 *     (only the small-block slow paths register), so its array of counters is never linked;
 *   - a thread past hakmem's exit destructor (its counters already folded into the exited total)
 *     that still frees, from a pthread key destructor that runs after hakmem's: with
 *     LD_PRELOAD, libc's and libstdc++'s own thread teardown does this.
 * In both, allocations - frees must still equal the live blocks once the threads are joined; the
 * late free is a remote one (free_remote: the slab became an orphan when the thread exited). */
#include <pthread.h>
#include <stdio.h>

#include "support/check.h"
#include "counters_util.h"

#define LARGE_SIZE (300u * 1024)
#define ROUNDS 10

static pthread_key_t late_key;

static void late_destructor(void *p) { hak_free(p); }

static void *large_only(void *arg)
{
    for (int i = 0; i < ROUNDS; i++) {
        void *p = hak_malloc(LARGE_SIZE);
        CHECK(p != NULL, "hak_malloc(%u)", LARGE_SIZE);
        hak_free(p);
    }
    hak_free(NULL);
    return arg;
}

static void *free_in_late_destructor(void *arg)
{
    void *p = hak_malloc(64);
    CHECK(p != NULL, "hak_malloc(64)");
    /* late_key was created after hakmem's key, so its destructor runs after hakmem's. */
    pthread_setspecific(late_key, p);
    return arg;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    hak_free(hak_malloc(16));   /* initialise the library (and create its thread-exit key) */
    snap_t s0, s1, s2;
    snap(&s0);
    if (!s0.s.debug_counters) SKIP_EXIT("the library was built without HAKMEM_DEBUG_COUNTERS");

    pthread_t t;
    CHECK(pthread_create(&t, NULL, large_only, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    snap(&s1);
    EXPECT_EQ(s0, s1, large_alloc, ROUNDS);
    EXPECT_EQ(s0, s1, large_free, ROUNDS);
    EXPECT_EQ(s0, s1, free_null, 1);
    OK("a thread that only used large blocks and free(NULL): its %d large allocations, %d frees and "
       "1 free(NULL) are counted", ROUNDS, ROUNDS);

    CHECK(pthread_key_create(&late_key, late_destructor) == 0, "pthread_key_create");
    CHECK(pthread_create(&t, NULL, free_in_late_destructor, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    snap(&s2);
    int64_t in = DELTA(s1, s2, malloc_tls_hit) + DELTA(s1, s2, malloc_tls_miss);
    int64_t out = DELTA(s1, s2, free_tls_push) + DELTA(s1, s2, free_remote);
    CHECK(in == 1 && out == 1, "block freed by a destructor after hakmem's: %lld mallocs, %lld frees counted "
          "(want 1 and 1)", (long long)in, (long long)out);
    /* By then the thread owns no slab (its slab became an orphan at exit): the free is remote. */
    EXPECT_EQ(s1, s2, free_remote, 1);
    OK("a block freed by a pthread key destructor after hakmem's own: the free is counted");
    printf("all counter checks passed\n");
    return 0;
}
