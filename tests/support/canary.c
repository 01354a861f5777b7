/* canary.c: the fill pattern (canary.h). */
#include "canary.h"

#include <inttypes.h>
#include <stdbool.h>
#include <string.h>

#include "check.h"

/* The key is mixed once per block, so that small keys (seeds 1, 2, 3) still give unrelated words. */
static uint64_t mix(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31) ^ 0x5A5A5A5A5A5A5A5Aull;
}

/* Depends on the offset, so a block shifted against itself or overlapped by another shows. */
static inline uint64_t word(uint64_t mixed, size_t off)
{
    return mixed ^ ((uint64_t)off * 0xFF51AFD7ED558CCDull) ^ ((uint64_t)off << 40);
}

/* The next covered word offset after `off` in a block of `size` bytes. */
static inline size_t next_off(size_t size, size_t off)
{
    off += 8;
    if (size <= CANARY_DENSE_MAX || off < CANARY_EDGE || off + CANARY_EDGE >= size)
        return off;
    size_t next = (off + CANARY_STRIDE - 1) / CANARY_STRIDE * CANARY_STRIDE;
    size_t edge = (size - CANARY_EDGE) & ~(size_t)7;
    return next < edge ? next : edge;
}

void canary_fill(void *p, size_t size, uint64_t key)
{
    unsigned char *b = p;
    uint64_t m = mix(key);
    size_t off = 0;
    for (; off + 8 <= size; off = next_off(size, off)) {
        uint64_t w = word(m, off);
        memcpy(b + off, &w, 8);
    }
    if (off < size) { /* the last partial word: size % 8 bytes */
        uint64_t w = word(m, off);
        memcpy(b + off, &w, size - off);
    }
}

size_t canary_find_prefix(const void *p, size_t size, uint64_t key, size_t len)
{
    const unsigned char *b = p;
    uint64_t m = mix(key);
    if (len > size)
        len = size;
    size_t off = 0;
    for (; off < len; off = next_off(size, off)) {
        size_t n = len - off < 8 ? len - off : 8;
        uint64_t want = word(m, off), got = 0;
        memcpy(&got, b + off, n);
        if (memcmp(&got, &want, n) != 0) {
            for (size_t i = 0; i < n; i++)
                if (((const unsigned char *)&got)[i] != ((const unsigned char *)&want)[i])
                    return off + i;
        }
    }
    return len;
}

void canary_check_moved(const void *q, const void *orig, size_t orig_size, size_t len, const char *what)
{
    uint64_t key = canary_key(orig, orig_size);
    size_t bad = canary_find_prefix(q, orig_size, key, len);
    if (bad < len && bad < orig_size) {
        const unsigned char *b = q;
        FAIL("%s: block %p (%zu B, stamped at %p) corrupted at offset %zu: byte %02x, expected "
             "%02x", what, q, orig_size, orig, bad, b[bad],
             (unsigned)(word(mix(key), bad & ~(size_t)7) >> (8 * (bad & 7)) & 0xff));
    }
}

void check_zeroed(const void *p, size_t size, const char *what)
{
    const unsigned char *b = p;
    for (size_t off = 0; off < size; off = off + 8 <= size ? next_off(size, off) : size) {
        size_t n = size - off < 8 ? size - off : 8;
        uint64_t w = 0;
        memcpy(&w, b + off, n);
        if (w)
            FAIL("%s: %p (%zu B) not zeroed at offset %zu: %016" PRIx64, what, p, size, off, w);
    }
}
