/* pattern_a: issue 10's pattern A in its leanest form, so the allocator is most of the cost.
 *
 *   pattern_a THREADS [SECONDS]        (PA_N=steps: a fixed number of steps per thread instead)
 *
 * Each thread keeps 1024 live blocks and, per step, frees a random one and allocates a new one of
 * 4/u bytes (u uniform in (0,1], clipped to 32 KiB: P(size) ~ 1/size^2, mostly tiny, a long tail),
 * writing its first byte. No cross-thread frees. bench/workloads `replace` is the same pattern
 * with more work per step (16 bytes written, every pointer escaped); this one shows the cache-line
 * effects of the allocator more sharply. Prints steps per CPU-second (user+sys, all threads) and
 * peak RSS. */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <time.h>

#define LIVE 1024
#define MAX_THREADS 64

static atomic_int stop;
static _Atomic unsigned long long total;
static long fixed_steps;

static void *worker(void *arg)
{
    unsigned long long x = (unsigned long long)(size_t)arg * 0x9e3779b97f4a7c15ull + 1, n = 0;
    void *slot[LIVE];
    for (int i = 0; i < LIVE; i++) slot[i] = malloc(16);
    while (fixed_steps ? n < (unsigned long long)fixed_steps : !atomic_load_explicit(&stop, memory_order_relaxed)) {
        for (int r = 0; r < 256; r++, n++) {
            x ^= x << 13; x ^= x >> 7; x ^= x << 17;           /* xorshift64 */
            unsigned i = (unsigned)(x % LIVE);
            free(slot[i]);
            double u = (double)((x >> 11) & 0xfffff) / 1048576.0 + 1e-7;
            size_t size = (size_t)(4 / u);
            if (size > 32768) size = 32768;
            slot[i] = malloc(size);
            *(volatile char *)slot[i] = 1;
        }
    }
    for (int i = 0; i < LIVE; i++) free(slot[i]);
    atomic_fetch_add(&total, n);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: pattern_a THREADS [SECONDS]   (PA_N=steps per thread: fixed work)\n");
        return 2;
    }
    int threads = atoi(argv[1]);
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    if (threads < 1 || threads > MAX_THREADS) threads = 1;
    if (getenv("PA_N")) fixed_steps = atol(getenv("PA_N"));
    pthread_t t[MAX_THREADS];
    for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, (void *)(size_t)(i + 1));
    if (!fixed_steps) {
        struct timespec ts = { (time_t)seconds, (long)((seconds - (long)seconds) * 1e9) };
        nanosleep(&ts, NULL);
        atomic_store(&stop, 1);
    }
    for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("RESULT bench=pattern_a threads=%d steps=%llu cpu_s=%.4f ops_per_cpu_s=%.0f maxrss_kb=%ld\n", threads,
           (unsigned long long)atomic_load(&total), cpu, (double)atomic_load(&total) / cpu, ru.ru_maxrss);
    return 0;
}
