/* check.h: verdicts and reporting, the same in every test, scenario and unit test.
 *
 *   CHECK(cond, fmt, ...)  on failure: "FAIL <program> [<api>] file:line: cond: message" on stderr,
 *                          then abort() (from any thread, in a forked child too: no atexit handler
 *                          runs, and a debugger or core file stops at the failed check).
 *   FAIL(fmt, ...)         the same without a condition: for failures found in a loop.
 *   EXPECT(cond, fmt, ...) the same line, but the test goes on (hak_test_failures counts): for a
 *                          table of cases where seeing every failure at once helps; the test ends
 *                          with `return hak_test_failures != 0;`.
 *   OK(fmt, ...)           "ok   <message>": one line per behaviour that was checked.
 *   NOTE(fmt, ...)         "#    <message>": measurements and context, never a verdict.
 *   SKIP_EXIT(fmt, ...)    "skip <message>" and exit 77, which ctest reports as skipped.
 *   HAK_SCALE(full, light) an amount of work: the light one in a sanitizer build (5-20x slower).
 *
 * The failure path formats into a stack buffer and writes with write(2): after a corruption the
 * heap may be broken, and the allocator under test must not be needed to report it.
 *
 * Release builds define NDEBUG, so nothing here relies on assert(). */
#ifndef HAK_TEST_SUPPORT_CHECK_H
#define HAK_TEST_SUPPORT_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifdef __cplusplus /* tests in C++ (test_new_delete.cpp) link the C library */
extern "C" {
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

#define HAK_TEST_SKIP 77

/* Which sanitizer this code is compiled with (gcc says __SANITIZE_*__, clang __has_feature). */
#if defined(__SANITIZE_THREAD__)
#define HAK_TEST_TSAN 1
#endif
#if defined(__SANITIZE_ADDRESS__)
#define HAK_TEST_ASAN 1
#endif
#if defined(__has_feature)
#if __has_feature(thread_sanitizer) && !defined(HAK_TEST_TSAN)
#define HAK_TEST_TSAN 1
#endif
#if __has_feature(address_sanitizer) && !defined(HAK_TEST_ASAN)
#define HAK_TEST_ASAN 1
#endif
#endif
#ifndef HAK_TEST_TSAN
#define HAK_TEST_TSAN 0
#endif
#ifndef HAK_TEST_ASAN
#define HAK_TEST_ASAN 0
#endif
#define HAK_TEST_SANITIZED (HAK_TEST_TSAN || HAK_TEST_ASAN)

/* A sanitizer build runs less work (HAK_TEST_LIGHT) and checks no RSS bound (HAK_TEST_NO_RSS: the
 * sanitizer's own shadow and quarantine make RSS meaningless). */
#if HAK_TEST_SANITIZED
#ifndef HAK_TEST_LIGHT
#define HAK_TEST_LIGHT 1
#endif
#ifndef HAK_TEST_NO_RSS
#define HAK_TEST_NO_RSS 1
#endif
#endif
#ifdef HAK_TEST_LIGHT
#define HAK_SCALE(full, light) (light)
#else
#define HAK_SCALE(full, light) (full)
#endif

/* What the failure line says after the program's name: the entry points (set by api.h's
 * api_check_linked) and a context such as "child of fork 3" (set by the test). */
extern const char *hak_test_api_name;
extern const char *hak_test_context;
extern int hak_test_failures; /* EXPECTs that failed so far */

__attribute__((noreturn, cold, format(printf, 4, 5))) void
hak_test_fail(const char *file, int line, const char *cond, const char *fmt, ...);

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (__builtin_expect(!(cond), 0))                                       \
            hak_test_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);              \
    } while (0)

#define FAIL(...) hak_test_fail(__FILE__, __LINE__, NULL, __VA_ARGS__)

__attribute__((cold, format(printf, 4, 5))) void
hak_test_expect_failed(const char *file, int line, const char *cond, const char *fmt, ...);

#define EXPECT(cond, ...)                                                       \
    do {                                                                        \
        if (__builtin_expect(!(cond), 0))                                       \
            hak_test_expect_failed(__FILE__, __LINE__, #cond, __VA_ARGS__);     \
    } while (0)

#define OK(...)                                                                 \
    do {                                                                        \
        printf("ok   " __VA_ARGS__);                                            \
        putchar('\n');                                                          \
        fflush(stdout);                                                         \
    } while (0)

#define NOTE(...)                                                               \
    do {                                                                        \
        printf("#    " __VA_ARGS__);                                            \
        putchar('\n');                                                          \
        fflush(stdout);                                                         \
    } while (0)

#define SKIP_EXIT(...)                                                          \
    do {                                                                        \
        printf("skip " __VA_ARGS__);                                            \
        putchar('\n');                                                          \
        fflush(stdout);                                                         \
        exit(HAK_TEST_SKIP);                                                    \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif /* HAK_TEST_SUPPORT_CHECK_H */
