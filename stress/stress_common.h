/* stress_common.h: what every stress program shares.
 *
 *  - API(fn): one source, two builds. By default the standard names (malloc, free, ...) and the
 *    program is linked to libhakmem.so, whose malloc replaces libc's. With HAK_STRESS_PREFIXED the
 *    names are hak_malloc, hak_free, ... and the program is linked to libhakmem_prefixed.a: the only
 *    way to reach hakmem in a TSan or ASan build, where the sanitizer owns malloc.
 *  - Canaries: every block is filled with a pattern derived from its address and requested size
 *    and checked before it is freed or resized, so a block handed out twice, a stale free-list
 *    link written into a live block, or a bad realloc copy is seen at the next check.
 *  - Bounds: a fixed seed, an operation budget and a time budget (whichever ends first), a watchdog
 *    that aborts when no thread makes progress for a long time (a hang, not a slow run), and a soak
 *    mode that lifts the operation budget and runs for a given time.
 *  - The final line: operation count, ops/s and peak RSS. Any corruption or unexpected NULL prints
 *    FAIL and aborts, so the exit status is non-zero.
 *
 * Options (command line, then environment, then the program's defaults):
 *   --threads N   HAKMEM_STRESS_THREADS     worker threads
 *   --ops N       HAKMEM_STRESS_OPS         operations per worker (0: no operation budget)
 *   --seconds S   HAKMEM_STRESS_SECONDS     time budget of the whole run
 *   --seed N      HAKMEM_STRESS_SEED        PRNG seed (each thread derives its own)
 *   --soak S      HAKMEM_STRESS_SOAK_SECONDS  soak: run for S seconds with no operation budget;
 *                                           overrides --ops and --seconds
 *   HAKMEM_STRESS_WATCHDOG=S  abort when no progress for S seconds (default 120; 0 disables)
 */
#ifndef HAK_STRESS_COMMON_H
#define HAK_STRESS_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <inttypes.h>
#include <malloc.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "hakmem.h"

/* ---- Which entry points ------------------------------------------------------------------------ */
#if defined(HAK_STRESS_PREFIXED)
#define API(fn) hak_##fn
#define STRESS_API_NAME "hak_*"
#else
#define API(fn) fn
#define STRESS_API_NAME "malloc"
#endif

/* Which sanitizer this program is compiled with (gcc and clang spell it differently). */
#if defined(__SANITIZE_THREAD__)
#define STRESS_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#define STRESS_ASAN 1
#endif
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) && !defined(STRESS_TSAN)
#define STRESS_TSAN 1
#endif
#if __has_feature(address_sanitizer) && !defined(STRESS_ASAN)
#define STRESS_ASAN 1
#endif
#endif
#ifndef STRESS_TSAN
#define STRESS_TSAN 0
#endif
#ifndef STRESS_ASAN
#define STRESS_ASAN 0
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static const char *stress_name = "stress";

/* ---- Failing --------------------------------------------------------------------------------- */
/* Report and abort. Corruption may have damaged the heap, so this formats into a stack buffer and
 * writes with write(2): no allocation on the way out. */
static __attribute__((unused)) void stress_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static __attribute__((unused)) void stress_fail(const char *fmt, ...)
{
    char buf[1024];
    int n = snprintf(buf, sizeof buf, "FAIL %s [%s]: ", stress_name, STRESS_API_NAME);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t unused = write(STDERR_FILENO, buf, (size_t)n);
    (void)unused;
    abort();
}

#define STRESS_CHECK(cond, ...) \
    do { if (!(cond)) stress_fail(__VA_ARGS__); } while (0)

/* ---- PRNG: splitmix64, one state per thread ----------------------------------------------------- */
typedef struct rng { uint64_t s; } rng_t;

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rng_below(rng_t *r, uint64_t n) { return n ? rng_next(r) % n : 0; }
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi) { return lo + rng_below(r, hi - lo + 1); }
static inline rng_t rng_for(uint64_t seed, uint64_t stream)
{
    rng_t r = { seed ^ (stream * 0xd1b54a32d192ed03ull) };
    rng_next(&r);
    return r;
}

