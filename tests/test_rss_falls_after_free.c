/* test_rss_falls_after_free: a program that frees what it allocated sees its RSS fall.
 *
 * About 200 MiB is allocated and written, once in small blocks (mixed sizes 48 B..4000 B) and once
 * in large blocks (256 KiB..4 MiB), then all of it is freed and the thread's cache is flushed. RSS
 * must then fall by at least half of what was allocated:
 *   auto  without any further call: RSS is polled until it is down, for up to the test deadline
 *         (60 s, testutil.h; with HAKMEM_PURGE_DELAY_MS=200 in the test's environment a passing
 *         run sees it within the purge delay plus a few polls: the deadline only bounds a
 *         failing run);
 *   trim  right after hak_trim(), without waiting. This phase runs with HAKMEM_PURGE_DELAY_MS at
 *         one hour, so the refill thread never purges on its own: what comes back, comes back
 *         because hak_trim() gave it back (and no purge of the daemon's is still in flight when
 *         RSS is read). Large blocks must also be unmapped: VmSize rises by at least what was
 *         allocated and falls by at least half of it, and no large mapping stays cached.
 * Each (kind, mode) pair runs in its own process (this program re-executed as
 * `test_rss_falls_after_free phase <small|large> <auto|trim>`): one phase's memory, still being
 * purged in the background, cannot blur the next phase's readings. (It did: the small blocks'
 * purge went on while the large phase measured its rise, which then looked too small.)
 * Usage: test_rss_falls_after_free auto|trim|both   (both: auto, then trim)
 *
 * ctest runs it with HAKMEM_REFILL_THREAD=1 and with HAKMEM_REFILL_THREAD=0: memory must come
 * back whether or not the refill thread runs. */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "support/api.h"
#include "support/proc.h"
#include "support/wait.h"

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
    int large = !strcmp(kind, "large");
    size_t before = rss_bytes(), vm_before = vm_bytes();
    size_t total = allocate();
    size_t peak = rss_bytes(), vm_peak = vm_bytes();
    NOTE("%s blocks: %.1f MiB allocated and written, RSS %.1f -> %.1f MiB, VmSize %.1f -> %.1f MiB",
         kind, mib(total), mib(before), mib(peak), mib(vm_before), mib(vm_peak));
    CHECK(peak >= before + total / 2, "%s: RSS rose only %.1f MiB for %.1f MiB written", kind,
          mib(peak - before), mib(total));
    if (large)
        CHECK(vm_peak >= vm_before + total, "large: VmSize rose only %.1f MiB for %.1f MiB in "
              "large blocks: are they really mapped one by one?", mib(vm_peak - vm_before),
              mib(total));
    free_all();

    size_t want = peak - total / 2, rss;
    if (use_trim) {
        hak_trim();
        rss = rss_bytes();
    } else {
        double deadline = test_deadline_seconds(), waited;
        rss = wait_rss_at_most(want, deadline, &waited);
        CHECK(rss <= want,
              "%s blocks: waited %.1f s (the deadline) for RSS <= %.1f MiB after freeing %.1f MiB "
              "(peak %.1f MiB) without hak_trim(); last RSS %.1f MiB (HAKMEM_PURGE_DELAY_MS=%s)",
              kind, waited, mib(want), mib(total), mib(peak), mib(rss),
              getenv("HAKMEM_PURGE_DELAY_MS") ? getenv("HAKMEM_PURGE_DELAY_MS") : "(unset)");
        NOTE("%s blocks: RSS down to %.1f MiB, seen after %.2f s", kind, mib(rss), waited);
    }
    CHECK(rss <= want,
          "%s blocks, %s: RSS %.1f MiB after freeing %.1f MiB (peak %.1f MiB); want <= %.1f MiB",
          kind, mode, mib(rss), mib(total), mib(peak), mib(want));
    OK("%s blocks (%.0f MiB), %s: RSS fell from %.1f to %.1f MiB (by %.0f%% of what was "
       "allocated)", kind, mib(total), mode, mib(peak), mib(rss),
       100.0 * (double)(peak - rss) / (double)total);
    if (large && use_trim) {
        size_t vm = vm_bytes();
        hak_stats_t st;
        hak_stats_get(&st);
        CHECK(vm + total / 2 <= vm_peak, "large blocks, hak_trim(): VmSize %.1f MiB, peak %.1f MiB: "
              "less than half of the %.1f MiB freed was unmapped", mib(vm), mib(vm_peak),
              mib(total));
        CHECK(st.large_cached == 0, "large blocks, hak_trim(): %llu mappings (%.1f MiB) still "
              "cached after hak_trim()", (unsigned long long)st.large_cached,
              mib((size_t)st.large_cached_bytes));
        OK("large blocks, hak_trim(): unmapped (VmSize %.1f -> %.1f MiB), none left cached",
           mib(vm_peak), mib(vm));
    }
}

