/* proc.c: process readings and child processes (proc.h). */
#define _GNU_SOURCE
#include "proc.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

size_t statm_field(int index)
{
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open /proc/self/statm: %s", strerror(errno));
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CHECK(n > 0, "read /proc/self/statm");
    buf[n] = '\0';
    char *p = buf;
    unsigned long v = 0;
    for (int i = 0; i <= index; i++)
        v = strtoul(p, &p, 10);
    return (size_t)v * (size_t)sysconf(_SC_PAGESIZE);
}

long peak_rss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

long minor_faults(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

uint64_t env_u64(const char *name, uint64_t def)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return def;
    char *end;
    unsigned long long v = strtoull(s, &end, 0);
    CHECK(*end == '\0', "%s='%s' is not a number", name, s);
    return v;
}

const char *self_exe(void)
{
    static char path[4096];
    if (path[0] == '\0') {
        ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
        CHECK(n > 0, "readlink /proc/self/exe: %s", strerror(errno));
        path[n] = '\0';
    }
    return path;
}

void run_child(char *const argv[], char *const envp[], struct child_result *r)
{
    int po[2], pe[2];
    CHECK(pipe2(po, O_CLOEXEC) == 0 && pipe2(pe, O_CLOEXEC) == 0, "pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDONLY);
        if (devnull >= 0)
            dup2(devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        if (envp)
            execve(argv[0], argv, envp);
        else
            execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    size_t no = 0, ne = 0;
    struct pollfd fds[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(fds, 2, -1) < 0) {
            CHECK(errno == EINTR, "poll: %s", strerror(errno));
            continue;
        }
        for (int i = 0; i < 2; i++) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char tmp[4096];
            ssize_t n = read(fds[i].fd, tmp, sizeof tmp);
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
                continue;
            }
            char *dst = i == 0 ? r->out : r->err;
            size_t *len = i == 0 ? &no : &ne;
            size_t room = sizeof r->out - 1 - *len;
            size_t k = (size_t)n < room ? (size_t)n : room;
            memcpy(dst + *len, tmp, k);
            *len += k;
        }
    }
    r->out[no] = '\0';
    r->err[ne] = '\0';
    while (waitpid(pid, &r->status, 0) < 0)
        CHECK(errno == EINTR, "waitpid: %s", strerror(errno));
}

const char *describe_status(int status)
{
    static char buf[96];
    if (WIFEXITED(status))
        snprintf(buf, sizeof buf, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status))
        snprintf(buf, sizeof buf, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    else
        snprintf(buf, sizeof buf, "wait status 0x%x", status);
    return buf;
}

/* ---- Misuse in a child --------------------------------------------------------------------------- */

static int misuse_fd = -1;   /* the child's end of the report pipe */

void misuse_report(void *p)
{
    uintptr_t v = (uintptr_t)p;
    if (write(misuse_fd, &v, sizeof v) != sizeof v)
        _exit(3);
}

/* Reads up to cap bytes, through EINTR, to EOF or until full. */
static size_t read_all(int fd, void *buf, size_t cap)
{
    size_t n = 0;
    while (n < cap) {
        ssize_t k = read(fd, (char *)buf + n, cap - n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        n += (size_t)k;
    }
    return n;
}

void run_misuse(void (*fn)(void *), void *arg, struct misuse_result *r)
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
        misuse_fd = pi[1];
        fn(arg);
        dprintf(2, "TEST: returned\n");
        _exit(0);
    }
    close(pe[1]);
    close(pi[1]);
    r->reported = 0;
    if (read_all(pi[0], &r->reported, sizeof r->reported) != sizeof r->reported)
        r->reported = 0;
    close(pi[0]);
    size_t n = read_all(pe[0], r->err, sizeof r->err - 1);
    r->err[n] = '\0';
    close(pe[0]);
    CHECK(waitpid(pid, &r->status, 0) == pid, "waitpid");
}

int mentions_pointer(const char *text, uintptr_t v)
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
