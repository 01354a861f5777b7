/* Size classes: 8 B, then 16..128 B by 16, then four classes per power of two up to 256 KiB, so
 * the rounding waste above 128 B is at most 25%. Every power of two from 16 B up is a class, which
 * aligned allocation relies on (a 2^k block in a 64 KiB-aligned slab is 2^k-aligned).
 * Batches are sized in bytes, not blocks: the seed measured 32 blocks (4 KiB at 128 B) best and
 * larger batches worse (L1 pollution), so larger classes take fewer blocks per batch. */
#include "core/internal.h"

/* The size -> class table is a compile-time constant: the malloc fast path reads it before it
 * knows whether start-up happened, so it must never be written while threads run. */
#define TABLE_K(s)      (31 - __builtin_clz((unsigned)(s) - 1u))
#define TABLE_BANDED(s) (9u + (TABLE_K(s) - 7u) * 4u + (((unsigned)(s) - 1u - (1u << TABLE_K(s))) >> (TABLE_K(s) - 2)))
#define TABLE_CLASS(i)  ((i) * 8 <= 8 ? 0u : (i) * 8 <= 128 ? (unsigned)((i) * 8 + 15) >> 4 : TABLE_BANDED((i) * 8))
#define TABLE_ROW(i)    TABLE_CLASS(i), TABLE_CLASS(i + 1), TABLE_CLASS(i + 2), TABLE_CLASS(i + 3), \
                        TABLE_CLASS(i + 4), TABLE_CLASS(i + 5), TABLE_CLASS(i + 6), TABLE_CLASS(i + 7)
const uint8_t hak_class_table[HAK_TABLE_MAX / 8 + 1] = {
    TABLE_ROW(0),  TABLE_ROW(8),  TABLE_ROW(16), TABLE_ROW(24), TABLE_ROW(32),  TABLE_ROW(40),
    TABLE_ROW(48), TABLE_ROW(56), TABLE_ROW(64), TABLE_ROW(72), TABLE_ROW(80),  TABLE_ROW(88),
    TABLE_ROW(96), TABLE_ROW(104), TABLE_ROW(112), TABLE_ROW(120), TABLE_CLASS(128),
};
uint32_t hak_class_size[HAK_NUM_CLASSES];
uint32_t hak_class_batch[HAK_NUM_CLASSES];
uint32_t hak_class_ring_high[HAK_NUM_CLASSES];

#define BATCH_BYTES 32768u        /* batch size target above 128 B */
#define BATCH_MIN_SMALL 4u        /* at least this many blocks per batch up to 32 KiB */
#define BATCH_MIN_MEDIUM 2u       /* and above */
#define RING_BYTES 262144u        /* fresh slabs a class's ring may hold, in bytes */

static uint32_t clamp_u32(uint32_t v, uint32_t lo, uint32_t hi) { return v < lo ? lo : v > hi ? hi : v; }


static unsigned class_of_any(size_t size) {
    if (size <= 8) return 0;
    if (size <= 128) return (unsigned)((size + 15) >> 4);
    return size_class_of_large(size);
}

void size_class_init(uint32_t refill_count) {
    hak_class_size[0] = 8;
    for (unsigned c = 1; c <= 8; c++) hak_class_size[c] = 16 * c;
    for (unsigned c = 9; c < HAK_NUM_CLASSES; c++) {
        unsigned k = 7 + (c - 9) / 4, step = (c - 9) % 4 + 1;
        hak_class_size[c] = (1u << k) + step * (1u << (k - 2));
    }
    for (unsigned i = 0; i <= HAK_TABLE_MAX / 8; i++)
        if (hak_class_table[i] != class_of_any((size_t)i * 8))
            hak_fatal("hakmem: size class table disagrees with the class formula at %u bytes", i * 8);
    for (unsigned c = 0; c < HAK_NUM_CLASSES; c++) {
        uint32_t size = hak_class_size[c];
        uint32_t n = size <= 128 ? refill_count : BATCH_BYTES / size;
        uint32_t min = c < HAK_FIRST_MEDIUM ? BATCH_MIN_SMALL : BATCH_MIN_MEDIUM;
        if (n < min) n = min;
        if (n > refill_count) n = refill_count;
        if (n < 1) n = 1;
        hak_class_batch[c] = n;
        hak_class_ring_high[c] = clamp_u32(RING_BYTES / HAK_SLAB_SIZE, 1, (uint32_t)hak_opt.ring_high);
    }
}