/* One (kind, mode) in this process. */
static int phase_main(const char *kind, const char *mode)
{
    int use_trim = !strcmp(mode, "trim");
    CHECK(use_trim || !strcmp(mode, "auto"), "phase: mode %s is not auto or trim", mode);
    CHECK(!strcmp(kind, "small") || !strcmp(kind, "large"), "phase: kind %s", kind);
    blocks = mmap(NULL, MAX_BLOCKS * sizeof(void *), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    CHECK(blocks != MAP_FAILED, "mmap pointer table");
    /* Start-up allocations out of the way before the first reading. */
    for (int i = 0; i < 1000; i++)
        API(free)(API(malloc)((size_t)i * 37 + 1));
    run(kind, !strcmp(kind, "small") ? allocate_small : allocate_large, use_trim);
    return 0;
}

/* Runs one phase in a child process and relays its output. */
static void run_phase(const char *kind, const char *mode)
{
    static struct child_result r;
    char *argv[] = { (char *)self_exe(), "phase", (char *)kind, (char *)mode, NULL };
    /* trim: the refill thread must not purge by itself (see the top of the file). */
    char *saved = getenv("HAKMEM_PURGE_DELAY_MS");
    saved = saved ? strdup(saved) : NULL;
    if (!strcmp(mode, "trim"))
        setenv("HAKMEM_PURGE_DELAY_MS", "3600000", 1);
    run_child(argv, NULL, &r);
    if (saved) {
        setenv("HAKMEM_PURGE_DELAY_MS", saved, 1);
        free(saved);
    } else {
        unsetenv("HAKMEM_PURGE_DELAY_MS");
    }
    fputs(r.out, stdout);
    fputs(r.err, stderr);
    fflush(stdout);
    fflush(stderr);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "phase %s %s: %s", kind, mode,
          describe_status(r.status));
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "phase"))
        return phase_main(argv[2], argv[3]);
    const char *mode = argc > 1 ? argv[1] : "both";
    int do_auto = !strcmp(mode, "auto") || !strcmp(mode, "both");
    int do_trim = !strcmp(mode, "trim") || !strcmp(mode, "both");
    CHECK(do_auto || do_trim, "usage: %s auto|trim|both", argv[0]);
    api_check_linked();
    const char *env = getenv("HAKMEM_REFILL_THREAD");
    NOTE("HAKMEM_REFILL_THREAD=%s HAKMEM_PURGE_DELAY_MS=%s; each phase in its own process",
         env ? env : "(unset)",
         getenv("HAKMEM_PURGE_DELAY_MS") ? getenv("HAKMEM_PURGE_DELAY_MS") : "(unset)");
    if (do_auto) {
        run_phase("small", "auto");
        run_phase("large", "auto");
    }
    if (do_trim) {
        run_phase("small", "trim");
        run_phase("large", "trim");
    }
    return 0;
}
