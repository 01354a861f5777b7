/* The refill daemon (daemon.c): one background thread per process. The core knows it only through
 * core/background.h; start-up (api/init.c) registers daemon_start there and wires the fork hooks. */
#ifndef HAK_DAEMON_H
#define HAK_DAEMON_H
#include "platform/base.h"

/* Starts the thread unless it runs; true once it runs. Allocates (pthread_create): call with no
 * allocator lock held. */
bool daemon_start(void) HAK_INTERNAL;
/* Keeps the daemon between two passes (no fill, no purge under way) until called with false. The
 * daemon takes nothing the holder may wait for while it waits, so a holder may take any allocator
 * lock and wait for a grace period (hak_trim). Not from the daemon's own thread. */
void daemon_hold(bool hold) HAK_INTERNAL;
void daemon_atfork_prepare(void) HAK_INTERNAL;
void daemon_atfork_parent(void) HAK_INTERNAL;
void daemon_atfork_child(void) HAK_INTERNAL;
#endif
