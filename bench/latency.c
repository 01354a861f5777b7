/* latency: the cost of single malloc and free calls, as a distribution (tails), not a mean.
 *
 *   latency [-w scenario] [-t threads] [-s seconds] [-n requests] [-c think_ns] [-M cache_cap]
 *           [-W warmup_requests] [-S seed] [-H histogram_file]
 *
 * Every malloc and every free of the scenario is timed with the time-stamp counter (lfence; rdtsc;
 * lfence before, rdtscp; lfence after), and so is every request as a whole. The counter is
 * calibrated against CLOCK_MONOTONIC at start (three 70 ms windows, the median), and the program stops if it looks
 * unusable (not increasing, or an implausible rate). A measured value (ticks) goes into a
 * log-linear histogram: values 0..7 exactly, then 8 sub-buckets per power of two (at most 12.5%
 * wide, 496 buckets in all), one histogram per thread and operation, kept in memory allocated and
 * touched before the measured phase (recording allocates nothing); the main thread merges them at
 * the end and converts ticks to ns. A percentile is the midpoint of the bucket that holds it
 * (clipped to the exact maximum); max and mean are exact.
 *
 * Scenarios (-w):
 *   growheap  (default) each thread runs a request loop: a request allocates 16 objects of 16..1024 B
 *             (uniform), writes every byte of each, spins for the think time (-c ns, default 2000;
 *             0: none) and frees them, except that 2% of the objects (chosen at random) go into a
 *             long-lived per-thread cache instead. The caches together grow the heap to the cap
 *             (-M, default 256 MiB; each thread's share is cap / threads); a thread whose cache is
 *             full replaces a random entry (the evicted block is freed, timed as a free of the
 *             request). The cache is freed after the measured phase (not timed).
 *   steady    the same request loop without the cache: every object is freed (a steady heap).
 *   bursts    a request allocates 1000 blocks of 16..256 B (uniform), writing 2 bytes of each, then
 *             frees all in allocation order; no think time.
 *
 * The first -W requests of each thread (default 100) are run but not recorded (first-use
 * initialisation of the allocator in the thread is then not in the figures; -W 0 keeps it). Runs
 * are bounded by time (-s, default 3) or by -n requests per thread. Threads start together
 * (barrier) and each has its own loop; nothing crosses threads.
 *
 * What a figure includes: the timing itself (an empty timed region, reported as timer_ns, is
 * not subtracted), page faults taken inside malloc/free, and preemption: on a shared machine a
 * thread descheduled inside a call shows up in the top percentiles and max (the RESULT line gives
 * involuntary context switches, nivcsw, of the measured threads). The op "empty" is the floor
 * under all of it: an empty timed region right after every timed malloc, so as many samples in
 * the same loop; what its tail shows (interrupts, the hypervisor taking the CPU, preemption) is
 * the machine's, and no allocator's malloc tail can be told apart below it. On the 2-core VMs of
 * this project its max is 0.3-7 ms and its p99.99 about 0.1-1 us (docs/benchmarks.md).
 *
 * Output, on stdout:
 *   # lines: the machine, the TSC rate, the timer overhead
 *   LAT,scenario,threads,think_ns,op,count,mean_ns,p50_ns,p99_ns,p99.9_ns,p99.99_ns,max_ns
 *       one line per op: malloc, free, request, empty (a CSV after removing the LAT, prefix; the header
 *       is printed as "# LAT,...")
 *   RESULT ... the line of bench_common.h, unit requests, with extra think_ns, tsc_ghz,
 *       tsc_drift_pct (TSC against CLOCK_MONOTONIC over the measured phase), timer_ns, nivcsw,
 *       cache_mib (growheap).
 * -H FILE writes the merged histograms: "op,bucket,lo_ns,hi_ns,count" for every non-empty bucket
 * (lo inclusive, hi exclusive), for CDF plots (bench/latency.sh). */
#define _GNU_SOURCE
#include "bench_common.h"

#if !defined(__x86_64__) && !defined(__i386__)
#error "latency uses the x86 time-stamp counter"
#endif

