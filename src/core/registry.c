/* The SuperSlab registry: one bit per 2 MiB of the 47-bit user address space (8 MiB of BSS that
 * costs RSS only where SuperSlabs live). free() asks it whether a pointer is in a SuperSlab with
 * one load; pointers that are not go to the large-block table or are reported as invalid.
 * Bits are set before a SuperSlab's first block is handed out and cleared before it is unmapped
 * (after its last block came back), see registry_contains() in registry.h. */
#include "core/registry.h"
#include "platform/os.h"

_Atomic uint64_t hak_ss_bitmap[HAK_BITMAP_WORDS];

void registry_set(uintptr_t ss, bool present) {
    uintptr_t word = ss >> (HAK_SS_SHIFT + 6);
    if (word >= HAK_BITMAP_WORDS) hak_fatal("hakmem: SuperSlab %p above the 47-bit address space", (void *)ss);
    uint64_t bit = 1ull << ((ss >> HAK_SS_SHIFT) & 63);
    /* Release: a thread that later sees the bit (with a block) also sees the initialised header. */
    if (present)
        atomic_fetch_or_explicit(&hak_ss_bitmap[word], bit, memory_order_release);
    else
        atomic_fetch_and_explicit(&hak_ss_bitmap[word], ~bit, memory_order_release);
}
