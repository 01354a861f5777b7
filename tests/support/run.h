/* run.h: the harness of the scenarios (tests/scenarios/): one program per scenario, run at two
 * budgets.
 *
 *   --budget quick   what ctest's `quick` label runs: seconds of work, every check made
 *   --budget long    what the `stress` label runs (the default): the same checks, far more work
 *
 * A budget is a number of worker threads, an operation budget (per worker unless the program says
 * otherwise) and a time budget; the run stops at whichever of the last two comes first. Each
 * program gives its own numbers for both budgets (run_spec_t). In a sanitizer build the operation
 * budget is divided by 4 (TSan) or 2 (ASan), since everything runs 2-20 times slower. Options given
 * explicitly win over the budget (command line, then environment):
 *
 *   --budget B    HAKMEM_TEST_BUDGET          quick or long
 *   --threads N   HAKMEM_STRESS_THREADS       worker threads
 *   --ops N       HAKMEM_STRESS_OPS           operation budget (not divided under a sanitizer)
 *   --seconds S   HAKMEM_STRESS_SECONDS       time budget
 *   --seed N      HAKMEM_STRESS_SEED          PRNG seed (each thread derives its own: rng_for)
 *   --soak S      HAKMEM_STRESS_SOAK_SECONDS  run S seconds with no operation budget
 *                 HAKMEM_STRESS_WATCHDOG      FAIL after this many seconds without progress
 *                                             (default 120; 0 off): a hang, not a slow run
 *
 * Workers count what they do (run_count) and ask run_continue(done) whether to go on; a phase may
 * have a time share of its own (run_begin_phase). The last line is the report: operations, rate,
 * peak RSS and hakmem's statistics. */
#ifndef HAK_TEST_SUPPORT_RUN_H
#define HAK_TEST_SUPPORT_RUN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "api.h"
#include "check.h"

typedef struct run_level {
    unsigned threads;
    uint64_t ops;
    double seconds;
} run_level_t;

typedef struct run_spec {
    const char *name;
    uint64_t seed;
    run_level_t quick, full; /* --budget quick, --budget long */
} run_spec_t;

typedef struct run_opts {
    unsigned threads;
    uint64_t ops; /* 0: no operation budget (soak) */
    double seconds;
    uint64_t seed;
    bool soak;
    bool quick; /* --budget quick */
} run_opts_t;

extern run_opts_t run_opt;
extern const char *run_name;
extern _Atomic uint64_t run_progress;   /* operations done by all threads so far */

void run_parse(int argc, char **argv, const run_spec_t *spec);
void run_start_timer(void); /* prints the header line, starts the timer and watchdog thread */
int run_report(void);       /* the last line; returns 0 for main */

bool run_stopping(void);    /* the time budget is spent */
bool run_phase_done(void);  /* ... or the current phase's own time share */
void run_begin_phase(const char *phase, double seconds); /* 0 s: no time share of its own */
static inline void run_set_phase(const char *phase) { run_begin_phase(phase, 0); }
static inline void run_count(uint64_t n) { atomic_fetch_add_explicit(&run_progress, n, memory_order_relaxed); }
/* Does a worker that has done `done` operations go on? */
static inline bool run_continue(uint64_t done) { return (run_opt.ops == 0 || done < run_opt.ops) && !run_phase_done(); }
void run_join_all(pthread_t *t, unsigned n);

/* Parse, check that hakmem really is under test, start the timer. */
static inline void run_begin(int argc, char **argv, const run_spec_t *spec)
{
    run_parse(argc, argv, spec);
    api_check_linked();
    run_start_timer();
}

#endif /* HAK_TEST_SUPPORT_RUN_H */
