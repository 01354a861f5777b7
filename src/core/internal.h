/* hakmem internal types, constants and cross-file declarations.
 *
 * Layers (each only looks down):
 *   alloc.c (entry points) -> tls_cache.c (per-thread lists, cold refill/overflow/remote free)
 *     -> thread_heap.c (the slabs each thread owns) -> slab_blocks.c (one slab's blocks: free
 *     list, remote list, bump carving) and central.c (orphan slabs, rings of fresh slabs)
 *     -> superslab.c (slab claim/release, SuperSlab map/purge/retire) -> registry.c, os.c
 *   large.c: blocks above the largest size class, directly mapped.
 *   lockfree/: slab rings (ck_ring), RCU wrappers.  refill_thread/: the daemon. */
#ifndef HAK_INTERNAL_H
#define HAK_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include "hakmem.h"

#define HAK_LIKELY(x)   __builtin_expect(!!(x), 1)
#define HAK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HAK_NOINLINE    __attribute__((noinline))
#define HAK_COLD        __attribute__((noinline, cold))
#define HAK_INLINE      static inline __attribute__((always_inline))
#define HAK_INTERNAL    __attribute__((visibility("hidden")))

/* ---- Geometry ------------------------------------------------------------------------------- */
/* A SuperSlab is 2 MiB, aligned to its size, so free() finds it by masking the address. Its first
 * 64 KiB slab holds the header (metadata for all slabs); slabs 1..31 hold blocks. Build-time
 * tunable: HAK_SS_SHIFT 21..24 (the slab stays 64 KiB; more slabs per SuperSlab). */
#ifndef HAK_SS_SHIFT
#define HAK_SS_SHIFT 21
#endif
#define HAK_SS_SIZE      ((size_t)1 << HAK_SS_SHIFT)
#define HAK_SS_MASK      (~(uintptr_t)(HAK_SS_SIZE - 1))
#define HAK_SLAB_SHIFT   16
#define HAK_SLAB_SIZE    ((size_t)1 << HAK_SLAB_SHIFT)
#define HAK_SLABS_PER_SS ((int)(HAK_SS_SIZE / HAK_SLAB_SIZE))
#if (HAK_SS_SHIFT - HAK_SLAB_SHIFT) > 6
#error "free_mask is 64 bits: at most 64 slabs per SuperSlab"
#endif
#define HAK_SS_ALL_FREE  ((uint64_t)(HAK_SLABS_PER_SS == 64 ? ~0ull : ((1ull << HAK_SLABS_PER_SS) - 1)) & ~1ull)
#define HAK_SS_MAGIC     0x68616b6d656d5353ull   /* "hakmemSS" */

/* ---- Size classes ----------------------------------------------------------------------------- */
/* 8, 16..128 by 16, then four classes per power of two up to 256 KiB (rounding waste <= 25%).
 * Classes up to 32 KiB ("small") share SuperSlabs, one 64 KiB slab per class; the twelve
 * "medium" classes above take a whole SuperSlab each (its 31 block slabs as one slab). */
#define HAK_NUM_CLASSES   53
#define HAK_FIRST_MEDIUM  41
#define HAK_SMALL_MAX     262144
#define HAK_TABLE_MAX     1024      /* sizes up to here use the lookup table */
#define HAK_CLASS_NONE    0xff

extern const uint8_t hak_class_table[HAK_TABLE_MAX / 8 + 1] HAK_INTERNAL;   /* (size+7)>>3 -> class */
extern uint32_t hak_class_size[HAK_NUM_CLASSES] HAK_INTERNAL;
extern uint32_t hak_class_batch[HAK_NUM_CLASSES] HAK_INTERNAL;        /* blocks per batch */
/* Fresh slabs the daemon keeps ready per class (its ring), at most 256 KiB of them. */
extern uint32_t hak_class_ring_high[HAK_NUM_CLASSES] HAK_INTERNAL;
void     size_class_init(uint32_t refill_count) HAK_INTERNAL;
/* Class of a size in (128 B, 256 KiB]: band k holds (2^k, 2^(k+1)] in four steps of 2^(k-2).
 * Inline: malloc of 1-256 KiB calls it on every allocation (2.5% of Larson 1-32 KiB as a call). */
