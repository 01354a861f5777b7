/* Debug counters (CMake option HAKMEM_DEBUG_COUNTERS, off by default).
 *
 * Off, HAK_COUNT() expands to nothing: the library has no counter code or symbol at all.
 * On, every thread counts into its own TLS array, with no atomic read-modify-write: the owner
 * increments with a relaxed load and a relaxed store (plain moves on x86-64), so a reader summing
 * live threads (hak_stats_get) sees a possibly slightly stale but untorn value and TSan sees no
 * race. Threads link their array into a list on registration and fold it into the exited-threads
 * total when they exit. See docs/counters.md for what each counter means. */
#ifndef HAK_COUNTERS_H
#define HAK_COUNTERS_H
#include "platform/base.h"
#include "platform/os.h"

/* X(name, description): the order is the order of hak_stats_t.counters[]. */
#define HAK_COUNTER_LIST(X)                                                                       \
    X(malloc_tls_hit,      "malloc served from the thread's list")                               \
    X(malloc_tls_miss,     "malloc found the thread's list empty (slow path)")                   \
    X(refill_from_slab_free,"blocks taken from own slabs' free lists")                           \
    X(refill_carved,       "blocks carved fresh from own slabs")                                 \
    X(remote_collected,    "blocks collected from slabs' remote lists")                          \
    X(slab_claimed,        "slabs claimed from SuperSlabs (by threads or the daemon)")           \
    X(slab_claimed_sync,   "slabs a thread claimed itself (no fresh slab was ready)")            \
    X(slab_from_ring,      "fresh slabs a thread took from the daemon's ring")                   \
    X(slab_adopted,        "orphan slabs adopted by a thread")                                   \
    X(superslab_mapped,    "SuperSlabs mapped from the OS")                                      \
    X(free_tls_push,       "free pushed onto the thread's list (local free, ss_local)")          \
    X(free_remote,         "free of another thread's block, pushed on its slab's remote list")   \
    X(free_overflow,       "a thread's list passed its cap: one batch back to its slabs")        \
    X(tls_cap_grown,       "a thread's list cap doubled (it ran empty, then overflowed)")        \
    X(free_to_slabs,       "chains given back to the thread's own slabs")                        \
    X(free_null,           "free(NULL)")                                                         \
    X(malloc_zero,         "malloc(0)")                                                          \
    X(large_alloc,         "large blocks allocated (mapping or cache)")                          \
    X(large_cache_hit,     "large blocks served from the cache of freed mappings")               \
    X(large_free,          "large blocks freed")                                                 \
    X(invalid_pointer,     "pointers rejected by free/realloc/malloc_usable_size")               \
    X(mmap_failed,         "mmap calls the OS refused")                                          \
    X(daemon_wakeups,      "times the refill daemon woke up")                                    \
    X(daemon_batches,      "fresh slabs the daemon put into rings")                              \
    X(slab_released,       "slabs released to their SuperSlab (slab exchange)")                  \
    X(slab_runs_purged,   "slab runs given back with madvise")                                  \
    X(superslab_retired,   "SuperSlabs unmapped")                                                \
    X(grace_periods,       "RCU grace periods waited for")                                   \
    HAK_LATENCY_BUCKETS(X, refill, "mallocs that found the thread's list empty")                 \
    HAK_LATENCY_BUCKETS(X, new_slab, "refills that took a new slab (parked, orphan, ring or claim)")

/* Six counters of how long a slow path took (clock_gettime around it; the clock costs ~20 ns
 * itself): at most 250 ns, 1 us, 4 us, 16 us, 64 us, and more. The tail of malloc latency is in
 * the last buckets, and which of the two histograms it is in says whether new slabs cause it. */
#define HAK_LATENCY_BUCKETS(X, h, what)                                                           \
    X(h##_le_250ns, what ": at most 250 ns")                                                      \
    X(h##_le_1us,   what ": 250 ns to 1 us")                                                      \
    X(h##_le_4us,   what ": 1 to 4 us")                                                           \
    X(h##_le_16us,  what ": 4 to 16 us")                                                          \
    X(h##_le_64us,  what ": 16 to 64 us")                                                         \
    X(h##_over_64us, what ": more than 64 us")

enum {
#define HAK_COUNTER_ENUM(name, desc) HAK_C_##name,
    HAK_COUNTER_LIST(HAK_COUNTER_ENUM)
#undef HAK_COUNTER_ENUM
    HAK_C_COUNT
};

#if HAKMEM_DEBUG_COUNTERS
extern __thread _Atomic uint64_t hak_tls_counters[HAK_C_COUNT]
    __attribute__((tls_model("initial-exec"))) HAK_INTERNAL;
void counters_thread_register(void) HAK_INTERNAL;
void counters_thread_exit(void) HAK_INTERNAL;
void counters_thread_fold(void) HAK_INTERNAL;
void tls_counters_settle(void) HAK_INTERNAL;   /* tls_cache.c */
void counters_sum(uint64_t *out) HAK_INTERNAL;
void counters_atfork_prepare(void) HAK_INTERNAL;
void counters_atfork_parent(void) HAK_INTERNAL;
void counters_atfork_child(void) HAK_INTERNAL;

HAK_INLINE void hak_count_add(unsigned id, uint64_t n) {
    _Atomic uint64_t *c = &hak_tls_counters[id];
    atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}
#define HAK_COUNT(name)        hak_count_add(HAK_C_##name, 1)
#define HAK_COUNT_N(name, n)   hak_count_add(HAK_C_##name, (uint64_t)(n))
/* After counting on a cold path that a thread may take before it registers or after its exit
 * destructor ran: make sure those counts get summed (tls_counters_settle). */
#define HAK_COUNTS_SETTLE()    tls_counters_settle()
#define HAK_COUNTERS_ON 1
HAK_INLINE void hak_count_latency(unsigned first, uint64_t ns) {
    unsigned b = ns <= 250 ? 0 : ns <= 1000 ? 1 : ns <= 4000 ? 2 : ns <= 16000 ? 3 : ns <= 64000 ? 4 : 5;
    hak_count_add(first + b, 1);
}
/* HAK_TIMER_START(t0); ... HAK_COUNT_LATENCY(refill, t0); */
#define HAK_TIMER_START(t0)        uint64_t t0 = os_now_ns()
#define HAK_COUNT_LATENCY(h, t0)   hak_count_latency(HAK_C_##h##_le_250ns, os_now_ns() - (t0))
#else
#define HAK_COUNT(name)        ((void)0)
#define HAK_COUNT_N(name, n)   ((void)0)
#define HAK_COUNTS_SETTLE()    ((void)0)
#define HAK_COUNTERS_ON 0
#define HAK_TIMER_START(t0)        ((void)0)
#define HAK_COUNT_LATENCY(h, t0)   ((void)0)
#endif

#endif
