/* check.h: compatibility name of support/check.h (the test-support library, docs/testing.md).
 * New tests include "support/check.h". */
#ifndef HAK_TEST_CHECK_COMPAT_H
#define HAK_TEST_CHECK_COMPAT_H
#include "support/check.h"
#endif
