/* Lists of slabs: circular, doubly linked through slab_meta_t's next/prev; head NULL = empty. The
 * owner of the list (a thread's heap, or the holder of a class's orphan lock) alone touches it. */
#ifndef HAK_SLAB_LIST_H
#define HAK_SLAB_LIST_H
#include "core/superslab.h"

HAK_INLINE void slab_list_add(slab_meta_t **head, slab_meta_t *s) {   /* at the tail */
    slab_meta_t *h = *head;
    if (!h) {
        s->next = s->prev = s;
        *head = s;
        return;
    }
    s->next = h;
    s->prev = h->prev;
    h->prev->next = s;
    h->prev = s;
}
HAK_INLINE void slab_list_remove(slab_meta_t **head, slab_meta_t *s) {
    if (s->next == s) {
        *head = NULL;
    } else {
        s->prev->next = s->next;
        s->next->prev = s->prev;
        if (*head == s) *head = s->next;
    }
    s->next = s->prev = NULL;
}

/* Move every slab of the circular list *from into *to (both circular; O(1)). */
HAK_INLINE void slab_list_splice(slab_meta_t **to, slab_meta_t **from) {
    slab_meta_t *a = *to, *b = *from;
    *from = NULL;
    if (!b) return;
    if (!a) {
        *to = b;
        return;
    }
    slab_meta_t *a_last = a->prev, *b_last = b->prev;
    a_last->next = b;
    b->prev = a_last;
    b_last->next = a;
    a->prev = b_last;
}
#endif
