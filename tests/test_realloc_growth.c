/* test_realloc_growth: a block grown a little at a time (a string built by appends, a vector
 * pushed one element at a time) is copied O(log n) times, not once per size class: when realloc
 * has to move a block of at most 256 KiB to grow it, the new block has at least a quarter more
 * room than the old one (hak_realloc). Grows one block by 1..64 bytes at a time from 100 B to
 * 200 KiB and counts the moves: at most log(2000)/log(1.25) = 34.1 of them, plus one for the
 * step into the first class past the quarter (measured: 22 with the rule, 42 without: one move
 * per size class). Contents survive every step. */
#define _GNU_SOURCE
#include "support/api.h"
#include <string.h>

int main(void)
{
    size_t size = 100, moves = 0;
    unsigned char *p = API(malloc)(size);
    CHECK(p != NULL, "malloc(100)");
    for (size_t i = 0; i < size; i++) p[i] = (unsigned char)(i * 7);
    uint64_t rng = 12345;
    while (size < 200 * 1024) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t next = size + 1 + (size_t)(rng >> 58);      /* 1..64 bytes more */
        unsigned char *q = API(realloc)(p, next);
        CHECK(q != NULL, "realloc(%zu)", next);
        CHECK(q[size - 1] == (unsigned char)((size - 1) * 7) && q[0] == 0,
              "realloc %zu -> %zu lost the contents", size, next);
        if (q != p) moves++;
        for (size_t i = size; i < next; i++) q[i] = (unsigned char)(i * 7);
        p = q;
        size = next;
    }
    for (size_t i = 0; i < size; i++)
        CHECK(p[i] == (unsigned char)(i * 7), "byte %zu of the grown block changed", i);
    API(free)(p);
    CHECK(moves <= 35, "growing 100 B -> 200 KiB by appends moved the block %zu times (at most 35 "
          "with a quarter more room on each move)", moves);
    printf("ok: 100 B -> %zu B by appends, %zu moves\n", size, moves);
    return 0;
}
