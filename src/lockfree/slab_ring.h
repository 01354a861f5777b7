/* Per-class rings of fresh slabs (Concurrency Kit ck_ring, SPMC): the refill daemon claims and
 * pre-faults slabs ahead of demand and enqueues them; a thread that needs a new slab dequeues one
 * and becomes its owner. The daemon is the only producer (enqueue_spmc, wait-free); any thread
 * dequeues (dequeue_spmc: one CAS per slab, i.e. per 64 KiB of blocks). */
#ifndef HAK_SLAB_RING_H
#define HAK_SLAB_RING_H
#include <ck_ring.h>
#include "core/internal.h"
#include "lockfree/tsan.h"

typedef struct slab_ring {
    ck_ring_t ring;
    ck_ring_buffer_t *slots;
} __attribute__((aligned(64))) slab_ring_t;

extern slab_ring_t hak_rings[HAK_NUM_CLASSES] HAK_INTERNAL;

bool slab_rings_init(void) HAK_INTERNAL;

/* Consumer side (any thread). The acquire annotation pairs with the producer's release: TSan then
 * orders the daemon's writes to the slab's metadata before this thread's reads. */
HAK_INLINE slab_meta_t *slab_ring_pop(unsigned cls) {
    void *s;
    if (!ck_ring_dequeue_spmc(&hak_rings[cls].ring, hak_rings[cls].slots, &s)) return NULL;
    HAK_TSAN_ACQUIRE(s);
    return s;
}

/* Producer side: the daemon only. */
HAK_INLINE bool slab_ring_push(unsigned cls, slab_meta_t *s) {
    HAK_TSAN_RELEASE(s);
    return ck_ring_enqueue_spmc(&hak_rings[cls].ring, hak_rings[cls].slots, s);
}

HAK_INLINE unsigned slab_ring_count(unsigned cls) { return ck_ring_size(&hak_rings[cls].ring); }

#endif
