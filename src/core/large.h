/* Large blocks (large.c): above the largest size class, each its own mapping. */
#ifndef HAK_LARGE_H
#define HAK_LARGE_H
#include "hakmem.h"
#include "platform/base.h"

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

#endif
