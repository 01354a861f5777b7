/* test_daemon_pause: the refill thread starts by itself when enabled, never starts when disabled,
 * and is never needed for progress: while it is paused (hak_refill_thread_pause(1)) four threads
 * keep allocating and freeing correctly by refilling themselves, and after it is resumed it makes
 * batches again.
 *
 * With HAKMEM_REFILL_THREAD enabled (the default):
 *  1. while the program allocates, hak_refill_thread_running() becomes 1 (daemon_wait.h: polled
 *     with the test deadline, 60 s; when it starts is the library's choice, not the test's);
 *  2. paused: 4 threads run a workload. Each thread allocates blocks of mixed sizes, hands them all
 *     to the next thread and frees only blocks it received, so every allocation needs memory the
 *     thread did not free itself. Every block is checked before it is freed. The pause is a flag
 *     the refill thread reads between rounds, so a batch it was making when paused may still be
 *     finished after hak_refill_thread_pause(1) returns: the workload is repeated until one whole
 *     run sees no batch from it (deadline 60 s: a pause that does not stop it fails). Across the
 *     paused runs the synchronous-refill counter must rise;
 *  3. resumed: the workload runs again until the refill thread's batch counter rises (deadline
 *     60 s).
 * With HAKMEM_REFILL_THREAD=0: the same workload (pause and resume included) runs correctly, the
 * refill thread never runs and never makes a batch, and no refill is served from a ring. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>

#include "api.h"
#include "daemon_wait.h"
#include "testutil.h"

#define NT 4
#define ROUNDS 6
#define PER_ROUND HAK_SCALE(3000, 600)

struct item {
    void *p;
    uint32_t size;
    uint32_t seed;
};

/* mailbox[t] receives the batches thread t-1 allocated. */
struct mailbox {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct item *batch[ROUNDS];
    int head, tail;
};

static struct mailbox box[NT];
static struct item store[NT][ROUNDS][PER_ROUND];

static void *worker(void *arg)
{
    int me = (int)(uintptr_t)arg >> 8, phase = (int)(uintptr_t)arg & 0xff;
    uint64_t rng = (uint64_t)(me + 1) * 0x9E3779B97F4A7C15ULL + (uint64_t)phase;
    struct mailbox *out = &box[(me + 1) % NT], *in = &box[me];
    for (int r = 0; r < ROUNDS; r++) {
        struct item *b = store[me][r];
        for (int i = 0; i < PER_ROUND; i++) {
            b[i].size = (uint32_t)(rng_next(&rng) % 64 == 0 ? rng_range(&rng, 40001, 400000)
                                                             : rng_size_mix(&rng));
            b[i].seed = (uint32_t)(r * PER_ROUND + i + phase);
            b[i].p = API(malloc)(b[i].size);
            CHECK(b[i].p != NULL, "thread %d: malloc(%u)", me, b[i].size);
            if (b[i].size <= 40000)
                pattern_fill(b[i].p, b[i].size, b[i].seed);
            else
                pattern_fill_sparse(b[i].p, b[i].size, b[i].seed);
        }
        pthread_mutex_lock(&out->lock);
        out->batch[out->tail++] = b;
        pthread_cond_signal(&out->cond);
        pthread_mutex_unlock(&out->lock);
    }
    for (int r = 0; r < ROUNDS; r++) {
        pthread_mutex_lock(&in->lock);
        while (in->head == in->tail)
            pthread_cond_wait(&in->cond, &in->lock);
        struct item *b = in->batch[in->head++];
        pthread_mutex_unlock(&in->lock);
        for (int i = 0; i < PER_ROUND; i++) {
            size_t bad = b[i].size <= 40000 ? pattern_check(b[i].p, b[i].size, b[i].seed)
                                            : pattern_check_sparse(b[i].p, b[i].size, b[i].seed);
            CHECK(bad == b[i].size, "thread %d: received block %p (%u B) corrupted at offset %zu",
                  me, b[i].p, b[i].size, bad);
            API(free)(b[i].p);
        }
    }
    return NULL;
}

static unsigned long blocks_done;

static void run_workload(int phase)
{
    pthread_t th[NT];
    for (int t = 0; t < NT; t++) /* all before any thread starts: thread t writes box[t+1] */
        box[t].head = box[t].tail = 0;
    for (int t = 0; t < NT; t++) {
        CHECK(pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)((t << 8) | (phase & 0xff))) == 0,
              "pthread_create");
    }
    for (int t = 0; t < NT; t++)
        pthread_join(th[t], NULL);
    blocks_done += (unsigned long)NT * ROUNDS * PER_ROUND;
}

