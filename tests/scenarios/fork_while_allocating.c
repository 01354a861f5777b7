/* fork_while_allocating: fork() while other threads are inside malloc/free gives a child whose
 * allocator works: it allocates, frees, starts threads, forks again and exits with 0.
 *
 * Worker threads allocate (every allocation call, mixed sizes), free, resize and hand blocks to
 * each other through a shared table for the whole run, so at any fork a worker may be inside
 * hakmem's slow paths, holding a central lock, or the refill thread may be filling a ring. The
 * main thread keeps blocks of its own and forks repeatedly: before each fork it waits (with the
 * test deadline) until the workers have done some operations since the last fork, so that they
 * really are allocating, then allocates a random number of blocks itself (the moment of the fork
 * varies), and allocates one more block just before fork(). Each child:
 *   - checks and frees the block allocated just before the fork, checks the canaries of the main
 *     thread's blocks it inherited and frees half of them;
 *   - frees the blocks the workers had put in the shared table (allocated by threads that do not
 *     exist in the child);
 *   - allocates 1000 blocks of mixed sizes and 8 large ones (300 KiB .. 2.4 MiB), runs its own
 *     mixed allocation loop with resizes, checks and frees everything;
 *   - starts two threads of its own that allocate and free, and every fifth time forks a grandchild
 *     that does the same work (not under a sanitizer, see below);
 *   - calls hak_trim (enough to start the child's own refill thread) and allocates 3 MiB;
 *   - exits with 0 through exit() (the allocator's exit paths run too).
 * The parent waits for each child with the test deadline (a child deadlocked on a lock inherited
 * held is a failure: it is killed and reported), checks the status, checks and replaces some of its
 * own blocks meanwhile, and at the end checks everything.
 *
 * Under a sanitizer the child starts no thread and no grandchild, and leaves with _exit(0): TSan
 * does not support threads created after a multi-threaded fork, and clang 14's ASan can deadlock a
 * new thread in the child on its own allocator lock inherited held (seen: AsanThread::Init ->
 * pthread_getattr_np -> free -> quarantine), as can its exit-time leak check. hakmem's refill
 * thread may still start in the child; nothing waits for it.
 *
 * Budgets (support/run.h; --ops is the number of forks): quick 3 workers, 15 forks; long 3
 * workers, 100 forks. */
#define _GNU_SOURCE
#include <signal.h>
#include <sys/wait.h>

#include "support/proc.h"
#include "support/run.h"
#include "support/wait.h"

#define MAIN_BLOCKS 256
#define TABLE_SLOTS 256
#define CHILD_OPS 4000
#define CHILD_BLOCKS 1000
#define CHILD_LARGE 8

static _Atomic uint64_t table[TABLE_SLOTS];
static _Atomic int workers_stop;

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    rng_t r = rng_for(run_opt.seed, id + 1);
    enum { N = 512 };
    void *p[N] = { 0 };
    size_t sz[N];
    uint64_t done = 0;
    while (!atomic_load_explicit(&workers_stop, memory_order_relaxed)) {
        unsigned i = (unsigned)rng_below(&r, N);
        uint64_t what = rng_below(&r, 16);
        if (!p[i]) {
            sz[i] = rng_size_packable(&r);
            p[i] = alloc_any(&r, sz[i]);
        } else if (what < 4) {
            uint64_t old = atomic_exchange_explicit(&table[rng_below(&r, TABLE_SLOTS)], pack_block(p[i], sz[i]),
                                                    memory_order_acq_rel);
            p[i] = NULL;
            if (old)
                free_checked(packed_ptr(old), packed_size(old), "worker frees a handed-over block");
        } else if (what < 6) {
            size_t n = rng_size_packable(&r);
            p[i] = realloc_checked(p[i], sz[i], n);
            sz[i] = n;
        } else {
            free_checked(p[i], sz[i], "worker free");
            p[i] = NULL;
        }
        run_count(1);
        done++;
    }
    for (unsigned i = 0; i < N; i++)
        if (p[i])
            free_checked(p[i], sz[i], "worker final free");
    return NULL;
}

/* ---- In the child ----------------------------------------------------------------------------- */

static void *child_thread(void *arg)
{
    rng_t r = rng_for((uint64_t)(uintptr_t)arg, 7);
    enum { W = 64 };
    void *win[W] = { 0 };
    size_t sz[W];
    for (int i = 0; i < CHILD_OPS; i++) {
        int k = i % W;
        if (win[k])
            free_checked(win[k], sz[k], "child thread free");
        sz[k] = rng_size(&r);
        win[k] = alloc_any(&r, sz[k]);
    }
    for (int k = 0; k < W; k++)
        if (win[k])
            free_checked(win[k], sz[k], "child thread final free");
    return NULL;
}

