/* The cold side of the free-block guards (free_list_guard.h): the exact double-free confirmation,
 * the block-boundary check, the link secret, and the one-line reports. */
#include <sys/random.h>
#include <sys/auxv.h>
#include <string.h>
#include "core/tls_cache.h"
#include "platform/os.h"
#include "core/check_mode.h"
#include "core/options.h"

#if HAKMEM_HARDENED
uintptr_t hak_link_secret;
#endif

/* The secret from getrandom (no allocation, no lock), else from the kernel's AT_RANDOM bytes (the
 * second half: glibc takes the first for its stack guard), mixed with an address so that it
 * differs between processes even then. */
void guard_init(void) {
#if !defined(HAK_ASAN)
    hak_check_mode = hak_opt->check != 0;   /* ASan builds: ASan's poisoning checks more */
#endif
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

void free_check_boundary(void *p, unsigned cls, const char *what) {
    if (HAK_UNLIKELY(!block_at_boundary(p, cls)))
        hak_report_bad_free(what, p, HAK_MSG_INTERIOR);
}

/* Lists are walked at most this far: a list longer than any slab or TLS cap is corrupt (a cycle
 * left by an earlier undetected double free), and the walk must end anyway. */
#define WALK_MAX (1u << 20)

static bool list_holds(void *head, void *p, uint32_t max) {
    uint32_t n = 0;
    for (void *b = head; b; b = block_next(b)) {
        if (b == p) return true;
        if (++n > max) hak_fatal("hakmem: free(%p): a free list is corrupted (longer than %u)", p, max);
    }
    return false;
}

/* The caller owns p's slab (its tag carries our owner bits), so the slab's free list and our TLS
 * list are ours alone. The remote list is pushed by other threads concurrently but taken only by
 * the owner: the acquire load below sees every block pushed before it with its link written
 * (slab_blocks.c), and those links do not change until we take the list, so walking that snapshot
 * is safe. A block of our slab that is free is on exactly one of these three lists: other
 * threads' frees of it go to the remote list, never to their own TLS lists. */
void free_confirm(void *p, unsigned cls) {
    free_check_boundary(p, cls, "free");
    slab_meta_t *s = slab_of(p);
    if (block_offset(p, cls) / s->block_size >= s->carved)
        hak_report_bad_free("free", p, "not a block in use: never handed out, or freed and its slab reset");
    uintptr_t remote = atomic_load_explicit(&s->remote, memory_order_acquire);
    if (list_holds(hak_tls.bins[cls].head, p, WALK_MAX)
        || list_holds(s->free, p, s->nfree)
        || list_holds((void *)(remote & HAK_REMOTE_PTR_MASK), p, (uint32_t)(remote >> 48)))
        hak_report_double_free("free", p);
    /* A live block whose second word held the key by chance: an ordinary free. */
}
