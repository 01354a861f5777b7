/* workloads: the allocation patterns Larson misses, one subcommand each.
 *
 *   workloads NAME [-s seconds] [-t threads] [-n ops] [-S seed] [-m min] [-M max] [-k param] [-P]
 *   workloads list
 *
 * Every run is bounded: by time (-s, default 2 s; the main thread raises a stop flag) or, with
 * -n, by a fixed amount of work per thread (used for instruction counts under callgrind). Sizes
 * are uniform in [min, max] unless a workload says otherwise. A new block gets a couple of bytes
 * written at its start; -P writes one byte in each of its 4 KiB pages as well (first-touch page
 * faults then count, as in a program that fills its buffers). The workloads:
 *
 *   random     random allocation and free, not FIFO: each step picks a random slot of k and frees
 *              it if full, fills it if empty (about half the slots live, in random order)
 *   storm      bursty malloc storms: allocate k blocks, free them all (alternately in allocation
 *              and reverse order), repeat
 *   lifetimes  mixed lifetimes: k long-lived blocks of 16..4096 B, one replaced every 64 steps,
 *              beside short-lived churn through a 64-entry FIFO window
 *   sizes      variable sizes, log-uniform in [min, max] (default 8 B..64 KiB), random
 *              replacement in k slots
 *   prodcon    producer/consumer: -t pairs of threads; producers allocate and pass batches of 256
 *              blocks through a bounded queue, consumers read and free them (reports 2 x pairs
 *              threads)
 *   falseshare false sharing: the main thread allocates one small block per thread back to back
 *              and hands them out; each thread frees its block, then repeatedly allocates a block,
 *              writes it k times and frees it (active and passive false sharing show as poor
 *              scaling)
 *   churn      thread churn: -t lanes of short-lived threads; each thread frees the half its
 *              predecessor left, allocates k blocks, frees half of them and starts its successor
 *              (unit: threads)
 *   realloc    realloc growth: 8 buffers per thread grow from min to a log-uniform target in
 *              [4 KiB, max], half by appends of 1..64 B, half by x1.5, then are freed
 *   fastpath   malloc/free pairs of one size (min), k blocks deep (default 1: alloc then free)
 *   replace    steady replacement with a long tail of sizes: k=1024 live blocks per thread, sizes
 *              in [min, max] (default 4 B..32 KiB) drawn as min/u for u uniform in (0, 1] and
 *              clipped to max, so P(size) ~ 1/size^2 (mostly tiny, rarely large); each step frees
 *              a random slot and allocates a new block into it, writing its first 16 bytes (all of
 *              it if smaller). No cross-thread frees. -n: steps per thread
 *   bursts     short bursts of one size: a round is, for N in {25, 100, 400, 1600} and size in
 *              {16, 32, 64}: allocate N blocks, write every byte, free the first half in
 *              allocation order and the second half in reverse order (6375 allocations per round).
 *              -n: rounds per thread (a fixed amount of work: compare cpu_s); -m/-M/-k unused
 *   bigbuf     big zero-filled buffers: k=20 live buffers per thread of uniform size in [min, max]
 *              (default 5..25 MiB); each step frees a random one and allocates a new one with
 *              malloc + memset(0) (what C++ std::make_unique<char[]>(n) does: operator new, then
 *              value-initialisation; calloc would let the allocator skip zeroing fresh pages),
 *              which also touches every page. Unit: steps; -n: steps per thread
 *   server     a many-thread server: -t worker threads in a ring, each handing requests to the next
 *              ((i + 1) % T; with one thread to itself) through a bounded queue of its own (mutex,
 *              condition variables, a fixed array of 2k pointers: nothing allocated per hand-over;
 *              requests move in batches of up to 16, see the server section).
 *              A request is a malloc'd struct with a 64..256 B header and 2..6 body buffers, sizes
 *              log-uniform in [min, max] (default 16 B..4 KiB), 1 in 64 uniform in 8..64 KiB. Each
 *              stage checks and rewrites the first and last byte of every object, replaces each
 *              body buffer with probability 1/2 and allocates and frees a 16..1024 B scratch
 *              buffer; after 3..6 stages the thread holding the request retires it: frees it all,
 *              counts it and starts a new one, so k=64 per thread stay in flight (body buffers
 *              live a few stages and are mostly freed by another thread than their allocator's).
 *              One retired request in 8 also replaces a random slot of a shared cache of 4096
 *              long-lived objects of 32 B..2 KiB (a mutex per 64 slots), whose old object was
 *              usually allocated by another thread. Unit: requests (retired); -n: requests retired
 *              by each thread (one that has retired its n passes requests on untouched until all
 *              have, so the ring does not stall). Extra: allocs_per_request, remote_free_pct (of
 *              the frees, those of a block another thread allocated), in_flight_end. A ring of
 *              single-producer queues rather than one shared queue: the hand-over pattern is fixed
 *              and each queue lock is shared by two threads only, so the queues cost little beside
 *              the allocator. The cache and the first requests are set up before the measured
 *              phase; the main thread frees what is left after it and checks the counts.
 *
 * replace and bigbuf fill their k slots (server: its cache and first requests) before the measured
 * phase starts (each thread fills its own, then waits at a barrier; the main thread takes the start
 * sample after every thread is ready), so the RESULT figures cover the steady state only.
 *
 * Output: the RESULT line of bench_common.h (unit allocs unless said otherwise). Its cpu_s is the
 * user+sys CPU of the whole process during the measured phase and ops_per_cpu_s the unit per
 * CPU-second: with -n (fixed work) compare cpu_s directly. */
#define _GNU_SOURCE
#include "bench_common.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* ---- Options ------------------------------------------------------------------------------------ */

static struct {
    double seconds;
    int threads;
    uint64_t n;    /* work per thread; 0: time-bounded */
    uint64_t seed;
    size_t min, max;
    uint64_t k;
} O;

static struct {
    _Alignas(BENCH_CACHE_LINE) atomic_int flag;
    char pad[BENCH_CACHE_LINE - sizeof(atomic_int)];
} g_stop;

/* True while the worker should go on, given the work it has done. */
static inline int keep_going(uint64_t done)
{
    if (O.n)
        return done < O.n;
    return !atomic_load_explicit(&g_stop.flag, memory_order_relaxed);
}

/* Per-thread state; each on its own cache lines. */
typedef struct worker {
    _Alignas(BENCH_CACHE_LINE) int id;
    uint64_t rng;
    uint64_t ops;   /* the unit of the workload               */
    uint64_t aux;   /* a second count (storms, allocs, ...)   */
    void *given;    /* falseshare: the block from the main thread */
    char pad[BENCH_CACHE_LINE];
} worker_t;

/* ---- random ------------------------------------------------------------------------------------- */

static void *w_random(void *arg)
{
    worker_t *w = arg;
    size_t nslots = (size_t)O.k, j;
    void **slots = calloc(nslots, sizeof(void *));
    uint64_t rng = w->rng, ops = 0;
    if (!slots)
        bench_die("out of memory");
    while (keep_going(ops)) {
        for (j = 0; j < 256; j++) {
            size_t k = (size_t)rng_below(&rng, nslots);
            if (slots[k]) {
                free(slots[k]);
                slots[k] = NULL;
            } else {
                size_t size = rng_range(&rng, O.min, O.max);
                void *p = malloc(size);
                if (!p)
                    bench_die("malloc failed");
                bench_touch(p, size, (unsigned char)k);
                slots[k] = p;
                ops++;
            }
        }
    }
    for (j = 0; j < nslots; j++)
        free(slots[j]);
    free(slots);
    w->ops = ops;
    return NULL;
}