static int env_says_off(void)
{
    const char *v = getenv("HAKMEM_REFILL_THREAD");
    return v && (!strcmp(v, "0") || !strcasecmp(v, "off") || !strcasecmp(v, "no") ||
                 !strcasecmp(v, "false"));
}

static void churn_a_little(void)
{
    void *p[500];
    for (int i = 0; i < 500; i++) {
        p[i] = API(malloc)((size_t)(i * 7 % 3000) + 1);
        CHECK(p[i] != NULL, "malloc");
    }
    for (int i = 0; i < 500; i++)
        API(free)(p[i]);
}

int main(void)
{
    for (int t = 0; t < NT; t++) {
        pthread_mutex_init(&box[t].lock, NULL);
        pthread_cond_init(&box[t].cond, NULL);
    }
    api_check_linked();
    hak_stats_t s0, s2, s3;

    if (env_says_off()) {
        for (int i = 0; i < 200; i++)
            churn_a_little();
        run_workload(1);
        CHECK(hak_refill_thread_running() == 0, "HAKMEM_REFILL_THREAD=0 but the refill thread runs");
        hak_refill_thread_pause(1);
        run_workload(2);
        hak_refill_thread_pause(0);
        run_workload(3);
        CHECK(hak_refill_thread_running() == 0,
              "HAKMEM_REFILL_THREAD=0: the refill thread runs after pause/resume");
        hak_stats_get(&s0);
        CHECK(s0.daemon_batches == 0 && s0.refills_ring == 0,
              "HAKMEM_REFILL_THREAD=0: %llu daemon batches, %llu refills from rings",
              (unsigned long long)s0.daemon_batches, (unsigned long long)s0.refills_ring);
        CHECK(s0.refills_sync > 0, "HAKMEM_REFILL_THREAD=0: no synchronous refill counted");
        OK("HAKMEM_REFILL_THREAD=0: %lu blocks through %d threads intact; refill thread never ran, "
           "0 batches, %llu synchronous refills", blocks_done, NT,
           (unsigned long long)s0.refills_sync);
        return 0;
    }

    /* 1. It starts on its own. */
    double deadline = test_deadline_seconds();
    CHECK(daemon_drive_until_running(API(malloc), api_free_fn, deadline),
          "the refill thread is not running after %.0f s of allocation (HAKMEM_REFILL_THREAD=%s)",
          deadline, getenv("HAKMEM_REFILL_THREAD") ? getenv("HAKMEM_REFILL_THREAD") : "unset");
    OK("the refill thread started by itself while the program allocated");

    /* 2. Paused: the application threads do everything themselves. hak_refill_thread_pause(1)
     * returns once the thread is idle, so not one slab may appear during the paused runs. */
    hak_refill_thread_pause(1);
    hak_stats_get(&s0);
    run_workload(10);
    run_workload(11);
    hak_stats_get(&s2);
    NOTE("paused: slabs claimed by threads %llu -> %llu, prepared by the refill thread %llu -> %llu",
         (unsigned long long)s0.refills_sync, (unsigned long long)s2.refills_sync,
         (unsigned long long)s0.daemon_batches, (unsigned long long)s2.daemon_batches);
    CHECK(s2.daemon_batches == s0.daemon_batches,
          "paused: the refill thread prepared %llu slabs after hak_refill_thread_pause(1) returned",
          (unsigned long long)(s2.daemon_batches - s0.daemon_batches));
    CHECK(hak_refill_thread_running() == 1, "paused: hak_refill_thread_running() is not 1");
    OK("paused: %d threads allocated and freed %lu blocks across threads, all intact, with no "
       "slab from the refill thread", NT, blocks_done);

    /* 3. Resumed: it prepares slabs again once the heap grows. */
    hak_refill_thread_pause(0);
    CHECK(daemon_grow_until(API(malloc), api_free_fn, deadline, (long long)s2.daemon_batches),
          "resumed: the refill thread prepared no slab while the heap grew");
    run_workload(40);
    hak_stats_get(&s3);
    CHECK(hak_refill_thread_running() == 1, "resumed: hak_refill_thread_running() is not 1");
    OK("resumed: the refill thread prepared %llu slabs while the heap grew (blocks intact)",
       (unsigned long long)(s3.daemon_batches - s2.daemon_batches));
    return 0;
}
