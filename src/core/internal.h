/* hakmem internal types, constants and cross-file declarations.
 *
 * Layers (each only looks down):
 *   alloc.c (entry points) -> tls_cache.c (per-thread lists, cold refill/overflow)
 *     -> central.c (per-class pool: transfer cache, partial slabs) -> superslab.c (slab claim/release,
 *     SuperSlab map/purge/retire) -> registry.c, os.c (address map, system calls)
 *   large.c: blocks above the largest size class, directly mapped.
 *   lockfree/: batch rings (ck_ring), return stacks, RCU wrappers.  refill_thread/: the daemon. */
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
/* Per-class ring watermarks and transfer-cache size: the options, capped so that no class keeps
 * more than about 512 KiB in its ring or its transfer cache (medium blocks are up to 256 KiB). */
extern uint32_t hak_class_ring_high[HAK_NUM_CLASSES] HAK_INTERNAL;
extern uint32_t hak_class_ring_low[HAK_NUM_CLASSES] HAK_INTERNAL;
extern uint32_t hak_class_transfer[HAK_NUM_CLASSES] HAK_INTERNAL;
/* Classes the daemon's rings serve (up to HAK_RING_CLASS_MAX bytes); larger classes always go
 * through the central pool, daemon or not (see docs/design.md, experiment 8). */
#define HAK_RING_CLASS_MAX 1024
HAK_INLINE bool class_uses_ring(unsigned cls) { return hak_class_size[cls] <= HAK_RING_CLASS_MAX; }
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
    long ring_low;          /* HAKMEM_RING_LOW: batches left in a ring that wake the daemon       */
    long ring_high;         /* HAKMEM_RING_HIGH: batches the daemon fills a ring to              */
    long purge_delay_ms;    /* HAKMEM_PURGE_DELAY_MS: free memory idle this long is purged       */
    long retain_mb;         /* HAKMEM_RETAIN_MB: empty SuperSlabs kept mapped (purged) up to this */
    long large_cache_mb;    /* HAKMEM_LARGE_CACHE_MB: freed large mappings kept for reuse        */
    long transfer_batches;  /* HAKMEM_TRANSFER_BATCHES: batches kept per class in the central pool */
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
/* Mutable per-slab state. Owned by the size class that claimed the slab: every field but
 * freed_at_ms is read and written only under that class's central lock (central.c), or by the
 * claimer before the slab is published. */
typedef struct slab_meta {
    void     *free;          /* blocks given back to this slab (singly linked)                  */
    uint32_t  nfree;         /* length of free                                                   */
    uint32_t  carved;        /* blocks carved so far (bump index)                                */
    uint32_t  capacity;      /* blocks that fit                                                  */
    uint32_t  block_size;
    struct slab_meta *next, *prev;  /* in the class's partial list                               */
    uint8_t   in_partial;
    uint8_t   index;         /* position in the SuperSlab                                        */
    uint8_t   cls;
    /* When the slab was last released: a hint for the purger's delay, so relaxed. */
    _Atomic uint64_t freed_at_ms;
} slab_meta_t;

typedef struct superslab {
    uint64_t magic;
    /* Read by every free() (class of the block's slab). Written only when a slab is claimed, before
     * any block of it is handed out, and when it is released, after all its blocks came back. */
    uint8_t  slab_class[HAK_SLABS_PER_SS];
    /* Bit i set = slab i is free (owned by no class). Any thread claims bits with CAS (acquire, so
     * it sees the last owner's writes); the owner releases with fetch_or (release). The purger
     * claims free slabs the same way while it madvises them. */
    _Alignas(64) _Atomic uint64_t free_mask;
    _Atomic uint64_t purged_mask;         /* free slabs whose memory was given back (hint)       */
    _Atomic uint64_t empty_since_ms;      /* when the last slab was released (hint)              */
    /* Registry list: changed under the list lock, walked by slab claimers under RCU. */
    _Atomic(struct superslab *) next;
    _Alignas(64) slab_meta_t slabs[HAK_SLABS_PER_SS];
} superslab_t;

