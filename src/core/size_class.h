/* Geometry and size classes: the one place that says how big things are and what each size is
 * called. The same words are used in code and docs:
 *
 *   tiny    1-128 B          classes 1-8 (16..128 by 16); batches of HAKMEM_TINY_REFILL_COUNT
 *                            blocks. Class 0 (8 B) is kept in the tables but unused: a free
 *                            block holds a link and the double-free key (free_list_guard.h),
 *                            two words, so 1-8 B take a 16-byte block
 *   small   129 B-32 KiB     classes 9-40; 64 KiB slabs, many per SuperSlab
 *   medium  32 KiB-256 KiB   classes 41-52; one slab spans a whole SuperSlab (its 31 block slabs)
 *   large   above 256 KiB    no class: each block is its own mapping (large.c)
 *
 * Above 128 B there are four classes per power of two ("bands"), so the rounding waste is at most
 * 25%. Every power of two from 16 B up is a class, which aligned allocation relies on (a 2^k block
 * in a 64 KiB-aligned slab is 2^k-aligned). */
#ifndef HAK_SIZE_CLASS_H
#define HAK_SIZE_CLASS_H
#include "platform/base.h"

/* ---- Geometry ------------------------------------------------------------------------------- */
/* A SuperSlab is 2 MiB, aligned to its size, so free() finds it by masking the address. Its first
 * 64 KiB slab holds the header (metadata for all slabs); slabs 1..31 hold blocks. Build-time
 * tunable: HAK_SS_SHIFT 21..22 (the slab stays 64 KiB; more slabs per SuperSlab). */
#ifndef HAK_SS_SHIFT
#define HAK_SS_SHIFT 21
#endif
#define HAK_SS_SIZE      ((size_t)1 << HAK_SS_SHIFT)
#define HAK_SS_MASK      (~(uintptr_t)(HAK_SS_SIZE - 1))
#define HAK_SLAB_SHIFT   16
#define HAK_SLAB_SIZE    ((size_t)1 << HAK_SLAB_SHIFT)
#define HAK_SLABS_PER_SS ((int)(HAK_SS_SIZE / HAK_SLAB_SIZE))
#if (HAK_SS_SHIFT - HAK_SLAB_SHIFT) > 6
#error "free_mask is 64 bits: at most 64 slabs per SuperSlab"
#endif

/* ---- Size classes ----------------------------------------------------------------------------- */
#define HAK_NUM_CLASSES   53
#define HAK_TINY_MAX      128
#define HAK_SMALL_MAX     32768
#define HAK_MEDIUM_MAX    262144      /* the largest class; above is large */
#define HAK_FIRST_SMALL   9
#define HAK_FIRST_MEDIUM  41
#define HAK_CLASS_TABLE_MAX 1024      /* sizes up to here find their class in a table */
#define HAK_CLASS_NONE    0xff

/* The class formula, written once. A size in (128 B, 256 KiB] with k = floor(log2(size - 1)) lies
 * in band k, (2^k, 2^(k+1)], which has four classes of width 2^(k-2). A macro so that the
 * compile-time table (size_class.c) and the inline function below are the same expression. */
#define HAK_BAND_CLASS(size, k) \
    (9u + ((unsigned)(k) - 7u) * 4u + (unsigned)(((size) - 1 - ((size_t)1 << (k))) >> ((k) - 2)))
#define HAK_TINY_CLASS(size)    ((size) <= 8 ? 1u : (unsigned)(((size) + 15) >> 4))

extern const uint8_t hak_class_table[HAK_CLASS_TABLE_MAX / 8 + 1] HAK_INTERNAL;   /* (size+7)>>3 -> class */
extern uint32_t hak_class_size[HAK_NUM_CLASSES] HAK_INTERNAL;
extern uint32_t hak_class_batch[HAK_NUM_CLASSES] HAK_INTERNAL;        /* blocks per batch */
/* Per class: ceil(2^64 / size), so that off % size == 0 iff off * recip <= recip - 1 (off < 2^32;
 * Lemire, Kaser and Kurz, "Faster remainder by direct computation"). Set by size_class_init. */
extern uint64_t hak_class_recip[HAK_NUM_CLASSES] HAK_INTERNAL;
void size_class_init(uint32_t tiny_batch) HAK_INTERNAL;

/* Class of a size up to HAK_CLASS_TABLE_MAX: one load from a constant table (the malloc fast path). */
HAK_INLINE unsigned size_class_by_table(size_t size) { return hak_class_table[(size + 7) >> 3]; }

/* Class of a size in (128 B, 256 KiB]. Inline: malloc of 1-256 KiB calls it on every allocation
 * (2.5% of Larson 1-32 KiB as a call). */
HAK_INLINE unsigned size_class_by_band(size_t size) {
    unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(size - 1));
    return HAK_BAND_CLASS(size, k);
}

/* Class of any size up to HAK_MEDIUM_MAX. */
HAK_INLINE unsigned size_class_of(size_t size) {
    return size <= HAK_CLASS_TABLE_MAX ? size_class_by_table(size) : size_class_by_band(size);
}

HAK_INLINE bool class_is_medium(unsigned cls) { return cls >= HAK_FIRST_MEDIUM; }

#endif
