/* The always-on statistics, gathered from the core (stats_gather.c): what hak_stats_get returns
 * and the live statistics stream writes, one copy for both. */
#ifndef HAK_STATS_GATHER_H
#define HAK_STATS_GATHER_H
#include "hakmem.h"
#include "platform/base.h"

/* The scalar fields of hak_stats_t that every report prints, in order. */
#define HAK_STATS_FIELDS(X) \
    X(bytes_mapped) X(bytes_in_superslabs) X(superslabs_active) X(superslabs_empty) \
    X(superslabs_purged) X(superslabs_mapped_total) X(superslabs_unmapped_total) X(slabs_in_use) \
    X(purges) X(large_live) X(large_live_bytes) X(large_cached) X(large_cached_bytes) \
    X(refills_ring) X(refills_sync) X(daemon_wakeups) X(daemon_batches) X(ring_unused)

/* Zeroes *out and fills the always-on figures; the per-structure ones only if ready (after
 * start-up). The debug counters are the caller's business. */
void stats_gather(hak_stats_t *out, bool ready) HAK_INTERNAL;
#endif
