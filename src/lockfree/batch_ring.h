/* Per-class rings of ready batches (Concurrency Kit ck_ring, SPMC).
 * A ring entry is the first block of a batch: a NULL-terminated chain of exactly
 * hak_class_batch[cls] blocks. Producing is serialised by the class's central lock: whoever holds
 * it (the refill daemon topping the ring up, a thread whose list overflowed putting its batch back,
 * a drain) is the one producer at that moment, which is what enqueue_spmc requires (wait-free for a
 * single producer); the lock's release/acquire orders one producer's ring writes before the next
 * producer's. Any thread dequeues without the lock (dequeue_spmc: one CAS per batch, never per
 * block). */
#ifndef HAK_BATCH_RING_H
#define HAK_BATCH_RING_H
#include <ck_ring.h>
#include "core/internal.h"
#include "lockfree/tsan.h"

typedef struct batch_ring {
    ck_ring_t ring;
    ck_ring_buffer_t *slots;
} __attribute__((aligned(64))) batch_ring_t;

extern batch_ring_t hak_rings[HAK_NUM_CLASSES] HAK_INTERNAL;

bool batch_rings_init(void) HAK_INTERNAL;

/* Consumer side (any thread). The acquire annotation pairs with the producer's release: TSan then
 * orders the daemon's writes to the chain before this thread's reads. */
HAK_INLINE void *batch_ring_pop(unsigned cls) {
    void *batch;
    if (!ck_ring_dequeue_spmc(&hak_rings[cls].ring, hak_rings[cls].slots, &batch)) return NULL;
    HAK_TSAN_ACQUIRE(batch);
    return batch;
}

/* Producer side: the caller holds central lock `cls` (single producer per ring). */
HAK_INLINE bool batch_ring_push(unsigned cls, void *batch) {
    HAK_TSAN_RELEASE(batch);
    return ck_ring_enqueue_spmc(&hak_rings[cls].ring, hak_rings[cls].slots, batch);
}

HAK_INLINE unsigned batch_ring_count(unsigned cls) { return ck_ring_size(&hak_rings[cls].ring); }

#endif
