/* libc_baseline.c: stand-ins for hakmem's control calls, so that the standard-name tests can be
 * linked against glibc alone (cmake -DHAKMEM_TESTS_LIBC_BASELINE=ON). That checks the tests
 * themselves: a test that fails against glibc for a behaviour glibc has is a wrong test. Tests of
 * hakmem-only behaviour (its messages, its daemon) are not built this way. */
#define _GNU_SOURCE
#include <malloc.h>
#include <string.h>

#include "hakmem.h"

void hak_thread_flush(void) {}
void hak_trim(void) { malloc_trim(0); }
void hak_refill_thread_pause(int paused) { (void)paused; }
int hak_refill_thread_running(void) { return 0; }
void hak_stats_get(hak_stats_t *out) { memset(out, 0, sizeof *out); }
void hak_stats_print(FILE *out) { fputs("(glibc baseline: no hakmem statistics)\n", out); }
