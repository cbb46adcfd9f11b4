"""hexdump and od, after NetBSD 8's usr.bin/hexdump (hexdump.c, hexsyntax.c,
odsyntax.c, parse.c, display.c, conv.c): one program, od being its od mode.

hexdump: ``hexdump [-bcCdovx] [-e fmt] [-f fmt_file] [-n length] [-s skip]
[file ...]`` with the full format language: format strings of format units
``iteration/byte_count "format"``, the conversions %d %i %o %u %x %X (1, 2,
4, 8 bytes), %c, %e %E %f %g %G (4, 8 bytes), %s (with a precision or
byte count), and %_a/%_A (address; d o x), %_c, %_p, %_u; repeated lines
squeezed to "*" unless -v; the last partial block padded (bpad) and the
final address printed by %_A.  Without a format it is ``-x``'s sibling:
``"%07.7_Ax\\n"`` and ``"%07.7_ax " 8/2 "%04x " "\\n"``.

od: ``od [-aBbcDdeFfHhIiLlOovXx] [-A base] [-j skip] [-N length] [-t
type_string] [[+]offset[.][Bb]] [file ...]`` through odsyntax.c 1.26's
translation into hexdump formats (posixtypes and its type table, -A d/o/x/n,
the old offset operand); without a type it is ``-t oS``.

Both read standard input when no file is named.  Messages (bad format,
bad byte count, bad conversion character, bad skip/length value) are
NetBSD's.  Numbers are read as the C reads them: iteration and byte counts
and -n/-N by atoi(3) (so 99999999999999999999 is -1, and a format unit
repeated -1 times makes an empty block: nothing is printed, as in the C),
-s/-j by strtoll(3) with a b, k or m multiplier.  A block too large for
malloc (both buffers past amd64's default 256 MiB data-size limit) ends
the program with "Cannot allocate memory", as emalloc does.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from kern.errno import ENOMEM
from kern.exceptions import SyscallError
from tools.cmds import command
from tools.cmds._prog import (
    File,
    GetoptError,
    eprintf,
    err,
    errx,
    fopen,
    getopt,
    printf,
    stdin,
    usage_exit,
    warn,
    warnx,
)
from tools.lib import libc
from tools.lib.stdlib import atoi, strtol, strtoll, to_int, to_int64
from vfs.stat import S_ISREG

DFLDSIZ = 256 * 1024 * 1024     # amd64's default data-size limit (vmparam.h)

HEXDUMP_USAGE = ("usage: hexdump [-bCcdovx] [-e format_string] [-f format_file] "
                 "[-n length] [-s skip] [file ...]")
OD_USAGE = ("usage: od [-aBbcDdeFfHhIiLlOovXx] [-A base] [-j skip] [-N length] "
            "[-t type_string] [[+]offset[.][Bb]] [file ...]")

# PR flags
F_ADDRESS, F_BPAD, F_C, F_CHAR, F_DBL, F_INT, F_P, F_STR, F_TEXT, F_U, F_UINT = range(1, 12)
ALL, DUP, FIRST, WAIT = "ALL", "DUP", "FIRST", "WAIT"
_SPEC = ".#-+ 0123456789"


class HexError(Exception):
    pass


@dataclass
class PR:
    """A print unit: one conversion (or text)."""

    fmt: str = ""
    flags: int = 0
    bcnt: int = 0
    cchar: int = -1                   # index of the conversion character in fmt
    nospace: int = -1                 # index of trailing white space to drop


@dataclass
class FU:
    """A format unit: ``reps/bcnt "fmt"``."""

    fmt: str
    reps: int = 1
    bcnt: int = 0
    setrep: bool = False
    ignore: bool = False
    prs: list[PR] = field(default_factory=list)


@dataclass
class FS:
    """A format string: a list of format units."""

    fus: list[FU] = field(default_factory=list)
    bcnt: int = 0


def _escape(s: str) -> str:
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s):
            i += 1
            c = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t",
                 "v": "\v"}.get(s[i], s[i])
        out.append(c)
        i += 1
    return "".join(out)


class _Hexdump:
    def __init__(self) -> None:
        self.fss: list[FS] = []
        self.blocksize = 0
        self.endfu: FU | None = None
        self.vflag = FIRST
        self.length = -1
        self.skip = 0
        self.address = 0
        self.eaddress = 0
        self.exitval = 0
        self.out = bytearray()

    # ---------------------------------------------------------------- parse.c

    def add(self, fmt: str) -> None:
        fs = FS()
        self.fss.append(fs)
        p = 0
        n = len(fmt)
        while True:
            while p < n and fmt[p].isspace():
                p += 1
            if p >= n:
                break
            fu = FU("")
            # if leading digit, repetition count
            if fmt[p].isdigit():
                s = p
                while p < n and fmt[p].isdigit():
                    p += 1
                if p >= n or (not fmt[p].isspace() and fmt[p] != "/"):
                    raise HexError(f"\"{fmt}\": bad format")
                fu.reps = atoi(fmt[s:p])         # an int: 99999999999999999999 is -1
                fu.setrep = True
                p += 1
                while p < n and fmt[p].isspace():
                    p += 1
            # skip slash and trailing white space
            if p < n and fmt[p] == "/":
                p += 1
                while p < n and fmt[p].isspace():
                    p += 1
            # byte count
            if p < n and fmt[p].isdigit():
                s = p
                while p < n and fmt[p].isdigit():
                    p += 1
                if p >= n or not fmt[p].isspace():
                    raise HexError(f"\"{fmt}\": bad format")
                fu.bcnt = atoi(fmt[s:p])
                p += 1
                while p < n and fmt[p].isspace():
                    p += 1
            # format
            if p >= n or fmt[p] != '"':
                raise HexError(f"\"{fmt}\": bad format")
            s = p + 1
            e = fmt.find('"', s)
            if e < 0:
                raise HexError(f"\"{fmt}\": bad format")
            fu.fmt = _escape(fmt[s:e])
            fs.fus.append(fu)
            p = e + 1

    @staticmethod
    def size(fs: FS) -> int:
        cursize = 0
        for fu in fs.fus:
            if fu.bcnt:
                cursize += fu.bcnt * fu.reps
                continue
            bcnt = prec = 0
            fmt = fu.fmt
            i = 0
            while i < len(fmt):
                if fmt[i] != "%":
                    i += 1
                    continue
                i += 1
                while i < len(fmt) and fmt[i] in _SPEC[1:]:
                    i += 1
                if i < len(fmt) and fmt[i] == "." and i + 1 < len(fmt) and fmt[i + 1].isdigit():
                    j = i + 1
                    while j < len(fmt) and fmt[j].isdigit():
                        j += 1
                    prec = int(fmt[i + 1:j])
                    i = j
                c = fmt[i] if i < len(fmt) else ""
                if c == "c":
                    bcnt += 1
                elif c in "dioux" or c == "X":
                    bcnt += 4
                elif c in "eEfgG":
                    bcnt += 8
                elif c == "s":
                    bcnt += prec
                elif c == "_" and i + 1 < len(fmt) and fmt[i + 1] in "cpu":
                    bcnt += 1
                i += 1
            cursize += bcnt * fu.reps
        return cursize

    def rewrite(self, fs: FS) -> None:
        for fu in fs.fus:
            fmtp = 0
            fmt = fu.fmt
            nconv = 0
            while fmtp < len(fmt):
                pr = PR()
                fu.prs.append(pr)
                p1 = fmt.find("%", fmtp)
                if p1 < 0:
                    pr.fmt = fmt[fmtp:]
                    pr.flags = F_TEXT
                    break
                # precision for %s, unless there is a byte count
                prec = 0
                if fu.bcnt:
                    sokay = "bcnt"
                    p1 += 1
                    while p1 < len(fmt) and fmt[p1] in _SPEC:
                        p1 += 1
                else:
                    p1 += 1
                    while p1 < len(fmt) and fmt[p1] in _SPEC[1:]:
                        p1 += 1
                    if p1 < len(fmt) and fmt[p1] == "." and p1 + 1 < len(fmt) and \
                            fmt[p1 + 1].isdigit():
                        sokay = "prec"
                        j = p1 + 1
                        while j < len(fmt) and fmt[j].isdigit():
                            j += 1
                        prec = int(fmt[p1 + 1:j])
                        p1 = j
                    else:
                        sokay = "no"
                if p1 >= len(fmt):
                    raise HexError("%: bad conversion character")
                p2 = p1 + 1
                cs = fmt[p1]
                c = fmt[p1]
                if c == "c":
                    pr.flags = F_CHAR
                    if fu.bcnt in (0, 1):
                        pr.bcnt = 1
                    else:
                        raise HexError(f"{fmt[p1:p1 + 1]}: bad byte count")
                elif c in "di" or c in "ouxX":
                    pr.flags = F_INT if c in "di" else F_UINT
                    if fu.bcnt in (0, 4):
                        pr.bcnt = 4
                    elif fu.bcnt in (1, 2, 8):
                        pr.bcnt = fu.bcnt
                    else:
                        raise HexError(f"{fmt[p1:p1 + 1]}: bad byte count")
                elif c in "eEfgG":
                    pr.flags = F_DBL
                    if fu.bcnt in (0, 8):
                        pr.bcnt = 8
                    elif fu.bcnt == 4:
                        pr.bcnt = 4
                    else:
                        raise HexError(f"{fmt[p1:p1 + 1]}: bad byte count")
                elif c == "s":
                    pr.flags = F_STR
                    if sokay == "no":
                        raise HexError("%s: requires a precision or a byte count")
                    pr.bcnt = fu.bcnt if sokay == "bcnt" else prec
                elif c == "_":
                    p2 += 1
                    c2 = fmt[p1 + 1] if p1 + 1 < len(fmt) else ""
                    if c2 in ("A", "a"):
                        if c2 == "A":
                            self.endfu = fu
                            fu.ignore = True
                        pr.flags = F_ADDRESS
                        p2 += 1
                        c3 = fmt[p1 + 2] if p1 + 2 < len(fmt) else ""
                        if c3 not in ("d", "o", "x"):
                            raise HexError(f"%{fmt[p1:p1 + 3]}: bad conversion character")
                        cs = c3
                    elif c2 in ("c", "p", "u"):
                        pr.flags = {"c": F_C, "p": F_P, "u": F_U}[c2]
                        cs = "c"
                        if fu.bcnt not in (0, 1):
                            raise HexError(f"{fmt[p1:p1 + 2]}: bad byte count")
                        pr.bcnt = 1
                    else:
                        raise HexError(f"%{fmt[p1:p1 + 2]}: bad conversion character")
                else:
                    raise HexError(f"%{fmt[p1:p1 + 1]}: bad conversion character")
                pr.fmt = fmt[fmtp:p1] + cs
                pr.cchar = p1 - fmtp
                fmtp = p2
                # only one conversion character if byte count
                if pr.flags != F_ADDRESS and fu.bcnt:
                    nconv += 1
                    if nconv > 1:
                        raise HexError("byte count with multiple conversion characters")
            # if format unit byte count not specified, figure it out
            if not fu.bcnt:
                fu.bcnt = sum(pr.bcnt for pr in fu.prs)
        # repeat the last unit to fill the block; no trailing white space after
        # the last iteration of a repeated unit
        for k, fu in enumerate(fs.fus):
            if k == len(fs.fus) - 1 and fs.bcnt < self.blocksize and not fu.setrep \
                    and fu.bcnt:
                fu.reps += (self.blocksize - fs.bcnt) // fu.bcnt
            if fu.reps > 1 and fu.prs:
                pr = fu.prs[-1]
                p2 = -1
                for i, ch in enumerate(pr.fmt):
                    p2 = i if ch.isspace() else -1
                if p2 >= 0:
                    pr.nospace = p2

    # ---------------------------------------------------------------- display.c

    def _emit(self, text: str | bytes) -> None:
        self.out += text.encode("latin-1") if isinstance(text, str) else text

    @staticmethod
    def _cfmt(fmt: str, value: object) -> str:
        """printf(3) of one conversion: C's "%07.7x" and friends through Python's %."""
        return fmt % value

    def print(self, pr: PR, bp: bytes, nospace: bool) -> None:
        fmt = pr.fmt[:pr.nospace] if nospace and pr.nospace >= 0 else pr.fmt
        f = pr.flags
        if f == F_ADDRESS:
            self._emit(self._cfmt(fmt, self.address))
        elif f == F_BPAD:
            self._emit(self._cfmt(fmt, ""))
        elif f == F_C:
            self._emit(self._conv_c(fmt, pr, bp[0]))
        elif f == F_CHAR:
            self._emit(self._cfmt(fmt, chr(bp[0])))
        elif f == F_DBL:
            v = struct.unpack("<f" if pr.bcnt == 4 else "<d", bp[:pr.bcnt])[0]
            self._emit(self._cfmt(fmt, v))
        elif f in (F_INT, F_UINT):
            v = int.from_bytes(bp[:pr.bcnt], "little", signed=(f == F_INT))
            self._emit(self._cfmt(fmt, v))
        elif f == F_P:
            c = bp[0]
            self._emit(self._cfmt(fmt, chr(c) if 32 <= c < 127 else "."))
        elif f == F_STR:
            s = bp[:pr.bcnt].split(b"\0", 1)[0].decode("latin-1")
            self._emit(self._cfmt(fmt, s))
        elif f == F_TEXT:
            self._emit(fmt)
        elif f == F_U:
            self._emit(self._conv_u(fmt, pr, bp[0]))

    def _with(self, fmt: str, pr: PR, conv: str) -> str:
        return fmt[:pr.cchar] + conv + fmt[pr.cchar + 1:]

    def _conv_c(self, fmt: str, pr: PR, c: int) -> str:
        esc = {0: "\\0", 7: "\\a", 8: "\\b", 12: "\\f", 10: "\\n", 13: "\\r", 9: "\\t",
               11: "\\v"}
        if c in esc:
            return self._with(fmt, pr, "s") % esc[c]
        if 32 <= c < 127:
            return self._with(fmt, pr, "c") % chr(c)
        return self._with(fmt, pr, "s") % f"{c:03o}"

    _ULIST = ["nul", "soh", "stx", "etx", "eot", "enq", "ack", "bel",
              "bs", "ht", "lf", "vt", "ff", "cr", "so", "si",
              "dle", "dc1", "dc2", "dc3", "dc4", "nak", "syn", "etb",
              "can", "em", "sub", "esc", "fs", "gs", "rs", "us"]

    def _conv_u(self, fmt: str, pr: PR, c: int) -> str:
        if c <= 0x1f:
            return self._with(fmt, pr, "s") % self._ULIST[c]
        if c == 0x7f:
            return self._with(fmt, pr, "s") % "del"
        if 32 <= c < 127:
            return self._with(fmt, pr, "c") % chr(c)
        return self._with(fmt, pr, "x") % c

    def bpad(self, pr: PR) -> None:
        """Turn a conversion into blank padding (the data ran out)."""
        pr.flags = F_BPAD
        fmt = pr.fmt
        pct = fmt.find("%")
        q = pct + 1
        while q < len(fmt) and fmt[q] in " -0+#":
            q += 1
        conv = pr.cchar
        newfmt = fmt[:pct + 1] + fmt[q:conv] + "s"
        tail = fmt[conv + 1:]
        pr.cchar = len(newfmt) - 1
        if pr.nospace >= 0:
            pr.nospace = pr.nospace - (len(fmt) - len(newfmt + tail))
        pr.fmt = newfmt + tail

    async def display(self, files: list[str]) -> None:
        reader = _Reader(self, files)
        while (bp := await reader.get()) is not None:
            for fs in self.fss:
                address = self.address
                pos = 0
                for fu in fs.fus:
                    if fu.ignore:
                        break
                    for cnt in range(fu.reps, 0, -1):
                        for pr in fu.prs:
                            if self.eaddress and self.address >= self.eaddress and \
                                    pr.flags not in (F_TEXT, F_BPAD):
                                self.bpad(pr)
                            self.print(pr, bp[pos:pos + 8] if pr.flags != F_STR
                                       else bp[pos:pos + pr.bcnt], cnt == 1)
                            self.address += pr.bcnt
                            pos += pr.bcnt
                self.address = address
            await self.flush()
        if self.endfu is not None:
            # If eaddress not set, error or file size was a multiple of
            # blocksize, and no partial block was ever found.
            if not self.eaddress:
                if not self.address:
                    return
                self.eaddress = self.address
            for pr in self.endfu.prs:
                if pr.flags == F_ADDRESS:
                    self._emit(self._cfmt(pr.fmt, self.eaddress))
                elif pr.flags == F_TEXT:
                    self._emit(pr.fmt)
        await self.flush()

    async def flush(self) -> None:
        if self.out:
            await printf(bytes(self.out))
            self.out.clear()


class _Reader:
    """display.c's get()/next()/doskip(): blocks of input across the files."""

    def __init__(self, h: _Hexdump, files: list[str]) -> None:
        self.h = h
        self.files = list(files)
        self.fp: File | None = None
        self.ateof = True
        self.done = False
        self.curp: bytearray | None = None
        self.savp = bytearray()

    async def next(self) -> bool:
        h = self.h
        while True:
            if self.fp is not None:
                await self.fp.close()
                self.fp = None
            if self.files:
                path = self.files.pop(0)
                try:
                    self.fp = await fopen(path)
                except SyscallError as e:
                    await warn(path, e)
                    h.exitval = 1
                    continue
                statok, name = True, path
                self.done = True
            else:
                if self.done:
                    return False
                self.done = True
                self.fp = stdin()
                statok, name = False, "stdin"
            if h.skip:
                await self.doskip(name, statok)
            if not h.skip:
                return True

    async def doskip(self, fname: str, statok: bool) -> None:
        h = self.h
        assert self.fp is not None
        if statok:
            try:
                st = await libc.fstat(self.fp.fd)
            except SyscallError as e:
                await err(1, f"fstat {fname}", e)
            if S_ISREG(st.st_mode) and h.skip >= st.st_size:
                h.address += st.st_size
                h.skip -= st.st_size
                return
            if S_ISREG(st.st_mode):
                await libc.lseek(self.fp.fd, h.skip, 0)
                h.address += h.skip
                h.skip = 0
                return
        data = await self.fp.read(h.skip)
        h.address += len(data)
        h.skip -= len(data)

    async def get(self) -> bytes | None:
        h = self.h
        bs = h.blocksize
        if self.curp is None:
            # emalloc(blocksize) twice: past the data-size limit (amd64's
            # DFLDSIZ, 256 MiB, which kemu takes as every process's limit)
            # malloc fails and emalloc ends the program with err(1, NULL)
            if 2 * bs > DFLDSIZ:
                await err(1, None, ENOMEM)
            self.curp = bytearray(bs)
            self.savp = bytearray(bs)
        else:
            self.curp, self.savp = self.savp, self.curp
            h.address += bs
        need, nread = bs, 0
        while True:
            if not h.length or (self.ateof and not await self.next()):
                if need == bs:
                    return None
                if not need and h.vflag != ALL and self.curp[:nread] == self.savp[:nread]:
                    if h.vflag != DUP:
                        h._emit("*\n")
                    return None
                self.curp[nread:] = bytes(need)
                h.eaddress = h.address + nread
                return bytes(self.curp)
            assert self.fp is not None
            want = need if h.length == -1 else min(h.length, need)
            try:
                data = await self.fp.read(want)
            except SyscallError as e:
                await warn(self.fp.name, e)
                data = b""
            if not data:
                self.ateof = True
                continue
            self.ateof = False
            n = len(data)
            self.curp[nread:nread + n] = data
            if h.length != -1:
                h.length -= n
            need -= n
            if not need:
                if h.vflag in (ALL, FIRST) or self.curp != self.savp:
                    if h.vflag in (DUP, FIRST):
                        h.vflag = WAIT
                    return bytes(self.curp)
                if h.vflag == WAIT:
                    h._emit("*\n")
                h.vflag = DUP
                h.address += bs
                need, nread = bs, 0
            else:
                nread += n


