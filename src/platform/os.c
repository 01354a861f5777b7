/* The OS layer: every mmap, munmap, madvise and mremap hakmem makes, plus messages to stderr
 * written with write(2) (stdio may allocate). */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include "platform/os.h"
#include "platform/track.h"

_Atomic uint64_t hak_bytes_mapped;
_Atomic uint64_t hak_purges;

void *os_map(size_t size) {
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return NULL;
    atomic_fetch_add_explicit(&hak_bytes_mapped, size, memory_order_relaxed);
    return p;
}

/* Over-map by `align`, then unmap the unaligned head and the tail. */
void *os_map_aligned(size_t size, size_t align) {
    if (align <= (size_t)getpagesize()) return os_map(size);
    if (size + align < size) return NULL;
    char *raw = mmap(NULL, size + align, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    char *aligned = (char *)(((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1));
    size_t head = (size_t)(aligned - raw), tail = align - head;
    if (head) munmap(raw, head);
    if (tail) munmap(aligned + size, tail);
    atomic_fetch_add_explicit(&hak_bytes_mapped, size, memory_order_relaxed);
    return aligned;
}

void os_unmap(void *p, size_t size) {
    HAK_UNPOISON(p, size);   /* (ASan builds) whatever is mapped here next starts clean */
    if (munmap(p, size) != 0) hak_fatal("hakmem: munmap(%p, %zu) failed: errno %d", p, size, errno);
    atomic_fetch_sub_explicit(&hak_bytes_mapped, size, memory_order_relaxed);
}

/* MADV_DONTNEED on a private anonymous mapping of our own cannot fail short of a bug (a range
 * not mapped, not page-aligned): that is worth stopping for, not a silent RSS leak. */
void os_purge(void *p, size_t size) {
    if (madvise(p, size, MADV_DONTNEED) != 0)
        hak_fatal("hakmem: madvise(%p, %zu, MADV_DONTNEED) failed: errno %d", p, size, errno);
    atomic_fetch_add_explicit(&hak_purges, 1, memory_order_relaxed);
}

/* Fault a range in now, so that the thread that later carves it takes no page fault (each costs
 * 11-16 us on these machines). MADV_POPULATE_WRITE (Linux 5.14) does it in one call; older
 * kernels refuse it, and then one write per page does the same. The memory is free, so what is
 * written does not matter. */
bool os_populate(void *p, size_t size) {
#ifdef MADV_POPULATE_WRITE
    return madvise(p, size, MADV_POPULATE_WRITE) == 0;
#else
    (void)p;
    (void)size;
    return false;
#endif
}

void os_prefault(void *p, size_t size) {
#ifdef MADV_POPULATE_WRITE
    static _Atomic int unsupported;
    if (!atomic_load_explicit(&unsupported, memory_order_relaxed)) {
        if (madvise(p, size, MADV_POPULATE_WRITE) == 0) return;
        atomic_store_explicit(&unsupported, 1, memory_order_relaxed);
    }
#endif
    size_t pg = (size_t)getpagesize();
    for (size_t off = 0; off < size; off += pg) ((volatile char *)p)[off] = 0;
}

size_t os_page_size(void) { return (size_t)getpagesize(); }

void os_touch_pages(const void *p, size_t size) {
    size_t pg = (size_t)getpagesize();
    for (const char *b = p, *end = b + size; b < end; b += pg) {
#if defined(__x86_64__)
        unsigned char v;
        __asm__ volatile("movb (%1), %0" : "=q"(v) : "r"(b));
#elif defined(__aarch64__)
        unsigned v;
        __asm__ volatile("ldrb %w0, [%1]" : "=r"(v) : "r"(b));
#else
        (void)*(const volatile char *)b;
#endif
    }
}

void *os_remap(void *p, size_t old_size, size_t new_size) {
#if defined(HAK_TSAN)
    /* ThreadSanitizer does not intercept mremap (clang 14): a mapping moved or shrunk by it leaves
     * the old addresses' shadow holding the last owner's accesses, and whichever thread the kernel
     * next maps there is reported racing with them (cross_thread_free under TSan, once the large
     * cache kept more mappings to grow). So under TSan a mapping never moves: it shrinks by an
     * (intercepted) munmap of its tail and grows in place or not at all (callers then map anew
     * or copy). Every other build moves freely. */
    if (new_size == 0) return NULL;   /* as mremap refuses it */
    if (new_size <= old_size) {
        if (new_size < old_size) os_unmap((char *)p + new_size, old_size - new_size);
        return p;
    }
    void *q = mremap(p, old_size, new_size, 0);
#else
    void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
#endif
    if (q == MAP_FAILED) return NULL;
    if (new_size > old_size)
        atomic_fetch_add_explicit(&hak_bytes_mapped, new_size - old_size, memory_order_relaxed);
    else
        atomic_fetch_sub_explicit(&hak_bytes_mapped, old_size - new_size, memory_order_relaxed);
    return q;
}

static uint64_t clock_ns(clockid_t clock) {
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0) return 0;
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
uint64_t os_now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }
uint64_t os_now_ms(void) { return clock_ns(CLOCK_MONOTONIC) / 1000000u; }
uint64_t os_process_cpu_ns(void) { return clock_ns(CLOCK_PROCESS_CPUTIME_ID); }
uint64_t os_thread_cpu_ns(void) { return clock_ns(CLOCK_THREAD_CPUTIME_ID); }

unsigned os_cpus_allowed(void) {
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 1;
    int n = CPU_COUNT(&set);
    return n > 0 ? (unsigned)n : 1;
}

static void vmessage(const char *fmt, va_list ap) {
    char buf[512];
    int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
    if (n < 0) return;
    if ((size_t)n > sizeof buf - 2) n = (int)sizeof buf - 2;
    buf[n++] = '\n';
    ssize_t unused = write(STDERR_FILENO, buf, (size_t)n);
    (void)unused;
}

void hak_message(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
}

_Noreturn void hak_fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vmessage(fmt, ap);
    va_end(ap);
    abort();
}

_Noreturn void hak_assert_failed(const char *cond, const char *file, int line) {
    hak_fatal("hakmem: assertion failed: %s (%s:%d)", cond, file, line);
}
