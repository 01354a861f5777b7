/* Checking mode (HAKMEM_CHECK=1): slower, for debugging. On top of what the default build catches
 * (double frees on the owner's path, interior pointers), it catches
 *   - every double free of a small block, whichever threads free it: one bit per block says
 *     whether it is in use, set when it is handed out and cleared when it is freed, both with
 *     atomic read-modify-writes, so of two frees of one block exactly one finds the bit set;
 *   - writes past the end of what the program asked for: each block is taken one byte larger
 *     than asked, the slack after the asked-for size is filled with a canary (at most
 *     CANARY_MAX bytes of it) and its length is kept in the block's last byte or two; free checks
 *     them;
 *   - interior pointers at once (the default build sees those on the owner's path only when the
 *     block leaves the thread's list);
 *   - a corrupted free list as soon as a block of it would be handed out (registry, class and
 *     boundary of every block a refill brings).
 * How it stays off the fast paths: check_mode.h. Blocks above 256 KiB and aligned allocations
 * beyond 16 bytes are large mappings, which get none of this but the large-block double free
 * check every build has (large.c). Not with AddressSanitizer builds, whose poisoning does more. */
#include <errno.h>
#include "core/check_mode.h"
#include "core/thread_heap.h"
#include "core/central.h"
#include "core/large.h"
#include "core/options.h"
#include "platform/os.h"

bool hak_check_mode;

void check_mode_init(void) {
#if !defined(HAK_ASAN)
    hak_check_mode = hak_opt->check != 0;   /* ASan builds: ASan's poisoning checks more */
#endif
}

/* ---- Which blocks are in use -------------------------------------------------------------------- */
/* One bit per 16 bytes of a SuperSlab (a block starts on a 16-byte boundary), in the unused upper
 * half of its header slab: mapped with the SuperSlab, zero when fresh, and all clear again before
 * the SuperSlab is retired (every block was freed). Relaxed RMWs: the bit only decides which of
 * two frees is the bad one; the block's contents are ordered by whatever handed the pointer from
 * the allocating thread to the freeing one. */
#define LIVE_OFFSET ((size_t)32 << 10)
#define LIVE_BYTES  (HAK_SS_SIZE / 16 / 8)
_Static_assert(sizeof(superslab_t) <= LIVE_OFFSET, "the SuperSlab header overlaps the live bits");
_Static_assert(LIVE_OFFSET + LIVE_BYTES <= HAK_SLAB_SIZE, "the live bits do not fit the header slab");

static _Atomic uint64_t *live_word(void *p, uint64_t *bit) {
    uintptr_t g = ((uintptr_t)p & (HAK_SS_SIZE - 1)) >> 4;
    *bit = 1ull << (g & 63);
    return (_Atomic uint64_t *)((char *)ss_of(p) + LIVE_OFFSET) + (g >> 6);
}

/* ---- The canary ------------------------------------------------------------------------------ */
/* slack = block size - asked size, >= 1. It is in the last byte (slack < 0x80) or, less one, in
 * the last two (high bit set on the last; slack <= 32768, the step between the largest classes,
 * since the block is the smallest class above the asked size). The canary runs from the asked size to the tail, at most CANARY_MAX bytes: an
 * overrun starts right after the end. */
#define CANARY_MAX 64

static unsigned char canary_byte(size_t i) { return (unsigned char)(0xa5 ^ (i * 0x3b)); }
static size_t tail_len(size_t slack) { return slack < 0x80 ? 1 : 2; }

static void put_canary(unsigned char *b, size_t size, size_t asked) {
    size_t slack = size - asked, end = size - tail_len(slack);
    for (size_t i = asked; i < end && i < asked + CANARY_MAX; i++) b[i] = canary_byte(i);
    if (slack < 0x80) {
        b[size - 1] = (unsigned char)slack;
    } else {
        b[size - 1] = (unsigned char)(0x80 | ((slack - 1) >> 8));
        b[size - 2] = (unsigned char)(slack - 1);
    }
}

