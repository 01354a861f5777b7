/* consumer: built against one of hakmem's CMake targets; checks that it got what it linked:
 * malloc is hakmem's (hakmem::hakmem, hakmem::hakmem_static) or libc's (hakmem::prefixed), and the
 * hak_* API works. Prints one line; exit status 1 on any mismatch. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hakmem.h"

int main(void) {
    void *(*volatile std_malloc)(size_t) = malloc;
    void *(*volatile hak)(size_t) = hak_malloc;
    int replaced = std_malloc == hak;
#ifdef CONSUMER_PREFIXED
    if (replaced) { fprintf(stderr, "consumer: prefixed library replaced malloc\n"); return 1; }
#else
    if (!replaced) { fprintf(stderr, "consumer: malloc is not hakmem's\n"); return 1; }
#endif
    char *p = hak_malloc(100);
    strcpy(p, "hakmem");
    hak_stats_t s;
    hak_stats_get(&s);
    if (s.slabs_in_use == 0) { fprintf(stderr, "consumer: no slab in use after hak_malloc\n"); return 1; }
    printf("consumer: malloc %s, hak_malloc ok (%s), %llu slabs in use\n", replaced ? "is hakmem's" : "is libc's",
           p, (unsigned long long)s.slabs_in_use);
    hak_free(p);
    return 0;
}
