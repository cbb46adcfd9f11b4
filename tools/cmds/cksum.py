"""cksum, sum and md5: display file checksums and block counts, after NetBSD 8's
usr.bin/cksum (cksum.c, crc.c, sum1.c, sum2.c, print.c): one program, its
behaviour chosen by its name.  Revision: cksum.c 1.45 (2011/08/29), the
copy in the reference store (the helper files not re-compared when named).

``cksum [-n] [-a algorithm [-ptx] [-s string]] [-o 1|2] [file ...]``:
by default the POSIX CRC-32 (crc.c: polynomial 0x04c11db7, the length
folded in) and the byte count, ``-o 1`` the historic BSD sum (sum1.c:
16-bit rotating checksum, 1 KiB blocks), ``-o 2`` the System V sum
(sum2.c: 512-byte blocks), ``-a`` a digest: crc, old1, old2, md5, sha1,
sha256, sha384, sha512.  ``sum`` is ``cksum -o 1``; ``md5 [-n] [-ptx]
[-s string] [file ...]`` prints ``MD5 (file) = digest`` (just the digest
for standard input; ``digest file`` with -n), -s digests a string, -p
echoes standard input, -t and -x run the time trial and test suite of
md5(1) (MDTimeTrial's 10000 blocks of 10000 bytes are shortened to 100
blocks here; the test suite prints NetBSD's MDTestSuite strings).

Not implemented: -c (check sums from a file), -w, md2/md4/rmd160/sha224.
"""

from __future__ import annotations

import hashlib

from kern.exceptions import SyscallError
from tools.cmds import command, summaries
from tools.cmds._prog import (
    File,
    GetoptError,
    eprintf,
    errx,
    fopen,
    getopt,
    getprogname,
    printf,
    stdin,
    usage_exit,
    warn,
    write_all,
)

CKSUM_USAGE = ("usage: cksum [-n] [-a algorithm [-ptx] [-s string]] [-o 1|2]\n"
               "             [file ... | -c [-w] [sumfile]]")
SUM_USAGE = ("usage: sum [-n] [-a algorithm [-ptx] [-s string]] [-o 1|2]\n"
             "           [file ... | -c [-w] [sumfile]]")
MD5_USAGE = "usage: md5 [-n] [-ptx] [-s string] [file ... | -c [-w] [sumfile]]"

_HASHES = {"md5": "MD5", "sha1": "SHA1", "sha256": "SHA256", "sha384": "SHA384",
           "sha512": "SHA512"}


def _crctab() -> list[int]:
    tab = []
    for i in range(256):
        c = i << 24
        for _ in range(8):
            c = ((c << 1) ^ 0x04c11db7) if c & 0x80000000 else (c << 1)
            c &= 0xffffffff
        tab.append(c)
    return tab


_CRCTAB = _crctab()


class Crc:
    """crc.c: the POSIX cksum CRC-32."""

    def __init__(self) -> None:
        self.crc = 0
        self.len = 0

    def update(self, data: bytes) -> None:
        crc = self.crc
        tab = _CRCTAB
        for b in data:
            crc = ((crc << 8) & 0xffffffff) ^ tab[(crc >> 24) ^ b]
        self.crc = crc
        self.len += len(data)

    def result(self) -> tuple[int, int]:
        crc = self.crc
        n = self.len
        while n:
            crc = ((crc << 8) & 0xffffffff) ^ _CRCTAB[(crc >> 24) ^ (n & 0xff)]
            n >>= 8
        return (~crc) & 0xffffffff, self.len


class Sum1:
    """sum1.c: the historic BSD checksum, 1 KiB blocks."""

    def __init__(self) -> None:
        self.cksum = 0
        self.len = 0

    def update(self, data: bytes) -> None:
        c = self.cksum
        for b in data:
            c = ((c >> 1) + ((c & 1) << 15) + b) & 0xffff
        self.cksum = c
        self.len += len(data)

    def result(self) -> tuple[int, int]:
        return self.cksum, (self.len + 1023) // 1024


class Sum2:
    """sum2.c: the System V checksum, 512-byte blocks."""

    def __init__(self) -> None:
        self.s = 0
        self.len = 0

    def update(self, data: bytes) -> None:
        self.s = (self.s + sum(data)) & 0xffffffff
        self.len += len(data)

    def result(self) -> tuple[int, int]:
        r = (self.s & 0xffff) + (self.s >> 16)
        return (r & 0xffff) + (r >> 16), (self.len + 511) // 512


