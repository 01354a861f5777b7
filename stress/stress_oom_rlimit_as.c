/* stress_oom_rlimit_as: allocation under memory pressure, with RLIMIT_AS set low so mmap fails.
 *
 * After a warm-up (allocator initialised, refill thread started), the soft RLIMIT_AS is set to the
 * current address-space size plus a headroom. Then, for each of three kinds of allocation (small
 * blocks of mixed sizes, 64 KiB..1 MiB blocks, and several threads at once with mixed sizes):
 *   - allocate until NULL; the NULL must come with errno ENOMEM, from every entry point tried
 *     (malloc, calloc, realloc, aligned_alloc, posix_memalign's return code);
 *   - a failed realloc leaves the old block intact;
 *   - every block handed out before is intact (canary);
 *   - free half, call hak_trim, and allocation must succeed again;
 *   - free everything.
 * The limit is lifted between rounds; --ops is the number of rounds.
 *
 * Nothing here allocates through hakmem while the limit is set except the blocks under test: the
 * block table is mmapped before the limit is set, and messages are written with write(2).
 * Under TSan this program is skipped (exit 77): the TSan runtime maps memory for its own
 * synchronisation objects as the program runs and dies when that mmap fails. ASan copes (its shadow
 * is reserved up front, and counted in the VmSize the limit is computed from). */
#include "stress_common.h"
#include <sys/mman.h>

#define HEADROOM (96 * MiB)
#define MAX_BLOCKS (1u << 20)
#define SMALL_CAP ((size_t)HEADROOM * 2 / 3)

typedef struct held { void *p; size_t size; } held_t;

static held_t *held;       /* mmapped: not from the allocator under test */
static size_t nheld;

static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) stress_fail("cannot read /proc/self/status");
    char line[256];
    size_t kib = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kib) == 1) break;
    fclose(f);
    if (!kib) stress_fail("no VmSize in /proc/self/status");
    return kib * KiB;
}

static void set_limit(rlim_t cur)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl)) stress_fail("getrlimit: %s", strerror(errno));
    rl.rlim_cur = cur;
    if (setrlimit(RLIMIT_AS, &rl)) stress_fail("setrlimit(RLIMIT_AS): %s", strerror(errno));
}

static void check_all(const char *what)
{
    for (size_t i = 0; i < nheld; i++)
        if (held[i].p) canary_check(held[i].p, held[i].size, what);
}

/* Free every other block, then everything cached, so that mmap has room again. */
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
        if (held[i].p) free_checked(held[i].p, held[i].size, "final free");
    nheld = 0;
    hak_trim();
}

/* One allocation by call `how`; NULL must come with ENOMEM. */
static void *try_alloc(unsigned how, size_t size, size_t *align_out)
{
    void *p = NULL;
    *align_out = 0;
    errno = 0;
    switch (how % 4) {
    case 0: p = API(malloc)(size); break;
    case 1: p = API(calloc)(1, size); break;
    case 2: *align_out = 64; p = API(aligned_alloc)(64, size); break;
    case 3: {
        *align_out = 4096;
        int rc = API(posix_memalign)(&p, 4096, size);
        if (rc) {
            if (rc != ENOMEM) stress_fail("posix_memalign under pressure returned %d, not ENOMEM", rc);
            return NULL;
        }
        break;
    }
    }
    if (!p && errno != ENOMEM) stress_fail("allocation %u of %zu B returned NULL with errno %d, not ENOMEM", how % 4, size, errno);
    return p;
}

