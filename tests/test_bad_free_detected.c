/* test_bad_free_detected: double frees, interior pointers and corrupted free lists stop the process
 * with SIGABRT and one line on stderr that names hakmem, the call and the pointer (docs/security.md).
 *
 * Each case runs in a forked child whose stderr goes to a pipe (core dumps off). The child sends
 * the pointer it is about to misuse down a second pipe, then misuses it; the parent wants SIGABRT,
 * "hakmem", the pointer in hexadecimal and the case's phrase on stderr. A case with no phrase is a
 * legal program that must run to the end (exit 0): the double-free check must not fire on it.
 *
 * Which cases are expected depends on the build and the environment: HAKMEM_CHECK=1 (checking mode,
 * set by ctest for the *_check variants) adds cross-thread double frees and writes past the end of
 * a block; HAKMEM_HARDENED builds add corrupted links. The cases of the other modes still run and
 * must not crash in any other way than SIGABRT with hakmem's message, or end normally. */
#define _GNU_SOURCE
#include <pthread.h>

#include "support/api.h"
#include "support/proc.h"
#include "support/wait.h"

/* The key a free block holds in its second word (src/core/free_list_guard.h): a live block that
 * holds it is a legal program whose free must go through. */
#define FREE_KEY 0xffffffffb10cf4eeull

enum { ALL, CHECK_ONLY, HARDENED_ONLY };

static void *take(size_t size)
{
    void *p = API(malloc)(size);
    CHECK(p != NULL, "malloc(%zu)", size);
    memset(p, 0x5a, size);
    return p;
}

/* ---- Same-thread double frees ----------------------------------------------------------------- */

static void double_free(size_t size, int between)
{
    void *p = take(size);
    void **others = calloc((size_t)between + 1, sizeof *others);   /* libc's or ours: either is fine */
    for (int i = 0; i < between; i++)
        others[i] = take(size);
    api_free_fn(p);
    for (int i = 0; i < between; i++)
        api_free_fn(others[i]);
    misuse_report(p);
    api_free_fn(p);
}

static void df_8(void) { double_free(8, 0); }
static void df_16(void) { double_free(16, 0); }
static void df_64(void) { double_free(64, 0); }
static void df_1k(void) { double_free(1024, 0); }
static void df_24k(void) { double_free(24 * KiB, 0); }
static void df_40000(void) { double_free(40000, 0); }
static void df_1m(void) { double_free(1 * MiB, 0); }
static void df_one_between(void) { double_free(64, 1); }
static void df_200_between(void) { double_free(64, 200); }
/* The block is back on its slab's free list (hak_thread_flush gives the thread's lists back; a
 * list that overflows does the same with its most recent frees) when it is freed again. Another
 * block of the slab stays live, so the slab is neither released nor reset. */
static void df_back_in_slab(void)
{
    void *keep = take(48), *p = take(48);
    api_free_fn(p);
    hak_thread_flush();
    misuse_report(p);
    api_free_fn(p);
    api_free_fn(keep);
}

/* ---- Double frees involving another thread ------------------------------------------------------ */

static void *free_on_thread(void *p)
{
    api_free_fn(p);
    return NULL;
}

static void run_thread(void *(*fn)(void *), void *arg)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, fn, arg) == 0, "pthread_create");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
}

/* First free on another thread (the block goes on its slab's remote list), second by the owner. */
static void df_remote_then_owner(void)
{
    void *p = take(64);
    run_thread(free_on_thread, p);
    misuse_report(p);
    api_free_fn(p);
}

/* The same while the other thread still runs: a default build keeps the block in that thread's
 * remote cache (src/core/remote_cache.c) until it pushes the chain, so the owner's check does not
 * find it; hardened builds push at once, the checking mode checks every free. */
static pthread_barrier_t freed_and_looked;

static void *free_and_wait(void *p)
{
    api_free_fn(p);
    pthread_barrier_wait(&freed_and_looked);   /* freed */
    pthread_barrier_wait(&freed_and_looked);   /* the owner's second free is over */
    return NULL;
}

static void df_remote_live_then_owner(void)
{
    void *p = take(64);
    pthread_t t;
    pthread_barrier_init(&freed_and_looked, NULL, 2);
    CHECK(pthread_create(&t, NULL, free_and_wait, p) == 0, "pthread_create");
    pthread_barrier_wait(&freed_and_looked);
    misuse_report(p);
    api_free_fn(p);
    pthread_barrier_wait(&freed_and_looked);
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
}