async def _readall(fp: File, h: object) -> None:
    while data := await fp.read(65536):
        h.update(data)  # type: ignore[attr-defined]


async def _digest_prog(argv: list[str], algo: str, usage: str, nflag: bool,
                       opts: list[tuple[str, str]], args: list[str]) -> int:
    """md5-style output for a digest algorithm."""
    name = _HASHES[algo]
    rval = 0
    done = False
    for o, a in opts:
        if o == "s":
            await printf(_format(name, f"\"{a}\"", hashlib.new(algo, a.encode()).hexdigest(),
                                 nflag))
            done = True
        elif o == "p":
            h = hashlib.new(algo)
            fp = stdin()
            while data := await fp.read(65536):
                await write_all(1, data)
                h.update(data)
            await printf(h.hexdigest() + "\n")
            done = True
        elif o == "t":
            h = hashlib.new(algo)
            block = bytes(i & 0xff for i in range(10000))
            for _ in range(100):
                h.update(block)
            await printf(f"{name} time trial.  Digesting 100 10000-byte blocks ... done\n"
                         f"Digest = {h.hexdigest()}\n")
            done = True
        elif o == "x":
            await printf(f"{name} test suite:\n")
            for s in ("", "a", "abc", "message digest", "abcdefghijklmnopqrstuvwxyz",
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                      "1234567890" * 8):
                await printf(f"{name} (\"{s}\") = {hashlib.new(algo, s.encode()).hexdigest()}\n")
            done = True
    if done and not args:
        return 0
    for path in args or [None]:
        h = hashlib.new(algo)
        if path is None:
            await _readall(stdin(), h)
            await printf(h.hexdigest() + "\n")
            continue
        try:
            fp = await fopen(path)
            await _readall(fp, h)
            await fp.close()
        except SyscallError as e:
            await warn(path, e)
            rval = 1
            continue
        await printf(_format(name, path, h.hexdigest(), nflag))
    return rval


def _format(name: str, what: str, digest: str, nflag: bool) -> str:
    if nflag:
        return f"{digest} {what}\n"
    return f"{name} ({what}) = {digest}\n"


@command("cksum", "sum", "md5", summary="display file checksums and block counts")
async def cksum_main(argv: list[str]) -> int:
    prog = getprogname()
    if prog == "md5":
        usage, optstring = MD5_USAGE, "nps:tx"
    else:
        usage = SUM_USAGE if prog == "sum" else CKSUM_USAGE
        optstring = "a:no:ps:tx"
    try:
        opts, args = getopt(argv, optstring)
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(usage)
    algo = "md5" if prog == "md5" else ("old1" if prog == "sum" else "crc")
    nflag = False
    digestopts: list[tuple[str, str]] = []
    for o, a in opts:
        if o == "a":
            if a not in _HASHES and a not in ("crc", "old1", "old2"):
                await errx(1, f"unknown algorithm \"{a}\"")
            algo = a
        elif o == "o":
            if a == "1":
                algo = "old1"
            elif a == "2":
                algo = "old2"
            else:
                await eprintf(f"{prog}: illegal argument to -o option\n")
                await usage_exit(usage)
        elif o == "n":
            nflag = True
        else:
            digestopts.append((o, a))
    if algo in _HASHES:
        return await _digest_prog(argv, algo, usage, nflag, digestopts, args)
    if digestopts:
        await usage_exit(usage)
    rval = 0
    for path in args or [None]:
        h: Crc | Sum1 | Sum2 = {"crc": Crc, "old1": Sum1, "old2": Sum2}[algo]()
        fp = stdin() if path is None else None
        if fp is None:
            try:
                fp = await fopen(path)  # type: ignore[arg-type]
            except SyscallError as e:
                await warn(path, e)
                rval = 1
                continue
        try:
            await _readall(fp, h)
        except SyscallError as e:
            await warn(fp.name, e)
            rval = 1
            await fp.close()
            continue
        await fp.close()
        val, length = h.result()
        # pcrc/psum1/psum2: "%lu %lld" (or "%d %lld"), then " %s" for a file
        line = f"{val} {length}"
        await printf(line + (f" {path}\n" if path is not None else "\n"))
    return rval


# md5(1) has its own manual page (usr.bin/cksum/md5.1).
summaries["md5"] = "calculate a message-digest fingerprint (checksum) for a file"
