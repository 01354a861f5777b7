/* Unit test of the SPMC pointer ring (src/lockfree/ptr_ring.h), alone: no allocator involved.
 *
 * Single-threaded: an empty ring pops NULL; a ring of S slots holds S-1 pointers, the next push
 * fails; pointers come out in the order they went in, across wrap-around.
 * Concurrent: one producer pushes N distinct pointers through a small ring (so it is often full
 * and often empty) while 3 consumers pop; every pointer is delivered exactly once, none lost, none
 * duplicated. Before each push the producer writes the pointed-to object with plain stores and the
 * consumer reads it with plain loads: the ring's hand-over must order the two, which ThreadSanitizer
 * checks in the TSan build (ptr_ring.h annotates ck_ring's inline-asm atomics). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "lockfree/ptr_ring.h"
#include "support/check.h"

#define SLOTS 64
#define CONSUMERS 3
#define N HAK_SCALE(400000, 50000)

typedef struct item {
    uint64_t payload;   /* plain: written by the producer before the push, read after the pop */
    _Atomic int seen;
} item_t;

static item_t *items;
static ptr_ring_t ring;
static _Atomic uint64_t popped;

static uint64_t payload_of(size_t i) { return i * 0x9E3779B97F4A7C15ull + 1; }

static void *producer(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < N; i++) {
        items[i].payload = payload_of(i);
        while (!ptr_ring_push(&ring, &items[i]))
            sched_yield();
    }
    return NULL;
}

static void *consumer(void *arg)
{
    uint64_t *mine = arg;
    while (atomic_load_explicit(&popped, memory_order_relaxed) < N) {
        item_t *p = ptr_ring_pop(&ring);
        if (!p) {
            sched_yield();
            continue;
        }
        CHECK(p >= items && p < items + N, "popped %p, not one of the pushed pointers", (void *)p);
        size_t i = (size_t)(p - items);
        CHECK(p->payload == payload_of(i), "item %zu: payload %llx, written %llx before the push", i,
              (unsigned long long)p->payload, (unsigned long long)payload_of(i));
        atomic_fetch_add_explicit(&p->seen, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&popped, 1, memory_order_relaxed);
        (*mine)++;
    }
    return NULL;
}

static void single_threaded(void *storage)
{
    static item_t a[3 * SLOTS];
    ptr_ring_init(&ring, storage, SLOTS);
    CHECK(ptr_ring_pop(&ring) == NULL, "an empty ring popped something");
    for (int round = 0; round < 3; round++) { /* three times round: wrap-around */
        for (int i = 0; i < SLOTS - 1; i++)
            CHECK(ptr_ring_push(&ring, &a[round * SLOTS + i]), "push %d of %d failed", i, SLOTS - 1);
        CHECK(ptr_ring_count(&ring) == SLOTS - 1, "count %u, expected %d", ptr_ring_count(&ring), SLOTS - 1);
        CHECK(!ptr_ring_push(&ring, &a[0]), "a ring of %d slots took %d pointers", SLOTS, SLOTS);
        for (int i = 0; i < SLOTS - 1; i++) {
            void *p = ptr_ring_pop(&ring);
            CHECK(p == &a[round * SLOTS + i], "pop %d gave %p, expected %p (first in, first out)", i, p,
                  (void *)&a[round * SLOTS + i]);
        }
        CHECK(ptr_ring_pop(&ring) == NULL && ptr_ring_count(&ring) == 0, "the drained ring is not empty");
    }
    OK("single thread: empty pops NULL, %d slots hold %d, first in first out across wrap-around", SLOTS,
       SLOTS - 1);
}

int main(void)
{
    void *storage = calloc(1, ptr_ring_bytes(SLOTS));
    items = calloc(N, sizeof *items);
    CHECK(storage && items, "no memory");
    single_threaded(storage);

    ptr_ring_init(&ring, storage, SLOTS);
    pthread_t prod, cons[CONSUMERS];
    uint64_t got[CONSUMERS] = { 0 };
    for (int c = 0; c < CONSUMERS; c++)
        CHECK(pthread_create(&cons[c], NULL, consumer, &got[c]) == 0, "pthread_create");
    CHECK(pthread_create(&prod, NULL, producer, NULL) == 0, "pthread_create");
    pthread_join(prod, NULL);
    for (int c = 0; c < CONSUMERS; c++)
        pthread_join(cons[c], NULL);
    CHECK(atomic_load(&popped) == N, "%llu pops for %d pushes", (unsigned long long)atomic_load(&popped), N);
    for (size_t i = 0; i < N; i++)
        CHECK(atomic_load(&items[i].seen) == 1, "pointer %zu delivered %d times", i, atomic_load(&items[i].seen));
    CHECK(ptr_ring_pop(&ring) == NULL, "the ring holds more after every pointer was delivered");
    OK("1 producer, %d consumers, %d slots: %d pointers each delivered exactly once (consumers took "
       "%llu, %llu, %llu), the pointed-to writes seen", CONSUMERS, SLOTS, N, (unsigned long long)got[0],
       (unsigned long long)got[1], (unsigned long long)got[2]);
    free(items);
    free(storage);
    return 0;
}
