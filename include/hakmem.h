/* hakmem: a general-purpose memory allocator with a background refill thread.
 *
 * Two ways to use it:
 *  - as a malloc replacement: link with -lhakmem or LD_PRELOAD=libhakmem.so; malloc, free, calloc,
 *    realloc, reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc,
 *    malloc_usable_size, C23's free_sized and free_aligned_sized, glibc's malloc_trim, mallinfo2,
 *    mallinfo, malloc_stats, malloc_info and mallopt, and every C++ operator new and delete are
 *    then hakmem's;
 *  - through the prefixed API below, which is always exported. Sanitizer builds (which own malloc)
 *    and tests use it; it behaves exactly like the standard calls of the same name.
 *
 * Tuning is by HAKMEM_* environment variables, read once at start-up: see docs/configuration.md. */
#ifndef HAKMEM_H
#define HAKMEM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#if defined(__GLIBC__)
#include <malloc.h>   /* struct mallinfo, struct mallinfo2 */
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define HAK_API __attribute__((visibility("default")))

/* ---- The malloc family, prefixed ------------------------------------------------------------ */
HAK_API void  *hak_malloc(size_t size);
HAK_API void   hak_free(void *ptr);
HAK_API void  *hak_calloc(size_t count, size_t size);
HAK_API void  *hak_realloc(void *ptr, size_t size);
HAK_API void  *hak_reallocarray(void *ptr, size_t count, size_t size);
HAK_API int    hak_posix_memalign(void **out, size_t alignment, size_t size);
HAK_API void  *hak_aligned_alloc(size_t alignment, size_t size);
HAK_API void  *hak_memalign(size_t alignment, size_t size);
HAK_API void  *hak_valloc(size_t size);
HAK_API void  *hak_pvalloc(size_t size);
HAK_API size_t hak_malloc_usable_size(void *ptr);

/* C23: free a block allocated with this size (malloc, calloc, realloc) or with this alignment and
 * size (aligned_alloc). A wrong size is undefined behaviour, as in C23; hakmem then frees the block
 * as free() would. */
HAK_API void   hak_free_sized(void *ptr, size_t size);
HAK_API void   hak_free_aligned_sized(void *ptr, size_t alignment, size_t size);

/* ---- C++ allocation, prefixed (the operators of the overriding library are these) ----------- */
/* operator new's contract: never NULL; on failure the installed std::new_handler is called and the
 * allocation retried while there is one, then std::bad_alloc is thrown (through libstdc++, which
 * must be loaded: without it a failure aborts with a message). The _nothrow forms return NULL
 * instead of throwing. Alignment: a power of two. Free with hak_free, hak_free_sized or
 * hak_free_aligned_sized. */
HAK_API void  *hak_new(size_t size);
HAK_API void  *hak_new_nothrow(size_t size);
HAK_API void  *hak_new_aligned(size_t size, size_t alignment);
HAK_API void  *hak_new_aligned_nothrow(size_t size, size_t alignment);

/* ---- glibc extensions, prefixed (docs/configuration.md: what each reports) ------------------ */
/* Gives free memory back to the OS (hak_trim); 1 if any was released, else 0. */
HAK_API int    hak_malloc_trim(size_t pad);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
HAK_API struct mallinfo2 hak_mallinfo2(void);
#endif
#if defined(__GLIBC__)
HAK_API struct mallinfo  hak_mallinfo(void);   /* mallinfo2 saturated to INT_MAX */
#endif
/* glibc's summary lines, then the hak_stats_print table, on stderr. */
HAK_API void   hak_malloc_stats(void);
/* The statistics as XML; options must be 0 (else -1 and EINVAL). */
HAK_API int    hak_malloc_info(int options, FILE *fp);
/* Accepted and ignored: 1 for the parameters <malloc.h> defines, 0 for others. */
HAK_API int    hak_mallopt(int param, int value);