#include <getopt.h>
#include <unistd.h>

/* ---- The time-stamp counter --------------------------------------------------------------------- */

static inline uint64_t tsc_begin(void)
{
    unsigned lo, hi;
    __asm__ volatile("lfence\n\trdtsc\n\tlfence" : "=a"(lo), "=d"(hi) : : "memory");
    return ((uint64_t)hi << 32) | lo;
}

static inline uint64_t tsc_end(void)
{
    unsigned lo, hi;
    __asm__ volatile("rdtscp\n\tlfence" : "=a"(lo), "=d"(hi) : : "rcx", "memory");
    return ((uint64_t)hi << 32) | lo;
}

static double g_ticks_per_ns;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Ticks per ns: the median of three 70 ms windows, each end bracketed by two clock reads. */
static void tsc_calibrate(void)
{
    double r[3], t;
    int i;
    for (i = 0; i < 3; i++) {
        uint64_t n0, n1, t0, t1, n0b, n1b;
        n0 = mono_ns();
        t0 = tsc_begin();
        n0b = mono_ns();
        bench_sleep(0.07);
        n1 = mono_ns();
        t1 = tsc_end();
        n1b = mono_ns();
        if (t1 <= t0)
            bench_die("latency: the TSC does not increase; cannot time with it");
        r[i] = (double)(t1 - t0) / ((double)(n1 + n1b) / 2 - (double)(n0 + n0b) / 2);
    }
    if (r[0] > r[1]) t = r[0], r[0] = r[1], r[1] = t;
    if (r[1] > r[2]) t = r[1], r[1] = r[2], r[2] = t;
    if (r[0] > r[1]) t = r[0], r[0] = r[1], r[1] = t;
    g_ticks_per_ns = r[1];
    if (!(g_ticks_per_ns > 0.2 && g_ticks_per_ns < 10))
        bench_die("latency: implausible TSC rate (outside 0.2..10 GHz); cannot time with it");
    if (r[2] - r[0] > 0.01 * r[1])
        fprintf(stderr, "latency: note: TSC calibration windows disagree by more than 1%% "
                        "(%.4f..%.4f GHz)\n", r[0], r[2]);
}

/* ---- Histograms ------------------------------------------------------------------------------------ */

#define HB_SUB 8                       /* sub-buckets per power of two */
#define HB_N (HB_SUB + 61 * HB_SUB)    /* 0..7 exact, then exponents 3..63 */

typedef struct hist {
    uint64_t b[HB_N];
    uint64_t count, sum, max;
} hist_t;

static inline unsigned hb_index(uint64_t v)
{
    unsigned e;
    if (v < HB_SUB)
        return (unsigned)v;
    e = 63u - (unsigned)__builtin_clzll(v); /* >= 3 */
    return HB_SUB + (e - 3) * HB_SUB + (unsigned)((v >> (e - 3)) & (HB_SUB - 1));
}

static void hb_bounds(unsigned i, uint64_t *lo, uint64_t *hi) /* [lo, hi) in ticks */
{
    unsigned e, sub;
    if (i < HB_SUB) {
        *lo = i;
        *hi = i + 1;
        return;
    }
    e = (i - HB_SUB) / HB_SUB + 3;
    sub = (i - HB_SUB) % HB_SUB;
    *lo = (uint64_t)(HB_SUB + sub) << (e - 3);
    *hi = *lo + ((uint64_t)1 << (e - 3));
}

static inline void hb_record(hist_t *h, uint64_t v)
{
    h->b[hb_index(v)]++;
    h->count++;
    h->sum += v;
    if (v > h->max)
        h->max = v;
}

static void hb_merge(hist_t *into, const hist_t *h)
{
    unsigned i;
    for (i = 0; i < HB_N; i++)
        into->b[i] += h->b[i];
    into->count += h->count;
    into->sum += h->sum;
    if (h->max > into->max)
        into->max = h->max;
}

