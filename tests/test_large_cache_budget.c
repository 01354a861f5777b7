/* test_large_cache_budget: the cache of freed large mappings holds as much as the live large
 * bytes (or HAKMEM_LARGE_CACHE_MB if more), so a program that frees some of its big buffers and
 * allocates them again reuses every one instead of faulting the new ones in page by page.
 * Runs with HAKMEM_LARGE_CACHE_MB=16 (so the live bytes set the budget) and a purge delay of an
 * hour (nothing is given back while the test looks): 16 buffers of 4 MiB, touched; 6 freed (24
 * MiB to cache, 40 MiB live: room to spare); 6 allocated again and touched. With a budget of half
 * the live bytes (20 MiB) at least one freed buffer was unmapped, so the new ones faulted 1024
 * pages or more (measured: 6144, all six). */
#define _GNU_SOURCE
#include "support/api.h"
#include "support/proc.h"
#include <string.h>

enum { NBUF = 16, FREED = 6 };

static void touch(char *p, size_t n, char v)
{
    for (size_t off = 0; off < n; off += 4096) p[off] = v;
}

int main(void)
{
    char *buf[NBUF];
    for (int i = 0; i < NBUF; i++) {
        buf[i] = API(malloc)(4 * MiB);
        CHECK(buf[i] != NULL, "malloc(4 MiB) #%d", i);
        touch(buf[i], 4 * MiB, (char)i);
    }
    for (int i = 0; i < FREED; i++) API(free)(buf[i]);
    long before = minor_faults();
    for (int i = 0; i < FREED; i++) {
        buf[i] = API(malloc)(4 * MiB);
        CHECK(buf[i] != NULL, "malloc(4 MiB) again #%d", i);
        touch(buf[i], 4 * MiB, (char)(i + 100));
    }
    long faults = minor_faults() - before;
    /* Reused: only a few pages of the test's own fault; one buffer not reused is 1024. */
    CHECK(faults < 1024, "%d buffers of 4 MiB allocated after %d were freed: %ld page faults (each "
          "one not reused is 1024)", FREED, FREED, faults);
    for (int i = 0; i < NBUF; i++) {
        CHECK(buf[i][4096] == (char)(i < FREED ? i + 100 : i), "buffer %d overwritten", i);
        API(free)(buf[i]);
    }
    printf("ok: %d of %d buffers of 4 MiB freed and allocated again, %ld page faults\n", FREED, NBUF,
           faults);
    return 0;
}
