/* test_stats_stream: HAKMEM_STATS_INTERVAL_MS. The test runs itself as a child with the variables
 * set (they are read at start-up) and checks what the child wrote:
 *   on      interval 10 ms, file given: the child grows its heap until the file has at least 3
 *           lines (deadline: testutil.h); every line is one JSON object of this pid with the
 *           fields the tool plots, uptime never goes back, the heap's growth shows, and one more
 *           line comes at exit; the refill thread runs.
 *   nodaemon  the same with HAKMEM_REFILL_THREAD=0: lines keep coming, but the refill thread is
 *           reported off (it runs for the statistics only) and prepares no slab.
 *   default no HAKMEM_STATS_FILE: the lines go to ./hakmem-stats.<pid>.jsonl.
 *   off     no interval: no file, no thread.
 * The parsing here is a plain text check; test_hakmem_stats_tool parses the lines as JSON. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "api.h"
#include "testutil.h"

extern char **environ;

static size_t read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    size_t n = 0;
    ssize_t r;
    while (n < cap - 1 && (r = read(fd, buf + n, cap - 1 - n)) > 0)
        n += (size_t)r;
    close(fd);
    buf[n] = '\0';
    return n;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static unsigned long long field(const char *line, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = strstr(line, key);
    CHECK(p != NULL, "line has no %s: %.200s", name, line);
    return strtoull(p + strlen(key), NULL, 10);
}

/* The sum of a class array ("name":[a,b,...]) of a line. */
static unsigned long long array_sum(const char *line, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":[", name);
    const char *p = strstr(line, key);
    CHECK(p != NULL, "line has no array %s: %.200s", name, line);
    p += strlen(key);
    unsigned long long sum = 0;
    for (;;) {
        char *end;
        sum += strtoull(p, &end, 10);
        CHECK(end != p, "array %s: not a number at %.40s", name, p);
        if (*end == ']') return sum;
        CHECK(*end == ',', "array %s: unexpected %.40s", name, end);
        p = end + 1;
    }
}

static char big[1 << 22];

/* Child: grow the heap (kept blocks) until the stream file has `want` lines. */
static int child_grow(const char *path, int want, int expect_daemon)
{
    static void *keep[1 << 16];
    size_t kept = 0;
    double start = now_seconds(), deadline = test_deadline_seconds();
    int lines = 0;
    while ((lines = count_lines((read_file(path, big, sizeof big), big))) < want && now_seconds() - start < deadline) {
        for (int i = 0; i < 256 && kept < sizeof keep / sizeof keep[0]; i++) {
            keep[kept] = malloc(64 + (kept * 37) % 2000);
            CHECK(keep[kept] != NULL, "malloc");
            memset(keep[kept], 1, 64);
            kept++;
        }
        sleep_ms(1);   /* not a verdict: only paces the polling */
    }
    CHECK(lines >= want, "waited %.0f s for %d lines in %s, saw %d", deadline, want, path, lines);
    CHECK(hak_refill_thread_running() == expect_daemon, "refill thread running %d, want %d",
          hak_refill_thread_running(), expect_daemon);
    for (size_t i = 0; i < kept; i++)
        free(keep[i]);
    return 0;
}

static pid_t run(const char *mode, const char *file, const char *interval, const char *refill,
                 struct child_result *r)
{
    char *env[256];
    int n = 0;
    static char e1[512], e2[64], e3[64];
    for (char **e = environ; *e && n < 240; e++)
        if (strncmp(*e, "HAKMEM_STATS", 12) != 0 && strncmp(*e, "HAKMEM_REFILL_THREAD=", 21) != 0)
            env[n++] = *e;
    if (file) { snprintf(e1, sizeof e1, "HAKMEM_STATS_FILE=%s", file); env[n++] = e1; }
    if (interval) { snprintf(e2, sizeof e2, "HAKMEM_STATS_INTERVAL_MS=%s", interval); env[n++] = e2; }
    snprintf(e3, sizeof e3, "HAKMEM_REFILL_THREAD=%s", refill);
    env[n++] = e3;
    env[n] = NULL;
    char *argv[] = { (char *)self_exe(), (char *)mode, (char *)(file ? file : ""), NULL };
    run_child(argv, env, r);
    CHECK(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0, "child %s: %s\n%s%s", mode,
          describe_status(r->status), r->out, r->err);
    /* The child prints its pid first. */
    return (pid_t)strtol(r->out, NULL, 10);
}

