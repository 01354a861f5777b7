/* Storage for the per-class slab rings: one mapping for all slot arrays, made at start-up. */
#include "lockfree/slab_ring.h"

slab_ring_t hak_rings[HAK_NUM_CLASSES];

bool slab_rings_init(void) {
    size_t n = (size_t)hak_opt.ring_size;
    ck_ring_buffer_t *slots = os_map(n * HAK_NUM_CLASSES * sizeof *slots);
    if (!slots) return false;
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        ck_ring_init(&hak_rings[c].ring, (unsigned)n);
        hak_rings[c].slots = slots + c * n;
    }
    return true;
}
