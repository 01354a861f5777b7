/* test_api_conformance: every entry point of the malloc family keeps the promises of C11/POSIX/glibc.
 *
 * Built twice from this source: test_api_conformance_std calls the standard names (linked to
 * libhakmem.so, which overrides them), test_api_conformance_prefixed calls hak_* (see api.h).
 *
 * Checked: minimum alignment by size (16 B = max_align_t from 16 B on); malloc_usable_size is at
 * least the request and all of it is writable; malloc(0) gives distinct non-NULL pointers;
 * free(NULL) does nothing; impossible sizes and calloc/reallocarray overflow give NULL and ENOMEM;
 * posix_memalign rejects bad alignments with EINVAL and leaves *out alone; alignments 16 B..64 MiB
 * through posix_memalign, aligned_alloc and memalign for small and large sizes; valloc and pvalloc;
 * realloc keeps contents when growing and shrinking across the small/large boundary; realloc(NULL);
 * calloc zeroes memory that was dirty before; every size 1..40000, a stride through the coarse
 * classes up to 600000 and large sizes up to 64 MiB keep their contents while other blocks are
 * live. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "support/api.h"
#include "support/proc.h"
#include "support/wait.h"

static size_t page_size;

/* Sizes through the interesting ranges: tiny, every class boundary candidate, the small/large
 * boundary region, large. */
static const size_t probe_sizes[] = {
    1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 48, 63, 64, 65, 96, 127, 128, 129, 192, 255, 256,
    257, 384, 511, 512, 513, 768, 1023, 1024, 1025, 2047, 2048, 2049, 3000, 4095, 4096, 4097,
    8191, 8192, 8193, 12288, 16383, 16384, 16385, 24576, 32767, 32768, 32769, 40000, 40001, 49152,
    65535, 65536, 65537, 131072, 131073, 262144, 262145, 524288, 1048575, 1048576, 1048577,
    2 * 1048576 + 3, 4 * 1048576,
};
#define N_PROBE (sizeof probe_sizes / sizeof probe_sizes[0])

static int is_aligned(const void *p, size_t a) { return ((uintptr_t)p & (a - 1)) == 0; }

/* The alignment every block of size n must have: max_align_t from 16 B on, below that the
 * largest power of two not above n (an object of n bytes cannot need more). */
static size_t required_alignment(size_t n)
{
    size_t a = alignof(max_align_t);
    if (n >= a)
        return a;
    size_t r = 1;
    while (r * 2 <= n)
        r *= 2;
    return r;
}

static void check_usable(void *p, size_t n, const char *what)
{
    size_t u = API(malloc_usable_size)(p);
    CHECK(u >= n, "%s(%zu): usable size %zu < requested", what, n, u);
    memset(p, 0xC3, u); /* must be writable up to the usable size */
}

/* ---- Alignment and usable size ------------------------------------------------------------- */

static void test_alignment_and_usable_size(void)
{
    static void *live[N_PROBE];
    for (size_t i = 0; i < N_PROBE; i++) {
        size_t n = probe_sizes[i];
        void *p = API(malloc)(n);
        CHECK(p != NULL, "malloc(%zu) returned NULL", n);
        CHECK(is_aligned(p, required_alignment(n)), "malloc(%zu) = %p not aligned to %zu", n, p,
              required_alignment(n));
        check_usable(p, n, "malloc");
        live[i] = p;
    }
    for (size_t i = 0; i < N_PROBE; i++)
        API(free)(live[i]);
    for (size_t n = 1; n <= 4096; n++) {
        void *p = API(malloc)(n);
        CHECK(p != NULL && is_aligned(p, required_alignment(n)), "malloc(%zu) = %p misaligned", n, p);
        void *q = API(calloc)(1, n);
        CHECK(q != NULL && is_aligned(q, required_alignment(n)), "calloc(1,%zu) = %p misaligned", n, q);
        void *r = API(realloc)(NULL, n);
        CHECK(r != NULL && is_aligned(r, required_alignment(n)), "realloc(NULL,%zu) = %p misaligned", n, r);
        check_usable(p, n, "malloc");
        check_usable(q, n, "calloc");
        check_usable(r, n, "realloc(NULL)");
        API(free)(p);
        API(free)(q);
        API(free)(r);
    }
    CHECK(API(malloc_usable_size)(NULL) == 0, "malloc_usable_size(NULL) != 0");
    OK("alignment >= min(n, %zu) and usable size >= n, writable, for malloc/calloc/realloc(NULL) "
       "1..4096 and %zu probe sizes up to 4 MiB", alignof(max_align_t), N_PROBE);
}

