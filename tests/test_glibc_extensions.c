/* test_glibc_extensions: glibc's malloc extensions under hakmem: mallopt accepts glibc's parameters
 * (1) and refuses others (0); mallinfo2 counts large blocks as they come and go, covers the small
 * blocks in use, and its fields add up (arena = uordblks + fordblks); mallinfo is mallinfo2
 * saturated to int; malloc_trim returns 1 when it gave memory back and 0 when there was nothing
 * (run with HAKMEM_REFILL_THREAD=0, so no purge happens behind the test's back); malloc_stats
 * prints glibc's summary and hakmem's table on stderr; malloc_info writes the XML document and
 * refuses options != 0 with EINVAL.
 *
 * Variants: _std (linked to libhakmem.so), _preload (linked to libc only, run with
 * LD_PRELOAD=libhakmem.so), _prefixed (hak_*, libhakmem_prefixed.a). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>

#include "api.h"
#include "testutil.h"

static void check_mallopt(void)
{
    static const int known[] = { M_MXFAST, M_NLBLKS, M_GRAIN, M_KEEP, M_TRIM_THRESHOLD, M_TOP_PAD,
                                 M_MMAP_THRESHOLD, M_MMAP_MAX, M_CHECK_ACTION, M_PERTURB,
                                 M_ARENA_TEST, M_ARENA_MAX };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        CHECK(API(mallopt)(known[i], 1) == 1, "mallopt(%d, 1) refused a glibc parameter", known[i]);
    CHECK(API(mallopt)(12345, 1) == 0, "mallopt accepted the unknown parameter 12345");
    CHECK(API(mallopt)(-100, 0) == 0, "mallopt accepted the unknown parameter -100");
    OK("mallopt: 1 for the %zu parameters of <malloc.h>, 0 for unknown ones",
       sizeof known / sizeof known[0]);
}

static void check_fields_add_up(const struct mallinfo2 *m, const char *when)
{
    CHECK(m->arena == m->uordblks + m->fordblks, "%s: arena %zu != uordblks %zu + fordblks %zu", when,
          m->arena, m->uordblks, m->fordblks);
    CHECK(m->smblks == 0 && m->fsmblks == 0 && m->usmblks == 0, "%s: fastbin fields not 0", when);
}

static void check_mallinfo(void)
{
    enum { N = 4096, SIZE = 1000 };
    static void *small[N];
    const size_t big_size = 8 * MiB;
    struct mallinfo2 before = API(mallinfo2)();
    check_fields_add_up(&before, "at start");

    void *big = API(malloc)(big_size);
    CHECK(big != NULL, "malloc(8 MiB)");
    memset(big, 1, big_size);
    for (int i = 0; i < N; i++) {
        small[i] = API(malloc)(SIZE);
        CHECK(small[i] != NULL, "malloc(%d)", SIZE);
        memset(small[i], 2, SIZE);
    }
    struct mallinfo2 during = API(mallinfo2)();
    check_fields_add_up(&during, "with blocks live");
    CHECK(during.hblks == before.hblks + 1, "hblks %zu -> %zu after one 8 MiB malloc", before.hblks, during.hblks);
    CHECK(during.hblkhd >= before.hblkhd + big_size, "hblkhd %zu -> %zu after one 8 MiB malloc",
          before.hblkhd, during.hblkhd);
    CHECK(during.uordblks >= (size_t)N * SIZE, "uordblks %zu < the %zu bytes of small blocks live",
          during.uordblks, (size_t)N * SIZE);
    /* mallinfo is deprecated in glibc, and tested here on purpose. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    struct mallinfo old = API(mallinfo)();
#pragma GCC diagnostic pop
    CHECK(old.hblks == (int)during.hblks && old.arena == (int)(during.arena > INT_MAX ? INT_MAX : during.arena),
          "mallinfo (hblks %d, arena %d) disagrees with mallinfo2 (hblks %zu, arena %zu)", old.hblks,
          old.arena, during.hblks, during.arena);

    for (int i = 0; i < N; i++) API(free)(small[i]);
    API(free)(big);
    struct mallinfo2 after = API(mallinfo2)();
    check_fields_add_up(&after, "after free");
    CHECK(after.hblks == before.hblks && after.hblkhd == before.hblkhd,
          "live large blocks %zu (%zu B) after free, %zu (%zu B) before", after.hblks, after.hblkhd,
          before.hblks, before.hblkhd);
    OK("mallinfo2: hblks/hblkhd follow a large block, uordblks covers %d live blocks of %d B, "
       "arena = uordblks + fordblks; mallinfo agrees", N, SIZE);
}

static void check_malloc_trim(void)
{
    const size_t size = 4 * MiB;
    void *p = API(malloc)(size);
    CHECK(p != NULL, "malloc(4 MiB)");
    memset(p, 3, size);
    API(free)(p);   /* kept in the large-mapping cache */
    CHECK(API(malloc_trim)(0) == 1, "malloc_trim(0) after freeing a 4 MiB block returned 0");
    CHECK(API(malloc_trim)(0) == 0, "malloc_trim(0) with nothing left to release returned 1");
    OK("malloc_trim: 1 after freeing a large block, 0 when nothing is left to release");
}

