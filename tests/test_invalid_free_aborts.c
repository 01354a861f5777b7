/* test_invalid_free_aborts: freeing a pointer hakmem never handed out stops the process with
 * SIGABRT and a message on stderr that names hakmem and the pointer, instead of corrupting the heap
 * or crashing somewhere else later.
 *
 * Each case runs in a forked child whose stderr goes to a pipe (and whose core dumps are off):
 *   stack           a pointer into a local array;
 *   large_interior  a pointer 96 KiB + 48 B into a 1 MiB malloc'ed block;
 *   mmap            the start of a page from mmap;
 *   mmap_2mib       the start of a 2 MiB aligned region from mmap, where a SuperSlab could be;
 *   global          a pointer into a static array.
 * The child must be killed by SIGABRT, and its stderr must contain "hakmem" and the pointer's value
 * written as hexadecimal after "0x" (leading zeros and letter case are free). */
#define _GNU_SOURCE
#include <sys/mman.h>

#include "support/api.h"
#include "support/proc.h"
#include "support/wait.h"

static char global_array[256];

static void *bad_pointer(const char *kind, char *stack_buf)
{
    if (!strcmp(kind, "stack"))
        return stack_buf + 16;
    if (!strcmp(kind, "large_interior")) {
        char *p = API(malloc)(1 * MiB);
        CHECK(p != NULL, "malloc(1 MiB)");
        memset(p, 1, 1 * MiB);
        return p + 96 * KiB + 48;
    }
    if (!strcmp(kind, "mmap")) {
        void *p = mmap(NULL, 64 * KiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(p != MAP_FAILED, "mmap");
        return p;
    }
    if (!strcmp(kind, "mmap_2mib")) {
        char *p = mmap(NULL, 4 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        CHECK(p != MAP_FAILED, "mmap");
        return (void *)(((uintptr_t)p + 2 * MiB - 1) & ~(uintptr_t)(2 * MiB - 1));
    }
    if (!strcmp(kind, "global"))
        return global_array + 32;
    CHECK(0, "unknown case %s", kind);
    return NULL;
}

/* The child: a few real allocations first, so the allocator is fully set up; then the bad free. */
static void free_bad_pointer(void *arg)
{
    const char *kind = arg;
    char stack_buf[64];
    memset(stack_buf, 0, sizeof stack_buf);
    for (int i = 0; i < 100; i++)
        API(free)(API(malloc)((size_t)i * 100 + 1));
    void *bad = bad_pointer(kind, stack_buf);
    misuse_report(bad);
    api_free_fn(bad);
    dprintf(2, "TEST: free(%p) returned\n", bad);
}

static void run_case(const char *kind)
{
    struct misuse_result r;
    run_misuse(free_bad_pointer, (void *)kind, &r);
    int st = r.status;
    uintptr_t bad = r.reported;
    char *err = r.err;
    CHECK(bad != 0, "%s: the child did not report its pointer (%s, stderr \"%s\")", kind,
          describe_status(st), err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT,
          "free(%s pointer %#lx): child %s, want SIGABRT; stderr: \"%s\"", kind,
          (unsigned long)bad, describe_status(st), err);
    CHECK(strstr(err, "hakmem") != NULL,
          "free(%s pointer %#lx): stderr does not mention \"hakmem\": \"%s\"", kind,
          (unsigned long)bad, err);
    CHECK(mentions_pointer(err, bad), "free(%s pointer %#lx): stderr does not give the pointer: \"%s\"",
          kind, (unsigned long)bad, err);
    char *nl = strchr(err, '\n');
    if (nl)
        *nl = '\0';
    OK("%s(%s pointer %#lx): SIGABRT, stderr \"%s\"", API_NAME[0] == 'h' ? "hak_free" : "free",
       kind, (unsigned long)bad, err);
}

int main(void)
{
    api_check_linked();
    const char *cases[] = { "stack", "large_interior", "mmap", "mmap_2mib", "global" };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        run_case(cases[i]);
    return 0;
}