/* The q-quantile in ns: the midpoint of the bucket holding the ceil(q * count)-th value. */
static double hb_quantile_ns(const hist_t *h, double q)
{
    uint64_t rank, cum = 0, lo, hi;
    unsigned i;
    double v;
    if (!h->count)
        return 0;
    rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count)
        rank++;
    if (rank < 1)
        rank = 1;
    for (i = 0; i < HB_N; i++) {
        cum += h->b[i];
        if (cum >= rank)
            break;
    }
    hb_bounds(i, &lo, &hi);
    v = i < HB_SUB ? (double)lo : ((double)lo + (double)hi) / 2;
    if (v > (double)h->max)
        v = (double)h->max;
    return v / g_ticks_per_ns;
}

/* ---- Options and per-thread state ---------------------------------------------------------------- */

enum { SC_GROWHEAP, SC_STEADY, SC_BURSTS };
static const char *const SC_NAMES[] = {"growheap", "steady", "bursts"};
enum { OP_MALLOC, OP_FREE, OP_REQUEST, OP_EMPTY, NOPS };
static const char *const OP_NAMES[] = {"malloc", "free", "request", "empty"};

static struct {
    int scenario;
    int threads;
    double seconds;
    uint64_t n;        /* requests per thread; 0: time-bounded */
    uint64_t think_ns;
    uint64_t cache_cap; /* bytes, all threads */
    uint64_t warmup;
    uint64_t seed;
    const char *hist_path;
} O;

#define REQ_OBJECTS 16
#define REQ_MIN 16
#define REQ_MAX 1024
#define CACHE_PERCENT 2
#define BURST_BLOCKS 1000
#define BURST_MIN 16
#define BURST_MAX 256

typedef struct cache_entry {
    void *p;
    size_t size;
} cache_entry_t;

typedef struct worker {
    _Alignas(BENCH_CACHE_LINE) int id;
    uint64_t rng;
    uint64_t requests;   /* recorded requests */
    long nivcsw;         /* involuntary context switches during the loop */
    cache_entry_t *cache;
    size_t ncache, cache_slots;
    uint64_t cache_bytes, cache_share;
    void *scratch[BURST_BLOCKS];
    hist_t h[NOPS];
    hist_t warm[NOPS];   /* sink for the warm-up requests */
} worker_t;

static struct {
    _Alignas(BENCH_CACHE_LINE) atomic_int flag;
    char pad[BENCH_CACHE_LINE - sizeof(atomic_int)];
} g_stop;

static pthread_barrier_t g_start, g_ready;
static uint64_t g_think_ticks;

static inline void spin_ticks(uint64_t ticks)
{
    uint64_t end = tsc_begin() + ticks;
    while (tsc_begin() < end)
        __builtin_ia32_pause();
}

static inline void *timed_malloc(hist_t *h, size_t size)
{
    uint64_t t0 = tsc_begin();
    void *p = malloc(size);
    uint64_t t1 = tsc_end();
    hb_record(&h[OP_MALLOC], t1 - t0);
    if (!p)
        bench_die("malloc failed");
    /* The floor: an empty timed region, as often as malloc, in the same loop. */
    t0 = tsc_begin();
    t1 = tsc_end();
    hb_record(&h[OP_EMPTY], t1 - t0);
    return p;
}

static inline void timed_free(hist_t *h, void *p)
{
    uint64_t t0 = tsc_begin();
    free(p);
    uint64_t t1 = tsc_end();
    hb_record(&h[OP_FREE], t1 - t0);
}

/* One request of growheap/steady. */
static inline void request_objects(worker_t *w, hist_t *h, int use_cache)
{
    void *obj[REQ_OBJECTS];
    size_t size[REQ_OBJECTS];
    int i;
    for (i = 0; i < REQ_OBJECTS; i++) {
        size[i] = rng_range(&w->rng, REQ_MIN, REQ_MAX);
        obj[i] = timed_malloc(h, size[i]);
        memset(obj[i], (int)(i + 1), size[i]);
    }
    if (g_think_ticks)
        spin_ticks(g_think_ticks);
    for (i = 0; i < REQ_OBJECTS; i++) {
        if (use_cache && rng_below(&w->rng, 100) < CACHE_PERCENT) {
            cache_entry_t *e;
            if (w->cache_bytes + size[i] <= w->cache_share && w->ncache < w->cache_slots) {
                e = &w->cache[w->ncache++];
            } else if (w->ncache == 0) { /* a cap smaller than one object: nothing to keep */
                timed_free(h, obj[i]);
                continue;
            } else { /* full: replace a random entry */
                e = &w->cache[rng_below(&w->rng, w->ncache)];
                w->cache_bytes -= e->size;
                timed_free(h, e->p);
            }
            e->p = obj[i];
            e->size = size[i];
            w->cache_bytes += size[i];
            continue;
        }
        timed_free(h, obj[i]);
    }
}

