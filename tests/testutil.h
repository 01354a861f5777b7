/* testutil.h: small helpers shared by the hakmem tests: process memory and CPU readings from
 * /proc and getrusage, a deterministic PRNG, block fill/verify patterns, and a child-process
 * runner that captures output. Everything is static; include it once per test. */
#ifndef HAK_TEST_UTIL_H
#define HAK_TEST_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define KiB ((size_t)1024)
#define MiB ((size_t)1024 * 1024)

/* ---- Process memory ------------------------------------------------------------------------ */

/* Field `index` of /proc/self/statm (0 = VmSize, 1 = resident), in bytes. Reads with plain
 * read(2): stdio would allocate a buffer through the allocator under test. */
static inline size_t statm_field(int index)
{
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open /proc/self/statm: %s", strerror(errno));
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CHECK(n > 0, "read /proc/self/statm");
    buf[n] = '\0';
    char *p = buf;
    unsigned long v = 0;
    for (int i = 0; i <= index; i++)
        v = strtoul(p, &p, 10);
    return (size_t)v * (size_t)sysconf(_SC_PAGESIZE);
}

static inline size_t rss_bytes(void) { return statm_field(1); }
static inline size_t vm_bytes(void) { return statm_field(0); }

static inline double mib(size_t bytes) { return (double)bytes / (double)MiB; }

/* User + system CPU time of the whole process (all threads), seconds. */
static inline double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static inline long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* Monotonic seconds: only for bounding how long a test polls for something, never as a verdict. */
static inline double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* ---- Waiting for something asynchronous ---------------------------------------------------- *
 *
 * The rule (docs/testing.md): a test that needs something asynchronous to have happened (the
 * refill thread started, a purge done, a thread past a point) polls for the condition itself, with
 * a deadline long enough for a slow, loaded machine, and when it gives up says what it waited for
 * and the last value it saw. The deadline only ends a failing run: a passing run stops polling as
 * soon as the condition holds, so how long it took is never a verdict.
 *
 * HAKMEM_TEST_DEADLINE_SECONDS overrides the default of 60 s (e.g. longer under valgrind). */
#define HAK_TEST_DEADLINE_DEFAULT 60.0

static inline double test_deadline_seconds(void)
{
    const char *v = getenv("HAKMEM_TEST_DEADLINE_SECONDS");
    double d = v ? strtod(v, NULL) : 0.0;
    return d > 0 ? d : HAK_TEST_DEADLINE_DEFAULT;
}

/* Polls RSS every 20 ms until it is at most `want` bytes or the deadline passes. Returns the last
 * reading; *waited (if not NULL) gets the seconds spent. The caller CHECKs the result and so
 * reports the last value. */
static inline size_t wait_rss_at_most(size_t want, double deadline_s, double *waited)
{
    double start = now_seconds();
    size_t rss;
    while ((rss = rss_bytes()) > want && now_seconds() - start < deadline_s)
        sleep_ms(20);
    if (waited)
        *waited = now_seconds() - start;
    return rss;
}

/* ---- Deterministic pseudo-random numbers (xorshift64*) ------------------------------------- */

static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [lo, hi]. */
static inline size_t rng_range(uint64_t *s, size_t lo, size_t hi)
{
    return lo + (size_t)(rng_next(s) % (uint64_t)(hi - lo + 1));
}

/* A size drawn from a mix that looks like real programs: mostly small, some medium, rarely up
 * to the largest small class (40000 B covers every class). */
static inline size_t rng_size_mix(uint64_t *s)
{
    unsigned r = (unsigned)(rng_next(s) % 100);
    if (r < 70) return rng_range(s, 1, 256);
    if (r < 92) return rng_range(s, 257, 4096);
    return rng_range(s, 4097, 40000);
}

/* ---- Block patterns ------------------------------------------------------------------------ */

/* The byte at offset i of a block filled with seed `seed`. Depends on the offset so that a block
 * shifted or overlapped by another shows up. */
static inline unsigned char pattern_byte(uint64_t seed, size_t i)
{
    return (unsigned char)((seed * 131u) ^ (i * 7u) ^ (i >> 8));
}

static inline void pattern_fill(void *p, size_t n, uint64_t seed)
{
    unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        b[i] = pattern_byte(seed, i);
}

