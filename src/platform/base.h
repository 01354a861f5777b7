/* What every hakmem file needs and nothing hakmem-specific: compiler hints, visibility, and the
 * invariant check. The bottom of the tree: it includes only the C library.
 *
 * Layers (each directory looks only down; docs/architecture.md draws them):
 *   api/            entry points: malloc family, start-up and fork, statistics
 *   refill_thread/  the refill daemon (registers with core/background.h)
 *   core/           the allocator: size classes, SuperSlabs and slabs, thread heaps, central pool,
 *                   per-thread caches, large blocks
 *   lockfree/       lock-free building blocks that know nothing of hakmem (ck ring, RCU)
 *   platform/       the OS (system calls, messages, futex events) and the sanitizer hooks */
#ifndef HAK_BASE_H
#define HAK_BASE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HAK_LIKELY(x)   __builtin_expect(!!(x), 1)
#define HAK_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define HAK_NOINLINE    __attribute__((noinline))
#define HAK_COLD        __attribute__((noinline, cold))
#define HAK_INLINE      static inline __attribute__((always_inline))
#define HAK_INTERNAL    __attribute__((visibility("hidden")))
#ifndef HAK_API
#define HAK_API         __attribute__((visibility("default")))
#endif

/* Invariants that comments used to state: checked in Debug builds (no NDEBUG), compiled out of
 * Release builds (the condition is not evaluated, so it may be as costly as it needs to be). */
_Noreturn void hak_assert_failed(const char *cond, const char *file, int line) HAK_INTERNAL HAK_COLD;
#ifdef NDEBUG
#define HAK_ASSERT(cond) ((void)0)
#else
#define HAK_ASSERT(cond) (HAK_LIKELY(cond) ? (void)0 : hak_assert_failed(#cond, __FILE__, __LINE__))
#endif

#endif
