/* Large blocks (above the largest size class): each is its own mapping, recorded in a hash table
 * (so free() can tell a large block from a pointer hakmem never handed out), with a bounded cache
 * of freed mappings so that a loop of malloc/free of the same large size makes no system call.
 * realloc uses mremap. Everything here is under one mutex: large operations are rare next to the
 * page faults they cause. */
#define _GNU_SOURCE
#include <pthread.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include "core/large.h"
#include "core/background.h"
#include "core/options.h"
#include "core/counters.h"
#include "platform/os.h"
#include "platform/track.h"

typedef struct large_entry {
    uintptr_t addr;       /* 0 = empty slot, 1 = deleted */
    size_t    size;       /* mapped bytes (the usable size) */
} large_entry_t;

typedef struct cached_map {
    void    *addr;
    size_t   size;
    uint64_t freed_at_ms;
} cached_map_t;

/* Splits leave pieces: 20 buffers of 5-25 MiB replaced at random keep 11-16 of them cached, so
 * with 4 threads 32 slots evicted (unmapped) pieces the next buffers needed: 128 slots cut the
 * page faults of `workloads bigbuf` with 4 threads from 336 k to 104 k. The scans below are
 * linear; a large block costs page faults anyway. */
#define CACHE_SLOTS 128
#define TOMBSTONE 1

static pthread_mutex_t large_lock = PTHREAD_MUTEX_INITIALIZER;
static large_entry_t *table;        /* open addressing, power-of-two capacity */
static size_t table_cap, table_used, table_live;
static uint64_t live_bytes;
static cached_map_t cache[CACHE_SLOTS];
static size_t cache_count, cache_bytes;

/* No mapping can be this big, and page_round would wrap near SIZE_MAX. */
static bool too_large(size_t n) { return n > PTRDIFF_MAX - (1u << 20); }

static size_t page_round(size_t n) {
    size_t pg = (size_t)getpagesize();
    return (n + pg - 1) & ~(pg - 1);
}

/* ---- Table of live large blocks (lock held) --------------------------------------------------- */

static size_t slot_of(uintptr_t addr, size_t cap) {
    uint64_t h = (uint64_t)addr * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 20) & (cap - 1);
}

static large_entry_t *table_find(uintptr_t addr) {
    if (!table) return NULL;
    for (size_t i = slot_of(addr, table_cap);; i = (i + 1) & (table_cap - 1)) {
        if (table[i].addr == addr) return &table[i];
        if (table[i].addr == 0) return NULL;
    }
}

static bool table_grow(void) {
    size_t cap = table_cap ? table_cap * 2 : 1024;
    large_entry_t *t = os_map(cap * sizeof *t);
    if (!t) {
        HAK_COUNT(mmap_failed);
        return false;
    }
    for (size_t i = 0; i < table_cap; i++) {
        if (table[i].addr <= TOMBSTONE) continue;
        size_t j = slot_of(table[i].addr, cap);
        while (t[j].addr) j = (j + 1) & (cap - 1);
        t[j] = table[i];
    }
    if (table) os_unmap(table, table_cap * sizeof *table);
    table = t;
    table_cap = cap;
    table_used = table_live;
    return true;
}

static bool table_insert(uintptr_t addr, size_t size) {
    if ((table_used + 1) * 4 > table_cap * 3 && !table_grow()) return false;
    size_t i = slot_of(addr, table_cap);
    while (table[i].addr > TOMBSTONE) i = (i + 1) & (table_cap - 1);
    if (table[i].addr == 0) table_used++;
    table[i].addr = addr;
    table[i].size = size;
    table_live++;
    live_bytes += size;
    return true;
}

static void table_remove(large_entry_t *e) {
    live_bytes -= e->size;
    e->addr = TOMBSTONE;
    table_live--;
}

/* ---- Cache of freed mappings (lock held) ------------------------------------------------------ */

/* What the cache can give for a block of `size` bytes (page-rounded): the smallest cached mapping
 * that holds it (aligned enough). If what is left over could serve another large block, it is
 * split off and stays cached (no system call: the mapping is only re-described), so the block gets
 * exactly `size` bytes. Nothing fits: the caller maps anew and the smaller pieces stay cached, to
 * merge with their neighbours when those are freed. An earlier version grew the largest piece
 * with mremap instead; on a VM with shadow page tables a moved page costs 3-4 us at its next
 * touch (a fresh one 10-12 us, one reused in place 0.2 us), and each move took the cache's largest
 * piece away, so the next request missed too: `workloads bigbuf` went from 143 to 608 steps per
 * CPU-second at 1 thread without it (2 threads 335 -> 883, 4 threads 125 -> 519; design.md). */
