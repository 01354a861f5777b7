/* SuperSlabs: 2 MiB regions aligned to their size, split into 64 KiB slabs that size classes claim
 * and release; mapping, purging (madvise) and retiring (munmap after an RCU grace period).
 *
 * Concurrency:
 *  - The list of SuperSlabs is changed only under ss_list_lock (mapping, unlinking). Slab
 *    claimers walk it without a lock inside an RCU read-side section, following `next` with
 *    acquire loads (a new SuperSlab is fully initialised before the release store links it).
 *  - A slab belongs to whoever cleared its bit in free_mask. Claimers, the purger and the retirer
 *    all take bits with atomic RMWs, so exactly one of them owns a slab at a time.
 *  - Retiring takes every bit of an empty SuperSlab at once (CAS from "all free" to 0), so no
 *    claimer can get a slab of it; it is then unlinked and its registry entry cleared, and only after
 *    a grace period (no claimer still holds a pointer from its walk) is it unmapped. */
#include <pthread.h>
#include <string.h>
#include "core/superslab.h"
#include "core/registry.h"
#include "core/background.h"
#include "core/options.h"
#include "core/counters.h"
#include "platform/os.h"
#include "lockfree/rcu.h"

static pthread_mutex_t ss_list_lock = PTHREAD_MUTEX_INITIALIZER;
_Atomic uint32_t hak_class_slabs[HAK_NUM_CLASSES];
static _Atomic(superslab_t *) ss_head;
static _Atomic uint64_t ss_mapped_total, ss_unmapped_total;

/* ---- Claiming ----------------------------------------------------------------------------------- */

/* A warm slab (free but still resident: not purged since it was last used) first: taking it costs
 * no page fault and no RSS. The purged mask is a hint, read once. */
static int claim_free_bit(superslab_t *ss) {
    uint64_t m = atomic_load_explicit(&ss->free_mask, memory_order_relaxed);
    uint64_t cold = atomic_load_explicit(&ss->purged_mask, memory_order_relaxed);
    while (m) {
        uint64_t pick = (m & ~cold) ? m & ~cold : m;
        uint64_t bit = pick & (~pick + 1);
        if (atomic_compare_exchange_weak_explicit(&ss->free_mask, &m, m & ~bit, memory_order_acquire,
                                                  memory_order_relaxed))
            return __builtin_ctzll(bit);
    }
    return -1;
}

/* A medium class takes a SuperSlab whole: all block slabs at once, from an empty one. */
static bool claim_whole(superslab_t *ss) {
    uint64_t expect = HAK_SS_ALL_FREE;
    return atomic_compare_exchange_strong_explicit(&ss->free_mask, &expect, 0, memory_order_acquire,
                                                   memory_order_relaxed);
}

/* Map a SuperSlab; the caller gets slab 1 (or, with whole, every block slab). */
static superslab_t *superslab_map(bool whole) {
    superslab_t *ss = os_map_aligned(HAK_SS_SIZE, HAK_SS_SIZE);
    if (!ss) {
        HAK_COUNT(mmap_failed);
        return NULL;
    }
    ss->magic = HAK_SS_MAGIC;
    for (int i = 0; i < HAK_SLABS_PER_SS; i++)
        atomic_store_explicit(&ss->slab_tag[i], HAK_TAG_FREE, memory_order_relaxed);
    for (int i = 0; i < HAK_SLABS_PER_SS; i++) ss->slabs[i].index = (uint8_t)i;
    /* The caller's slabs are taken before anyone else can see this SuperSlab. */
    uint64_t free_slabs = whole ? 0 : HAK_SS_ALL_FREE & ~2ull;
    atomic_store_explicit(&ss->free_mask, free_slabs, memory_order_relaxed);
    /* Every slab is untouched, the caller's too (slab_claim takes its bit and marks it cold). */
    atomic_store_explicit(&ss->purged_mask, HAK_SS_ALL_FREE, memory_order_relaxed);
    registry_set((uintptr_t)ss, true);

    pthread_mutex_lock(&ss_list_lock);
    _Atomic(superslab_t *) *link = &ss_head;
    superslab_t *cur;
    while ((cur = atomic_load_explicit(link, memory_order_relaxed))) link = &cur->next;
    atomic_store_explicit(link, ss, memory_order_release);   /* publish the initialised header */
    pthread_mutex_unlock(&ss_list_lock);
    atomic_fetch_add_explicit(&ss_mapped_total, 1, memory_order_relaxed);
    HAK_COUNT(superslab_mapped);
    return ss;
}

/* Take a free slab (all block slabs of an empty SuperSlab with whole) or map a new SuperSlab. The
 * slab is not formatted yet: its tag still says free, so a stray free() into it is caught. */
