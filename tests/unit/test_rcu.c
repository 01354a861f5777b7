/* Unit test of hakmem's RCU wrappers (src/lockfree/rcu.h over liburcu-bp), alone: no allocator.
 *
 * 1. A reader inside a read-side section keeps the object it found alive across a concurrent
 *    hak_rcu_synchronize(): the reader enters, finds the object, tells the updater, which unlinks
 *    the object and calls synchronize; while the reader stays inside (until it has seen the
 *    updater announce the call, then for many more yields) synchronize must not have returned and
 *    the object must be intact. After the reader leaves, synchronize returns and the updater
 *    retires the object; a reader that starts after that cannot find the old object.
 * 2. Readers in a loop (enter, find the current object, check it twice, leave) against an updater
 *    that replaces the object, synchronizes and then scribbles on the old one and reuses it: no
 *    reader ever sees a retired object. The objects are written and read with plain accesses, so in
 *    the TSan build ThreadSanitizer checks that the grace period orders every reader's accesses
 *    before the updater's (rcu.c annotates liburcu's synchronisation). */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>

#include "lockfree/rcu.h"
#include "support/check.h"
#include "support/wait.h"

#define ALIVE 0xA11FEu
#define DEAD 0xDEADu
#define POOL 4
#define READERS 3
#define REPLACEMENTS HAK_SCALE(2000, 300)

typedef struct obj {
    unsigned state;     /* plain: ALIVE while reachable or possibly read, DEAD once retired */
    uint64_t gen;       /* plain: which replacement made it current */
} obj_t;

static obj_t pool[POOL];
static _Atomic(obj_t *) current;

/* ---- 1. One reader, one synchronize ------------------------------------------------------------- */
static _Atomic int reader_inside, sync_started, sync_returned, reader_left;

static void *one_reader(void *arg)
{
    (void)arg;
    hak_rcu_read_lock();
    obj_t *o = atomic_load_explicit(&current, memory_order_acquire);
    atomic_store(&reader_inside, 1);
    WAIT_UNTIL(1, atomic_load(&sync_started), "the updater did not start hak_rcu_synchronize");
    /* Stay inside a while longer, giving a broken synchronize every chance to return early. */
    for (int i = 0; i < 2000; i++) {
        CHECK(!atomic_load(&sync_returned), "hak_rcu_synchronize returned while a reader was inside");
        CHECK(o->state == ALIVE, "the object a reader holds was retired during its read section");
        sched_yield();
    }
    atomic_store(&reader_left, 1);
    hak_rcu_read_unlock();
    return NULL;
}

static void *late_reader(void *arg)
{
    obj_t *old = arg;
    hak_rcu_read_lock();
    obj_t *o = atomic_load_explicit(&current, memory_order_acquire);
    CHECK(o != old, "a reader that started after the grace period found the unlinked object");
    CHECK(o->state == ALIVE, "the current object is not alive");
    hak_rcu_read_unlock();
    return NULL;
}

static void keeps_alive_across_synchronize(void)
{
    pool[0] = (obj_t){ ALIVE, 0 };
    pool[1] = (obj_t){ ALIVE, 1 };
    atomic_store(&current, &pool[0]);
    pthread_t r;
    CHECK(pthread_create(&r, NULL, one_reader, NULL) == 0, "pthread_create");
    WAIT_UNTIL(1, atomic_load(&reader_inside), "the reader did not enter its read section");
    obj_t *old = atomic_exchange(&current, &pool[1]);
    atomic_store(&sync_started, 1);
    hak_rcu_synchronize();
    atomic_store(&sync_returned, 1);
    CHECK(atomic_load(&reader_left), "hak_rcu_synchronize returned before the reader left its section");
    old->state = DEAD; /* retire it: no reader may hold it now */
    pthread_join(r, NULL);
    pthread_t late;
    CHECK(pthread_create(&late, NULL, late_reader, old) == 0, "pthread_create");
    pthread_join(late, NULL);
    OK("a reader inside its section kept its object alive across hak_rcu_synchronize, which returned "
       "only after the reader left; a later reader cannot find the unlinked object");
}

/* ---- 2. Readers in a loop against an updater ---------------------------------------------------- */
static _Atomic int stop;
static _Atomic uint64_t reads;

static void *loop_reader(void *arg)
{
    (void)arg;
    uint64_t n = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        hak_rcu_read_lock();
        obj_t *o = atomic_load_explicit(&current, memory_order_acquire);
        unsigned s1 = o->state;
        uint64_t g1 = o->gen;
        sched_yield();
        unsigned s2 = o->state;
        uint64_t g2 = o->gen;
        hak_rcu_read_unlock();
        CHECK(s1 == ALIVE && s2 == ALIVE && g1 == g2,
              "a reader saw its object retired or reused inside its read section (state %x then %x, "
              "generation %llu then %llu)", s1, s2, (unsigned long long)g1, (unsigned long long)g2);
        n++;
        sched_yield(); /* let the updater run: on 2 busy cores its grace periods need the CPU too */
    }
    atomic_fetch_add(&reads, n);
    return NULL;
}

static void readers_never_see_retired(void)
{
    for (int i = 0; i < POOL; i++)
        pool[i] = (obj_t){ DEAD, 0 };
    pool[0] = (obj_t){ ALIVE, 0 };
    atomic_store(&current, &pool[0]);
    pthread_t r[READERS];
    for (int i = 0; i < READERS; i++)
        CHECK(pthread_create(&r[i], NULL, loop_reader, NULL) == 0, "pthread_create");
    for (uint64_t k = 1; k <= REPLACEMENTS; k++) {
        obj_t *next = &pool[k % POOL]; /* retired at least one grace period ago */
        CHECK(next->state == DEAD, "object %llu reused while still current", (unsigned long long)(k % POOL));
        next->gen = k;
        next->state = ALIVE;
        obj_t *old = atomic_exchange_explicit(&current, next, memory_order_acq_rel);
        hak_rcu_synchronize();
        old->state = DEAD;
        old->gen = UINT64_MAX;
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < READERS; i++)
        pthread_join(r[i], NULL);
    OK("%d readers, %d replacements each followed by hak_rcu_synchronize and retirement: no reader saw "
       "a retired object (%llu read sections)", READERS, REPLACEMENTS, (unsigned long long)atomic_load(&reads));
}

int main(void)
{
    keeps_alive_across_synchronize();
    readers_never_see_retired();
    return 0;
}
