/* Options: one table in options.c, one row per HAKMEM_* variable (docs/configuration.md mirrors
 * it). Read once at start-up (options_load) and never written again: everyone else reads them
 * through the const view hak_opt. */
#ifndef HAK_OPTIONS_H
#define HAK_OPTIONS_H
#include "platform/base.h"

typedef struct hak_options {
    long refill_count;      /* HAKMEM_TINY_REFILL_COUNT: blocks per batch for tiny classes       */
    long tls_cap_batches;   /* HAKMEM_TLS_CAP_BATCHES: TLS list cap, in batches                  */
    long refill_thread;     /* HAKMEM_REFILL_THREAD: 1 = background refill daemon on              */
    long ring_size;         /* HAKMEM_RING_SIZE: ck_ring slots of the fresh-slab pool (power of 2) */
    long ring_high;         /* HAKMEM_RING_HIGH: most fresh slabs the daemon keeps ready          */
    long purge_delay_ms;    /* HAKMEM_PURGE_DELAY_MS: free memory idle this long is purged       */
    long retain_mb;         /* HAKMEM_RETAIN_MB: empty SuperSlabs kept mapped (purged) up to this */
    long large_cache_mb;    /* HAKMEM_LARGE_CACHE_MB: freed large mappings kept for reuse        */
    long verbose;           /* HAKMEM_VERBOSE                                                    */
    long stats;             /* HAKMEM_STATS: 0 off, 1 table at exit, 2 json at exit              */
    long check;             /* HAKMEM_CHECK: 1 = checking mode (check_mode.c)                     */
    char stats_file[256];   /* HAKMEM_STATS_FILE                                                  */
    long stats_interval_ms; /* HAKMEM_STATS_INTERVAL_MS: live statistics every N ms (0 = off)     */
} hak_options_t;

extern const hak_options_t *const hak_opt HAK_INTERNAL;
void options_load(void) HAK_INTERNAL;    /* start-up, before any other thread reads hak_opt */
void options_print(void) HAK_INTERNAL;
#endif
