/* test_fork_while_allocating: fork() while other threads are inside malloc/free gives a child
 * whose allocator works: it allocates, frees, starts threads, forks again and exits with 0.
 *
 * Three worker threads allocate, reallocate, free and hand blocks to each other (with content
 * checks) without pause. The main thread, itself allocating, forks 30 times at varying moments.
 * Each child allocates a thousand blocks of mixed sizes and some large ones, checks them,
 * frees them, runs two threads of its own that allocate and free, forks a grandchild every fifth
 * time, and exits with 0 through exit() (so the allocator's exit paths run too). The parent checks
 * each child's status. A child that deadlocked on a lock held by a thread that does not exist in
 * it is ended by alarm(60) and reported as hung: that is a hang detector, not a timing verdict. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>

#include "api.h"
#include "testutil.h"

#define WORKERS 3
#define FORKS 30
#define HANDOFF 64

static atomic_int stop_workers;
static atomic_ulong worker_ops;
/* Blocks passed between workers: each starts with a header giving its size and seed. */
static _Atomic(void *) handoff[HANDOFF];

struct hdr {
    uint32_t size;
    uint32_t seed;
};

static void *new_block(uint64_t *rng, uint32_t seed)
{
    size_t n = rng_next(rng) % 200 == 0 ? rng_range(rng, 64 * KiB, 2 * MiB) : rng_size_mix(rng);
    if (n < sizeof(struct hdr))
        n = sizeof(struct hdr);
    struct hdr *h = API(malloc)(n);
    CHECK(h != NULL, "malloc(%zu)", n);
    h->size = (uint32_t)n;
    h->seed = seed;
    size_t body = n - sizeof *h;
    if (body <= 64 * KiB)
        pattern_fill(h + 1, body, seed);
    else
        pattern_fill_sparse(h + 1, body, seed);
    return h;
}

static void check_free_block(void *p, const char *who)
{
    struct hdr *h = p;
    size_t body = h->size - sizeof *h;
    size_t bad = body <= 64 * KiB ? pattern_check(h + 1, body, h->seed)
                                  : pattern_check_sparse(h + 1, body, h->seed);
    CHECK(bad == body, "%s: block %p (%u B) corrupted at offset %zu", who, p, h->size, bad);
    API(free)(p);
}

static void *worker(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 7;
    enum { W = 128 };
    void *win[W] = { 0 };
    uint32_t seq = 0;
    while (!atomic_load_explicit(&stop_workers, memory_order_relaxed)) {
        int k = (int)(rng_next(&rng) % W);
        if (win[k])
            check_free_block(win[k], "worker");
        win[k] = new_block(&rng, seq++);
        unsigned r = (unsigned)(rng_next(&rng) % 16);
        if (r == 0) {
            /* Hand this block to whichever worker looks at the slot next. */
            void *prev = atomic_exchange(&handoff[rng_next(&rng) % HANDOFF], win[k]);
            win[k] = NULL;
            if (prev)
                check_free_block(prev, "worker (handed over)");
        } else if (r == 1) {
            struct hdr *h = win[k];
            size_t body = h->size - sizeof *h, n = rng_size_mix(&rng) + sizeof *h;
            size_t keep = body < n - sizeof *h ? body : n - sizeof *h;
            if (body <= 64 * KiB) {
                h = API(realloc)(h, n);
                CHECK(h != NULL, "realloc(%zu)", n);
                CHECK(pattern_check(h + 1, keep, h->seed) == keep, "realloc lost contents");
                h->size = (uint32_t)n;
                pattern_fill(h + 1, n - sizeof *h, h->seed);
                win[k] = h;
            }
        }
        atomic_fetch_add_explicit(&worker_ops, 1, memory_order_relaxed);
    }
    for (int k = 0; k < W; k++)
        if (win[k])
            check_free_block(win[k], "worker (final)");
    return NULL;
}

/* ---- In the child ------------------------------------------------------------------------- */

static void *child_thread(void *arg)
{
    uint64_t rng = (uint64_t)(uintptr_t)arg + 99;
    enum { W = 64 };
    void *win[W] = { 0 };
    for (int i = 0; i < 4000; i++) {
        int k = i % W;
        if (win[k])
            check_free_block(win[k], "child thread");
        win[k] = new_block(&rng, (uint32_t)i);
    }
    for (int k = 0; k < W; k++)
        if (win[k])
            check_free_block(win[k], "child thread");
    return NULL;
}