/* Sizes: mostly 8..1024 B (with some 1..7 B), some up to 32 KiB, a few up to 1 MiB. */
static inline size_t rng_size(rng_t *r)
{
    uint64_t x = rng_below(r, 1000);
    if (x < 30) return (size_t)rng_range(r, 1, 7);
    if (x < 500) return (size_t)rng_range(r, 8, 128);
    if (x < 860) return (size_t)rng_range(r, 129, 1024);
    if (x < 985) return (size_t)rng_range(r, 1025, 32 * KiB);
    return (size_t)rng_range(r, 32 * KiB + 1, MiB);
}

/* ---- Canaries -------------------------------------------------------------------------------- */
/* The pattern of a block is a function of (address, requested size). Blocks up to DENSE_MAX are
 * covered entirely; larger ones on their first and last EDGE bytes and one word per STRIDE in
 * between (a 1 MiB block stays cheap, and a page that was purged or handed out twice still shows). */
#define CANARY_DENSE_MAX (64 * KiB)
#define CANARY_EDGE      (4 * KiB)
#define CANARY_STRIDE    (4 * KiB)

static inline uint64_t canary_key(const void *addr, size_t size)
{
    uint64_t z = (uint64_t)(uintptr_t)addr * 0x9e3779b97f4a7c15ull ^ (uint64_t)size * 0xc2b2ae3d27d4eb4full;
    z = (z ^ (z >> 29)) * 0xbf58476d1ce4e5b9ull;
    return z ^ (z >> 32) ^ 0x5a5a5a5a5a5a5a5aull;
}

static inline uint64_t canary_word(uint64_t key, size_t off)
{
    return key ^ ((uint64_t)off * 0xff51afd7ed558ccdull) ^ ((uint64_t)off << 40);
}

/* Is the 8-byte word at `off` part of the pattern of a block of `size` bytes? */
static inline bool canary_covers(size_t size, size_t off)
{
    if (size <= CANARY_DENSE_MAX) return true;
    return off < CANARY_EDGE || off + CANARY_EDGE >= size || off % CANARY_STRIDE == 0;
}

/* The next covered word offset after `off`. */
static inline size_t canary_next(size_t size, size_t off)
{
    off += 8;
    if (size <= CANARY_DENSE_MAX || off < CANARY_EDGE || off + CANARY_EDGE >= size) return off;
    size_t next = (off + CANARY_STRIDE - 1) / CANARY_STRIDE * CANARY_STRIDE;
    size_t edge = (size - CANARY_EDGE) & ~(size_t)7;
    return next < edge ? next : edge;
}

static __attribute__((unused)) void canary_fill(void *p, size_t size)
{
    unsigned char *b = p;
    uint64_t key = canary_key(p, size);
    size_t off = 0;
    for (; off + 8 <= size; off = canary_next(size, off)) {
        uint64_t w = canary_word(key, off);
        memcpy(b + off, &w, 8);
    }
    if (off < size) {   /* the last partial word: size % 8 bytes */
        uint64_t w = canary_word(key, off);
        memcpy(b + off, &w, size - off);
    }
}

/* Checks the first `len` bytes of block `p` against the pattern that block (`orig`, `orig_size`)
 * was filled with: orig == p, len == orig_size for a plain check; after realloc, p is the new
 * block and len the bytes realloc must have preserved. */
static __attribute__((unused)) void canary_check_as(const void *p, uintptr_t orig, size_t orig_size, size_t len, const char *what)
{
    const unsigned char *b = p;
    uint64_t key = canary_key((const void *)orig, orig_size);
    size_t off = 0;
    for (; off + 8 <= len; off = canary_next(orig_size, off)) {
        uint64_t w;
        memcpy(&w, b + off, 8);
        if (w != canary_word(key, off))
            stress_fail("%s: block %p (size %zu, from %#lx) corrupted at offset %zu: %016" PRIx64
                        " expected %016" PRIx64, what, p, orig_size, (unsigned long)orig, off, w, canary_word(key, off));
    }
    if (off < len && canary_covers(orig_size, off & ~(size_t)7)) {
        uint64_t want = canary_word(key, off), got = 0;
        memcpy(&got, b + off, len - off);
        size_t nbytes = len - off;
        uint64_t mask = nbytes >= 8 ? ~0ull : ((1ull << (8 * nbytes)) - 1);
        if ((got & mask) != (want & mask))
            stress_fail("%s: block %p (size %zu) corrupted in its last bytes at offset %zu", what, p,
                        orig_size, off);
    }
}

