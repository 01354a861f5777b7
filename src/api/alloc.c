/* The entry points: hak_malloc, hak_free and the rest of the malloc family. The fast paths are
 * inline (tls_cache.h); everything past them is a call to a cold function. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "api/init.h"
#include "core/tls_cache.h"
#include "core/large.h"
#include "platform/os.h"
#include "core/check_mode.h"

/* The entry points start the allocator (hak_ensure_init) before any core slow path: the core
 * never initialises itself. */
static void *large_alloc_init(size_t size, size_t align, bool zero) {
    if (HAK_UNLIKELY(!hak_ensure_init())) {
        errno = ENOMEM;
        return NULL;
    }
    return large_alloc(size, align, zero);
}

static HAK_NOINLINE void *malloc_large(size_t size) { return large_alloc_init(size, 16, false); }

/* The thread's list for the class was empty (or the thread is new): refill it. */
static HAK_NOINLINE void *malloc_refill(size_t size) {
    if (HAK_UNLIKELY(!hak_ensure_init())) {
        errno = ENOMEM;
        return NULL;
    }
    return tls_refill_alloc(size);
}

/* ASan builds: a block leaving the allocator is unpoisoned for its whole usable size. */
#if defined(HAK_ASAN)
static void *asan_hand_out(void *p) {
    if (p) HAK_UNPOISON(p, hak_class_size[block_class(p)]);
    return p;
}
#define HAND_OUT(p) asan_hand_out(p)
#else
#define HAND_OUT(p) (p)
#endif

HAK_API void *hak_malloc(size_t size) {
    if (HAK_COUNTERS_ON && size == 0) HAK_COUNT(malloc_zero);
    if (HAK_LIKELY(size <= HAK_CLASS_TABLE_MAX)) {
        void *p = tls_list_pop(size_class_by_table(size));
        if (HAK_LIKELY(p != NULL)) return HAND_OUT(p);
        return HAND_OUT(malloc_refill(size));
    }
    if (size <= HAK_MEDIUM_MAX) {
        void *p = tls_list_pop(size_class_by_band(size));
        return HAND_OUT(p ? p : malloc_refill(size));
    }
    return malloc_large(size);
}

/* ---- free ------------------------------------------------------------------------------------ */

static HAK_COLD void invalid_pointer(const char *what, void *p) {
    HAK_COUNT(invalid_pointer);
    hak_fatal("hakmem: %s(): invalid pointer %p (not allocated by hakmem, or already freed)", what, p);
}

static HAK_NOINLINE void free_slow(void *p) {
    if (p == NULL) {
        HAK_COUNT(free_null);
        HAK_COUNTS_SETTLE();
        return;
    }
    if (!large_free(p)) invalid_pointer("free", p);
}

/* ASan builds: the block must be live (a poisoned first byte means it is free already), then it is
 * poisoned whole. Reading the poisoned byte on purpose makes ASan report a double free with this
 * call's stack and the block's history. */
#if defined(HAK_ASAN)
static void asan_take_back(void *p, unsigned cls) {
    if (HAK_IS_POISONED(p)) {
        hak_message("hakmem: free(%p): the block is already free (double free?)", p);
        (void)*(volatile char *)p;
        invalid_pointer("free", p);
    }
    HAK_POISON(p, hak_class_size[cls]);
}
#define TAKE_BACK(p, cls) asan_take_back(p, cls)
#else
#define TAKE_BACK(p, cls) ((void)0)
#endif

/* A block of our own slab goes on our list (local free); any other block of a live slab is
 * remote (tls_free_remote); a free or header slab's tag has no valid class. */
HAK_API void hak_free(void *p) {
    if (HAK_LIKELY(registry_contains((uintptr_t)p))) {
        uint32_t tag = slab_tag_of(p);
        /* Our own slab iff the owner bits cancel out, and what is left is then the class: one xor
         * with memory and one compare, where masking both halves out took four instructions. An
         * unregistered thread's owner bits are 0, which leaves every tag above the class mask. */
        uint32_t mine = tag ^ hak_tls.owner_bits;
        if (HAK_LIKELY(mine <= HAK_TAG_CLASS_MASK)) {
            TAKE_BACK(p, mine);
            tls_list_push(mine, p);
            return;
        }
        unsigned cls = tag & HAK_TAG_CLASS_MASK;
        if (HAK_UNLIKELY(cls >= HAK_NUM_CLASSES)) invalid_pointer("free", p);
        TAKE_BACK(p, cls);
        tls_free_remote(p, tag);
        return;
    }
    free_slow(p);
}

/* Usable size of a block we handed out; aborts, naming the caller `what`, on any other pointer. */
static size_t block_usable_size(void *p, const char *what) {
    if (registry_contains((uintptr_t)p)) {
        unsigned cls = block_class(p);
        if (cls >= HAK_NUM_CLASSES) invalid_pointer(what, p);
        if (HAK_UNLIKELY(hak_check_mode)) return check_usable_size(p, cls);   /* the asked size */
        return hak_class_size[cls];
    }
    size_t n = large_usable_size(p);
    if (n == 0) invalid_pointer(what, p);
    return n;
}

