/* Frees of other threads' blocks, gathered per slab and sent to the slab's remote list a chain at a
 * time (remote_cache.c): one compare-and-swap on the owner's line per chain instead of one per
 * block. Owning thread only; the caller is a registered thread (its exit flushes the cache).
 *
 * The common case, a block of the slab whose chain is open, is inline here (a hash, a compare and
 * a push: no call, no stack frame); starting a chain and sending one are the calls. Out of line,
 * that case was 35 instructions, most of them saving and restoring the registers the rest needed
 * (`workloads prodcon`, callgrind). */
#ifndef HAK_REMOTE_CACHE_H
#define HAK_REMOTE_CACHE_H
#include "core/slab_blocks.h"

#define REMOTE_SLOTS 32

typedef struct remote_chain {
    slab_meta_t *slab;      /* NULL: the entry is free */
    void        *head, *tail;
    uint32_t     n, max;
} remote_chain_t;

/* This thread's open chains (plain accesses: nobody else reads them). */
extern __thread remote_chain_t hak_remote_chains[REMOTE_SLOTS]
    __attribute__((tls_model("initial-exec"))) HAK_INTERNAL;

/* Cold paths (remote_cache.c). */
void remote_chain_start(remote_chain_t *c, slab_meta_t *s, void *p, uint32_t tag) HAK_INTERNAL HAK_NOINLINE;
void remote_chain_send(remote_chain_t *c) HAK_INTERNAL HAK_NOINLINE;
/* Send every chain kept: at thread exit and on hak_thread_flush(). */
void remote_cache_flush(void) HAK_INTERNAL;

/* Slab metadata is 128-byte aligned and laid out by slab index; the SuperSlab's address bits are
 * mixed in so that slabs of the same index in different SuperSlabs do not share an entry. */
HAK_INLINE remote_chain_t *remote_chain_of(slab_meta_t *s) {
    uintptr_t a = (uintptr_t)s;
    return &hak_remote_chains[((a >> 7) ^ (a >> 21)) & (REMOTE_SLOTS - 1)];
}

/* p (in slab s, which this thread does not own; `tag` is s's tag as the caller read it) is free:
 * keep it for s's next chain, or send it now (blocks too large to be worth keeping, orphans).
 * The caller set the free key. */
HAK_INLINE void remote_cache_put(slab_meta_t *s, void *p, uint32_t tag) {
    remote_chain_t *c = remote_chain_of(s);
    if (HAK_LIKELY(c->slab == s)) {
        block_set_next(p, c->head);
        c->head = p;
        if (HAK_UNLIKELY(++c->n >= c->max)) remote_chain_send(c);
        return;
    }
    remote_chain_start(c, s, p, tag);
}

#endif
