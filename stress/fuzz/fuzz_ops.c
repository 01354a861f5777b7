/* fuzz_ops: libFuzzer harness for the hak_* API.
 *
 * The input is a program: each operation is one byte (the opcode) followed by its operands, read
 * from the input as far as it lasts. A model keeps, per slot, the block, the size asked for, the
 * alignment asked for and the byte its contents were filled from. Every block is checked against
 * the model whenever it is touched and at the end of the input:
 *   - the usable size is at least the size asked for;
 *   - the block has the alignment asked for (and malloc's 16 for sizes >= 16);
 *   - its contents are still the pattern it was filled with (calloc: zero up to the size; realloc:
 *     the old pattern up to the smaller size);
 *   - errors are what the standard says (EINVAL for a bad alignment, ENOMEM for an overflow).
 * Blocks do not overlap: each is filled entirely, so an overlap shows as a pattern mismatch.
 * Everything is freed at the end of each input; built with ASan (and hakmem's poisoning of free
 * blocks), a use-after-free or overflow inside hakmem is reported as well.
 *
 * Opcodes (op % 12): 0-1 malloc, 2 calloc, 3-4 realloc, 5 aligned, 6-7 free, 8 free(NULL) and
 * usable size, 9 rewrite, 10 reallocarray, 11 nothing; op >= 128 with calloc or reallocarray asks
 * for an overflowing product, and with 11 makes a bad free (below); 0xff is hak_trim and 0xfe
 * hak_thread_flush (no operands).
 *
 * Bad frees (docs/security.md) run in a forked child, so that a detection (SIGABRT, or ASan's
 * non-zero exit, with "hakmem" on stderr) can be told from a crash (any other signal) and from a
 * miss (the child ends normally): a double free of the slot's block, a free of a pointer 8 bytes
 * into it, or of a stack address; the child then flushes its lists (an interior pointer freed on
 * the owner's path is checked when it leaves them). A fork costs as much as a hundred inputs (ASan's
 * mappings), and the child's coverage never reaches the fuzzer, so only one bad free in
 * BAD_FREE_EVERY that inputs ask for runs (the rest are no-ops), at most one per input: the run
 * keeps about 80% of its speed.
 * Operand encoding: slot = one byte mod SLOTS; a size = a class byte (top two bits: 0 -> 0..255,
 * 1 -> 0..4 KiB, 2 -> 0..64 KiB, 3 -> 0..256 KiB, or 0..2 MiB if the class byte is 0xff; large
 * blocks are slow to fill and check, so they are kept rare) followed by 1-3 bytes; an alignment = one byte
 * (2^(b % 18), so 1 B .. 128 KiB, some not valid on purpose). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "hakmem.h"

#define SLOTS 32
#define MAX_BYTES ((size_t)4 << 20)   /* largest block a calloc/reallocarray product may ask for */

typedef struct model {
    unsigned char *p;
    size_t size;      /* asked for */
    size_t align;     /* asked for; 0 = plain malloc family */
    unsigned char fill;
    bool zero;        /* calloc: the contents are zero, not the fill pattern */
} model_t;

typedef struct input {
    const uint8_t *data;
    size_t left;
} input_t;

static model_t slots[SLOTS];

static void fail(const char *what, int slot, const model_t *m, size_t off)
{
    fprintf(stderr, "fuzz_ops: %s: slot %d block %p size %zu align %zu fill %u offset %zu\n", what, slot,
            (void *)m->p, m->size, m->align, m->fill, off);
    abort();
}

static uint8_t byte(input_t *in)
{
    if (!in->left) return 0;
    in->left--;
    return *in->data++;
}

/* Big-endian operand bytes (each read in its own statement: the order is then defined). */
static size_t size_operand(input_t *in)
{
    uint8_t c = byte(in);
    unsigned nbytes = (c >> 6) == 0 ? 1 : (c >> 6) == 3 ? 3 : 2;
    size_t n = 0;
    for (unsigned i = 0; i < nbytes; i++) n = n << 8 | byte(in);
    switch (c >> 6) {
    case 1: return n & 0xfff;
    case 3: return (c & 0x3f) == 0x3f ? n & 0x1fffff : n & 0x3ffff;   /* 2 MiB only for 0xff */
    default: return n;
    }
}

/* Contents: byte i of a block filled from `fill` is pattern[fill + i], so filling and checking are
 * one memcpy and one memcmp (fast, and checked by ASan's interceptors) instead of byte loops that
 * the fuzzer's coverage instrumentation would slow down a hundredfold. */
#define PATTERN_LEN (MAX_BYTES + 2 * 1024 * 1024 + 256)
static unsigned char pattern[PATTERN_LEN];
static const unsigned char zeros[PATTERN_LEN];

