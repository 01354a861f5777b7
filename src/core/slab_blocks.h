/* The blocks of a slab (slab_blocks.c): link words of free blocks, chains, and what the slab's
 * owner takes from it and other threads give back to it. */
#ifndef HAK_SLAB_BLOCKS_H
#define HAK_SLAB_BLOCKS_H
#include "core/superslab.h"
#include "core/registry.h"
#include "platform/track.h"

/* ---- Chains of blocks ----------------------------------------------------------------------- */
#include "core/block_word.h"
#include "core/free_list_guard.h"
/* Links go through the guard's encoding (plain in default builds, see free_list_guard.h). */
HAK_INLINE void *block_next(void *b) { return link_decode(b, block_word(b, 0)); }
HAK_INLINE void  block_set_next(void *b, void *n) { block_set_word(b, 0, link_encode(b, n)); }

/* Cut the first n (>= 1) blocks off a chain that has at least n: head then starts a
 * NULL-terminated chain of n blocks, and the rest of the chain is returned. */
HAK_INLINE void *chain_split(void *head, uint32_t n) {
    HAK_ASSERT(head != NULL && n >= 1);
    void *tail = head;
    for (uint32_t i = 1; i < n; i++) {
        tail = block_next(tail);
        HAK_ASSERT(tail != NULL);
    }
    void *rest = block_next(tail);
    block_set_next(tail, NULL);
    return rest;
}


/* ---- Slab blocks, for whoever owns the slab (slab_blocks.c) ------------------------------------- */
/* Up to n blocks as a NULL-terminated chain in *out: from the free list (all of it, without a
 * walk, if it holds at most `all`), else from the remote list (collected), else carved. 0: nothing
 * left in this slab. */
uint32_t slab_take(slab_meta_t *s, uint32_t n, uint32_t all, void **out) HAK_INTERNAL;
/* A cold slab of a growing class that its owner will carve: every page will be used, so the
 * daemon, if it runs, populates it whole ahead of the carving (true: posted, the caller wakes the
 * daemon); else the owner populates its first chunk now, and carving the later chunks ahead of
 * itself (a class's first slab faults its first chunk page by page instead: slab_blocks.c). */
bool slab_populate_start(slab_meta_t *s) HAK_INTERNAL;
/* Move the remote list into the free list. */
void slab_collect_remote(slab_meta_t *s) HAK_INTERNAL;
/* Every carved block is free (local or remote)? Then the slab can be released. */
bool slab_is_unused(slab_meta_t *s) HAK_INTERNAL;
/* An unused slab starts over as if fresh: both lists dropped, nothing carved. */
void slab_reset_unused(slab_meta_t *s) HAK_INTERNAL;
/* Any thread: blocks of someone else's slab come back, a NULL-free chain head..tail of n blocks
 * linked by the caller (tail's link is set here), in one lock-free push. owner_bits: the slab's
 * owner as its tag named it, to tell that owner (hak_remote_epoch). The remote word counts blocks
 * in 16 bits: n plus what is there never exceeds a slab's capacity (at most 4096 blocks). */
void slab_push_remote_chain(slab_meta_t *s, void *head, void *tail, uint32_t n, uint32_t owner_bits) HAK_INTERNAL;
/* Per owner id (modulo the table size): bumped each time a slab on that owner's full list gets its
 * first remote block since its owner last collected, so the owner looks through its full slabs
 * only when one of them may have blocks again. Ids that share an entry only cost extra looks. */
#define HAK_REMOTE_EPOCHS 65536
extern _Atomic uint32_t hak_remote_epoch[HAK_REMOTE_EPOCHS] HAK_INTERNAL;
HAK_INLINE _Atomic uint32_t *remote_epoch_of(uint32_t owner_bits) {
    return &hak_remote_epoch[(owner_bits >> 8) & (HAK_REMOTE_EPOCHS - 1)];
}

#endif
