/* Live statistics (HAKMEM_STATS_INTERVAL_MS): one JSON line every N ms, written by the refill
 * daemon's thread (stats_stream.c). */
#ifndef HAK_STATS_STREAM_H
#define HAK_STATS_STREAM_H
#include "platform/base.h"

/* Start-up (api/init.c, once the allocator is ready): open the file, register the final sample at
 * exit. False when the interval is 0 (the default) or the file cannot be opened; when true, the
 * caller starts the daemon, which writes the samples. */
bool stats_stream_start(void) HAK_INTERNAL;
/* Daemon thread: write a sample if one is due. */
void stats_stream_tick(void) HAK_INTERNAL;
/* Daemon thread: the sleep `timeout` (ms, -1 = none) shortened to the next sample. */
long stats_stream_timeout(long timeout) HAK_INTERNAL;

#endif
