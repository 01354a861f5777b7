/* check.c: the failure path of CHECK and FAIL (check.h). */
#define _GNU_SOURCE
#include "check.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

const char *hak_test_api_name;
const char *hak_test_context;
int hak_test_failures;

static void report(const char *file, int line, const char *cond, const char *fmt, va_list ap)
{
    char buf[2048];
    size_t cap = sizeof buf - 2, n = 0;
    int k;
    /* What the program printed so far comes first (its buffer exists: fflush allocates nothing). */
    fflush(stdout);
    k = snprintf(buf, cap, "FAIL %s", program_invocation_short_name);
    n = k > 0 ? (size_t)k : 0;
    if (hak_test_api_name && n < cap) {
        k = snprintf(buf + n, cap - n, " [%s]", hak_test_api_name);
        n += k > 0 ? (size_t)k : 0;
    }
    if (hak_test_context && n < cap) {
        k = snprintf(buf + n, cap - n, " (%s)", hak_test_context);
        n += k > 0 ? (size_t)k : 0;
    }
    if (n < cap) {
        k = snprintf(buf + n, cap - n, " %s:%d: %s%s", file, line, cond ? cond : "", cond ? ": " : "");
        n += k > 0 ? (size_t)k : 0;
    }
    if (n < cap) {
        k = vsnprintf(buf + n, cap - n, fmt, ap);
        n += k > 0 ? (size_t)k : 0;
    }
    if (n > cap)
        n = cap;
    buf[n++] = '\n';
    for (size_t off = 0; off < n;) {
        ssize_t w = write(STDERR_FILENO, buf + off, n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
}

void hak_test_fail(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(file, line, cond, fmt, ap);
    va_end(ap);
    abort();
}

void hak_test_expect_failed(const char *file, int line, const char *cond, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report(file, line, cond, fmt, ap);
    va_end(ap);
    __atomic_add_fetch(&hak_test_failures, 1, __ATOMIC_RELAXED);
}
