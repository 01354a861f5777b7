/* stress_fork_while_allocating: fork() while other threads allocate and free, and the child
 * allocates and exits.
 *
 * Worker threads run the mixed allocation loop (and hand blocks to each other through a shared
 * table) for the whole run, so at any fork a worker may be inside hakmem's slow paths, holding a
 * central lock, or the refill thread may be filling a ring. The main thread keeps its own blocks
 * and forks repeatedly. Each child, single-threaded:
 *   - checks the canaries of the main thread's blocks it inherited and frees half of them;
 *   - frees blocks the workers had put in the shared table (allocated by threads that do not
 *     exist in the child);
 *   - runs its own mixed allocation loop, including large blocks, resizes and hak_trim (enough to
 *     start the child's own refill thread); starts a thread of its own that allocates too;
 *   - exits with 0, or a non-zero code at the first error.
 * Under a sanitizer the child starts no thread of its own and leaves with _exit(0): TSan does not
 * support threads created after a multi-threaded fork, and clang 14's ASan can deadlock a new
 * thread in the child on its own allocator lock inherited held from the parent (seen here:
 * pthread_getattr_np -> free -> quarantine, in AsanThread::Init), and its exit-time leak check can
 * block the same way. hakmem's refill thread may still start in the child; nothing waits for it.
 * The parent waits (with a deadline: a child deadlocked on a lock inherited held is a failure),
 * checks the exit status, checks its own blocks and replaces some of them. */
#include "stress_common.h"
#include <signal.h>
#include <sys/wait.h>

#define MAIN_BLOCKS 256
#define TABLE_SLOTS 256
#define CHILD_OPS 4000
#define CHILD_DEADLINE_SECONDS 60

static _Atomic uint64_t table[TABLE_SLOTS];
static _Atomic int workers_stop;

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    rng_t r = rng_for(opt.seed, id + 1);
    enum { N = 512 };
    void *p[N] = { 0 };
    size_t sz[N];
    uint64_t done = 0;
    while (!atomic_load_explicit(&workers_stop, memory_order_relaxed)) {
        unsigned i = (unsigned)rng_below(&r, N);
        if (!p[i]) {
            sz[i] = rng_size(&r);
            if (sz[i] >= PACK_MAX_SIZE) sz[i] = PACK_MAX_SIZE - 1;
            p[i] = alloc_any(&r, sz[i]);
        } else if (rng_below(&r, 4) == 0) {
            uint64_t old = atomic_exchange_explicit(&table[rng_below(&r, TABLE_SLOTS)], pack_block(p[i], sz[i]),
                                                    memory_order_acq_rel);
            p[i] = NULL;
            if (old) free_checked(packed_ptr(old), packed_size(old), "worker handed-over free");
        } else {
            free_checked(p[i], sz[i], "worker free");
            p[i] = NULL;
        }
        if ((++done & 255) == 0) stress_count(256);
    }
    for (unsigned i = 0; i < N; i++)
        if (p[i]) free_checked(p[i], sz[i], "worker final free");
    return NULL;
}

static void *child_thread(void *arg)
{
    rng_t r = rng_for((uint64_t)(uintptr_t)arg, 7);
    for (int i = 0; i < CHILD_OPS / 4; i++) {
        size_t n = rng_size(&r);
        free_checked(alloc_any(&r, n), n, "child thread free");
    }
    return NULL;
}

/* The child: everything here must end in exit(0) or stress_fail (abort). */
static void child_main(void **mine, size_t *mine_size, uint64_t seed)
{
    stress_name = "stress_fork_while_allocating (child)";
    rng_t r = rng_for(seed, 99);
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
        if (v) free_checked(packed_ptr(v), packed_size(v), "child frees a worker's block");
    }
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
#if !STRESS_TSAN && !STRESS_ASAN
    pthread_t t;
    if (pthread_create(&t, NULL, child_thread, (void *)(uintptr_t)seed)) stress_fail("child pthread_create");
    pthread_join(t, NULL);