static void check_malloc_stats(void)
{
    struct child_result *r = API(malloc)(sizeof *r);   /* 128 KiB: not on the stack */
    CHECK(r != NULL, "malloc(child_result)");
    char *argv[] = { (char *)self_exe(), "malloc_stats", NULL };
    run_child(argv, NULL, r);
    CHECK(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0, "child: %s", describe_status(r->status));
    CHECK(strstr(r->err, "system bytes") && strstr(r->err, "in use bytes"),
          "malloc_stats printed no glibc summary on stderr: '%.300s'", r->err);
    CHECK(strstr(r->err, "hakmem statistics"), "malloc_stats printed no hakmem table: '%.300s'", r->err);
    CHECK(r->out[0] == '\0', "malloc_stats wrote to stdout: '%.200s'", r->out);
    API(free)(r);
    OK("malloc_stats: glibc's summary and hakmem's table on stderr");
}

static void check_malloc_info(void)
{
    FILE *f = tmpfile();
    CHECK(f != NULL, "tmpfile: %s", strerror(errno));
    void *keep = API(malloc)(100);
    CHECK(API(malloc_info)(0, f) == 0, "malloc_info(0, f) failed: %s", strerror(errno));
    long n = ftell(f);
    CHECK(n > 0 && n < 65536, "malloc_info wrote %ld bytes", n);
    char buf[65536];
    rewind(f);
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    buf[got] = '\0';
    CHECK(strncmp(buf, "<malloc version=", 16) == 0, "malloc_info does not start with <malloc: '%.80s'", buf);
    CHECK(strstr(buf, "</malloc>") != NULL, "malloc_info has no </malloc>: '%.300s'", buf);
    const char *sys = strstr(buf, "<system type=\"current\" size=\"");
    CHECK(sys != NULL, "malloc_info has no <system type=\"current\">: '%.300s'", buf);
    CHECK(strtoull(sys + 29, NULL, 10) > 0, "malloc_info: current system size is 0");
    errno = 0;
    CHECK(API(malloc_info)(1, f) == -1 && errno == EINVAL, "malloc_info(1, f) did not fail with EINVAL");
    fclose(f);
    API(free)(keep);
    OK("malloc_info: an XML document with the memory in use; options 1 -> EINVAL");
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "malloc_stats") == 0) {
        void *p = API(malloc)(64);
        API(malloc_stats)();
        API(free)(p);
        return 0;
    }
    api_check_linked();
    check_mallopt();
    check_mallinfo();
    check_malloc_trim();
    check_malloc_stats();
    check_malloc_info();
    return 0;
}
