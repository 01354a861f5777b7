#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_ops (stress/fuzz/corpus/). Run from anywhere; deterministic.

Each seed is a short program in fuzz_ops's encoding (see the comment at the top of fuzz_ops.c)
that reaches one area: small sizes, realloc chains, calloc and overflows, every alignment, large
blocks with trim, reallocarray, and a pseudo-random mix."""
import os
import random

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

MALLOC, CALLOC, REALLOC, ALIGNED, FREE, USABLE, REWRITE, REALLOCARRAY = 0, 2, 3, 5, 6, 8, 9, 10
CALLOC_OVERFLOW, REALLOCARRAY_OVERFLOW, TRIM, FLUSH = 134, 130, 0xFF, 0xFE
BAD_FREE = 0x80 | 11  # kind operand: 0 double free, 1 interior pointer, 2 stack address


def size(n):
    if n < 256:
        return bytes([0x00, n])
    if n < 4096:
        return bytes([0x40, n >> 8, n & 0xFF])
    if n < 65536:
        return bytes([0x80, n >> 8, n & 0xFF])
    return bytes([0xC0 if n < 0x40000 else 0xFF, (n >> 16) & 0xFF, (n >> 8) & 0xFF, n & 0xFF])


def op(code, slot, *operands):
    return bytes([code, slot]) + b"".join(operands)


def b(x):
    return bytes([x & 0xFF])


def small():
    out = b""
    for i, n in enumerate([0, 1, 7, 8, 9, 15, 16, 17, 24, 100, 128, 129, 255]):
        out += op(MALLOC, i, size(n), b(i * 17))
    for i in range(13):
        out += op(USABLE, i) + op(FREE, i)
    return out


def realloc_chain():
    out = op(MALLOC, 1, size(10), b(3))
    for n in [20, 40, 100, 1000, 1024, 1025, 5000, 40000, 70000, 300000, 100, 3, 0, 50]:
        out += op(REALLOC, 1, size(n), b(n))
    out += op(REALLOC, 2, size(33), b(9)) + op(FREE, 1) + op(FREE, 2)
    return out


def calloc_cases():
    out = b""
    for i, (count, each) in enumerate([(1, 1), (10, 8), (100, 10), (0, 5), (3, 0), (4000, 9)]):
        out += op(CALLOC, i, size(count), b(each), b(i))
    out += op(CALLOC_OVERFLOW, 7, size(5), b(16), b(0))
    out += op(REWRITE, 0, b(99)) + op(FREE, 0) + op(FREE, 1)
    return out


def aligned_cases():
    out = b""
    for k in range(18):
        out += op(ALIGNED, k, b(k), size(k * 37 + 1), b(k % 3), b(k))
    for k in range(18):
        out += op(FREE, k)
    return out


def large_cases():
    out = op(MALLOC, 3, size(40000), b(1)) + op(MALLOC, 4, size(1 << 20), b(2))
    out += op(REALLOC, 4, size(2_000_000), b(5)) + op(REALLOC, 4, size(600000), b(6))
    out += op(FREE, 4) + bytes([TRIM]) + op(MALLOC, 4, size(1 << 20), b(7)) + bytes([FLUSH])
    out += op(ALIGNED, 5, b(17), size(100000), b(1), b(8))
    return out


def reallocarray_cases():
    out = op(REALLOCARRAY, 1, b(10), size(100), b(4)) + op(REALLOCARRAY, 1, b(3), size(5000), b(5))
    out += op(REALLOCARRAY_OVERFLOW, 1, b(1), size(300), b(6)) + op(REALLOCARRAY, 1, b(0), size(9), b(7))
    return out


def bad_frees():
    out = op(MALLOC, 1, size(64), b(1)) + op(MALLOC, 2, size(48), b(2)) + op(MALLOC, 3, size(1 << 20), b(3))
    out += op(BAD_FREE, 1, b(0)) + op(BAD_FREE, 2, b(1)) + op(BAD_FREE, 3, b(0)) + op(BAD_FREE, 4, b(2))
    return out + op(FREE, 1) + op(FREE, 2) + op(FREE, 3)


def random_mix(seed, length):
    rng = random.Random(seed)
    return bytes(rng.randrange(256) for _ in range(length))


def main():
    os.makedirs(OUT, exist_ok=True)
    seeds = {
        "small_sizes": small(),
        "realloc_chain": realloc_chain(),
        "calloc_and_overflow": calloc_cases(),
        "every_alignment": aligned_cases(),
        "large_and_trim": large_cases(),
        "reallocarray": reallocarray_cases(),
        "bad_frees": bad_frees(),
        "random_1": random_mix(1, 512),
        "random_2": random_mix(2, 2048),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
