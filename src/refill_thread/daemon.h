/* The refill daemon (daemon.c): one background thread per process. The core knows it only through
 * core/background.h; start-up (api/init.c) registers daemon_start there and wires the fork hooks. */
#ifndef HAK_DAEMON_H
#define HAK_DAEMON_H
#include "platform/base.h"

/* Starts the thread unless it runs; true once it runs. Allocates (pthread_create): call with no
 * allocator lock held. */
bool daemon_start(void) HAK_INTERNAL;
void daemon_atfork_prepare(void) HAK_INTERNAL;
void daemon_atfork_parent(void) HAK_INTERNAL;
void daemon_atfork_child(void) HAK_INTERNAL;
#endif