static inline void canary_check(const void *p, size_t size, const char *what)
{
    canary_check_as(p, (uintptr_t)p, size, size, what);
}

static __attribute__((unused)) void check_zeroed(const void *p, size_t size, const char *what)
{
    const unsigned char *b = p;
    for (size_t off = 0; off < size; off = off + 8 <= size ? canary_next(size, off) : size) {
        size_t n = size - off < 8 ? size - off : 8;
        uint64_t w = 0;
        memcpy(&w, b + off, n);
        if (w) stress_fail("%s: %p (size %zu) not zeroed at offset %zu", what, p, size, off);
    }
}

/* ---- Allocation helpers that check what they get -------------------------------------------------- */
static inline size_t stress_usable(void *p) { return API(malloc_usable_size)(p); }

/* A block just handed out: not NULL, usable size, alignment, then stamped with its canary. */
static __attribute__((unused)) void stamp_new(void *p, size_t size, size_t align, const char *what)
{
    if (p == NULL) stress_fail("%s(%zu) returned NULL (errno %d)", what, size, errno);
    size_t usable = stress_usable(p);
    if (usable < size) stress_fail("%s(%zu) = %p has usable size %zu", what, size, p, usable);
    if (align && ((uintptr_t)p & (align - 1)))
        stress_fail("%s(%zu, align %zu) = %p is misaligned", what, size, align, p);
    /* malloc's own guarantee: 16 bytes (max_align_t) for blocks that can hold one, 8 below. */
    if ((uintptr_t)p & (size >= 16 ? 15 : 7)) stress_fail("%s(%zu) = %p is not aligned for any type", what, size, p);
    canary_fill(p, size);
}

/* One of the allocation calls, chosen by r: malloc, calloc, aligned (three ways), realloc(NULL). */
static __attribute__((unused)) void *alloc_any(rng_t *r, size_t size)
{
    uint64_t how = rng_below(r, 100);
    void *p;
    size_t align = 0;
    const char *what;
    if (how < 60) {
        what = "malloc";
        p = API(malloc)(size);
    } else if (how < 75) {
        what = "calloc";
        size_t n = (size & 7) == 0 && size >= 8 ? size / 8 : size, each = size / n;
        p = API(calloc)(n, each);
        if (p) check_zeroed(p, size, "calloc");
    } else if (how < 95) {
        align = (size_t)1 << rng_range(r, 3, size > 64 * KiB ? 16 : 12);
        uint64_t which = rng_below(r, 3);
        if (which == 0) {
            what = "posix_memalign";
            int rc = API(posix_memalign)(&p, align, size);
            if (rc) stress_fail("posix_memalign(%zu, %zu) failed: %d", align, size, rc);
        } else if (which == 1) {
            what = "aligned_alloc";
            p = API(aligned_alloc)(align, size);
        } else {
            what = "memalign";
            p = API(memalign)(align, size);
        }
    } else {
        what = "realloc(NULL)";
        p = API(realloc)(NULL, size);
    }
    stamp_new(p, size, align, what);
    return p;
}

/* Check, then realloc to new_size: the old contents must survive up to the smaller size. */
static __attribute__((unused)) void *realloc_checked(void *p, size_t old_size, size_t new_size)
{
    canary_check(p, old_size, "before realloc");
    uintptr_t old_addr = (uintptr_t)p;   /* the old pattern's key; p itself is dead after realloc */
    void *q = API(realloc)(p, new_size);
    if (q == NULL) stress_fail("realloc(%p, %zu -> %zu) returned NULL (errno %d)", p, old_size, new_size, errno);
    canary_check_as(q, old_addr, old_size, old_size < new_size ? old_size : new_size, "after realloc");
    stamp_new(q, new_size, 0, "realloc");
    return q;
}

static inline void free_checked(void *p, size_t size, const char *what)
{
    canary_check(p, size, what);
    API(free)(p);
}

/* ---- Handing blocks between threads --------------------------------------------------------------- */
/* A block and its size packed in one word, so an exchange slot is a single atomic: user-space
 * addresses fit in 47 bits and blocks are 8-aligned, which leaves 20 bits for a size < 1 MiB. */
#define PACK_MAX_SIZE ((size_t)1 << 20)

