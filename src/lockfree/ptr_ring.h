/* A bounded SPMC ring of pointers (Concurrency Kit ck_ring): one producer enqueues wait-free, any
 * thread dequeues with one CAS. It knows nothing of what the pointers are; the owner hands in the
 * slot storage (ptr_ring_bytes(slots) bytes) and decides who the producer is.
 *
 * TSan: ck_ring's atomics are inline asm, so the hand-over is annotated: the producer releases the
 * pointer before the enqueue, the consumer acquires it after the dequeue, so TSan orders the
 * producer's writes to the pointed-to object before the consumer's reads. */
#ifndef HAK_PTR_RING_H
#define HAK_PTR_RING_H
#include <ck_ring.h>
#include "platform/base.h"
#include "platform/track.h"

typedef struct ptr_ring {
    ck_ring_t ring;
    ck_ring_buffer_t *slots;
} __attribute__((aligned(64))) ptr_ring_t;

/* slots: a power of two; the ring holds one less. */
HAK_INLINE size_t ptr_ring_bytes(unsigned slots) { return (size_t)slots * sizeof(ck_ring_buffer_t); }

HAK_INLINE void ptr_ring_init(ptr_ring_t *r, void *storage, unsigned slots) {
    ck_ring_init(&r->ring, slots);
    r->slots = storage;
}

/* Consumer side (any thread). NULL: empty. */
HAK_INLINE void *ptr_ring_pop(ptr_ring_t *r) {
    void *p;
    if (!ck_ring_dequeue_spmc(&r->ring, r->slots, &p)) return NULL;
    HAK_TSAN_ACQUIRE(p);
    return p;
}

/* Producer side (one thread at a time). false: full. */
HAK_INLINE bool ptr_ring_push(ptr_ring_t *r, void *p) {
    HAK_TSAN_RELEASE(p);
    return ck_ring_enqueue_spmc(&r->ring, r->slots, p);
}

/* The pointer the next pop would return, or NULL if the ring looks empty: a hint, for prefetching.
 * Another consumer may pop it first and the producer may reuse the slot, so the caller must not
 * dereference it (the object may be gone by then). The loads are ck's, like the pop's. */
HAK_INLINE void *ptr_ring_peek(ptr_ring_t *r) {
    unsigned head = ck_pr_load_uint(&r->ring.c_head);
    if (head == ck_pr_load_uint(&r->ring.p_tail)) return NULL;
    return ck_pr_load_ptr(&r->slots[head & r->ring.mask].value);
}

HAK_INLINE unsigned ptr_ring_count(ptr_ring_t *r) { return ck_ring_size(&r->ring); }

#endif
