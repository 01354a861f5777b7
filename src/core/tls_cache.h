/* The per-thread cache: one singly linked list of free blocks per size class, with a count and a
 * cap. These inline functions are the whole malloc/free fast path; everything else is behind the
 * cold functions declared at the bottom.
 *
 * Cost (x86-64, gcc -O2): a malloc hit is a table load, a TLS load, a next-pointer load, a prefetch
 * of the next block and two stores; a free is a registry byte test, the slab's tag (class and
 * owner) compared with the thread's owner id, and a push with a room check. The double-free key
 * (free_list_guard.h) adds a store on malloc, a compare and a store on free.
 * No lock, no atomic read-modify-write, no system call. */
#ifndef HAK_TLS_CACHE_H
#define HAK_TLS_CACHE_H
#include "core/registry.h"
#include "core/slab_blocks.h"
#include "core/counters.h"

/* Per class: the list's head and room (hot: every malloc and free) are arrays of their own, so a
 * class index scales into them by the addressing mode (x8, x4) with no shift or multiply: one
 * instruction fewer on each of malloc and free than an array of 16-byte structs.
 * room: how many more blocks the list takes before a batch goes back: the cap minus the length.
 * Counting down to below zero makes the free check one decrement and a sign test. It is 0 until
 * the thread registers, so a new thread's first free goes the slow way. */
typedef struct tls_adapt {
    /* Slow paths only: the list's cap, which adapts (tls_cache.c), how many times the list ran
     * empty since it last overflowed, overflows in a row without a refill, and whether the last
     * overflow grew the cap with no refill since (the same burst of frees). */
    uint16_t cap_batches;
    uint8_t  underflowed;
    uint8_t  calm;
    uint8_t  growing;
} tls_adapt_t;

typedef struct tls_cache {
    /* This thread's owner id shifted into a slab tag's owner bits (from heap_thread_start); 0 before
     * the thread registers and from the start of its exit, which no tag carries, so then every
     * free is remote. */
    uint32_t    owner_bits;
    void       *head[HAK_NUM_CLASSES];
    int32_t     room[HAK_NUM_CLASSES];
    tls_adapt_t adapt[HAK_NUM_CLASSES];
} tls_cache_t;

/* Written and read only by the owning thread (plain accesses); other threads never touch it. */
extern __thread tls_cache_t hak_tls __attribute__((tls_model("initial-exec"))) HAK_INTERNAL;

/* Cold paths (tls_cache.c). */
/* List empty, or the thread not registered yet. The caller made sure the allocator is initialised. */
void *tls_refill_alloc(size_t size) HAK_INTERNAL HAK_COLD;
void  tls_overflow(unsigned cls) HAK_INTERNAL HAK_COLD;      /* list past its cap */
void  tls_free_remote(void *p, uint32_t tag) HAK_INTERNAL HAK_COLD;   /* not our slab */
void  tls_push_suspect(unsigned cls, void *p) HAK_INTERNAL HAK_COLD;  /* has the free key */
void  tls_cache_init(void) HAK_INTERNAL;

HAK_INLINE void *tls_list_pop(unsigned cls) {
    void *p = hak_tls.head[cls];
    if (HAK_LIKELY(p != NULL)) {
        void *next = link_decode_class(p, block_word(p, 0), cls);   /* block_next, class known */
        /* The next malloc's load of next's link misses when the list is cold (a storm of frees
         * kept, or blocks other threads gave back): start it now, for writing (that malloc
         * clears its key). One instruction; storm 1 and 2 threads +12%, server 2 threads +5%, the
         * rest level (5 runs each, ninth session); prefetching NULL at the list's end is harmless. */
        __builtin_prefetch(next, 1);
        hak_tls.head[cls] = next;
        block_clear_free_key(p);
        hak_tls.room[cls]++;
        HAK_COUNT(malloc_tls_hit);
    }
    return p;
}

/* The push proper, once p is known not to be free already. */
HAK_INLINE void tls_list_link(unsigned cls, void *p) {
    block_set_free_key(p);
    block_set_next(p, hak_tls.head[cls]);
    hak_tls.head[cls] = p;
    HAK_COUNT(free_tls_push);
    if (HAK_UNLIKELY(--hak_tls.room[cls] < 0)) tls_overflow(cls);
}

/* A block with the key may be free already: the check is a tail call, so the fast path needs no
 * stack frame for it. */
HAK_INLINE void tls_list_push(unsigned cls, void *p) {
#if HAKMEM_HARDENED
    if (HAK_UNLIKELY(!block_at_boundary(p, cls))) hak_report_bad_free("free", p, HAK_MSG_INTERIOR);
#endif
    if (HAK_UNLIKELY(block_has_free_key(p))) {
        tls_push_suspect(cls, p);
        return;
    }
    tls_list_link(cls, p);
}

#endif
