// test_new_delete: C++ allocation through hakmem.
//
// _std (linked to libhakmem.so) and _preload (linked to nothing of hakmem, run with
// LD_PRELOAD=libhakmem.so): every one of the twenty replaceable operator new/delete resolves to
// libhakmem, and the operators behave: blocks come from hakmem (a large one shows in mallinfo2 and
// leaves it on delete, in every delete form), aligned new honours 16 B to 2 MiB, new(0) gives
// distinct blocks, an impossible size throws std::bad_alloc from every throwing form and gives
// nullptr from every nothrow form, and the new-handler is called until it uninstalls itself.
// _prefixed (libhakmem_prefixed.a): the same behaviour through hak_new*, hak_free_sized and
// hak_free_aligned_sized (libstdc++ keeps its own operators).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <new>

#include <dlfcn.h>
#include <malloc.h>

#include "check.h"
#include "hakmem.h"

static const std::size_t kImpossible = SIZE_MAX / 2;

#if defined(HAK_TEST_PREFIXED)
static void *new_plain(std::size_t n) { return hak_new(n); }
static void *new_nothrow(std::size_t n) { return hak_new_nothrow(n); }
static void *new_aligned(std::size_t n, std::size_t a) { return hak_new_aligned(n, a); }
static void *new_aligned_nothrow(std::size_t n, std::size_t a) { return hak_new_aligned_nothrow(n, a); }
static void del_plain(void *p) { hak_free(p); }
static void del_sized(void *p, std::size_t n) { hak_free_sized(p, n); }
static void del_aligned_sized(void *p, std::size_t n, std::size_t a) { hak_free_aligned_sized(p, a, n); }
static std::size_t live_large() { return hak_mallinfo2().hblks; }
#define VARIANT "hak_new* (libhakmem_prefixed.a)"
#else
static void *new_plain(std::size_t n) { return ::operator new(n); }
static void *new_nothrow(std::size_t n) { return ::operator new(n, std::nothrow); }
static void *new_aligned(std::size_t n, std::size_t a) { return ::operator new(n, std::align_val_t(a)); }
static void *new_aligned_nothrow(std::size_t n, std::size_t a) {
    return ::operator new(n, std::align_val_t(a), std::nothrow);
}
static void del_plain(void *p) { ::operator delete(p); }
static void del_sized(void *p, std::size_t n) { ::operator delete(p, n); }
static void del_aligned_sized(void *p, std::size_t n, std::size_t a) { ::operator delete(p, n, std::align_val_t(a)); }
static std::size_t live_large() { return mallinfo2().hblks; }
#define VARIANT "C++ operators (libhakmem.so)"

// Every replaceable allocation function, by its Itanium ABI name.
static const char *const kOperators[] = {
    "_Znwm", "_Znam", "_ZnwmRKSt9nothrow_t", "_ZnamRKSt9nothrow_t", "_ZnwmSt11align_val_t",
    "_ZnamSt11align_val_t", "_ZnwmSt11align_val_tRKSt9nothrow_t", "_ZnamSt11align_val_tRKSt9nothrow_t",
    "_ZdlPv", "_ZdaPv", "_ZdlPvRKSt9nothrow_t", "_ZdaPvRKSt9nothrow_t", "_ZdlPvm", "_ZdaPvm",
    "_ZdlPvSt11align_val_t", "_ZdaPvSt11align_val_t", "_ZdlPvmSt11align_val_t", "_ZdaPvmSt11align_val_t",
    "_ZdlPvSt11align_val_tRKSt9nothrow_t", "_ZdaPvSt11align_val_tRKSt9nothrow_t",
};

static void check_routing() {
    for (const char *name : kOperators) {
        void *sym = dlsym(RTLD_DEFAULT, name);
        Dl_info info;
        CHECK(sym && dladdr(sym, &info) && info.dli_fname, "%s: not found", name);
        CHECK(std::strstr(info.dli_fname, "hakmem") != nullptr, "%s resolves to %s, not libhakmem", name,
              info.dli_fname);
    }
    OK("all %zu replaceable operator new/delete resolve to libhakmem", sizeof kOperators / sizeof *kOperators);
}

// The forms the compiler picks itself: new/delete expressions, arrays, over-aligned types.
struct alignas(4096) Page { char bytes[4096]; };
static void check_expressions() {
    std::size_t before = live_large();
    char *big = new char[1 << 20];
    std::memset(big, 1, 1 << 20);
    CHECK(live_large() == before + 1, "new char[1 MiB] is not a live large block of hakmem");
    delete[] big;
    CHECK(live_large() == before, "delete[] did not free the 1 MiB block");
    Page *pages = new Page[80];   // 320 KiB, aligned new[] + sized aligned delete[]
    CHECK(((std::uintptr_t)pages & 4095) == 0, "new Page[80] not 4 KiB aligned: %p", (void *)pages);
    CHECK(live_large() == before + 1, "new Page[80] (320 KiB) is not a live large block");
    delete[] pages;
    int *one = new int(7);
    delete one;
    CHECK(live_large() == before, "delete[] of the aligned array did not free it");
    OK("new/delete expressions (array, over-aligned array, scalar) go through hakmem");
}
#endif