static void wait_for_child(pid_t pid, const char *what, uint64_t nfork)
{
    int status;
    double deadline = test_deadline_seconds();
    if (!wait_child_exit(pid, deadline, &status)) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        FAIL("%s of fork %llu still running after %.0f s (the deadline): deadlocked on a lock "
             "inherited held? (attach gdb -p to a rerun's child to see where)", what,
             (unsigned long long)nfork, deadline);
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s of fork %llu %s", what,
          (unsigned long long)nfork, describe_status(status));
}

/* Allocation in a child (depth 0) or grandchild (depth 1): blocks, large blocks, threads. */
static void child_work(uint64_t seed, uint64_t nfork, int depth)
{
    rng_t r = rng_for(seed, 99 + (uint64_t)depth);
    static void *blk[CHILD_BLOCKS];
    static size_t bsz[CHILD_BLOCKS];
    for (int i = 0; i < CHILD_BLOCKS; i++) {
        bsz[i] = rng_size_small(&r);
        blk[i] = alloc_any(&r, bsz[i]);
    }
    void *large[CHILD_LARGE];
    for (int i = 0; i < CHILD_LARGE; i++) {
        size_t n = (size_t)(i + 1) * 300 * KiB;
        large[i] = API(malloc)(n);
        stamp_new(large[i], n, 0, "child malloc (large)");
    }
    for (int i = 0; i < CHILD_BLOCKS; i += 2)
        free_checked(blk[i], bsz[i], "child free");
    void *p[128] = { 0 };
    size_t sz[128];
    for (int op = 0; op < CHILD_OPS; op++) {
        unsigned i = (unsigned)rng_below(&r, 128);
        if (!p[i]) {
            sz[i] = rng_size(&r);
            p[i] = alloc_any(&r, sz[i]);
        } else if (rng_below(&r, 3) == 0) {
            size_t n = rng_size(&r);
            p[i] = realloc_checked(p[i], sz[i], n);
            sz[i] = n;
        } else {
            free_checked(p[i], sz[i], "child free");
            p[i] = NULL;
        }
    }
#if !HAK_TEST_SANITIZED
    pthread_t th[2];
    for (uintptr_t t = 0; t < 2; t++)
        CHECK(pthread_create(&th[t], NULL, child_thread, (void *)(uintptr_t)(seed + t)) == 0,
              "child: pthread_create");
    for (int t = 0; t < 2; t++)
        pthread_join(th[t], NULL);
    if (depth == 0 && nfork % 5 == 0) {
        fflush(stdout);
        pid_t g = fork();
        CHECK(g >= 0, "child: fork: %s", strerror(errno));
        if (g == 0) {
            hak_test_context = "grandchild";
            child_work(seed + 1, nfork, 1);
            exit(0);
        }
        wait_for_child(g, "grandchild", nfork);
    }
#else
    (void)child_thread;
#endif
    for (unsigned i = 0; i < 128; i++)
        if (p[i])
            free_checked(p[i], sz[i], "child final free");
    for (int i = 1; i < CHILD_BLOCKS; i += 2)
        free_checked(blk[i], bsz[i], "child free");
    for (int i = 0; i < CHILD_LARGE; i++)
        free_checked(large[i], (size_t)(i + 1) * 300 * KiB, "child free (large)");
    hak_thread_flush();
}

/* The child: everything here ends in exit(0) or a FAIL (abort). */
static void child_main(void *before, size_t before_size, void **mine, size_t *mine_size, uint64_t seed,
                       uint64_t nfork)
{
    static char context[64];
    snprintf(context, sizeof context, "child of fork %llu", (unsigned long long)nfork);
    hak_test_context = context;
    free_checked(before, before_size, "block allocated just before fork");
    for (unsigned i = 0; i < MAIN_BLOCKS; i++) {
        canary_check(mine[i], mine_size[i], "inherited block");
        if (i & 1) {
            API(free)(mine[i]);
            mine[i] = NULL;
        }
    }
    /* The workers' blocks: their threads are gone here, their stamps are complete (the exchange
     * published them before the fork). */
    for (unsigned i = 0; i < TABLE_SLOTS; i++) {
        uint64_t v = atomic_exchange(&table[i], 0);
        if (v)
            free_checked(packed_ptr(v), packed_size(v), "child frees a worker's block");
    }
    child_work(seed, nfork, 0);
    for (unsigned i = 0; i < MAIN_BLOCKS; i++)
        if (mine[i])
            free_checked(mine[i], mine_size[i], "child frees an inherited block");
    hak_trim();
    void *big = API(malloc)(3 * MiB);
    stamp_new(big, 3 * MiB, 0, "child malloc(3 MiB)");
    free_checked(big, 3 * MiB, "child large free");
#if HAK_TEST_SANITIZED
    _exit(0);
#else
    exit(0); /* the normal path: atexit handlers, stdio, hakmem's own exit statistics */
#endif
}

