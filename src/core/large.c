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

#define CACHE_SLOTS 32
#define TOMBSTONE 1

static pthread_mutex_t large_lock = PTHREAD_MUTEX_INITIALIZER;
static large_entry_t *table;        /* open addressing, power-of-two capacity */
static size_t table_cap, table_used, table_live;
static uint64_t live_bytes;
static cached_map_t cache[CACHE_SLOTS];
static size_t cache_count, cache_bytes;

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

/* The smallest cached mapping that fits `size` without wasting more than half, if aligned enough. */
static void *cache_take(size_t size, size_t align, size_t *got) {
    int best = -1;
    for (size_t i = 0; i < cache_count; i++) {
        size_t s = cache[i].size;
        if (s < size || s / 2 > size || ((uintptr_t)cache[i].addr & (align - 1))) continue;
        if (best < 0 || s < cache[best].size) best = (int)i;
    }
    if (best < 0) return NULL;
    void *p = cache[best].addr;
    *got = cache[best].size;
    cache_bytes -= *got;
    cache[best] = cache[--cache_count];
    return p;
}

/* Keep a freed mapping if it fits the budget; otherwise (or for the evicted oldest) unmap it.
 * Returns a mapping to unmap after the lock is dropped, or NULL. */
static void *cache_put(void *p, size_t size, size_t *unmap_size) {
    size_t budget = (size_t)hak_opt->large_cache_mb << 20;
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
    HAK_POISON(p, size);   /* (ASan builds) until cache_take hands it out; done under the lock */
    cache[cache_count++] = (cached_map_t){ p, size, os_now_ms() };
    cache_bytes += size;
    background_note_purge_pending();
    return evict;
}

/* ---- Entry points ------------------------------------------------------------------------------- */

void *large_alloc(size_t size, size_t align, bool zero) {
    if (size > PTRDIFF_MAX - (1u << 20) || align > ((size_t)1 << 40)) { errno = ENOMEM; return NULL; }
    size_t need = page_round(size ? size : 1), got = need;
    if (align < (size_t)getpagesize()) align = (size_t)getpagesize();
    pthread_mutex_lock(&large_lock);
    void *p = cache_take(need, align, &got);
    pthread_mutex_unlock(&large_lock);
    if (p) HAK_COUNT(large_cache_hit);
    if (p) HAK_UNPOISON(p, got);   /* (ASan builds) ours now: nobody else can reach it */
    if (p && zero) {
        memset(p, 0, need);            /* a reused mapping holds old data; fresh ones are zero */
    } else if (!p) {
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
    if (e) background_note_growth();   /* a large-only program gets its cache purged too */
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
void large_atfork_child(void)   { pthread_mutex_init(&large_lock, NULL); }
