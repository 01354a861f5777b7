/* mixed_sizes: every allocation call on a mix of sizes, in several threads at once.
 *
 * Each worker owns a table of slots. An operation picks a slot at random: an empty slot gets a
 * block from malloc, calloc, posix_memalign, aligned_alloc, memalign or realloc(NULL) (sizes mostly
 * 8..1024 B, some up to 32 KiB, a few up to 1 MiB; see rng_size); a full slot is checked against
 * its canary and then freed or resized with realloc (grow, shrink, or within its class). Every so
 * often a worker flushes its thread cache, and worker 0 calls hak_trim, so that blocks move
 * through every layer (thread list, own slabs, remote lists, orphans, rings, purge) while other
 * threads allocate. At the end every block is checked and freed.
 *
 * Registered with the refill thread on (default) and off (HAKMEM_REFILL_THREAD=0), at both budgets
 * (support/run.h): quick 4 threads x 20000 operations, long 4 threads x 400000. */
#define _GNU_SOURCE
#include <inttypes.h>

#include "support/run.h"

#define SLOTS 2048

typedef struct slot {
    void  *p;
    size_t size;
} slot_t;

static void *worker(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    rng_t r = rng_for(run_opt.seed, id + 1);
    slot_t *slots = calloc(SLOTS, sizeof *slots);   /* the harness's own memory (libc or hakmem) */
    CHECK(slots != NULL, "no memory for the slot table");
    uint64_t done = 0;
    while (run_continue(done)) {
        slot_t *s = &slots[rng_below(&r, SLOTS)];
        if (!s->p) {
            s->size = rng_size(&r);
            s->p = alloc_any(&r, s->size);
        } else {
            uint64_t what = rng_below(&r, 100);
            if (what < 65) {
                free_checked(s->p, s->size, "before free");
                s->p = NULL;
            } else {
                size_t n;
                if (what < 80) n = rng_size(&r);                                  /* anywhere */
                else if (what < 90) n = s->size + rng_range(&r, 1, s->size + 1);  /* grow */
                else n = s->size > 1 ? rng_range(&r, 1, s->size - 1) : 1;        /* shrink */
                if (n >= 2 * MiB) n = 2 * MiB;
                s->p = realloc_checked(s->p, s->size, n);
                s->size = n;
            }
        }
        done++;
        if ((done & 1023) == 0) run_count(1024);
        if ((done & 65535) == 0) hak_thread_flush();
        if (id == 0 && (done & 262143) == 0) hak_trim();
    }
    run_count(done & 1023);
    for (unsigned i = 0; i < SLOTS; i++)
        if (slots[i].p) free_checked(slots[i].p, slots[i].size, "at the end");
    free(slots);
    return NULL;
}

int main(int argc, char **argv)
{
    static const run_spec_t spec = {
        .name = "mixed_sizes", .seed = 1,
        .quick = { .threads = 4, .ops = 20000, .seconds = 20 },
        .full = { .threads = 4, .ops = 400000, .seconds = 40 },
    };
    run_begin(argc, argv, &spec);
    pthread_t t[64];
    if (run_opt.threads > 64) run_opt.threads = 64;
    for (unsigned i = 0; i < run_opt.threads; i++)
        CHECK(pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) == 0, "pthread_create");
    run_join_all(t, run_opt.threads);
    /* Everything was freed: hak_trim must leave nothing of it live. */
    hak_trim();
    hak_stats_t s;
    hak_stats_get(&s);
    CHECK(s.large_live == 0, "%" PRIu64 " large blocks still live after everything was freed", s.large_live);
    return run_report();
}
