// The C++ replaceable allocation functions ([new.delete]), all twenty forms: plain, array,
// nothrow, sized delete, aligned (std::align_val_t), aligned + sized, aligned + nothrow.
//
// Only the overriding library (libhakmem.so, libhakmem.a) has them, like malloc. Each is a single
// direct jump to a hidden alias of the hak_* function in alloc.c's translation unit
// (api/sized_new.c): no PLT, no malloc in between.
//
// Compiled with -fno-exceptions -fno-rtti and linked as C: this file references nothing of the C++
// runtime, so libhakmem.so does not depend on libstdc++ and C programs do not load it. The one
// place that needs the runtime, throwing std::bad_alloc, is in sized_new.c (weak references). An
// exception thrown there (or by a new-handler) unwinds through these frames, which have unwind
// tables (the x86-64 ABI default) and nothing to clean up.
#include <cstddef>
#include <new>

#define HAK_LOCAL __attribute__((visibility("hidden")))
#define HAK_EXPORT __attribute__((visibility("default")))

extern "C" {
void *hak_op_new(std::size_t size) HAK_LOCAL;
void *hak_op_new_nothrow(std::size_t size) HAK_LOCAL;
void *hak_op_new_aligned(std::size_t size, std::size_t align) HAK_LOCAL;
void *hak_op_new_aligned_nothrow(std::size_t size, std::size_t align) HAK_LOCAL;
void  hak_op_free(void *p) HAK_LOCAL;
void  hak_op_free_sized(void *p, std::size_t size) HAK_LOCAL;
void  hak_op_free_aligned_sized(void *p, std::size_t align, std::size_t size) HAK_LOCAL;
}

static inline std::size_t align_of(std::align_val_t a) { return static_cast<std::size_t>(a); }

// ---- new -------------------------------------------------------------------------------------
HAK_EXPORT void *operator new(std::size_t n) { return hak_op_new(n); }
HAK_EXPORT void *operator new[](std::size_t n) { return hak_op_new(n); }
HAK_EXPORT void *operator new(std::size_t n, const std::nothrow_t &) noexcept { return hak_op_new_nothrow(n); }
HAK_EXPORT void *operator new[](std::size_t n, const std::nothrow_t &) noexcept { return hak_op_new_nothrow(n); }
HAK_EXPORT void *operator new(std::size_t n, std::align_val_t a) { return hak_op_new_aligned(n, align_of(a)); }
HAK_EXPORT void *operator new[](std::size_t n, std::align_val_t a) { return hak_op_new_aligned(n, align_of(a)); }
HAK_EXPORT void *operator new(std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    return hak_op_new_aligned_nothrow(n, align_of(a));
}
HAK_EXPORT void *operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t &) noexcept {
    return hak_op_new_aligned_nothrow(n, align_of(a));
}

// ---- delete ----------------------------------------------------------------------------------
HAK_EXPORT void operator delete(void *p) noexcept { hak_op_free(p); }
HAK_EXPORT void operator delete[](void *p) noexcept { hak_op_free(p); }
HAK_EXPORT void operator delete(void *p, const std::nothrow_t &) noexcept { hak_op_free(p); }
HAK_EXPORT void operator delete[](void *p, const std::nothrow_t &) noexcept { hak_op_free(p); }
HAK_EXPORT void operator delete(void *p, std::size_t n) noexcept { hak_op_free_sized(p, n); }
HAK_EXPORT void operator delete[](void *p, std::size_t n) noexcept { hak_op_free_sized(p, n); }
HAK_EXPORT void operator delete(void *p, std::align_val_t) noexcept { hak_op_free(p); }
HAK_EXPORT void operator delete[](void *p, std::align_val_t) noexcept { hak_op_free(p); }
HAK_EXPORT void operator delete(void *p, std::size_t n, std::align_val_t a) noexcept {
    hak_op_free_aligned_sized(p, align_of(a), n);
}
HAK_EXPORT void operator delete[](void *p, std::size_t n, std::align_val_t a) noexcept {
    hak_op_free_aligned_sized(p, align_of(a), n);
}
HAK_EXPORT void operator delete(void *p, std::align_val_t, const std::nothrow_t &) noexcept { hak_op_free(p); }
HAK_EXPORT void operator delete[](void *p, std::align_val_t, const std::nothrow_t &) noexcept { hak_op_free(p); }
