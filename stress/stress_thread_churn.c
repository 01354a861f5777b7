/* stress_thread_churn: many short-lived threads that allocate, hand blocks over, and exit.
 *
 * The run is a series of waves of `threads` threads each (half joinable, half detached). A thread
 * allocates a few hundred blocks, frees some, swaps some into a shared table (taking out, checking
 * and freeing what an earlier thread, maybe already dead, left there), and exits still holding
 * freed blocks in its thread cache, so that hakmem's thread-exit flush runs concurrently with the
 * other threads' allocation and with the refill thread. Detached threads signal their end through
 * a counter; the wave waits for it before the next one starts. At the end the table is emptied.
 * The op budget is per thread slot: waves continue until (waves * blocks per thread) reaches it. */
#include "stress_common.h"

#define BLOCKS_PER_THREAD 256
#define TABLE_SLOTS 1024

static _Atomic uint64_t table[TABLE_SLOTS];
static _Atomic unsigned detached_left;
static pthread_mutex_t wave_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wave_done = PTHREAD_COND_INITIALIZER;

typedef struct churn_arg {
    uint64_t seed;
    bool detached;
} churn_arg_t;

static void *churner(void *arg)
{
    churn_arg_t a = *(churn_arg_t *)arg;
    free(arg);   /* allocated by the creating thread: a cross-thread free of the harness's own */
    rng_t r = rng_for(a.seed, 0);
    void *p[BLOCKS_PER_THREAD];
    size_t sz[BLOCKS_PER_THREAD];
    for (unsigned i = 0; i < BLOCKS_PER_THREAD; i++) {
        sz[i] = rng_size(&r);
        if (sz[i] >= PACK_MAX_SIZE) sz[i] = PACK_MAX_SIZE - 1;
        p[i] = alloc_any(&r, sz[i]);
    }
    for (unsigned i = 0; i < BLOCKS_PER_THREAD; i++) {
        uint64_t what = rng_below(&r, 4);
        if (what == 0) {           /* keep a while, then free in this thread (below) */
            continue;
        } else if (what == 1) {    /* free now: it stays in this thread's cache until exit */
            free_checked(p[i], sz[i], "churn free");
        } else {                   /* hand over; free what the slot held */
            uint64_t old = atomic_exchange_explicit(&table[rng_below(&r, TABLE_SLOTS)], pack_block(p[i], sz[i]),
                                                    memory_order_acq_rel);
            if (old) free_checked(packed_ptr(old), packed_size(old), "churn handed-over free");
        }
        p[i] = NULL;
    }
    for (unsigned i = 0; i < BLOCKS_PER_THREAD; i++)
        if (p[i]) free_checked(p[i], sz[i], "churn late free");
    stress_count(BLOCKS_PER_THREAD);
    if (a.detached) {
        pthread_mutex_lock(&wave_lock);
        if (--detached_left == 0) pthread_cond_signal(&wave_done);
        pthread_mutex_unlock(&wave_lock);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    stress_parse(argc, argv, "stress_thread_churn",
                 (stress_opts_t){ .threads = 8, .ops = 100000, .seconds = 30, .seed = 3 });
    stress_start();
    if (opt.threads > 256) opt.threads = 256;
    pthread_t t[256];
    pthread_attr_t detached;
    pthread_attr_init(&detached);
    pthread_attr_setdetachstate(&detached, PTHREAD_CREATE_DETACHED);
    uint64_t waves = 0, threads_run = 0;
    for (uint64_t done = 0; stress_continue(done); done += BLOCKS_PER_THREAD, waves++) {
        unsigned joinable = 0, ndetached = opt.threads / 2;
        atomic_store(&detached_left, ndetached);
        for (unsigned i = 0; i < opt.threads; i++) {
            bool det = i < ndetached;
            churn_arg_t *a = malloc(sizeof *a);   /* the thread frees it */
            STRESS_CHECK(a != NULL, "no memory for a thread argument");
            a->seed = opt.seed ^ (waves << 16 | i);
            a->detached = det;
            pthread_t dummy;
            int rc = pthread_create(det ? &dummy : &t[joinable], det ? &detached : NULL, churner, a);
            STRESS_CHECK(rc == 0, "pthread_create: %s", strerror(rc));
            if (!det) joinable++;
            threads_run++;
        }
        join_all(t, joinable);
        pthread_mutex_lock(&wave_lock);
        while (atomic_load(&detached_left)) pthread_cond_wait(&wave_done, &wave_lock);
        pthread_mutex_unlock(&wave_lock);
    }
    pthread_attr_destroy(&detached);
    for (unsigned i = 0; i < TABLE_SLOTS; i++) {
        uint64_t v = atomic_exchange(&table[i], 0);
        if (v) free_checked(packed_ptr(v), packed_size(v), "table drain");
    }
    printf("%s: %" PRIu64 " waves, %" PRIu64 " threads\n", stress_name, waves, threads_run);
    return stress_report();
}
