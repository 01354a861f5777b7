/* The always-on statistics (stats_gather.h): read relaxed, a snapshot that may be slightly stale. */
#include <string.h>
#include "core/stats_gather.h"
#include "core/superslab.h"
#include "core/central.h"
#include "core/large.h"
#include "core/background.h"
#include "platform/os.h"

void stats_gather(hak_stats_t *out, bool ready) {
    memset(out, 0, sizeof *out);
    out->bytes_mapped = atomic_load_explicit(&hak_bytes_mapped, memory_order_relaxed);
    out->purges = atomic_load_explicit(&hak_purges, memory_order_relaxed);
    out->daemon_wakeups = atomic_load_explicit(&hak_background_wakeups, memory_order_relaxed);
    out->daemon_batches = atomic_load_explicit(&hak_background_slabs, memory_order_relaxed);
    if (!ready) return;
    superslab_stats(out);
    large_stats(out);
    central_stats(out);
}
