/* test_free_sized: C23's free_sized and free_aligned_sized free the block: a small block is the
 * next one malloc hands out for its size (it went back to the thread's list), a large block is
 * no longer live (mallinfo2's hblks). Sizes cover the tiny classes, the class boundaries and
 * blocks above 256 KiB; alignments 16 B to 2 MiB. free_sized(NULL, 0) does nothing, and a wrong
 * size (undefined behaviour in C23) still frees the block as free() would: hakmem's promise.
 *
 * Variants as test_glibc_extensions (_std, _preload, _prefixed). Debian 12's glibc has neither
 * function, so the standard-name variants look them up at run time (the preloaded or linked
 * libhakmem.so must have them). */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <string.h>

#include "api.h"
#include "testutil.h"

typedef void (*free_sized_fn)(void *, size_t);
typedef void (*free_aligned_sized_fn)(void *, size_t, size_t);
static free_sized_fn fs;
static free_aligned_sized_fn fas;

static void resolve(void)
{
#if defined(HAK_TEST_PREFIXED)
    fs = hak_free_sized;
    fas = hak_free_aligned_sized;
#else
    void *a = dlsym(RTLD_DEFAULT, "free_sized"), *b = dlsym(RTLD_DEFAULT, "free_aligned_sized");
    CHECK(a && b, "free_sized / free_aligned_sized not found in the process");
    memcpy(&fs, &a, sizeof a);
    memcpy(&fas, &b, sizeof b);
#endif
}

static size_t live_large(void) { return API(mallinfo2)().hblks; }

/* Small block: freed into the thread's list, so the next malloc of the size returns it. Large: the
 * count of live large blocks goes back down. */
static void check_freed(void *p, size_t size, size_t large_before, void *(*again)(size_t, size_t),
                        size_t align, const char *what)
{
    if (size > 256 * KiB || align > 64 * KiB) {
        CHECK(live_large() == large_before, "%s(%zu, align %zu): %zu large blocks live, %zu before", what,
              size, align, live_large(), large_before);
        return;
    }
    void *q = again(size, align);
    CHECK(q == p, "%s(%zu, align %zu): the next allocation returned %p, not the freed %p", what, size,
          align, q, p);
    API(free)(q);
}

static void *plain_again(size_t size, size_t align) { (void)align; return API(malloc)(size); }
static void *aligned_again(size_t size, size_t align) { return API(aligned_alloc)(align, size); }

int main(void)
{
    api_check_linked();
    resolve();
    static const size_t sizes[] = { 1, 8, 16, 24, 100, 128, 129, 1000, 1024, 1025, 4096, 40000,
                                    65536, 262144, 262145, 1 << 20, 8 << 20 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i], large = live_large();
        void *p = API(malloc)(n);
        CHECK(p != NULL, "malloc(%zu)", n);
        memset(p, 0x5a, n);
        fs(p, n);
        check_freed(p, n, large, plain_again, 0, "free_sized");
    }
    OK("free_sized frees blocks of %zu sizes from 1 B to 8 MiB", sizeof sizes / sizeof sizes[0]);

    for (size_t align = 16; align <= 2 * MiB; align *= 4) {
        for (size_t n = align / 2; n <= align * 3; n += align) {
            size_t large = live_large();
            void *p = API(aligned_alloc)(align, n);
            CHECK(p != NULL && ((uintptr_t)p & (align - 1)) == 0, "aligned_alloc(%zu, %zu) = %p", align, n, p);
            memset(p, 0x3c, n);
            fas(p, align, n);
            check_freed(p, n, large, aligned_again, align, "free_aligned_sized");
        }
    }
    OK("free_aligned_sized frees blocks aligned 16 B to 2 MiB");

    fs(NULL, 0);
    fas(NULL, 64, 0);
    size_t large = live_large();
    void *p = API(malloc)(48);
    fs(p, 4 * MiB);   /* wrong size: the large-block table does not know p, free() takes it */
    check_freed(p, 48, large, plain_again, 0, "free_sized with a wrong size");
    void *big = API(malloc)(2 * MiB);
    fs(big, 16);      /* wrong size the other way */
    CHECK(live_large() == large, "free_sized(2 MiB block, 16) left it live");
    OK("free_sized(NULL, 0) is a no-op; a wrong size still frees the block");
    return 0;
}
