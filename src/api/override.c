/* The standard malloc symbols, for linking (-lhakmem) and LD_PRELOAD. This file is alloc.c plus
 * aliases: an alias must sit in the same translation unit as its target, and an alias (unlike a
 * wrapper) costs no extra jump. The prefixed-only library compiles alloc.c alone. */
#include "api/alloc.c"

#define HAK_ALIAS(name) __attribute__((alias(#name), visibility("default"), used))

void  *malloc(size_t size)                                HAK_ALIAS(hak_malloc);
void   free(void *p)                                      HAK_ALIAS(hak_free);
void   cfree(void *p)                                     HAK_ALIAS(hak_free);
void  *calloc(size_t n, size_t size)                      HAK_ALIAS(hak_calloc);
void  *realloc(void *p, size_t size)                      HAK_ALIAS(hak_realloc);
void  *reallocarray(void *p, size_t n, size_t size)       HAK_ALIAS(hak_reallocarray);
int    posix_memalign(void **out, size_t align, size_t size) HAK_ALIAS(hak_posix_memalign);
void  *aligned_alloc(size_t align, size_t size)           HAK_ALIAS(hak_aligned_alloc);
void  *memalign(size_t align, size_t size)                HAK_ALIAS(hak_memalign);
void  *valloc(size_t size)                                HAK_ALIAS(hak_valloc);
void  *pvalloc(size_t size)                               HAK_ALIAS(hak_pvalloc);
size_t malloc_usable_size(void *p)                        HAK_ALIAS(hak_malloc_usable_size);
