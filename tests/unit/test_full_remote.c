/* Unit test of the owner's look at its full slabs (src/core/thread_heap.c: full_with_remote, and
 * the epoch that slab_push_remote_chain bumps only for a slab on its owner's full list): blocks
 * that another thread frees into slabs their owner has listed as full must come back to the owner
 * at its next refills, not sit there while it claims new slabs.
 *
 * The main thread allocates four slabs' worth of 3000 B blocks (a class nothing else in the
 * process uses), so three of the slabs go to its full list; another thread frees them all and
 * exits (its exit sends every chain it kept); the main thread then allocates as many again and
 * must get the same blocks back, with no new slab. Without the epoch bump for full slabs, the
 * owner would not look at its full list until LOOK_ANYWAY new slabs later. Runs with the refill
 * thread off (ctest sets HAKMEM_REFILL_THREAD=0). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/size_class.h"
#include "core/superslab.h"
#include "hakmem.h"
#include "support/check.h"

#define SIZE  3000
#define SLABS 4

static void **blocks;
static size_t n;

static void *free_all(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < n; i++) hak_free(blocks[i]);
    return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
    return x < y ? -1 : x > y;
}

int main(void)
{
    hak_free(hak_malloc(1)); /* start the library, register this thread */
    unsigned cls = size_class_of(SIZE);
    n = (size_t)SLABS * (HAK_SLAB_SIZE / hak_class_size[cls]);
    blocks = calloc(n, sizeof *blocks);
    CHECK(blocks != NULL, "calloc");
    uint32_t before = atomic_load(&hak_class_slabs[cls]);
    for (size_t i = 0; i < n; i++) CHECK((blocks[i] = hak_malloc(SIZE)) != NULL, "hak_malloc(%d)", SIZE);
    uint32_t held = atomic_load(&hak_class_slabs[cls]) - before;
    CHECK(held >= SLABS, "%zu blocks of %d B took %u slabs, expected at least %d", n, SIZE, held, SLABS);
    qsort(blocks, n, sizeof *blocks, cmp_ptr);

    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_all, NULL) == 0, "pthread_create");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");

    size_t reused = 0;
    for (size_t i = 0; i < n; i++) {
        void *p = hak_malloc(SIZE);
        CHECK(p != NULL, "hak_malloc(%d) again", SIZE);
        if (bsearch(&p, blocks, n, sizeof *blocks, cmp_ptr)) reused++;
    }
    uint32_t grown = atomic_load(&hak_class_slabs[cls]) - before - held;
    CHECK(grown == 0, "the second round claimed %u new slabs while %u full ones held every block freed", grown, held);
    CHECK(reused == n, "only %zu of %zu blocks came back from the slabs another thread freed them into", reused, n);
    OK("%zu blocks freed by another thread into %u slabs (%u of them full): all %zu came back, no new slab", n,
       held, held - 1, reused);
    return hak_test_failures != 0;
}