/* ---- malloc(0), free(NULL) ----------------------------------------------------------------- */

static int cmp_ptr(const void *a, const void *b)
{
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void test_zero_and_null(void)
{
    enum { N = 2000 };
    static void *p[N];
    for (int i = 0; i < N; i++) {
        p[i] = API(malloc)(0);
        CHECK(p[i] != NULL, "malloc(0) returned NULL (call %d)", i);
    }
    qsort(p, N, sizeof p[0], cmp_ptr);
    for (int i = 1; i < N; i++)
        CHECK(p[i] != p[i - 1], "malloc(0) returned %p twice while both were live", p[i]);
    for (int i = 0; i < N; i++)
        API(free)(p[i]);
    OK("malloc(0) x %d: non-NULL, all distinct while live", N);

    void *c = API(calloc)(0, 0);
    CHECK(c != NULL, "calloc(0,0) returned NULL");
    API(free)(c);
    c = API(calloc)(0, 100);
    CHECK(c != NULL, "calloc(0,100) returned NULL");
    API(free)(c);
    OK("calloc(0,0) and calloc(0,100) are non-NULL and freeable");

    errno = 1234;
    API(free)(NULL);
    API(free)(NULL);
    CHECK(errno == 1234, "free(NULL) changed errno to %d", errno);
    OK("free(NULL) is a no-op and keeps errno");

    void *r = API(realloc)(NULL, 0);
    if (r)
        API(free)(r);
    OK("realloc(NULL, 0) does not crash");
}

/* ---- Impossible sizes and overflow ------------------------------------------------------------ */

static void test_overflow_enomem(void)
{
    const size_t huge[] = { SIZE_MAX, SIZE_MAX - 1, SIZE_MAX - 4095, SIZE_MAX - 2 * MiB,
                            SIZE_MAX / 2 + 1, (size_t)PTRDIFF_MAX + 1, SIZE_MAX / 4 };
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        volatile size_t n = huge[i];
        errno = 0;
        void *p = API(malloc)(n);
        CHECK(p == NULL, "malloc(%#zx) returned %p", (size_t)n, p);
        CHECK(errno == ENOMEM, "malloc(%#zx): errno %d, want ENOMEM", (size_t)n, errno);

        void *a = (void *)0x1;
        int rc = API(posix_memalign)(&a, 64, n);
        CHECK(rc == ENOMEM && a == (void *)0x1, "posix_memalign(64, %#zx) = %d, out %p", (size_t)n,
              rc, a);
        errno = 0;
        p = API(aligned_alloc)(4096, n);
        CHECK(p == NULL && errno == ENOMEM, "aligned_alloc(4096, %#zx) = %p errno %d", (size_t)n, p,
              errno);
        errno = 0;
        p = API(memalign)(2 * MiB, n);
        CHECK(p == NULL && errno == ENOMEM, "memalign(2 MiB, %#zx) = %p errno %d", (size_t)n, p,
              errno);
        errno = 0;
        p = API(valloc)(n);
        CHECK(p == NULL && errno == ENOMEM, "valloc(%#zx) = %p errno %d", (size_t)n, p, errno);
        errno = 0;
        p = API(pvalloc)(n);
        CHECK(p == NULL && errno == ENOMEM, "pvalloc(%#zx) = %p errno %d", (size_t)n, p, errno);
    }
    OK("malloc/posix_memalign/aligned_alloc/memalign/valloc/pvalloc of %zu impossible sizes "
       "(SIZE_MAX .. SIZE_MAX/4): NULL and ENOMEM", sizeof huge / sizeof huge[0]);

    const size_t pairs[][2] = { { SIZE_MAX / 2 + 1, 2 }, { 2, SIZE_MAX / 2 + 1 },
                                { (size_t)1 << 33, (size_t)1 << 31 }, { SIZE_MAX, SIZE_MAX },
                                { 65537, (SIZE_MAX / 65537) + 1 }, { SIZE_MAX / 16, 17 } };
    for (size_t i = 0; i < sizeof pairs / sizeof pairs[0]; i++) {
        volatile size_t c = pairs[i][0], s = pairs[i][1];
        errno = 0;
        void *p = API(calloc)(c, s);
        CHECK(p == NULL && errno == ENOMEM, "calloc(%#zx, %#zx) = %p errno %d", (size_t)c,
              (size_t)s, p, errno);
        errno = 0;
        p = API(reallocarray)(NULL, c, s);
        CHECK(p == NULL && errno == ENOMEM, "reallocarray(NULL, %#zx, %#zx) = %p errno %d",
              (size_t)c, (size_t)s, p, errno);
    }
    OK("calloc and reallocarray(NULL) with count*size overflowing: NULL and ENOMEM");

    /* A failed realloc leaves the old block alone. */
    for (size_t k = 0; k < 2; k++) {
        size_t n = k == 0 ? 100 : 300 * KiB;
        unsigned char *p = API(malloc)(n);
        CHECK(p != NULL, "malloc(%zu)", n);
        canary_fill(p, n, 77 + k);
        volatile size_t big = SIZE_MAX - 64;
        errno = 0;
        void *q = API(realloc)(p, big);
        CHECK(q == NULL && errno == ENOMEM, "realloc(p, SIZE_MAX-64) = %p errno %d", q, errno);
        volatile size_t c = SIZE_MAX / 8, s = 9;
        errno = 0;
        q = API(reallocarray)(p, c, s);
        CHECK(q == NULL && errno == ENOMEM, "reallocarray(p, overflow) = %p errno %d", q, errno);
        CHECK(canary_find(p, n, 77 + k) == n, "block of %zu changed by a failed realloc", n);
        API(free)(p);
    }
    OK("failed realloc/reallocarray (ENOMEM) keep the old small and large block intact");

    void *p = API(reallocarray)(NULL, 10, 10);
    CHECK(p != NULL, "reallocarray(NULL, 10, 10) returned NULL");
    check_usable(p, 100, "reallocarray");
    p = API(reallocarray)(p, 1000, 10);
    CHECK(p != NULL, "reallocarray(p, 1000, 10) returned NULL");
    check_usable(p, 10000, "reallocarray");
    API(free)(p);
    OK("reallocarray without overflow behaves as realloc(count*size)");
}

