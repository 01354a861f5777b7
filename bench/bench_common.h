/* bench_common.h: helpers shared by the benchmark programs (larson, workloads, latency).
 *
 * The programs use only the standard malloc API; the allocator under test is chosen at run time
 * with LD_PRELOAD. Everything here is static and header-only so each program is one .c file.
 *
 * Every program ends with one machine-readable line, parsed by bench/lib.sh:
 *
 *   RESULT bench=NAME threads=T unit=U ops=N wall_s=W cpu_s=C ops_per_s=N/W ops_per_cpu_s=N/C
 *          maxrss_kb=K minflt=F cpu_all_s=C2 minflt_all=F2 [extra key=value ...]
 *
 * wall_s, cpu_s (user+sys of all threads, live or exited: getrusage RUSAGE_SELF) and minflt cover
 * the measured phase only (an end-of-phase sample minus a start-of-phase sample); cpu_all_s and
 * minflt_all cover the whole process up to the end of the measured phase (start-up, warm-up).
 * maxrss_kb is the process's peak resident set (ru_maxrss), whole run. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define BENCH_CACHE_LINE 64

/* ---- Time and resource usage ------------------------------------------------------------------ */

static inline double bench_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Sleeps for `seconds`, resuming after signals. */
static inline void bench_sleep(double seconds)
{
    struct timespec ts;
    if (seconds <= 0)
        return;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

typedef struct bench_usage {
    double wall;    /* monotonic clock, seconds           */
    double cpu;     /* user + sys of the process, seconds */
    long minflt;    /* minor page faults of the process   */
    long maxrss_kb; /* peak resident set, KiB             */
} bench_usage_t;

static inline bench_usage_t bench_usage_now(void)
{
    struct rusage ru;
    bench_usage_t u;
    getrusage(RUSAGE_SELF, &ru);
    u.wall = bench_now();
    u.cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
            (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
    u.minflt = ru.ru_minflt;
    u.maxrss_kb = ru.ru_maxrss;
    return u;
}

/* Prints the RESULT line (see the top of this file). `extra` is "" or more " key=value" pairs. */
static inline void bench_print_result(const char *bench, int threads, const char *unit, uint64_t ops,
                               const bench_usage_t *start, const bench_usage_t *end,
                               const char *extra)
{
    double wall = end->wall - start->wall;
    double cpu = end->cpu - start->cpu;
    printf("RESULT bench=%s threads=%d unit=%s ops=%llu wall_s=%.4f cpu_s=%.4f ops_per_s=%.0f "
           "ops_per_cpu_s=%.0f maxrss_kb=%ld minflt=%ld cpu_all_s=%.4f minflt_all=%ld%s\n",
           bench, threads, unit, (unsigned long long)ops, wall, cpu,
           wall > 0 ? (double)ops / wall : 0.0, cpu > 0 ? (double)ops / cpu : 0.0,
           end->maxrss_kb, end->minflt - start->minflt, end->cpu, end->minflt,
           extra ? extra : "");
    fflush(stdout);
}

/* ---- Random numbers ---------------------------------------------------------------------------- */
/* The one generator of the tests and benchmarks (xorshift64* seeded by splitmix64): rng_for,
 * rng_next, rng_below, rng_range, rng_log_range. Included by relative path: a benchmark needs no
 * include directory and links nothing of the tests. Its algorithm is fixed, so the benchmarks draw
 * the same sequences as before it moved there. */
#include "../tests/support/rng.h"

/* ---- Misc ------------------------------------------------------------------------------------- */

static inline void bench_die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(2);
}

static inline void *bench_xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p)
        bench_die("out of memory");
    return p;
}

/* Keeps the compiler from proving a block unused (and deleting a malloc/free pair). */
static inline void bench_escape(void *p)
{
    __asm__ volatile("" : : "r"(p) : "memory");
}

/* When set (workloads -P), bench_touch also writes one byte in every 4 KiB of the block, so the
 * cost of first-touch page faults lands on the application as it would for a real program that
 * fills its buffers. Off by default (Larson writes only a couple of bytes). */
static int bench_touch_pages;

/* Writes a couple of bytes into a fresh block, as Larson does (and every page with -P). */
static inline void bench_touch(void *p, size_t size, unsigned char v)
{
    unsigned char *c = (unsigned char *)p;
    c[0] = v;
    c[size > 1 ? 1 : 0] = (unsigned char)(v + 1);
    if (bench_touch_pages) {
        size_t off;
        for (off = 4096; off < size; off += 4096)
            c[off] = v;
    }
}

/* Parses a non-negative number or dies with the option's name. */
static inline double bench_parse_double(const char *s, const char *name)
{
    char *end;
    double v;
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || *end || v < 0) {
        fprintf(stderr, "bench: bad value '%s' for %s\n", s, name);
        exit(2);
    }
    return v;
}

/* Accepts an optional K/M/G suffix (powers of 1024). */
static inline uint64_t bench_parse_size(const char *s, const char *name)
{
    char *end;
    unsigned long long v;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || end == s || s[0] == '-')
        goto bad;
    if (*end == 'k' || *end == 'K')
        v <<= 10, end++;
    else if (*end == 'm' || *end == 'M')
        v <<= 20, end++;
    else if (*end == 'g' || *end == 'G')
        v <<= 30, end++;
    if (*end)
        goto bad;
    return v;
bad:
    fprintf(stderr, "bench: bad value '%s' for %s\n", s, name);
    exit(2);
}

/* ---- Thread chains ------------------------------------------------------------------------------
 * A chain is a sequence of threads working on the same state, one alive at a time: each starts its
 * successor (detached) and exits. The main thread waits until every chain has seen the stop flag. */

typedef struct bench_chains {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;          /* chains finished, under mu */
    uint64_t spawn_failures; /* pthread_create failures (the thread then continues itself), under mu */
} bench_chains_t;

static inline void bench_chains_init(bench_chains_t *c)
{
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->done = 0;
    c->spawn_failures = 0;
}

/* Starts `fn(arg)` on a detached thread. Returns 0 on success. */
static inline int bench_spawn_detached(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    pthread_attr_t a;
    int rc;
    pthread_attr_init(&a);
    pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&t, &a, fn, arg);
    pthread_attr_destroy(&a);
    return rc;
}

static inline void bench_chains_finish_one(bench_chains_t *c)
{
    pthread_mutex_lock(&c->mu);
    c->done++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

static inline void bench_chains_spawn_failed(bench_chains_t *c)
{
    pthread_mutex_lock(&c->mu);
    c->spawn_failures++;
    pthread_mutex_unlock(&c->mu);
}

static inline void bench_chains_wait(bench_chains_t *c, int n)
{
    pthread_mutex_lock(&c->mu);
    while (c->done < n)
        pthread_cond_wait(&c->cv, &c->mu);
    pthread_mutex_unlock(&c->mu);
}

#endif /* BENCH_COMMON_H */
