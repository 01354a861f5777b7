/* Unit test of the hand-off of page population from a thread to the refill daemon (background.h,
 * slab_blocks.c): the mailbox carries ranges, and a thread carving a cold slab while the daemon
 * runs posts what its carving reaches instead of populating it itself. Runs with the refill
 * thread off (ctest sets HAKMEM_REFILL_THREAD=0) and plays the daemon: it marks the daemon running
 * and takes the posts itself, so it sees exactly what a thread posted.
 *
 * 1. Not running: nothing can be posted (the thread then populates as before).
 * 2. Running: ranges of 1 to 16 units come back once each, address and length intact; a full
 *    mailbox refuses the next post.
 * 3. A class's first slab of 1 KiB blocks: carving its first 16 KiB chunk posts nothing (the
 *    thread faults those pages, so a class that holds few blocks keeps few pages); the carve that
 *    enters the second chunk posts the rest of that chunk, from the end of the carve; the next
 *    carves inside the chunk post nothing; entering the third chunk posts its rest likewise.
 * 4. A growth slab (slab_populate_start): posted whole, and its carving posts nothing more.
 * 5. Daemon not running: the same carving posts nothing.
 * 6. A cold slab adopted from the orphans: its carving posts nothing while the daemon runs (the
 *    thread populates ahead itself, as without the daemon). */
#include <stdio.h>

#include "core/background.h"
#include "core/central.h"
#include "core/size_class.h"
#include "core/slab_blocks.h"
#include "core/superslab.h"
#include "hakmem.h"
#include "support/check.h"

#define UNIT BACKGROUND_PREFAULT_UNIT
#define CHUNK (16u << 10)   /* slab_blocks.c's POPULATE_CHUNK */

static unsigned take_all(void **from, size_t *bytes) {
    return background_take_prefaults(from, bytes, BACKGROUND_PREFAULT_SLOTS);
}

static void mailbox_round_trip(char *base) {
    void *from[BACKGROUND_PREFAULT_SLOTS];
    size_t bytes[BACKGROUND_PREFAULT_SLOTS];
    background_set_running(false);
    EXPECT(!background_post_prefault(base, UNIT), "a post was taken while the daemon does not run");
    background_set_running(true);
    for (unsigned i = 0; i < BACKGROUND_PREFAULT_SLOTS; i++)
        EXPECT(background_post_prefault(base + (size_t)i * HAK_SLAB_SIZE, (size_t)(i % 16 + 1) * UNIT),
               "post %u of %u refused", i + 1, BACKGROUND_PREFAULT_SLOTS);
    EXPECT(!background_post_prefault(base, UNIT), "a full mailbox took one more post");
    unsigned n = take_all(from, bytes), seen = 0;
    EXPECT(n == BACKGROUND_PREFAULT_SLOTS, "took %u posts, expected %u", n, BACKGROUND_PREFAULT_SLOTS);
    for (unsigned k = 0; k < n; k++) {
        size_t i = (size_t)((char *)from[k] - base) / HAK_SLAB_SIZE;
        EXPECT(i < BACKGROUND_PREFAULT_SLOTS && (char *)from[k] == base + i * HAK_SLAB_SIZE,
               "post %u came back as %p, not a posted address", k, from[k]);
        if (i >= BACKGROUND_PREFAULT_SLOTS) continue;
        EXPECT(bytes[k] == (i % 16 + 1) * UNIT, "range %zu came back with %zu bytes, posted %zu", i, bytes[k],
               (i % 16 + 1) * UNIT);
        EXPECT(!(seen & (1u << i)), "range %zu came back twice", i);
        seen |= 1u << i;
    }
    EXPECT(take_all(from, bytes) == 0, "the mailbox is not empty after every post was taken");
}

/* Carve one batch of s; returns how many posts it made (at most one), the last in from and bytes. */
static unsigned carve_once(slab_meta_t *s, void **from, size_t *bytes) {
    void *chain = NULL, *f[BACKGROUND_PREFAULT_SLOTS];
    size_t b[BACKGROUND_PREFAULT_SLOTS];
    uint32_t got = slab_take(s, 64, 0, &chain);
    EXPECT(got >= 1 && chain != NULL, "slab_take carved nothing from a slab with room");
    unsigned n = take_all(f, b);
    if (n) {
        *from = f[n - 1];
        *bytes = b[n - 1];
    }
    return n;
}