def _skipvalue(arg: str) -> int:
    """-s/-j: strtoll(arg, &p, 0), then a b, k or m suffix multiplies (an off_t)."""
    c = strtoll(arg, 0)
    return to_int64(c.value * {"b": 512, "k": 1024, "m": 1048576}.get(c.rest(arg)[:1], 1))


async def _run(h: _Hexdump, files: list[str]) -> int:
    try:
        h.blocksize = 0
        for fs in h.fss:
            fs.bcnt = h.size(fs)
            h.blocksize = max(h.blocksize, fs.bcnt)
        for fs in h.fss:
            h.rewrite(fs)
    except HexError as e:
        await errx(1, str(e))
    await h.display(files)
    return h.exitval


@command("hexdump", summary="ascii, decimal, hexadecimal, octal dump")
async def hexdump_main(argv: list[str]) -> int:
    h = _Hexdump()
    try:
        opts, args = getopt(argv, "bcCde:f:n:os:vx")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(HEXDUMP_USAGE)
    try:
        for o, a in opts:
            if o == "b":
                h.add('"%07.7_Ax\\n"')
                h.add('"%07.7_ax " 16/1 "%03o " "\\n"')
            elif o == "c":
                h.add('"%07.7_Ax\\n"')
                h.add('"%07.7_ax " 16/1 "%3_c " "\\n"')
            elif o == "C":
                h.add('"%08.8_Ax\\n"')
                h.add('"%08.8_ax  " 8/1 "%02x " "  " 8/1 "%02x " ')
                h.add('"  |" 16/1 "%_p" "|\\n"')
            elif o == "d":
                h.add('"%07.7_Ax\\n"')
                h.add('"%07.7_ax " 8/2 "  %05u " "\\n"')
            elif o == "e":
                h.add(a)
            elif o == "f":
                try:
                    fp = await fopen(a)
                except SyscallError as e:
                    await err(1, a, e)
                for line in (await fp.read()).decode("latin-1").split("\n"):
                    line = line.strip()
                    if line and not line.startswith("#"):
                        h.add(line)
                await fp.close()
            elif o == "n":
                h.length = atoi(a)
                if h.length < 0:
                    await errx(1, f"{a}: bad length value")
            elif o == "o":
                h.add('"%07.7_Ax\\n"')
                h.add('"%07.7_ax " 8/2 " %06o " "\\n"')
            elif o == "s":
                h.skip = _skipvalue(a)
                if h.skip < 0:
                    await errx(1, f"{a}: bad skip value")
            elif o == "v":
                h.vflag = ALL
            elif o == "x":
                h.add('"%07.7_Ax\\n"')
                h.add('"%07.7_ax " 8/2 "   %04x " "\\n"')
        if not h.fss:
            h.add('"%07.7_Ax\\n"')
            h.add('"%07.7_ax " 8/2 "%04x " "\\n"')
    except HexError as e:
        await errx(1, str(e))
    return await _run(h, args)


