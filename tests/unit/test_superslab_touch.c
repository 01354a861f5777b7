/* Unit test of superslab_touch_if_mapped, the daemon's read of the pages of a slab a thread posted
 * (background.h): it reads every page of a range whose SuperSlab is registered, and reads nothing
 * of one whose registry entry is clear (a SuperSlab retired since the post, possibly unmapped).
 * A region of no access stands in for the SuperSlab: a read of it is a SIGSEGV, seen in a child. */
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/check.h"
#include "core/superslab.h"
#include "core/registry.h"
#include "platform/os.h"

/* How a child that calls superslab_touch_if_mapped on slab 1 of ss ends: 0 if it returned, else
 * the signal that killed it. */
static int touch_in_child(char *ss) {
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);   /* a sanitizer's handler would report and exit instead */
        signal(SIGBUS, SIG_DFL);
        superslab_touch_if_mapped(ss + HAK_SLAB_SIZE, HAK_SLAB_SIZE);
        _exit(0);
    }
    int status = 0;
    EXPECT(pid > 0 && waitpid(pid, &status, 0) == pid, "fork/waitpid failed");
    if (WIFSIGNALED(status)) return WTERMSIG(status);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exited with status %d", status);
    return 0;
}

int main(void) {
    hak_free(hak_malloc(1));   /* initialised: the RCU layer and the registry exist */
    char *ss = os_map_aligned(HAK_SS_SIZE, HAK_SS_SIZE);
    EXPECT(ss != NULL, "os_map_aligned failed");
    if (!ss) return 1;
    EXPECT(mprotect(ss, HAK_SS_SIZE, PROT_NONE) == 0, "mprotect failed");

    EXPECT(!registry_contains((uintptr_t)ss), "a region of our own is registered already");
    int sig = touch_in_child(ss);
    EXPECT(sig == 0, "not registered: the touch read the range anyway (signal %d)", sig);

    registry_set((uintptr_t)ss, true);
    sig = touch_in_child(ss);
    EXPECT(sig == SIGSEGV || sig == SIGBUS, "registered: the touch did not read the range (signal %d)", sig);
    registry_set((uintptr_t)ss, false);

    os_unmap(ss, HAK_SS_SIZE);
    printf("superslab touch: %s\n", hak_test_failures ? "FAILED" : "ok");
    return hak_test_failures != 0;
}
