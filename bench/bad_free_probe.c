/* bad_free_probe: what an allocator does with bad frees and heap overruns (docs/security.md).
 *
 * Run it with the allocator under test preloaded:
 *   LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 build/bench/bad_free_probe
 * Each case runs in a forked child (core dumps off, stderr captured). Verdicts:
 *   abort     the child died of SIGABRT (the allocator noticed and stopped; its first stderr line
 *             is shown);
 *   crash     the child died of another signal (it went wrong, but not on purpose);
 *   silent    the child ran on; for the double frees and the forged link it then reports whether
 *             the next mallocs handed the same memory out twice ("overlap") or returned the
 *             address the write after free planted ("forged").
 * With -c NAME, only the cases whose name contains NAME. Output: one markdown row per case. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static void (*volatile free_fn)(void *) = free;
static void *(*volatile malloc_fn)(size_t) = malloc;

static void out(const char *s) { (void)!write(1, s, strlen(s)); }

static void *take(size_t n)
{
    char *p = malloc_fn(n);
    if (!p) _exit(90);
    memset(p, 0x5a, n);
    return p;
}

/* After a double free of a block of size n: do the next two mallocs of that size overlap? */
static void after_double_free(size_t n)
{
    void *a = malloc_fn(n), *b = malloc_fn(n);
    out(a == b ? "overlap" : "no overlap seen");
}

static void df(size_t n, int between)
{
    void *p = take(n);
    void **o = malloc_fn(((size_t)between + 1) * sizeof *o);
    for (int i = 0; i < between; i++) o[i] = take(n);
    free_fn(p);
    for (int i = 0; i < between; i++) free_fn(o[i]);
    free_fn(p);
    after_double_free(n);
}

static void df16(void) { df(16, 0); }
static void df64(void) { df(64, 0); }
static void df1k(void) { df(1024, 0); }
static void df24k(void) { df(24 * 1024, 0); }
static void df1m(void) { df(1 << 20, 0); }
static void df_one_between(void) { df(64, 1); }
static void df_200_between(void) { df(64, 200); }

static void *free_it(void *p)
{
    free_fn(p);
    return NULL;
}

static void df_other_thread(void)
{
    void *p = take(64);
    free_fn(p);
    pthread_t t;
    pthread_create(&t, NULL, free_it, p);
    pthread_join(t, NULL);
    after_double_free(64);
}

static void interior(void)
{
    char *p = take(64);
    free_fn(p + 16);
    void *a = malloc_fn(64), *b = malloc_fn(64);
    out((char *)a == p + 16 || (char *)b == p + 16 ? "interior pointer handed out" : "nothing seen");
}

static void stack_addr(void)
{
    char buf[64];
    memset(buf, 0, sizeof buf);
    free_fn(buf + 16);
    out("nothing seen");
}

static void overrun(void)
{
    char *p = malloc_fn(20);
    memset(p, 1, 21);
    free_fn(p);
    out("nothing seen");
}

/* A write after free puts an address in a freed block's first word (where most allocators keep
 * the free-list link): does a later malloc return it? */
static void forged_link(void)
{
    static char target[256] __attribute__((aligned(64)));
    void *a = take(64), *b = take(64);
    free_fn(a);
    free_fn(b);
    *(void **)b = target + 64;
    *(void **)a = target + 64;
    int forged = 0;
    for (int i = 0; i < 4; i++)
        if ((char *)malloc_fn(64) == target + 64) forged = 1;
    out(forged ? "forged address handed out" : "nothing seen");
}

typedef struct probe_case {
    const char *name;
    void (*run)(void);
} probe_case_t;

static const probe_case_t cases[] = {
    { "double free 16 B", df16 },
    { "double free 64 B", df64 },
    { "double free 1 KiB", df1k },
    { "double free 24 KiB", df24k },
    { "double free 1 MiB", df1m },
    { "double free, 1 free between", df_one_between },
    { "double free, 200 frees between", df_200_between },
    { "double free, 2nd on another thread", df_other_thread },
    { "free(interior of 64 B block)", interior },
    { "free(stack address)", stack_addr },
    { "1-byte overrun of a 20 B block", overrun },
    { "write after free forging a link", forged_link },
};

static void run(const probe_case_t *c)
{
    int pe[2], po[2];
    if (pipe(pe) || pipe(po)) return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        struct rlimit no_core = { 0, 0 };
        setrlimit(RLIMIT_CORE, &no_core);
        dup2(pe[1], 2);
        dup2(po[1], 1);
        close(pe[0]);
        close(po[0]);
        c->run();
        _exit(0);
    }
    close(pe[1]);
    close(po[1]);
    char err[4096] = "", res[256] = "";
    ssize_t n = read(pe[0], err, sizeof err - 1), m = read(po[0], res, sizeof res - 1);
    err[n > 0 ? n : 0] = '\0';
    res[m > 0 ? m : 0] = '\0';
    close(pe[0]);
    close(po[0]);
    int st;
    waitpid(pid, &st, 0);
    char *nl = strchr(err, '\n');
    if (nl) *nl = '\0';
    for (char *s = err; *s; s++)
        if (*s == '|') *s = '/';
    if (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT)
        printf("| %s | abort | %.120s |\n", c->name, err);
    else if (WIFSIGNALED(st))
        printf("| %s | crash (%s) | %.120s |\n", c->name, strsignal(WTERMSIG(st)), err);
    else
        printf("| %s | silent (exit %d) | %s |\n", c->name, WEXITSTATUS(st), res);
}

int main(int argc, char **argv)
{
    const char *only = argc > 2 && !strcmp(argv[1], "-c") ? argv[2] : NULL;
    printf("| case | verdict | first line on stderr, or what followed |\n|---|---|---|\n");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (!only || strstr(cases[i].name, only)) run(&cases[i]);
    return 0;
}
