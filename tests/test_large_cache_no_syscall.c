/* test_large_cache_no_syscall: a loop of malloc(n) / free of a big block is served from memory the
 * allocator keeps (its cache of freed large mappings, or a SuperSlab class), not by a system call
 * and fresh page faults per iteration. Done for n = 256 KiB (the largest size class at the time of
 * writing) and n = 1 MiB (a large block: a mapping of its own, then the cache).
 *
 * The loop: 10000 iterations, each writing one byte in every page of the block, so a block that is
 * a fresh mapping, or one given back with madvise, costs n / 4 KiB page faults. Checked three ways:
 *  1. in this process (the allocator already busy with small blocks: stdio has allocated), minor
 *     page faults during the loop stay below a tenth of 10000 x n / 4 KiB;
 *  2. the same in a fresh child ("loop" mode) whose only allocations are these blocks, so that
 *     a cache that works only once something else has set the allocator up is caught too;
 *  3. if strace is installed (and allowed), the child runs under
 *     `strace -f -c -e trace=mmap,munmap,mremap,madvise`, and those calls, start-up included, must
 *     total below 1000, a tenth of one per iteration. Without strace this part is reported as
 *     skipped and the test rests on checks 1 and 2.
 * Usage: test_large_cache_no_syscall [loop BYTES]   (loop: warm up, run the loop, print its faults) */
#define _GNU_SOURCE
#include "support/api.h"
#include "support/proc.h"
#include "support/wait.h"

#define ITER 10000

static void the_loop(size_t block)
{
    for (int i = 0; i < ITER; i++) {
        volatile unsigned char *p = API(malloc)(block);
        CHECK(p != NULL, "malloc(%zu) #%d", block, i);
        for (size_t off = 0; off < block; off += 4096)
            p[off] = (unsigned char)i;
        CHECK(p[block - 4096] == (unsigned char)i, "write lost");
        API(free)((void *)p);
    }
}

static void warm_up(size_t block)
{
    for (int i = 0; i < 20; i++) {
        void *p = API(malloc)(block);
        CHECK(p != NULL, "malloc(%zu)", block);
        memset(p, 1, block);
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

static void check_size(size_t block)
{
    const char *name = block == 256 * KiB ? "256 KiB" : "1 MiB";
    const long fresh = (long)ITER * (long)(block / 4096);

    warm_up(block);
    long f0 = minor_faults();
    the_loop(block);
    long faults = minor_faults() - f0;
    CHECK(faults < fresh / 10,
          "%d x malloc(%s)/touch/free caused %ld minor faults: a fresh mapping (or purged pages) "
          "nearly every time (%ld if every time)", ITER, name, faults, fresh);
    OK("%d x malloc(%s)/touch every page/free: %ld minor faults (a fresh block each time would "
       "be %ld)", ITER, name, faults, fresh);

    static struct child_result r;
    char size_arg[32];
    snprintf(size_arg, sizeof size_arg, "%zu", block);
    char *plain[] = { (char *)self_exe(), "loop", size_arg, NULL };
    run_child(plain, NULL, &r);
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
          "the %s loop in a child: %s; stderr: \"%s\"", name, describe_status(r.status), r.err);
    long child_faults = -1;
    CHECK(sscanf(r.out, "faults %ld", &child_faults) == 1, "child output: \"%s\"", r.out);
    CHECK(child_faults < fresh / 10,
          "in a fresh process whose only allocations are %s blocks, the loop caused %ld minor "
          "faults: a fresh mapping (or purged pages) nearly every time (%ld if every time)",
          name, child_faults, fresh);
    OK("fresh process, only %s blocks: the loop caused %ld minor faults", name, child_faults);

    const char *strace = find_strace();
    if (!strace) {
        NOTE("skip: strace not installed; system calls not counted (the fault checks stand)");
        return;
    }
    char out[] = "/tmp/hakmem_test_strace_XXXXXX";
    int fd = mkstemp(out);
    CHECK(fd >= 0, "mkstemp: %s", strerror(errno));
    close(fd);
    char *args[] = { (char *)strace, "-f", "-c", "-e", "trace=mmap,munmap,mremap,madvise", "-o",
                     out, (char *)self_exe(), "loop", size_arg, NULL };
    run_child(args, NULL, &r);
    char detail[256];
    long calls = parse_strace_summary(out, detail, sizeof detail);
    unlink(out);
    if (!(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0) && calls < 0 &&
        (strstr(r.err, "ptrace") || strstr(r.err, "Operation not permitted"))) {
        NOTE("skip: strace cannot trace here (%s); system calls not counted", r.err);
        return;
    }
    CHECK(WIFEXITED(r.status) && WEXITSTATUS(r.status) == 0,
          "the %s loop under strace: %s; stderr: \"%s\"", name, describe_status(r.status), r.err);
    CHECK(calls >= 0, "could not read strace's summary; stderr: \"%s\"", r.err);
    CHECK(calls < ITER / 10,
          "%d x malloc(%s)/free made %ld mmap/munmap/mremap/madvise calls (%s): a system call "
          "for (nearly) every block", ITER, name, calls, detail);
    OK("under strace: %d x malloc(%s)/free made %ld mmap/munmap/mremap/madvise calls in all, "
       "start-up included (%s)", ITER, name, calls, detail[0] ? detail : "none");
}

int main(int argc, char **argv)
{
    if (argc > 2 && !strcmp(argv[1], "loop")) {
        /* No stdio before the loop: its buffer would be the process's first small allocation. */
        size_t block = (size_t)strtoull(argv[2], NULL, 10);
        warm_up(block);
        long f = minor_faults();
        the_loop(block);
        f = minor_faults() - f;
        char line[64];
        int n = snprintf(line, sizeof line, "faults %ld\n", f);
        return write(1, line, (size_t)n) == n ? 0 : 1;
    }
    api_check_linked();
    check_size(256 * KiB);
    check_size(1 * MiB);
    return 0;
}