HAK_API size_t hak_malloc_usable_size(void *p) { return p ? block_usable_size(p, "malloc_usable_size") : 0; }

/* ---- calloc, realloc --------------------------------------------------------------------------- */

HAK_API void *hak_calloc(size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    if (total > HAK_MEDIUM_MAX) return large_alloc_init(total, 16, true);
    void *p = hak_malloc(total);
    if (p) memset(p, 0, total);
    return p;
}

/* A block that realloc moves to grow it gets at least a quarter more room than it had, so a block
 * grown by small steps (appends, push_back) moves O(log n) times, not once per size class
 * (test_realloc_growth: 22 moves from 100 B to 200 KiB instead of 42; workloads realloc +3-5% per
 * CPU-second and 16-18% less peak RSS, fewer half-used blocks of the classes in between). Not in
 * checking mode, which guards the exact size asked. Large blocks grow by half (large_realloc). */
static size_t grown_size(size_t old, size_t size) {
    size_t roomy = old + old / 4;
    return size < roomy && roomy <= HAK_MEDIUM_MAX && !hak_check_mode ? roomy : size;
}

HAK_API void *hak_realloc(void *p, size_t size) {
    if (p == NULL) return hak_malloc(size);
    size_t old = block_usable_size(p, "realloc");   /* also rejects pointers we never handed out */
    bool old_large = !registry_contains((uintptr_t)p);
    if (!old_large && size <= old && size > old / 2) return p;   /* same class or close: keep */
    if (old_large && size > HAK_MEDIUM_MAX) {
        void *q = large_realloc(p, size);
        if (q) return q;
    }
    void *q = hak_malloc(!old_large && size > old ? grown_size(old, size) : size);
    if (q == NULL) return NULL;                /* errno set; the old block is untouched */
    memcpy(q, p, old < size ? old : size);
    hak_free(p);
    return q;
}

HAK_API void *hak_reallocarray(void *p, size_t count, size_t size) {
    size_t total;
    if (__builtin_mul_overflow(count, size, &total)) {
        errno = ENOMEM;
        return NULL;
    }
    return hak_realloc(p, total);
}

/* ---- Aligned allocation ---------------------------------------------------------------------- */

static bool is_pow2(size_t x) { return x && !(x & (x - 1)); }

/* Every power of two from 16 B to 64 KiB is a size class whose blocks start at a 64 KiB-aligned
 * slab, so such a block is aligned to its size. Larger alignments are large mappings. */
static void *aligned_impl(size_t align, size_t size) {
    if (align <= 16) return hak_malloc(size < 16 && align == 16 ? 16 : size);
    /* Checking mode takes a block a byte larger than asked: no longer a power of two. */
    if (HAK_UNLIKELY(hak_ensure_init() && hak_check_mode)) return large_alloc(size, align, false);
    size_t need = size > align ? size : align;
    if (need <= HAK_MEDIUM_MAX) {
        size_t pow2 = (size_t)1 << (64 - __builtin_clzll((unsigned long long)need - 1));
        if (pow2 <= HAK_SLAB_SIZE) return hak_malloc(pow2);
    }
    return large_alloc_init(size, align, false);
}

HAK_API int hak_posix_memalign(void **out, size_t align, size_t size) {
    if (!is_pow2(align) || align % sizeof(void *)) return EINVAL;
    int saved = errno;
    void *p = aligned_impl(align, size);
    if (!p) return ENOMEM;
    errno = saved;
    *out = p;
    return 0;
}

HAK_API void *hak_aligned_alloc(size_t align, size_t size) {
    if (!is_pow2(align)) {
        errno = EINVAL;
        return NULL;
    }
    return aligned_impl(align, size);
}

/* glibc's memalign rounds a non-power-of-two alignment up; so do we. */
HAK_API void *hak_memalign(size_t align, size_t size) {
    if (align > ((size_t)1 << 62)) {
        errno = EINVAL;
        return NULL;
    }
    if (!is_pow2(align)) align = align ? (size_t)1 << (64 - __builtin_clzll((unsigned long long)align)) : 16;
    return aligned_impl(align, size);
}

HAK_API void *hak_valloc(size_t size) { return aligned_impl((size_t)getpagesize(), size); }

HAK_API void *hak_pvalloc(size_t size) {
    size_t pg = (size_t)getpagesize();
    if (size > SIZE_MAX - pg) {
        errno = ENOMEM;
        return NULL;
    }
    size_t rounded = size ? (size + pg - 1) & ~(pg - 1) : pg;
    return aligned_impl(pg, rounded);
}

/* hak_new*, hak_free_sized, hak_free_aligned_sized: in this translation unit (see that file). */
#include "api/sized_new.c"