static void child_work(int iteration, int depth)
{
    uint64_t rng = (uint64_t)iteration * 1000003 + (uint64_t)depth;
    enum { N = 1000 };
    static void *blk[N];
    for (int i = 0; i < N; i++)
        blk[i] = new_block(&rng, (uint32_t)i);
    void *large[8];
    for (int i = 0; i < 8; i++) {
        size_t n = (size_t)(i + 1) * 300 * KiB;
        large[i] = API(malloc)(n);
        CHECK(large[i] != NULL, "child: malloc(%zu)", n);
        pattern_fill_sparse(large[i], n, (uint64_t)i);
    }
    for (int i = 0; i < N; i += 2)
        check_free_block(blk[i], "child");
    pthread_t th[2];
    for (int t = 0; t < 2; t++)
        CHECK(pthread_create(&th[t], NULL, child_thread, (void *)(uintptr_t)(iteration * 2 + t)) == 0,
              "child: pthread_create");
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    for (int i = 1; i < N; i += 2)
        check_free_block(blk[i], "child");
    for (int i = 0; i < 8; i++) {
        size_t n = (size_t)(i + 1) * 300 * KiB;
        CHECK(pattern_check_sparse(large[i], n, (uint64_t)i) == n, "child: large block corrupted");
        API(free)(large[i]);
    }
    if (depth == 0 && iteration % 5 == 0) {
        fflush(stdout);
        pid_t g = fork();
        CHECK(g >= 0, "child: fork: %s", strerror(errno));
        if (g == 0) {
            alarm(60);
            child_work(iteration, 1);
            exit(0);
        }
        int st;
        CHECK(waitpid(g, &st, 0) == g, "child: waitpid");
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "grandchild of fork %d %s%s", iteration,
              describe_status(st),
              WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (hung: deadlock after fork?)" : "");
    }
    hak_thread_flush();
}

int main(void)
{
    api_check_linked();
    pthread_t th[WORKERS];
    for (int t = 0; t < WORKERS; t++)
        CHECK(pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)(t + 1)) == 0,
              "pthread_create");

    uint64_t rng = 42;
    int grandchildren = 0;
    unsigned long ops_at_last_fork = 0;
    for (int i = 0; i < FORKS; i++) {
        /* Fork only while the workers really are allocating: wait (deadline 60 s) until they have
         * done some operations since the last fork. On a loaded machine they may not have been
         * scheduled at all yet, and a pause alone would not make sure of it. Then a random pause
         * varies the moment of the fork, and we are allocating ourselves when we fork. */
        double start = now_seconds(), deadline = test_deadline_seconds();
        unsigned long ops;
        while ((ops = atomic_load(&worker_ops)) < ops_at_last_fork + 100) {
            CHECK(now_seconds() - start < deadline,
                  "fork %d: waited %.1f s for the %d workers to do 100 operations since the last "
                  "fork; they did %lu", i, now_seconds() - start, WORKERS, ops - ops_at_last_fork);
            sleep_ms(1);
        }
        sleep_ms((long)rng_range(&rng, 1, 30));
        ops_at_last_fork = atomic_load(&worker_ops);
        void *mine = new_block(&rng, (uint32_t)i);
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            alarm(60);
            check_free_block(mine, "child (block from before fork)");
            child_work(i, 0);
            exit(0);
        }
        check_free_block(mine, "parent");
        int st;
        CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child of fork %d %s%s", i, describe_status(st),
              WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM ? " (hung: deadlock after fork?)" : "");
        if (i % 5 == 0)
            grandchildren++;
    }
    atomic_store(&stop_workers, 1);
    for (int t = 0; t < WORKERS; t++)
        pthread_join(th[t], NULL);
    for (int k = 0; k < HANDOFF; k++) {
        void *p = atomic_exchange(&handoff[k], NULL);
        if (p)
            check_free_block(p, "main (handed over)");
    }
    OK("%d forks while %d threads allocated (%lu operations): every child (and %d grandchildren) "
       "allocated, freed, ran threads and exited 0", FORKS, WORKERS,
       (unsigned long)atomic_load(&worker_ops), grandchildren);
    OK("parent's workers' blocks stayed intact throughout");
    return 0;
}
