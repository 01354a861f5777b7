/* Unit test of the daemon's start rule (core/background.h): it starts once one thread has made
 * BACKGROUND_START_AFTER growth claims, counted per thread, so that threads that each keep a
 * small steady heap never start it, however many of them there are. Runs with the refill thread
 * allowed (HAKMEM_REFILL_THREAD=1) and reads background_running(), which the starter sets.
 *
 * 1. Three threads, one after another, each allocate (and keep) 12 slabs' worth of 1 KiB blocks:
 *    10 growth claims each, 30 in all, more than the threshold: the daemon has not started.
 * 2. The main thread allocates 24 slabs' worth: 22 growth claims of its own: it has started. */
#include <pthread.h>
#include <stdio.h>

#include "core/background.h"
#include "core/size_class.h"
#include "hakmem.h"
#include "support/check.h"

#define BLOCK 1024
#define PER_SLAB (HAK_SLAB_SIZE / BLOCK)

typedef struct { void **blocks; size_t n; } grow_t;

static void *grow(void *arg) {
    grow_t *g = arg;
    for (size_t i = 0; i < g->n; i++) {
        g->blocks[i] = hak_malloc(BLOCK);
        CHECK(g->blocks[i] != NULL, "hak_malloc(%d) failed", BLOCK);
    }
    return NULL;
}

static void free_all(grow_t *g) {
    for (size_t i = 0; i < g->n; i++) hak_free(g->blocks[i]);
    hak_free(g->blocks);
}

int main(void) {
    hak_free(hak_malloc(1));   /* initialised: the starter is registered */
    CHECK(!background_running(), "the daemon runs before any growth");
    grow_t small[3];
    for (int t = 0; t < 3; t++) {
        small[t].n = 12 * PER_SLAB;
        small[t].blocks = hak_malloc(small[t].n * sizeof(void *));
        CHECK(small[t].blocks != NULL, "hak_malloc failed");
        pthread_t th;
        CHECK(pthread_create(&th, NULL, grow, &small[t]) == 0, "pthread_create failed");
        CHECK(pthread_join(th, NULL) == 0, "pthread_join failed");
    }
    EXPECT(!background_running(), "3 threads of 12 slabs each (30 growth claims in all, fewer than %d "
           "each) started the daemon", BACKGROUND_START_AFTER);
    grow_t big = { .n = 24 * PER_SLAB };
    big.blocks = hak_malloc(big.n * sizeof(void *));
    CHECK(big.blocks != NULL, "hak_malloc failed");
    grow(&big);
    EXPECT(background_running(), "a thread that grew by 24 slabs (22 growth claims, threshold %d) did not "
           "start the daemon", BACKGROUND_START_AFTER);
    free_all(&big);
    for (int t = 0; t < 3; t++) free_all(&small[t]);
    printf("daemon start rule: %s\n", hak_test_failures ? "FAILED" : "ok");
    return hak_test_failures != 0;
}