_ODFTAB = {
    ("a", 1): ("%3_u", 4), ("c", 1): ("%3_c", 4),
    ("d", 1): ("%4d", 5), ("d", 2): ("%6d", 6), ("d", 4): ("%11d", 11), ("d", 8): ("%20d", 20),
    ("o", 1): ("%03o", 4), ("o", 2): ("%06o", 7), ("o", 4): ("%011o", 12),
    ("o", 8): ("%022o", 23),
    ("u", 1): ("%03u", 4), ("u", 2): ("%05u", 6), ("u", 4): ("%010u", 11),
    ("u", 8): ("%020u", 21),
    ("x", 1): ("%02x", 3), ("x", 2): ("%04x", 5), ("x", 4): ("%08x", 9),
    ("x", 8): ("%016x", 17),
    ("f", 4): ("%14.7e", 15), ("f", 8): ("%21.14e", 22),
}


class _Od:
    """odsyntax.c 1.26: od's options as hexdump format strings."""

    def __init__(self, h: _Hexdump) -> None:
        self.h = h
        h.add('"%07.7_Ao\\n"')
        h.add('"%07.7_ao  "')

    async def posixtypes(self, ts: str) -> None:
        i = 0
        while i < len(ts):
            t = ts[i]
            i += 1
            if t in "ac":
                nbytes = 1
            elif t in "fdoux":
                sizes = {"F": 4, "D": 8, "L": 16} if t == "f" else \
                    {"C": 1, "S": 2, "I": 4, "L": 8}
                if i < len(ts) and ts[i].isupper():
                    if ts[i] not in sizes:
                        await warnx(f"Bad type-size qualifier '{ts[i]}'")
                        await usage_exit(OD_USAGE)
                    nbytes = sizes[ts[i]]
                    i += 1
                elif i < len(ts) and ts[i].isdigit():
                    j = i
                    while j < len(ts) and ts[j].isdigit():
                        j += 1
                    nbytes = to_int(strtol(ts[i:j], 10).value)
                    i = j
                else:
                    nbytes = 8 if t == "f" else 4
            else:
                await usage_exit(OD_USAGE)
            spec = _ODFTAB.get((t, nbytes))
            if spec is None:
                await errx(1, f"{t}{nbytes}: format not supported")
            fmt, minwidth = spec
            pad = " " * max(0, 4 * nbytes - minwidth)
            self.h.add(f'{16 // nbytes}/{nbytes}  "{pad}{fmt} " "\\n"')

    def odoffset(self, args: list[str]) -> list[str]:
        """The old offset operand: ``[+]offset[.][Bb]`` (octal; x/0x hex; . decimal)."""
        h = self.h
        if not args:
            return args
        p = args[0] if len(args) == 1 else args[1]
        hexstart = p[:1] == "x" and len(p) > 1 and p[1] in "0123456789abcdefABCDEF"
        if not p.startswith("+") and (len(args) < 2 or not (p[:1].isdigit() or hexstart)):
            return args
        s = p[1:] if p.startswith("+") else p
        base = 0
        if s[:1] == "x" and len(s) > 1 and s[1] in "0123456789abcdefABCDEF":
            s, base = s[1:], 16
        elif s[:2] == "0x":
            s, base = s[2:], 16
        digits = "0123456789abcdefABCDEF" if base == 16 else "0123456789"
        j = 0
        while j < len(s) and s[j] in digits:
            j += 1
        if j == 0:
            return args
        num, rest = s[:j], s[j:]
        if rest[:1] == ".":
            if base:
                return args
            base = 10
            rest = rest[1:]
        try:
            skip = int(num, base or 8)
        except ValueError:
            return args
        if rest[:1] == "B":
            skip *= 1024
            rest = rest[1:]
        elif rest[:1] == "b":
            skip *= 512
            rest = rest[1:]
        if rest:
            return args
        h.skip = skip
        if base in (16, 10):
            conv = "x" if base == 16 else "d"
            for fs in h.fss[:2]:
                fu = fs.fus[0]
                fu.fmt = fu.fmt[:7] + conv + fu.fmt[8:]
        return args[:1] if len(args) >= 2 else []