HAK_INLINE unsigned size_class_of_large(size_t size) {
    unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(size - 1));
    return 9u + (k - 7u) * 4u + (unsigned)((size - 1 - ((size_t)1 << k)) >> (k - 2));
}

/* ---- Options (one table in options.c; docs/configuration.md mirrors it) --------------------- */
typedef struct hak_options {
    long refill_count;      /* HAKMEM_TINY_REFILL_COUNT: blocks per batch for classes <= 128 B   */
    long tls_cap_batches;   /* HAKMEM_TLS_CAP_BATCHES: TLS list cap, in batches                  */
    long refill_thread;     /* HAKMEM_REFILL_THREAD: 1 = background refill daemon on              */
    long ring_size;         /* HAKMEM_RING_SIZE: ck_ring slots per class (power of two)          */
    long ring_high;         /* HAKMEM_RING_HIGH: most fresh slabs the daemon keeps per class      */
    long purge_delay_ms;    /* HAKMEM_PURGE_DELAY_MS: free memory idle this long is purged       */
    long retain_mb;         /* HAKMEM_RETAIN_MB: empty SuperSlabs kept mapped (purged) up to this */
    long large_cache_mb;    /* HAKMEM_LARGE_CACHE_MB: freed large mappings kept for reuse        */
    long verbose;           /* HAKMEM_VERBOSE                                                    */
    long stats;             /* HAKMEM_STATS: 0 off, 1 table at exit, 2 json at exit              */
    char stats_file[256];   /* HAKMEM_STATS_FILE                                                  */
} hak_options_t;
extern hak_options_t hak_opt HAK_INTERNAL;
void options_load(void) HAK_INTERNAL;
void options_print(void) HAK_INTERNAL;

/* ---- OS layer (os.c): every system call the allocator makes ----------------------------------- */
void *os_map(size_t size) HAK_INTERNAL;                       /* NULL on failure */
void *os_map_aligned(size_t size, size_t align) HAK_INTERNAL;
void  os_unmap(void *p, size_t size) HAK_INTERNAL;
void  os_purge(void *p, size_t size) HAK_INTERNAL;             /* MADV_DONTNEED */
void *os_remap(void *p, size_t old_size, size_t new_size) HAK_INTERNAL;  /* NULL on failure */
void  os_prefault(void *p, size_t size) HAK_INTERNAL;          /* fault pages in ahead of use */
uint64_t os_now_ms(void) HAK_INTERNAL;
void  hak_message(const char *fmt, ...) HAK_INTERNAL __attribute__((format(printf, 1, 2)));
_Noreturn void hak_fatal(const char *fmt, ...) HAK_INTERNAL __attribute__((format(printf, 1, 2)));
extern _Atomic uint64_t hak_bytes_mapped HAK_INTERNAL;
extern _Atomic uint64_t hak_purges HAK_INTERNAL;

/* ---- Registry of SuperSlabs (registry.c): one bit per 2 MiB of address space ---------------- */
#define HAK_ADDR_BITS 47
#define HAK_BITMAP_WORDS ((size_t)1 << (HAK_ADDR_BITS - HAK_SS_SHIFT - 6))
extern _Atomic uint64_t hak_ss_bitmap[HAK_BITMAP_WORDS] HAK_INTERNAL;
void registry_set(uintptr_t ss, bool present) HAK_INTERNAL;

/* Is addr inside a live SuperSlab? Relaxed load: a SuperSlab's bit is set before any of its blocks
 * is handed out, and it is cleared only once no block of it is live (then an RCU grace period
 * passes before unmap), so for any pointer the program may legitimately free, the bit read here is
 * already set with all the synchronisation that handed the block over.
 * The index is masked rather than range-checked (two instructions fewer on every free): hakmem
 * maps below 2^47, so only a garbage pointer above it could alias a registered SuperSlab. */
