/* The remote-free cache: a thread that frees blocks of another thread's slab keeps them in a small
 * table, one chain per slab, and sends a chain to the slab's remote list when it holds
 * REMOTE_CHAIN_BYTES (at most REMOTE_CHAIN_MAX blocks), when another slab needs its entry, or when
 * the thread flushes or exits.
 *
 * Why: a remote free was a compare-and-swap on the remote word of the owner's slab, a line the
 * owner takes with an exchange every time it collects, so nearly every remote free waited for that
 * line to cross cores (`workloads server`, 2 threads, 45% of frees remote: slab_push_remote 11.6%
 * of all samples, 73% of them on the CAS). A chain costs one such CAS for up to REMOTE_CHAIN_MAX
 * blocks; the links are written in the freeing thread's own cache.
 *
 * What it costs: a block reaches its owner later, so the owner may take a fresh slab where it would
 * have reused that block; the blocks kept are bounded per thread (REMOTE_SLOTS chains of about
 * REMOTE_CHAIN_BYTES, about 128 KiB). A kept block is in use as far as its slab knows, so the
 * slab cannot be released or its SuperSlab retired meanwhile: the metadata it points into stays
 * valid. A block of 4 KiB or more is sent at once (a chain of one is the old push).
 *
 * Memory order: the table is the thread's own (plain accesses). The chain's links are plain
 * stores published by the release CAS in slab_push_remote_chain; the owner's acquire exchange in
 * slab_collect_remote sees them. */
#include "core/remote_cache.h"
#include "core/size_class.h"

#define REMOTE_SLOTS       32
#define REMOTE_CHAIN_MAX   32
#define REMOTE_CHAIN_BYTES 4096u

typedef struct remote_chain {
    slab_meta_t *slab;      /* NULL: the entry is free */
    void        *head, *tail;
    uint32_t     n, max;
} remote_chain_t;

static __thread remote_chain_t remote_chains[REMOTE_SLOTS] __attribute__((tls_model("initial-exec")));

/* Slab metadata is 128-byte aligned and laid out by slab index; the SuperSlab's address bits are
 * mixed in so that slabs of the same index in different SuperSlabs do not share an entry. */
static remote_chain_t *chain_of(slab_meta_t *s) {
    uintptr_t a = (uintptr_t)s;
    return &remote_chains[((a >> 7) ^ (a >> 21)) & (REMOTE_SLOTS - 1)];
}

/* The slab's owner as its tag names it now, for the owner's epoch (a hint: see slab_push_remote_chain). */
static void chain_send(remote_chain_t *c) {
    uint32_t owner_bits = slab_tag_of(c->head) & ~HAK_TAG_CLASS_MASK;
    slab_push_remote_chain(c->slab, c->head, c->tail, c->n, owner_bits);
    c->slab = NULL;
}

void remote_cache_put(slab_meta_t *s, void *p, unsigned cls) {
    remote_chain_t *c = chain_of(s);
    if (HAK_LIKELY(c->slab == s)) {
        block_set_next(p, c->head);
        c->head = p;
        if (++c->n >= c->max) chain_send(c);
        return;
    }
    /* A power of two no larger than the size: a shift, not a division. An orphan's remote list has
     * no owner taking it concurrently, and the thread that adopts the slab wants those blocks at
     * once: push them now (`workloads churn`, whose threads free what their exited predecessors
     * left, lost 12% when they were kept). */
    uint32_t owner_bits = slab_tag_of(p) & ~HAK_TAG_CLASS_MASK;
    uint32_t max = REMOTE_CHAIN_BYTES >> (31 - __builtin_clz(hak_class_size[cls]));
    if (max < 2 || owner_bits == HAK_TAG_NO_OWNER) {
        slab_push_remote_chain(s, p, p, 1, owner_bits);
        return;
    }
    if (c->slab) chain_send(c);
    c->slab = s;
    c->head = c->tail = p;
    c->n = 1;
    c->max = max < REMOTE_CHAIN_MAX ? max : REMOTE_CHAIN_MAX;
}

void remote_cache_flush(void) {
    for (unsigned i = 0; i < REMOTE_SLOTS; i++)
        if (remote_chains[i].slab) chain_send(&remote_chains[i]);
}
