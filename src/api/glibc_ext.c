/* The glibc extensions programs call under a replacement malloc: malloc_trim, mallinfo2,
 * mallinfo, malloc_stats, malloc_info and mallopt, prefixed (hak_*) and, in the overriding
 * library only (CMake defines HAK_OVERRIDE_NAMES there), under their standard names.
 *
 * None of them is on a fast path: each gathers hak_stats_get (which takes the allocator's locks
 * briefly) and prints, if it prints, after those locks are dropped, so stdio may allocate.
 * docs/configuration.md ("glibc extensions") gives the mapping of every mallinfo field. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdio.h>
#include "hakmem.h"
#include "core/size_class.h"   /* geometry: SuperSlab and slab sizes, medium classes */
#include "platform/os.h"        /* hak_bytes_mapped, hak_purges */

/* ---- malloc_trim ------------------------------------------------------------------------------- */

/* 1 if memory went back to the OS during the call: hak_trim purges (madvise, counted in hak_purges)
 * and unmaps (bytes mapped fall). Both counters are process-wide, so memory another thread released
 * meanwhile counts too, and a mapping made meanwhile by another thread can hide an unmapping of no
 * more bytes: exact for a program that trims while its other threads are quiet. `pad` (glibc: bytes
 * to leave at the top of the heap) has no meaning here: hakmem has no top. */
HAK_API int hak_malloc_trim(size_t pad) {
    (void)pad;
    uint64_t purges = atomic_load_explicit(&hak_purges, memory_order_relaxed);
    uint64_t mapped = atomic_load_explicit(&hak_bytes_mapped, memory_order_relaxed);
    hak_trim();
    return atomic_load_explicit(&hak_purges, memory_order_relaxed) != purges ||
           atomic_load_explicit(&hak_bytes_mapped, memory_order_relaxed) < mapped;
}

/* ---- mallinfo2, mallinfo --------------------------------------------------------------------- */

/* glibc's fields in hakmem's terms (docs/configuration.md has the same table):
 *   arena     bytes of all mapped SuperSlabs + cached (freed, kept) large mappings
 *   ordblks   free chunks: free slabs in those SuperSlabs + cached large mappings
 *   smblks, fsmblks, usmblks   0 (no fastbins; glibc's usmblks is always 0 too)
 *   hblks, hblkhd   live large blocks (own mappings) and their mapped bytes
 *   uordblks  bytes of slabs owned by a size class: the blocks in use plus the free blocks cached in
 *             threads' lists and those slabs (hakmem does not count live small blocks)
 *   fordblks  arena - uordblks: free slabs, SuperSlab headers, cached large mappings
 *   keepcost  what a trim could give back now, estimated: cached large mappings + empty SuperSlabs
 *             not purged yet */
static struct mallinfo2 mallinfo_of(const hak_stats_t *s) {
    uint64_t superslabs = s->superslabs_active + s->superslabs_empty;
    uint64_t slab_slots = superslabs * (uint64_t)(HAK_SLABS_PER_SS - 1);   /* slab 0 is the header */
    struct mallinfo2 mi = { 0 };
    mi.arena = superslabs * HAK_SS_SIZE + s->large_cached_bytes;
    mi.ordblks = (slab_slots > s->slabs_in_use ? slab_slots - s->slabs_in_use : 0) + s->large_cached;
    mi.hblks = s->large_live;
    mi.hblkhd = s->large_live_bytes;
    mi.uordblks = s->slabs_in_use * HAK_SLAB_SIZE;
    mi.fordblks = mi.arena > mi.uordblks ? mi.arena - mi.uordblks : 0;
    mi.keepcost = s->large_cached_bytes + (s->superslabs_empty - s->superslabs_purged) * HAK_SS_SIZE;
    return mi;
}

HAK_API struct mallinfo2 hak_mallinfo2(void) {
    hak_stats_t s;
    hak_stats_get(&s);
    return mallinfo_of(&s);
}

/* glibc truncates to int; saturating at INT_MAX keeps a large heap from looking small or negative. */
static int clamp_int(size_t v) { return v > (size_t)INT_MAX ? INT_MAX : (int)v; }

HAK_API struct mallinfo hak_mallinfo(void) {
    struct mallinfo2 m = hak_mallinfo2();
    struct mallinfo mi = {
        .arena = clamp_int(m.arena), .ordblks = clamp_int(m.ordblks), .smblks = clamp_int(m.smblks),
        .hblks = clamp_int(m.hblks), .hblkhd = clamp_int(m.hblkhd), .usmblks = clamp_int(m.usmblks),
        .fsmblks = clamp_int(m.fsmblks), .uordblks = clamp_int(m.uordblks),
        .fordblks = clamp_int(m.fordblks), .keepcost = clamp_int(m.keepcost),
    };
    return mi;
}