/* ---- Aligned allocation -------------------------------------------------------------------- */

static void test_posix_memalign_bad_alignment(void)
{
    const size_t bad[] = { 0, 1, 2, 3, 4, 6, 12, 24, 48, 96, 100, 4095, 4097, 3 * 4096,
                           sizeof(void *) / 2, sizeof(void *) + 1, (size_t)1 << 63 | 64,
                           SIZE_MAX };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        for (size_t n = 1; n <= 1 * MiB; n *= 1024) {
            void *out = (void *)0x5a5a;
            int rc = API(posix_memalign)(&out, bad[i], n);
            CHECK(rc == EINVAL, "posix_memalign(align %zu, %zu) = %d, want EINVAL", bad[i], n, rc);
            CHECK(out == (void *)0x5a5a, "posix_memalign(align %zu) wrote %p on failure", bad[i],
                  out);
        }
    }
    OK("posix_memalign with %zu bad alignments (0, 3, 24, 48, not a multiple of sizeof(void*), "
       "not a power of two): EINVAL, *out untouched", sizeof bad / sizeof bad[0]);

    /* aligned_alloc and memalign: an invalid alignment is either refused with EINVAL (C23, newer
     * glibc) or rounded up to a power of two (glibc memalign): never a misaligned block. */
    const size_t odd[] = { 3, 24, 48, 100, 4097 };
    for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
        size_t pow2 = 1;
        while (pow2 < odd[i])
            pow2 *= 2;
        errno = 0;
        void *p = API(aligned_alloc)(odd[i], 256);
        CHECK(p != NULL ? is_aligned(p, pow2) : errno == EINVAL,
              "aligned_alloc(%zu, 256) = %p errno %d", odd[i], p, errno);
        API(free)(p);
        errno = 0;
        p = API(memalign)(odd[i], 256);
        CHECK(p != NULL ? is_aligned(p, pow2) : errno == EINVAL,
              "memalign(%zu, 256) = %p errno %d", odd[i], p, errno);
        API(free)(p);
    }
    OK("aligned_alloc/memalign with non-power-of-two alignments: EINVAL or rounded up, never "
       "misaligned");
}