HAK_INLINE bool registry_contains(uintptr_t addr) {
    uintptr_t word = (addr >> (HAK_SS_SHIFT + 6)) & (HAK_BITMAP_WORDS - 1);
    uint64_t bits = atomic_load_explicit(&hak_ss_bitmap[word], memory_order_relaxed);
    return (bits >> ((addr >> HAK_SS_SHIFT) & 63)) & 1;
}

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
    /* When the slab was last released: a hint for the purger's delay, so relaxed. */
    _Atomic uint64_t freed_at_ms;
    /* Blocks freed by other threads (see HAK_REMOTE_*): any thread pushes (CAS, release), the
     * owner takes all (exchange, acquire). Its own cache line: remote frees must not bounce the
     * line the owner works on. */
    _Alignas(64) _Atomic uintptr_t remote;
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
    return atomic_load_explicit(&ss_of(p)->slab_tag[slab_index_of(p)], memory_order_relaxed);
}
HAK_INLINE unsigned block_class(const void *p) { return slab_tag_of(p) & HAK_TAG_CLASS_MASK; }
HAK_INLINE slab_meta_t *slab_of(const void *p) {
    unsigned i = slab_index_of(p);
    return &ss_of(p)->slabs[block_class(p) >= HAK_FIRST_MEDIUM ? 1 : i];
}
/* Set the tag of every 64 KiB slab the slab covers (all block slabs for a medium class). */
void slab_set_tag(slab_meta_t *m, uint32_t tag) HAK_INTERNAL;
HAK_INLINE superslab_t *ss_of_meta(slab_meta_t *m) { return ss_of(m); }

slab_meta_t *slab_claim(unsigned cls) HAK_INTERNAL;            /* NULL: the OS refused memory */
/* Give a slab whose blocks are all free back to its SuperSlab; true: the SuperSlab became empty.
 * Never call with a lock held: without the daemon it purges at once. */
bool slab_release(slab_meta_t *m) HAK_INTERNAL;
/* Give free slabs back to the OS (madvise) once they have been free for min_age_ms; with
 * only_empty, only slabs of wholly empty SuperSlabs, keeping the `keep_hot` most recently emptied
 * SuperSlabs untouched. Then unmap empty SuperSlabs beyond HAKMEM_RETAIN_MB (after an RCU grace
 * period). Never call with a central lock held or inside an RCU read-side section. */
void superslab_purge(uint64_t min_age_ms, bool only_empty, unsigned keep_hot) HAK_INTERNAL;
/* Something was released since the last purge (the daemon's timer uses it). */
extern _Atomic int hak_purge_pending HAK_INTERNAL;
void superslab_stats(hak_stats_t *out) HAK_INTERNAL;
void superslab_orphan_others(uint32_t owner_bits) HAK_INTERNAL;   /* fork child */
extern _Atomic uint32_t hak_class_slabs[HAK_NUM_CLASSES] HAK_INTERNAL;   /* slabs per class */
void superslab_atfork_prepare(void) HAK_INTERNAL;
void superslab_atfork_parent(void) HAK_INTERNAL;
void superslab_atfork_child(void) HAK_INTERNAL;

/* ---- Lists of slabs (circular, doubly linked through next/prev; head NULL = empty) ---------- */
HAK_INLINE void slab_list_add(slab_meta_t **head, slab_meta_t *s) {   /* at the tail */
    slab_meta_t *h = *head;
    if (!h) {
        s->next = s->prev = s;
        *head = s;
        return;
    }
    s->next = h;
    s->prev = h->prev;
    h->prev->next = s;
    h->prev = s;
}
HAK_INLINE void slab_list_remove(slab_meta_t **head, slab_meta_t *s) {
    if (s->next == s) {
        *head = NULL;
    } else {
        s->prev->next = s->next;
        s->next->prev = s->prev;
        if (*head == s) *head = s->next;
    }
    s->next = s->prev = NULL;
}

/* Move every slab of the circular list *from into *to (both circular; O(1)). */
HAK_INLINE void slab_list_splice(slab_meta_t **to, slab_meta_t **from) {
    slab_meta_t *a = *to, *b = *from;
    *from = NULL;
    if (!b) return;
    if (!a) {
        *to = b;
        return;
    }
    slab_meta_t *a_last = a->prev, *b_last = b->prev;
    a_last->next = b;
    b->prev = a_last;
    b_last->next = a;
    a->prev = b_last;
}

/* ---- Slab blocks, for whoever owns the slab (slab_blocks.c) ------------------------------------- */
/* Up to n blocks as a NULL-terminated chain in *out: from the free list, else from the remote
 * list (collected), else carved. 0: nothing left in this slab. */