#else
    (void)child_thread;
#endif
    for (unsigned i = 0; i < 128; i++)
        if (p[i]) free_checked(p[i], sz[i], "child final free");
    for (unsigned i = 0; i < MAIN_BLOCKS; i++)
        if (mine[i]) free_checked(mine[i], mine_size[i], "child frees an inherited block");
    hak_trim();
    void *big = API(malloc)(3 * MiB);
    stamp_new(big, 3 * MiB, 0, "child malloc(3 MiB)");
    free_checked(big, 3 * MiB, "child large free");
#if STRESS_TSAN || STRESS_ASAN
    _exit(0);
#else
    exit(0);   /* the normal path: atexit handlers, stdio, hakmem's own exit statistics */
#endif
}

/* Wait for the child, with a deadline: a child stuck on a lock inherited held never exits. */
static void wait_child(pid_t pid, unsigned nfork)
{
    double deadline = now_seconds() + CHILD_DEADLINE_SECONDS;
    for (;;) {
        int status;
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
            if (WIFSIGNALED(status))
                stress_fail("child of fork %u killed by signal %d", nfork, WTERMSIG(status));
            stress_fail("child of fork %u exited with status %d", nfork, WEXITSTATUS(status));
        }
        if (w < 0 && errno != EINTR) stress_fail("waitpid: %s", strerror(errno));
        if (now_seconds() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            stress_fail("child of fork %u still running after %d s: deadlocked in the child?", nfork,
                        CHILD_DEADLINE_SECONDS);
        }
        struct timespec ts = { 0, 2 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    /* --ops is the number of forks here. */
    stress_parse(argc, argv, "stress_fork_while_allocating",
                 (stress_opts_t){ .threads = 2, .ops = 100, .seconds = 30, .seed = 4 });
    stress_start();
    if (opt.threads > 32) opt.threads = 32;
    pthread_t t[32];
    for (unsigned i = 0; i < opt.threads; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i)) stress_fail("pthread_create");

    rng_t r = rng_for(opt.seed, 0);
    static void *mine[MAIN_BLOCKS];
    static size_t mine_size[MAIN_BLOCKS];
    for (unsigned i = 0; i < MAIN_BLOCKS; i++) {
        mine_size[i] = rng_size(&r);
        mine[i] = alloc_any(&r, mine_size[i]);
    }
    uint64_t forks = 0;
    stress_set_phase("forking");
    while (stress_continue(forks)) {
        fflush(stdout);   /* the child exits through exit(): do not print the parent's buffer twice */
        fflush(stderr);
        pid_t pid = fork();
        if (pid < 0) stress_fail("fork: %s", strerror(errno));
        if (pid == 0) child_main(mine, mine_size, opt.seed ^ (forks << 20));
        /* Meanwhile, in the parent: check and replace some of our blocks. */
        for (unsigned k = 0; k < 16; k++) {
            unsigned i = (unsigned)rng_below(&r, MAIN_BLOCKS);
            canary_check(mine[i], mine_size[i], "parent block");
            API(free)(mine[i]);
            mine_size[i] = rng_size(&r);
            mine[i] = alloc_any(&r, mine_size[i]);
        }
        wait_child(pid, (unsigned)forks);
        forks++;
        stress_count(1);
    }
    atomic_store(&workers_stop, 1);
    join_all(t, opt.threads);
    for (unsigned i = 0; i < MAIN_BLOCKS; i++) free_checked(mine[i], mine_size[i], "parent final free");
    for (unsigned i = 0; i < TABLE_SLOTS; i++) {
        uint64_t v = atomic_exchange(&table[i], 0);
        if (v) free_checked(packed_ptr(v), packed_size(v), "table drain");
    }
    printf("%s: %" PRIu64 " forks, each child checked and allocated\n", stress_name, forks);
    return stress_report();
}