/* First free by the owner, second on another thread: only the checking mode sees it. */
static void df_owner_then_remote(void)
{
    void *p = take(64);
    api_free_fn(p);
    misuse_report(p);
    run_thread(free_on_thread, p);
}

static void *free_twice(void *p)
{
    api_free_fn(p);
    misuse_report(p);
    api_free_fn(p);
    return NULL;
}

/* Both frees on a thread that does not own the block: only the checking mode sees it. */
static void df_remote_twice(void)
{
    run_thread(free_twice, take(64));
}

/* ---- Interior pointers ---------------------------------------------------------------------------- */

/* A block freed on its owner's fast path is checked when it leaves the thread's cache (here at
 * hak_thread_flush; also on overflow or at thread exit); HAKMEM_HARDENED and HAKMEM_CHECK=1
 * check on the free itself. */
static void interior(size_t offset)
{
    char *p = take(64);
    misuse_report(p + offset);
    api_free_fn(p + offset);
    hak_thread_flush();
}

static void interior_8(void) { interior(8); }
static void interior_16(void) { interior(16); }
static void interior_32_of_48(void)
{
    char *p = take(48);
    misuse_report(p + 32);
    api_free_fn(p + 32);
    hak_thread_flush();
}

/* Another thread's free is checked at once. */
static void interior_remote(void)
{
    char *p = take(64);
    misuse_report(p + 16);
    run_thread(free_on_thread, p + 16);
}

/* ---- Legal programs the checks must let through ---------------------------------------------------- */

static void live_block_holds_key(void)
{
    uint64_t *p = take(16), *q = take(64);
    p[1] = FREE_KEY;
    q[1] = FREE_KEY;
    api_free_fn(p);
    api_free_fn(q);
    uint64_t *r = API(malloc)(16);   /* p again, most likely: the key word was cleared */
    CHECK(r != NULL && r[1] != FREE_KEY, "a block handed out still holds the free key");
    api_free_fn(r);
}

/* ---- Writes past the end (HAKMEM_CHECK=1) ------------------------------------------------------- */

static void write_past_end(void)
{
    char *p = API(malloc)(20);       /* a 32-byte block: 12 bytes of slack hold the canary */
    CHECK(p != NULL, "malloc(20)");
    memset(p, 1, 21);
    misuse_report(p);
    api_free_fn(p);
}

/* ---- Corrupted links (HAKMEM_HARDENED) ----------------------------------------------------------- */

static void corrupt_link(void)
{
    static char target[256];
    void *a = take(64), *b = take(64);
    api_free_fn(a);
    api_free_fn(b);                 /* b is the head; its link points at a */
    *(void **)b = target + 64;      /* a write after free aims the list at a static array */
    misuse_report(b);
    void *x = API(malloc)(64);      /* b; the next malloc would follow the forged link */
    void *y = API(malloc)(64);
    dprintf(2, "TEST: malloc returned %p and %p (target %p)\n", x, y, (void *)(target + 64));
}

/* ---- Running the cases ------------------------------------------------------------------------- */

typedef struct bad_case {
    const char *name;
    void (*run)(void);
    int mode;              /* ALL, CHECK_ONLY, HARDENED_ONLY: where detection is promised */
    const char *phrase;    /* NULL: a legal program */
} bad_case_t;

static const bad_case_t cases[] = {
    { "double free of an 8 B block", df_8, ALL, "double free" },
    { "double free of a 16 B block", df_16, ALL, "double free" },
    { "double free of a 64 B block", df_64, ALL, "double free" },
    { "double free of a 1 KiB block", df_1k, ALL, "double free" },
    { "double free of a 24 KiB block", df_24k, ALL, "double free" },
    { "double free of a 40000 B (medium) block", df_40000, ALL, "double free" },
    { "double free of a 1 MiB block", df_1m, ALL, "already freed" },
    { "double free with a free between", df_one_between, ALL, "double free" },
    { "double free with 200 frees between", df_200_between, ALL, "double free" },
    { "double free after the block went back to its slab", df_back_in_slab, ALL, "double free" },
    { "double free, first on another thread", df_remote_then_owner, ALL, "double free" },
    { "double free, first on another thread still running", df_remote_live_then_owner, HARDENED_ONLY,
      "double free" },
    { "double free, second on another thread", df_owner_then_remote, CHECK_ONLY, "double free" },
    { "double free, both on a thread not owning the block", df_remote_twice, CHECK_ONLY, "double free" },
    { "free of a 64 B block + 8", interior_8, ALL, "inside a block" },
    { "free of a 64 B block + 16", interior_16, ALL, "inside a block" },
    { "free of a 48 B block + 32", interior_32_of_48, ALL, "inside a block" },
    { "free of a 64 B block + 16 on another thread", interior_remote, ALL, "inside a block" },
    { "a live block holding the free key", live_block_holds_key, ALL, NULL },
    { "write one byte past a 20 B request", write_past_end, CHECK_ONLY, "past the end" },
    { "a write after free forging a link", corrupt_link, HARDENED_ONLY, "corrupted free list" },
};