static slab_meta_t *claim_slab(bool whole) {
    superslab_t *ss;
    int idx = -1;
    hak_rcu_read_lock();
    for (ss = atomic_load_explicit(&ss_head, memory_order_acquire); ss;
         ss = atomic_load_explicit(&ss->next, memory_order_acquire))
        if ((idx = whole ? (claim_whole(ss) ? 1 : -1) : claim_free_bit(ss)) >= 0) break;
    hak_rcu_read_unlock();
    /* Our slab keeps its SuperSlab from being retired now that we left the read-side section. */
    if (idx < 0) {
        if (!(ss = superslab_map(whole))) return NULL;
        idx = 1;
    }
    uint64_t taken = whole ? HAK_SS_ALL_FREE : 1ull << idx;
    uint64_t purged = atomic_fetch_and_explicit(&ss->purged_mask, ~taken, memory_order_relaxed);
    slab_meta_t *m = &ss->slabs[idx];
    m->cold = (purged & taken) != 0;
    m->adopted = false;
    m->cls = 0;   /* a slab class (not medium) until formatted: what slab_unclaim expects */
    HAK_COUNT(slab_claimed);
    return m;
}

slab_meta_t *slab_claim_unformatted(void) { return claim_slab(false); }

void slab_format(slab_meta_t *m, unsigned cls) {
    bool whole = class_is_medium(cls);
    m->block_size = hak_class_size[cls];
    m->capacity = (uint32_t)((whole ? HAK_SS_SIZE - HAK_SLAB_SIZE : HAK_SLAB_SIZE) / m->block_size);
    m->carved = 0;
    m->free = NULL;
    m->nfree = 0;
    m->list = 0;
    m->next = m->prev = NULL;
    m->cls = (uint8_t)cls;
    atomic_store_explicit(&m->remote, 0, memory_order_relaxed);
    atomic_store_explicit(&m->on_full_list, false, memory_order_relaxed);
    slab_set_tag(m, slab_tag_make(HAK_TAG_NO_OWNER, cls));
    atomic_fetch_add_explicit(&hak_class_slabs[cls], 1, memory_order_relaxed);
}

slab_meta_t *slab_claim(unsigned cls) {
    slab_meta_t *m = claim_slab(class_is_medium(cls));
    if (m) slab_format(m, cls);
    return m;
}

void slab_set_tag(slab_meta_t *m, uint32_t tag) {
    HAK_ASSERT(m->cls < HAK_NUM_CLASSES && (tag == HAK_TAG_FREE || (tag & HAK_TAG_CLASS_MASK) == m->cls));
    superslab_t *ss = ss_of_meta(m);
    if (class_is_medium(m->cls)) {
        for (int i = 1; i < HAK_SLABS_PER_SS; i++) atomic_store_explicit(&ss->slab_tag[i], tag, memory_order_relaxed);
    } else {
        atomic_store_explicit(&ss->slab_tag[m->index], tag, memory_order_relaxed);
    }
}

/* Give the slab's bit(s) back to its SuperSlab (the tag says free already). True: the SuperSlab
 * became empty. */
static bool return_slab(slab_meta_t *m) {
    superslab_t *ss = ss_of_meta(m);
    uint64_t now = os_now_ms(), bit = 1ull << m->index;
    if (class_is_medium(m->cls)) {
        bit = HAK_SS_ALL_FREE;
        for (int i = 1; i < HAK_SLABS_PER_SS; i++)
            atomic_store_explicit(&ss->slabs[i].freed_at_ms, now, memory_order_relaxed);
    } else {
        atomic_store_explicit(&m->freed_at_ms, now, memory_order_relaxed);
    }
    uint64_t old = atomic_fetch_or_explicit(&ss->free_mask, bit, memory_order_release);
    background_note_purge_pending();
    if ((old | bit) != HAK_SS_ALL_FREE) return false;
    atomic_store_explicit(&ss->empty_since_ms, now, memory_order_relaxed);
    /* With no daemon to purge later, trim wholly empty SuperSlabs now, keeping one unpurged so
     * that a program cycling through allocate-all/free-all does not fault every time. */
    if (!background_running()) superslab_purge(0, true, 1);
    return true;
}

