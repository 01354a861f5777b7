/* Guards on free blocks (docs/security.md): a key that marks a block as free, so a second free of
 * it is noticed, and, in HAKMEM_HARDENED builds, encoded links that a use-after-free write cannot
 * turn into an arbitrary allocation. Below slab_blocks.h, which links blocks through it.
 *
 * The free key. A block on any free list (TLS list, slab free list, remote list) holds HAK_FREE_KEY
 * in its second word; every path that hands a block out clears that word. So free() of a block
 * whose second word is the key is either a double free or a live block whose owner happened to
 * store exactly the key there; free_confirm (tls_cache.c) tells the two apart by looking for the
 * block in the lists it could be on, which is exact. Cost on the fast path: a compare and a store
 * on free, a store on malloc (the key is a 32-bit immediate, sign-extended, so no load).
 * The key is a constant, not a secret: knowing it gains nothing but the slow check (a program that
 * stores it in a live block pays a list walk per free of that block, nothing worse), and
 * a write after free can erase it with or without knowing it. The second word needs blocks of at
 * least 16 bytes, so there is no 8-byte class (size_class.c: 1..8 bytes take a 16-byte block).
 *
 * Encoded links (HAKMEM_HARDENED). A link is stored as next ^ (address of the link >> 12) ^ a
 * per-process random secret, and a decoded link must be NULL or a block of the same size class as
 * the block it was read from in a live SuperSlab; anything else aborts. A write after free that
 * does not know the secret cannot steer the next malloc to an address of its choosing, and a
 * link copied from one block to another decodes differently. */
#ifndef HAK_FREE_LIST_GUARD_H
#define HAK_FREE_LIST_GUARD_H
#include "core/block_word.h"
#include "core/superslab.h"
#include "core/registry.h"

#ifndef HAKMEM_HARDENED
#define HAKMEM_HARDENED 0
#endif

/* An imm32 that sign-extends to 0xffffffffb10cf4ee: nobody's pointer (above the user half), an
 * unlikely integer. */
#define HAK_FREE_KEY ((void *)(intptr_t)(int32_t)0xb10cf4eeu)

HAK_INLINE bool block_has_free_key(void *b) { return block_word(b, 1) == HAK_FREE_KEY; }
HAK_INLINE void block_set_free_key(void *b) { block_set_word(b, 1, HAK_FREE_KEY); }
/* Every block leaves the allocator through here (malloc's pop, the refill, the orphan path). */
HAK_INLINE void block_clear_free_key(void *b) { block_set_word(b, 1, NULL); }

/* Offset of p from the start of its slab's block area (slab 1 for a medium SuperSlab). */
HAK_INLINE uint32_t block_offset(const void *p, unsigned cls) {
    uintptr_t a = (uintptr_t)p;
    return (uint32_t)(cls >= HAK_FIRST_MEDIUM ? (a & (HAK_SS_SIZE - 1)) - HAK_SLAB_SIZE
                                              : a & (HAK_SLAB_SIZE - 1));
}
HAK_INLINE bool block_at_boundary(const void *p, unsigned cls) {
    return (uint64_t)block_offset(p, cls) * hak_class_recip[cls] <= hak_class_recip[cls] - 1;
}
#define HAK_MSG_INTERIOR "inside a block, not at its start"
_Noreturn void hak_report_bad_free(const char *what, void *p, const char *why) HAK_INTERNAL HAK_COLD;
_Noreturn void hak_report_double_free(const char *what, void *p) HAK_INTERNAL HAK_COLD;
_Noreturn void hak_report_bad_link(void *at, void *link) HAK_INTERNAL HAK_COLD;
/* Aborts unless p is at a block boundary of its class (p's slab has class cls). Inline: as a call
 * (with the caller's name to report) it was 16 of a remote free's 113 instructions (`workloads
 * prodcon`, callgrind). */
HAK_INLINE void free_check_boundary(void *p, unsigned cls, const char *what) {
    if (HAK_UNLIKELY(!block_at_boundary(p, cls))) hak_report_bad_free(what, p, HAK_MSG_INTERIOR);
}
void guard_init(void) HAK_INTERNAL;

#if HAKMEM_HARDENED
/* Written once by guard_init, before hak_init_state becomes 2 (release); every thread that holds a
 * link got its blocks after an acquire of that state, so a plain read is ordered after the write. */
extern uintptr_t hak_link_secret HAK_INTERNAL;
HAK_INLINE void *link_encode(void *at, void *next) {
    return (void *)((uintptr_t)next ^ ((uintptr_t)at >> 12) ^ hak_link_secret);
}
/* Every list holds blocks of one class only; the tag is read relaxed like free() does. */
HAK_INLINE void *link_decode_class(void *at, void *stored, unsigned cls) {
    void *n = (void *)((uintptr_t)stored ^ ((uintptr_t)at >> 12) ^ hak_link_secret);
    if (HAK_UNLIKELY(n != NULL && (!registry_contains((uintptr_t)n)
                                   || (slab_tag_of(n) & HAK_TAG_CLASS_MASK) != cls)))
        hak_report_bad_link(at, n);
    return n;
}
HAK_INLINE void *link_decode(void *at, void *stored) {
    return link_decode_class(at, stored, slab_tag_of(at) & HAK_TAG_CLASS_MASK);
}
#else
HAK_INLINE void *link_encode(void *at, void *next) { (void)at; return next; }
HAK_INLINE void *link_decode_class(void *at, void *stored, unsigned cls) { (void)at; (void)cls; return stored; }
HAK_INLINE void *link_decode(void *at, void *stored) { (void)at; return stored; }
#endif

#endif
