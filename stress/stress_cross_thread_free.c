/* stress_cross_thread_free: blocks freed by threads other than the one that allocated them.
 *
 * Phase 1, producer/consumer: half the workers allocate (mixed calls and sizes, canary stamped)
 * and hand each block to one of the consumers through a bounded queue; consumers check the canary,
 * then free the block, or realloc it first (a realloc of another thread's block frees it in the
 * consumer), so every block dies in a thread that did not allocate it. Producers send a stop mark
 * when their budget is spent.
 *
 * Phase 2, all-to-all: every worker allocates a block, stamps it, and swaps it into a random slot
 * of a shared table, taking out whatever was there (allocated by anyone), which it checks and
 * frees or resizes and puts back. At the end the main thread empties the table.
 *
 * Blocks travel with their size packed in one word (stress_common.h: pack_block). */
#include "stress_common.h"

/* ---- Phase 1: bounded queues (one per consumer; mutex + condition variables) ------------------- */
#define QCAP 512
#define STOP_MARK UINT64_MAX

typedef struct queue {
    pthread_mutex_t lock;
    pthread_cond_t not_empty, not_full;
    unsigned head, count;
    uint64_t items[QCAP];
} queue_t;

static queue_t *queues;
static unsigned nproducers, nconsumers;

static void queue_put(queue_t *q, uint64_t v)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == QCAP) pthread_cond_wait(&q->not_full, &q->lock);
    q->items[(q->head + q->count++) % QCAP] = v;
    pthread_cond_signal(&q->not_empty);
    pthread_mutex_unlock(&q->lock);
}

static uint64_t queue_get(queue_t *q)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == 0) pthread_cond_wait(&q->not_empty, &q->lock);
    uint64_t v = q->items[q->head];
    q->head = (q->head + 1) % QCAP;
    q->count--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return v;
}

/* Sizes that fit the packed form: everything rng_size gives, capped below 1 MiB. */
static size_t xsize(rng_t *r)
{
    size_t n = rng_size(r);
    return n >= PACK_MAX_SIZE ? PACK_MAX_SIZE - 1 : n;
}

static void *producer(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    rng_t r = rng_for(opt.seed, 100 + id);
    uint64_t done = 0;
    while (stress_continue(done)) {
        size_t size = xsize(&r);
        void *p = alloc_any(&r, size);
        queue_put(&queues[rng_below(&r, nconsumers)], pack_block(p, size));
        done++;
        if ((done & 255) == 0) stress_count(256);
    }
    stress_count(done & 255);
    for (unsigned c = 0; c < nconsumers; c++) queue_put(&queues[c], STOP_MARK);
    return NULL;
}

static void *consumer(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    rng_t r = rng_for(opt.seed, 200 + id);
    unsigned stops = 0;
    uint64_t done = 0;
    while (stops < nproducers) {
        uint64_t v = queue_get(&queues[id]);
        if (v == STOP_MARK) {
            stops++;
            continue;
        }
        void *p = packed_ptr(v);
        size_t size = packed_size(v);
        if (rng_below(&r, 4) == 0) {
            size_t n = xsize(&r);
            p = realloc_checked(p, size, n);
            size = n;
        }
        free_checked(p, size, "consumer free");
        if ((++done & 255) == 0) stress_count(256);
    }
    stress_count(done & 255);
    return NULL;
}

/* ---- Phase 2: all-to-all through a shared table --------------------------------------------------- */
#define TABLE_SLOTS 4096
static _Atomic uint64_t table[TABLE_SLOTS];

static void *all_to_all(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    rng_t r = rng_for(opt.seed, 300 + id);
    uint64_t done = 0;
    while (stress_continue(done)) {
        size_t size = xsize(&r);
        void *p = alloc_any(&r, size);
        /* acq_rel: our stamp is published with the block; the previous owner's writes are seen. */
        uint64_t old = atomic_exchange_explicit(&table[rng_below(&r, TABLE_SLOTS)], pack_block(p, size),
                                                memory_order_acq_rel);
        if (old) {
            void *q = packed_ptr(old);
            size_t qsize = packed_size(old);
            if (rng_below(&r, 8) == 0) {
                size_t n = xsize(&r);
                q = realloc_checked(q, qsize, n);
                qsize = n;
                old = atomic_exchange_explicit(&table[rng_below(&r, TABLE_SLOTS)], pack_block(q, qsize),
                                               memory_order_acq_rel);
                if (!old) goto next;
                q = packed_ptr(old);
                qsize = packed_size(old);
            }
            free_checked(q, qsize, "all-to-all free");
        }
    next:
        done++;
        if ((done & 255) == 0) stress_count(256);
    }
    stress_count(done & 255);
    return NULL;
}

int main(int argc, char **argv)
{
    stress_parse(argc, argv, "stress_cross_thread_free",
                 (stress_opts_t){ .threads = 4, .ops = 200000, .seconds = 30, .seed = 2 });
    stress_start();
    if (opt.threads < 2) opt.threads = 2;
    if (opt.threads > 64) opt.threads = 64;
    pthread_t t[64];
    /* Each phase gets half the time budget; a soak repeats both, a minute each, until its time is
     * spent (with a new seed each round). */
    double phase_seconds = opt.soak ? 60 : opt.seconds / 2;
    do {
        stress_begin_phase("producer/consumer", phase_seconds);
        nproducers = opt.threads / 2;
        nconsumers = opt.threads - nproducers;
        queues = calloc(nconsumers, sizeof *queues);
        STRESS_CHECK(queues != NULL, "no memory for the queues");
        for (unsigned c = 0; c < nconsumers; c++) {
            pthread_mutex_init(&queues[c].lock, NULL);
            pthread_cond_init(&queues[c].not_empty, NULL);
            pthread_cond_init(&queues[c].not_full, NULL);
        }
        for (unsigned i = 0; i < nproducers; i++)
            if (pthread_create(&t[i], NULL, producer, (void *)(uintptr_t)i)) stress_fail("pthread_create");
        for (unsigned i = 0; i < nconsumers; i++)
            if (pthread_create(&t[nproducers + i], NULL, consumer, (void *)(uintptr_t)i)) stress_fail("pthread_create");
        join_all(t, opt.threads);
        free(queues);

        stress_begin_phase("all-to-all", phase_seconds);
        for (unsigned i = 0; i < opt.threads; i++)
            if (pthread_create(&t[i], NULL, all_to_all, (void *)(uintptr_t)i)) stress_fail("pthread_create");
        join_all(t, opt.threads);
        for (unsigned i = 0; i < TABLE_SLOTS; i++) {
            uint64_t v = atomic_exchange(&table[i], 0);
            if (v) free_checked(packed_ptr(v), packed_size(v), "table drain");
        }
        opt.seed++;
    } while (opt.soak && !stress_stopping());
    return stress_report();
}
