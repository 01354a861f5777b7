/* api.h: lets one test source drive hakmem through either set of entry points.
 *
 *   default             API(malloc) is malloc: the test is linked to libhakmem.so, whose malloc
 *                       interposes libc's (the same as LD_PRELOAD);
 *   HAK_TEST_PREFIXED   API(malloc) is hak_malloc: the test is linked to libhakmem_prefixed.a and
 *                       libc keeps its own malloc (the only way in sanitizer builds);
 *   HAK_TEST_LIBC       standard names, linked to nothing but libc and libc_baseline.c: checks the
 *                       tests themselves against glibc (cmake -DHAKMEM_TESTS_LIBC_BASELINE=ON).
 *
 * API_NAME is the name of the variant, for the output. api_check_linked() fails the test early
 * when the standard-name variant is not really running hakmem's malloc. */
#ifndef HAK_TEST_API_H
#define HAK_TEST_API_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "hakmem.h"

#if defined(HAK_TEST_PREFIXED)
#define API(fn) hak_##fn
#define API_NAME "hak_* (libhakmem_prefixed.a)"
#elif defined(HAK_TEST_LIBC)
#define API(fn) fn
#define API_NAME "standard names (glibc baseline)"
#else
#define API(fn) fn
#define API_NAME "standard names (libhakmem.so)"
#endif

/* Calls through a volatile function pointer stop the compiler from reasoning about the call
 * (pairing a malloc with a free, or warning about a deliberately bad argument). */
typedef void (*free_fn_t)(void *);
static free_fn_t volatile api_free_fn = API(free);

static inline void api_check_linked(void)
{
#if !defined(HAK_TEST_PREFIXED) && !defined(HAK_TEST_LIBC)
    Dl_info info;
    void *(*volatile m)(size_t) = malloc;
    CHECK(dladdr((void *)m, &info) != 0 && info.dli_fname != NULL,
          "dladdr(malloc) found no object");
    CHECK(strstr(info.dli_fname, "hakmem") != NULL,
          "malloc resolves to %s, not to libhakmem: the test would not test hakmem",
          info.dli_fname);
    NOTE("malloc resolves to %s", info.dli_fname);
#endif
    NOTE("entry points: %s", API_NAME);
}

#endif /* HAK_TEST_API_H */
