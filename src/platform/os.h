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
/* A load of one byte of every page: a populated page's first access from user mode can still be
 * slow (on this VM 4.5 us a page after MADV_POPULATE_WRITE, which itself took 0.5: the
 * hypervisor's side of the fault, invisible to the guest), and after this load it is not. A
 * machine instruction, not a C access: the page may be written by a thread carving it meanwhile,
 * and the value is thrown away. The range must be mapped. */
void  os_touch_pages(const void *p, size_t size) HAK_INTERNAL;
size_t os_page_size(void) HAK_INTERNAL;
uint64_t os_now_ms(void) HAK_INTERNAL;                         /* monotonic */
uint64_t os_now_ns(void) HAK_INTERNAL;                         /* monotonic */
uint64_t os_process_cpu_ns(void) HAK_INTERNAL;                 /* CPU time of every thread */
uint64_t os_thread_cpu_ns(void) HAK_INTERNAL;                  /* the calling thread's */
unsigned os_cpus_allowed(void) HAK_INTERNAL;                   /* CPUs the caller may run on, >= 1 */
/* Mapped bytes and purges so far (statistics; relaxed). */
extern _Atomic uint64_t hak_bytes_mapped HAK_INTERNAL;
extern _Atomic uint64_t hak_purges HAK_INTERNAL;

void hak_message(const char *fmt, ...) HAK_INTERNAL __attribute__((format(printf, 1, 2)));
_Noreturn void hak_fatal(const char *fmt, ...) HAK_INTERNAL __attribute__((format(printf, 1, 2)));
#endif
