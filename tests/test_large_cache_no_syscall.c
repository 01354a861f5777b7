/* test_large_cache_no_syscall: a loop of malloc(256 KiB) / free is served from the cache of freed
 * large mappings, not by a system call and fresh page faults per iteration.
 *
 * The loop: 10000 iterations, each writing one byte in every page of the block, so a block that is
 * a fresh mapping, or one given back with madvise, costs 64 page faults. Checked three ways:
 *  1. in this process (the allocator already busy with small blocks: stdio has allocated), minor
 *     page faults during the loop stay below a tenth of 10000 x 64;
 *  2. the same in a fresh child ("loop" mode) whose only allocations are 256 KiB blocks, so that
 *     a cache that works only once something else has set the allocator up is caught too;
 *  3. if strace is installed (and allowed), the child runs under
 *     `strace -f -c -e trace=mmap,munmap,mremap,madvise`, and those calls, start-up included, must
 *     total below 1000, a tenth of one per iteration. Without strace this part is reported as
 *     skipped and the test rests on checks 1 and 2.
 * Usage: test_large_cache_no_syscall [loop]   (loop: warm up, run the loop, print its fault count) */
#define _GNU_SOURCE
#include "api.h"
#include "testutil.h"

#define ITER 10000
#define BLOCK (256 * KiB)

static void the_loop(void)
{
    for (int i = 0; i < ITER; i++) {
        volatile unsigned char *p = API(malloc)(BLOCK);
        CHECK(p != NULL, "malloc(256 KiB) #%d", i);
        for (size_t off = 0; off < BLOCK; off += 4096)
            p[off] = (unsigned char)i;
        CHECK(p[BLOCK - 4096] == (unsigned char)i, "write lost");
        API(free)((void *)p);
    }
}

static void warm_up(void)
{
    for (int i = 0; i < 20; i++) {
        void *p = API(malloc)(BLOCK);
        CHECK(p != NULL, "malloc(256 KiB)");
        memset(p, 1, BLOCK);
        API(free)(p);
    }
}

static const char *find_strace(void)
{
    static const char *candidates[] = { "/usr/bin/strace", "/bin/strace", "/usr/local/bin/strace" };
    for (size_t i = 0; i < sizeof candidates / sizeof candidates[0]; i++)
        if (access(candidates[i], X_OK) == 0)
            return candidates[i];
    return NULL;
}

/* Sums the "calls" column of strace -c output for the traced calls. Returns -1 if no table. */
static long parse_strace_summary(const char *path, char *detail, size_t detail_len)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[512];
    long total = -1;
    detail[0] = '\0';
    while (fgets(line, sizeof line, f)) {
        char name[64] = "";
        double pct, secs;
        long usecs, calls;
        /* "% time  seconds  usecs/call  calls  [errors]  syscall" */
        char *tok[8];
        int nt = 0;
        for (char *s = strtok(line, " \t\n"); s && nt < 8; s = strtok(NULL, " \t\n"))
            tok[nt++] = s;
        if (nt < 5 || sscanf(tok[0], "%lf", &pct) != 1 || sscanf(tok[1], "%lf", &secs) != 1 ||
            sscanf(tok[2], "%ld", &usecs) != 1 || sscanf(tok[3], "%ld", &calls) != 1)
            continue;
        snprintf(name, sizeof name, "%s", tok[nt - 1]);
        if (!strcmp(name, "mmap") || !strcmp(name, "munmap") || !strcmp(name, "mremap") ||
            !strcmp(name, "madvise")) {
            total = (total < 0 ? 0 : total) + calls;
            snprintf(detail + strlen(detail), detail_len - strlen(detail), "%s%s %ld",
                     detail[0] ? ", " : "", name, calls);
        } else if (!strcmp(name, "total") && total < 0) {
            total = 0;
        }
    }
    fclose(f);
    return total;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "loop")) {
        /* No stdio before the loop: its buffer would be the process's first small allocation. */
        warm_up();
        long f = minor_faults();
        the_loop();
        f = minor_faults() - f;
        char line[64];
        int n = snprintf(line, sizeof line, "faults %ld\n", f);
        return write(1, line, (size_t)n) == n ? 0 : 1;
    }
    api_check_linked();

    warm_up();
    long f0 = minor_faults();
    the_loop();
    long faults = minor_faults() - f0;
    const long fresh = (long)ITER * (long)(BLOCK / 4096);
    CHECK(faults < fresh / 10,
          "%d x malloc(256 KiB)/touch/free caused %ld minor faults: a fresh mapping (or purged "
          "pages) nearly every time (%ld if every time)", ITER, faults, fresh);
    OK("%d x malloc(256 KiB)/touch every page/free: %ld minor faults (a fresh block each time "
       "would be %ld)", ITER, faults, fresh);

    static struct child_result r;
    char *plain[] = { (char *)self_exe(), "loop", NULL };
    run_child(plain, NULL, &r);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0, "the loop in a child: %s; stderr: \"%s\"",
          describe_status(r.status), r.err);
    long child_faults = -1;
    CHECK(sscanf(r.out, "faults %ld", &child_faults) == 1, "child output: \"%s\"", r.out);
    CHECK(child_faults < fresh / 10,
          "in a fresh process whose only allocations are 256 KiB blocks, the loop caused %ld minor "
          "faults: a fresh mapping (or purged pages) nearly every time (%ld if every time)",
          child_faults, fresh);
    OK("fresh process, only 256 KiB blocks: the loop caused %ld minor faults", child_faults);

    const char *strace = find_strace();
    if (!strace) {
        NOTE("skip: strace not installed; system calls not counted (the fault check above stands)");
        return 0;
    }
    char out[] = "/tmp/hakmem_test_strace_XXXXXX";
    int fd = mkstemp(out);
    CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
    close(fd);
    char *args[] = { (char *)strace, "-f", "-c", "-e", "trace=mmap,munmap,mremap,madvise", "-o",
                     out, (char *)self_exe(), "loop", NULL };
    run_child(args, NULL, &r);
    char detail[256];
    long calls = parse_strace_summary(out, detail, sizeof detail);
    unlink(out);
    if (!(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) && calls < 0 &&
        (strstr(r.err, "ptrace") || strstr(r.err, "Operation not permitted"))) {
        NOTE("skip: strace cannot trace here (%s); system calls not counted", r.err);
        return 0;
    }
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
          "the loop under strace: %s; stderr: \"%s\"", describe_status(r.status), r.err);
    CHECK(calls >= 0, "could not read strace's summary; stderr: \"%s\"", r.err);
    CHECK(calls < ITER / 10,
          "%d x malloc(256 KiB)/free made %ld mmap/munmap/mremap/madvise calls (%s): a system call "
          "for (nearly) every block", ITER, calls, detail);
    OK("under strace: %d x malloc(256 KiB)/free made %ld mmap/munmap/mremap/madvise calls in "
       "all, start-up included (%s)", ITER, calls, detail[0] ? detail : "none");
    return 0;
}