static inline uint64_t pack_block(void *p, size_t size)
{
    uintptr_t a = (uintptr_t)p;
    if (a >> 47 || (a & 7) || size >= PACK_MAX_SIZE) stress_fail("cannot pack %p size %zu", p, size);
    return (uint64_t)(a >> 3) | ((uint64_t)size << 44);
}

static inline void *packed_ptr(uint64_t v) { return (void *)(uintptr_t)((v & ((1ull << 44) - 1)) << 3); }
static inline size_t packed_size(uint64_t v) { return (size_t)(v >> 44); }

/* ---- Options, progress, watchdog, report -------------------------------------------------------------- */
typedef struct stress_opts {
    unsigned threads;
    uint64_t ops;          /* per worker; 0 = no budget (soak) */
    double   seconds;      /* time budget of the whole run */
    uint64_t seed;
    bool     soak;
} stress_opts_t;

static stress_opts_t opt;
static _Atomic uint64_t stress_progress;   /* operations done by all threads so far */
static _Atomic int stress_stop_flag;       /* set when the time budget is spent */
static struct timespec stress_t0;
static double watchdog_seconds = 120;
static _Atomic(const char *) stress_phase = "start";
static _Atomic uint64_t stress_phase_end_ms;   /* 0: the phase has no time limit of its own */
static _Atomic int stress_phase_over;

static __attribute__((unused)) double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static inline bool stress_stopping(void) { return atomic_load_explicit(&stress_stop_flag, memory_order_relaxed); }
static inline bool stress_phase_done(void)
{
    return stress_stopping() || atomic_load_explicit(&stress_phase_over, memory_order_relaxed);
}
static inline void stress_count(uint64_t n) { atomic_fetch_add_explicit(&stress_progress, n, memory_order_relaxed); }
static inline void stress_set_phase(const char *p) { atomic_store_explicit(&stress_phase, p, memory_order_relaxed); }

/* A phase that also ends after `seconds` (0: only the run's budgets end it). */
static __attribute__((unused)) void stress_begin_phase(const char *p, double seconds)
{
    stress_set_phase(p);
    atomic_store(&stress_phase_over, 0);
    atomic_store(&stress_phase_end_ms, seconds > 0 ? (uint64_t)((now_seconds() + seconds) * 1000) : 0);
}

/* Does this worker go on? Stops at the operation budget or when time is up. */
static inline bool stress_continue(uint64_t done) { return (opt.ops == 0 || done < opt.ops) && !stress_phase_done(); }

static __attribute__((unused)) uint64_t env_u64(const char *name, uint64_t def)
{
    const char *s = getenv(name);
    if (!s || !*s) return def;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    if (*end) {
        fprintf(stderr, "%s: ignoring bad %s='%s'\n", stress_name, name, s);
        return def;
    }
    return v;
}

static __attribute__((unused)) void stress_usage(void)
{
    fprintf(stderr, "usage: %s [--threads N] [--ops N] [--seconds S] [--seed N] [--soak S]\n", stress_name);
    exit(2);
}

static __attribute__((unused)) void stress_parse(int argc, char **argv, const char *name, stress_opts_t defaults)
{
    stress_name = name;
    opt = defaults;
    opt.threads = (unsigned)env_u64("HAKMEM_STRESS_THREADS", opt.threads);
    opt.ops = env_u64("HAKMEM_STRESS_OPS", opt.ops);
    opt.seconds = (double)env_u64("HAKMEM_STRESS_SECONDS", (uint64_t)opt.seconds);
    opt.seed = env_u64("HAKMEM_STRESS_SEED", opt.seed);
    uint64_t soak = env_u64("HAKMEM_STRESS_SOAK_SECONDS", 0);
    watchdog_seconds = (double)env_u64("HAKMEM_STRESS_WATCHDOG", (uint64_t)watchdog_seconds);
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc) stress_usage();
        char *end;
        unsigned long long v = strtoull(argv[i + 1], &end, 0);
        if (*end) stress_usage();
        if (!strcmp(argv[i], "--threads")) opt.threads = (unsigned)v;
        else if (!strcmp(argv[i], "--ops")) opt.ops = v;
        else if (!strcmp(argv[i], "--seconds")) opt.seconds = (double)v;
        else if (!strcmp(argv[i], "--seed")) opt.seed = v;
        else if (!strcmp(argv[i], "--soak")) soak = v;
        else stress_usage();
    }
    if (soak) {
        opt.soak = true;
        opt.ops = 0;
        opt.seconds = (double)soak;
    }
    if (opt.threads == 0) opt.threads = 1;
    if (opt.seconds <= 0) opt.seconds = 1;
}