typedef struct taken { void *addr; size_t size; } taken_t;

#define SPLIT_MIN ((size_t)256 << 10)   /* the smallest large block: smaller leftovers are kept whole */

static void cache_remove_at(size_t i) {
    cache_bytes -= cache[i].size;
    cache[i] = cache[--cache_count];
}

static taken_t cache_take(size_t size, size_t align) {
    int fit = -1;
    for (size_t i = 0; i < cache_count; i++) {
        size_t s = cache[i].size;
        if ((uintptr_t)cache[i].addr & (align - 1)) continue;
        if (s >= size && (fit < 0 || s < cache[fit].size)) fit = (int)i;
    }
    if (fit < 0) return (taken_t){ NULL, 0 };
    cached_map_t *c = &cache[fit];
    taken_t t = { c->addr, c->size };
    if (c->size - size >= SPLIT_MIN) {        /* the rest stays cached, as old as it was */
        c->addr = (char *)c->addr + size;
        c->size -= size;
        cache_bytes -= size;
        t.size = size;
    } else {
        cache_remove_at((size_t)fit);
    }
    return t;
}

/* HAKMEM_LARGE_CACHE_MB, or the live large bytes if more: a program that
 * keeps hundreds of MiB of large buffers and replaces them would otherwise unmap what it frees and
 * fault the next buffer in page by page. Half the live bytes was too little: the pieces splits
 * leave add up to 100-155 MiB beside 300 MiB of live buffers (`workloads bigbuf`), and evicting
 * them faulted 4 times as many pages (1 thread: 187 k against 59 k; steps per CPU-second 364
 * against 518, peak RSS 498 against 506 MiB). Cached mappings idle for the purge delay go back to
 * the OS whatever the budget, so the budget only bounds what a burst of frees keeps that long. */
static size_t cache_budget(void) {
    size_t fixed = (size_t)hak_opt->large_cache_mb << 20, by_live = (size_t)live_bytes;
    return hak_opt->large_cache_mb && by_live > fixed ? by_live : fixed;
}

/* Keep a freed mapping if it fits the budget; otherwise (or for the evicted oldest) unmap it.
 * Returns a mapping to unmap after the lock is dropped, or NULL. */
static void *cache_put(void *p, size_t size, size_t *unmap_size) {
    HAK_POISON(p, size);   /* (ASan builds) until cache_take hands it out; done under the lock */
    /* Merge with cached neighbours (usually the remainder split off this very block): one bigger
     * mapping serves more requests without growing. */
    for (size_t i = 0; i < cache_count;) {
        char *a = cache[i].addr;
        if (a + cache[i].size == (char *)p) {
            p = a;
        } else if ((char *)p + size != a) {
            i++;
            continue;
        }
        size += cache[i].size;
        cache_remove_at(i);
    }
    size_t budget = cache_budget();
    if (size > budget) { *unmap_size = size; return p; }
    void *evict = NULL;
    if (cache_count == CACHE_SLOTS || cache_bytes + size > budget) {
        size_t oldest = 0;
        for (size_t i = 1; i < cache_count; i++)
            if (cache[i].freed_at_ms < cache[oldest].freed_at_ms) oldest = i;
        if (cache_count == 0 || cache_bytes - cache[oldest].size + size > budget) {
            *unmap_size = size;
            return p;
        }
        evict = cache[oldest].addr;
        *unmap_size = cache[oldest].size;
        cache_bytes -= cache[oldest].size;
        cache[oldest] = cache[--cache_count];
    }
    cache[cache_count++] = (cached_map_t){ p, size, os_now_ms() };
    cache_bytes += size;
    background_note_purge_pending();
    return evict;
}

/* ---- Entry points ------------------------------------------------------------------------------- */

/* A block from the cache, or NULL. *got: its mapped size. */
static void *alloc_from_cache(size_t need, size_t align, bool zero, size_t *got) {
    pthread_mutex_lock(&large_lock);
    taken_t t = cache_take(need, align);
    pthread_mutex_unlock(&large_lock);
    if (!t.addr) return NULL;
    HAK_UNPOISON(t.addr, t.size);   /* (ASan builds) ours now: nobody else can reach it */
    *got = t.size;
    HAK_COUNT(large_cache_hit);
    if (zero) memset(t.addr, 0, need);
    return t.addr;
}

