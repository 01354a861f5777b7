/* The SuperSlab registry: one byte per 2 MiB of the 47-bit user address space (64 MiB of BSS,
 * address space only: a page of it covers 8 GiB, and only pages where SuperSlabs live are ever
 * written; reading an entry elsewhere maps the kernel's shared zero page). free() asks it whether a
 * pointer is in a SuperSlab with one load; pointers that are not go to the large-block table or
 * are reported as invalid.
 * Entries are set before a SuperSlab's first block is handed out and cleared before it is unmapped
 * (after its last block came back), see registry_contains() in registry.h. */
#include "core/registry.h"
#include "platform/os.h"

_Atomic uint8_t hak_ss_registry[HAK_REGISTRY_ENTRIES];

void registry_set(uintptr_t ss, bool present) {
    uintptr_t i = ss >> HAK_SS_SHIFT;
    if (i >= HAK_REGISTRY_ENTRIES) hak_fatal("hakmem: SuperSlab %p above the 47-bit address space", (void *)ss);
    /* Release: a thread that later sees the entry (with a block) also sees the initialised header.
     * Each entry has one writer at a time (the mapper of a fresh SuperSlab, which nobody else
     * knows yet, or the retirer that took every slab of it; the clear comes before the unmap, the
     * unmap before any later mapping at the same address), and entries share no word, so a store
     * is enough where the bit map needed an atomic OR/AND. */
    atomic_store_explicit(&hak_ss_registry[i], present ? 1 : 0, memory_order_release);
}