/* Fill until the allocator says no. Returns the bytes handed out. */
static size_t fill(rng_t *r, size_t lo, size_t hi, size_t cap)
{
    size_t bytes = 0;
    unsigned failures = 0;
    while (nheld < MAX_BLOCKS && bytes < cap) {
        size_t size = (size_t)rng_range(r, lo, hi), align;
        unsigned how = (unsigned)rng_below(r, 4);
        void *p = try_alloc(how, size, &align);
        if (!p) {
            if (++failures == 8) return bytes;   /* several calls in a row said no */
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
    /* Find a live block and ask for far more than the limit allows. */
    for (size_t i = 0; i < nheld; i++) {
        if (!held[i].p) continue;
        errno = 0;
        void *q = API(realloc)(held[i].p, 2 * HEADROOM);
        if (q) {   /* possible if mremap found room; then it is just a resize */
            canary_check_as(q, (uintptr_t)held[i].p, held[i].size, held[i].size, "realloc under pressure");
            canary_fill(q, held[i].size);
            held[i].p = q;
            return;
        }
        if (errno != ENOMEM) stress_fail("realloc under pressure: errno %d, not ENOMEM", errno);
        canary_check(held[i].p, held[i].size, "block after a failed realloc");
        return;
    }
}

/* ---- Several threads at once ------------------------------------------------------------------ */
#define PRESSURE_THREADS 3
static _Atomic size_t pressure_bytes;
static _Atomic unsigned pressure_nulls;
static pthread_barrier_t pressure_go;   /* the limit is set while the threads wait here */

static void *pressure_thread(void *arg)
{
    rng_t r = rng_for(opt.seed, 50 + (uintptr_t)arg);
    enum { N = 4096 };
    held_t *mine = mmap(NULL, N * sizeof *mine, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mine == MAP_FAILED) stress_fail("mmap for the thread's table");
    pthread_barrier_wait(&pressure_go);
    size_t n = 0, bytes = 0;
    unsigned nulls = 0;
    while (n < N && nulls < 64 && bytes < HEADROOM) {
        size_t size = rng_size(&r), align;
        void *p = try_alloc((unsigned)rng_below(&r, 4), size, &align);
        if (!p) { nulls++; continue; }
        stamp_new(p, size, align, "threaded allocation under pressure");
        mine[n++] = (held_t){ p, size };
        bytes += size;
    }
    for (size_t i = 0; i < n; i++) canary_check(mine[i].p, mine[i].size, "threaded block under pressure");
    for (size_t i = 0; i < n; i++) free_checked(mine[i].p, mine[i].size, "threaded free");
    atomic_fetch_add(&pressure_bytes, bytes);
    atomic_fetch_add(&pressure_nulls, nulls);
    munmap(mine, N * sizeof *mine);
    stress_count(n);
    return NULL;
}

static void note(const char *fmt, ...)
{
    char buf[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 1) n = (int)sizeof buf - 1;
    ssize_t unused = write(STDOUT_FILENO, buf, (size_t)n);
    (void)unused;
}

int main(int argc, char **argv)
{
    stress_parse(argc, argv, "stress_oom_rlimit_as",
                 (stress_opts_t){ .threads = PRESSURE_THREADS, .ops = 3, .seconds = 60, .seed = 5 });
#if STRESS_TSAN
    printf("%s: skipped under TSan: its runtime maps memory for every new synchronisation object and "
           "dies when that mmap fails\n", stress_name);
    return 77;
#endif
    stress_start();
    held = mmap(NULL, MAX_BLOCKS * sizeof *held, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (held == MAP_FAILED) stress_fail("mmap for the block table");

    /* Warm up: initialise, start the refill thread, touch every size. */
    rng_t r = rng_for(opt.seed, 0);
    for (int i = 0; i < 20000; i++) {
        size_t n = rng_size(&r);
        free_checked(alloc_any(&r, n), n, "warm-up");
    }
    struct rlimit saved;
    getrlimit(RLIMIT_AS, &saved);
    fflush(stdout);

    for (uint64_t round = 0; stress_continue(round); round++) {
        stress_set_phase("small blocks under pressure");
        set_limit(vm_size() + HEADROOM);
        size_t got = fill(&r, 1, 1024, SMALL_CAP);
        STRESS_CHECK(got > 0, "no small block at all under the limit");
        realloc_fails_cleanly();
        check_all("small block under pressure");
        free_half();
        size_t again = fill(&r, 1, 1024, 4 * MiB);
        STRESS_CHECK(again > 0, "small allocation did not resume after frees");
        check_all("small block after resuming");
        free_all();
        set_limit(saved.rlim_cur);
        note("%s: round %" PRIu64 ": small: %zu KiB before the first NULL, %zu KiB after freeing half\n", stress_name,
             round, got >> 10, again >> 10);

        stress_set_phase("large blocks under pressure");
        set_limit(vm_size() + HEADROOM);
        got = fill(&r, 64 * KiB, MiB, 4 * HEADROOM);
        STRESS_CHECK(got > 0, "no large block at all under the limit");
        realloc_fails_cleanly();
        check_all("large block under pressure");
        free_half();
        again = fill(&r, 64 * KiB, MiB, 8 * MiB);
        STRESS_CHECK(again > 0, "large allocation did not resume after frees");
        check_all("large block after resuming");
        free_all();
        set_limit(saved.rlim_cur);
        note("%s: round %" PRIu64 ": large: %zu KiB before the first NULL, %zu KiB after freeing half\n", stress_name,
             round, got >> 10, again >> 10);

        stress_set_phase("threads under pressure");
        pthread_t t[64];
        unsigned nt = opt.threads > 64 ? 64 : opt.threads;
        atomic_store(&pressure_bytes, 0);
        atomic_store(&pressure_nulls, 0);
        /* The threads exist (stacks mapped) before the limit is set; they share one headroom. */
        pthread_barrier_init(&pressure_go, NULL, nt + 1);
        for (unsigned i = 0; i < nt; i++)
            if (pthread_create(&t[i], NULL, pressure_thread, (void *)(uintptr_t)i)) stress_fail("pthread_create");
        set_limit(vm_size() + HEADROOM);
        pthread_barrier_wait(&pressure_go);
        join_all(t, nt);
        pthread_barrier_destroy(&pressure_go);
        set_limit(saved.rlim_cur);
        hak_trim();
        note("%s: round %" PRIu64 ": threads: %zu KiB, %u NULLs\n", stress_name, round,
             atomic_load(&pressure_bytes) >> 10, atomic_load(&pressure_nulls));
        stress_count(1);
    }
    /* After the pressure, everything works as before. */
    for (int i = 0; i < 20000; i++) {
        size_t n = rng_size(&r);
        free_checked(alloc_any(&r, n), n, "after the pressure");
    }
    return stress_report();
}
