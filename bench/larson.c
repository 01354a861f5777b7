/* larson: the Larson server benchmark (Larson and Krishnan, "Memory allocation for long-running
 * server applications", ISMM 1998), written from the paper's description.
 *
 *   larson seconds min_size max_size chunks_per_thread rounds seed threads
 *
 * Each of `threads` workers owns an array of `chunks_per_thread` slots. The main thread fills every
 * worker's slots with blocks of random size in [min_size, max_size] and then replaces random ones
 * (warm-up: as many replacements as slots). Timing then starts; each worker repeatedly frees a
 * uniformly random slot and allocates a new random size into it, writing a couple of bytes. After
 * rounds x chunks_per_thread replacements a worker starts a successor thread on the same slots and
 * exits, so successors free blocks allocated by threads that are gone (rounds 1: thread churn
 * dominates; rounds 100: steady state). After `seconds` the main thread raises a stop flag, waits for
 * every worker to see it, and reports allocations per second over the run.
 *
 * Output: a human line "Throughput = N operations per second" and the RESULT line of
 * bench_common.h, with extra fields threads_created and spawn_failures. */
#define _GNU_SOURCE
#include "bench_common.h"

#include <stdio.h>
#include <alloca.h>
#include <stdlib.h>

/* One worker's state, handed from each thread of the chain to its successor. Only the chain's live
 * thread touches it; pthread_create orders the predecessor's writes before the successor's reads. */
typedef struct lane {
    void **slots;
    uint64_t rng;
    uint64_t ops;             /* replacements done by all threads of this lane */
    uint64_t threads_created; /* threads of this lane, the first one included  */
    char pad[BENCH_CACHE_LINE];
} lane_t;

static size_t g_min, g_max, g_chunks;
static uint64_t g_rounds;
static bench_chains_t g_chains;

/* Raised by the main thread at the end of the run; read by every worker on each replacement, so it
 * sits alone on its cache line. */
static struct {
    _Alignas(BENCH_CACHE_LINE) atomic_int flag;
    char pad[BENCH_CACHE_LINE - sizeof(atomic_int)];
} g_stop;

static void *worker(void *arg);

static __attribute__((noinline)) void *worker_run(void *arg)
{
    lane_t *lane = arg;
    void **slots = lane->slots;
    uint64_t rng = lane->rng;
    uint64_t per_thread = g_rounds * g_chunks;

    for (;;) {
        uint64_t i;
        int stopped = 0;
        for (i = 0; i < per_thread; i++) {
            size_t k, size;
            unsigned char *p;
            if (atomic_load_explicit(&g_stop.flag, memory_order_relaxed)) {
                stopped = 1;
                break;
            }
            k = (size_t)rng_below(&rng, g_chunks);
            free(slots[k]);
            size = rng_range(&rng, g_min, g_max);
            p = malloc(size);
            if (!p)
                bench_die("malloc failed");
            bench_touch(p, size, (unsigned char)k);
            slots[k] = p;
        }
        lane->ops += i;
        lane->rng = rng;
        if (stopped) {
            bench_chains_finish_one(&g_chains);
            return NULL;
        }
        /* Hand the lane to a successor and exit; if no thread can be created, carry on here. */
        lane->threads_created++;
        if (bench_spawn_detached(worker, lane) == 0)
            return NULL;
        lane->threads_created--;
        bench_chains_spawn_failed(&g_chains);
    }
}

/* Where a thread's stack frames sit within a 4 KiB page moves this benchmark by up to 40%, for every
 * allocator, in 4 KiB cycles (Larson 8-1000 B x 5000 chunks, 2 threads, the stack moved with
 * GLIBC_TUNABLES=glibc.rtld.optional_static_tls: hakmem 62 or 89, tcmalloc 48-71, mimalloc 56-70 M
 * ops per CPU-second; docs/benchmarks.md). So each thread starts its frames at the next of 64
 * offsets, 64 bytes apart (37 is coprime with 64, so successive threads spread out), and a run
 * averages over them instead of drawing one by the program's and the allocator's TLS sizes. */
#define SKEW_OFFSETS 64
static atomic_uint g_skew_seq;

