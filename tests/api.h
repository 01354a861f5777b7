/* api.h: compatibility name of support/api.h (the test-support library, docs/testing.md).
 * New tests include "support/api.h". */
#ifndef HAK_TEST_API_COMPAT_H
#define HAK_TEST_API_COMPAT_H
#include "support/api.h"
#endif