/* ---- malloc_stats, malloc_info ---------------------------------------------------------------- */

/* glibc's closing summary (scripts grep "system bytes"), then hakmem's own table, on stderr. */
HAK_API void hak_malloc_stats(void) {
    hak_stats_t s;
    hak_stats_get(&s);
    struct mallinfo2 mi = mallinfo_of(&s);
    fprintf(stderr, "Total (incl. mmap):\nsystem bytes     = %10llu\nin use bytes     = %10llu\n",
            (unsigned long long)s.bytes_mapped, (unsigned long long)(mi.uordblks + mi.hblkhd));
    hak_stats_print(stderr);
}

/* glibc's element names where they fit (<sizes>, <total>, <system>, <aspace>), one heap. A <size>
 * is one size class: count = slabs it owns, total = their bytes (a medium class's slab spans a
 * whole SuperSlab but its header slab). options must be 0 (EINVAL). */
HAK_API int hak_malloc_info(int options, FILE *fp) {
    if (options != 0 || fp == NULL) {
        errno = EINVAL;
        return -1;
    }
    hak_stats_t s;
    hak_stats_get(&s);
    struct mallinfo2 mi = mallinfo_of(&s);
    fprintf(fp, "<malloc version=\"1\" allocator=\"hakmem\">\n<heap nr=\"0\">\n<sizes>\n");
    uint32_t from = 1;
    for (unsigned c = 0; c < HAK_STATS_CLASSES; c++) {
        uint64_t slab_bytes = class_is_medium(c) ? HAK_SS_SIZE - HAK_SLAB_SIZE : HAK_SLAB_SIZE;
        if (s.class_slabs[c])
            fprintf(fp, "  <size from=\"%u\" to=\"%u\" total=\"%llu\" count=\"%u\"/>\n", from, s.class_size[c],
                    (unsigned long long)(s.class_slabs[c] * slab_bytes), s.class_slabs[c]);
        from = s.class_size[c] + 1;
    }
    fprintf(fp, "</sizes>\n"
                "<total type=\"slabs\" count=\"%llu\" size=\"%llu\"/>\n"
                "<total type=\"mmap\" count=\"%llu\" size=\"%llu\"/>\n"
                "<total type=\"cached\" count=\"%llu\" size=\"%llu\"/>\n"
                "<system type=\"current\" size=\"%llu\"/>\n"
                "<aspace type=\"total\" size=\"%llu\"/>\n"
                "</heap>\n</malloc>\n",
            (unsigned long long)s.slabs_in_use, (unsigned long long)mi.uordblks,
            (unsigned long long)s.large_live, (unsigned long long)s.large_live_bytes,
            (unsigned long long)s.large_cached, (unsigned long long)s.large_cached_bytes,
            (unsigned long long)s.bytes_mapped, (unsigned long long)s.bytes_mapped);
    return ferror(fp) ? -1 : 0;
}

/* ---- mallopt ----------------------------------------------------------------------------------- */

/* Accepted and ignored: hakmem's tuning is its HAKMEM_* variables. 1 for every parameter <malloc.h>
 * defines (glibc's own and the SVID ones it ignores too), 0 for anything else. */
HAK_API int hak_mallopt(int param, int value) {
    (void)value;
    switch (param) {
    case M_MXFAST: case M_NLBLKS: case M_GRAIN: case M_KEEP:
    case M_TRIM_THRESHOLD: case M_TOP_PAD: case M_MMAP_THRESHOLD: case M_MMAP_MAX:
    case M_CHECK_ACTION: case M_PERTURB: case M_ARENA_TEST: case M_ARENA_MAX:
        return 1;
    default:
        return 0;
    }
}

/* ---- The standard names ---------------------------------------------------------------------- */
#ifdef HAK_OVERRIDE_NAMES
#define HAK_STD_ALIAS(name) __attribute__((alias(#name), visibility("default"), used))
int    malloc_trim(size_t pad)              HAK_STD_ALIAS(hak_malloc_trim);
struct mallinfo2 mallinfo2(void)            HAK_STD_ALIAS(hak_mallinfo2);
struct mallinfo  mallinfo(void)             HAK_STD_ALIAS(hak_mallinfo);
void   malloc_stats(void)                   HAK_STD_ALIAS(hak_malloc_stats);
int    malloc_info(int options, FILE *fp)   HAK_STD_ALIAS(hak_malloc_info);
int    mallopt(int param, int value)        HAK_STD_ALIAS(hak_mallopt);
#endif
