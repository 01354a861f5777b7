/* Unit test of the central pool's orphans (src/core/central.h), through its internal interface.
 * Runs with the refill thread off (ctest sets HAKMEM_REFILL_THREAD=0) on a class nothing else in
 * the process uses, so that the class's orphan list holds exactly what the test puts there.
 *
 * 1. central_alloc_one on a class with no orphan claims a slab, takes one block from it and leaves
 *    the slab an orphan (tag: no owner); a second call takes the next block from that same orphan
 *    without claiming another slab.
 * 2. central_adopt hands that orphan (it has blocks to give) to exactly one caller: the next
 *    adoption finds nothing. Given back (central_orphan), it is an orphan again.
 * 3. central_drain keeps an orphan while any of its blocks is live. Once the blocks come back (freed
 *    by a thread that does not own the slab: the remote list) the drain collects them: the purge
 *    tick (idle_only) keeps the empty orphan once if the class adopted an orphan since the last tick
 *    (thread churn reuses it) and releases it at the next; hak_trim's drain releases it at once. The
 *    class's slab count falls back, and nothing is left to adopt.
 * 4. 64 orphaned slabs, 4 threads adopting at once until nothing is left: every slab adopted
 *    exactly once, none lost, none twice (TSan checks the hand-over under the class lock). */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "core/central.h"
#include "core/size_class.h"
#include "core/superslab.h"
#include "hakmem.h"
#include "platform/track.h"
#include "support/check.h"

#define ORPHANS 64
#define ADOPTERS 4

static unsigned cls;

static uint32_t class_slabs(void) { return atomic_load(&hak_class_slabs[cls]); }

/* A block from the pool's interface is still the allocator's: hak_malloc hands a block out by
 * unpoisoning it (ASan builds, src/api/alloc.c), and the test must do the same before it may free
 * the block through hak_free. */
static void *alloc_one(void)
{
    void *p = central_alloc_one(cls);
    if (p)
        HAK_UNPOISON(p, hak_class_size[cls]);
    return p;
}

static void alloc_one_and_adopt(void)
{
    uint32_t slabs0 = class_slabs();
    CHECK(central_adopt(cls) == NULL, "class %u has an orphan before the test made one", cls);
    void *p = alloc_one();
    CHECK(p != NULL, "central_alloc_one(%u) returned NULL", cls);
    CHECK(block_class(p) == cls, "central_alloc_one(%u) gave a block of class %u", cls, block_class(p));
    CHECK(class_slabs() == slabs0 + 1, "central_alloc_one claimed %u slabs, expected 1", class_slabs() - slabs0);
    CHECK(slab_tag_of(p) == slab_tag_make(HAK_TAG_NO_OWNER, cls), "the slab of central_alloc_one's block has "
          "tag %#x, not an orphan's", slab_tag_of(p));
    void *q = alloc_one();
    CHECK(q != NULL && q != p, "second central_alloc_one(%u): %p after %p", cls, q, p);
    CHECK(slab_of(q) == slab_of(p) && class_slabs() == slabs0 + 1,
          "the second block came from another slab (%u slabs): the orphan was not used", class_slabs() - slabs0);
    OK("central_alloc_one: claims a slab once and leaves it an orphan; the next block comes from that orphan");

    central_drain(false);
    CHECK(class_slabs() == slabs0 + 1, "central_drain released an orphan with 2 live blocks");

    slab_meta_t *s = central_adopt(cls);
    CHECK(s == slab_of(p), "central_adopt gave %p, not the orphan %p", (void *)s, (void *)slab_of(p));
    CHECK(central_adopt(cls) == NULL, "the orphan was adopted twice");
    central_orphan(s);
    CHECK(slab_tag_of(p) == slab_tag_make(HAK_TAG_NO_OWNER, cls), "central_orphan left tag %#x", slab_tag_of(p));
    OK("central_adopt: the orphan goes to exactly one caller; central_orphan makes it an orphan again");

    hak_free(p); /* this thread does not own the slab: both go to its remote list */
    hak_free(q);
    central_drain(true);
    CHECK(class_slabs() == slabs0 + 1, "the purge tick released an empty orphan of a class that adopted one "
          "since the last tick (the next thread's slab under thread churn)");
    central_drain(true);
    CHECK(class_slabs() == slabs0, "the second purge tick without adoption kept the empty orphan (%u slabs)",
          class_slabs() - slabs0);
    CHECK(central_adopt(cls) == NULL, "an orphan is left after the drain released it");

    p = alloc_one();
    CHECK(p != NULL && class_slabs() == slabs0 + 1, "central_alloc_one after the drain");
    central_orphan(central_adopt(cls));
    hak_free(p);
    central_drain(false);
    CHECK(class_slabs() == slabs0, "central_drain(false) (hak_trim) kept an empty orphan just adopted");
    OK("central_drain: keeps an orphan with live blocks; collects the remote frees; the purge tick keeps "
       "empty orphans one tick after an adoption and then releases them; hak_trim's drain releases at once");
}

static _Atomic(slab_meta_t *) adopted[ORPHANS * 2];
static _Atomic unsigned nadopted;
static pthread_barrier_t go;

static void *adopter(void *arg)
{
    (void)arg;
    pthread_barrier_wait(&go);
    slab_meta_t *s;
    while ((s = central_adopt(cls)) != NULL) {
        unsigned k = atomic_fetch_add(&nadopted, 1);
        CHECK(k < ORPHANS * 2, "more adoptions than orphans");
        atomic_store(&adopted[k], s);
    }
    return NULL;
}

static void adopted_exactly_once(void)
{
    uint32_t slabs0 = class_slabs();
    slab_meta_t *orphan[ORPHANS];
    for (int i = 0; i < ORPHANS; i++) {
        orphan[i] = slab_claim(cls);
        CHECK(orphan[i] != NULL, "slab_claim(%u) #%d returned NULL", cls, i);
        central_orphan(orphan[i]);
    }
    pthread_t t[ADOPTERS];
    CHECK(pthread_barrier_init(&go, NULL, ADOPTERS) == 0, "pthread_barrier_init");
    for (int i = 0; i < ADOPTERS; i++)
        CHECK(pthread_create(&t[i], NULL, adopter, NULL) == 0, "pthread_create");
    for (int i = 0; i < ADOPTERS; i++)
        pthread_join(t[i], NULL);
    pthread_barrier_destroy(&go);
    unsigned n = atomic_load(&nadopted);
    CHECK(n == ORPHANS, "%u adoptions of %d orphans", n, ORPHANS);
    for (int i = 0; i < ORPHANS; i++) {
        int times = 0;
        for (unsigned k = 0; k < n; k++)
            times += atomic_load(&adopted[k]) == orphan[i];
        CHECK(times == 1, "orphan %d adopted %d times", i, times);
    }
    for (int i = 0; i < ORPHANS; i++)
        slab_release(orphan[i]);
    CHECK(class_slabs() == slabs0, "%u slabs of class %u left after releasing the adopted ones",
          class_slabs() - slabs0, cls);
    OK("%d orphans, %d threads adopting at once: every orphan adopted exactly once", ORPHANS, ADOPTERS);
}

int main(void)
{
    hak_free(hak_malloc(1)); /* start the library */
    cls = size_class_of(3000);
    CHECK(cls < HAK_NUM_CLASSES, "no class for 3000 B");
    alloc_one_and_adopt();
    adopted_exactly_once();
    return 0;
}