/* ---- storm -------------------------------------------------------------------------------------- */

static void *w_storm(void *arg)
{
    worker_t *w = arg;
    size_t burst = (size_t)O.k, i;
    void **v = bench_xmalloc(burst * sizeof(void *));
    uint64_t rng = w->rng, ops = 0, storms = 0;
    while (keep_going(ops)) {
        for (i = 0; i < burst; i++) {
            size_t size = rng_range(&rng, O.min, O.max);
            v[i] = malloc(size);
            if (!v[i])
                bench_die("malloc failed");
            bench_touch(v[i], size, (unsigned char)i);
        }
        if (storms & 1) {
            for (i = burst; i-- > 0;)
                free(v[i]);
        } else {
            for (i = 0; i < burst; i++)
                free(v[i]);
        }
        ops += burst;
        storms++;
    }
    free(v);
    w->ops = ops;
    w->aux = storms;
    return NULL;
}

/* ---- lifetimes ---------------------------------------------------------------------------------- */

#define LIFETIME_WINDOW 64   /* short-lived blocks live for this many steps */
#define LIFETIME_REPLACE 64  /* one long-lived block replaced every this many steps */

static void *w_lifetimes(void *arg)
{
    worker_t *w = arg;
    size_t nlong = (size_t)O.k, i;
    void **longs = bench_xmalloc(nlong * sizeof(void *));
    void *window[LIFETIME_WINDOW] = {0};
    uint64_t rng = w->rng, ops = 0, step = 0;
    unsigned idx = 0;

    for (i = 0; i < nlong; i++) {
        size_t size = rng_range(&rng, 16, 4096);
        longs[i] = bench_xmalloc(size);
        bench_touch(longs[i], size, (unsigned char)i);
    }
    ops += nlong;
    while (keep_going(ops)) {
        for (i = 0; i < 256; i++) {
            size_t size = rng_range(&rng, O.min, O.max);
            free(window[idx]);
            window[idx] = malloc(size);
            if (!window[idx])
                bench_die("malloc failed");
            bench_touch(window[idx], size, (unsigned char)i);
            idx = (idx + 1) % LIFETIME_WINDOW;
            ops++;
            if (++step % LIFETIME_REPLACE == 0) {
                size_t k = (size_t)rng_below(&rng, nlong);
                size = rng_range(&rng, 16, 4096);
                free(longs[k]);
                longs[k] = malloc(size);
                if (!longs[k])
                    bench_die("malloc failed");
                bench_touch(longs[k], size, (unsigned char)k);
                ops++;
            }
        }
    }
    for (i = 0; i < LIFETIME_WINDOW; i++)
        free(window[i]);
    for (i = 0; i < nlong; i++)
        free(longs[i]);
    free(longs);
    w->ops = ops;
    return NULL;
}

/* ---- sizes -------------------------------------------------------------------------------------- */

static void *w_sizes(void *arg)
{
    worker_t *w = arg;
    size_t nslots = (size_t)O.k, j;
    void **slots = calloc(nslots, sizeof(void *));
    uint64_t rng = w->rng, ops = 0;
    if (!slots)
        bench_die("out of memory");
    while (keep_going(ops)) {
        for (j = 0; j < 64; j++) {
            size_t k = (size_t)rng_below(&rng, nslots);
            size_t size = rng_log_range(&rng, O.min, O.max);
            void *p;
            free(slots[k]);
            p = malloc(size);
            if (!p)
                bench_die("malloc failed");
            bench_touch(p, size, (unsigned char)k);
            slots[k] = p;
        }
        ops += 64;
    }
    for (j = 0; j < nslots; j++)
        free(slots[j]);
    free(slots);
    w->ops = ops;
    return NULL;
}

/* ---- prodcon ------------------------------------------------------------------------------------
 * A bounded queue of PC_DEPTH batches of PC_BATCH pointers between one producer and one consumer.
 * A batch slot is filled (or drained) without the lock by the side that owns it; the counters
 * `tail` (producer) and `head` (consumer) under the mutex pass ownership, and the mutex orders the
 * block contents and pointers written before the hand-over. */

#define PC_BATCH 256
#define PC_DEPTH 16

typedef struct pc_queue {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint64_t head, tail; /* batches consumed / produced, under mu */
    int closed;          /* producer finished, under mu           */
    void *slot[PC_DEPTH][PC_BATCH];
} pc_queue_t;

typedef struct pc_pair {
    pc_queue_t q;
    worker_t prod, cons;
} pc_pair_t;

static void *w_producer(void *arg)
{
    pc_pair_t *pair = arg;
    pc_queue_t *q = &pair->q;
    uint64_t rng = pair->prod.rng, ops = 0, tail = 0;
    while (keep_going(ops)) {
        void **batch;
        size_t i;
        pthread_mutex_lock(&q->mu);
        while (tail - q->head >= PC_DEPTH)
            pthread_cond_wait(&q->cv, &q->mu);
        pthread_mutex_unlock(&q->mu);
        batch = q->slot[tail % PC_DEPTH];
        for (i = 0; i < PC_BATCH; i++) {
            size_t size = rng_range(&rng, O.min, O.max);
            unsigned char *p = malloc(size);
            if (!p)
                bench_die("malloc failed");
            p[0] = (unsigned char)i;
            batch[i] = p;
        }
        ops += PC_BATCH;
        pthread_mutex_lock(&q->mu);
        q->tail = ++tail;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
    pthread_mutex_lock(&q->mu);
    q->closed = 1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    pair->prod.ops = ops;
    return NULL;
}

static void *w_consumer(void *arg)
{
    pc_pair_t *pair = arg;
    pc_queue_t *q = &pair->q;
    uint64_t head = 0, freed = 0, bad = 0;
    for (;;) {
        void **batch;
        size_t i;
        pthread_mutex_lock(&q->mu);
        while (q->tail == head && !q->closed)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->tail == head) { /* closed and drained */
            pthread_mutex_unlock(&q->mu);
            break;
        }
        pthread_mutex_unlock(&q->mu);
        batch = q->slot[head % PC_DEPTH];
        for (i = 0; i < PC_BATCH; i++) {
            unsigned char *p = batch[i];
            bad += p[0] != (unsigned char)i;
            free(p);
        }
        freed += PC_BATCH;
        pthread_mutex_lock(&q->mu);
        q->head = ++head;
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->mu);
    }
    if (bad)
        bench_die("prodcon: a block changed between producer and consumer");
    pair->cons.ops = freed;
    return NULL;
}

/* ---- falseshare --------------------------------------------------------------------------------- */

static void *w_falseshare(void *arg)
{
    worker_t *w = arg;
    uint64_t rng = w->rng, ops = 0, writes = O.k, i;
    free(w->given); /* passive: the block the main thread allocated next to the others' */
    while (keep_going(ops)) {
        size_t size = rng_range(&rng, O.min, O.max), j = 0;
        volatile unsigned char *p = malloc(size);
        if (!p)
            bench_die("malloc failed");
        for (i = 0; i < writes; i++) {
            p[j] = (unsigned char)(p[j] + 1);
            if (++j == size)
                j = 0;
        }
        free((void *)p);
        ops++;
    }
    w->ops = ops;
    return NULL;
}

