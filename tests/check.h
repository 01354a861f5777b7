/* check.h: the assertion and reporting macros shared by the hakmem tests.
 *
 * CHECK(cond, fmt, ...)  on failure prints "FAIL file:line: cond: message" and ends the process
 *                        with status 1 (from any thread: _exit, so no atexit handler can hang).
 * OK(fmt, ...)           prints "ok   <message>": one line per behaviour that was checked.
 * NOTE(fmt, ...)         prints "#    <message>": measurements and context, never a verdict.
 * SKIP_EXIT(fmt, ...)    prints the reason and exits 77, which ctest reports as skipped
 *                        (SKIP_RETURN_CODE 77 in tests/CMakeLists.txt).
 * HAK_SCALE(full, light) the amount of work for normal and for sanitizer builds.
 *
 * Release builds define NDEBUG, so nothing here relies on assert(). */
#ifndef HAK_TEST_CHECK_H
#define HAK_TEST_CHECK_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define HAK_TEST_SKIP 77

/* HAK_SCALE(full, light): an amount of work. Sanitizer builds (HAK_TEST_LIGHT, set by
 * tests/CMakeLists.txt) run each test with the light amount: they are 5-20 times slower. */
#ifdef HAK_TEST_LIGHT
#define HAK_SCALE(full, light) (light)
#else
#define HAK_SCALE(full, light) (full)
#endif

__attribute__((noreturn, format(printf, 4, 5), cold)) static void
check_fail(const char *file, int line, const char *cond, const char *fmt, ...);

#include <stdarg.h>
static void check_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "FAIL %s:%d: %s: ", file, line, cond);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (__builtin_expect(!(cond), 0))                                       \
            check_fail(__FILE__, __LINE__, #cond, __VA_ARGS__);                 \
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

#endif /* HAK_TEST_CHECK_H */
