/* Unit test of the size classes: every size maps to the smallest class that fits it (class 0 is
 * unused), rounding
 * waste stays within 25% above 128 B, classes are 16-byte multiples from 16 B on, every power of
 * two from 16 B to 256 KiB is a class (aligned allocation relies on it), and batches are sized by
 * bytes (32 blocks up to 128 B, 32 KiB above, at least 4 blocks up to 32 KiB and 2 above). */
#include <stdio.h>
#include <stdlib.h>
#include "core/size_class.h"
#include "core/central.h"
#include "support/check.h"

/* Both ways the library finds a class: the table the malloc fast path reads, and the band formula
 * (for sizes above the table); where both apply they must agree. */
static unsigned class_of(size_t size) {
    unsigned c = size_class_of(size);
    if (size > HAK_TINY_MAX && size <= HAK_CLASS_TABLE_MAX && size_class_by_band(size) != c) return HAK_CLASS_NONE;
    return c;
}

int main(void) {
    hak_free(hak_malloc(1));      /* initialises options and the tables */
    for (unsigned c = 1; c < HAK_NUM_CLASSES; c++) {
        EXPECT(hak_class_size[c] > hak_class_size[c - 1], "class %u not increasing", c);
        EXPECT(hak_class_size[c] % 16 == 0, "class %u size %u not a multiple of 16", c, hak_class_size[c]);
    }
    /* Class 0 (8 B) is kept in the tables but no size maps to it: a free block holds a link and
     * the double-free key (free_list_guard.h), so the smallest block is 16 B. */
    EXPECT(hak_class_size[0] == 8, "class 0 is %u, not 8", hak_class_size[0]);
    EXPECT(hak_class_size[1] == 16, "first used class is %u, not 16", hak_class_size[1]);
    EXPECT(hak_class_size[HAK_NUM_CLASSES - 1] == HAK_MEDIUM_MAX, "last class %u", hak_class_size[HAK_NUM_CLASSES - 1]);
    EXPECT(hak_class_size[HAK_FIRST_MEDIUM - 1] == HAK_SMALL_MAX, "last small class is %u", hak_class_size[HAK_FIRST_MEDIUM - 1]);
    EXPECT(hak_class_size[HAK_FIRST_SMALL - 1] == HAK_TINY_MAX, "last tiny class is %u", hak_class_size[HAK_FIRST_SMALL - 1]);

    for (size_t size = 1; size <= HAK_MEDIUM_MAX; size++) {
        unsigned c = class_of(size);
        if (c >= HAK_NUM_CLASSES) { EXPECT(0, "size %zu -> class %u out of range", size, c); break; }
        EXPECT(hak_class_size[c] >= size, "size %zu -> class %u of %u bytes", size, c, hak_class_size[c]);
        EXPECT(c >= 1, "size %zu -> the unused class 0", size);
        EXPECT(c == 1 || hak_class_size[c - 1] < size, "size %zu -> class %u, but class %u fits", size, c, c - 1);
        if (size > 128)
            EXPECT((hak_class_size[c] - size) * 4 <= size, "size %zu wastes %zu bytes", size, hak_class_size[c] - size);
        if (hak_test_failures > 20) break;
    }
    for (size_t p = 16; p <= HAK_MEDIUM_MAX; p <<= 1)
        EXPECT(hak_class_size[class_of(p)] == p, "power of two %zu is not a class", p);

    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        uint32_t n = hak_class_batch[c], size = hak_class_size[c];
        EXPECT(n >= 1, "class %u has an empty batch", c);
        uint32_t min = c < HAK_FIRST_MEDIUM ? 4 : 2;
        if (size <= 128) EXPECT(n == 32, "class %u (%u B) batch %u, expected 32", c, size, n);
        else EXPECT(n <= 32 && (n == min || n * size <= 32768) && n >= min,
                    "class %u (%u B) batch %u: not 32 KiB worth within [%u, 32]", c, size, n, min);
    }
    EXPECT(central_ring_high() >= 1 && central_ring_high() * HAK_SLAB_SIZE <= (2u << 20),
           "a pool of %u fresh slabs: not 1 slab..2 MiB", central_ring_high());
    printf("size classes: %d classes checked, every size 1..%d: %s\n", HAK_NUM_CLASSES, HAK_MEDIUM_MAX,
           hak_test_failures ? "FAILED" : "ok");
    return hak_test_failures != 0;
}