static void *worker(void *arg)
{
    unsigned n = atomic_fetch_add_explicit(&g_skew_seq, 1, memory_order_relaxed);
    volatile char *skew = alloca((size_t)(n * 37 % SKEW_OFFSETS) * BENCH_CACHE_LINE + 1);
    skew[0] = 0;
    return worker_run(arg);
}

static void usage(void)
{
    fprintf(stderr, "usage: larson seconds min_size max_size chunks_per_thread rounds seed threads\n"
                    "  e.g. larson 2 8 128 1024 100 12345 2\n");
    exit(2);
}

int main(int argc, char **argv)
{
    double seconds;
    uint64_t seed, ops = 0, created = 0;
    int threads, t;
    lane_t *lanes;
    bench_usage_t u0, u1;
    char extra[160];

    if (argc != 8)
        usage();
    seconds = bench_parse_double(argv[1], "seconds");
    g_min = (size_t)bench_parse_size(argv[2], "min_size");
    g_max = (size_t)bench_parse_size(argv[3], "max_size");
    g_chunks = (size_t)bench_parse_size(argv[4], "chunks_per_thread");
    g_rounds = bench_parse_size(argv[5], "rounds");
    seed = bench_parse_size(argv[6], "seed");
    threads = (int)bench_parse_size(argv[7], "threads");
    if (g_min < 1 || g_max < g_min || g_chunks < 1 || g_rounds < 1 || threads < 1 || threads > 4096)
        usage();

    bench_chains_init(&g_chains);
    lanes = bench_xmalloc(sizeof(lane_t) * (size_t)threads);

    /* Warm-up by the main thread: fill every lane, then replace as many random blocks. */
    for (t = 0; t < threads; t++) {
        lane_t *lane = &lanes[t];
        size_t k;
        memset(lane, 0, sizeof(*lane));
        lane->rng = rng_for(seed, (uint64_t)t);
        lane->slots = bench_xmalloc(sizeof(void *) * g_chunks);
        for (k = 0; k < g_chunks; k++) {
            size_t size = rng_range(&lane->rng, g_min, g_max);
            lane->slots[k] = bench_xmalloc(size);
            bench_touch(lane->slots[k], size, (unsigned char)k);
        }
    }
    for (t = 0; t < threads; t++) {
        lane_t *lane = &lanes[t];
        size_t n;
        for (n = 0; n < g_chunks; n++) {
            size_t k = (size_t)rng_below(&lane->rng, g_chunks);
            size_t size = rng_range(&lane->rng, g_min, g_max);
            free(lane->slots[k]);
            lane->slots[k] = bench_xmalloc(size);
            bench_touch(lane->slots[k], size, (unsigned char)k);
        }
    }

    u0 = bench_usage_now();
    for (t = 0; t < threads; t++) {
        lanes[t].threads_created = 1;
        if (bench_spawn_detached(worker, &lanes[t]) != 0)
            bench_die("cannot create the first worker threads");
    }
    bench_sleep(seconds);
    atomic_store_explicit(&g_stop.flag, 1, memory_order_relaxed);
    bench_chains_wait(&g_chains, threads);
    u1 = bench_usage_now();

    /* bench_chains_wait took the mutex each finishing worker released: their lane writes are visible. */
    for (t = 0; t < threads; t++) {
        ops += lanes[t].ops;
        created += lanes[t].threads_created;
    }
    printf("Throughput = %.0f operations per second\n",
           (u1.wall - u0.wall) > 0 ? (double)ops / (u1.wall - u0.wall) : 0.0);
    snprintf(extra, sizeof extra, " min=%zu max=%zu chunks=%zu rounds=%llu threads_created=%llu"
             " spawn_failures=%llu", g_min, g_max, g_chunks, (unsigned long long)g_rounds,
             (unsigned long long)created, (unsigned long long)g_chains.spawn_failures);
    bench_print_result("larson", threads, "allocs", ops, &u0, &u1, extra);

    /* Give everything back (frees of blocks from exited threads; not timed). */
    for (t = 0; t < threads; t++) {
        size_t k;
        for (k = 0; k < g_chunks; k++)
            free(lanes[t].slots[k]);
        free(lanes[t].slots);
    }
    free(lanes);
    return 0;
}
