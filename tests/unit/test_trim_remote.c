/* Unit test of hak_trim on the calling thread's own slabs (src/core/thread_heap.c: heap_trim): a
 * slab whose blocks were all freed by another thread holds them on its remote list, which giving
 * blocks back does not count, so only hak_trim's look at the remote lists can release it.
 *
 * The main thread allocates 64 blocks of 3000 B (several slabs of a class nothing else in the
 * process uses), another thread frees them all and exits (its exit sends every chain it kept), and
 * the main thread's hak_trim must leave the class with the slabs it had before. Runs with the
 * refill thread off (ctest sets HAKMEM_REFILL_THREAD=0). */
#include <pthread.h>
#include <stdatomic.h>

#include "core/central.h"
#include "core/size_class.h"
#include "core/superslab.h"
#include "hakmem.h"
#include "support/check.h"

#define SIZE 3000
#define N    64

static void *blocks[N];

static void *free_all(void *arg)
{
    (void)arg;
    for (unsigned i = 0; i < N; i++) hak_free(blocks[i]);
    return NULL;
}

int main(void)
{
    hak_free(hak_malloc(1)); /* start the library, register this thread */
    unsigned cls = size_class_of(SIZE);
    uint32_t before = atomic_load(&hak_class_slabs[cls]);
    for (unsigned i = 0; i < N; i++) CHECK((blocks[i] = hak_malloc(SIZE)) != NULL, "hak_malloc(%d)", SIZE);
    uint32_t held = atomic_load(&hak_class_slabs[cls]) - before;
    CHECK(held >= 2, "%u blocks of %d B took %u slabs, expected several", N, SIZE, held);
    CHECK((slab_tag_of(blocks[0]) & ~HAK_TAG_CLASS_MASK) != HAK_TAG_NO_OWNER, "the main thread does not own its slab");

    pthread_t t;
    CHECK(pthread_create(&t, NULL, free_all, NULL) == 0, "pthread_create");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    uint32_t remote = 0;
    for (unsigned i = 0; i < N; i++)
        if (i == 0 || slab_of(blocks[i]) != slab_of(blocks[i - 1]))
            remote += (uint32_t)(atomic_load(&slab_of(blocks[i])->remote) >> 48);
    CHECK(remote >= N / 2, "only %u of the %u blocks are on remote lists", remote, N);

    hak_trim();
    uint32_t after = atomic_load(&hak_class_slabs[cls]);
    CHECK(after == before, "hak_trim left %u of the %u slabs whose blocks another thread freed", after - before, held);
    OK("%u slabs whose %u blocks another thread freed (%u on remote lists): hak_trim released them all", held, N,
       remote);
    return hak_test_failures != 0;
}
