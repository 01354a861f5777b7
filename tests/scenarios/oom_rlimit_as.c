/* oom_rlimit_as: when the address space runs out (RLIMIT_AS), allocation returns NULL with ENOMEM
 * instead of crashing, every block handed out before is intact, a failed realloc leaves its block
 * intact, and after some blocks are freed allocation succeeds again.
 *
 * After a warm-up (allocator initialised, its refill thread started, every size touched), each
 * round sets the soft RLIMIT_AS to the current VmSize plus a headroom, phase by phase, and lifts it
 * after each phase:
 *   fixed sizes (malloc only): 1000 B blocks with 96 MiB headroom, 48 B with 32 MiB, 768 KiB with
 *     256 MiB: allocate until the first NULL, which must come with ENOMEM after at least a quarter
 *     of the headroom was handed out (the allocator may reserve address space ahead of demand, but
 *     not most of it); other sizes and calloc at the limit fail cleanly (ENOMEM) or succeed;
 *   mixed small (1..1024 B) and mixed large (64 KiB..1 MiB) blocks through malloc, calloc,
 *     aligned_alloc and posix_memalign (which must return ENOMEM) until several NULLs in a row;
 *     a realloc far beyond the limit fails with ENOMEM and leaves its block intact;
 *   threads: 3 threads at once with mixed sizes share one headroom.
 * In every phase: all blocks held are intact (canary), then after freeing half (and hak_trim)
 * allocation resumes and every block is intact again. After the last round everything works as
 * before.
 *
 * Nothing here allocates through hakmem while the limit is set except the blocks under test: the
 * block tables are mapped before the limit is set, and nothing is printed until it is lifted.
 * Skipped (77) under TSan, whose runtime maps memory for its own synchronisation objects as the
 * program runs and dies when that mmap fails. ASan copes (its shadow is reserved up front and
 * counted in the VmSize the limit is computed from). Skipped also if the hard limit is set (the
 * soft one could not be restored).
 *
 * Budgets (support/run.h; --ops is the number of rounds): quick 1 round, long 4 rounds; both
 * 3 threads in the threaded phase. */
#define _GNU_SOURCE
#include <sys/mman.h>
#include <sys/resource.h>

#include "support/daemon_wait.h"
#include "support/proc.h"
#include "support/run.h"
#include "support/wait.h"

#define HEADROOM (96 * MiB)
#define MAX_BLOCKS ((size_t)1 << 22) /* 64 MiB of table, touched only as far as used */

typedef struct held {
    void *p;
    size_t size;
} held_t;

static held_t *held; /* mmapped: not from the allocator under test */
static size_t nheld;

static void set_limit(rlim_t cur)
{
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_AS, &rl) == 0, "getrlimit: %s", strerror(errno));
    rl.rlim_cur = cur;
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit(RLIMIT_AS, %llu): %s", (unsigned long long)cur, strerror(errno));
}

static void check_all(const char *what)
{
    for (size_t i = 0; i < nheld; i++)
        if (held[i].p)
            canary_check(held[i].p, held[i].size, what);
}

static void free_half(void)
{
    for (size_t i = 0; i < nheld; i += 2)
        if (held[i].p) {
            free_checked(held[i].p, held[i].size, "free under pressure");
            held[i].p = NULL;
        }
    hak_trim();
}

static void free_all(void)
{
    for (size_t i = 0; i < nheld; i++)
        if (held[i].p)
            free_checked(held[i].p, held[i].size, "final free");
    nheld = 0;
    hak_thread_flush();
    hak_trim(); /* the next phase starts from a clean slate */
}

/* One allocation by call `how` (0 malloc, 1 calloc, 2 aligned_alloc, 3 posix_memalign); NULL must
 * come with ENOMEM. */
static void *try_alloc(unsigned how, size_t size, size_t *align)
{
    void *p = NULL;
    *align = 0;
    errno = 0;
    switch (how % 4) {
    case 0: p = API(malloc)(size); break;
    case 1: p = API(calloc)(1, size); break;
    case 2: *align = 64; p = API(aligned_alloc)(64, size); break;
    case 3: {
        *align = 4096;
        int rc = API(posix_memalign)(&p, 4096, size);
        CHECK(rc == 0 || rc == ENOMEM, "posix_memalign(4096, %zu) under pressure returned %d, not ENOMEM", size, rc);
        return rc ? NULL : p;
    }
    }
    CHECK(p != NULL || errno == ENOMEM, "allocation %u of %zu B returned NULL with errno %d, not ENOMEM", how % 4,
          size, errno);
    return p;
}

/* Fill until the allocator says no `nulls` times in a row (or cap bytes). `mixed`: any of the four
 * calls; otherwise malloc only. Returns the bytes handed out. */