HAK_INLINE superslab_t *ss_of(const void *p) { return (superslab_t *)((uintptr_t)p & HAK_SS_MASK); }
HAK_INLINE unsigned slab_index_of(const void *p) {
    return (unsigned)(((uintptr_t)p & (HAK_SS_SIZE - 1)) >> HAK_SLAB_SHIFT);
}
HAK_INLINE char *slab_base(superslab_t *ss, unsigned i) { return (char *)ss + ((size_t)i << HAK_SLAB_SHIFT); }
/* The slab that owns block p: its own 64 KiB slab, or slab 1 for a medium class's SuperSlab. */
HAK_INLINE slab_meta_t *slab_of(const void *p) {
    superslab_t *ss = ss_of(p);
    unsigned i = slab_index_of(p);
    return &ss->slabs[ss->slab_class[i] >= HAK_FIRST_MEDIUM ? 1 : i];
}
HAK_INLINE superslab_t *ss_of_meta(slab_meta_t *m) { return ss_of(m); }

slab_meta_t *slab_claim(unsigned cls) HAK_INTERNAL;            /* NULL: the OS refused memory */
bool slab_release(slab_meta_t *m) HAK_INTERNAL;   /* true: its SuperSlab became empty */
/* Give free slabs back to the OS (madvise) once they have been free for min_age_ms; with
 * only_empty, only slabs of wholly empty SuperSlabs, keeping the `keep_hot` most recently emptied
 * SuperSlabs untouched. Then unmap empty SuperSlabs beyond HAKMEM_RETAIN_MB (after an RCU grace
 * period). Never call with a central lock held or inside an RCU read-side section. */
void superslab_purge(uint64_t min_age_ms, bool only_empty, unsigned keep_hot) HAK_INTERNAL;
/* Something was released since the last purge (the daemon's timer uses it). */
extern _Atomic int hak_purge_pending HAK_INTERNAL;
void superslab_stats(hak_stats_t *out) HAK_INTERNAL;
void superslab_atfork_prepare(void) HAK_INTERNAL;
void superslab_atfork_parent(void) HAK_INTERNAL;
void superslab_atfork_child(void) HAK_INTERNAL;

/* ---- Central per-class pool (central.c) -------------------------------------------------------- */
/* Synchronous refill: stores a NULL-terminated chain of up to hak_class_batch[cls] blocks in *out
 * and returns its length (0: the OS refused memory). */
uint32_t central_refill(unsigned cls, void **out) HAK_INTERNAL;
/* A thread took a batch from the class's ring (statistics, activity hint). */
void central_note_ring_refill(unsigned cls) HAK_INTERNAL;
/* Take back a NULL-terminated chain of n blocks of class cls (n exact, or 0 if unknown). */
void  central_give_back(unsigned cls, void *head, uint32_t n) HAK_INTERNAL;
/* With the daemon running: a whole batch straight into the ring (or transfer cache, or slabs) if
 * the class lock is free; false if it is busy (then the caller uses the return stack). */
bool  central_try_give_back_batch(unsigned cls, void *batch) HAK_INTERNAL;
/* Daemon side: drain the class's return stack and top its ring up to the high watermark.
 * Returns the batches it put in the ring. */
uint32_t central_daemon_fill(unsigned cls) HAK_INTERNAL;
/* Does the class want the daemon (ring at or below the low watermark while in use)? */
bool  central_wants_fill(unsigned cls) HAK_INTERNAL;
/* Move classes' cached batches (ring, transfer cache, return stack) back into their slabs: every
 * class (idle_only false) or those no thread refilled from since the previous call. */
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
/* Counts toward starting the daemon (after 16 calls); from slow paths with no lock held only. */
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
/* Word i of a free block: 0 links a chain, 1 links batches on a return stack. */
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

/* Is class cls served by a running daemon's ring (rather than the central pool alone)? */
HAK_INLINE bool ring_serves(unsigned cls) { return class_uses_ring(cls) && daemon_enabled(); }

#endif /* HAK_INTERNAL_H */
