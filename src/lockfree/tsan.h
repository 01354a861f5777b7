/* ThreadSanitizer annotations for the happens-before edges TSan cannot see: Concurrency Kit and
 * liburcu implement their atomics with inline asm and volatile accesses. Compiled in only for
 * TSan builds (HAK_TSAN, set by -DHAKMEM_SANITIZE=thread); elsewhere they are nothing. */
#ifndef HAK_TSAN_H
#define HAK_TSAN_H

#if defined(HAK_TSAN)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define HAK_TSAN_RELEASE(p) __tsan_release((void *)(p))
#define HAK_TSAN_ACQUIRE(p) __tsan_acquire((void *)(p))
#else
#define HAK_TSAN_RELEASE(p) ((void)0)
#define HAK_TSAN_ACQUIRE(p) ((void)0)
#endif

#endif