static void check_large_every_delete() {
    const std::size_t n = 3 << 20;
    std::size_t before = live_large();
    void *p = new_plain(n);
    del_plain(p);
    p = new_plain(n);
    del_sized(p, n);
    p = new_aligned(n, 1 << 21);
    CHECK(((std::uintptr_t)p & ((1 << 21) - 1)) == 0, "aligned new(3 MiB, 2 MiB) = %p", p);
    del_aligned_sized(p, n, 1 << 21);
#if !defined(HAK_TEST_PREFIXED)
    p = ::operator new[](n);
    ::operator delete[](p, n);
    p = ::operator new(n, std::align_val_t(64));
    ::operator delete(p, std::align_val_t(64));
    p = ::operator new[](n, std::align_val_t(64), std::nothrow);
    ::operator delete[](p, std::align_val_t(64), std::nothrow);
    p = ::operator new(n, std::nothrow);
    ::operator delete(p, std::nothrow);
    p = ::operator new[](n, std::align_val_t(64));
    ::operator delete[](p, n, std::align_val_t(64));
#endif
    CHECK(live_large() == before, "large blocks live after every delete form: %zu, before %zu", live_large(), before);
    OK("3 MiB blocks: every delete form frees them");
}

static void check_alignment_and_zero() {
    for (std::size_t a = 16; a <= (std::size_t)2 << 20; a *= 2) {
        for (std::size_t n : { (std::size_t)1, a / 2, a, a + 1, 3 * a }) {
            void *p = new_aligned(n, a);
            CHECK(((std::uintptr_t)p & (a - 1)) == 0, "aligned new(%zu, %zu) = %p", n, a, p);
            std::memset(p, 0x7e, n);
            del_aligned_sized(p, n, a);
            p = new_aligned_nothrow(n, a);
            CHECK(p && ((std::uintptr_t)p & (a - 1)) == 0, "aligned nothrow new(%zu, %zu) = %p", n, a, p);
            del_plain(p);
        }
    }
    void *a = new_plain(0), *b = new_plain(0);
    CHECK(a && b && a != b, "new(0) twice: %p %p", a, b);
    del_sized(a, 0);
    del_sized(b, 0);
    OK("aligned new honours 16 B to 2 MiB; new(0) gives distinct blocks");
}

static void check_failure() {
    int thrown = 0;
    try { (void)new_plain(kImpossible); } catch (const std::bad_alloc &) { thrown++; }
    try { (void)new_aligned(kImpossible, 4096); } catch (const std::bad_alloc &) { thrown++; }
#if !defined(HAK_TEST_PREFIXED)
    try { (void)::operator new[](kImpossible); } catch (const std::bad_alloc &) { thrown++; }
    try { (void)::operator new[](kImpossible, std::align_val_t(64)); } catch (const std::bad_alloc &) { thrown++; }
    CHECK(::operator new[](kImpossible, std::nothrow) == nullptr, "nothrow new[] of an impossible size");
    CHECK(::operator new[](kImpossible, std::align_val_t(64), std::nothrow) == nullptr, "nothrow aligned new[]");
    const int want = 4;
#else
    const int want = 2;
#endif
    CHECK(thrown == want, "std::bad_alloc thrown %d times of %d", thrown, want);
    CHECK(new_nothrow(kImpossible) == nullptr, "nothrow new of an impossible size returned a block");
    CHECK(new_aligned_nothrow(kImpossible, 64) == nullptr, "nothrow aligned new of an impossible size");
    OK("an impossible size: std::bad_alloc from %d throwing forms, nullptr from the nothrow forms", want);
}

static int handler_calls;
static void counting_handler() {
    if (++handler_calls == 3) std::set_new_handler(nullptr);   // give up: the next failure throws
}

static void check_new_handler() {
    handler_calls = 0;
    std::set_new_handler(counting_handler);
    bool thrown = false;
    try { (void)new_plain(kImpossible); } catch (const std::bad_alloc &) { thrown = true; }
    CHECK(thrown && handler_calls == 3, "new: handler called %d times (want 3), bad_alloc %s", handler_calls,
          thrown ? "thrown" : "not thrown");
    handler_calls = 0;
    std::set_new_handler(counting_handler);
    CHECK(new_aligned_nothrow(kImpossible, 256) == nullptr && handler_calls == 3,
          "nothrow aligned new: handler called %d times (want 3)", handler_calls);
    OK("the new-handler is called on each failure until it uninstalls itself, then bad_alloc / nullptr");
}

int main() {
    NOTE("entry points: %s", VARIANT);
#if !defined(HAK_TEST_PREFIXED)
    check_routing();
    check_expressions();
#endif
    check_large_every_delete();
    check_alignment_and_zero();
    check_failure();
    check_new_handler();
    return 0;
}
