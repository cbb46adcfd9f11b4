"""cffi builder for the native helper: kern.native._bitops (out-of-line API mode).

setup.py names this file in ``cffi_modules``; cffi runs it as a script (it is
not imported as part of the package) and compiles the extension through
setuptools' build_ext, so a failed compile is handled by setup.py's fail-soft
build_ext.  For a quick local build without pip::

    python kern/native/_build.py

which compiles in a temporary directory and copies the extension next to
this file.

The C code below is the reference for what kern/native/twin.py does in
Python; the two must agree bit for bit (tests/kern/test_native.py checks it).

Conventions of the C side:

* Bit ``i`` of a map is ``1 << (i % 8)`` of byte ``a[i / 8]``, as NetBSD's
  setbit()/isset() in sys/param.h.
* Every entry point gets the buffer's length and re-checks its arguments; on
  a bad argument it touches nothing and returns an error code (-1, or -2 for
  the scans, where -1 means "not found").  The Python wrapper in
  kern/native/__init__.py then raises the same exception the twin raises.
  The checks are cheap and keep memory safe even if a caller bypasses the
  wrapper.
* Indices are int64_t: a Python int outside that range makes cffi raise
  OverflowError, which the wrapper turns into the twin's IndexError.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile

from cffi import FFI

# Bumped whenever the C interface changes; kern/native/__init__.py refuses a
# compiled module whose version differs (a stale in-place build).
BITOPS_VERSION = 2

CDEF = """
#define KEMU_BITOPS_VERSION ...

int64_t kemu_ffs_range(const unsigned char *a, int64_t nbytes, int64_t start, int64_t end);
int64_t kemu_ffc_range(const unsigned char *a, int64_t nbytes, int64_t start, int64_t end);
int64_t kemu_popcount_range(const unsigned char *a, int64_t nbytes, int64_t start, int64_t end);
int kemu_memset(unsigned char *dst, int64_t dlen, int64_t off, int c, int64_t n);
"""

C_SOURCE = r"""
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KEMU_BITOPS_VERSION @VERSION@

/*
 * Word access.  A little-endian 64-bit load numbers its bits exactly as
 * the bitmap does (bit k of the word is bit k % 8 of byte k / 8), so the
 * scans can test eight bytes at a time and use count-trailing-zeros to
 * find the bit.  memcpy() keeps the load legal at any alignment; compilers
 * turn it into a single move.  Where the byte order is unknown or big,
 * the word is assembled byte by byte instead.
 */
#if (defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
     __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__) || defined(_MSC_VER)
#define KEMU_LITTLE_ENDIAN 1
#endif

static uint64_t
kemu_ld64(const unsigned char *p)
{
#ifdef KEMU_LITTLE_ENDIAN
    uint64_t w;

    memcpy(&w, p, sizeof(w));
    return w;
#else
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
        (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
        (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
#endif
}

/* Index of the lowest set bit of x; x must not be 0. */
static int
kemu_ctz64(uint64_t x)
{
#if defined(__GNUC__) || defined(__clang__)
    return __builtin_ctzll(x);
#else
    int n = 0;

    while ((x & 0xff) == 0) {
        x >>= 8;
        n += 8;
    }
    while ((x & 1) == 0) {
        x >>= 1;
        n++;
    }
    return n;
#endif
}

/*
 * Population count.  The shift-and-add form below needs no CPU feature;
 * compilers turn it into a popcnt instruction when the target has one.
 */
static uint64_t
kemu_pop64(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (x * 0x0101010101010101ULL) >> 56;
}

/* Set bits in the whole words of a[0 .. nbytes), nbytes a multiple of 8. */
static uint64_t
kemu_pop_words(const unsigned char *a, int64_t nbytes)
{
    uint64_t n = 0;
    int64_t i;

    for (i = 0; i < nbytes; i += 8)
        n += kemu_pop64(kemu_ld64(a + i));
    return n;
}

/*
 * Generic x86-64 builds may not assume popcnt, which counts a word about
 * three times faster than the shift-and-add form.  On GCC and clang for
 * x86-64 a second copy of the word loop is compiled for popcnt, and chosen
 * when the module loads if CPUID says the CPU has it.
 */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__)) && \
    !defined(__POPCNT__)
#include <cpuid.h>
#define KEMU_POPCNT_DISPATCH 1

__attribute__((target("popcnt"))) static uint64_t
kemu_pop_words_popcnt(const unsigned char *a, int64_t nbytes)
{
    uint64_t n = 0;
    int64_t i;

    for (i = 0; i < nbytes; i += 8)
        n += (uint64_t)__builtin_popcountll(kemu_ld64(a + i));
    return n;
}

static uint64_t (*kemu_pop_words_best)(const unsigned char *, int64_t) = kemu_pop_words;

__attribute__((constructor)) static void
kemu_pick_popcount(void)
{
    unsigned eax, ebx, ecx, edx;

    if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_POPCNT))
        kemu_pop_words_best = kemu_pop_words_popcnt;
}
#else
#define kemu_pop_words_best kemu_pop_words
#endif

