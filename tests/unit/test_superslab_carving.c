/* Unit test of SuperSlab carving: blocks of every class lie in a registered, 2 MiB-aligned
 * SuperSlab whose header tag names their class, at a whole multiple of the block size from their
 * slab's start, never in the header slab; a slab's worth of blocks are distinct and do not
 * overlap; a medium class fills a whole SuperSlab; and after everything is freed and trimmed
 * the class owns no slab any more. Runs with the daemon off (set by ctest) so the pools are
 * deterministic. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/check.h"
#include "core/superslab.h"
#include "core/registry.h"


static int cmp_ptr(const void *a, const void *b) {
    uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
    return x < y ? -1 : x > y;
}

static void check_class(unsigned cls) {
    uint32_t size = hak_class_size[cls];
    uint32_t per_slab = (uint32_t)((cls >= HAK_FIRST_MEDIUM ? HAK_SS_SIZE - HAK_SLAB_SIZE : HAK_SLAB_SIZE) / size);
    uint32_t n = per_slab * 2 + 3;               /* more than one slab's worth */
    void **blocks = calloc(n, sizeof *blocks);
    for (uint32_t i = 0; i < n; i++) {
        char *p = hak_malloc(size);
        blocks[i] = p;
        if (!p) { EXPECT(0, "class %u: malloc(%u) failed", cls, size); break; }
        superslab_t *ss = ss_of(p);
        unsigned idx = slab_index_of(p);
        EXPECT(registry_contains((uintptr_t)p), "class %u: %p not in a registered SuperSlab", cls, (void *)p);
        EXPECT(((uintptr_t)ss & (HAK_SS_SIZE - 1)) == 0 && ss->magic == HAK_SS_MAGIC, "class %u: bad SuperSlab header", cls);
        EXPECT(idx >= 1, "class %u: block %p in the header slab", cls, (void *)p);
        EXPECT(block_class(p) == cls, "class %u: slab says class %u", cls, block_class(p));
        slab_meta_t *m = slab_of(p);
        size_t off = (size_t)(p - slab_base(ss, m->index));
        EXPECT(off % size == 0 && off / size < m->capacity, "class %u: offset %zu not a block start", cls, off);
        EXPECT(m->capacity == per_slab, "class %u: capacity %u, expected %u", cls, m->capacity, per_slab);
        memset(p, (int)(i & 0xff), size);
    }
    qsort(blocks, n, sizeof *blocks, cmp_ptr);
    for (uint32_t i = 1; i < n; i++)
        EXPECT((char *)blocks[i - 1] + size <= (char *)blocks[i], "class %u: blocks overlap", cls);
    for (uint32_t i = 0; i < n; i++) hak_free(blocks[i]);
    free(blocks);
}

int main(void) {
    hak_free(hak_malloc(1));
    for (unsigned cls = 1; cls < HAK_NUM_CLASSES; cls++) check_class(cls);   /* class 0 is unused */
    hak_trim();
    hak_stats_t s;
    hak_stats_get(&s);
    for (unsigned cls = 0; cls < HAK_NUM_CLASSES; cls++)
        EXPECT(s.class_slabs[cls] == 0, "class %u still owns %u slabs after free-all and trim", cls, s.class_slabs[cls]);
    EXPECT(s.superslabs_active == 0, "%llu SuperSlabs still active", (unsigned long long)s.superslabs_active);
    printf("superslab carving: %d classes: %s\n", HAK_NUM_CLASSES, hak_test_failures ? "FAILED" : "ok");
    return hak_test_failures != 0;
}
