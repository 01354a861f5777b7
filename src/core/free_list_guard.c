/* The cold side of the free-block guards (free_list_guard.h): the block-boundary check, the link
 * secret, and the one-line reports. The exact double-free confirmation walks the thread's lists,
 * so it lives with them (free_confirm, tls_cache.c). */
#include <sys/random.h>
#include <sys/auxv.h>
#include <string.h>
#include "core/free_list_guard.h"
#include "core/counters.h"
#include "platform/os.h"

#if HAKMEM_HARDENED
uintptr_t hak_link_secret;
#endif

/* The secret from getrandom (no allocation, no lock), else from the kernel's AT_RANDOM bytes (the
 * second half: glibc takes the first for its stack guard), mixed with an address so that it
 * differs between processes even then. */
void guard_init(void) {
#if HAKMEM_HARDENED
    uintptr_t s = 0;
    if (getrandom(&s, sizeof s, GRND_NONBLOCK) != (ssize_t)sizeof s) {
        const unsigned char *r = (const unsigned char *)getauxval(AT_RANDOM);
        if (r) memcpy(&s, r + 8, sizeof s);
        s ^= (uintptr_t)&s * 0x9e3779b97f4a7c15ull;
    }
    hak_link_secret = s | 1;   /* never 0: a NULL link is then never stored as 0 */
#endif
}

void hak_report_bad_free(const char *what, void *p, const char *why) {
    HAK_COUNT(invalid_pointer);
    hak_fatal("hakmem: %s(): invalid pointer %p (%s)", what, p, why);
}

void hak_report_double_free(const char *what, void *p) {
    HAK_COUNT(invalid_pointer);
    hak_fatal("hakmem: %s(): double free of %p (the block is already free)", what, p);
}

void hak_report_bad_link(void *at, void *link) {
    hak_fatal("hakmem: corrupted free list: free block %p links to %p (a write after free?)", at, link);
}
