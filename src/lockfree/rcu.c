/* liburcu-bp wrappers. See rcu.h for why this flavour and where read-side sections are. */
#include <urcu-bp.h>
#include "lockfree/rcu.h"
#include "platform/track.h"

/* TSan cannot see liburcu's own synchronisation. One token stands for "the end of every reader's
 * section": each reader releases it as it leaves, the updater acquires it after the grace
 * period, so TSan orders every read before the updater's unmap or reuse. */
static char rcu_tsan_token __attribute__((unused));

void hak_rcu_read_lock(void) { urcu_bp_read_lock(); }

void hak_rcu_read_unlock(void) {
    HAK_TSAN_RELEASE(&rcu_tsan_token);
    urcu_bp_read_unlock();
}

void hak_rcu_synchronize(void) {
    urcu_bp_synchronize_rcu();
    HAK_TSAN_ACQUIRE(&rcu_tsan_token);
}

void hak_rcu_atfork_prepare(void) { urcu_bp_before_fork(); }
void hak_rcu_atfork_parent(void)  { urcu_bp_after_fork_parent(); }
void hak_rcu_atfork_child(void)   { urcu_bp_after_fork_child(); }