/* ---- Control ------------------------------------------------------------------------------------ */
/* Gives the calling thread's cached blocks back to their slabs, and the blocks of other threads it
 * freed and still holds to their owners (also done at thread exit). */
HAK_API void hak_thread_flush(void);
/* Returns free memory to the OS now, without waiting for the purge delay. */
HAK_API void hak_trim(void);

/* Test hook: pause (1) or resume (0) the background refill thread. While paused it does no work;
 * application threads must keep going through their synchronous refill path. */
HAK_API void hak_refill_thread_pause(int paused);
/* 1 if the refill thread is running in this process (it starts on first need), 0 if not. */
HAK_API int  hak_refill_thread_running(void);

/* ---- Statistics (always on; they cost nothing per operation) -------------------------------- */
#define HAK_STATS_CLASSES  53   /* size classes */
#define HAK_STATS_COUNTERS 40   /* debug counters (docs/counters.md), when compiled in */

typedef struct hak_stats {
    uint64_t bytes_mapped;          /* all memory hakmem holds mapped from the OS, bytes      */
    uint64_t superslabs_active;     /* SuperSlabs with at least one slab in use               */
    uint64_t superslabs_empty;      /* mapped, no slab in use (kept for reuse, maybe purged)  */
    uint64_t superslabs_mapped_total;   /* SuperSlabs ever mapped                             */
    uint64_t superslabs_unmapped_total; /* SuperSlabs given back with munmap                  */
    uint64_t slabs_in_use;          /* slabs owned by a size class                            */
    uint64_t purges;                /* madvise(MADV_DONTNEED) calls made                       */
    uint64_t large_live;            /* large blocks handed out                                 */
    uint64_t large_live_bytes;      /* their mapped bytes                                      */
    uint64_t large_cached;          /* freed large mappings kept for reuse                     */
    uint64_t large_cached_bytes;
    uint64_t refills_ring;          /* new slabs threads took ready (pre-faulted) from the refill thread's rings */
    uint64_t refills_sync;          /* new slabs threads claimed themselves                    */
    uint64_t daemon_wakeups;        /* times the refill thread woke up                         */
    uint64_t daemon_batches;        /* fresh slabs the refill thread prepared (pre-faulted)   */
    uint64_t ring_unused;           /* of those, slabs it gave back unused (the heap stopped growing) */
    uint64_t bytes_in_superslabs;   /* bytes of SuperSlabs with at least one slab in use       */
    uint64_t superslabs_purged;     /* empty SuperSlabs whose memory was given back (madvise)  */
    uint32_t class_size[HAK_STATS_CLASSES];   /* block size of each class                      */
    uint32_t class_slabs[HAK_STATS_CLASSES];  /* slabs each class owns now                      */
    /* Debug counters: all zero unless the library was built with HAKMEM_DEBUG_COUNTERS=ON, in
     * which case debug_counters is 1. Sums over live and exited threads; names from
     * hak_stats_counter_name(i). */
    int      debug_counters;
    uint64_t counters[HAK_STATS_COUNTERS];
    /* What the refill daemon did for each class (always on): how many of its fresh slabs (one pool
     * for every class up to 1 KiB) the class's threads took, each one a claim and its page faults
     * that the thread did not do, and the new slabs they claimed themselves because none was
     * ready. */
    uint64_t class_ring_taken[HAK_STATS_CLASSES];
    uint64_t class_sync_claims[HAK_STATS_CLASSES];
} hak_stats_t;

HAK_API void hak_stats_get(hak_stats_t *out);
/* Name of debug counter i (NULL past the last): the same names as docs/counters.md. */
HAK_API const char *hak_stats_counter_name(unsigned i);
/* Prints the statistics as one JSON object (what HAKMEM_STATS=json prints). */
HAK_API void hak_stats_print_json(FILE *out);
/* Prints the statistics as a readable table; does not allocate through hakmem. */
HAK_API void hak_stats_print(FILE *out);

#ifdef __cplusplus
}
#endif
#endif /* HAKMEM_H */