/*
 * Argument checks.  A buffer cannot come near 2^60 bytes, but clamp the bit
 * count anyway so that nbytes * 8 cannot overflow.
 */
static int64_t
kemu_nbits(int64_t nbytes)
{
    if (nbytes < 0)
        return -1;
    if (nbytes > INT64_MAX / 8)
        return INT64_MAX;
    return nbytes * 8;
}

static int
kemu_range_ok(int64_t nbytes, int64_t start, int64_t end)
{
    return start >= 0 && start <= end && end <= kemu_nbits(nbytes);
}

static int
kemu_span_ok(int64_t len, int64_t off, int64_t n)
{
    return off >= 0 && n >= 0 && off <= len && n <= len - off;
}

/*
 * First bit in [start, end) that is set (inv == 0) or clear (inv == 0xff):
 * every byte is XORed with inv, so both scans look for a set bit.  The
 * whole bytes are tested 32 at a time (four words ORed together, which the
 * compiler can vectorise), then the hit is located word by word.
 */
static int64_t
kemu_find(const unsigned char *a, int64_t start, int64_t end, unsigned inv)
{
    uint64_t winv = inv ? ~(uint64_t)0 : 0;
    int64_t sb = start >> 3, eb = end >> 3, i;
    unsigned lo = (unsigned)(start & 7), hi = (unsigned)(end & 7);
    unsigned v;
    uint64_t w;

    if (start >= end)
        return -1;
    if (sb == eb) {
        v = ((a[sb] ^ inv) >> lo) & ((1u << (hi - lo)) - 1);
        return v ? start + kemu_ctz64(v) : -1;
    }
    if (lo != 0) {
        v = (a[sb] ^ inv) >> lo;
        if (v)
            return start + kemu_ctz64(v);
        sb++;
    }
    i = sb;
    while (eb - i >= 32) {
        if (((kemu_ld64(a + i) ^ winv) | (kemu_ld64(a + i + 8) ^ winv) |
            (kemu_ld64(a + i + 16) ^ winv) | (kemu_ld64(a + i + 24) ^ winv)) != 0)
            break;
        i += 32;
    }
    for (; eb - i >= 8; i += 8) {
        w = kemu_ld64(a + i) ^ winv;
        if (w)
            return (i << 3) + kemu_ctz64(w);
    }
    for (; i < eb; i++) {
        v = a[i] ^ inv;
        if (v)
            return (i << 3) + kemu_ctz64(v);
    }
    if (hi != 0) {
        v = (a[eb] ^ inv) & ((1u << hi) - 1);
        if (v)
            return (eb << 3) + kemu_ctz64(v);
    }
    return -1;
}

static int64_t
kemu_ffs_range(const unsigned char *a, int64_t nbytes, int64_t start, int64_t end)
{
    if (!kemu_range_ok(nbytes, start, end))
        return -2;
    return kemu_find(a, start, end, 0);
}

static int64_t
kemu_ffc_range(const unsigned char *a, int64_t nbytes, int64_t start, int64_t end)
{
    if (!kemu_range_ok(nbytes, start, end))
        return -2;
    return kemu_find(a, start, end, 0xff);
}

static int64_t
kemu_popcount_range(const unsigned char *a, int64_t nbytes, int64_t start, int64_t end)
{
    int64_t sb = start >> 3, eb = end >> 3, i;
    unsigned lo = (unsigned)(start & 7), hi = (unsigned)(end & 7);
    uint64_t n = 0;

    if (!kemu_range_ok(nbytes, start, end))
        return -1;
    if (start == end)
        return 0;
    if (sb == eb)
        return (int64_t)kemu_pop64((a[sb] >> lo) & ((1u << (hi - lo)) - 1));
    if (lo != 0) {
        n += kemu_pop64(a[sb] >> lo);
        sb++;
    }
    if (hi != 0)
        n += kemu_pop64(a[eb] & ((1u << hi) - 1));
    i = sb + ((eb - sb) & ~(int64_t)7);
    n += kemu_pop_words_best(a + sb, i - sb);
    for (; i < eb; i++)
        n += kemu_pop64(a[i]);
    return (int64_t)n;
}

/* Bytes. */
static int
kemu_memset(unsigned char *dst, int64_t dlen, int64_t off, int c, int64_t n)
{
    if (c < 0 || c > 255 || !kemu_span_ok(dlen, off, n))
        return -1;
    if (n > 0)
        memset(dst + off, c, (size_t)n);
    return 0;
}
""".replace("@VERSION@", str(BITOPS_VERSION))

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source("kern.native._bitops", C_SOURCE)


def _build_in_place() -> None:
    """Compile in a scratch directory and copy the extension beside this file."""
    here = os.path.dirname(os.path.abspath(__file__))
    with tempfile.TemporaryDirectory(prefix="kemu-bitops-") as tmp:
        built = ffibuilder.compile(tmpdir=tmp, verbose=True)
        target = os.path.join(here, os.path.basename(built))
        shutil.copyfile(built, target)
    print(f"built {target}", file=sys.stderr)


if __name__ == "__main__":
    _build_in_place()
