/* The registry of SuperSlabs (registry.c): one bit per 2 MiB of address space. */
#ifndef HAK_REGISTRY_H
#define HAK_REGISTRY_H
#include "core/size_class.h"

#define HAK_ADDR_BITS 47
#define HAK_BITMAP_WORDS ((size_t)1 << (HAK_ADDR_BITS - HAK_SS_SHIFT - 6))
extern _Atomic uint64_t hak_ss_bitmap[HAK_BITMAP_WORDS] HAK_INTERNAL;
void registry_set(uintptr_t ss, bool present) HAK_INTERNAL;

/* Is addr inside a live SuperSlab? Relaxed load: a SuperSlab's bit is set before any of its blocks
 * is handed out, and it is cleared only once no block of it is live (then an RCU grace period
 * passes before unmap), so for any pointer the program may legitimately free, the bit read here is
 * already set with all the synchronisation that handed the block over.
 * The index is masked rather than range-checked (two instructions fewer on every free): hakmem
 * maps below 2^47, so only a garbage pointer above it could alias a registered SuperSlab. */
HAK_INLINE bool registry_contains(uintptr_t addr) {
    uintptr_t word = (addr >> (HAK_SS_SHIFT + 6)) & (HAK_BITMAP_WORDS - 1);
    uint64_t bits = atomic_load_explicit(&hak_ss_bitmap[word], memory_order_relaxed);
    return (bits >> ((addr >> HAK_SS_SHIFT) & 63)) & 1;
}
#endif
