/* api.h: which entry points a test or scenario calls, and allocation calls that check what they
 * return. One source, several builds (chosen by the build, see tests/CMakeLists.txt):
 *
 *   default             API(malloc) is malloc; linked to libhakmem.so, whose malloc replaces
 *                       libc's (the same as LD_PRELOAD);
 *   HAK_TEST_PREFIXED   API(malloc) is hak_malloc; linked to libhakmem_prefixed.a, libc keeps its
 *                       malloc: the only way in a sanitizer build, where the sanitizer owns malloc;
 *   HAK_TEST_LIBC       standard names, linked to libc and libc_baseline.c only: checks the tests
 *                       themselves against glibc (cmake -DHAKMEM_TESTS_LIBC_BASELINE=ON).
 *
 * api_check_linked() fails early when the standard-name build is not really running hakmem's
 * malloc (the test would then test glibc), and names the entry points in every FAIL line.
 *
 * Checked allocation (every block stamped with its canary, canary.h):
 *   stamp_new(p, size, align, what)   not NULL, usable size, alignment; then canary_stamp
 *   alloc_any(&rng, size)             malloc, calloc (checked zero), posix_memalign, aligned_alloc,
 *                                     memalign or realloc(NULL), chosen by rng; stamped
 *   realloc_checked(p, old, new)      check, realloc, the old contents survive up to the smaller
 *                                     size, stamp again
 *   free_checked(p, size, what)       check, free
 *   pack_block / packed_ptr / packed_size   a block and its size in one word, for atomic hand-over
 *                                     slots between threads */
#ifndef HAK_TEST_SUPPORT_API_H
#define HAK_TEST_SUPPORT_API_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "canary.h"
#include "check.h"
#include "hakmem.h"
#include "rng.h"

#if defined(HAK_TEST_PREFIXED)
#define API(fn) hak_##fn
#define API_NAME "hak_*"
#elif defined(HAK_TEST_LIBC)
#define API(fn) fn
#define API_NAME "glibc baseline"
#else
#define API(fn) fn
#define API_NAME "malloc"
#endif

/* Calls through a volatile function pointer stop the compiler from reasoning about the call
 * (pairing a malloc with a free, or warning about a deliberately bad argument). */
typedef void (*free_fn_t)(void *);
static free_fn_t volatile api_free_fn = API(free);
static void *(*volatile api_malloc_fn)(size_t) = API(malloc);

static inline void api_check_linked(void)
{
    hak_test_api_name = API_NAME;
#if !defined(HAK_TEST_PREFIXED) && !defined(HAK_TEST_LIBC)
    Dl_info info;
    void *(*volatile m)(size_t) = malloc;
    CHECK(dladdr((void *)m, &info) != 0 && info.dli_fname != NULL, "dladdr(malloc) found no object");
    CHECK(strstr(info.dli_fname, "hakmem") != NULL,
          "malloc resolves to %s, not to libhakmem: the test would not test hakmem", info.dli_fname);
    NOTE("malloc resolves to %s", info.dli_fname);
#endif
    NOTE("entry points: %s", API_NAME);
}

static inline void stamp_new(void *p, size_t size, size_t align, const char *what)
{
    if (p == NULL)
        FAIL("%s(%zu) returned NULL (errno %d)", what, size, errno);
    size_t usable = API(malloc_usable_size)(p);
    if (usable < size)
        FAIL("%s(%zu) = %p has usable size %zu", what, size, p, usable);
    if (align && ((uintptr_t)p & (align - 1)))
        FAIL("%s(%zu, align %zu) = %p is misaligned", what, size, align, p);
    /* malloc's own guarantee: 16 bytes (max_align_t) for blocks that can hold one, 8 below. */
    if ((uintptr_t)p & (size >= 16 ? 15 : 7))
        FAIL("%s(%zu) = %p is not aligned for any type", what, size, p);
    canary_stamp(p, size);
}

static inline void *alloc_any(rng_t *r, size_t size)
{
    uint64_t how = rng_below(r, 100);
    void *p;
    size_t align = 0;
    const char *what;
    if (how < 60) {
        what = "malloc";
        p = API(malloc)(size);
    } else if (how < 75) {
        what = "calloc";
        size_t n = (size & 7) == 0 && size >= 8 ? size / 8 : size, each = size / n;
        p = API(calloc)(n, each);
        if (p)
            check_zeroed(p, size, "calloc");
    } else if (how < 95) {
        align = (size_t)1 << rng_range(r, 3, size > 64 * KiB ? 16 : 12);
        uint64_t which = rng_below(r, 3);
        if (which == 0) {
            what = "posix_memalign";
            int rc = API(posix_memalign)(&p, align, size);
            if (rc)
                FAIL("posix_memalign(%zu, %zu) failed: %d", align, size, rc);
        } else if (which == 1) {
            what = "aligned_alloc";
            p = API(aligned_alloc)(align, size);
        } else {
            what = "memalign";
            p = API(memalign)(align, size);
        }
    } else {
        what = "realloc(NULL)";
        p = API(realloc)(NULL, size);
    }
    stamp_new(p, size, align, what);
    return p;
}

static inline void *realloc_checked(void *p, size_t old_size, size_t new_size)
{
    canary_check(p, old_size, "before realloc");
    uintptr_t old_addr = (uintptr_t)p; /* the old stamp's key; p itself is dead after realloc */
    void *q = API(realloc)(p, new_size);
    if (q == NULL)
        FAIL("realloc(%p, %zu -> %zu) returned NULL (errno %d)", p, old_size, new_size, errno);
    canary_check_moved(q, (void *)old_addr, old_size, old_size < new_size ? old_size : new_size,
                       "after realloc");
    stamp_new(q, new_size, 0, "realloc");
    return q;
}

static inline void free_checked(void *p, size_t size, const char *what)
{
    canary_check(p, size, what);
    API(free)(p);
}

/* User-space addresses fit in 47 bits and blocks are 8-aligned, which leaves 20 bits for a size
 * below 1 MiB. */
#define PACK_MAX_SIZE ((size_t)1 << 20)

static inline uint64_t pack_block(void *p, size_t size)
{
    uintptr_t a = (uintptr_t)p;
    if (a >> 47 || (a & 7) || size >= PACK_MAX_SIZE)
        FAIL("cannot pack %p size %zu", p, size);
    return (uint64_t)(a >> 3) | ((uint64_t)size << 44);
}

static inline void *packed_ptr(uint64_t v) { return (void *)(uintptr_t)((v & ((1ull << 44) - 1)) << 3); }
static inline size_t packed_size(uint64_t v) { return (size_t)(v >> 44); }

/* A size from rng_size that fits pack_block. */
static inline size_t rng_size_packable(rng_t *r)
{
    size_t n = rng_size(r);
    return n >= PACK_MAX_SIZE ? PACK_MAX_SIZE - 1 : n;
}

#endif /* HAK_TEST_SUPPORT_API_H */