/* ---- churn: lanes of short-lived threads (see bench_common.h, thread chains) ------------------- */

typedef struct churn_lane {
    _Alignas(BENCH_CACHE_LINE) void **left; /* blocks left for the successor, k/2 of them */
    size_t nleft;
    void **scratch;    /* k pointers                                 */
    uint64_t rng;
    uint64_t threads;  /* threads run by this lane                   */
    uint64_t allocs;
    uint64_t spawn_failures;
} churn_lane_t;

static bench_chains_t g_churn;

static void *w_churn_thread(void *arg)
{
    churn_lane_t *lane = arg;
    size_t k = (size_t)O.k, i;
    for (;;) {
        uint64_t rng = lane->rng;
        for (i = 0; i < lane->nleft; i++)
            free(lane->left[i]);
        for (i = 0; i < k; i++) {
            size_t size = rng_range(&rng, O.min, O.max);
            lane->scratch[i] = malloc(size);
            if (!lane->scratch[i])
                bench_die("malloc failed");
            bench_touch(lane->scratch[i], size, (unsigned char)i);
        }
        /* Free a random half; keep the other half for the successor. */
        lane->nleft = 0;
        for (i = 0; i < k; i++) {
            if (lane->nleft < k / 2 && (rng_next(&rng) & 1 || k - i <= k / 2 - lane->nleft))
                lane->left[lane->nleft++] = lane->scratch[i];
            else
                free(lane->scratch[i]);
        }
        lane->rng = rng;
        lane->allocs += k;
        lane->threads++;
        if (!keep_going(lane->threads)) {
            bench_chains_finish_one(&g_churn);
            return NULL;
        }
        if (bench_spawn_detached(w_churn_thread, lane) == 0)
            return NULL;
        lane->spawn_failures++;
    }
}

static int run_churn(uint64_t *ops, uint64_t *allocs, uint64_t *fails, bench_usage_t *u0,
                     bench_usage_t *u1)
{
    int t, n = O.threads;
    churn_lane_t *lanes = aligned_alloc(BENCH_CACHE_LINE, sizeof(churn_lane_t) * (size_t)n);
    if (!lanes)
        bench_die("out of memory");
    bench_chains_init(&g_churn);
    for (t = 0; t < n; t++) {
        memset(&lanes[t], 0, sizeof lanes[t]);
        lanes[t].rng = rng_for(O.seed, (uint64_t)t);
        lanes[t].left = bench_xmalloc(sizeof(void *) * (size_t)(O.k / 2 + 1));
        lanes[t].scratch = bench_xmalloc(sizeof(void *) * (size_t)O.k);
    }
    *u0 = bench_usage_now();
    for (t = 0; t < n; t++)
        if (bench_spawn_detached(w_churn_thread, &lanes[t]) != 0)
            bench_die("cannot create threads");
    if (!O.n) {
        bench_sleep(O.seconds);
        atomic_store_explicit(&g_stop.flag, 1, memory_order_relaxed);
    }
    bench_chains_wait(&g_churn, n);
    *u1 = bench_usage_now();
    *ops = *allocs = *fails = 0;
    for (t = 0; t < n; t++) {
        size_t i;
        *ops += lanes[t].threads;
        *allocs += lanes[t].allocs;
        *fails += lanes[t].spawn_failures;
        for (i = 0; i < lanes[t].nleft; i++)
            free(lanes[t].left[i]);
        free(lanes[t].left);
        free(lanes[t].scratch);
    }
    free(lanes);
    return 0;
}

/* ---- realloc ------------------------------------------------------------------------------------ */

#define REALLOC_BUFFERS 8

static void *w_realloc(void *arg)
{
    worker_t *w = arg;
    struct {
        unsigned char *p;
        size_t size, target;
    } buf[REALLOC_BUFFERS] = {{0}};
    uint64_t rng = w->rng, ops = 0, completed = 0;
    size_t lo_target = O.max < 4096 ? O.max : 4096;
    int i;

    while (keep_going(ops)) {
        int j;
        for (j = 0; j < 64; j++) {
            unsigned b = (unsigned)rng_below(&rng, REALLOC_BUFFERS);
            size_t next;
            unsigned char *q;
            if (!buf[b].p) {
                buf[b].size = O.min;
                buf[b].target = rng_log_range(&rng, lo_target, O.max);
                buf[b].p = malloc(buf[b].size);
                if (!buf[b].p)
                    bench_die("malloc failed");
                buf[b].p[0] = (unsigned char)b;
                continue;
            }
            if (b & 1) /* a vector that grows by half */
                next = buf[b].size + buf[b].size / 2 + 1;
            else       /* a string that grows by appends */
                next = buf[b].size + rng_range(&rng, 1, 64);
            if (next > buf[b].target) {
                free(buf[b].p);
                buf[b].p = NULL;
                completed++;
                continue;
            }
            q = realloc(buf[b].p, next);
            if (!q)
                bench_die("realloc failed");
            if (q[0] != (unsigned char)b)
                bench_die("realloc lost the contents of a block");
            q[next - 1] = (unsigned char)next;
            buf[b].p = q;
            buf[b].size = next;
            ops++;
        }
    }
    for (i = 0; i < REALLOC_BUFFERS; i++)
        free(buf[i].p);
    w->ops = ops;
    w->aux = completed;
    return NULL;
}

/* ---- fastpath ------------------------------------------------------------------------------------
 * The loop costs a few instructions per pair besides malloc and free (counter, compare, the escape
 * of the pointer); instruction counts (bench/icount.sh) include them. */

#define FAST_INNER 1024

static void *w_fastpath(void *arg)
{
    worker_t *w = arg;
    size_t size = O.min, depth = (size_t)O.k, i, j;
    uint64_t ops = 0;
    if (depth <= 1) {
        while (keep_going(ops)) {
            for (i = 0; i < FAST_INNER; i++) {
                void *p = malloc(size);
                bench_escape(p);
                free(p);
            }
            ops += FAST_INNER;
        }
    } else {
        void **v = bench_xmalloc(depth * sizeof(void *));
        while (keep_going(ops)) {
            for (i = 0; i < FAST_INNER; i++) {
                for (j = 0; j < depth; j++) {
                    v[j] = malloc(size);
                    bench_escape(v[j]);
                }
                for (j = depth; j-- > 0;)
                    free(v[j]);
            }
            ops += FAST_INNER * depth;
        }
        free(v);
    }
    w->ops = ops;
    return NULL;
}

/* ---- Set-up barrier (replace, bigbuf) --------------------------------------------------------------
 * A worker of a workload with set-up fills its slots, then calls setup_done(): it waits at the
 * first barrier (the main thread takes the start sample after it), then at the second (released
 * once the sample is taken). */

static pthread_barrier_t g_setup_a, g_setup_b;

static void setup_done(void)
{
    pthread_barrier_wait(&g_setup_a);
    pthread_barrier_wait(&g_setup_b);
}

/* ---- replace ---------------------------------------------------------------------------------------- */