/* Returns the first offset that differs from the pattern, or n if all match. */
static inline size_t pattern_check(const void *p, size_t n, uint64_t seed)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        if (b[i] != pattern_byte(seed, i))
            return i;
    return n;
}

/* Sparse version for big blocks: the first and last 64 bytes of every 4 KiB page, and the last 64
 * bytes of the block. Every byte written has the value pattern_byte gives for its offset, so a
 * prefix of a filled block (after a shrinking realloc) can be checked too: pass with_tail = 0 when
 * n is shorter than the length that was filled. */
static inline int sparse_byte(size_t i) { return (i & 4095) < 64 || (i & 4095) >= 4032; }

static inline void pattern_fill_sparse(void *p, size_t n, uint64_t seed)
{
    unsigned char *b = p;
    for (size_t off = 0; off < n; off += 4096) {
        size_t end = off + 4096 < n ? off + 4096 : n;
        for (size_t i = off; i < end && i < off + 64; i++)
            b[i] = pattern_byte(seed, i);
        for (size_t i = end > off + 64 ? end - 64 : off; i < end; i++)
            if (sparse_byte(i) || end == n)
                b[i] = pattern_byte(seed, i);
    }
}

/* Returns the first offset that differs, or n if all checked bytes match. */
static inline size_t pattern_check_sparse_ex(const void *p, size_t n, uint64_t seed, int with_tail)
{
    const unsigned char *b = p;
    for (size_t off = 0; off < n; off += 4096) {
        size_t end = off + 4096 < n ? off + 4096 : n;
        for (size_t i = off; i < end && i < off + 64; i++)
            if (b[i] != pattern_byte(seed, i))
                return i;
        for (size_t i = end > off + 64 ? end - 64 : off; i < end; i++)
            if ((sparse_byte(i) || (with_tail && end == n)) && b[i] != pattern_byte(seed, i))
                return i;
    }
    return n;
}

static inline size_t pattern_check_sparse(const void *p, size_t n, uint64_t seed)
{
    return pattern_check_sparse_ex(p, n, seed, 1);
}

/* ---- Child processes ----------------------------------------------------------------------- */

/* The absolute path of this executable (for re-running it as a child in another mode). */
static inline const char *self_exe(void)
{
    static char path[4096];
    if (path[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        CHECK(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
        path[n] = '\0';
    }
    return path;
}

struct child_result {
    int status;       /* as from waitpid */
    char out[65536];  /* stdout, NUL-terminated, truncated if longer */
    char err[65536];  /* stderr, NUL-terminated, truncated if longer */
};

/* Runs argv[0] (a path) with environment envp, stdin from /dev/null, and captures its stdout and
 * stderr. envp NULL keeps the current environment. */
static inline void run_child(char *const argv[], char *const envp[], struct child_result *r)
{
    int po[2], pe[2];
    CHECK(pipe2(po, O_CLOEXEC) == 0 && pipe2(pe, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        if (envp)
            execve(argv[0], argv, envp);
        else
            execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    size_t no = 0, ne = 0;
    struct pollfd fds[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            CHECK(errno == EINTR, "poll: %s", strerror(errno));
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char tmp[4096];
            ssize_t n = read(fds[i].fd, tmp, sizeof tmp);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            char *dst = i == 0 ? r->out : r->err;
            size_t *len = i == 0 ? &no : &ne;
            size_t room = sizeof r->out - 1 - *len;
            size_t k = (size_t)n < room ? (size_t)n : room;
            memcpy(dst + *len, tmp, k);
            *len += k;
        }
    }
    r->out[no] = '\0';
    r->err[ne] = '\0';
    while (waitpid(pid, &r->status, 0) < 0)
        CHECK(errno == EINTR, "waitpid: %s", strerror(errno));
}

/* A readable description of a wait status, in a static buffer. */
static inline const char *describe_status(int status)
{
    static char buf[96];
    if (WIFEXITED(status))
        snprintf(buf, sizeof buf, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, sizeof buf, "killed by signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else
        snprintf(buf, sizeof buf, "wait status 0x%x", status);
    return buf;
}

#endif /* HAK_TEST_UTIL_H */