static void pattern_init(void)
{
    if (pattern[1]) return;
    for (size_t i = 0; i < PATTERN_LEN; i++) pattern[i] = (unsigned char)(i * 131u + (i >> 8) + 1);
}

static void fill_block(model_t *m)
{
    memcpy(m->p, pattern + m->fill, m->size);
    m->zero = false;
}

/* The model's checks of one live block; `upto` bytes of contents are compared. */
static void check_block(int slot, const model_t *m, size_t upto)
{
    if (!m->p) return;
    size_t usable = hak_malloc_usable_size(m->p);
    if (usable < m->size) fail("usable size below the size asked for", slot, m, usable);
    if (m->align && ((uintptr_t)m->p & (m->align - 1))) fail("misaligned", slot, m, 0);
    if (m->size >= 16 && ((uintptr_t)m->p & 15)) fail("not 16-byte aligned", slot, m, 0);
    if (((uintptr_t)m->p & 7)) fail("not 8-byte aligned", slot, m, 0);
    if (upto > m->size) upto = m->size;
    const unsigned char *want = m->zero ? zeros : pattern + m->fill;
    if (memcmp(m->p, want, upto) != 0) {
        size_t i = 0;
        while (m->p[i] == want[i]) i++;
        fail(m->zero ? "calloc block not zero" : "contents changed", slot, m, i);
    }
}

static void drop(int slot)
{
    model_t *m = &slots[slot];
    if (!m->p) return;
    check_block(slot, m, m->size);
    hak_free(m->p);
    memset(m, 0, sizeof *m);
}

/* A new block in `slot` (the old one, if any, is checked and freed first). */
static void place(int slot, void *p, size_t size, size_t align, unsigned char fill, bool zeroed)
{
    model_t *m = &slots[slot];
    m->p = p;
    m->size = size;
    m->align = align;
    m->fill = fill;
    if (zeroed) {
        m->zero = true;
        check_block(slot, m, size);
        if (fill & 1) fill_block(m);   /* sometimes keep it zero, sometimes write over it */
    } else {
        check_block(slot, m, 0);
        fill_block(m);
    }
}

#define BAD_FREE_EVERY 16
static unsigned bad_free_asked;   /* across inputs: which asks run */

static void bad_free_child(void *p, uint8_t kind)
{
    char stack_buf[32];
    memset(stack_buf, 0, sizeof stack_buf);
    /* libFuzzer's crash handlers would turn the abort into its own report and exit code. */
    signal(SIGABRT, SIG_DFL);
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);   /* a closed pipe must not end the child before its abort */
    if (!p) p = hak_malloc(64);
    switch (kind) {
    case 0: hak_free(p); hak_free(p); break;
    case 1: hak_free((char *)p + 8); break;
    default: hak_free(stack_buf + 16); break;
    }
    hak_thread_flush();
    _exit(0);
}

