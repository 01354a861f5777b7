/* The registry of SuperSlabs (registry.c): one byte per 2 MiB of address space. */
#ifndef HAK_REGISTRY_H
#define HAK_REGISTRY_H
#include "core/size_class.h"

#define HAK_ADDR_BITS 47
#define HAK_REGISTRY_ENTRIES ((size_t)1 << (HAK_ADDR_BITS - HAK_SS_SHIFT))
extern _Atomic uint8_t hak_ss_registry[HAK_REGISTRY_ENTRIES] HAK_INTERNAL;
void registry_set(uintptr_t ss, bool present) HAK_INTERNAL;

/* Is addr inside a live SuperSlab? Relaxed load: a SuperSlab's entry is set before any of its
 * blocks is handed out, and it is cleared only once no block of it is live (then an RCU grace
 * period passes before unmap), so for any pointer the program may legitimately free, the entry
 * read here is already set with all the synchronisation that handed the block over.
 * A byte per SuperSlab, not a bit: the test is a shift, a mask and a compare with memory (a bit
 * map needed two shifts, a mask, a load and a bit test: three instructions more on every free).
 * The index is masked rather than range-checked: hakmem maps below 2^47, so only a garbage
 * pointer above it could alias a registered SuperSlab. */
HAK_INLINE bool registry_contains(uintptr_t addr) {
    uintptr_t i = (addr >> HAK_SS_SHIFT) & (HAK_REGISTRY_ENTRIES - 1);
    return atomic_load_explicit(&hak_ss_registry[i], memory_order_relaxed) != 0;
}
#endif