static void test_alignments(void)
{
    const size_t sizes[] = { 1, 8, 24, 100, 1000, 5000, 40000, 300000, MiB + 1, 5 * MiB };
    enum { NS = sizeof sizes / sizeof sizes[0] };
    int count = 0;
    for (size_t align = 16; align <= 64 * MiB; align *= 2) {
        for (int how = 0; how < 3; how++) {
            static void *blk[NS];
            for (int i = 0; i < NS; i++) {
                size_t n = sizes[i];
                void *p = NULL;
                const char *name;
                if (how == 0) {
                    name = "posix_memalign";
                    int rc = API(posix_memalign)(&p, align, n);
                    CHECK(rc == 0, "posix_memalign(%zu, %zu) = %d", align, n, rc);
                } else if (how == 1) {
                    name = "aligned_alloc";
                    p = API(aligned_alloc)(align, n);
                } else {
                    name = "memalign";
                    p = API(memalign)(align, n);
                }
                CHECK(p != NULL, "%s(%zu, %zu) returned NULL", name, align, n);
                CHECK(is_aligned(p, align), "%s(%zu, %zu) = %p misaligned", name, align, n, p);
                CHECK(API(malloc_usable_size)(p) >= n, "%s(%zu, %zu): usable %zu", name, align, n,
                      API(malloc_usable_size)(p));
                canary_fill(p, n, align + i);
                blk[i] = p;
                count++;
            }
            /* All live together: no overlap, contents intact. */
            for (int i = 0; i < NS; i++) {
                size_t n = sizes[i];
                size_t bad = canary_find(blk[i], n, align + i);
                CHECK(bad == n, "aligned block (align %zu, size %zu) corrupted at offset %zu",
                      align, n, bad);
            }
            for (int i = 0; i < NS; i++)
                API(free)(blk[i]);
        }
    }
    OK("posix_memalign/aligned_alloc/memalign: %d blocks, alignments 16 B..64 MiB x sizes "
       "1 B..5 MiB, aligned, usable >= size, contents intact while live together", count);

    /* realloc of an over-aligned block keeps its contents. */
    void *p = NULL;
    CHECK(API(posix_memalign)(&p, 4096, 3000) == 0, "posix_memalign(4096, 3000)");
    canary_fill(p, 3000, 5);
    p = API(realloc)(p, 200000);
    CHECK(p != NULL && canary_find(p, 3000, 5) == 3000, "realloc of an aligned block lost data");
    API(free)(p);
    OK("realloc of a posix_memalign'ed block keeps its contents");
}

static void test_valloc_pvalloc(void)
{
    const size_t sizes[] = { 1, 100, 4095, 4096, 4097, 10000, 40000, 65536, 300000, MiB + 5 };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        void *p = API(valloc)(n);
        CHECK(p != NULL && is_aligned(p, page_size), "valloc(%zu) = %p, not page aligned", n, p);
        check_usable(p, n, "valloc");
        size_t rounded = (n + page_size - 1) / page_size * page_size;
        void *q = API(pvalloc)(n);
        CHECK(q != NULL && is_aligned(q, page_size), "pvalloc(%zu) = %p, not page aligned", n, q);
        CHECK(API(malloc_usable_size)(q) >= rounded, "pvalloc(%zu): usable %zu < %zu", n,
              API(malloc_usable_size)(q), rounded);
        memset(q, 0x11, rounded); /* pvalloc promises the whole rounded size */
        API(free)(p);
        API(free)(q);
    }
    OK("valloc: page aligned; pvalloc: page aligned and usable/writable to the page-rounded size");
}

