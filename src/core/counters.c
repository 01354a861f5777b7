/* Debug counters: per-thread arrays, the list of live threads' arrays, the exited total.
 * Compiled only with HAKMEM_DEBUG_COUNTERS (see counters.h). */
#include <pthread.h>
#include "core/counters.h"

#if HAKMEM_DEBUG_COUNTERS
__thread _Atomic uint64_t hak_tls_counters[HAK_C_COUNT] __attribute__((tls_model("initial-exec")));

typedef struct counter_link {
    _Atomic uint64_t *counters;
    struct counter_link *next, *prev;
} counter_link_t;

static __thread counter_link_t tls_link __attribute__((tls_model("initial-exec")));
static __thread int tls_linked __attribute__((tls_model("initial-exec")));
static pthread_mutex_t counters_lock = PTHREAD_MUTEX_INITIALIZER;
static counter_link_t *live;
static uint64_t exited[HAK_C_COUNT];

void counters_thread_register(void) {
    if (tls_linked) return;
    pthread_mutex_lock(&counters_lock);
    tls_link.counters = hak_tls_counters;
    tls_link.prev = NULL;
    tls_link.next = live;
    if (live) live->prev = &tls_link;
    live = &tls_link;
    tls_linked = 1;
    pthread_mutex_unlock(&counters_lock);
}

void counters_thread_exit(void) {
    if (!tls_linked) return;
    pthread_mutex_lock(&counters_lock);
    for (unsigned i = 0; i < HAK_C_COUNT; i++) {
        exited[i] += atomic_load_explicit(&hak_tls_counters[i], memory_order_relaxed);
        atomic_store_explicit(&hak_tls_counters[i], 0, memory_order_relaxed);
    }
    if (tls_link.prev) tls_link.prev->next = tls_link.next;
    else live = tls_link.next;
    if (tls_link.next) tls_link.next->prev = tls_link.prev;
    tls_linked = 0;
    pthread_mutex_unlock(&counters_lock);
}

/* A thread past counters_thread_exit that still counts (a pthread key destructor running after
 * ours frees a block): add those counts to the exited total now. It is unlinked, so no reader
 * reads its array meanwhile. */
void counters_thread_fold(void) {
    pthread_mutex_lock(&counters_lock);
    for (unsigned i = 0; i < HAK_C_COUNT; i++) {
        exited[i] += atomic_load_explicit(&hak_tls_counters[i], memory_order_relaxed);
        atomic_store_explicit(&hak_tls_counters[i], 0, memory_order_relaxed);
    }
    pthread_mutex_unlock(&counters_lock);
}

void counters_atfork_prepare(void) { pthread_mutex_lock(&counters_lock); }
void counters_atfork_parent(void) { pthread_mutex_unlock(&counters_lock); }

/* The child has only the forking thread: fold the others' counts into the exited total. */
void counters_atfork_child(void) {
    pthread_mutex_init(&counters_lock, NULL);
    for (counter_link_t *l = live; l; l = l->next) {
        if (l == &tls_link) continue;
        for (unsigned i = 0; i < HAK_C_COUNT; i++)
            exited[i] += atomic_load_explicit(&l->counters[i], memory_order_relaxed);
    }
    live = NULL;
    if (tls_linked) {
        tls_link.next = tls_link.prev = NULL;
        live = &tls_link;
    }
}

/* Sum of exited threads and every live one; a thread that never registered (counted before its
 * first slow path) is included only through its later registration. */
void counters_sum(uint64_t *out) {
    pthread_mutex_lock(&counters_lock);
    for (unsigned i = 0; i < HAK_C_COUNT; i++) out[i] = exited[i];
    for (counter_link_t *l = live; l; l = l->next)
        for (unsigned i = 0; i < HAK_C_COUNT; i++)
            out[i] += atomic_load_explicit(&l->counters[i], memory_order_relaxed);
    pthread_mutex_unlock(&counters_lock);
}
#endif