uint32_t slab_take(slab_meta_t *s, uint32_t n, void **out) HAK_INTERNAL;
/* Move the remote list into the free list. */
void slab_collect_remote(slab_meta_t *s) HAK_INTERNAL;
/* Every carved block is free (local or remote)? Then the slab can be released. */
bool slab_is_unused(slab_meta_t *s) HAK_INTERNAL;
/* Any thread: a block of someone else's slab comes back (lock-free push). owner_bits: the
 * slab's owner as its tag named it, to tell that owner (hak_remote_epoch). */
void slab_push_remote(slab_meta_t *s, void *p, uint32_t owner_bits) HAK_INTERNAL;
/* Per owner id (modulo the table size): bumped each time a slab of that owner gets its first
 * remote block since its owner last collected, so the owner looks through its full slabs only
 * when one of them may have blocks again. Ids that share an entry only cost extra looks. */
#define HAK_REMOTE_EPOCHS 65536
extern _Atomic uint32_t hak_remote_epoch[HAK_REMOTE_EPOCHS] HAK_INTERNAL;
HAK_INLINE _Atomic uint32_t *remote_epoch_of(uint32_t owner_bits) {
    return &hak_remote_epoch[(owner_bits >> 8) & (HAK_REMOTE_EPOCHS - 1)];
}

/* ---- Thread heaps (thread_heap.c): the slabs each thread owns ----------------------------------- */
/* A NULL-terminated chain of up to hak_class_batch[cls] blocks from slabs the calling thread owns,
 * taking another slab (orphan, daemon ring, or claimed) when they have none. 0: no memory. */
uint32_t heap_refill(unsigned cls, void **out) HAK_INTERNAL;
/* Give up to n blocks of the thread's own chain back to their slabs; returns the rest. */
void *heap_give_back(unsigned cls, void *head, uint32_t n) HAK_INTERNAL;
/* Thread start and exit: take an owner id; give every slab up (orphans) and the id back. */
bool heap_thread_start(void) HAK_INTERNAL;
void heap_thread_exit(void) HAK_INTERNAL;
/* Release the thread's empty slabs it keeps as spares (hak_trim). */
void heap_trim(void) HAK_INTERNAL;
void heap_atfork_prepare(void) HAK_INTERNAL;
void heap_atfork_parent(void) HAK_INTERNAL;
void heap_atfork_child(void) HAK_INTERNAL;

/* ---- Shared per-class state (central.c): orphan slabs, rings of fresh slabs ------------------- */
/* An orphan with blocks to give, now the caller's (tag not yet set), or NULL. */
slab_meta_t *central_adopt(unsigned cls) HAK_INTERNAL;
/* A slab nobody owns any more (its owner exited): blocks still live elsewhere. */
void  central_orphan(slab_meta_t *s) HAK_INTERNAL;
/* An exiting thread's n slabs of class cls (a circular list, tags already "no owner"), in one
 * splice under the lock. */
void  central_orphan_list(unsigned cls, slab_meta_t *list, uint32_t n) HAK_INTERNAL;
/* One block for a thread that owns no slabs (exiting): from an orphan slab, under the lock. */
void *central_alloc_one(unsigned cls) HAK_INTERNAL;
/* A fresh slab of class cls, claimed ahead by the daemon (popped from its ring), or NULL. */
slab_meta_t *central_fresh_slab(unsigned cls) HAK_INTERNAL;
/* A thread had to claim a slab itself (growth: beyond its first of the class): statistics, and
 * what engages the daemon for the class. */
void  central_note_sync_claim(unsigned cls, bool growth) HAK_INTERNAL;
/* Daemon side: top the class's ring up with fresh, pre-faulted slabs. Returns the slabs added. */
uint32_t central_daemon_fill(unsigned cls) HAK_INTERNAL;
bool  central_wants_fill(unsigned cls) HAK_INTERNAL;
bool  central_any_engaged(void) HAK_INTERNAL;   /* some class has a ring depth: the daemon polls */
/* Collect orphans' remote lists and release the empty ones; give back the ring slabs of classes
 * nobody took one from since the previous call (all, with idle_only false). */
void  central_drain(bool idle_only) HAK_INTERNAL;
void  central_init(void) HAK_INTERNAL;
void  central_atfork_prepare(void) HAK_INTERNAL;
void  central_atfork_parent(void) HAK_INTERNAL;
void  central_atfork_child(void) HAK_INTERNAL;
void  central_stats(hak_stats_t *out) HAK_INTERNAL;