/* ---- realloc ------------------------------------------------------------------------------ */

static void *realloc_keeps(void *p, size_t old, size_t n, uint64_t seed_old, uint64_t seed_new)
{
    unsigned char *q = API(realloc)(p, n);
    CHECK(q != NULL, "realloc(%p, %zu) returned NULL", p, n);
    CHECK(is_aligned(q, required_alignment(n)), "realloc to %zu gave misaligned %p", n, q);
    size_t keep = old < n ? old : n;
    size_t bad = canary_find_prefix(q, old, seed_old, keep);
    CHECK(bad == keep, "realloc %zu -> %zu lost contents at offset %zu", old, n, bad);
    CHECK(API(malloc_usable_size)(q) >= n, "realloc to %zu: usable %zu", n,
          API(malloc_usable_size)(q));
    canary_fill(q, n, seed_new);
    return q;
}

static void test_realloc(void)
{
    /* Up the probe sizes, then back down: crosses every small class and the small/large boundary
     * in both directions. */
    size_t old = 0;
    void *p = NULL;
    uint64_t seed = 1;
    for (size_t i = 0; i < N_PROBE; i++, seed++) {
        p = realloc_keeps(p, old, probe_sizes[i], seed - 1, seed);
        old = probe_sizes[i];
    }
    for (size_t i = N_PROBE; i-- > 0; seed++) {
        p = realloc_keeps(p, old, probe_sizes[i], seed - 1, seed);
        old = probe_sizes[i];
    }
    API(free)(p);
    OK("realloc up through %zu sizes 1 B..4 MiB and back down keeps contents", N_PROBE);

    /* Grow by one byte at a time through every small size. */
    p = NULL;
    old = 0;
    for (size_t n = 1; n <= 5000; n++, seed++) {
        unsigned char *q = API(realloc)(p, n);
        CHECK(q != NULL, "realloc(%zu)", n);
        CHECK(old == 0 || canary_find(q, old, seed - 1) == old, "realloc %zu -> %zu lost data",
              old, n);
        canary_fill(q, n, seed);
        p = q;
        old = n;
    }
    API(free)(p);
    OK("realloc growing 1 byte at a time from 1 to 5000 keeps contents");

    /* Random walk over 1 B..4 MiB, with another block kept live beside it. */
    rng_t rng = 0x1234567;
    p = NULL;
    old = 0;
    void *other = API(malloc)(1000);
    CHECK(other != NULL, "malloc(1000)");
    canary_fill(other, 1000, 999);
    for (int i = 0; i < 400; i++, seed++) {
        size_t n;
        switch (rng_next(&rng) % 4) {
        case 0: n = rng_range(&rng, 1, 512); break;
        case 1: n = rng_range(&rng, 513, 40000); break;
        case 2: n = rng_range(&rng, 40001, 512 * KiB); break;
        default: n = rng_range(&rng, 512 * KiB, 4 * MiB); break;
        }
        p = realloc_keeps(p, old, n, seed - 1, seed);
        old = n;
    }
    CHECK(canary_find(other, 1000, 999) == 1000, "a neighbouring block was corrupted by realloc");
    API(free)(p);
    API(free)(other);
    OK("realloc random walk of 400 sizes over 1 B..4 MiB keeps contents and neighbours");

    /* Large grow in place / by moving, up to 64 MiB and back. */
    p = NULL;
    old = 0;
    for (size_t n = 1 * MiB; n <= 64 * MiB; n *= 2, seed++) {
        p = realloc_keeps(p, old, n, seed - 1, seed);
        old = n;
    }
    for (size_t n = 32 * MiB; n >= 64 * KiB; n /= 4, seed++) {
        p = realloc_keeps(p, old, n, seed - 1, seed);
        old = n;
    }
    API(free)(p);
    OK("realloc of large blocks 1 MiB..64 MiB and back down to 64 KiB keeps contents");

    void *a = API(realloc)(NULL, 777);
    CHECK(a != NULL, "realloc(NULL, 777) returned NULL");
    check_usable(a, 777, "realloc(NULL)");
    void *b = API(realloc)(NULL, 3 * MiB);
    CHECK(b != NULL, "realloc(NULL, 3 MiB) returned NULL");
    check_usable(b, 3 * MiB, "realloc(NULL)");
    API(free)(a);
    API(free)(b);
    OK("realloc(NULL, n) behaves as malloc(n) for small and large n");
}

