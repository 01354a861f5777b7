/* SuperSlabs and slabs (superslab.c): the types every layer above shares, the slab tag that free()
 * reads, claiming and releasing slabs, purging and retiring SuperSlabs, and lists of slabs. */
#ifndef HAK_SUPERSLAB_H
#define HAK_SUPERSLAB_H
#include "hakmem.h"
#include "core/size_class.h"

#define HAK_SS_ALL_FREE  ((uint64_t)(HAK_SLABS_PER_SS == 64 ? ~0ull : ((1ull << HAK_SLABS_PER_SS) - 1)) & ~1ull)
#define HAK_SS_MAGIC     0x68616b6d656d5353ull   /* "hakmemSS" */

/* ---- SuperSlab and slab metadata (superslab.c) ------------------------------------------------ */
/* A slab's tag, one 32-bit word per slab in the SuperSlab header, read by every free():
 *   bits 0-7  the size class (HAK_CLASS_NONE: the slab is free or is the header);
 *   bits 8-31 the id of the thread that owns the slab (thread_heap.c), or TAG_NO_OWNER.
 * A block freed by its slab's owner goes on the owner's list (local free, `ss_local`); any other
 * free is remote (`ss_remote`): pushed on the slab's remote list, which the owner collects. */
#define HAK_TAG_CLASS_MASK  0xffu
#define HAK_TAG_NO_OWNER    0xffffff00u   /* owner bits of an orphan slab (central.c) */
#define HAK_TAG_FREE        0xffffffffu   /* a free slab: no class, no owner */
#define HAK_OWNER_ID_MAX    0xfffffeu     /* thread ids are 1..this */
HAK_INLINE uint32_t slab_tag_make(uint32_t owner_bits, unsigned cls) { return owner_bits | cls; }

/* Remote frees: a Treiber stack in one word, the head pointer in the low 48 bits and the number
 * of blocks in the high 16 (a slab holds at most 8192 blocks), so the owner takes the whole list
 * and its length with one exchange and never walks it to count. */
#define HAK_REMOTE_PTR_MASK ((uintptr_t)0x0000ffffffffffffull)
#define HAK_REMOTE_ONE      ((uintptr_t)1 << 48)

/* Per-slab state. The owner (the thread whose id is in the slab's tag, or the holder of the class's
 * orphan lock for an orphan slab) alone reads and writes every field but `remote` and
 * `freed_at_ms`; ownership passes with a lock (orphan list) or a ring (daemon), which order the
 * previous owner's writes before the next owner's reads. */
typedef struct slab_meta {
    void     *free;          /* blocks given back to this slab by its owner (singly linked)    */
    uint32_t  nfree;         /* length of free                                                   */
    uint32_t  carved;        /* blocks carved so far (bump index)                                */
    uint32_t  capacity;      /* blocks that fit                                                  */
    uint32_t  block_size;
    struct slab_meta *next, *prev;  /* in the owner's slab list, or the class's orphan list      */
    uint8_t   list;          /* which list (thread_heap.c / central.c)                           */
    uint8_t   index;         /* position in the SuperSlab                                        */
    uint8_t   cls;
    /* Set by slab_claim: the slab's pages were never touched or were purged since, so its first
     * use faults them in (the daemon pre-faults only such slabs; a slab released and claimed again
     * before the purger got to it is still resident). Cleared once the pages are populated or
     * about to be (pool fill, a posted or self-made pre-fault, a carve that populated the last
     * chunk, a parked slab): while it is set, carving populates ahead (slab_blocks.c). */
    bool      cold;
    /* Set when a thread adopts the slab from the orphans (central_adopt), cleared by slab_claim:
     * carving an adopted cold slab populates ahead on the thread, as without the daemon, and
     * never posts to it (slab_blocks.c). */
    bool      adopted;
    /* When the slab was last released: a hint for the purger's delay, so relaxed. */
    _Atomic uint64_t freed_at_ms;
    /* Blocks freed by other threads (see HAK_REMOTE_*): any thread pushes (CAS, seq_cst: see
     * slab_push_remote_chain), the owner takes all (exchange, acquire). Its own cache line: remote
     * frees must not bounce the line the owner works on. */
    _Alignas(64) _Atomic uintptr_t remote;
    /* On its owner's full list (thread_heap.c): a free that makes the remote list non-empty then
     * bumps the owner's epoch (slab_blocks.h), which is what sends the owner to look there. On the
     * remote word's line, which such a free has just written. */
    _Atomic bool on_full_list;
} slab_meta_t;

typedef struct superslab {
    uint64_t magic;
    /* Bit i set = slab i is free (owned by no class). Any thread claims bits with CAS (acquire, so
     * it sees the last owner's writes); the owner releases with fetch_or (release). The purger
     * claims free slabs the same way while it madvises them. */
    _Alignas(64) _Atomic uint64_t free_mask;
    _Atomic uint64_t purged_mask;         /* free slabs whose memory was given back (hint)       */
    _Atomic uint64_t empty_since_ms;      /* when the last slab was released (hint)              */
    /* Registry list: changed under the list lock, walked by slab claimers under RCU. */
    _Atomic(struct superslab *) next;
    /* Read by every free() (relaxed: see slab_tag_make). The class bits are written before any
     * block of the slab is handed out and stay until all its blocks came back; the owner bits
     * change when the slab changes hands, and a thread compares them only with its own id, which
     * no other thread ever writes. */
    _Alignas(64) _Atomic uint32_t slab_tag[HAK_SLABS_PER_SS];
    _Alignas(64) slab_meta_t slabs[HAK_SLABS_PER_SS];
} superslab_t;

