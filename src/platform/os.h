/* The OS layer (os.c): every system call the allocator makes on memory, the clock, and messages
 * to stderr written with write(2) (stdio may allocate). */
#ifndef HAK_OS_H
#define HAK_OS_H
#include "platform/base.h"

void *os_map(size_t size) HAK_INTERNAL;                       /* NULL on failure */
void *os_map_aligned(size_t size, size_t align) HAK_INTERNAL;   /* NULL on failure */
void  os_unmap(void *p, size_t size) HAK_INTERNAL;             /* aborts if the OS refuses */
void  os_purge(void *p, size_t size) HAK_INTERNAL;             /* MADV_DONTNEED */
void *os_remap(void *p, size_t old_size, size_t new_size) HAK_INTERNAL;  /* NULL on failure */
void  os_prefault(void *p, size_t size) HAK_INTERNAL;          /* fault pages in ahead of use */
/* MADV_POPULATE_WRITE only, never a touch: safe on a range that may have been unmapped (false). */
bool  os_populate(void *p, size_t size) HAK_INTERNAL;
uint64_t os_now_ms(void) HAK_INTERNAL;                         /* monotonic */
uint64_t os_now_ns(void) HAK_INTERNAL;                         /* monotonic */
/* Mapped bytes and purges so far (statistics; relaxed). */
extern _Atomic uint64_t hak_bytes_mapped HAK_INTERNAL;
extern _Atomic uint64_t hak_purges HAK_INTERNAL;

void hak_message(const char *fmt, ...) HAK_INTERNAL __attribute__((format(printf, 1, 2)));
_Noreturn void hak_fatal(const char *fmt, ...) HAK_INTERNAL __attribute__((format(printf, 1, 2)));
#endif
