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

#define REMOTE_CHAIN_MAX   32
#define REMOTE_CHAIN_BYTES 4096u

__thread remote_chain_t hak_remote_chains[REMOTE_SLOTS] __attribute__((tls_model("initial-exec")));

/* The slab's owner as its tag names it now, for the owner's epoch (a hint: see slab_push_remote_chain). */
void remote_chain_send(remote_chain_t *c) {
    uint32_t owner_bits = slab_tag_of(c->head) & ~HAK_TAG_CLASS_MASK;
    slab_push_remote_chain(c->slab, c->head, c->tail, c->n, owner_bits);
    c->slab = NULL;
}

/* c holds another slab's chain, or none. An orphan's remote list has no owner taking it
 * concurrently, and the thread that adopts the slab wants those blocks at once: push them now
 * (`workloads churn`, whose threads free what their exited predecessors left, lost 12% when they
 * were kept). The chain's length is a power of two no larger than the size: a shift, not a
 * division. */
void remote_chain_start(remote_chain_t *c, slab_meta_t *s, void *p, uint32_t tag) {
    uint32_t owner_bits = tag & ~HAK_TAG_CLASS_MASK;
    uint32_t max = REMOTE_CHAIN_BYTES >> (31 - __builtin_clz(hak_class_size[tag & HAK_TAG_CLASS_MASK]));
    if (max < 2 || owner_bits == HAK_TAG_NO_OWNER) {
        slab_push_remote_chain(s, p, p, 1, owner_bits);
        return;
    }
    if (c->slab) remote_chain_send(c);
    c->slab = s;
    c->head = c->tail = p;
    c->n = 1;
    c->max = max < REMOTE_CHAIN_MAX ? max : REMOTE_CHAIN_MAX;
}

void remote_cache_flush(void) {
    for (unsigned i = 0; i < REMOTE_SLOTS; i++)
        if (hak_remote_chains[i].slab) remote_chain_send(&hak_remote_chains[i]);
}