/* posts: whether carving should post (the daemon runs and the slab was not adopted). */
static void first_slab_posts_each_chunk(slab_meta_t *s, bool running, bool posts_expected) {
    background_set_running(running);
    char *base = slab_base(ss_of(s), s->index);
    size_t end = (size_t)s->capacity * s->block_size;
    unsigned posts = 0;
    while (s->carved < s->capacity) {
        size_t before = (size_t)s->carved * s->block_size;
        void *from = NULL;
        size_t bytes = 0;
        unsigned n = carve_once(s, &from, &bytes);
        size_t after = (size_t)s->carved * s->block_size;
        bool enters = after > CHUNK && (before + CHUNK - 1) / CHUNK < (after + CHUNK - 1) / CHUNK;
        if (!posts_expected || !enters) {
            EXPECT(n == 0, "carve [%zu, %zu) posted %u ranges (daemon %s)", before, after, n,
                   !running ? "not running" : s->adopted ? "running, adopted slab" : "running, no new chunk");
            continue;
        }
        size_t chunk_end = (after + CHUNK - 1) / CHUNK * CHUNK;
        if (chunk_end > end) chunk_end = end;
        size_t want_from = after & ~(size_t)(UNIT - 1);
        size_t want_to = (chunk_end + UNIT - 1) & ~(size_t)(UNIT - 1);
        if (want_from >= want_to) {
            EXPECT(n == 0, "carve to %zu (the chunk's end) posted %u ranges", after, n);
            continue;
        }
        EXPECT(n == 1, "carve [%zu, %zu) entered a new chunk and posted %u ranges, expected 1", before, after, n);
        if (n != 1) continue;
        posts++;
        EXPECT((char *)from == base + want_from && bytes == want_to - want_from,
               "carve [%zu, %zu) posted [%zd, +%zu), expected [%zu, +%zu)", before, after,
               (char *)from - base, bytes, want_from, want_to - want_from);
    }
    if (posts_expected) EXPECT(posts >= 2, "a 64 KiB slab of %u B blocks made %u posts", s->block_size, posts);
}

static void growth_slab_posted_whole(slab_meta_t *s) {
    background_set_running(true);
    void *from[BACKGROUND_PREFAULT_SLOTS];
    size_t bytes[BACKGROUND_PREFAULT_SLOTS];
    EXPECT(slab_populate_start(s), "slab_populate_start did not post a growth slab while the daemon runs");
    unsigned n = take_all(from, bytes);
    EXPECT(n == 1 && from[0] == slab_base(ss_of(s), s->index) && bytes[0] == HAK_SLAB_SIZE,
           "a growth slab was posted as %u ranges (first: %p, %zu bytes), not whole", n, n ? from[0] : NULL,
           n ? bytes[0] : 0);
    EXPECT(!s->cold, "a slab posted whole is still cold: its carving would populate it again");
    while (s->carved < s->capacity) {
        void *f = NULL;
        size_t b = 0;
        EXPECT(carve_once(s, &f, &b) == 0, "carving a slab posted whole posted again (at %u blocks)", s->carved);
    }
}

int main(void) {
    hak_free(hak_malloc(1));   /* initialised */
    unsigned cls = size_class_of(1024);
    EXPECT(hak_class_size[cls] == 1024, "no 1 KiB class (class %u is %u B)", cls, hak_class_size[cls]);
    /* Four slabs claimed before any is released: each is cold (a released slab would come back
     * warm). The first gives addresses for the mailbox test only and is never touched. */
    slab_meta_t *s[5];
    for (int i = 0; i < 5; i++) {
        s[i] = slab_claim(cls);
        EXPECT(s[i] != NULL && s[i]->cold, "slab_claim %d gave no cold slab", i);
        if (!s[i]) return 1;
    }
    mailbox_round_trip(slab_base(ss_of(s[0]), s[0]->index));
    first_slab_posts_each_chunk(s[1], true, true);
    growth_slab_posted_whole(s[2]);
    first_slab_posts_each_chunk(s[3], false, false);
    /* 6. An adopted cold slab (an exited thread's) populates ahead on the thread, as without the
     *    daemon: its carving posts nothing while the daemon runs. */
    central_orphan(s[4]);
    slab_meta_t *adopted = central_adopt(cls);
    EXPECT(adopted == s[4] && s[4]->adopted && s[4]->cold, "central_adopt did not give back the cold orphan marked adopted");
    if (adopted == s[4]) first_slab_posts_each_chunk(s[4], true, false);
    /* The untouched one goes back; the others stay claimed: their carved blocks were never
     * given back, and a slab is released only with every block free (debug builds assert it). */
    slab_release(s[0]);
    background_set_running(false);
    printf("prefault hand-off: %s\n", hak_test_failures ? "FAILED" : "ok");
    return hak_test_failures != 0;
}
