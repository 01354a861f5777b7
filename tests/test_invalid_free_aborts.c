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
#include <ctype.h>
#include <sys/mman.h>

#include "support/api.h"
#include "support/proc.h"
#include "support/wait.h"

static char global_array[256];

/* Does text contain "0x" (or "0X") followed by the hex digits of v? */
static int mentions_pointer(const char *text, uintptr_t v)
{
    for (const char *s = text; *s; s++) {
        if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && isxdigit((unsigned char)s[2])) {
            char *end;
            if ((uintptr_t)strtoull(s + 2, &end, 16) == v)
                return 1;
        }
    }
    return 0;
}

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

static void run_case(const char *kind)
{
    int pe[2], pi[2];
    CHECK(pipe(pe) == 0 && pipe(pi) == 0, "pipe");
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        close(pe[0]);
        close(pi[0]);
        dup2(pe[1], 2);
        char stack_buf[64];
        memset(stack_buf, 0, sizeof stack_buf);
        /* Some real allocations first, so the allocator is fully set up. */
        for (int i = 0; i < 100; i++)
            API(free)(API(malloc)((size_t)i * 100 + 1));
        void *bad = bad_pointer(kind, stack_buf);
        uintptr_t v = (uintptr_t)bad;
        if (write(pi[1], &v, sizeof v) != sizeof v)
            _exit(3);
        close(pi[1]);
        api_free_fn(bad);
        dprintf(2, "TEST: free(%p) returned\n", bad);
        _exit(0);
    }
    close(pe[1]);
    close(pi[1]);
    uintptr_t bad = 0;
    ssize_t k = read(pi[0], &bad, sizeof bad);
    close(pi[0]);
    char err[8192];
    size_t n = 0;
    while ((k = read(pe[0], err + n, sizeof err - 1 - n)) > 0)
        n += (size_t)k;
    err[n] = '\0';
    close(pe[0]);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
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
