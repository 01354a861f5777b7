/* daemon_wait.h: compatibility name of support/daemon_wait.h (docs/testing.md).
 * New tests include "support/daemon_wait.h". */
#ifndef HAK_TEST_DAEMON_WAIT_COMPAT_H
#define HAK_TEST_DAEMON_WAIT_COMPAT_H
#include "support/daemon_wait.h"
#include "testutil.h"
#endif