bool slab_release(slab_meta_t *m) {
    /* Every block carved from it is back (free list or remote list). Blocks still on the remote
     * list are dropped with an acquire, so whoever claims the slab next writes them only after
     * the frees that pushed them (the release below and its claim's acquire carry the order on). */
    HAK_ASSERT(m->nfree + (uint32_t)(atomic_load_explicit(&m->remote, memory_order_relaxed) >> 48) == m->carved);
    uintptr_t dropped __attribute__((unused)) = atomic_exchange_explicit(&m->remote, 0, memory_order_acquire);
    HAK_COUNT_N(remote_collected, dropped >> 48);   /* back, like a collect */
    slab_set_tag(m, HAK_TAG_FREE);   /* a stale free() into this slab is then caught */
    atomic_fetch_sub_explicit(&hak_class_slabs[m->cls], 1, memory_order_relaxed);
    HAK_COUNT(slab_released);
    return return_slab(m);
}

void slab_unclaim(slab_meta_t *m) {
    HAK_ASSERT(!class_is_medium(m->cls));
    (void)return_slab(m);
}

/* ---- Purging and retiring ------------------------------------------------------------------ */

/* madvise the owned slabs of ss in contiguous runs. */
static void purge_owned(superslab_t *ss, uint64_t owned) {
    while (owned) {
        int first = __builtin_ctzll(owned);
        int len = __builtin_ctzll(~(owned >> first));
        if (first + len > 64) len = 64 - first;
        os_purge(slab_base(ss, (unsigned)first), (size_t)len << HAK_SLAB_SHIFT);
        HAK_COUNT(slab_runs_purged);
        owned &= ~(len == 64 ? ~0ull : (((1ull << len) - 1) << first));
    }
}

static uint64_t purge_candidates(superslab_t *ss, uint64_t now, uint64_t min_age_ms) {
    uint64_t m = atomic_load_explicit(&ss->free_mask, memory_order_relaxed)
               & ~atomic_load_explicit(&ss->purged_mask, memory_order_relaxed);
    uint64_t cand = 0;
    for (uint64_t left = m; left; left &= left - 1) {
        int i = __builtin_ctzll(left);
        if (now - atomic_load_explicit(&ss->slabs[i].freed_at_ms, memory_order_relaxed) >= min_age_ms)
            cand |= 1ull << i;
    }
    return cand;
}

static void purge_superslab(superslab_t *ss, uint64_t cand) {
    /* Take the candidates that are still free; a claimer may have beaten us to some. */
    uint64_t owned = atomic_fetch_and_explicit(&ss->free_mask, ~cand, memory_order_acquire) & cand;
    if (!owned) return;
    purge_owned(ss, owned);
    atomic_fetch_or_explicit(&ss->purged_mask, owned, memory_order_relaxed);
    atomic_fetch_or_explicit(&ss->free_mask, owned, memory_order_release);
}

static bool superslab_is_empty(superslab_t *ss) {
    return atomic_load_explicit(&ss->free_mask, memory_order_relaxed) == HAK_SS_ALL_FREE;
}

#define MAX_RETIRE_PER_PASS 64

/* Unlink empty, purged SuperSlabs beyond the retained amount. Called with ss_list_lock held.
 * Returns how many went into `victims`. */
static int unlink_excess(superslab_t **victims) {
    uint64_t keep = ((uint64_t)hak_opt->retain_mb << 20) / HAK_SS_SIZE, kept = 0;
    int n = 0;
    _Atomic(superslab_t *) *link = &ss_head;
    superslab_t *ss;
    while ((ss = atomic_load_explicit(link, memory_order_relaxed))) {
        superslab_t *next = atomic_load_explicit(&ss->next, memory_order_relaxed);
        bool purged = (atomic_load_explicit(&ss->purged_mask, memory_order_relaxed) & HAK_SS_ALL_FREE)
                      == HAK_SS_ALL_FREE;
        if (superslab_is_empty(ss) && purged && kept++ >= keep && n < MAX_RETIRE_PER_PASS) {
            uint64_t expect = HAK_SS_ALL_FREE;
            if (atomic_compare_exchange_strong_explicit(&ss->free_mask, &expect, 0, memory_order_acquire,
                                                        memory_order_relaxed)) {
                atomic_store_explicit(link, next, memory_order_release);
                registry_set((uintptr_t)ss, false);
                victims[n++] = ss;
                continue;
            }
        }
        link = &ss->next;
    }
    return n;
}

