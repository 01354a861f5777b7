/* proc.h: readings of this process (memory, CPU, faults) and child processes.
 *
 *   rss_bytes() vm_bytes()     resident and virtual size (/proc/self/statm, read with read(2):
 *                              stdio would allocate through the allocator under test)
 *   peak_rss_kib()             ru_maxrss
 *   cpu_seconds() minor_faults()   getrusage of the whole process
 *   mib(bytes)                 for messages
 *   env_u64(name, default)     a number from the environment (0x.. accepted), default if unset
 *   self_exe()                 this executable's path, to re-run it as a child in another mode
 *   run_child(argv, envp, &r)  run a program, stdin /dev/null, capture stdout and stderr
 *   describe_status(status)    "exited with status 1", "killed by signal 6 (Aborted)"
 *   run_misuse(fn, arg, &r)    run fn(arg) in a forked child (core dumps off, stderr captured);
 *                              the child names the pointer it is about to misuse with
 *                              misuse_report(p), which the parent gets in r.reported
 *   mentions_pointer(text, v)  text has "0x" followed by v's hex digits (any case, zeros) */
#ifndef HAK_TEST_SUPPORT_PROC_H
#define HAK_TEST_SUPPORT_PROC_H

/* What a test that looks at processes needs anyway: signals, limits, waitpid, errno. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef __cplusplus /* tests in C++ (test_new_delete.cpp) link the C library */
extern "C" {
#endif

size_t statm_field(int index);
static inline size_t rss_bytes(void) { return statm_field(1); }
static inline size_t vm_bytes(void) { return statm_field(0); }
static inline double mib(size_t bytes) { return (double)bytes / (double)((size_t)1 << 20); }
long peak_rss_kib(void);
double cpu_seconds(void);
long minor_faults(void);
uint64_t env_u64(const char *name, uint64_t def);

const char *self_exe(void);

struct child_result {
    int status;      /* as from waitpid */
    char out[65536]; /* stdout, NUL-terminated, truncated if longer */
    char err[65536]; /* stderr, NUL-terminated, truncated if longer */
};

/* argv[0] is a path; envp NULL keeps the current environment. */
void run_child(char *const argv[], char *const envp[], struct child_result *r);
const char *describe_status(int status);

struct misuse_result {
    int status;          /* as from waitpid */
    uintptr_t reported;  /* what the child passed to misuse_report, 0 if nothing */
    char err[8192];      /* the child's stderr, NUL-terminated, truncated if longer */
};
/* The child prints "TEST: returned" and exits 0 if fn returns. */
void run_misuse(void (*fn)(void *), void *arg, struct misuse_result *r);
void misuse_report(void *p);
int mentions_pointer(const char *text, uintptr_t v);

#ifdef __cplusplus
}
#endif

#endif /* HAK_TEST_SUPPORT_PROC_H */
