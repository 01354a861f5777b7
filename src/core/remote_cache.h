/* Frees of other threads' blocks, gathered per slab and sent to the slab's remote list a chain at a
 * time (remote_cache.c): one compare-and-swap on the owner's line per chain instead of one per
 * block. Owning thread only; the caller is a registered thread (its exit flushes the cache). */
#ifndef HAK_REMOTE_CACHE_H
#define HAK_REMOTE_CACHE_H
#include "core/slab_blocks.h"

/* p (of class cls, in slab s, which this thread does not own) is free: keep it for s's next chain,
 * or send it now (blocks too large to be worth keeping). The caller set the free key. */
void remote_cache_put(slab_meta_t *s, void *p, unsigned cls) HAK_INTERNAL;
/* Send every chain kept: at thread exit and on hak_thread_flush(). */
void remote_cache_flush(void) HAK_INTERNAL;

#endif
