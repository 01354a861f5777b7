/* Sanitizer hooks, all in one place (the tracking of mimalloc's track.h): what hakmem tells
 * AddressSanitizer and ThreadSanitizer about memory and orderings they cannot see. In other builds
 * every hook is nothing.
 *
 * ASan (HAK_ASAN, -DHAKMEM_SANITIZE=address): a small block is poisoned from the moment it is
 * freed until malloc hands it out again (then unpoisoned for its whole usable size), and a cached
 * large mapping is poisoned while it is cached, so a use-after-free or double free of a hakmem
 * block is reported by ASan. hakmem's own accesses to free blocks are their link words
 * (core/slab_blocks.h): each lifts the poison of that one word for the access and puts it back.
 * Memory goes back to the OS unpoisoned (os_unmap), so whatever is mapped there next starts clean.
 * Blocks are at least 8 bytes and 8-aligned, so no two blocks share an ASan granule.
 *
 * TSan (HAK_TSAN, -DHAKMEM_SANITIZE=thread): happens-before edges TSan cannot see, because
 * Concurrency Kit and liburcu implement their atomics with inline asm and volatile accesses. */
#ifndef HAK_TRACK_H
#define HAK_TRACK_H

#if defined(HAK_ASAN)
#include <sanitizer/asan_interface.h>
#define HAK_POISON(p, n)    __asan_poison_memory_region((const volatile void *)(p), (n))
#define HAK_UNPOISON(p, n)  __asan_unpoison_memory_region((const volatile void *)(p), (n))
#define HAK_IS_POISONED(p)  __asan_address_is_poisoned((const volatile void *)(p))
#else
#define HAK_POISON(p, n)    ((void)0)
#define HAK_UNPOISON(p, n)  ((void)0)
#define HAK_IS_POISONED(p)  0
#endif

#if defined(HAK_TSAN)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define HAK_TSAN_RELEASE(p) __tsan_release((void *)(p))
#define HAK_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define HAK_TSAN_RELEASE(p) ((void)0)
#define HAK_TSAN_ACQUIRE(p) ((void)0)
#endif

#endif
