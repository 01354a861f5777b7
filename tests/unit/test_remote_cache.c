/* Unit test of the remote-free cache (remote_cache.c): a thread that frees blocks of another
 * thread's slab keeps them, one chain per slab, and pushes a chain onto the slab's remote list in
 * one go. Watched through the slab's remote word, whose top 16 bits count the blocks on its remote
 * list. The main thread owns the slab and allocates nothing of its class while it watches, so it
 * never collects the list itself.
 *
 * 1. Another thread's first 31 frees of 64 B blocks of one slab stay with it (count 0); the 32nd
 *    sends the chain of 32 (count 32).
 * 2. Its next frees stay until hak_thread_flush(), which sends them; those after that are sent when
 *    the thread exits.
 * 3. Blocks of 4 KiB are not kept: each free reaches the remote list at once.
 * 4. Blocks of an orphan slab (its owner exited) are not kept either: the thread that adopts the
 *    slab wants them now.
 * 5. Every block pushed comes back: the owner's next mallocs of the class take them again. */
#include <pthread.h>
#include <stdint.h>

#include "core/superslab.h"
#include "core/size_class.h"
#include "hakmem.h"
#include "support/check.h"

#define SMALL 64
#define LARGE 4096
#define N     48

static void *blocks[N];
static pthread_barrier_t step;

static uint32_t remote_count(void *block) {
    return (uint32_t)(atomic_load_explicit(&slab_of(block)->remote, memory_order_acquire) >> 48);
}

static void free_range(unsigned from, unsigned to) {
    for (unsigned i = from; i < to; i++) hak_free(blocks[i]);
}

/* The freeing thread stops after each step until the main thread has looked: it waits at the
 * barrier twice, the main thread looks between the two. */
static void pause_for_look(void) {
    pthread_barrier_wait(&step);
    pthread_barrier_wait(&step);
}

static uint32_t look(void) {
    pthread_barrier_wait(&step);
    uint32_t n = remote_count(blocks[0]);
    pthread_barrier_wait(&step);
    return n;
}

static void *freer(void *arg) {
    (void)arg;
    free_range(0, 31);
    pause_for_look();                /* 31 kept */
    free_range(31, 32);
    pause_for_look();                /* a chain of 32 sent */
    free_range(32, 40);
    pause_for_look();                /* 8 kept */
    hak_thread_flush();
    pause_for_look();                /* flushed */
    free_range(40, N);
    return NULL;                     /* exit sends the last 8 */
}

static void *free_large(void *arg) {
    void **v = arg;
    for (unsigned i = 0; i < 4; i++) {
        hak_free(v[i]);
        CHECK(remote_count(v[0]) == i + 1, "free %u of a 4 KiB block: remote count %u, not sent at once", i + 1,
              remote_count(v[0]));
    }
    return NULL;
}

static void *alloc_and_exit(void *arg) {
    void **v = arg;
    for (unsigned i = 0; i < 4; i++) CHECK((v[i] = hak_malloc(SMALL)) != NULL, "malloc failed");
    return NULL;
}

static void run(pthread_t *t, void *(*fn)(void *), void *arg) {
    CHECK(pthread_create(t, NULL, fn, arg) == 0, "pthread_create failed");
}

static void kept_until_sent(void) {
    for (unsigned i = 0; i < N; i++) CHECK((blocks[i] = hak_malloc(SMALL)) != NULL, "malloc failed");
    for (unsigned i = 1; i < N; i++)
        CHECK(slab_of(blocks[i]) == slab_of(blocks[0]), "the %u blocks do not share a slab", N);
    CHECK(remote_count(blocks[0]) == 0, "a fresh slab has remote blocks");
    pthread_barrier_init(&step, NULL, 2);
    pthread_t t;
    run(&t, freer, NULL);
    uint32_t n = look();
    EXPECT(n == 0, "31 remote frees: count %u, expected them kept (0)", n);
    n = look();
    EXPECT(n == 32, "32 remote frees: count %u, expected one chain of 32", n);
    n = look();
    EXPECT(n == 32, "8 more frees: count %u, expected them kept (32)", n);
    n = look();
    EXPECT(n == 40, "after hak_thread_flush: count %u, expected 40", n);
    CHECK(pthread_join(t, NULL) == 0, "join failed");
    EXPECT(remote_count(blocks[0]) == N, "after the thread exited: count %u, expected %u", remote_count(blocks[0]), N);
    pthread_barrier_destroy(&step);
    OK("remote frees of 64 B blocks are kept and sent as chains (32 blocks, flush, exit)");

    /* 5: the owner takes every block back: after what its list still holds from the last carve
     * (less than a batch of 32), its refill collects the remote list. */
    unsigned back = 0;
    void *again[2 * N];
    for (unsigned i = 0; i < 2 * N; i++) {
        CHECK((again[i] = hak_malloc(SMALL)) != NULL, "malloc failed");
        for (unsigned j = 0; j < N; j++) back += again[i] == blocks[j];
    }
    EXPECT(back == N, "the owner's next %u mallocs returned %u of the %u blocks given back", 2 * N, back, N);
    for (unsigned i = 0; i < 2 * N; i++) hak_free(again[i]);
    OK("the owner's next mallocs take the chains' blocks again");
}

static void large_not_kept(void) {
    void *v[4];
    for (unsigned i = 0; i < 4; i++) CHECK((v[i] = hak_malloc(LARGE)) != NULL, "malloc failed");
    CHECK(slab_of(v[3]) == slab_of(v[0]), "four 4 KiB blocks do not share a slab");
    pthread_t t;
    run(&t, free_large, v);
    CHECK(pthread_join(t, NULL) == 0, "join failed");
    OK("remote frees of 4 KiB blocks reach the remote list at once");
}

static void orphans_not_kept(void) {
    void *v[4];
    pthread_t t;
    run(&t, alloc_and_exit, v);
    CHECK(pthread_join(t, NULL) == 0, "join failed");
    CHECK((slab_tag_of(v[0]) & ~HAK_TAG_CLASS_MASK) == HAK_TAG_NO_OWNER, "the exited thread's slab is not an orphan");
    uint32_t before = remote_count(v[0]);
    for (unsigned i = 0; i < 4; i++) {
        hak_free(v[i]);
        EXPECT(remote_count(v[0]) == before + i + 1, "free %u of an orphan's block: count %u, expected %u", i + 1,
               remote_count(v[0]), before + i + 1);
    }
    OK("remote frees of an orphan slab's blocks reach its remote list at once");
}

int main(void) {
#if defined(HAKMEM_HARDENED) && HAKMEM_HARDENED
    SKIP_EXIT("hardened build: remote frees are not kept (the owner's double-free check needs them pushed)");
#endif
    /* The main thread registers with its first malloc and owns the slabs it allocates from. */
    void *warm = hak_malloc(SMALL);
    CHECK(warm != NULL, "malloc failed");
    hak_free(warm);
    kept_until_sent();
    large_not_kept();
    orphans_not_kept();
    return hak_test_failures != 0;
}