/* The timer and watchdog thread: sets the stop flag when the time budget is spent, and aborts
 * when the progress counter stands still for watchdog_seconds (a deadlock or livelock). */
static void *stress_timer(void *arg)
{
    (void)arg;
    uint64_t last = 0;
    double last_change = now_seconds(), start = last_change;
    for (;;) {
        struct timespec ts = { 0, 50 * 1000 * 1000 };
        nanosleep(&ts, NULL);
        double now = now_seconds();
        if (now - start >= opt.seconds) atomic_store(&stress_stop_flag, 1);
        uint64_t end = atomic_load(&stress_phase_end_ms);
        if (end && (uint64_t)(now * 1000) >= end) atomic_store(&stress_phase_over, 1);
        uint64_t p = atomic_load_explicit(&stress_progress, memory_order_relaxed);
        if (p != last) {
            last = p;
            last_change = now;
        } else if (watchdog_seconds > 0 && now - last_change > watchdog_seconds) {
            stress_fail("no progress for %.0f s in phase '%s' after %" PRIu64 " ops: hang", watchdog_seconds,
                        atomic_load(&stress_phase), p);
        }
    }
    return NULL;
}

/* In the standard-name build, make sure malloc really is hakmem's. */
static __attribute__((unused)) void stress_check_linked(void)
{
#if !defined(HAK_STRESS_PREFIXED)
    Dl_info info;
    void *(*volatile m)(size_t) = malloc;
    if (!dladdr((void *)m, &info) || !info.dli_fname || !strstr(info.dli_fname, "hakmem"))
        stress_fail("malloc resolves to %s, not libhakmem", info.dli_fname ? info.dli_fname : "?");
#endif
}

static __attribute__((unused)) void stress_start(void)
{
    stress_check_linked();
    clock_gettime(CLOCK_MONOTONIC, &stress_t0);
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    if (pthread_create(&t, &attr, stress_timer, NULL)) stress_fail("cannot start the timer thread");
    pthread_attr_destroy(&attr);
    printf("%s [%s]: threads=%u ops/thread=%" PRIu64 "%s seconds<=%.0f seed=%" PRIu64 "%s\n", stress_name,
           STRESS_API_NAME, opt.threads, opt.ops, opt.ops ? "" : " (unbounded)", opt.seconds, opt.seed,
           opt.soak ? " SOAK" : "");
    fflush(stdout);
}

static __attribute__((unused)) long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

/* The last line: operations, rate, peak RSS, and hakmem's view of it. */
static __attribute__((unused)) int stress_report(void)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - stress_t0.tv_sec) + (double)(t1.tv_nsec - stress_t0.tv_nsec) * 1e-9;
    uint64_t ops = atomic_load(&stress_progress);
    hak_stats_t s;
    hak_stats_get(&s);
    printf("%s [%s]: OK ops=%" PRIu64 " seconds=%.2f ops/s=%.0f peak_rss=%ld KiB%s\n", stress_name,
           STRESS_API_NAME, ops, secs, secs > 0 ? (double)ops / secs : 0.0, peak_rss_kib(),
           stress_stopping() ? " (stopped by the time budget)" : "");
    printf("  hakmem: mapped=%" PRIu64 " KiB refills ring=%" PRIu64 " sync=%" PRIu64 " daemon batches=%" PRIu64
           " wakeups=%" PRIu64 " superslabs mapped=%" PRIu64 " unmapped=%" PRIu64 " purges=%" PRIu64 "\n",
           s.bytes_mapped >> 10, s.refills_ring, s.refills_sync, s.daemon_batches, s.daemon_wakeups,
           s.superslabs_mapped_total, s.superslabs_unmapped_total, s.purges);
    fflush(stdout);
    return 0;
}

static __attribute__((unused)) void join_all(pthread_t *t, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (pthread_join(t[i], NULL)) stress_fail("pthread_join");
}

#endif /* HAK_STRESS_COMMON_H */