HAK_INLINE superslab_t *ss_of(const void *p) { return (superslab_t *)((uintptr_t)p & HAK_SS_MASK); }
HAK_INLINE unsigned slab_index_of(const void *p) {
    return (unsigned)(((uintptr_t)p & (HAK_SS_SIZE - 1)) >> HAK_SLAB_SHIFT);
}
HAK_INLINE char *slab_base(superslab_t *ss, unsigned i) { return (char *)ss + ((size_t)i << HAK_SLAB_SHIFT); }
/* The slab that owns block p: its own 64 KiB slab, or slab 1 for a medium class's SuperSlab. */
HAK_INLINE uint32_t slab_tag_of(const void *p) {
    /* The tag's byte offset (slab index * 4) straight from the address: one shift and one mask,
     * one instruction fewer on every free than indexing the array by slab_index_of. */
    uintptr_t off = ((uintptr_t)p >> (HAK_SLAB_SHIFT - 2)) & ((uintptr_t)(HAK_SLABS_PER_SS - 1) << 2);
    return atomic_load_explicit((_Atomic uint32_t *)((char *)ss_of(p)->slab_tag + off), memory_order_relaxed);
}
HAK_INLINE unsigned block_class(const void *p) { return slab_tag_of(p) & HAK_TAG_CLASS_MASK; }
/* The slab of p, whose class the caller read already from the tag (no second load of it). */
HAK_INLINE slab_meta_t *slab_of_class(const void *p, unsigned cls) {
    return &ss_of(p)->slabs[class_is_medium(cls) ? 1 : slab_index_of(p)];
}
HAK_INLINE slab_meta_t *slab_of(const void *p) { return slab_of_class(p, block_class(p)); }
/* Set the tag of every 64 KiB slab the slab covers (all block slabs for a medium class). */
void slab_set_tag(slab_meta_t *m, uint32_t tag) HAK_INTERNAL;
HAK_INLINE superslab_t *ss_of_meta(slab_meta_t *m) { return ss_of(m); }

slab_meta_t *slab_claim(unsigned cls) HAK_INTERNAL;            /* NULL: the OS refused memory */
/* The refill daemon's pool (central.c) holds slabs of no class yet: claimed (the bit taken, `cold`
 * set) but not formatted, their tag still free. slab_format makes one a slab of class cls (not a
 * medium class), slab_unclaim gives an unformatted one back. */
slab_meta_t *slab_claim_unformatted(void) HAK_INTERNAL;
void slab_format(slab_meta_t *m, unsigned cls) HAK_INTERNAL;
void slab_unclaim(slab_meta_t *m) HAK_INTERNAL;
/* Give a slab whose blocks are all free back to its SuperSlab; true: the SuperSlab became empty.
 * Never call with a lock held: without the daemon it purges at once. */
bool slab_release(slab_meta_t *m) HAK_INTERNAL;
/* Give free slabs back to the OS (madvise) once they have been free for min_age_ms; with
 * only_empty, only slabs of wholly empty SuperSlabs, keeping the `keep_hot` most recently emptied
 * SuperSlabs untouched. Then unmap empty SuperSlabs beyond HAKMEM_RETAIN_MB (after an RCU grace
 * period). Never call with a central lock held or inside an RCU read-side section. */
void superslab_purge(uint64_t min_age_ms, bool only_empty, unsigned keep_hot) HAK_INTERNAL;
void superslab_stats(hak_stats_t *out) HAK_INTERNAL;
/* os_touch_pages on a range of a SuperSlab that may have been retired meanwhile (a posted
 * pre-fault, background.h): nothing if it was. Not inside an RCU read-side section. */
void superslab_touch_if_mapped(void *p, size_t size) HAK_INTERNAL;
/* Free slabs still resident (released, not purged since): a thread claims one without a fault. */
uint32_t superslab_warm_free_slabs(void) HAK_INTERNAL;
/* Calls visit on every slab that belongs to a class (a medium slab once), with its tag. Only where
 * no other thread can run (a fork child): it takes no lock and no RCU read section. */
void superslab_visit_slabs_single_threaded(void (*visit)(slab_meta_t *m, uint32_t tag)) HAK_INTERNAL;
extern _Atomic uint32_t hak_class_slabs[HAK_NUM_CLASSES] HAK_INTERNAL;   /* slabs per class */
void superslab_atfork_prepare(void) HAK_INTERNAL;
void superslab_atfork_parent(void) HAK_INTERNAL;
void superslab_atfork_child(void) HAK_INTERNAL;

#endif
