/* canary.h: the one fill pattern of the tests and scenarios.
 *
 * A block is filled with 8-byte words derived from a key and the word's offset, so a block handed
 * out twice, overlapped or shifted, a free-list link written into a live block, a purged page still
 * in use or a lost realloc copy shows up as a mismatch at a known offset. Blocks up to
 * CANARY_DENSE_MAX are covered entirely; larger ones on their first and last CANARY_EDGE bytes and
 * one word per CANARY_STRIDE in between, so that a 64 MiB block stays cheap and still has a word
 * in every page.
 *
 * The key: canary_key(p, size) (the block's identity: what the scenarios use, nothing to store),
 * or any number the test keeps (a seed), e.g. when the block moves (realloc) and the old contents
 * must be found at the new address.
 *
 *   canary_fill(p, size, key)             fill
 *   canary_find(p, size, key)             first offset that differs, or size if none
 *   canary_find_prefix(p, size, key, len) the same over the first len bytes of a block that was
 *                                         filled with (size, key): after a shrinking realloc
 *   canary_stamp(p, size)                 fill with canary_key(p, size)
 *   canary_check(p, size, what)           FAIL unless p still holds its stamp
 *   canary_check_moved(q, orig, orig_size, len, what)
 *                                         FAIL unless q's first len bytes hold the stamp of the
 *                                         block (orig, orig_size): after realloc moved it
 *   check_zeroed(p, size, what)           FAIL unless every covered word is zero (calloc) */
#ifndef HAK_TEST_SUPPORT_CANARY_H
#define HAK_TEST_SUPPORT_CANARY_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus /* tests in C++ (test_new_delete.cpp) link the C library */
extern "C" {
#endif

#define CANARY_DENSE_MAX ((size_t)64 << 10)
#define CANARY_EDGE      ((size_t)4 << 10)
#define CANARY_STRIDE    ((size_t)4 << 10)

static inline uint64_t canary_key(const void *addr, size_t size)
{
    return (uint64_t)(uintptr_t)addr ^ ((uint64_t)size << 48) ^ (uint64_t)size;
}

void canary_fill(void *p, size_t size, uint64_t key);
size_t canary_find_prefix(const void *p, size_t size, uint64_t key, size_t len);
static inline size_t canary_find(const void *p, size_t size, uint64_t key)
{
    return canary_find_prefix(p, size, key, size);
}

static inline void canary_stamp(void *p, size_t size) { canary_fill(p, size, canary_key(p, size)); }
void canary_check_moved(const void *q, const void *orig, size_t orig_size, size_t len, const char *what);
static inline void canary_check(const void *p, size_t size, const char *what)
{
    canary_check_moved(p, p, size, size, what);
}
void check_zeroed(const void *p, size_t size, const char *what);

#ifdef __cplusplus
}
#endif

#endif /* HAK_TEST_SUPPORT_CANARY_H */
