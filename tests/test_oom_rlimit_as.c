/* test_oom_rlimit_as: when the address space runs out (RLIMIT_AS), malloc returns NULL with errno
 * ENOMEM instead of crashing, every block handed out before is intact, and after some blocks are
 * freed allocation succeeds again. Done with small blocks (1000 B and 48 B) and large ones (768 KiB).
 *
 * The limit is set to the current VmSize plus some headroom (96 MiB, 32 MiB and 256 MiB for the
 * three phases), after a warm-up that has started the allocator and its threads. At least a quarter
 * of the headroom must have been handed out before the first NULL (the allocator may reserve
 * address space ahead of demand, but not most of it). Only the soft limit is lowered, and it is
 * restored after each phase. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sys/mman.h>

#include "api.h"
#include "daemon_wait.h"
#include "testutil.h"

#define MAX_BLOCKS (1u << 23) /* 64 MiB of pointers, touched only as far as used */

static void **blocks; /* mapped directly: must not come from the allocator under test */

static void set_as_limit(rlim_t cur)
{
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_AS, &rl) == 0, "getrlimit");
    rl.rlim_cur = cur;
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit(RLIMIT_AS, %llu): %s", (unsigned long long)cur,
          strerror(errno));
}

static void *warm_thread(void *arg)
{
    for (int i = 0; i < 20000; i++)
        API(free)(API(malloc)((size_t)(i % 2000) + 1));
    return arg;
}

static void warm_up(void)
{
    void *p[4000];
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 4000; i++) {
            p[i] = API(malloc)((size_t)(i * 13 % 40000) + 1);
            CHECK(p[i] != NULL, "warm-up malloc");
        }
        for (int i = 0; i < 4000; i++)
            API(free)(p[i]);
    }
    void *big = API(malloc)(4 * MiB);
    CHECK(big != NULL, "warm-up malloc(4 MiB)");
    API(free)(big);
    pthread_t th;
    CHECK(pthread_create(&th, NULL, warm_thread, NULL) == 0, "pthread_create");
    pthread_join(th, NULL);
    /* Have a lazily started refill thread exist before VmSize is read, so that its stack does not
     * come out of a phase's headroom: drive allocation until it runs (deadline 60 s). If the
     * library does not start it, the test goes on without it (a thread started later costs a few
     * hundred KiB of a phase's headroom, and a failed start is the library's to handle). */
#ifndef HAK_TEST_LIBC
    const char *env = getenv("HAKMEM_REFILL_THREAD");
    if (!(env && !strcmp(env, "0")) &&
        !daemon_drive_until_running(API(malloc), api_free_fn, test_deadline_seconds()))
        NOTE("going on without the refill thread");
#endif
}

static void fill(void *p, size_t n, uint64_t seed)
{
    if (n <= 64 * KiB)
        pattern_fill(p, n, seed);
    else
        pattern_fill_sparse(p, n, seed);
}

static size_t verify(void *p, size_t n, uint64_t seed)
{
    return n <= 64 * KiB ? pattern_check(p, n, seed) : pattern_check_sparse(p, n, seed);
}

static void oom_phase(const char *kind, size_t size, size_t headroom)
{
    size_t vm = vm_bytes();
    set_as_limit((rlim_t)(vm + headroom));
    NOTE("%s blocks of %zu B: VmSize %.1f MiB, RLIMIT_AS set to %.1f MiB", kind, size, mib(vm),
         mib(vm + headroom));

    size_t n = 0;
    int err = 0;
    for (;;) {
        CHECK(n < MAX_BLOCKS, "%zu blocks of %zu B allocated without reaching the limit", n, size);
        errno = 0;
        void *p = API(malloc)(size);
        if (p == NULL) {
            err = errno;
            break;
        }
        fill(p, size, n);
        blocks[n++] = p;
    }
    CHECK(err == ENOMEM, "%s: malloc returned NULL with errno %d (%s), want ENOMEM", kind, err,
          strerror(err));
    CHECK(n * size >= headroom / 4,
          "%s: first NULL after only %.1f MiB of a %.1f MiB headroom", kind, mib(n * size),
          mib(headroom));
    OK("%s: malloc(%zu) returned NULL with ENOMEM after %zu blocks (%.1f MiB)", kind, size, n,
       mib(n * size));

    /* Other requests near the limit fail cleanly or succeed; none may crash. */
    for (size_t s = 16; s <= 8 * MiB; s *= 4) {
        errno = 0;
        void *p = API(malloc)(s);
        if (p)
            API(free)(p);
        else
            CHECK(errno == ENOMEM, "%s: malloc(%zu) at the limit: NULL with errno %d", kind, s,
                  errno);
    }
    void *c = API(calloc)(1, 3 * MiB);
    CHECK(c != NULL || errno == ENOMEM, "calloc at the limit: NULL with errno %d", errno);
    API(free)(c);

    for (size_t i = 0; i < n; i++) {
        size_t bad = verify(blocks[i], size, i);
        CHECK(bad == size, "%s: block %zu of %zu corrupted at offset %zu after OOM", kind, i, n, bad);
    }
    OK("%s: all %zu blocks allocated before the NULL are intact", kind, n);

    /* Free half, then the same size must be available again. */
    for (size_t i = 0; i < n; i += 2) {
        API(free)(blocks[i]);
        blocks[i] = NULL;
    }
    size_t again = n / 2 < 100 ? n / 2 : 100;
    for (size_t i = 0; i < again * 2; i += 2) {
        errno = 0;
        blocks[i] = API(malloc)(size);
        CHECK(blocks[i] != NULL, "%s: malloc(%zu) #%zu failed (errno %d) after freeing %zu blocks",
              kind, size, i / 2, errno, (n + 1) / 2);
        fill(blocks[i], size, i);
    }
    for (size_t i = 0; i < n; i++)
        if (blocks[i]) {
            size_t bad = verify(blocks[i], size, i);
            CHECK(bad == size, "%s: block %zu corrupted at offset %zu after refilling", kind, i, bad);
        }
    OK("%s: after freeing half, %zu new blocks of %zu B allocated and every block intact", kind,
       again, size);

    for (size_t i = 0; i < n; i++)
        if (blocks[i])
            API(free)(blocks[i]);
    hak_thread_flush();
    hak_trim(); /* start the next phase from a clean slate */
    set_as_limit(RLIM_INFINITY);
}

int main(void)
{
    api_check_linked();
    blocks = mmap(NULL, MAX_BLOCKS * sizeof(void *), PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHECK(blocks != MAP_FAILED, "mmap pointer table");
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_AS, &rl) == 0, "getrlimit");
    if (rl.rlim_max != RLIM_INFINITY)
        SKIP_EXIT("RLIMIT_AS hard limit is set: cannot restore the soft limit after each phase");
    warm_up();
    NOTE("refill thread running: %d", hak_refill_thread_running());

    oom_phase("small", 1000, 96 * MiB);
    oom_phase("small", 48, 32 * MiB);
    oom_phase("large", 768 * KiB, 256 * MiB);

    /* After the limit is lifted, everything works again. */
    void *p = API(malloc)(100), *q = API(malloc)(2 * MiB);
    CHECK(p && q, "malloc after lifting the limit");
    API(free)(p);
    API(free)(q);
    OK("allocation works after the limit is lifted");
    return 0;
}