static size_t fill(rng_t *r, size_t lo, size_t hi, size_t cap, unsigned nulls, bool mixed)
{
    size_t bytes = 0;
    unsigned failures = 0;
    while (bytes < cap) {
        CHECK(nheld < MAX_BLOCKS, "%zu blocks allocated without reaching the limit", nheld);
        size_t size = rng_range(r, lo, hi), align;
        void *p = try_alloc(mixed ? (unsigned)rng_below(r, 4) : 0, size, &align);
        if (!p) {
            if (++failures == nulls)
                break;
            continue;
        }
        failures = 0;
        stamp_new(p, size, align, "allocation under pressure");
        held[nheld++] = (held_t){ p, size };
        bytes += size;
    }
    return bytes;
}

static void realloc_fails_cleanly(void)
{
    for (size_t i = 0; i < nheld; i++) {
        if (!held[i].p)
            continue;
        errno = 0;
        void *q = API(realloc)(held[i].p, 2 * HEADROOM);
        if (q) { /* possible if mremap found room; then it is just a resize */
            canary_check_moved(q, held[i].p, held[i].size, held[i].size, "realloc under pressure");
            canary_stamp(q, held[i].size);
            held[i].p = q;
            return;
        }
        CHECK(errno == ENOMEM, "realloc under pressure: errno %d, not ENOMEM", errno);
        canary_check(held[i].p, held[i].size, "block after a failed realloc");
        return;
    }
}

/* ---- Fixed sizes, malloc only ----------------------------------------------------------------- */
static void fixed_phase(rng_t *r, const char *kind, size_t size, size_t headroom)
{
    size_t vm = vm_bytes();
    set_limit((rlim_t)(vm + headroom));
    size_t got = fill(r, size, size, SIZE_MAX, 1, false);
    int err = errno;
    /* Other requests near the limit fail cleanly or succeed; none may crash. */
    for (size_t s = 16; s <= 8 * MiB; s *= 4) {
        errno = 0;
        void *p = API(malloc)(s);
        if (p)
            API(free)(p);
        else
            CHECK(errno == ENOMEM, "%s: malloc(%zu) at the limit: NULL with errno %d", kind, s, errno);
    }
    errno = 0;
    void *c = API(calloc)(1, 3 * MiB);
    CHECK(c != NULL || errno == ENOMEM, "%s: calloc at the limit: NULL with errno %d", kind, errno);
    API(free)(c);
    check_all("block allocated before the NULL");
    size_t n = nheld;
    free_half();
    size_t again = fill(r, size, size, (n / 2 < 100 ? n / 2 : 100) * size, 1, false);
    check_all("block after freeing half");
    free_all();
    set_limit(RLIM_INFINITY);
    NOTE("%s blocks of %zu B: VmSize %.1f MiB, limit +%.0f MiB: NULL (errno %d) after %.1f MiB, %.1f MiB "
         "again after freeing half", kind, size, mib(vm), mib(headroom), err, mib(got), mib(again));
    CHECK(err == ENOMEM, "%s: malloc(%zu) returned NULL with errno %d, not ENOMEM", kind, size, err);
    CHECK(got >= headroom / 4, "%s: first NULL after only %.1f MiB of a %.1f MiB headroom", kind, mib(got),
          mib(headroom));
    CHECK(again >= (n / 2 < 100 ? n / 2 : 100) * size, "%s: after freeing %zu blocks, only %.1f MiB could be "
          "allocated again", kind, (n + 1) / 2, mib(again));
}

/* ---- Mixed sizes and calls --------------------------------------------------------------------- */
static void mixed_phase(rng_t *r, const char *kind, size_t lo, size_t hi, size_t cap, size_t again_cap)
{
    set_limit((rlim_t)(vm_bytes() + HEADROOM));
    size_t got = fill(r, lo, hi, cap, 8, true);
    realloc_fails_cleanly();
    check_all("block under pressure");
    free_half();
    size_t again = fill(r, lo, hi, again_cap, 8, true);
    check_all("block after resuming");
    free_all();
    set_limit(RLIM_INFINITY);
    NOTE("%s: %zu KiB before the first NULLs, %zu KiB after freeing half", kind, got >> 10, again >> 10);
    CHECK(got > 0, "%s: no block at all under the limit", kind);
    CHECK(again > 0, "%s: allocation did not resume after frees", kind);
}

/* ---- Several threads at once ------------------------------------------------------------------ */
static _Atomic size_t pressure_bytes;
static _Atomic unsigned pressure_nulls;
static pthread_barrier_t pressure_go; /* the limit is set while the threads wait here */