static void bad_free(int slot, uint8_t kind)
{
    static const char *names[] = { "double free", "interior pointer (+8)", "stack address" };
    int pe[2];
    if (pipe(pe) != 0) return;
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        close(pe[0]);
        close(pe[1]);
        return;
    }
    if (pid == 0) {
        close(pe[0]);
        dup2(pe[1], 2);
        bad_free_child(slots[slot].p, kind);
    }
    close(pe[1]);
    char err[16384];
    size_t n = 0;
    ssize_t k;
    char sink[4096];
    /* Read to EOF, through signals (libFuzzer's timer interrupts read): closing the pipe early
     * would kill the child with SIGPIPE in the middle of its report. */
    for (;;) {
        k = read(pe[0], n < sizeof err - 1 ? err + n : sink, n < sizeof err - 1 ? sizeof err - 1 - n : sizeof sink);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) break;
        if (n < sizeof err - 1) n += (size_t)k;
    }
    err[n] = '\0';
    close(pe[0]);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    bool said = strstr(err, "hakmem") != NULL;
    bool stopped = (WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT) || (WIFEXITED(st) && WEXITSTATUS(st) != 0);
    if (!said || !stopped) {
        fprintf(stderr, "fuzz_ops: %s of slot %d (%p) not detected: child %s %d; its stderr:\n%s\n", names[kind],
                slot, (void *)slots[slot].p, WIFSIGNALED(st) ? "killed by signal" : "exited with", WIFSIGNALED(st)
                ? WTERMSIG(st) : WEXITSTATUS(st), err);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int bad_frees = 0;
    input_t in = { data, size };
    pattern_init();
    while (in.left) {
        uint8_t op = byte(&in);
        if (op == 0xff || op == 0xfe) {   /* maintenance: give cached memory back */
            if (op == 0xff) hak_trim();
            else hak_thread_flush();
            continue;
        }
        int slot = byte(&in) % SLOTS;
        model_t *m = &slots[slot];
        switch (op % 12) {
        case 0: case 1: {   /* malloc */
            size_t n = size_operand(&in);
            drop(slot);
            void *p = hak_malloc(n);
            if (!p) fail("malloc returned NULL", slot, m, n);
            place(slot, p, n, 0, byte(&in), false);
            break;
        }
        case 2: {           /* calloc, including products that overflow */
            size_t count = size_operand(&in), each = byte(&in);
            if (op & 0x80) {   /* a product that overflows, on purpose */
                if (each < 2) each = 2;
                count = SIZE_MAX / each + 1;
            } else if (each && count > MAX_BYTES / each) count = MAX_BYTES / each;
            drop(slot);
            errno = 0;
            void *p = hak_calloc(count, each);
            size_t total;
            if (__builtin_mul_overflow(count, each, &total)) {
                if (p || errno != ENOMEM) fail("calloc overflow not refused with ENOMEM", slot, m, count);
                break;
            }
            if (!p) fail("calloc returned NULL", slot, m, total);
            place(slot, p, total, 0, byte(&in), true);
            break;
        }
        case 3: case 4: {   /* realloc (of NULL, to 0, grow, shrink) */
            size_t n = size_operand(&in);
            check_block(slot, m, m->size);
            model_t old = *m;
            void *p = hak_realloc(m->p, n);
            if (!p) fail("realloc returned NULL", slot, &old, n);
            m->p = p;
            m->size = n;
            m->align = 0;
            /* The old contents survive up to the smaller size. */
            size_t keep = old.size < n ? old.size : n;
            if (old.p) check_block(slot, &(model_t){ p, keep, 0, old.fill, old.zero }, keep);
            m->fill = byte(&in);
            fill_block(m);
            break;
        }
        case 5: {           /* aligned: posix_memalign, aligned_alloc, memalign */
            size_t align = (size_t)1 << (byte(&in) % 18), n = size_operand(&in);
            uint8_t how = byte(&in) % 3;
            drop(slot);
            void *p = NULL;
            if (how == 0) {
                int rc = hak_posix_memalign(&p, align, n);
                if (align < sizeof(void *)) {
                    if (rc != EINVAL) fail("posix_memalign accepted an alignment below sizeof(void *)", slot, m, align);
                    break;
                }
                if (rc) fail("posix_memalign failed", slot, m, align);
            } else if (how == 1) {
                p = hak_aligned_alloc(align, n);
            } else {
                p = hak_memalign(align, n);
            }
            if (!p) fail("aligned allocation returned NULL", slot, m, align);
            place(slot, p, n, align, byte(&in), false);
            break;
        }
        case 6: case 7:     /* free */
            drop(slot);
            break;
        case 8:             /* free(NULL), usable size of a live block */
            hak_free(NULL);
            check_block(slot, m, m->size);
            break;
        case 9:             /* rewrite the contents */
            if (m->p) {
                check_block(slot, m, m->size);
                m->fill = byte(&in);
                fill_block(m);
            }
            break;
        case 10: {          /* reallocarray, with overflow */
            size_t count = byte(&in), each = size_operand(&in) & 0xffff;
            if (op & 0x80) {   /* a product that overflows, on purpose */
                if (each < 2) each = 2;
                count = SIZE_MAX / each + 1;
            } else if (each && count > MAX_BYTES / each) count = MAX_BYTES / each;
            check_block(slot, m, m->size);
            size_t total;
            errno = 0;
            if (__builtin_mul_overflow(count, each, &total)) {
                void *p = hak_reallocarray(m->p, count, each);
                if (p || errno != ENOMEM) fail("reallocarray overflow not refused with ENOMEM", slot, m, count);
                check_block(slot, m, m->size);   /* the old block is untouched */
                break;
            }
            model_t old = *m;
            void *p = hak_reallocarray(m->p, count, each);
            if (!p) fail("reallocarray returned NULL", slot, &old, total);
            m->p = p;
            m->size = total;
            m->align = 0;
            size_t keep = old.size < total ? old.size : total;
            if (old.p) check_block(slot, &(model_t){ p, keep, 0, old.fill, old.zero }, keep);
            m->fill = byte(&in);
            fill_block(m);
            break;
        }
        default:            /* 11: no operation, or a bad free */
            if ((op & 0x80) && !bad_frees && bad_free_asked++ % BAD_FREE_EVERY == 0) {
                bad_frees++;
                check_block(slot, m, m->size);
                bad_free(slot, byte(&in) % 3);
            }
            break;
        }
    }
    for (int i = 0; i < SLOTS; i++) drop(i);
    return 0;
}