/* ---- calloc ------------------------------------------------------------------------------ */

static void test_calloc_zeroes_reused_memory(void)
{
    const size_t sizes[] = { 8, 16, 24, 64, 100, 256, 1000, 4096, 8192, 40000, 300000, 2 * MiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        size_t n = sizes[i];
        int rounds = n >= 300000 ? HAK_SCALE(40, 5) : HAK_SCALE(300, 30);
        for (int r = 0; r < rounds; r++) {
            unsigned char *p = API(malloc)(n);
            CHECK(p != NULL, "malloc(%zu)", n);
            memset(p, 0xA5, API(malloc_usable_size)(p));
            API(free)(p);
            unsigned char *q = r & 1 ? API(calloc)(n / 8, 8) : API(calloc)(1, n);
            CHECK(q != NULL, "calloc for %zu bytes", n);
            size_t want = r & 1 ? n / 8 * 8 : n;
            for (size_t k = 0; k < want; k++)
                CHECK(q[k] == 0, "calloc(%zu B) byte %zu is 0x%02x after reuse (round %d)", want, k,
                      q[k], r);
            memset(q, 0x5A, want);
            API(free)(q);
        }
    }
    /* Many dirty blocks freed at once, then calloc'ed back. */
    enum { N = HAK_SCALE(3000, 500) };
    static unsigned char *blk[N];
    for (int round = 0; round < 3; round++) {
        size_t n = (size_t)48 << (round * 3);
        for (int i = 0; i < N; i++) {
            blk[i] = API(malloc)(n);
            CHECK(blk[i] != NULL, "malloc(%zu)", n);
            memset(blk[i], 0xFF, n);
        }
        for (int i = 0; i < N; i++)
            API(free)(blk[i]);
        for (int i = 0; i < N; i++) {
            blk[i] = API(calloc)(1, n);
            CHECK(blk[i] != NULL, "calloc(1, %zu)", n);
            for (size_t k = 0; k < n; k++)
                CHECK(blk[i][k] == 0, "calloc(1, %zu) #%d byte %zu is 0x%02x", n, i, k, blk[i][k]);
        }
        for (int i = 0; i < N; i++)
            API(free)(blk[i]);
    }
    OK("calloc returns zeroed memory after dirty blocks of the same size were freed "
       "(8 B..2 MiB, one at a time and %d at a time)", N);
}

/* ---- Every size, with content checks -------------------------------------------------------- */