void *large_alloc(size_t size, size_t align, bool zero) {
    if (too_large(size) || align > ((size_t)1 << 40)) { errno = ENOMEM; return NULL; }
    size_t need = page_round(size ? size : 1), got = need;
    if (align < (size_t)getpagesize()) align = (size_t)getpagesize();
    void *p = alloc_from_cache(need, align, zero, &got);
    if (!p) {
        got = need;
        if (!(p = os_map_aligned(need, align))) {
            HAK_COUNT(mmap_failed);
            errno = ENOMEM;
            return NULL;
        }
    }
    pthread_mutex_lock(&large_lock);
    bool ok = table_insert((uintptr_t)p, got);
    pthread_mutex_unlock(&large_lock);
    if (!ok) { os_unmap(p, got); errno = ENOMEM; return NULL; }
    HAK_COUNT(large_alloc);              /* blocks handed out: a failed mmap is not one */
    HAK_COUNTS_SETTLE();
    return p;
}

bool large_free(void *p) {
    size_t unmap_size = 0;
    void *unmap = NULL;
    pthread_mutex_lock(&large_lock);
    large_entry_t *e = table_find((uintptr_t)p);
    if (e) {
        HAK_COUNT(large_free);
        size_t size = e->size;
        table_remove(e);
        unmap = cache_put(p, size, &unmap_size);
    }
    pthread_mutex_unlock(&large_lock);
    if (unmap) os_unmap(unmap, unmap_size);
    if (e) background_note_growth(0);   /* a large-only program gets its cache purged too */
    if (e) HAK_COUNTS_SETTLE();
    return e != NULL;
}

size_t large_usable_size(void *p) {
    pthread_mutex_lock(&large_lock);
    large_entry_t *e = table_find((uintptr_t)p);
    size_t size = e ? e->size : 0;
    pthread_mutex_unlock(&large_lock);
    return size;
}

/* Resize in place when the mapping still fits well, else mremap. NULL: not done (caller copies). */
void *large_realloc(void *p, size_t size) {
    if (too_large(size)) return NULL;   /* the caller's malloc then says ENOMEM */
    size_t need = page_round(size);
    pthread_mutex_lock(&large_lock);
    large_entry_t *e = table_find((uintptr_t)p);
    if (!e) { pthread_mutex_unlock(&large_lock); return NULL; }
    size_t old = e->size;
    if (need <= old && need >= old / 2) { pthread_mutex_unlock(&large_lock); return p; }
    /* Growing: by at least half again, so a block grown step by step is remapped O(log n) times.
     * The extra is address space only until the program touches it. */
    if (need > old && need < old + old / 2) need = page_round(old + old / 2);
    table_remove(e);
    pthread_mutex_unlock(&large_lock);
    /* The block is out of the table while we remap: only its owner (us) may touch it. */
    void *q = os_remap(p, old, need);
    pthread_mutex_lock(&large_lock);
    bool ok = table_insert((uintptr_t)(q ? q : p), q ? need : old);
    pthread_mutex_unlock(&large_lock);
    if (!ok) hak_fatal("hakmem: out of memory for the large-block table");
    return q;
}

void large_purge(uint64_t min_age_ms) {
    void *victims[CACHE_SLOTS];
    size_t sizes[CACHE_SLOTS], n = 0;
    uint64_t now = os_now_ms();
    pthread_mutex_lock(&large_lock);
    for (size_t i = 0; i < cache_count;) {
        if (now - cache[i].freed_at_ms >= min_age_ms) {
            victims[n] = cache[i].addr;
            sizes[n++] = cache[i].size;
            cache_bytes -= cache[i].size;
            cache[i] = cache[--cache_count];
        } else {
            i++;
        }
    }
    if (cache_count) atomic_store_explicit(&hak_purge_pending, 1, memory_order_relaxed);
    pthread_mutex_unlock(&large_lock);
    for (size_t i = 0; i < n; i++) os_unmap(victims[i], sizes[i]);
}

void large_stats(hak_stats_t *out) {
    pthread_mutex_lock(&large_lock);
    out->large_live = table_live;
    out->large_live_bytes = live_bytes;
    out->large_cached = cache_count;
    out->large_cached_bytes = cache_bytes;
    pthread_mutex_unlock(&large_lock);
}

void large_atfork_prepare(void) { pthread_mutex_lock(&large_lock); }
void large_atfork_parent(void)  { pthread_mutex_unlock(&large_lock); }
void large_atfork_child(void)   { pthread_mutex_unlock(&large_lock); }   /* as central_atfork_child */