static void check_stream(const char *path, pid_t pid, int expect_batches_zero, const char *what)
{
    size_t n = read_file(path, big, sizeof big);
    int lines = count_lines(big);
    CHECK(n > 0 && lines >= 4, "%s: %d lines in %s (want the 3 the child waited for + 1 at exit)", what, lines, path);
    unsigned long long last_uptime = 0, first_slabs = 0, max_slabs = 0;
    int i = 0;
    for (char *line = big, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1, i++) {
        *nl = '\0';
        CHECK(line[0] == '{' && nl[-1] == '}', "%s: line %d is not one object: %.200s", what, i, line);
        CHECK((pid_t)field(line, "pid") == pid, "%s: line %d has pid %llu, the child was %d", what, i,
              field(line, "pid"), (int)pid);
        unsigned long long up = field(line, "uptime_ms");
        CHECK(up >= last_uptime, "%s: uptime went back from %llu to %llu", what, last_uptime, up);
        last_uptime = up;
        CHECK(field(line, "rss") > 0 && field(line, "bytes_mapped") > 0, "%s: line %d: no rss or bytes_mapped", what, i);
        (void)field(line, "refills_sync");
        (void)field(line, "daemon_wakeups");
        CHECK(strstr(line, "\"class_slabs\":[") && strstr(line, "\"class_size\":[8,"), "%s: no class arrays", what);
        /* One snapshot: the per-class arrays add up to the totals of the same line. */
        CHECK(array_sum(line, "class_ring_taken") == field(line, "refills_ring")
              && array_sum(line, "class_sync_claims") == field(line, "refills_sync"),
              "%s: line %d: class_ring_taken/class_sync_claims sum to %llu/%llu, totals %llu/%llu", what, i,
              array_sum(line, "class_ring_taken"), array_sum(line, "class_sync_claims"),
              field(line, "refills_ring"), field(line, "refills_sync"));
        unsigned long long slabs = field(line, "slabs_in_use");
        if (i == 0) first_slabs = slabs;
        if (slabs > max_slabs) max_slabs = slabs;
        if (expect_batches_zero)
            CHECK(field(line, "daemon_batches") == 0, "%s: the refill thread prepared slabs", what);
    }
    CHECK(max_slabs > first_slabs, "%s: slabs in use never grew (%llu)", what, max_slabs);
    OK("%s: %d JSON lines of pid %d, uptime monotonic, slabs in use %llu -> %llu", what, lines, (int)pid,
       first_slabs, max_slabs);
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "on") == 0) {
        printf("%d\n", (int)getpid());
        return child_grow(argv[2], 3, 1);
    }
    if (argc == 3 && strcmp(argv[1], "nodaemon") == 0) {
        printf("%d\n", (int)getpid());
        return child_grow(argv[2], 3, 0);
    }
    if (argc == 3 && strcmp(argv[1], "default") == 0) {
        printf("%d\n", (int)getpid());
        char path[64];
        snprintf(path, sizeof path, "hakmem-stats.%d.jsonl", (int)getpid());
        return child_grow(path, 3, 1);
    }
    if (argc == 3 && strcmp(argv[1], "off") == 0) {
        printf("%d\n", (int)getpid());
        void *p = malloc(100);
        free(p);
        CHECK(!hak_refill_thread_running(), "refill thread running without need");
        return 0;
    }
    api_check_linked();
    static struct child_result r;
    char dir[] = "/tmp/hakmem-stream.XXXXXX";
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char path[256];

    snprintf(path, sizeof path, "%s/on.jsonl", dir);
    check_stream(path, run("on", path, "10", "1", &r), 0, "interval 10 ms");
    snprintf(path, sizeof path, "%s/nodaemon.jsonl", dir);
    check_stream(path, run("nodaemon", path, "10", "0", &r), 1, "interval 10 ms, HAKMEM_REFILL_THREAD=0");

    char cwd[512];
    CHECK(getcwd(cwd, sizeof cwd) != NULL, "getcwd");
    CHECK(chdir(dir) == 0, "chdir");
    pid_t pid = run("default", NULL, "10", "1", &r);
    snprintf(path, sizeof path, "%s/hakmem-stats.%d.jsonl", dir, (int)pid);
    check_stream(path, pid, 0, "no HAKMEM_STATS_FILE (./hakmem-stats.<pid>.jsonl)");
    pid = run("off", NULL, NULL, "1", &r);
    snprintf(path, sizeof path, "%s/hakmem-stats.%d.jsonl", dir, (int)pid);
    struct stat st;
    CHECK(stat(path, &st) != 0, "no interval, yet %s exists", path);
    OK("no HAKMEM_STATS_INTERVAL_MS: no file, no thread");
    CHECK(chdir(cwd) == 0, "chdir back");
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0, "rm");
    return 0;
}