static inline void request_burst(worker_t *w, hist_t *h)
{
    int i;
    for (i = 0; i < BURST_BLOCKS; i++) {
        size_t size = rng_range(&w->rng, BURST_MIN, BURST_MAX);
        unsigned char *p = timed_malloc(h, size);
        p[0] = (unsigned char)i;
        p[size - 1] = (unsigned char)i;
        w->scratch[i] = p;
    }
    for (i = 0; i < BURST_BLOCKS; i++)
        timed_free(h, w->scratch[i]);
}

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    uint64_t done = 0, req = 0;
    struct rusage r0, r1;
    if (O.scenario == SC_GROWHEAP) {
        w->cache_share = O.cache_cap / (uint64_t)O.threads;
        /* Slots for twice the expected number of entries (mean size 520 B). */
        w->cache_slots = (size_t)(w->cache_share / 256) + 16;
        w->cache = calloc(w->cache_slots, sizeof(cache_entry_t));
        if (!w->cache)
            bench_die("out of memory");
    }
    pthread_barrier_wait(&g_ready);
    pthread_barrier_wait(&g_start);
    getrusage(RUSAGE_THREAD, &r0);
    for (;;) {
        hist_t *h = req < O.warmup ? w->warm : w->h;
        uint64_t t0, t1;
        if (O.n ? done >= O.n : atomic_load_explicit(&g_stop.flag, memory_order_relaxed))
            break;
        t0 = tsc_begin();
        if (O.scenario == SC_BURSTS)
            request_burst(w, h);
        else
            request_objects(w, h, O.scenario == SC_GROWHEAP);
        t1 = tsc_end();
        hb_record(&h[OP_REQUEST], t1 - t0);
        req++;
        if (req > O.warmup)
            done++;
    }
    getrusage(RUSAGE_THREAD, &r1);
    w->nivcsw = r1.ru_nivcsw - r0.ru_nivcsw;
    w->requests = done;
    return NULL;
}

static void usage(int status)
{
    fprintf(status ? stderr : stdout,
            "usage: latency [-w growheap|steady|bursts] [-t threads] [-s seconds] [-n requests]\n"
            "               [-c think_ns] [-M cache_cap] [-W warmup] [-S seed] [-H hist_file]\n"
            "  -w scenario (default growheap); -t threads, each its own loop (default 1)\n"
            "  -s seconds (default 3) or -n recorded requests per thread\n"
            "  -c think time per request, ns of spinning (default 2000; 0: none; bursts: 0)\n"
            "  -M long-lived cache cap of growheap, all threads (default 256M; K/M/G suffixes)\n"
            "  -W unrecorded warm-up requests per thread (default 100)\n"
            "  -H write the merged histograms (op,bucket,lo_ns,hi_ns,count) to a file\n");
    exit(status);
}