void superslab_purge(uint64_t min_age_ms, bool only_empty, unsigned keep_hot) {
    superslab_t *victims[MAX_RETIRE_PER_PASS];
    uint64_t now = os_now_ms();
    atomic_store_explicit(&hak_purge_pending, 0, memory_order_relaxed);
    pthread_mutex_lock(&ss_list_lock);
    unsigned hot = 0;
    bool pending = false;
    for (superslab_t *ss = atomic_load_explicit(&ss_head, memory_order_relaxed); ss;
         ss = atomic_load_explicit(&ss->next, memory_order_relaxed)) {
        if (only_empty && !superslab_is_empty(ss)) continue;
        uint64_t cand = purge_candidates(ss, now, min_age_ms);
        if (!cand) {
            if (atomic_load_explicit(&ss->free_mask, memory_order_relaxed)
                & ~atomic_load_explicit(&ss->purged_mask, memory_order_relaxed))
                pending = true;   /* free but too young: look again later */
            continue;
        }
        if (only_empty && hot++ < keep_hot) continue;
        purge_superslab(ss, cand);
    }
    int n = unlink_excess(victims);
    pthread_mutex_unlock(&ss_list_lock);
    if (pending) atomic_store_explicit(&hak_purge_pending, 1, memory_order_relaxed);
    if (n == 0) return;
    hak_rcu_synchronize();   /* no claimer still walks through a victim */
    HAK_COUNT(grace_periods);
    HAK_COUNT_N(superslab_retired, n);
    for (int i = 0; i < n; i++) os_unmap(victims[i], HAK_SS_SIZE);
    atomic_fetch_add_explicit(&ss_unmapped_total, (uint64_t)n, memory_order_relaxed);
}

/* The SuperSlab of a posted address may have been retired since the post: under a read-side
 * section, an entry still set means it is not unmapped before the section ends (the retirer
 * clears the entry, then waits for a grace period). A section that begins after the grace period
 * did sees the entry cleared: RCU orders what the retirer wrote before synchronising before it. */
void superslab_touch_if_mapped(void *p, size_t size) {
    hak_rcu_read_lock();
    if (registry_contains((uintptr_t)p)) os_touch_pages(p, size);
    hak_rcu_read_unlock();
}

/* ---- Statistics and fork ---------------------------------------------------------------------- */

/* A hint for the daemon (bits move under it): relaxed loads, and the same RCU read-side walk as
 * the claimers', so no SuperSlab is unmapped under it. */
uint32_t superslab_warm_free_slabs(void) {
    uint32_t n = 0;
    hak_rcu_read_lock();
    for (superslab_t *ss = atomic_load_explicit(&ss_head, memory_order_acquire); ss;
         ss = atomic_load_explicit(&ss->next, memory_order_acquire))
        n += (uint32_t)__builtin_popcountll(atomic_load_explicit(&ss->free_mask, memory_order_relaxed)
                                            & ~atomic_load_explicit(&ss->purged_mask, memory_order_relaxed)
                                            & HAK_SS_ALL_FREE);
    hak_rcu_read_unlock();
    return n;
}

void superslab_stats(hak_stats_t *out) {
    pthread_mutex_lock(&ss_list_lock);
    for (superslab_t *ss = atomic_load_explicit(&ss_head, memory_order_relaxed); ss;
         ss = atomic_load_explicit(&ss->next, memory_order_relaxed)) {
        uint64_t used = HAK_SS_ALL_FREE & ~atomic_load_explicit(&ss->free_mask, memory_order_relaxed);
        if (used) {
            out->superslabs_active++;
            out->bytes_in_superslabs += HAK_SS_SIZE;
        } else {
            out->superslabs_empty++;
            if ((atomic_load_explicit(&ss->purged_mask, memory_order_relaxed) & HAK_SS_ALL_FREE) == HAK_SS_ALL_FREE)
                out->superslabs_purged++;
        }
        out->slabs_in_use += (uint64_t)__builtin_popcountll(used);
    }
    pthread_mutex_unlock(&ss_list_lock);
    out->superslabs_mapped_total = atomic_load_explicit(&ss_mapped_total, memory_order_relaxed);
    out->superslabs_unmapped_total = atomic_load_explicit(&ss_unmapped_total, memory_order_relaxed);
}

void superslab_visit_slabs_single_threaded(void (*visit)(slab_meta_t *m, uint32_t tag)) {
    for (superslab_t *ss = atomic_load_explicit(&ss_head, memory_order_relaxed); ss;
         ss = atomic_load_explicit(&ss->next, memory_order_relaxed)) {
        for (int i = 1; i < HAK_SLABS_PER_SS; i++) {
            uint32_t tag = atomic_load_explicit(&ss->slab_tag[i], memory_order_relaxed);
            if (tag == HAK_TAG_FREE) continue;
            if (class_is_medium(tag & HAK_TAG_CLASS_MASK) && i != 1) continue;
            visit(&ss->slabs[i], tag);
        }
    }
}

void superslab_atfork_prepare(void) { pthread_mutex_lock(&ss_list_lock); }
void superslab_atfork_parent(void)  { pthread_mutex_unlock(&ss_list_lock); }
void superslab_atfork_child(void)   { pthread_mutex_unlock(&ss_list_lock); }   /* as central_atfork_child */
