/* The C++ allocation entry points and C23's sized frees, prefixed: hak_new[_aligned][_nothrow],
 * hak_free_sized, hak_free_aligned_sized.
 *
 * This file is part of alloc.c's translation unit (alloc.c includes it at its end), for the same
 * reason override.c includes alloc.c: hak_new is hak_malloc with its fast path inlined, and the
 * hidden aliases below let the C++ operators (api/new_delete.cpp) reach these functions with one
 * direct jump, without a PLT entry and without going through malloc.
 *
 * operator new's contract differs from malloc's only on failure: it calls the installed
 * std::new_handler and tries again, as long as there is one, and throws std::bad_alloc when there
 * is none (the nothrow forms return NULL instead). That needs the C++ runtime, which a C program
 * does not load, so libhakmem must not depend on it: it reaches libstdc++'s std::get_new_handler()
 * and std::__throw_bad_alloc() through weak references (null when libstdc++ is not loaded) and,
 * if those are null, looks libstdc++ up among the libraries already loaded (a C++ plugin opened
 * with RTLD_LOCAL by a C program). Only a failed allocation ever gets there. */
#include <dlfcn.h>

typedef void (*hak_new_handler_t)(void);

/* libstdc++'s std::get_new_handler() and std::__throw_bad_alloc() by their mangled names (both
 * exported by libstdc++.so.6 since GCC 4.x), weak: they stay null in a process without it. */
extern hak_new_handler_t _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void _ZSt17__throw_bad_allocv(void) __attribute__((weak, noreturn));

typedef struct cxx_runtime {
    hak_new_handler_t (*get_new_handler)(void);
    void (*throw_bad_alloc)(void);
} cxx_runtime_t;

static void *cxx_symbol(void *lib, const char *name) { return lib ? dlsym(lib, name) : NULL; }

/* Looked up on every failure, not cached: the runtime may be loaded later (a plugin). */
static cxx_runtime_t cxx_runtime(void) {
    cxx_runtime_t rt = { _ZSt15get_new_handlerv, _ZSt17__throw_bad_allocv };
    if (rt.get_new_handler && rt.throw_bad_alloc) return rt;
    void *lib = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_NOLOAD);   /* only if already loaded */
    void *get = cxx_symbol(lib, "_ZSt15get_new_handlerv"), *thr = cxx_symbol(lib, "_ZSt17__throw_bad_allocv");
    if (!rt.get_new_handler && get) memcpy(&rt.get_new_handler, &get, sizeof get);
    if (!rt.throw_bad_alloc && thr) memcpy(&rt.throw_bad_alloc, &thr, sizeof thr);
    if (lib) dlclose(lib);
    return rt;
}

/* The allocation failed: call the new-handler and retry while there is one ([new.delete.single]).
 * align 0: plain new. A handler that throws from a nothrow new propagates its exception (hakmem's
 * own code has no catch clauses: that would tie it to libstdc++). */
static HAK_COLD void *new_retry(size_t size, size_t align, bool nothrow) {
    for (;;) {
        cxx_runtime_t rt = cxx_runtime();
        hak_new_handler_t handler = rt.get_new_handler ? rt.get_new_handler() : NULL;
        if (!handler) {
            if (nothrow) return NULL;
            if (rt.throw_bad_alloc) rt.throw_bad_alloc();
            hak_fatal("hakmem: operator new(%zu): out of memory, and no C++ runtime (libstdc++) is "
                      "loaded to throw std::bad_alloc", size);
        }
        handler();
        void *p = align ? hak_aligned_alloc(align, size) : hak_malloc(size);
        if (p) return p;
    }
}

HAK_API void *hak_new(size_t size) {
    void *p = hak_malloc(size);
    return HAK_LIKELY(p != NULL) ? p : new_retry(size, 0, false);
}

HAK_API void *hak_new_nothrow(size_t size) {
    void *p = hak_malloc(size);
    return HAK_LIKELY(p != NULL) ? p : new_retry(size, 0, true);
}

/* An alignment that is not a power of two is undefined behaviour for operator new; here it fails
 * like an impossible size (aligned_alloc refuses it). */
HAK_API void *hak_new_aligned(size_t size, size_t align) {
    void *p = hak_aligned_alloc(align, size);
    return HAK_LIKELY(p != NULL) ? p : new_retry(size, align ? align : 1, false);
}

HAK_API void *hak_new_aligned_nothrow(size_t size, size_t align) {
    void *p = hak_aligned_alloc(align, size);
    return HAK_LIKELY(p != NULL) ? p : new_retry(size, align ? align : 1, true);
}

/* ---- Sized frees ------------------------------------------------------------------------------- *
 * free() reads one 32-bit slab tag that gives the block's class and its owner together, and the
 * owner is needed anyway (local or remote free), so a size saves nothing for blocks with a class
 * (up to HAK_MEDIUM_MAX, 256 KiB): they take hak_free's path. Above that a block can only be a
 * large one, which goes straight to
 * the large-block table without the SuperSlab registry test. A wrong size (undefined behaviour in
 * C23 and C++) costs nothing either way: large_free refuses a pointer it does not know, and
 * hak_free then validates it as usual. */
HAK_API void hak_free_sized(void *p, size_t size) {
    if (size > HAK_MEDIUM_MAX && p && large_free(p)) return;
    hak_free(p);
}

/* The alignment adds nothing: blocks are found by address, whatever their alignment. */
HAK_API void hak_free_aligned_sized(void *p, size_t align, size_t size) {
    (void)align;
    hak_free_sized(p, size);
}

/* ---- For the C++ operators (new_delete.cpp): hidden, so the calls bind inside the library ---- */
#define HAK_LOCAL_ALIAS(name) __attribute__((alias(#name), visibility("hidden")))
void *hak_op_new(size_t size) HAK_LOCAL_ALIAS(hak_new);
void *hak_op_new_nothrow(size_t size) HAK_LOCAL_ALIAS(hak_new_nothrow);
void *hak_op_new_aligned(size_t size, size_t align) HAK_LOCAL_ALIAS(hak_new_aligned);
void *hak_op_new_aligned_nothrow(size_t size, size_t align) HAK_LOCAL_ALIAS(hak_new_aligned_nothrow);
void  hak_op_free(void *p) HAK_LOCAL_ALIAS(hak_free);
void  hak_op_free_sized(void *p, size_t size) HAK_LOCAL_ALIAS(hak_free_sized);
void  hak_op_free_aligned_sized(void *p, size_t align, size_t size) HAK_LOCAL_ALIAS(hak_free_aligned_sized);

/* ---- The standard names (the overriding library only; CMake defines HAK_OVERRIDE_NAMES) ------ */
#ifdef HAK_OVERRIDE_NAMES
#define HAK_STD_ALIAS(name) __attribute__((alias(#name), visibility("default"), used))
void free_sized(void *p, size_t size) HAK_STD_ALIAS(hak_free_sized);
void free_aligned_sized(void *p, size_t align, size_t size) HAK_STD_ALIAS(hak_free_aligned_sized);
#endif