static int check_mode(void)
{
    const char *v = getenv("HAKMEM_CHECK");
    return v && (v[0] == '1' || !strcmp(v, "on") || !strcmp(v, "yes"));
}

/* AddressSanitizer builds (HAK_ASAN) report a double free through ASan (alloc.c): hakmem's line,
 * then ASan's report, then ASan's exit code unless ASAN_OPTIONS has abort_on_error=1; and ASan
 * catches the write after free of the forged link itself. */
#if defined(HAK_ASAN)
#define ASAN_BUILD 1
#else
#define ASAN_BUILD 0
#endif

static int stopped(int st)
{
    return (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT) || (ASAN_BUILD && WIFEXITED(st) && WEXITSTATUS(st) != 0);
}

static int hardened(void)
{
#if defined(HAKMEM_HARDENED) && HAKMEM_HARDENED
    return 1;
#else
    return 0;
#endif
}

static void run_bad_case(void *c) { ((const bad_case_t *)c)->run(); }

/* Returns 1 if the case was checked as detected (or as legal), 0 if it was allowed through. */
static int run_case(const bad_case_t *c)
{
    struct misuse_result r;
    run_misuse(run_bad_case, (void *)c, &r);
    int st = r.status;
    uintptr_t bad = r.reported;
    char *err = r.err;
    char *nl = strchr(err, '\n');
    int promised = c->mode == ALL || (c->mode == CHECK_ONLY && check_mode())
                   || (c->mode == HARDENED_ONLY && hardened());
    if (c->phrase == NULL) {
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: child %s, want a normal exit; stderr: \"%s\"",
              c->name, describe_status(st), err);
        OK("%s: runs to the end", c->name);
        return 1;
    }
    if (!promised) {
        /* Not promised in this mode: it may go undetected, but any stop must be hakmem's. */
        CHECK((WIFEXITED(st) && WEXITSTATUS(st) == 0) || (stopped(st) && strstr(err, "hakmem"))
              || (ASAN_BUILD && stopped(st) && strstr(err, "AddressSanitizer")),
              "%s: child %s; stderr \"%s\"", c->name, describe_status(st), err);
        if (nl)
            *nl = '\0';
        NOTE("%s: not promised in this mode: %s%s%s", c->name, describe_status(st),
             WIFSIGNALED(st) ? ", stderr " : "", WIFSIGNALED(st) ? err : "");
        return 0;
    }
    CHECK(bad != 0, "%s: the child did not report its pointer (%s, stderr \"%s\")", c->name,
          describe_status(st), err);
    CHECK(stopped(st), "%s (%#lx): child %s, want SIGABRT; stderr: \"%s\"",
          c->name, (unsigned long)bad, describe_status(st), err);
    CHECK(strstr(err, "hakmem") != NULL, "%s: stderr does not mention \"hakmem\": \"%s\"", c->name, err);
    CHECK(strstr(err, c->phrase) != NULL, "%s: stderr does not say \"%s\": \"%s\"", c->name, c->phrase, err);
    CHECK(mentions_pointer(err, bad), "%s: stderr does not give the pointer %#lx: \"%s\"", c->name,
          (unsigned long)bad, err);
    CHECK(ASAN_BUILD || nl == NULL || nl[1] == '\0', "%s: more than one line on stderr: \"%s\"", c->name, err);
    if (nl)
        *nl = '\0';
    OK("%s: SIGABRT, \"%s\"", c->name, err);
    return 1;
}

int main(void)
{
    api_check_linked();
    NOTE("mode: %s%s", check_mode() ? "HAKMEM_CHECK=1" : "default",
         hardened() ? ", HAKMEM_HARDENED build" : "");
    API(free)(API(malloc)(1));    /* set up before the first fork */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(&cases[i]);
    return 0;
}