@command("od", summary="octal, decimal, hex, ascii dump")
async def od_main(argv: list[str]) -> int:
    h = _Hexdump()
    od = _Od(h)
    try:
        opts, args = getopt(argv, "A:aBbcDdeFfHhIij:LlN:Oot:vXx")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(OD_USAGE)
    table = {"a": "a", "B": "o2", "o": "o2", "b": "o1", "c": "c", "d": "u2", "D": "u4",
             "e": "f8", "F": "f8", "f": "f4", "H": "x4", "X": "x4", "h": "x2", "x": "x2",
             "I": "d4", "L": "d4", "l": "d4", "i": "d2", "O": "o4"}
    try:
        for o, a in opts:
            if o == "A":
                first, second = h.fss[0].fus[0], h.fss[1].fus[0]
                if a[:1] in ("d", "o", "x"):
                    first.fmt = first.fmt[:7] + a[0] + first.fmt[8:]
                    second.fmt = second.fmt[:7] + a[0] + second.fmt[8:]
                elif a[:1] == "n":
                    first.fmt = ""
                    second.fmt = "         "
                else:
                    await errx(1, f"{a}: invalid address base")
            elif o in table:
                await od.posixtypes(table[o])
            elif o == "t":
                await od.posixtypes(a)
            elif o == "j":
                h.skip = _skipvalue(a)
                if h.skip < 0:
                    await errx(1, f"{a}: bad skip value")
            elif o == "N":
                h.length = atoi(a)
                if h.length < 0:
                    await errx(1, f"{a}: bad length value")
            elif o == "v":
                h.vflag = ALL
        if len(h.fss) == 2:
            await od.posixtypes("oS")
    except HexError as e:
        await errx(1, str(e))
    args = od.odoffset(args)
    return await _run(h, args)