/* The asked size, or SIZE_MAX if the tail was overwritten. */
static size_t asked_size(const unsigned char *b, size_t size) {
    unsigned t = b[size - 1];
    size_t slack = t < 0x80 ? t : (((size_t)(t & 0x7f) << 8) | b[size - 2]) + 1;
    return slack == 0 || slack > size ? SIZE_MAX : size - slack;
}

static void check_canary(void *p, unsigned cls) {
    unsigned char *b = p;
    size_t size = hak_class_size[cls], asked = asked_size(b, size);
    if (asked == SIZE_MAX)
        hak_fatal("hakmem: free(): write past the end of block %p (its last byte, which records the asked size, was overwritten)", p);
    size_t end = size - tail_len(size - asked);
    for (size_t i = asked; i < end && i < asked + CANARY_MAX; i++)
        if (b[i] != canary_byte(i))
            hak_fatal("hakmem: free(): write past the end of block %p (%zu bytes asked for; byte %zu changed)", p, asked, i);
}

/* ---- Handing out ------------------------------------------------------------------------------- */

/* A block a list yields must be a block of the class: else the list was corrupted. */
static void check_listed(void *p, unsigned cls) {
    if (!registry_contains((uintptr_t)p) || block_class(p) != cls || !block_at_boundary(p, cls))
        hak_fatal("hakmem: malloc(): corrupted free list: it yields %p, not a block of %u bytes (a write after free?)",
                  p, hak_class_size[cls]);
}

static void *hand_out(void *p, unsigned cls, size_t asked) {
    check_listed(p, cls);
    uint64_t bit;
    _Atomic uint64_t *w = live_word(p, &bit);
    if (atomic_fetch_or_explicit(w, bit, memory_order_relaxed) & bit)
        hak_fatal("hakmem: malloc(): corrupted free list: block %p is in use already", p);
    block_clear_free_key(p);
    put_canary(p, hak_class_size[cls], asked);
    return p;
}

/* One block of the refill's batch; the rest go straight back to their slab (so the thread's list
 * stays empty and the next malloc comes here again). */
void *check_alloc(size_t size) {
    if (size >= HAK_MEDIUM_MAX) return large_alloc(size, 16, false);   /* no room for a byte more */
    unsigned cls = size_class_of(size + 1);
    void *batch;
    if (!heap_refill(cls, 1, &batch)) {
        errno = ENOMEM;
        return NULL;
    }
    void *rest = block_next(batch);
    for (void *b = rest; b; b = block_next(b)) check_listed(b, cls);
    if (rest) heap_give_back(cls, rest, UINT32_MAX);
    return hand_out(batch, cls, size);
}

void *check_alloc_orphan(size_t size) {
    if (size >= HAK_MEDIUM_MAX) return large_alloc(size, 16, false);
    unsigned cls = size_class_of(size + 1);
    void *p = central_alloc_one(cls);
    if (!p) {
        errno = ENOMEM;
        return NULL;
    }
    return hand_out(p, cls, size);
}

/* ---- Taking back ------------------------------------------------------------------------------- */

bool check_free(void *p, uint32_t tag) {
    unsigned cls = tag & HAK_TAG_CLASS_MASK;
    free_check_boundary(p, cls, "free");
    uint64_t bit;
    _Atomic uint64_t *w = live_word(p, &bit);
    /* Look first: a free block's first bytes are links, not its canary. */
    if (!(atomic_load_explicit(w, memory_order_relaxed) & bit)) hak_report_double_free("free", p);
    check_canary(p, cls);
    if (!(atomic_fetch_and_explicit(w, ~bit, memory_order_relaxed) & bit))
        hak_report_double_free("free", p);   /* another thread freed it meanwhile */
    if ((tag & ~HAK_TAG_CLASS_MASK) != heap_owner_bits()) return false;   /* remote: the caller pushes */
    block_set_free_key(p);
    block_set_next(p, NULL);
    heap_give_back(cls, p, 1);   /* our slab: straight back to its free list */
    return true;
}

size_t check_usable_size(void *p, unsigned cls) {
    size_t asked = asked_size(p, hak_class_size[cls]);
    return asked == SIZE_MAX ? hak_class_size[cls] : asked;
}