static void *pressure_thread(void *arg)
{
    rng_t r = rng_for(run_opt.seed, 50 + (uintptr_t)arg);
    enum { N = 4096 };
    held_t *mine = mmap(NULL, N * sizeof *mine, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(mine != MAP_FAILED, "mmap for the thread's table");
    pthread_barrier_wait(&pressure_go);
    size_t n = 0, bytes = 0;
    unsigned nulls = 0;
    while (n < N && nulls < 64 && bytes < HEADROOM) {
        size_t size = rng_size(&r), align;
        void *p = try_alloc((unsigned)rng_below(&r, 4), size, &align);
        if (!p) {
            nulls++;
            continue;
        }
        stamp_new(p, size, align, "threaded allocation under pressure");
        mine[n++] = (held_t){ p, size };
        bytes += size;
    }
    for (size_t i = 0; i < n; i++)
        canary_check(mine[i].p, mine[i].size, "threaded block under pressure");
    for (size_t i = 0; i < n; i++)
        free_checked(mine[i].p, mine[i].size, "threaded free");
    atomic_fetch_add(&pressure_bytes, bytes);
    atomic_fetch_add(&pressure_nulls, nulls);
    munmap(mine, N * sizeof *mine);
    run_count(n);
    return NULL;
}

static void threads_phase(unsigned nt)
{
    pthread_t t[64];
    atomic_store(&pressure_bytes, 0);
    atomic_store(&pressure_nulls, 0);
    /* The threads exist (stacks mapped) before the limit is set; they share one headroom. */
    CHECK(pthread_barrier_init(&pressure_go, NULL, nt + 1) == 0, "pthread_barrier_init");
    for (uintptr_t i = 0; i < nt; i++)
        CHECK(pthread_create(&t[i], NULL, pressure_thread, (void *)i) == 0, "pthread_create");
    set_limit((rlim_t)(vm_bytes() + HEADROOM));
    pthread_barrier_wait(&pressure_go);
    run_join_all(t, nt);
    pthread_barrier_destroy(&pressure_go);
    set_limit(RLIM_INFINITY);
    hak_trim();
    NOTE("%u threads: %zu KiB, %u NULLs", nt, atomic_load(&pressure_bytes) >> 10, atomic_load(&pressure_nulls));
}

static void warm_up(rng_t *r)
{
    for (int i = 0; i < 20000; i++) {
        size_t n = rng_size(r);
        free_checked(alloc_any(r, n), n, "warm-up");
    }
    /* Have a lazily started refill thread exist before VmSize is read, so that its stack does not
     * come out of a phase's headroom. If the library does not start it, go on without it (a
     * thread started later costs a few hundred KiB of a headroom). */
#ifndef HAK_TEST_LIBC
    const char *env = getenv("HAKMEM_REFILL_THREAD");
    if (!(env && !strcmp(env, "0")) &&
        !daemon_drive_until_running(API(malloc), api_free_fn, test_deadline_seconds()))
        NOTE("going on without the refill thread");
#endif
}

int main(int argc, char **argv)
{
    static const run_spec_t spec = {
        .name = "oom_rlimit_as", .seed = 5,
        .quick = { .threads = 3, .ops = 1, .seconds = 60 },
        .full = { .threads = 3, .ops = 4, .seconds = 60 },
    };
    if (HAK_TEST_TSAN) {
        printf("oom_rlimit_as: skipped under TSan: its runtime maps memory for every new "
               "synchronisation object and dies when that mmap fails\n");
        return HAK_TEST_SKIP;
    }
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_AS, &rl) == 0, "getrlimit");
    if (rl.rlim_max != RLIM_INFINITY)
        SKIP_EXIT("RLIMIT_AS hard limit is set: cannot restore the soft limit after each phase");
    run_begin(argc, argv, &spec);
    held = mmap(NULL, MAX_BLOCKS * sizeof *held, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                -1, 0);
    CHECK(held != MAP_FAILED, "mmap for the block table");
    rng_t r = rng_for(run_opt.seed, 0);
    warm_up(&r);
    NOTE("refill thread running: %d", hak_refill_thread_running());
    unsigned nt = run_opt.threads > 64 ? 64 : run_opt.threads;
    uint64_t round = 0;
    for (; (run_opt.ops == 0 || round < run_opt.ops) && !run_stopping(); round++) {
        run_set_phase("fixed sizes under pressure");
        fixed_phase(&r, "small", 1000, 96 * MiB);
        fixed_phase(&r, "small", 48, 32 * MiB);
        fixed_phase(&r, "large", 768 * KiB, 256 * MiB);
        run_set_phase("mixed sizes under pressure");
        mixed_phase(&r, "mixed small", 1, 1024, HEADROOM * 2 / 3, 4 * MiB);
        mixed_phase(&r, "mixed large", 64 * KiB, MiB, 4 * HEADROOM, 8 * MiB);
        run_set_phase("threads under pressure");
        threads_phase(nt);
        run_count(1);
        OK("round %llu: NULL with ENOMEM from every call at the limit, blocks intact, a failed realloc "
           "harmless, allocation resumed after frees (fixed, mixed and threaded)", (unsigned long long)round);
    }
    CHECK(round > 0, "no round within the time budget");
    /* After the pressure, everything works as before. */
    for (int i = 0; i < 20000; i++) {
        size_t n = rng_size(&r);
        free_checked(alloc_any(&r, n), n, "after the pressure");
    }
    OK("allocation works after the limit is lifted");
    return run_report();
}
