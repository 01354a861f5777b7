/* run.c: the scenario harness (run.h). */
#define _GNU_SOURCE
#include "run.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hakmem.h"
#include "proc.h"
#include "wait.h"

run_opts_t run_opt;
const char *run_name = "scenario";
_Atomic uint64_t run_progress;
static _Atomic int stop_flag;                 /* the time budget is spent */
static _Atomic(const char *) phase = "start";
static _Atomic uint64_t phase_end_ms;          /* 0: the phase has no time share of its own */
static _Atomic int phase_over;
static double watchdog_seconds = 120, t0;

bool run_stopping(void) { return atomic_load_explicit(&stop_flag, memory_order_relaxed); }
bool run_phase_done(void) { return run_stopping() || atomic_load_explicit(&phase_over, memory_order_relaxed); }

void run_begin_phase(const char *p, double seconds)
{
    atomic_store(&phase, p);
    atomic_store(&phase_over, 0);
    atomic_store(&phase_end_ms, seconds > 0 ? (uint64_t)((now_seconds() + seconds) * 1000) : 0);
}

static void usage(void)
{
    fprintf(stderr, "usage: %s [--budget quick|long] [--threads N] [--ops N] [--seconds S] [--seed N] [--soak S]\n",
            run_name);
    exit(2);
}

static int parse_budget(const char *s)
{
    if (!strcmp(s, "quick"))
        return 1;
    if (!strcmp(s, "long"))
        return 0;
    fprintf(stderr, "%s: budget '%s' is neither quick nor long\n", run_name, s);
    exit(2);
}

void run_parse(int argc, char **argv, const run_spec_t *spec)
{
    run_name = spec->name;
    const char *b = getenv("HAKMEM_TEST_BUDGET");
    int quick = b && *b ? parse_budget(b) : 0;
    /* Explicit values, 0 = not given: the command line first, the environment below it. */
    uint64_t threads = env_u64("HAKMEM_STRESS_THREADS", 0), ops = env_u64("HAKMEM_STRESS_OPS", 0);
    uint64_t seconds = env_u64("HAKMEM_STRESS_SECONDS", 0), soak = env_u64("HAKMEM_STRESS_SOAK_SECONDS", 0);
    uint64_t seed = env_u64("HAKMEM_STRESS_SEED", spec->seed);
    watchdog_seconds = (double)env_u64("HAKMEM_STRESS_WATCHDOG", (uint64_t)watchdog_seconds);
    for (int i = 1; i < argc; i += 2) {
        if (i + 1 >= argc)
            usage();
        if (!strcmp(argv[i], "--budget")) {
            quick = parse_budget(argv[i + 1]);
            continue;
        }
        char *end;
        unsigned long long v = strtoull(argv[i + 1], &end, 0);
        if (*end)
            usage();
        if (!strcmp(argv[i], "--threads")) threads = v;
        else if (!strcmp(argv[i], "--ops")) ops = v;
        else if (!strcmp(argv[i], "--seconds")) seconds = v;
        else if (!strcmp(argv[i], "--seed")) seed = v;
        else if (!strcmp(argv[i], "--soak")) soak = v;
        else usage();
    }
    const run_level_t *lv = quick ? &spec->quick : &spec->full;
    run_opt.quick = quick;
    run_opt.threads = threads ? (unsigned)threads : lv->threads;
    run_opt.seed = seed;
    run_opt.seconds = seconds ? (double)seconds : lv->seconds;
    if (ops) {
        run_opt.ops = ops;
    } else {
        /* A sanitizer makes every operation slower: less work keeps the run inside its time
         * budget, which would otherwise cut it short. */
        unsigned divisor = HAK_TEST_TSAN ? 4 : HAK_TEST_ASAN ? 2 : 1;
        run_opt.ops = lv->ops / divisor ? lv->ops / divisor : 1;
    }
    if (soak) {
        run_opt.soak = true;
        run_opt.ops = 0;
        run_opt.seconds = (double)soak;
    }
    if (run_opt.threads == 0)
        run_opt.threads = 1;
    if (run_opt.seconds <= 0)
        run_opt.seconds = 1;
}

/* Sets the stop flag when the time budget is spent, ends a phase's time share, and fails when
 * the progress counter stands still for watchdog_seconds (a deadlock or livelock). */
static void *timer_thread(void *arg)
{
    (void)arg;
    uint64_t last = 0;
    double last_change = now_seconds(), start = last_change;
    for (;;) {
        sleep_ms(50);
        double now = now_seconds();
        if (now - start >= run_opt.seconds)
            atomic_store(&stop_flag, 1);
        uint64_t end = atomic_load(&phase_end_ms);
        if (end && (uint64_t)(now * 1000) >= end)
            atomic_store(&phase_over, 1);
        uint64_t p = atomic_load_explicit(&run_progress, memory_order_relaxed);
        if (p != last) {
            last = p;
            last_change = now;
        } else if (watchdog_seconds > 0 && now - last_change > watchdog_seconds) {
            FAIL("no progress for %.0f s in phase '%s' after %" PRIu64 " operations: hang", watchdog_seconds,
                 atomic_load(&phase), p);
        }
    }
    return NULL;
}

void run_start_timer(void)
{
    t0 = now_seconds();
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    CHECK(pthread_create(&t, &attr, timer_thread, NULL) == 0, "cannot start the timer thread");
    pthread_attr_destroy(&attr);
    printf("%s [%s]: budget=%s threads=%u ops=%" PRIu64 "%s seconds<=%.0f seed=%" PRIu64 "%s\n", run_name,
           hak_test_api_name ? hak_test_api_name : "?", run_opt.quick ? "quick" : "long", run_opt.threads,
           run_opt.ops, run_opt.ops ? "" : " (unbounded)", run_opt.seconds, run_opt.seed, run_opt.soak ? " SOAK" : "");
    fflush(stdout);
}

int run_report(void)
{
    double secs = now_seconds() - t0;
    uint64_t ops = atomic_load(&run_progress);
    hak_stats_t s;
    hak_stats_get(&s);
    printf("%s [%s]: OK ops=%" PRIu64 " seconds=%.2f ops/s=%.0f peak_rss=%ld KiB%s\n", run_name,
           hak_test_api_name ? hak_test_api_name : "?", ops, secs, secs > 0 ? (double)ops / secs : 0.0,
           peak_rss_kib(), run_stopping() ? " (stopped by the time budget)" : "");
    printf("  hakmem: mapped=%" PRIu64 " KiB refills ring=%" PRIu64 " sync=%" PRIu64 " daemon batches=%" PRIu64
           " wakeups=%" PRIu64 " superslabs mapped=%" PRIu64 " unmapped=%" PRIu64 " purges=%" PRIu64 "\n",
           s.bytes_mapped >> 10, s.refills_ring, s.refills_sync, s.daemon_batches, s.daemon_wakeups,
           s.superslabs_mapped_total, s.superslabs_unmapped_total, s.purges);
    fflush(stdout);
    return 0;
}

void run_join_all(pthread_t *t, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
}
