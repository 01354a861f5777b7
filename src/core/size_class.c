/* Size classes (the formula and the names are in size_class.h). Batches are sized in bytes, not
 * blocks: the seed measured 32 blocks (4 KiB at 128 B) best and larger batches worse (L1
 * pollution), so larger classes take fewer blocks per batch. */
#include "core/size_class.h"
#include "platform/os.h"

/* The size -> class table is a compile-time constant: the malloc fast path reads it before it
 * knows whether start-up happened, so it must never be written while threads run. Entry i is the
 * class of size 8i. */
#define TABLE_K(s)      (31 - __builtin_clz((unsigned)(s) - 1u))
#define TABLE_CLASS(i)  ((i) * 8 <= HAK_TINY_MAX ? HAK_TINY_CLASS((i) * 8) : HAK_BAND_CLASS((size_t)(i) * 8, TABLE_K((i) * 8)))
#define TABLE_ROW(i)    TABLE_CLASS(i), TABLE_CLASS(i + 1), TABLE_CLASS(i + 2), TABLE_CLASS(i + 3), \
                        TABLE_CLASS(i + 4), TABLE_CLASS(i + 5), TABLE_CLASS(i + 6), TABLE_CLASS(i + 7)
const uint8_t hak_class_table[HAK_CLASS_TABLE_MAX / 8 + 1] = {
    TABLE_ROW(0),  TABLE_ROW(8),  TABLE_ROW(16), TABLE_ROW(24), TABLE_ROW(32),  TABLE_ROW(40),
    TABLE_ROW(48), TABLE_ROW(56), TABLE_ROW(64), TABLE_ROW(72), TABLE_ROW(80),  TABLE_ROW(88),
    TABLE_ROW(96), TABLE_ROW(104), TABLE_ROW(112), TABLE_ROW(120), TABLE_CLASS(128),
};
_Static_assert(HAK_CLASS_TABLE_MAX / 8 == 128, "the table rows above cover 1 KiB");
uint32_t hak_class_size[HAK_NUM_CLASSES];
uint32_t hak_class_batch[HAK_NUM_CLASSES];
uint64_t hak_class_recip[HAK_NUM_CLASSES];

#define BATCH_BYTES 32768u        /* batch size target above 128 B */
#define BATCH_MIN_SMALL 4u        /* at least this many blocks per batch up to 32 KiB */
#define BATCH_MIN_MEDIUM 2u       /* and above */

/* The inverse of the class formula: the largest size of each class. */
static uint32_t class_max_size(unsigned c) {
    if (c < HAK_FIRST_SMALL) return c == 0 ? 8 : 16 * c;
    unsigned k = 7 + (c - HAK_FIRST_SMALL) / 4, step = (c - HAK_FIRST_SMALL) % 4 + 1;
    return (1u << k) + step * (1u << (k - 2));
}

void size_class_init(uint32_t tiny_batch) {
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        uint32_t size = class_max_size(c);
        hak_class_size[c] = size;
        /* Class 0 (8 B) stays in the tables, unused: no size maps to it (size_class.h). */
        HAK_ASSERT(c == 0 || (size_class_of(size) == c && size_class_of(size - 1) <= c));
        uint32_t n = size <= HAK_TINY_MAX ? tiny_batch : BATCH_BYTES / size;
        uint32_t min = class_is_medium(c) ? BATCH_MIN_MEDIUM : BATCH_MIN_SMALL;
        if (n < min) n = min;
        if (n > tiny_batch) n = tiny_batch;
        if (n < 1) n = 1;
        hak_class_batch[c] = n;
        hak_class_recip[c] = UINT64_MAX / size + 1;
    }
    if (hak_class_size[HAK_FIRST_SMALL] != HAK_TINY_MAX + 32 || hak_class_size[HAK_FIRST_MEDIUM - 1] != HAK_SMALL_MAX
        || hak_class_size[HAK_NUM_CLASSES - 1] != HAK_MEDIUM_MAX)
        hak_fatal("hakmem: size class constants disagree with the class formula");
    for (unsigned i = 1; i <= HAK_CLASS_TABLE_MAX / 8; i++)
        HAK_ASSERT(hak_class_table[i] == size_class_by_band(i * 8) || i * 8 <= HAK_TINY_MAX);
}
