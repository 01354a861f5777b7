/* test_rss_falls_after_free: a program that frees what it allocated sees its RSS fall.
 *
 * About 200 MiB is allocated and written, once in small blocks (mixed sizes 48 B..4000 B) and once
 * in large blocks (256 KiB..4 MiB), then all of it is freed and the thread's cache is flushed. RSS
 * must then fall by at least half of what was allocated:
 *   auto  without any further call: RSS is polled for up to 5 s (with HAKMEM_PURGE_DELAY_MS=200
 *         in the test's environment that is the purge delay plus a wide margin; the poll stops as
 *         soon as the drop is seen, so the 5 s only bounds a failing run);
 *   trim  immediately after hak_trim(), without waiting.
 * Usage: test_rss_falls_after_free auto|trim|both   (both: auto, then trim on a second allocation)
 *
 * ctest runs it in both modes with HAKMEM_REFILL_THREAD=1 and with HAKMEM_REFILL_THREAD=0: memory
 * must come back whether or not the refill thread runs. */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "api.h"
#include "testutil.h"

#define TARGET (200 * MiB)
#define MAX_BLOCKS (TARGET / 48 + 1)

static void **blocks;

static size_t allocate_small(void)
{
    static const size_t sizes[] = { 48, 100, 256, 640, 1024, 4000 };
    size_t total = 0, n = 0;
    while (total < TARGET) {
        size_t s = sizes[n % 6];
        void *p = API(malloc)(s);
        CHECK(p != NULL, "malloc(%zu) after %.1f MiB", s, mib(total));
        memset(p, (int)(n & 0xff) | 1, s);
        blocks[n++] = p;
        total += s;
    }
    blocks[n] = NULL;
    return total;
}

static size_t allocate_large(void)
{
    size_t total = 0, n = 0;
    size_t s = 256 * KiB;
    while (total < TARGET) {
        void *p = API(malloc)(s);
        CHECK(p != NULL, "malloc(%zu) after %.1f MiB", s, mib(total));
        memset(p, (int)(n & 0xff) | 1, s);
        blocks[n++] = p;
        total += s;
        s = s >= 4 * MiB ? 256 * KiB : s * 2 + 4096;
    }
    blocks[n] = NULL;
    return total;
}

static void free_all(void)
{
    for (size_t i = 0; blocks[i]; i++)
        API(free)(blocks[i]);
    hak_thread_flush();
}

static void run(const char *kind, size_t (*allocate)(void), int use_trim)
{
    const char *mode = use_trim ? "hak_trim()" : "waiting";
    size_t before = rss_bytes();
    size_t total = allocate();
    size_t peak = rss_bytes();
    NOTE("%s blocks: %.1f MiB allocated and written, RSS %.1f -> %.1f MiB", kind, mib(total),
         mib(before), mib(peak));
    CHECK(peak >= before + total / 2, "%s: RSS rose only %.1f MiB for %.1f MiB written", kind,
          mib(peak - before), mib(total));
    free_all();

    size_t want = peak - total / 2, rss;
    if (use_trim) {
        hak_trim();
        rss = rss_bytes();
    } else {
        double start = now_seconds();
        while ((rss = rss_bytes()) > want && now_seconds() - start < 5.0)
            sleep_ms(50);
        NOTE("%s blocks: RSS down to %.1f MiB after %.2f s", kind, mib(rss), now_seconds() - start);
    }
    CHECK(rss <= want,
          "%s blocks, %s: RSS %.1f MiB after freeing %.1f MiB (peak %.1f MiB); want <= %.1f MiB",
          kind, mode, mib(rss), mib(total), mib(peak), mib(want));
    OK("%s blocks (%.0f MiB), %s: RSS fell from %.1f to %.1f MiB (by %.0f%% of what was "
       "allocated)", kind, mib(total), mode, mib(peak), mib(rss),
       100.0 * (double)(peak - rss) / (double)total);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "both";
    int do_auto = !strcmp(mode, "auto") || !strcmp(mode, "both");
    int do_trim = !strcmp(mode, "trim") || !strcmp(mode, "both");
    CHECK(do_auto || do_trim, "usage: %s auto|trim|both", argv[0]);
    api_check_linked();
    const char *env = getenv("HAKMEM_REFILL_THREAD");
    NOTE("HAKMEM_REFILL_THREAD=%s HAKMEM_PURGE_DELAY_MS=%s", env ? env : "(unset)",
         getenv("HAKMEM_PURGE_DELAY_MS") ? getenv("HAKMEM_PURGE_DELAY_MS") : "(unset)");

    blocks = mmap(NULL, MAX_BLOCKS * sizeof(void *), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    CHECK(blocks != MAP_FAILED, "mmap pointer table");
    /* Start-up allocations out of the way before the first reading. */
    for (int i = 0; i < 1000; i++)
        API(free)(API(malloc)((size_t)i * 37 + 1));

    if (do_auto) {
        run("small", allocate_small, 0);
        run("large", allocate_large, 0);
    }
    if (do_trim) {
        run("small", allocate_small, 1);
        run("large", allocate_large, 1);
    }
    return 0;
}
