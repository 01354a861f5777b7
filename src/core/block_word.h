/* Raw access to the words of a free block (its link, its double-free key). In ASan builds each
 * access lifts the poison of that one word and puts it back (platform/track.h). */
#ifndef HAK_BLOCK_WORD_H
#define HAK_BLOCK_WORD_H
#include "platform/base.h"
#include "platform/track.h"

/* Word i of a free block: 0 links a chain (free list, TLS list, remote list). */
HAK_INLINE void *block_word(void *b, unsigned i) {
    void **w = (void **)b + i;
    HAK_UNPOISON(w, sizeof *w);
    void *v = *w;
    HAK_POISON(w, sizeof *w);
    return v;
}
HAK_INLINE void block_set_word(void *b, unsigned i, void *v) {
    void **w = (void **)b + i;
    HAK_UNPOISON(w, sizeof *w);
    *w = v;
    HAK_POISON(w, sizeof *w);
}
#endif
