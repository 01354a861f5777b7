/* test_large_cache_reuse: freed large blocks are reused the way large.c promises, so a program
 * that replaces big buffers does not fault every new one in page by page:
 *  1. a cached mapping smaller than a request stays cached, where it is and with its pages: after
 *     a freed 8 MiB block and a new 12 MiB one, the next 8 MiB request gets the old mapping back
 *     and touching it faults (almost) nothing (THP is not "always" here, or the fault check is
 *     skipped: with huge pages on every mapping the fault count says nothing);
 *  2. a cached mapping larger than a request is split: the block gets exactly its size
 *     (malloc_usable_size), at the mapping's start, and the rest serves the next request, at the
 *     address right after it;
 *  3. freed neighbours merge again: after both parts are freed, a request for the whole size gets
 *     the whole mapping back at its start.
 * Runs with a purge delay of an hour, so nothing is given back while the test looks. */
#define _GNU_SOURCE
#include "support/api.h"
#include "support/proc.h"
#include "support/wait.h"
#include <string.h>



static int thp_always(void)
{
    char buf[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (!f) return 0;
    if (!fgets(buf, sizeof buf, f)) buf[0] = '\0';
    fclose(f);
    return strstr(buf, "[always]") != NULL;
}

static void touch(char *p, size_t n, char v)
{
    for (size_t off = 0; off < n; off += 4096) p[off] = v;
}

int main(void)
{
    /* 1. reuse in place */
    char *a = API(malloc)(8 * MiB);
    CHECK(a != NULL, "malloc(8 MiB)");
    touch(a, 8 * MiB, 1);
    API(free)(a);
    char *b = API(malloc)(12 * MiB);    /* nothing cached fits: a new mapping */
    CHECK(b != NULL, "malloc(12 MiB)");
    touch(b, 12 * MiB, 2);
    CHECK(API(malloc_usable_size)(b) == 12 * MiB, "usable size %zu", API(malloc_usable_size)(b));
    long before = minor_faults();
    char *again = API(malloc)(8 * MiB);
    CHECK(again == a, "8 MiB after a freed 8 MiB and a new 12 MiB: %p, expected the cached %p",
          (void *)again, (void *)a);
    touch(again, 8 * MiB, 3);
    long faults = minor_faults() - before;
    if (thp_always()) {
        printf("skip fault check: transparent huge pages are 'always'\n");
    } else {
        /* A mapping given back or moved would fault its 2048 pages again; slack for the test's own. */
        CHECK(faults < 256, "reusing a cached 8 MiB: %ld page faults (a fresh mapping is 2048)", faults);
    }
    printf("ok reuse: the cached 8 MiB came back in place (%ld page faults)\n", faults);

    /* 2. split */
    API(free)(b);
    char *c = API(malloc)(4 * MiB);
    CHECK(c == b, "4 MiB from the cached 12 MiB: %p, expected its start %p", (void *)c, (void *)b);
    CHECK(API(malloc_usable_size)(c) == 4 * MiB, "split block usable size %zu", API(malloc_usable_size)(c));
    char *d = API(malloc)(6 * MiB);
    CHECK(d == b + 4 * MiB, "6 MiB from the rest: %p, expected %p", (void *)d, (void *)(b + 4 * MiB));
    touch(c, 4 * MiB, 3);
    touch(d, 6 * MiB, 4);
    CHECK(c[4 * MiB - 4096] == 3 && d[0] == 4, "the two parts overlap");
    printf("ok split: 4 MiB and 6 MiB from one cached 12 MiB mapping\n");

    /* 3. merge */
    API(free)(c);
    API(free)(d);
    char *e = API(malloc)(12 * MiB);
    CHECK(e == b, "12 MiB after its parts were freed: %p, expected %p", (void *)e, (void *)b);
    API(free)(e);
    API(free)(again);
    printf("ok merge: the parts of a split mapping join again\n");
    return 0;
}