/* ---- Large blocks (large.c) -------------------------------------------------------------------- */
/* NULL + ENOMEM on failure; zero: the caller needs zeroed memory (only a reused mapping is cleared). */
void  *large_alloc(size_t size, size_t align, bool zero) HAK_INTERNAL;
bool   large_free(void *p) HAK_INTERNAL;                        /* false: not a large block */
size_t large_usable_size(void *p) HAK_INTERNAL;                 /* 0: not a large block */
void  *large_realloc(void *p, size_t size) HAK_INTERNAL;        /* NULL: could not in place/remap */
void   large_purge(uint64_t min_age_ms) HAK_INTERNAL;
void   large_stats(hak_stats_t *out) HAK_INTERNAL;
void   large_atfork_prepare(void) HAK_INTERNAL;
void   large_atfork_parent(void) HAK_INTERNAL;
void   large_atfork_child(void) HAK_INTERNAL;

/* ---- Start-up (init.c) ------------------------------------------------------------------------ */
extern _Atomic int hak_init_state HAK_INTERNAL;   /* 0 none, 1 in progress, 2 ready */
bool hak_init_slow(void) HAK_INTERNAL;            /* false: could not initialise (no memory) */
HAK_INLINE bool hak_ensure_init(void) {
    return HAK_LIKELY(atomic_load_explicit(&hak_init_state, memory_order_acquire) == 2) || hak_init_slow();
}

/* ---- Refill daemon (refill_thread/daemon.c) ---------------------------------------------------- */
/* Counts toward starting the daemon (after DAEMON_START_AFTER calls); from slow paths with no
 * lock held only. */
void daemon_maybe_start(void) HAK_INTERNAL;
/* Memory was released that the purge timer should look at: arms the timer. */
void daemon_note_purge_pending(void) HAK_INTERNAL;
void daemon_wake(void) HAK_INTERNAL;          /* cheap when the daemon is awake: one load */
bool daemon_enabled(void) HAK_INTERNAL;       /* running (or about to), so rings are being filled */
void daemon_atfork_prepare(void) HAK_INTERNAL;
void daemon_atfork_parent(void) HAK_INTERNAL;
void daemon_atfork_child(void) HAK_INTERNAL;
extern _Atomic uint64_t hak_daemon_wakeups HAK_INTERNAL, hak_daemon_batches HAK_INTERNAL;

/* ---- AddressSanitizer (HAK_ASAN builds only; elsewhere these are nothing) --------------------- */
/* In an ASan build a small block is poisoned from the moment it is freed until malloc hands it out
 * again (then unpoisoned for its whole usable size), and a cached large mapping is poisoned while
 * it is cached, so a use-after-free or double free of a hakmem block is reported by ASan.
 * hakmem's own accesses to free blocks are their link words (block_word/block_set_word): each
 * lifts the poison of that one word for the access and puts it back. Memory goes back to the OS
 * unpoisoned (os_unmap), so whatever is mapped there next starts clean. Blocks are at least 8
 * bytes and 8-aligned, so no two blocks share an ASan granule. */
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

/* ---- Chains of blocks ----------------------------------------------------------------------- */
/* Word i of a free block: 0 links a chain (free list, TLS list, remote list). */
HAK_INLINE void *block_word(void *b, unsigned i) {
    void **w = (void **)b + i;
    HAK_UNPOISON(w, sizeof *w);
    void *v = *w;
    HAK_POISON(w, sizeof *w);
    return v;
}
HAK_INLINE void block_set_word(void *b, unsigned i, void *v) {
    void **w = (void **)b + i;
    HAK_UNPOISON(w, sizeof *w);
    *w = v;
    HAK_POISON(w, sizeof *w);
}
HAK_INLINE void *block_next(void *b) { return block_word(b, 0); }
HAK_INLINE void  block_set_next(void *b, void *n) { block_set_word(b, 0, n); }

/* Cut the first n (>= 1) blocks off a chain that has at least n: head then starts a
 * NULL-terminated chain of n blocks, and the rest of the chain is returned. */
HAK_INLINE void *chain_split(void *head, uint32_t n) {
    void *tail = head;
    for (uint32_t i = 1; i < n; i++) tail = block_next(tail);
    void *rest = block_next(tail);
    block_set_next(tail, NULL);
    return rest;
}


#endif /* HAK_INTERNAL_H */
