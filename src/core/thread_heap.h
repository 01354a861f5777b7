/* Thread heaps (thread_heap.c): the slabs each thread owns. */
#ifndef HAK_THREAD_HEAP_H
#define HAK_THREAD_HEAP_H
#include "core/slab_blocks.h"
#include "core/slab_list.h"

/* A NULL-terminated chain of blocks from slabs the calling thread owns, taking another slab
 * (parked, orphan, the daemon's pool, or claimed) when they have none: hak_class_batch[cls] of
 * them, or a slab's whole free list if it holds at most `room`. 0: no memory. */
uint32_t heap_refill(unsigned cls, uint32_t room, void **out) HAK_INTERNAL;
/* Give up to n blocks of the thread's own chain back to their slabs; returns the rest. */
void *heap_give_back(unsigned cls, void *head, uint32_t n) HAK_INTERNAL;
/* Thread start: take an owner id; returns the thread's owner bits for slab tags (0: no id left,
 * more than 16 million live threads). */
uint32_t heap_thread_start(void) HAK_INTERNAL;
/* The calling thread's owner bits (0: none). hak_tls.owner_bits, which free() compares tags with,
 * is the same except in checking mode (check_mode.h), where it stays 0. */
uint32_t heap_owner_bits(void) HAK_INTERNAL;
/* Thread exit: every slab becomes an orphan, the id goes back. The caller must already treat every
 * free as remote (its copy of the owner bits cleared): the slabs change hands here. */
void heap_thread_exit(void) HAK_INTERNAL;
/* Release the thread's empty slabs it keeps as spares (hak_trim). */
void heap_trim(void) HAK_INTERNAL;
void heap_atfork_prepare(void) HAK_INTERNAL;
void heap_atfork_parent(void) HAK_INTERNAL;
void heap_atfork_child(void) HAK_INTERNAL;

#endif
