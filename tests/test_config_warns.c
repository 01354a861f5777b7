/* test_config_warns: HAKMEM_* variables are validated. A bad value produces exactly one line on
 * stderr naming the variable and the value, and the program still works; good values and an empty
 * environment produce no output at all; HAKMEM_VERBOSE=1 prints the settings in effect.
 *
 * The test re-runs its own executable ("child" mode: allocations of small and large blocks in two
 * threads, then "child-ok" on stdout) with a clean environment (no HAKMEM_* or LD_PRELOAD from
 * outside) plus the variables of each case, and checks the child's exit status, stdout and stderr. */
#define _GNU_SOURCE
#include <pthread.h>

#include "support/api.h"
#include "support/proc.h"
#include "support/wait.h"

extern char **environ;

static void *child_thread(void *arg)
{
    for (int i = 0; i < 20000; i++) {
        void *p = API(malloc)((size_t)(i % 3000) + 1);
        CHECK(p != NULL, "child: malloc");
        memset(p, 1, (size_t)(i % 3000) + 1);
        API(free)(p);
    }
    return arg;
}

static int child_main(void)
{
    void *blk[1000];
    for (int i = 0; i < 1000; i++) {
        blk[i] = API(malloc)((size_t)i * 40 + 1);
        CHECK(blk[i] != NULL, "child: malloc");
        memset(blk[i], 2, (size_t)i * 40 + 1);
    }
    void *big = API(calloc)(1, 3 * MiB);
    CHECK(big != NULL, "child: calloc(3 MiB)");
    pthread_t th;
    CHECK(pthread_create(&th, NULL, child_thread, NULL) == 0, "child: pthread_create");
    pthread_join(th, NULL);
    for (int i = 0; i < 1000; i++)
        API(free)(blk[i]);
    API(free)(big);
    printf("child-ok\n");
    return 0;
}

/* Runs the child with the outside environment minus HAKMEM_* and LD_PRELOAD, plus `extra`
 * (a NULL-terminated list of NAME=VALUE). */
static void run_with(const char *const *extra, struct child_result *r)
{
    static char *envp[4096];
    size_t n = 0;
    for (char **e = environ; *e && n < 4000; e++)
        if (strncmp(*e, "HAKMEM_", 7) != 0 && strncmp(*e, "LD_PRELOAD=", 11) != 0)
            envp[n++] = *e;
    for (const char *const *x = extra; *x; x++)
        envp[n++] = (char *)*x;
    envp[n] = NULL;
    char *argv[] = { (char *)self_exe(), "child", NULL };
    run_child(argv, envp, r);
}

static int count_lines(const char *s)
{
    int n = 0;
    for (const char *line = s; *line;) {
        const char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        for (size_t i = 0; i < len; i++)
            if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r') {
                n++;
                break;
            }
        if (!nl)
            break;
        line = nl + 1;
    }
    return n;
}

static void expect_child_ok(const char *what, const struct child_result *r)
{
    CHECK(WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0, "%s: child %s; stderr: \"%s\"", what,
          describe_status(r->status), r->err);
    CHECK(strstr(r->out, "child-ok") != NULL, "%s: child did not finish its work; stdout: \"%s\"",
          what, r->out);
}

static struct child_result res;

static void expect_silent(const char *const *env)
{
    char what[256];
    snprintf(what, sizeof what, "%s", env[0] ? env[0] : "no HAKMEM_* variable");
    for (int i = 1; env[0] && env[i]; i++)
        snprintf(what + strlen(what), sizeof what - strlen(what), " %s", env[i]);
    run_with(env, &res);
    expect_child_ok(what, &res);
    CHECK(res.err[0] == '\0', "%s: expected no output on stderr, got \"%s\"", what, res.err);
    OK("%s: works, nothing on stderr", what);
}

static void expect_one_warning(const char *var, const char *value)
{
    char assign[256];
    snprintf(assign, sizeof assign, "%s=%s", var, value);
    const char *env[] = { assign, NULL };
    run_with(env, &res);
    expect_child_ok(assign, &res);
    CHECK(count_lines(res.err) == 1, "%s: expected exactly one line on stderr, got %d: \"%s\"",
          assign, count_lines(res.err), res.err);
    CHECK(strstr(res.err, var) != NULL, "%s: the warning does not name %s: \"%s\"", assign, var,
          res.err);
    CHECK(strstr(res.err, value) != NULL, "%s: the warning does not quote the value %s: \"%s\"",
          assign, value, res.err);
    char *nl = strchr(res.err, '\n');
    if (nl)
        *nl = '\0';
    OK("%s: still works, one warning: \"%s\"", assign, res.err);
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "child"))
        return child_main();
    api_check_linked();

    expect_silent((const char *const[]){ NULL });
    expect_silent((const char *const[]){ "HAKMEM_TINY_REFILL_COUNT=32", NULL });
    expect_silent((const char *const[]){ "HAKMEM_REFILL_THREAD=0", NULL });
    expect_silent((const char *const[]){ "HAKMEM_REFILL_THREAD=1", NULL });
    expect_silent((const char *const[]){ "HAKMEM_REFILL_THREAD=off", NULL });
    expect_silent((const char *const[]){ "HAKMEM_REFILL_THREAD=yes", NULL });
    expect_silent((const char *const[]){ "HAKMEM_PURGE_DELAY_MS=200", NULL });
    expect_silent((const char *const[]){ "HAKMEM_VERBOSE=0", NULL });

    expect_one_warning("HAKMEM_TINY_REFILL_COUNT", "banana");
    expect_one_warning("HAKMEM_REFILL_THREAD", "banana");
    expect_one_warning("HAKMEM_PURGE_DELAY_MS", "12abc");

    /* HAKMEM_VERBOSE=1 prints the settings, with the values in effect. */
    const char *verbose[] = { "HAKMEM_VERBOSE=1", "HAKMEM_PURGE_DELAY_MS=1234", NULL };
    run_with(verbose, &res);
    expect_child_ok("HAKMEM_VERBOSE=1", &res);
    const char *names[] = { "HAKMEM_REFILL_THREAD", "HAKMEM_TINY_REFILL_COUNT",
                            "HAKMEM_PURGE_DELAY_MS" };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(strstr(res.err, names[i]) != NULL,
              "HAKMEM_VERBOSE=1: the settings printed on stderr do not include %s: \"%s\"",
              names[i], res.err);
    CHECK(strstr(res.err, "1234") != NULL,
          "HAKMEM_VERBOSE=1 HAKMEM_PURGE_DELAY_MS=1234: the value 1234 is not printed: \"%s\"",
          res.err);
    OK("HAKMEM_VERBOSE=1: prints the settings (%d lines on stderr, including "
       "HAKMEM_PURGE_DELAY_MS=1234 as set)", count_lines(res.err));
    return 0;
}