static void test_all_sizes_contents(void)
{
    /* A window of live blocks: each is checked when it leaves the window, so a block handed out
     * twice or overlapping another shows up as corruption. */
    enum { W = 64 };
    void *win[W] = { 0 };
    size_t len[W] = { 0 };
    size_t count = 0;
    for (size_t n = 1; n <= 40000; n += n < 4096 ? 1 : HAK_SCALE(1, 29), count++) {
        size_t slot = count % W;
        if (win[slot]) {
            size_t bad = canary_find(win[slot], len[slot], len[slot]);
            CHECK(bad == len[slot], "block of %zu bytes corrupted at offset %zu", len[slot], bad);
            API(free)(win[slot]);
        }
        void *p = API(malloc)(n);
        CHECK(p != NULL, "malloc(%zu) returned NULL", n);
        CHECK(is_aligned(p, required_alignment(n)), "malloc(%zu) = %p misaligned", n, p);
        size_t u = API(malloc_usable_size)(p);
        CHECK(u >= n, "malloc(%zu): usable %zu", n, u);
        memset(p, 0xEE, u);
        canary_fill(p, n, n);
        win[slot] = p;
        len[slot] = n;
    }
    for (size_t i = 0; i < W; i++) {
        CHECK(canary_find(win[i], len[i], len[i]) == len[i], "block of %zu corrupted", len[i]);
        API(free)(win[i]);
    }
    OK("%zu sizes 1..40000: non-NULL, aligned, usable >= n, contents intact among %d live blocks",
       count, W);

    /* Above 40000 B the classes get coarse (up to 256 KiB at the time of writing): a stride that
     * is prime to every class size, and the sizes either side of each power of two. */
    count = 0;
    memset(win, 0, sizeof win);
    for (size_t n = 40001; n <= 600000; n += HAK_SCALE(997, 9973), count++) {
        size_t sz[3] = { n, 0, 0 };
        size_t pow2 = 65536;
        while (pow2 < n) pow2 *= 2;
        if (pow2 - n < HAK_SCALE(997, 9973)) { sz[1] = pow2; sz[2] = pow2 + 1; }
        for (int j = 0; j < 3 && sz[j]; j++) {
            size_t slot = (count * 3 + (size_t)j) % W;
            if (win[slot]) {
                size_t bad = canary_find(win[slot], len[slot], len[slot]);
                CHECK(bad == len[slot], "block of %zu bytes corrupted at offset %zu", len[slot], bad);
                API(free)(win[slot]);
            }
            void *p = API(malloc)(sz[j]);
            CHECK(p != NULL, "malloc(%zu) returned NULL", sz[j]);
            CHECK(is_aligned(p, alignof(max_align_t)), "malloc(%zu) = %p misaligned", sz[j], p);
            CHECK(API(malloc_usable_size)(p) >= sz[j], "malloc(%zu): usable %zu", sz[j],
                  API(malloc_usable_size)(p));
            canary_fill(p, sz[j], sz[j]);
            win[slot] = p;
            len[slot] = sz[j];
        }
    }
    for (size_t i = 0; i < W; i++)
        if (win[i]) {
            CHECK(canary_find(win[i], len[i], len[i]) == len[i], "block of %zu corrupted", len[i]);
            API(free)(win[i]);
        }
    OK("%zu sizes 40001..600000 (and 2^k, 2^k+1): non-NULL, aligned, usable >= n, contents "
       "intact among %d live blocks", count, W);

    /* Large sizes up to 64 MiB, a few live at once, fully written and checked. */
    void *big[4] = { 0 };
    size_t blen[4] = { 0 };
    int k = 0, nlarge = 0;
    for (size_t n = 40001; n <= 64 * MiB; n = n * 3 / 2 + 4093, k = (k + 1) % 4) {
        if (big[k]) {
            CHECK(canary_find(big[k], blen[k], blen[k]) == blen[k], "large block of %zu corrupted",
                  blen[k]);
            API(free)(big[k]);
        }
        big[k] = API(malloc)(n);
        CHECK(big[k] != NULL, "malloc(%zu) returned NULL", n);
        CHECK(is_aligned(big[k], alignof(max_align_t)), "malloc(%zu) misaligned", n);
        CHECK(API(malloc_usable_size)(big[k]) >= n, "malloc(%zu): usable %zu", n,
              API(malloc_usable_size)(big[k]));
        canary_fill(big[k], n, n);
        blen[k] = n;
        nlarge++;
    }
    big[k] = API(malloc)(64 * MiB);
    CHECK(big[k] != NULL, "malloc(64 MiB)");
    canary_fill(big[k], 64 * MiB, 64);
    CHECK(canary_find(big[k], 64 * MiB, 64) == 64 * MiB, "64 MiB block corrupted");
    API(free)(big[k]);
    big[k] = NULL;
    for (int i = 0; i < 4; i++)
        if (big[i]) {
            CHECK(canary_find(big[i], blen[i], blen[i]) == blen[i], "large block corrupted");
            API(free)(big[i]);
        }
    OK("%d large sizes 40001 B..64 MiB: fully written and read back, 4 live at a time", nlarge + 1);
}

int main(void)
{
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    api_check_linked();
    test_alignment_and_usable_size();
    test_zero_and_null();
    test_overflow_enomem();
    test_posix_memalign_bad_alignment();
    test_alignments();
    test_valloc_pvalloc();
    test_realloc();
    test_calloc_zeroes_reused_memory();
    test_all_sizes_contents();
    OK("test_api_conformance (%s) passed", API_NAME);
    return 0;
}
