/* test_thread_park: the empty slabs a thread parks (thread_heap.c) follow its bursts.
 *  1. storms: a thread allocates 4 MiB in 256 B blocks, writes them and frees them all, 12 times.
 *     Its park budget doubles with each storm that takes back all it parked, so from the sixth
 *     storm on no storm takes a new slab (hak_stats_get: refills_sync + refills_ring stay put).
 *     (Measured: 64, 46, 29 new slabs, then none.) With a fixed 1 MiB park every storm released
 *     45 slabs and claimed them again.
 *  2. one-shot: a new thread allocates 8 MiB the same way and frees it once. It has never taken a
 *     parked slab back, so it keeps at most the minimum parked (1 MiB: 16 slabs) plus the few slabs
 *     that its TLS list's blocks keep in use: slabs_in_use must fall back to within 32 slabs of what
 *     it was before (a fixed 8 MiB park would keep 128).
 * Runs with the refill thread off, so that every new slab is one the thread claims itself. */
#define _GNU_SOURCE
#include "support/api.h"
#include <pthread.h>
#include <string.h>

#define BLOCK 256
#define STORMS 12
#define STEADY_FROM 6

static uint64_t new_slabs(void)
{
    hak_stats_t s;
    hak_stats_get(&s);
    return s.refills_sync + s.refills_ring;
}

static uint64_t slabs_in_use(void)
{
    hak_stats_t s;
    hak_stats_get(&s);
    return s.slabs_in_use;
}

/* Allocate `bytes` in BLOCK-byte blocks, write each, free them all in allocation order. */
static void storm(void **slots, size_t bytes)
{
    size_t n = bytes / BLOCK;
    for (size_t i = 0; i < n; i++) {
        slots[i] = API(malloc)(BLOCK);
        CHECK(slots[i] != NULL, "malloc(%d)", BLOCK);
        memset(slots[i], (int)i, BLOCK);
    }
    for (size_t i = 0; i < n; i++) API(free)(slots[i]);
}

static void *storms(void *arg)
{
    void **slots = arg;
    for (int r = 1; r <= STORMS; r++) {
        uint64_t before = new_slabs();
        storm(slots, 4 * MiB);
        uint64_t taken = new_slabs() - before;
        printf("storm %2d: %llu new slabs\n", r, (unsigned long long)taken);
        if (r >= STEADY_FROM)
            CHECK(taken == 0, "storm %d of 4 MiB took %llu new slabs: the park should hold them all",
                  r, (unsigned long long)taken);
    }
    return NULL;
}

static void *one_shot(void *arg)
{
    void **slots = arg;
    uint64_t before = slabs_in_use();
    storm(slots, 8 * MiB);
    uint64_t after = slabs_in_use();
    printf("one-shot 8 MiB: slabs in use %llu before, %llu after\n", (unsigned long long)before,
           (unsigned long long)after);
    CHECK(after <= before + 32, "a thread that freed 8 MiB once keeps %llu slabs (at most 32 expected)",
          (unsigned long long)(after - before));
    return NULL;
}

static void run(void *(*fn)(void *), void **slots)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fn, slots) == 0, "pthread_create");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
}

int main(void)
{
    api_check_linked();
    void **slots = API(malloc)(8 * MiB / BLOCK * sizeof *slots);
    CHECK(slots != NULL, "malloc(slots)");
    run(storms, slots);
    printf("ok storms: from storm %d on, no new slab\n", STEADY_FROM);
    run(one_shot, slots);
    printf("ok one-shot: the park kept its minimum\n");
    API(free)(slots);
    return 0;
}