int main(int argc, char **argv)
{
    worker_t *w;
    pthread_t *tid;
    hist_t *all;
    bench_usage_t u0, u1;
    uint64_t requests = 0, cache_bytes = 0, timer_min = UINT64_MAX, tsc0, tsc1;
    double tsc_drift_pct;
    long nivcsw = 0;
    double timer_ns;
    int c, t, have_think = 0, op, i;
    char extra[512], model[128] = "unknown";
    FILE *f;

    O.scenario = SC_GROWHEAP;
    O.threads = 1;
    O.seconds = 3;
    O.think_ns = 2000;
    O.cache_cap = 256ull << 20;
    O.warmup = 100;
    O.seed = 12345;
    while ((c = getopt(argc, argv, "w:t:s:n:c:M:W:S:H:h")) != -1) {
        switch (c) {
        case 'w':
            for (i = 0; i < 3; i++)
                if (strcmp(optarg, SC_NAMES[i]) == 0)
                    break;
            if (i == 3) {
                fprintf(stderr, "latency: unknown scenario '%s'\n", optarg);
                usage(2);
            }
            O.scenario = i;
            break;
        case 't': O.threads = (int)bench_parse_size(optarg, "-t"); break;
        case 's': O.seconds = bench_parse_double(optarg, "-s"); break;
        case 'n': O.n = bench_parse_size(optarg, "-n"); break;
        case 'c': O.think_ns = bench_parse_size(optarg, "-c"); have_think = 1; break;
        case 'M': O.cache_cap = bench_parse_size(optarg, "-M"); break;
        case 'W': O.warmup = bench_parse_size(optarg, "-W"); break;
        case 'S': O.seed = bench_parse_size(optarg, "-S"); break;
        case 'H': O.hist_path = optarg; break;
        case 'h': usage(0); break;
        default: usage(2);
        }
    }
    if (optind != argc || O.threads < 1 || O.threads > 1024)
        usage(2);
    if (O.scenario == SC_BURSTS && !have_think)
        O.think_ns = 0;

    tsc_calibrate();
    g_think_ticks = (uint64_t)((double)O.think_ns * g_ticks_per_ns);
    /* The cost of an empty timed region: the minimum of many. */
    for (i = 0; i < 100000; i++) {
        uint64_t t0 = tsc_begin(), t1 = tsc_end();
        if (t1 - t0 < timer_min)
            timer_min = t1 - t0;
    }
    timer_ns = (double)timer_min / g_ticks_per_ns;
    if (timer_ns > 300)
        fprintf(stderr, "latency: note: an empty timed region costs %.0f ns: rdtsc looks trapped "
                        "by the hypervisor; figures are dominated by it\n", timer_ns);

    f = fopen("/proc/cpuinfo", "r");
    if (f) {
        char line[256];
        while (fgets(line, sizeof line, f)) {
            char *p = strchr(line, ':');
            if (strncmp(line, "model name", 10) == 0 && p) {
                snprintf(model, sizeof model, "%s", p + 2);
                model[strcspn(model, "\n")] = 0;
                break;
            }
        }
        fclose(f);
    }
    printf("# machine: %s, nproc %ld\n", model, sysconf(_SC_NPROCESSORS_ONLN));
    printf("# tsc: %.4f GHz (calibrated against CLOCK_MONOTONIC), empty timed region %.1f ns "
           "(not subtracted)\n", g_ticks_per_ns, timer_ns);
    printf("# scenario %s, %d threads, think %llu ns, %s, warm-up %llu requests per thread\n",
           SC_NAMES[O.scenario], O.threads, (unsigned long long)O.think_ns,
           O.n ? "fixed requests" : "time-bounded", (unsigned long long)O.warmup);

    w = aligned_alloc(BENCH_CACHE_LINE, sizeof(worker_t) * (size_t)O.threads);
    tid = bench_xmalloc(sizeof(pthread_t) * (size_t)O.threads);
    all = calloc(NOPS, sizeof(hist_t));
    if (!w || !all)
        bench_die("out of memory");
    memset(w, 0, sizeof(worker_t) * (size_t)O.threads); /* touches the histograms now */
    for (t = 0; t < O.threads; t++) {
        w[t].id = t;
        w[t].rng = rng_for(O.seed, (uint64_t)t);
    }
    pthread_barrier_init(&g_ready, NULL, (unsigned)O.threads + 1);
    pthread_barrier_init(&g_start, NULL, (unsigned)O.threads + 1);
    for (t = 0; t < O.threads; t++)
        if (pthread_create(&tid[t], NULL, worker_main, &w[t]))
            bench_die("cannot create threads");
    pthread_barrier_wait(&g_ready);
    u0 = bench_usage_now();
    tsc0 = tsc_begin();
    pthread_barrier_wait(&g_start);
    if (!O.n) {
        bench_sleep(O.seconds);
        atomic_store_explicit(&g_stop.flag, 1, memory_order_relaxed);
    }
    for (t = 0; t < O.threads; t++)
        pthread_join(tid[t], NULL);
    tsc1 = tsc_end();
    u1 = bench_usage_now();
    /* The TSC against the monotonic clock over the whole measured phase (should be ~0%). */
    tsc_drift_pct = u1.wall > u0.wall
        ? 100.0 * ((double)(tsc1 - tsc0) / g_ticks_per_ns / ((u1.wall - u0.wall) * 1e9) - 1.0) : 0.0;
    if (tsc_drift_pct > 1 || tsc_drift_pct < -1)
        fprintf(stderr, "latency: note: the TSC drifted %.2f%% from CLOCK_MONOTONIC during the "
                        "run; ns figures are off by as much\n", tsc_drift_pct);

    for (t = 0; t < O.threads; t++) {
        for (op = 0; op < NOPS; op++)
            hb_merge(&all[op], &w[t].h[op]);
        requests += w[t].requests;
        nivcsw += w[t].nivcsw;
        cache_bytes += w[t].cache_bytes;
    }

    printf("# LAT,scenario,threads,think_ns,op,count,mean_ns,p50_ns,p99_ns,p99.9_ns,p99.99_ns,max_ns\n");
    for (op = 0; op < NOPS; op++) {
        const hist_t *h = &all[op];
        printf("LAT,%s,%d,%llu,%s,%llu,%.1f,%.1f,%.1f,%.1f,%.1f,%.1f\n", SC_NAMES[O.scenario],
               O.threads, (unsigned long long)O.think_ns, OP_NAMES[op],
               (unsigned long long)h->count,
               h->count ? (double)h->sum / (double)h->count / g_ticks_per_ns : 0.0,
               hb_quantile_ns(h, 0.50), hb_quantile_ns(h, 0.99), hb_quantile_ns(h, 0.999),
               hb_quantile_ns(h, 0.9999), (double)h->max / g_ticks_per_ns);
    }
    snprintf(extra, sizeof extra,
             " scenario=%s think_ns=%llu tsc_ghz=%.4f tsc_drift_pct=%.3f timer_ns=%.1f nivcsw=%ld",
             SC_NAMES[O.scenario], (unsigned long long)O.think_ns, g_ticks_per_ns, tsc_drift_pct,
             timer_ns, nivcsw);
    if (O.scenario == SC_GROWHEAP)
        snprintf(extra + strlen(extra), sizeof extra - strlen(extra),
                 " cache_mib=%.1f cache_cap_mib=%.0f", (double)cache_bytes / 1048576.0,
                 (double)O.cache_cap / 1048576.0);
    {
        char name[32];
        snprintf(name, sizeof name, "latency-%s", SC_NAMES[O.scenario]);
        bench_print_result(name, O.threads, "requests", requests, &u0, &u1, extra);
    }

    if (O.hist_path) {
        f = fopen(O.hist_path, "w");
        if (!f) {
            perror(O.hist_path);
            return 1;
        }
        fprintf(f, "op,bucket,lo_ns,hi_ns,count\n");
        for (op = 0; op < NOPS; op++) {
            unsigned b;
            for (b = 0; b < HB_N; b++) {
                uint64_t lo, hi;
                if (!all[op].b[b])
                    continue;
                hb_bounds(b, &lo, &hi);
                fprintf(f, "%s,%u,%.2f,%.2f,%llu\n", OP_NAMES[op], b, (double)lo / g_ticks_per_ns,
                        (double)hi / g_ticks_per_ns, (unsigned long long)all[op].b[b]);
            }
        }
        fclose(f);
    }

    for (t = 0; t < O.threads; t++) {
        size_t j;
        for (j = 0; j < w[t].ncache; j++)
            free(w[t].cache[j].p);
        free(w[t].cache);
    }
    free(all);
    free(tid);
    free(w);
    return 0;
}
