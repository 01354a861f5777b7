/* Futex sleep and wake for platform/event.h. */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "platform/event.h"

void event_sleep(hak_event_t *e, uint32_t seq, long timeout_ms) {
    struct timespec ts = { timeout_ms / 1000, (timeout_ms % 1000) * 1000000L };
    syscall(SYS_futex, &e->seq, FUTEX_WAIT_PRIVATE, seq, timeout_ms >= 0 ? &ts : NULL, NULL, 0);
}

/* Release: what the signaller published before is visible to the sleeper's acquire of seq. One
 * sleeper per event, so waking one waiter wakes everyone there is. */
void event_kick(hak_event_t *e) {
    atomic_fetch_add_explicit(&e->seq, 1, memory_order_release);
    syscall(SYS_futex, &e->seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}
