/* Checking mode (HAKMEM_CHECK=1, check_mode.c): every malloc and free of a small block takes a
 * checked slow path. A runtime switch that costs the fast paths nothing: the thread's lists stay
 * empty, so every malloc misses, and hak_tls.owner_bits stays 0, which no tag carries, so every
 * free goes the remote way (tls_free_remote), where the checks are. */
#ifndef HAK_CHECK_MODE_H
#define HAK_CHECK_MODE_H
#include "core/slab_blocks.h"

/* Set once at start-up from HAKMEM_CHECK, before hak_init_state becomes 2: read after an acquire
 * of that state, so plain. */
extern bool hak_check_mode HAK_INTERNAL;
void check_mode_init(void) HAK_INTERNAL;   /* start-up: reads HAKMEM_CHECK */

/* A block of at least `size` usable bytes for a registered thread, checked (NULL: no memory). */
void  *check_alloc(size_t size) HAK_INTERNAL;
/* A block for a thread without slabs (unregistered or exiting), from central_alloc_one. */
void  *check_alloc_orphan(size_t size) HAK_INTERNAL;
/* The checks of a free of p (tag: its slab's tag); true: done (our own slab's block went back to
 * it), false: the caller pushes it on its slab's remote list. */
bool   check_free(void *p, uint32_t tag) HAK_INTERNAL;
/* The size the program asked for: what malloc_usable_size reports in checking mode. */
size_t check_usable_size(void *p, unsigned cls) HAK_INTERNAL;

#endif