/* min / u for u uniform in (0, 1], clipped to max: P(size > s) = min / s, a density ~ 1/s^2. */
static inline size_t inverse_square_size(uint64_t *rng, size_t min, size_t max)
{
    double u = (double)((rng_next(rng) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double s = (double)min / u;
    return s >= (double)max ? max : (size_t)s;
}

static inline void *replace_new(uint64_t *rng, unsigned char v)
{
    size_t size = inverse_square_size(rng, O.min, O.max);
    void *p = malloc(size);
    if (!p)
        bench_die("malloc failed");
    memset(p, v, size < 16 ? size : 16);
    bench_escape(p);
    return p;
}

static void *w_replace(void *arg)
{
    worker_t *w = arg;
    size_t nslots = (size_t)O.k, j;
    void **slots = bench_xmalloc(nslots * sizeof(void *));
    uint64_t rng = w->rng, ops = 0;
    for (j = 0; j < nslots; j++)
        slots[j] = replace_new(&rng, (unsigned char)j);
    setup_done();
    while (keep_going(ops)) {
        size_t batch = 64;
        if (O.n && O.n - ops < batch)
            batch = (size_t)(O.n - ops);
        for (j = 0; j < batch; j++) {
            size_t k = (size_t)rng_below(&rng, nslots);
            free(slots[k]);
            slots[k] = replace_new(&rng, (unsigned char)k);
        }
        ops += batch;
    }
    for (j = 0; j < nslots; j++)
        free(slots[j]);
    free(slots);
    w->ops = ops;
    return NULL;
}

/* ---- bursts --------------------------------------------------------------------------------------- */

static const size_t BURST_COUNTS[] = {25, 100, 400, 1600};
static const size_t BURST_SIZES[] = {16, 32, 64};
#define BURST_MAX 1600

static void *w_bursts(void *arg)
{
    worker_t *w = arg;
    void *v[BURST_MAX];
    uint64_t rounds = 0, allocs = 0;
    unsigned char tag = 1;
    while (keep_going(rounds)) {
        size_t c, s, i;
        for (c = 0; c < sizeof BURST_COUNTS / sizeof BURST_COUNTS[0]; c++) {
            size_t n = BURST_COUNTS[c];
            for (s = 0; s < sizeof BURST_SIZES / sizeof BURST_SIZES[0]; s++) {
                size_t size = BURST_SIZES[s];
                for (i = 0; i < n; i++) {
                    v[i] = malloc(size);
                    if (!v[i])
                        bench_die("malloc failed");
                    memset(v[i], tag++, size);
                    bench_escape(v[i]); /* the writes are done, not elided before the free */
                }
                for (i = 0; i < n / 2; i++)
                    free(v[i]);
                for (i = n; i-- > n / 2;)
                    free(v[i]);
                allocs += n;
            }
        }
        rounds++;
    }
    w->ops = allocs;
    w->aux = rounds;
    return NULL;
}

/* ---- bigbuf ---------------------------------------------------------------------------------------- */

static inline unsigned char *bigbuf_new(uint64_t *rng, uint64_t *bytes)
{
    size_t size = rng_range(rng, O.min, O.max);
    unsigned char *p = malloc(size);
    if (!p)
        bench_die("malloc failed");
    /* The escape keeps the compiler from fusing malloc + memset(0) into calloc (GCC does at -O2). */
    bench_escape(p);
    memset(p, 0, size); /* value-initialisation, as make_unique<char[]>(n) */
    bench_escape(p);
    *bytes += size;
    return p;
}

static void *w_bigbuf(void *arg)
{
    worker_t *w = arg;
    size_t nbuf = (size_t)O.k, j;
    unsigned char **buf = bench_xmalloc(nbuf * sizeof(unsigned char *));
    uint64_t rng = w->rng, ops = 0, bytes = 0, bad = 0;
    for (j = 0; j < nbuf; j++)
        buf[j] = bigbuf_new(&rng, &bytes);
    bytes = 0;
    setup_done();
    while (keep_going(ops)) {
        size_t k = (size_t)rng_below(&rng, nbuf);
        /* The old buffer is still all zero at both ends (a cheap check that nobody wrote it). */
        bad += buf[k][0] | buf[k][O.min - 1];
        free(buf[k]);
        buf[k] = bigbuf_new(&rng, &bytes);
        buf[k][0] = 0; /* touched after the zeroing too: the program uses its buffer */
        ops++;
    }
    if (bad)
        bench_die("bigbuf: a zero-filled buffer changed");
    for (j = 0; j < nbuf; j++)
        free(buf[j]);
    free(buf);
    w->ops = ops;
    w->aux = bytes;
    return NULL;
}

/* ---- server: a ring of worker threads handing requests on (see the top of the file) -------------
 * Worker i takes requests from its own queue and gives them to worker (i + 1) % T's, so every queue
 * has one producer and one consumer (with T = 1 the same thread). A queue is a fixed array of 2k
 * pointers under a mutex: no malloc per item.
 *
 * Hand-overs are batched: a worker takes up to `batch` = min(16, k) requests per lock and collects
 * the ones it passes on in an outbox of `batch`. With one lock round trip per request the queues
 * were a large part of the cost at 2 threads (about a fifth of the perf samples in the queue's
 * lock and unlock, even with an adaptive mutex), not malloc. Likewise a worker that finds its
 * queue empty sleeps until `batch` requests are there, not one: in a ring the slowest stage sets
 * the pace, and a faster one woken per request spends its CPU on futex calls. A sleeper says what
 * it waits for (cons_waiting, prod_need), so a signal is sent exactly when it can go on.
 *
 * No deadlock: a worker empties its outbox before it sleeps on its input. A give waits only while
 * the queue has less room than the batch (more than 2k - batch >= k >= batch requests in it), so
 * the queue's consumer is not asleep; so if every worker slept, either all would wait to give
 * (more than kT requests in flight, but there are at most kT) or all would wait on inputs holding
 * fewer than `batch` each (at most T(batch - 1) < kT - T + 1, the fewest in flight while a worker
 * is not done: see w_server). */

#define SRV_MAX_BODY 6
#define SRV_CACHE_SLOTS 4096
#define SRV_STRIPE 64     /* cache slots per mutex */
#define SRV_CACHE_EVERY 8 /* one retired request in this many replaces a cache slot */
#define SRV_BATCH_MAX 16

typedef struct srv_obj {
    unsigned char *p;
    uint32_t size;
    uint16_t owner; /* the worker that allocated it: a free by another one is a remote free */
} srv_obj_t;

/* First and last byte of every object of a request hold `tag`, bumped at each hop. */
typedef struct srv_req {
    srv_obj_t hdr;
    srv_obj_t body[SRV_MAX_BODY];
    uint16_t owner; /* of the struct itself */
    uint8_t nbody, hops_left;
    unsigned char tag;
} srv_req_t;

typedef struct srv_queue {
    _Alignas(BENCH_CACHE_LINE) pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull;
    uint64_t head, tail; /* requests taken / given, under mu                         */
    size_t prod_need;    /* under mu: the producer sleeps until this much room is free */
    int cons_waiting;    /* under mu: the consumer sleeps until `batch` are in        */
    srv_req_t **slot;    /* g_srv.cap of them                                          */
} srv_queue_t;

typedef struct srv_stripe {
    _Alignas(BENCH_CACHE_LINE) pthread_mutex_t mu;
    srv_obj_t obj[SRV_STRIPE];
} srv_stripe_t;

/* w.ops: requests retired; w.aux: objects allocated (request structs and scratch included). */
typedef struct srv_worker {
    worker_t w;
    uint64_t setup_allocs, frees, remote_frees, created, dropped, bad;
    srv_queue_t *in, *out;
    size_t in_next, in_n, out_n;
    srv_req_t *inbox[SRV_BATCH_MAX], *outbox[SRV_BATCH_MAX];
} srv_worker_t;

static struct {
    size_t cap, batch; /* 2k per queue; min(SRV_BATCH_MAX, k) */
    srv_queue_t *q;
    srv_stripe_t cache[SRV_CACHE_SLOTS / SRV_STRIPE];
    atomic_int ndone; /* workers that have retired their -n requests */
} g_srv;

/* Time-bounded: the stop flag. With -n: every worker has retired its n requests (until then a
 * worker that has keeps forwarding requests, so the others are not starved). */
static inline int srv_quit(void)
{
    if (O.n)
        return atomic_load_explicit(&g_srv.ndone, memory_order_relaxed) >= O.threads;
    return atomic_load_explicit(&g_stop.flag, memory_order_relaxed);
}

/* After srv_quit() turned true: wakes every waiter (under each mutex, so no wake-up is lost). */
static void srv_wake_all(void)
{
    int t;
    for (t = 0; t < O.threads; t++) {
        pthread_mutex_lock(&g_srv.q[t].mu);
        pthread_cond_broadcast(&g_srv.q[t].nonempty);
        pthread_cond_broadcast(&g_srv.q[t].nonfull);
        pthread_mutex_unlock(&g_srv.q[t].mu);
    }
}

static inline size_t srv_queued(const srv_queue_t *q)
{
    return (size_t)(q->tail - q->head);
}

/* Up to `batch` requests into buf; with `wait`, sleeps on an empty queue until `batch` are there.
 * 0 once quitting (what is left in the queues is freed by the main thread). */
static size_t srv_take(srv_queue_t *q, srv_req_t **buf, int wait)
{
    size_t n = 0;
    pthread_mutex_lock(&q->mu);
    if (wait && srv_queued(q) == 0) {
        q->cons_waiting = 1;
        while (srv_queued(q) < g_srv.batch && !srv_quit())
            pthread_cond_wait(&q->nonempty, &q->mu);
        q->cons_waiting = 0;
    }
    if (!srv_quit()) {
        while (n < g_srv.batch && q->head != q->tail)
            buf[n++] = q->slot[q->head++ % g_srv.cap];
        if (q->prod_need && g_srv.cap - srv_queued(q) >= q->prod_need)
            pthread_cond_signal(&q->nonfull);
    }
    pthread_mutex_unlock(&q->mu);
    return n;
}

/* Appends buf[0..n); 0 when there is no room and the run is over (the caller still owns them). */
static int srv_give(srv_queue_t *q, srv_req_t *const *buf, size_t n)
{
    size_t i;
    pthread_mutex_lock(&q->mu);
    if (g_srv.cap - srv_queued(q) < n) {
        q->prod_need = n;
        while (g_srv.cap - srv_queued(q) < n && !srv_quit())
            pthread_cond_wait(&q->nonfull, &q->mu);
        q->prod_need = 0;
        if (g_srv.cap - srv_queued(q) < n) {
            pthread_mutex_unlock(&q->mu);
            return 0;
        }
    }
    for (i = 0; i < n; i++)
        q->slot[q->tail++ % g_srv.cap] = buf[i];
    if (q->cons_waiting && srv_queued(q) >= g_srv.batch)
        pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->mu);
    return 1;
}

static inline void srv_mark(srv_obj_t *o, unsigned char tag)
{
    o->p[0] = tag;
    o->p[o->size - 1] = tag;
}

static inline int srv_intact(const srv_obj_t *o, unsigned char tag)
{
    return o->p[0] == tag && o->p[o->size - 1] == tag;
}

static void srv_obj_new(srv_worker_t *sw, srv_obj_t *o, size_t size, unsigned char tag)
{
    o->p = bench_xmalloc(size);
    o->size = (uint32_t)size;
    o->owner = (uint16_t)sw->w.id;
    bench_touch(o->p, size, tag);
    srv_mark(o, tag);
    sw->w.aux++;
}

static void srv_obj_free(srv_worker_t *sw, srv_obj_t *o)
{
    sw->remote_frees += o->owner != (uint16_t)sw->w.id;
    sw->frees++;
    free(o->p);
    o->p = NULL;
}

/* Log-uniform in [min, max], 1 in 64 an 8..64 KiB buffer instead (a large upload or reply). */
static inline size_t srv_body_size(uint64_t *rng)
{
    if (rng_below(rng, 64) == 0)
        return rng_range(rng, (size_t)8 << 10, (size_t)64 << 10);
    return rng_log_range(rng, O.min, O.max);
}

static srv_req_t *srv_req_new(srv_worker_t *sw, uint64_t *rng)
{
    srv_req_t *r = bench_xmalloc(sizeof *r);
    unsigned j;
    sw->w.aux++;
    sw->created++;
    r->owner = (uint16_t)sw->w.id;
    r->tag = (unsigned char)rng_next(rng);
    r->hops_left = (uint8_t)(3 + rng_below(rng, 4));
    r->nbody = (uint8_t)(2 + rng_below(rng, SRV_MAX_BODY - 1));
    srv_obj_new(sw, &r->hdr, rng_range(rng, 64, 256), r->tag);
    for (j = 0; j < r->nbody; j++)
        srv_obj_new(sw, &r->body[j], srv_body_size(rng), r->tag);
    return r;
}

static void srv_req_free(srv_worker_t *sw, srv_req_t *r)
{
    unsigned j;
    srv_obj_free(sw, &r->hdr);
    for (j = 0; j < r->nbody; j++)
        srv_obj_free(sw, &r->body[j]);
    sw->remote_frees += r->owner != (uint16_t)sw->w.id;
    sw->frees++;
    free(r);
}

/* One stage: check and rewrite every object, replace about half of the body buffers (allocated
 * here, freed by a later stage or the retiring thread), and use a scratch buffer for the stage's
 * own output (the shortest-lived objects, allocated and freed on one thread). */
static void srv_hop(srv_worker_t *sw, srv_req_t *r, uint64_t *rng)
{
    unsigned char tag = r->tag, next = (unsigned char)(tag + 1);
    uint64_t bits = rng_next(rng);
    size_t size = rng_log_range(rng, 16, 1024);
    unsigned char *scratch;
    unsigned j;

    sw->bad += !srv_intact(&r->hdr, tag);
    srv_mark(&r->hdr, next);
    for (j = 0; j < r->nbody; j++, bits >>= 1) {
        sw->bad += !srv_intact(&r->body[j], tag);
        if (bits & 1) {
            srv_obj_free(sw, &r->body[j]);
            srv_obj_new(sw, &r->body[j], srv_body_size(rng), next);
        } else {
            srv_mark(&r->body[j], next);
        }
    }
    scratch = bench_xmalloc(size);
    bench_touch(scratch, size, next);
    bench_escape(scratch);
    free(scratch);
    sw->w.aux++;
    sw->frees++;
    r->tag = next;
    r->hops_left--;
}

/* The new object is allocated and the old one freed outside the stripe's lock, as a real cache
 * would; the old one usually belongs to another thread. */
static void srv_cache_replace(srv_worker_t *sw, size_t slot, uint64_t *rng)
{
    srv_stripe_t *st = &g_srv.cache[slot / SRV_STRIPE];
    srv_obj_t fresh, old;
    srv_obj_new(sw, &fresh, rng_log_range(rng, 32, 2048), (unsigned char)slot);
    pthread_mutex_lock(&st->mu);
    old = st->obj[slot % SRV_STRIPE];
    st->obj[slot % SRV_STRIPE] = fresh;
    pthread_mutex_unlock(&st->mu);
    if (old.p) {
        sw->bad += !srv_intact(&old, (unsigned char)slot);
        srv_obj_free(sw, &old);
    }
}

static void srv_retire(srv_worker_t *sw, srv_req_t *r, uint64_t *rng)
{
    srv_req_free(sw, r);
    if (rng_below(rng, SRV_CACHE_EVERY) == 0)
        srv_cache_replace(sw, (size_t)rng_below(rng, SRV_CACHE_SLOTS), rng);
    sw->w.ops++;
}

/* Gives the outbox to the next worker; at the end of the run (no room, quitting) frees it. */
static void srv_flush(srv_worker_t *sw)
{
    size_t i;
    if (sw->out_n && !srv_give(sw->out, sw->outbox, sw->out_n)) {
        for (i = 0; i < sw->out_n; i++)
            srv_req_free(sw, sw->outbox[i]);
        sw->dropped += sw->out_n;
    }
    sw->out_n = 0;
}

static void srv_forward(srv_worker_t *sw, srv_req_t *r)
{
    sw->outbox[sw->out_n++] = r;
    if (sw->out_n == g_srv.batch)
        srv_flush(sw);
}

/* The next request from the inbox, refilled from the queue; NULL once quitting. Before sleeping
 * on an empty queue the worker hands on what it holds (without that, the ring could stall). */
static srv_req_t *srv_next(srv_worker_t *sw)
{
    if (sw->in_next == sw->in_n) {
        sw->in_next = 0;
        sw->in_n = srv_take(sw->in, sw->inbox, 0);
        if (sw->in_n == 0) {
            srv_flush(sw);
            sw->in_n = srv_take(sw->in, sw->inbox, 1);
            if (sw->in_n == 0)
                return NULL;
        }
    }
    return sw->inbox[sw->in_next++];
}

static void *w_server(void *arg)
{
    srv_worker_t *sw = arg;
    uint64_t rng = sw->w.rng;
    size_t slot, j;
    int done = 0;
    srv_req_t *r;

    /* Set-up: this worker's share of the cache, then k requests in its own queue (2k slots). */
    for (slot = (size_t)sw->w.id; slot < SRV_CACHE_SLOTS; slot += (size_t)O.threads)
        srv_cache_replace(sw, slot, &rng);
    for (j = 0; j < O.k; j++) {
        r = srv_req_new(sw, &rng);
        if (!srv_give(sw->in, &r, 1))
            bench_die("server: a queue is full during set-up");
    }
    sw->setup_allocs = sw->w.aux;
    setup_done();

    while ((r = srv_next(sw)) != NULL) {
        if (done) { /* -n reached: pass requests on untouched until every worker is done */
            srv_forward(sw, r);
            continue;
        }
        srv_hop(sw, r, &rng);
        if (r->hops_left == 0) {
            srv_retire(sw, r, &rng);
            if (!keep_going(sw->w.ops)) { /* no replacement: one fewer in flight */
                done = 1;
                if (atomic_fetch_add(&g_srv.ndone, 1) + 1 == O.threads && O.n)
                    srv_wake_all();
                continue;
            }
            r = srv_req_new(sw, &rng);
        }
        srv_forward(sw, r);
    }
    srv_flush(sw); /* quitting: the give fails only on a full queue, then the requests are freed */
    sw->w.rng = rng;
    return NULL;
}

/* Runs the ring; frees what is left (queues, cache) after the end sample and checks the counts. */
static void run_server(uint64_t *ops, bench_usage_t *u0, bench_usage_t *u1, char *extra,
                       size_t extra_size)
{
    int t, n = O.threads;
    srv_worker_t *sw = aligned_alloc(BENCH_CACHE_LINE, sizeof(srv_worker_t) * (size_t)n);
    pthread_t *tid = bench_xmalloc(sizeof(pthread_t) * (size_t)n);
    srv_worker_t reaper; /* the main thread's frees at the end */
    uint64_t created = 0, retired = 0, dropped = 0, left = 0, allocs = 0, setup_allocs = 0;
    uint64_t frees = 0, remote = 0, bad = 0;
    size_t s;

    g_srv.q = aligned_alloc(BENCH_CACHE_LINE, sizeof(srv_queue_t) * (size_t)n);
    if (!sw || !g_srv.q)
        bench_die("out of memory");
    atomic_store(&g_srv.ndone, 0);
    g_srv.cap = 2 * (size_t)O.k;
    g_srv.batch = O.k < SRV_BATCH_MAX ? (size_t)O.k : SRV_BATCH_MAX;
    for (s = 0; s < SRV_CACHE_SLOTS / SRV_STRIPE; s++) {
        memset(&g_srv.cache[s], 0, sizeof g_srv.cache[s]);
        pthread_mutex_init(&g_srv.cache[s].mu, NULL);
    }
    for (t = 0; t < n; t++) {
        srv_queue_t *q = &g_srv.q[t];
        memset(q, 0, sizeof *q);
        pthread_mutex_init(&q->mu, NULL);
        pthread_cond_init(&q->nonempty, NULL);
        pthread_cond_init(&q->nonfull, NULL);
        q->slot = bench_xmalloc(sizeof(srv_req_t *) * g_srv.cap);
    }
    for (t = 0; t < n; t++) {
        memset(&sw[t], 0, sizeof sw[t]);
        sw[t].w.id = t;
        sw[t].w.rng = rng_for(O.seed, (uint64_t)t);
        sw[t].in = &g_srv.q[t];
        sw[t].out = &g_srv.q[(t + 1) % n];
    }
    pthread_barrier_init(&g_setup_a, NULL, (unsigned)n + 1);
    pthread_barrier_init(&g_setup_b, NULL, (unsigned)n + 1);
    for (t = 0; t < n; t++)
        if (pthread_create(&tid[t], NULL, w_server, &sw[t]))
            bench_die("cannot create threads");
    pthread_barrier_wait(&g_setup_a); /* every worker has its cache share and k requests */
    *u0 = bench_usage_now();
    pthread_barrier_wait(&g_setup_b);
    if (!O.n) {
        bench_sleep(O.seconds);
        atomic_store_explicit(&g_stop.flag, 1, memory_order_relaxed);
        srv_wake_all();
    }
    for (t = 0; t < n; t++)
        pthread_join(tid[t], NULL);
    *u1 = bench_usage_now();

    memset(&reaper, 0, sizeof reaper);
    reaper.w.id = n; /* no worker's id */
    for (t = 0; t < n; t++) {
        srv_queue_t *q = &g_srv.q[t];
        for (; q->head != q->tail; q->head++, left++)
            srv_req_free(&reaper, q->slot[q->head % g_srv.cap]);
        free(q->slot);
    }
    for (s = 0; s < SRV_CACHE_SLOTS; s++) {
        srv_obj_t *o = &g_srv.cache[s / SRV_STRIPE].obj[s % SRV_STRIPE];
        reaper.bad += !srv_intact(o, (unsigned char)s);
        srv_obj_free(&reaper, o);
    }
    for (t = 0; t < n; t++) {
        if (O.n && sw[t].w.ops != O.n)
            bench_die("server: a worker retired a different number of requests than -n");
        created += sw[t].created;
        retired += sw[t].w.ops;
        dropped += sw[t].dropped;
        allocs += sw[t].w.aux;
        setup_allocs += sw[t].setup_allocs;
        frees += sw[t].frees;
        remote += sw[t].remote_frees;
        bad += sw[t].bad;
    }
    if (bad + reaper.bad)
        bench_die("server: an object changed while another thread held it");
    if (created != retired + dropped + left)
        bench_die("server: requests created != retired + dropped + left in flight");
    if (allocs != frees + reaper.frees)
        bench_die("server: objects allocated != objects freed");
    *ops = retired;
    snprintf(extra, extra_size, " min=%zu max=%zu k=%llu allocs_per_request=%.1f "
             "remote_free_pct=%.1f in_flight_end=%llu", O.min, O.max, (unsigned long long)O.k,
             retired ? (double)(allocs - setup_allocs) / (double)retired : 0.0,
             frees ? 100.0 * (double)remote / (double)frees : 0.0,
             (unsigned long long)(left + dropped));
    pthread_barrier_destroy(&g_setup_a);
    pthread_barrier_destroy(&g_setup_b);
    free(g_srv.q);
    free(tid);
    free(sw);
}

/* ---- The table of workloads ----------------------------------------------------------------------- */

typedef struct workload {
    const char *name;
    void *(*fn)(void *);
    size_t min, max;  /* default sizes */
    uint64_t k;       /* default parameter */
    const char *unit;
    const char *k_means;
    const char *summary;
} workload_t;

static const workload_t WORKLOADS[] = {
    {"random", w_random, 8, 1024, 4096, "allocs", "slots",
     "random alloc/free in k slots (not FIFO)"},
    {"storm", w_storm, 16, 512, 50000, "allocs", "blocks per storm",
     "allocate k blocks, free them all, repeat"},
    {"lifetimes", w_lifetimes, 8, 256, 10000, "allocs", "long-lived blocks",
     "k long-lived blocks beside short-lived churn"},
    {"sizes", w_sizes, 8, 65536, 1024, "allocs", "slots",
     "log-uniform sizes min..max, random replacement"},
    {"prodcon", NULL, 16, 512, 0, "allocs", "(unused)",
     "-t producer/consumer pairs, blocks freed by the other thread"},
    {"falseshare", w_falseshare, 8, 8, 100, "allocs", "writes per block",
     "small blocks written repeatedly by each thread"},
    {"churn", NULL, 8, 512, 256, "threads", "blocks per thread",
     "-t lanes of short-lived threads"},
    {"realloc", w_realloc, 16, 262144, 0, "reallocs", "(unused)",
     "buffers grown by realloc from min to 4 KiB..max"},
    {"fastpath", w_fastpath, 64, 64, 1, "pairs", "depth",
     "malloc/free pairs of size min"},
    {"replace", w_replace, 4, 32768, 1024, "allocs", "live blocks",
     "free a random slot of k, allocate a 1/size^2-distributed size into it"},
    {"bursts", w_bursts, 16, 64, 0, "allocs", "(unused)",
     "bursts of 25..1600 blocks of 16/32/64 B, written, freed half FIFO half LIFO; -n rounds"},
    {"bigbuf", w_bigbuf, 5u << 20, 25u << 20, 20, "steps", "live buffers",
     "replace one of k big buffers by a malloc+memset(0) one"},
    {"server", NULL, 16, 4096, 64, "requests", "requests in flight per thread",
     "-t threads in a ring hand on requests of mixed-size objects; a shared cache; -n requests"},
};
#define NWORKLOADS (sizeof WORKLOADS / sizeof WORKLOADS[0])

static void usage_to(FILE *out, int status)
{
    size_t i;
    fprintf(out,
            "usage: workloads NAME [-s seconds] [-t threads] [-n ops] [-S seed] [-m min] [-M max] "
            "[-k param] [-P]\n"
            "  -s run time, seconds (default 2); -n fixed work per thread instead (ops of the unit)\n"
            "  -t threads (prodcon: pairs; churn: lanes; server: ring stages), default 1; sizes\n"
            "     take K/M suffixes\n"
            "  -P write every 4 KiB page of each new block (default: a couple of bytes)\n"
            "workloads (default min..max, k):\n");
    for (i = 0; i < NWORKLOADS; i++)
        fprintf(out, "  %-10s %s (%zu..%zu, k=%llu %s)\n", WORKLOADS[i].name,
                WORKLOADS[i].summary, WORKLOADS[i].min, WORKLOADS[i].max,
                (unsigned long long)WORKLOADS[i].k, WORKLOADS[i].k_means);
    exit(status);
}

static void usage(void)
{
    usage_to(stderr, 2);
}

int main(int argc, char **argv)
{
    const workload_t *wl = NULL;
    bench_usage_t u0, u1;
    uint64_t ops = 0, aux = 0;
    int threads_reported, c, t;
    size_t i;
    char extra[256];
    int have_min = 0, have_max = 0, have_k = 0;

    if (argc < 2)
        usage();
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
        usage_to(stdout, 0);
    if (strcmp(argv[1], "list") == 0) {
        for (i = 0; i < NWORKLOADS; i++)
            printf("%s\n", WORKLOADS[i].name);
        return 0;
    }
    for (i = 0; i < NWORKLOADS; i++)
        if (strcmp(argv[1], WORKLOADS[i].name) == 0)
            wl = &WORKLOADS[i];
    if (!wl) {
        fprintf(stderr, "workloads: unknown workload '%s'\n", argv[1]);
        usage();
    }

    O.seconds = 2;
    O.threads = 1;
    O.seed = 12345;
    optind = 2;
    while ((c = getopt(argc, argv, "s:t:n:S:m:M:k:Ph")) != -1) {
        switch (c) {
        case 's': O.seconds = bench_parse_double(optarg, "-s"); break;
        case 't': O.threads = (int)bench_parse_size(optarg, "-t"); break;
        case 'n': O.n = bench_parse_size(optarg, "-n"); break;
        case 'S': O.seed = bench_parse_size(optarg, "-S"); break;
        case 'm': O.min = (size_t)bench_parse_size(optarg, "-m"); have_min = 1; break;
        case 'M': O.max = (size_t)bench_parse_size(optarg, "-M"); have_max = 1; break;
        case 'k': O.k = bench_parse_size(optarg, "-k"); have_k = 1; break;
        case 'P': bench_touch_pages = 1; break;
        case 'h': usage_to(stdout, 0); break;
        default: usage();
        }
    }
    if (optind != argc)
        usage();
    if (!have_min)
        O.min = wl->min;
    if (!have_max)
        O.max = have_min && O.min > wl->max ? O.min : wl->max;
    if (!have_k)
        O.k = wl->k;
    if (strcmp(wl->name, "fastpath") == 0 && have_min && !have_max)
        O.max = O.min;
    if (O.min < 1 || O.max < O.min || O.threads < 1 || O.threads > 1024)
        usage();
    if (strcmp(wl->name, "bigbuf") == 0 && O.k < 1) {
        fprintf(stderr, "workloads: bigbuf needs -k of at least 1\n");
        return 2;
    }
    if (strcmp(wl->name, "server") == 0 && (O.k < 1 || O.max > ((size_t)1 << 31))) {
        fprintf(stderr, "workloads: server needs -k of at least 1 and -M of at most 2G\n");
        return 2;
    }
    if ((strcmp(wl->name, "random") == 0 || strcmp(wl->name, "lifetimes") == 0 ||
         strcmp(wl->name, "sizes") == 0 || strcmp(wl->name, "storm") == 0 ||
         strcmp(wl->name, "churn") == 0 || strcmp(wl->name, "replace") == 0) && O.k < 2) {
        fprintf(stderr, "workloads: %s needs -k of at least 2\n", wl->name);
        return 2;
    }

    if (strcmp(wl->name, "churn") == 0) {
        uint64_t fails;
        run_churn(&ops, &aux, &fails, &u0, &u1);
        snprintf(extra, sizeof extra, " min=%zu max=%zu k=%llu allocs=%llu spawn_failures=%llu",
                 O.min, O.max, (unsigned long long)O.k, (unsigned long long)aux,
                 (unsigned long long)fails);
        if (bench_touch_pages)
            strncat(extra, " touch=pages", sizeof extra - strlen(extra) - 1);
        bench_print_result("churn", O.threads, wl->unit, ops, &u0, &u1, extra);
        return 0;
    }

    if (strcmp(wl->name, "server") == 0) {
        run_server(&ops, &u0, &u1, extra, sizeof extra);
        if (bench_touch_pages)
            strncat(extra, " touch=pages", sizeof extra - strlen(extra) - 1);
        bench_print_result("server", O.threads, wl->unit, ops, &u0, &u1, extra);
        return 0;
    }

    if (strcmp(wl->name, "prodcon") == 0) {
        int pairs = O.threads;
        pc_pair_t *pp = aligned_alloc(BENCH_CACHE_LINE, sizeof(pc_pair_t) * (size_t)pairs);
        pthread_t *tid = bench_xmalloc(sizeof(pthread_t) * 2 * (size_t)pairs);
        uint64_t freed = 0;
        if (!pp)
            bench_die("out of memory");
        for (t = 0; t < pairs; t++) {
            memset(&pp[t], 0, sizeof pp[t]);
            pthread_mutex_init(&pp[t].q.mu, NULL);
            pthread_cond_init(&pp[t].q.cv, NULL);
            pp[t].prod.rng = rng_for(O.seed, (uint64_t)t);
        }
        u0 = bench_usage_now();
        for (t = 0; t < pairs; t++) {
            if (pthread_create(&tid[2 * t], NULL, w_producer, &pp[t]) ||
                pthread_create(&tid[2 * t + 1], NULL, w_consumer, &pp[t]))
                bench_die("cannot create threads");
        }
        if (!O.n) {
            bench_sleep(O.seconds);
            atomic_store_explicit(&g_stop.flag, 1, memory_order_relaxed);
        }
        for (t = 0; t < 2 * pairs; t++)
            pthread_join(tid[t], NULL);
        u1 = bench_usage_now();
        for (t = 0; t < pairs; t++) {
            ops += pp[t].prod.ops;
            freed += pp[t].cons.ops;
        }
        if (freed != ops)
            bench_die("prodcon: consumers freed a different number of blocks");
        snprintf(extra, sizeof extra, " min=%zu max=%zu pairs=%d", O.min, O.max, pairs);
        bench_print_result("prodcon", 2 * pairs, wl->unit, ops, &u0, &u1, extra);
        free(tid);
        free(pp);
        return 0;
    }

    {
        worker_t *w = aligned_alloc(BENCH_CACHE_LINE, sizeof(worker_t) * (size_t)O.threads);
        pthread_t *tid = bench_xmalloc(sizeof(pthread_t) * (size_t)O.threads);
        int setup = wl->fn == w_replace || wl->fn == w_bigbuf;
        if (!w)
            bench_die("out of memory");
        for (t = 0; t < O.threads; t++) {
            memset(&w[t], 0, sizeof w[t]);
            w[t].id = t;
            w[t].rng = rng_for(O.seed, (uint64_t)t);
        }
        if (wl->fn == w_falseshare) /* back to back, before any thread exists */
            for (t = 0; t < O.threads; t++)
                w[t].given = bench_xmalloc(O.min);
        threads_reported = O.threads;
        if (setup) {
            pthread_barrier_init(&g_setup_a, NULL, (unsigned)O.threads + 1);
            pthread_barrier_init(&g_setup_b, NULL, (unsigned)O.threads + 1);
        }
        u0 = bench_usage_now();
        for (t = 0; t < O.threads; t++)
            if (pthread_create(&tid[t], NULL, wl->fn, &w[t]))
                bench_die("cannot create threads");
        if (setup) { /* every worker has filled its slots: the measured phase starts now */
            pthread_barrier_wait(&g_setup_a);
            u0 = bench_usage_now();
            pthread_barrier_wait(&g_setup_b);
        }
        if (!O.n) {
            bench_sleep(O.seconds);
            atomic_store_explicit(&g_stop.flag, 1, memory_order_relaxed);
        }
        for (t = 0; t < O.threads; t++)
            pthread_join(tid[t], NULL);
        u1 = bench_usage_now();
        for (t = 0; t < O.threads; t++) {
            ops += w[t].ops;
            aux += w[t].aux;
        }
        if (wl->fn == w_storm)
            snprintf(extra, sizeof extra, " min=%zu max=%zu k=%llu storms=%llu", O.min, O.max,
                     (unsigned long long)O.k, (unsigned long long)aux);
        else if (wl->fn == w_bursts)
            snprintf(extra, sizeof extra, " rounds=%llu allocs_per_round=6375 cpu_s_per_round=%.3g",
                     (unsigned long long)aux, aux ? (u1.cpu - u0.cpu) / (double)aux : 0.0);
        else if (wl->fn == w_bigbuf)
            snprintf(extra, sizeof extra, " min=%zu max=%zu k=%llu mib_per_step=%.2f "
                     "mib_per_cpu_s=%.0f", O.min, O.max, (unsigned long long)O.k,
                     ops ? (double)aux / (double)ops / 1048576.0 : 0.0,
                     u1.cpu > u0.cpu ? (double)aux / (u1.cpu - u0.cpu) / 1048576.0 : 0.0);
        else if (wl->fn == w_realloc)
            snprintf(extra, sizeof extra, " min=%zu max=%zu buffers_completed=%llu", O.min, O.max,
                     (unsigned long long)aux);
        else
            snprintf(extra, sizeof extra, " min=%zu max=%zu k=%llu", O.min, O.max,
                     (unsigned long long)O.k);
        if (bench_touch_pages)
            strncat(extra, " touch=pages", sizeof extra - strlen(extra) - 1);
        bench_print_result(wl->name, threads_reported, wl->unit, ops, &u0, &u1, extra);
        free(tid);
        free(w);
    }
    return 0;
}