int main(int argc, char **argv)
{
    static const run_spec_t spec = {
        .name = "fork_while_allocating", .seed = 4,
        .quick = { .threads = 3, .ops = 15, .seconds = 60 },
        .full = { .threads = 3, .ops = 100, .seconds = 40 },
    };
    run_begin(argc, argv, &spec);
    if (run_opt.threads > 32)
        run_opt.threads = 32;
    pthread_t t[32];
    for (uintptr_t i = 0; i < run_opt.threads; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)i) == 0, "pthread_create");

    rng_t r = rng_for(run_opt.seed, 0);
    static void *mine[MAIN_BLOCKS];
    static size_t mine_size[MAIN_BLOCKS];
    for (unsigned i = 0; i < MAIN_BLOCKS; i++) {
        mine_size[i] = rng_size(&r);
        mine[i] = alloc_any(&r, mine_size[i]);
    }
    uint64_t forks = 0, grandchildren = 0;
    run_set_phase("forking");
    while ((run_opt.ops == 0 || forks < run_opt.ops) && !run_stopping()) {
        /* Fork only while the workers really are allocating: on a loaded machine they may not
         * have been scheduled since the last fork, and no pause would make sure of it. */
        uint64_t since = atomic_load(&run_progress) + 100;
        WAIT_UNTIL(1, atomic_load(&run_progress) >= since,
                   "fork %llu: the %u workers did not do 100 operations since the last fork",
                   (unsigned long long)forks, run_opt.threads);
        /* Vary the moment, allocating ourselves meanwhile. */
        for (uint64_t k = rng_below(&r, 64); k > 0; k--) {
            unsigned i = (unsigned)rng_below(&r, MAIN_BLOCKS);
            free_checked(mine[i], mine_size[i], "parent block");
            mine_size[i] = rng_size(&r);
            mine[i] = alloc_any(&r, mine_size[i]);
        }
        size_t before_size = rng_size(&r);
        void *before = alloc_any(&r, before_size);
        fflush(stdout); /* the child exits through exit(): do not print the parent's buffer twice */
        fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0)
            child_main(before, before_size, mine, mine_size, run_opt.seed ^ (forks << 20), forks);
        free_checked(before, before_size, "parent frees the block allocated just before fork");
        /* Meanwhile, in the parent: check and replace some of our blocks. */
        for (unsigned k = 0; k < 16; k++) {
            unsigned i = (unsigned)rng_below(&r, MAIN_BLOCKS);
            free_checked(mine[i], mine_size[i], "parent block");
            mine_size[i] = rng_size(&r);
            mine[i] = alloc_any(&r, mine_size[i]);
        }
        wait_for_child(pid, "child", forks);
        if (!HAK_TEST_SANITIZED && forks % 5 == 0)
            grandchildren++;
        forks++;
        run_count(1);
    }
    atomic_store(&workers_stop, 1);
    run_join_all(t, run_opt.threads);
    for (unsigned i = 0; i < MAIN_BLOCKS; i++)
        free_checked(mine[i], mine_size[i], "parent final free");
    for (unsigned i = 0; i < TABLE_SLOTS; i++) {
        uint64_t v = atomic_exchange(&table[i], 0);
        if (v)
            free_checked(packed_ptr(v), packed_size(v), "table drain");
    }
    CHECK(forks > 0, "no fork within the time budget");
    OK("%llu forks while %u threads allocated: every child (and %llu grandchildren) checked its "
       "inherited blocks, allocated, freed%s and exited 0", (unsigned long long)forks, run_opt.threads,
       (unsigned long long)grandchildren, HAK_TEST_SANITIZED ? "" : ", ran threads");
    OK("the parent's and the workers' blocks stayed intact throughout");
    return run_report();
}
