"""diff: differential file and directory comparator, after NetBSD's usr.bin/diff
(diff.c, diffreg.c, diffdir.c: the OpenBSD-derived BSD diff).

``diff [-abdilpqstTw] [-I pattern] [-c | -e | -f | -n | -q | -u] [-L label]
file1 file2``, ``diff [-abdilpqstTw] [-I pattern] [-L label] -C number
file1 file2``, ``diff [-abdiltw] [-I pattern] -D string file1 file2``,
``diff [-abdilpqstTw] [-I pattern] [-L label] -U number file1 file2``,
``diff [-abdilNPprsTtw] [-I pattern] [-c | -e | -f | -n | -q | -u]
[-L label] [-S name] [-X file] [-x pattern] dir1 dir2``.

The comparison is diffreg.c's: lines hashed (readhash: -b folds and -w
ignores blanks, -i case), the common prefix and suffix pruned, Stone's
algorithm (equiv, stone with its sqrt(n) bound unless -d, unravel), check()
to weed out hash collisions, then the output of each change in the chosen
format: normal (default), unified (-u, -U n), context (-c, -C n), ed script
(-e), forward ed (-f), RCS (-n), brief (-q), with -s reporting identical
files, -t expanding tabs, -T aligning with a tab, -B ignoring changes of
blank lines, -I pattern changes whose lines all match, -L labels, -p the C
function a hunk is in.  A file with a NUL byte in its first block is binary
("Binary files A and B differ") unless -a.  Directories are compared
entry by entry in name order (diffdir.c): "Only in D: name", "Common
subdirectories: A and B" (recursing with -r), -N/-P treat an absent file
as empty, -x/-X exclude names, -S starts at a name.  "-" is standard input.
Exit status: 0 no differences, 1 differences, 2 trouble.

A modification time that localtime(3) cannot break down is printed in the
header as seconds.nanoseconds, as the GNU diff of NetBSD 8 prints it (BSD
diff hands strftime the NULL localtime_r returned).

Not implemented: -D (#ifdef output), -y (side by side), --long options,
-l (pagination through pr).  -C/-U take strtonum(3)'s 0 to INT_MAX.

NetBSD 8 itself ships GNU diff; this follows the BSD diff NetBSD took
from OpenBSD later, whose revision the original port did not record and
the reference store here does not hold (its usr.bin/diff/diff.c hit is
BIND's), so none is named.
"""

from __future__ import annotations

import math
import re
import time

from kern.exceptions import SyscallError
from tools.cmds import command
from tools.cmds._prog import (
    File,
    GetoptError,
    eprintf,
    fopen,
    getopt,
    printf,
    stdin,
    usage_exit,
    warn,
)
from tools.cmds.grep import BadRegex, posix_to_re
from tools.lib import libc
from tools.lib.fnmatch import FNM_PATHNAME, fnmatch
from tools.lib.stdlib import INT_MAX, strtonum
from tools.lib.tzcode import localtime
from vfs.stat import S_ISDIR, S_ISREG

DIFF_USAGE = (
    "usage: diff [-abdilpqTtw] [-I pattern] [-c | -e | -f | -n | -q | -u]\n"
    "            [--ignore-case] [--no-ignore-case] [--normal] [--strip-trailing-cr]\n"
    "            [--tabsize] [-L label] file1 file2\n"
    "       diff [-abdilpqTtw] [-I pattern] [-L label] -C number file1 file2\n"
    "       diff [-abdiltw] [-I pattern] [--ignore-case] [--no-ignore-case]\n"
    "            [--normal] [--strip-trailing-cr] [--tabsize] -D string file1 file2\n"
    "       diff [-abdilpqTtw] [-I pattern] [--ignore-case] [--no-ignore-case]\n"
    "            [--normal] [--tabsize] [--strip-trailing-cr] [-L label] -U number file1 file2\n"
    "       diff [-abdilNPprqsTtw] [-c | -e | -f | -n | -q | -u] [--ignore-case]\n"
    "            [--no-ignore-case] [--normal] [--tabsize] [-I pattern] [-L label]\n"
    "            [-S name] [-X file] [-x pattern] dir1 dir2")

D_NORMAL, D_CONTEXT, D_UNIFIED, D_EDIT, D_REVERSE, D_NREVERSE, D_BRIEF = range(7)
D_SAME, D_DIFFER, D_BINARY, D_MISMATCH1, D_MISMATCH2, D_SKIPPED1, D_SKIPPED2, D_ERROR = \
    range(8)


class _Opts:
    def __init__(self) -> None:
        self.fmt = D_NORMAL
        self.context = 3
        self.aflag = self.bflag = self.wflag = self.iflag = self.dflag = False
        self.tflag = self.Tflag = self.sflag = self.rflag = self.Nflag = self.Pflag = False
        self.pflag = self.Bflag = False
        self.ignore: list[re.Pattern[bytes]] = []
        self.labels: list[str] = []
        self.excludes: list[str] = []
        self.start: str | None = None
        self.diffargs = "diff"
        self.status = 0


class _Input:
    """A file as diffreg sees it: its bytes, its lines, its stat."""

    def __init__(self, name: str, data: bytes, st: libc.struct_stat | None) -> None:
        self.name = name
        self.data = data
        self.st = st
        # line i (1-based) is data[ix[i-1]:ix[i]]
        ix = [0]
        pos = 0
        while pos < len(data):
            nl = data.find(b"\n", pos)
            pos = len(data) if nl < 0 else nl + 1
            ix.append(pos)
        self.ix = ix
        self.nlines = len(ix) - 1

    def line(self, i: int) -> bytes:
        return self.data[self.ix[i - 1]:self.ix[i]]


def _readhash(line: bytes, o: _Opts) -> int:
    """readhash(): Sedgewick's hash of a line, as -b/-w/-i say to see it."""
    total = 1
    space = False
    for t in line:
        if t == 10:
            break
        if t in (9, 11, 12, 13, 32) and (o.bflag or o.wflag):
            space = True
            continue
        if space and not o.wflag:
            total = (total * 127 + 32) & 0xffffffff    # i++ counts a blank run once
            space = False
        if o.iflag and 65 <= t <= 90:
            t += 32
        total = (total * 127 + t) & 0xffffffff
    return total


def _norm(line: bytes, o: _Opts) -> bytes:
    """What check() compares: the line with -b/-w/-i applied."""
    s = line[:-1] if line.endswith(b"\n") else line
    if o.wflag:
        s = re.sub(rb"[ \t\v\f\r]+", b"", s)
    elif o.bflag:
        s = re.sub(rb"[ \t\v\f\r]+", b" ", s).rstrip(b" ")
    if o.iflag:
        s = s.lower()
    return s


def _stone_diff(f0: _Input, f1: _Input, o: _Opts) -> list[int]:
    """The J vector: J[i] is the line of file 2 matched with line i of file 1 (0: none)."""
    len0, len1 = f0.nlines, f1.nlines
    h0 = [0] + [_readhash(f0.line(i), o) for i in range(1, len0 + 1)]
    h1 = [0] + [_readhash(f1.line(i), o) for i in range(1, len1 + 1)]
    # prune the common prefix and suffix
    pref = 0
    while pref < len0 and pref < len1 and h0[pref + 1] == h1[pref + 1]:
        pref += 1
    suff = 0
    while suff < len0 - pref and suff < len1 - pref and \
            h0[len0 - suff] == h1[len1 - suff]:
        suff += 1
    slen0, slen1 = len0 - pref - suff, len1 - pref - suff
    # sfile: (value, serial) 1-based, sorted by value then serial
    a = sorted((h0[pref + i], i) for i in range(1, slen0 + 1))
    b = sorted((h1[pref + i], i) for i in range(1, slen1 + 1))
    # equiv: a[i] gets the index (in sorted b) of the first equal line, or 0
    aval = [0] * (slen0 + 1)
    i = j = 0
    while i < slen0 and j < slen1:
        if a[i][0] < b[j][0]:
            aval[i + 1] = 0
            i += 1
        elif a[i][0] == b[j][0]:
            aval[i + 1] = j + 1
            i += 1
        else:
            j += 1
    # member: -serial at the start of each class of equal lines in b
    member = [0] * (slen1 + 2)
    j = 0
    while j < slen1:
        member[j + 1] = -b[j][1]
        while j + 1 < slen1 and b[j + 1][0] == b[j][0]:
            j += 1
            member[j + 1] = b[j][1]
        j += 1
    member[slen1 + 1] = -1
    # unsort: class[i] for line i of the shortened file 0
    klass = [0] * (slen0 + 1)
    for k in range(1, slen0 + 1):
        klass[a[k - 1][1]] = aval[k]
    # stone
    clist: list[tuple[int, int, int]] = [(0, 0, 0)]          # (x, y, pred)
    kc = [0] * (slen0 + 2)
    bound = 1 << 32 if o.dflag else max(256, int(math.sqrt(slen0)))
    k = 0
    for i in range(1, slen0 + 1):
        j = klass[i]
        if j == 0:
            continue
        y = -member[j]
        oldl = 0
        oldc = kc[0]
        numtries = 0
        while True:
            if y > clist[oldc][1]:
                # search
                if clist[kc[k]][1] < y:
                    l = k + 1
                else:
                    lo, hi = 0, k + 1
                    while True:
                        l = (lo + hi) // 2
                        if l <= lo:
                            l += 1
                            break
                        t = clist[kc[l]][1]
                        if t > y:
                            hi = l
                        elif t < y:
                            lo = l
                        else:
                            break
                if l != oldl + 1:
                    oldc = kc[l - 1]
                if l <= k:
                    if clist[kc[l]][1] > y:
                        tc = kc[l]
                        clist.append((i, y, oldc))
                        kc[l] = len(clist) - 1
                        oldc = tc
                        oldl = l
                        numtries += 1
                else:
                    clist.append((i, y, oldc))
                    kc[l] = len(clist) - 1
                    k += 1
                    break
            j += 1
            y = member[j]
            if y <= 0 or numtries >= bound:
                break
    # unravel
    J = [0] * (len0 + 2)
    for i in range(len0 + 1):
        J[i] = i if i <= pref else (i + len1 - len0 if i > len0 - suff else 0)
    q = kc[k]
    while clist[q][1] != 0:
        J[clist[q][0] + pref] = clist[q][1] + pref
        q = clist[q][2]
    # check: weed out matches that were hash collisions
    for i in range(1, len0 + 1):
        if J[i] and _norm(f0.line(i), o) != _norm(f1.line(J[i]), o):
            J[i] = 0
    return J


class _Differ:
    def __init__(self, o: _Opts, f0: _Input, f1: _Input, header: bool) -> None:
        self.o = o
        self.f0 = f0
        self.f1 = f1
        self.header = header
        self.anychange = False
        self.cvec: list[tuple[int, int, int, int]] = []
        self.out: list[bytes] = []
        self.lastline = 0
        self.lastmatchline = 0
        self.lastbuf = b""

    def pr(self, s: str | bytes) -> None:
        self.out.append(s.encode("utf-8", "surrogateescape") if isinstance(s, str) else s)

    def output(self) -> None:
        o = self.o
        J = _stone_diff(self.f0, self.f1, o)
        m = self.f0.nlines
        J[0] = 0
        J[m + 1] = self.f1.nlines + 1
        if o.fmt != D_EDIT:
            i0 = 1
            while i0 <= m:
                while i0 <= m and J[i0] == J[i0 - 1] + 1:
                    i0 += 1
                j0 = J[i0 - 1] + 1
                i1 = i0 - 1
                while i1 < m and J[i1 + 1] == 0:
                    i1 += 1
                j1 = J[i1 + 1] - 1
                J[i1] = j1
                self.change(i0, i1, j0, j1)
                i0 = i1 + 1
        else:
            i0 = m
            while i0 >= 1:
                while i0 >= 1 and J[i0] == J[i0 + 1] - 1 and J[i0] != 0:
                    i0 -= 1
                j0 = J[i0 + 1] - 1
                i1 = i0 + 1
                while i1 > 1 and J[i1 - 1] == 0:
                    i1 -= 1
                j1 = J[i1 - 1] + 1
                J[i1] = j1
                self.change(i1, i0, j1, j0)
                i0 = i1 - 1
        if m == 0:
            self.change(1, 0, 1, self.f1.nlines)
        if self.anychange:
            if o.fmt == D_CONTEXT:
                self.dump_context_vec()
            elif o.fmt == D_UNIFIED:
                self.dump_unified_vec()

    def _ignorable(self, a: int, b: int, c: int, d: int) -> bool:
        o = self.o
        if not o.ignore and not o.Bflag:
            return False

        def ign(line: bytes) -> bool:
            text = line[:-1] if line.endswith(b"\n") else line
            if o.Bflag and not text:
                return True
            return any(rx.search(text) for rx in o.ignore)

        if a <= b and not all(ign(self.f0.line(i)) for i in range(a, b + 1)):
            return False
        if (a > b or c <= d) and not all(ign(self.f1.line(i)) for i in range(c, d + 1)):
            return False
        return True

    def change(self, a: int, b: int, c: int, d: int) -> None:
        o = self.o
        if a > b and c > d:
            return
        if self._ignorable(a, b, c, d):
            return
        if self.header and o.fmt != D_BRIEF:
            self.pr(f"{o.diffargs} {self.f0.name} {self.f1.name}\n")
            self.header = False
        if o.fmt in (D_CONTEXT, D_UNIFIED):
            if not self.anychange:
                self.print_header()
                self.anychange = True
            elif self.cvec and a > self.cvec[-1][1] + 2 * o.context + 1 and \
                    c > self.cvec[-1][3] + 2 * o.context + 1:
                if o.fmt == D_CONTEXT:
                    self.dump_context_vec()
                else:
                    self.dump_unified_vec()
            self.cvec.append((a, b, c, d))
            return
        self.anychange = True
        if o.fmt == D_BRIEF:
            return
        kind = "a" if a > b else ("d" if c > d else "c")
        if o.fmt in (D_NORMAL, D_EDIT):
            self.pr(self.range(a, b, ",") + kind)
            if o.fmt == D_NORMAL:
                self.pr(self.range(c, d, ","))
            self.pr("\n")
        elif o.fmt == D_REVERSE:
            self.pr(kind + self.range(a, b, " ") + "\n")
        elif o.fmt == D_NREVERSE:
            if a > b:
                self.pr(f"a{b} {d - c + 1}\n")
            else:
                self.pr(f"d{a} {b - a + 1}\n")
                if not c > d:
                    self.pr(f"a{b} {d - c + 1}\n")
        if o.fmt == D_NORMAL:
            self.fetch(self.f0, a, b, "<")
            if a <= b and c <= d:
                self.pr("---\n")
        self.fetch(self.f1, c, d, ">" if o.fmt == D_NORMAL else "")
        if o.fmt in (D_EDIT, D_REVERSE) and c <= d:
            self.pr(".\n")

    @staticmethod
    def range(a: int, b: int, sep: str) -> str:
        s = str(b if a > b else a)
        if a < b:
            s += f"{sep}{b}"
        return s

    @staticmethod
    def uni_range(a: int, b: int) -> str:
        if a < b:
            return f"{a},{b - a + 1}"
        if a == b:
            return str(b)
        return f"{b},0"

    def fetch(self, f: _Input, a: int, b: int, ch: str) -> None:
        o = self.o
        for i in range(a, b + 1):
            line = f.line(i)
            if ch:
                self.pr(ch)
                if o.Tflag and o.fmt in (D_NORMAL, D_CONTEXT, D_UNIFIED):
                    self.pr("\t")
                elif o.fmt != D_UNIFIED:
                    self.pr(" ")
            body = line
            if o.tflag:
                out = bytearray()
                col = 0
                for c in body:
                    if c == 9:
                        newcol = (col // 8 + 1) * 8
                        out += b" " * (newcol - col)
                        col = newcol
                    else:
                        out.append(c)
                        col += 1
                body = bytes(out)
            if not body.endswith(b"\n"):
                if o.fmt in (D_EDIT, D_REVERSE, D_NREVERSE):
                    self.pr(body)
                    self.warn_nonl = True
                    continue
                self.pr(body + b"\n\\ No newline at end of file\n")
                continue
            if o.fmt == D_EDIT and body == b".\n":
                self.pr(b"..\n")     # ed would end the insert: escape (and fix below)
                continue
            self.pr(body)

    warn_nonl = False

    def match_function(self, pos: int) -> bytes | None:
        last = self.lastline
        self.lastline = pos
        while pos > last:
            buf = self.f0.line(pos)[:54].split(b"\n", 1)[0]
            if buf[:1].isalpha() or buf[:1] in (b"_", b"$", b"-", b"+"):
                self.lastbuf = buf
                self.lastmatchline = pos
                return buf
            pos -= 1
        return self.lastbuf if self.lastmatchline > 0 else None

    def dump_context_vec(self) -> None:
        o = self.o
        if not self.cvec:
            return
        cv = self.cvec
        lowa = max(1, cv[0][0] - o.context)
        upb = min(self.f0.nlines, cv[-1][1] + o.context)
        lowc = max(1, cv[0][2] - o.context)
        upd = min(self.f1.nlines, cv[-1][3] + o.context)
        self.pr("***************")
        if o.pflag:
            fn = self.match_function(cv[0][0] - 1)
            if fn is not None:
                self.pr(b" " + fn)
        self.pr("\n*** " + self.range(lowa, upb, ",") + " ****\n")
        b = d = 0
        if any(a <= b_ for a, b_, _, _ in cv):
            for a, b, c, d in cv:
                ch = "c" if a <= b and c <= d else ("d" if a <= b else "a")
                if ch == "a":
                    self.fetch(self.f0, lowa, b, " ")
                else:
                    self.fetch(self.f0, lowa, a - 1, " ")
                    self.fetch(self.f0, a, b, "!" if ch == "c" else "-")
                lowa = b + 1
            self.fetch(self.f0, b + 1, upb, " ")
        self.pr("--- " + self.range(lowc, upd, ",") + " ----\n")
        if any(c <= d_ for _, _, c, d_ in cv):
            for a, b, c, d in cv:
                ch = "c" if a <= b and c <= d else ("d" if a <= b else "a")
                if ch == "d":
                    self.fetch(self.f1, lowc, d, " ")
                else:
                    self.fetch(self.f1, lowc, c - 1, " ")
                    self.fetch(self.f1, c, d, "!" if ch == "c" else "+")
                lowc = d + 1
            self.fetch(self.f1, d + 1, upd, " ")
        self.cvec = []

    def dump_unified_vec(self) -> None:
        o = self.o
        if not self.cvec:
            return
        cv = self.cvec
        lowa = max(1, cv[0][0] - o.context)
        upb = min(self.f0.nlines, cv[-1][1] + o.context)
        lowc = max(1, cv[0][2] - o.context)
        upd = min(self.f1.nlines, cv[-1][3] + o.context)
        self.pr(f"@@ -{self.uni_range(lowa, upb)} +{self.uni_range(lowc, upd)} @@")
        if o.pflag:
            fn = self.match_function(cv[0][0] - 1)
            if fn is not None:
                self.pr(b" " + fn)
        self.pr("\n")
        d = 0
        for a, b, c, d in cv:
            ch = "c" if a <= b and c <= d else ("d" if a <= b else "a")
            if ch in ("c", "d"):
                self.fetch(self.f0, lowa, a - 1, " ")
                self.fetch(self.f0, a, b, "-")
                if ch == "c":
                    self.fetch(self.f1, c, d, "+")
            else:
                self.fetch(self.f1, lowc, c - 1, " ")
                self.fetch(self.f1, c, d, "+")
            lowa = b + 1
            lowc = d + 1
        self.fetch(self.f1, d + 1, upd, " ")
        self.cvec = []

    def print_header(self) -> None:
        o = self.o
        for k, (f, mark) in enumerate(((self.f0, "***" if o.fmt == D_CONTEXT else "---"),
                                       (self.f1, "---" if o.fmt == D_CONTEXT else "+++"))):
            if len(o.labels) > k:
                self.pr(f"{mark} {o.labels[k]}\n")
                continue
            sec = f.st.st_mtimespec.tv_sec if f.st is not None else 0
            nsec = f.st.st_mtimespec.tv_nsec if f.st is not None else 0
            tm = localtime(sec)
            if tm is None:
                # Past what localtime can break down (EOVERFLOW): the seconds,
                # as NetBSD 8's diff (GNU diffutils' print_context_label) does.
                stamp = f"{sec}.{nsec:09d}"
            else:
                stamp = f"{time.strftime('%Y-%m-%d %H:%M:%S', tm)}.{nsec:09d} +0000"
            self.pr(f"{mark} {f.name}\t{stamp}\n")


async def _load(path: str, empty: bool) -> tuple[bytes, libc.struct_stat | None]:
    if empty:
        return b"", None
    if path == "-":
        fp: File = stdin()
        return await fp.read(), None
    fp = await fopen(path)
    try:
        return await fp.read(), await libc.fstat(fp.fd)
    finally:
        await fp.close()


async def diffreg(o: _Opts, file1: str, file2: str, st1: libc.struct_stat | None,
                  st2: libc.struct_stat | None, header: bool = False,
                  empty1: bool = False, empty2: bool = False) -> int:
    """Compare two files; the D_* result (differences go to standard output)."""
    if st1 is not None and st2 is not None and S_ISDIR(st1.st_mode) != S_ISDIR(st2.st_mode):
        return D_MISMATCH1 if S_ISDIR(st1.st_mode) else D_MISMATCH2
    if file1 == "-" and file2 == "-":
        return D_SAME
    try:
        d1, s1 = await _load(file1, empty1)
    except SyscallError as e:
        await warn(file1, e)
        o.status |= 2
        return D_ERROR
    try:
        d2, s2 = await _load(file2, empty2)
    except SyscallError as e:
        await warn(file2, e)
        o.status |= 2
        return D_ERROR
    if d1 == d2 and not (empty1 or empty2):
        return D_SAME
    if o.fmt == D_BRIEF and not o.ignore and not (o.bflag or o.wflag or o.iflag or o.Bflag):
        o.status |= 1
        return D_DIFFER
    if not o.aflag and (b"\0" in d1[:8192] or b"\0" in d2[:8192]):
        o.status |= 1
        return D_BINARY
    f0 = _Input(file1, d1, s1 if s1 is not None else st1)
    f1 = _Input(file2, d2, s2 if s2 is not None else st2)
    dd = _Differ(o, f0, f1, header)
    dd.output()
    await printf(b"".join(dd.out))
    if dd.warn_nonl:
        await eprintf("diff: No newline at end of file\n")
    if dd.anychange:
        o.status |= 1
        return D_DIFFER
    return D_SAME


async def print_status(o: _Opts, val: int, path1: str, path2: str) -> None:
    if o.labels:
        path1 = o.labels[0]
        if len(o.labels) > 1:
            path2 = o.labels[1]
    if val == D_BINARY:
        await printf(f"Binary files {path1} and {path2} differ\n")
    elif val == D_DIFFER and o.fmt == D_BRIEF:
        await printf(f"Files {path1} and {path2} differ\n")
    elif val == D_SAME and o.sflag:
        await printf(f"Files {path1} and {path2} are identical\n")
    elif val == D_MISMATCH1:
        await printf(f"File {path1} is a directory while file {path2} is a regular file\n")
    elif val == D_MISMATCH2:
        await printf(f"File {path1} is a regular file while file {path2} is a directory\n")
    elif val == D_SKIPPED1:
        await printf(f"File {path1} is not a regular file or directory and was skipped\n")
    elif val == D_SKIPPED2:
        await printf(f"File {path2} is not a regular file or directory and was skipped\n")


async def _scandir(o: _Opts, path: str) -> list[str] | None:
    names = [n for _, n, _ in await libc.listdir(path) if n not in (".", "..")]
    names = [n for n in names if not any(fnmatch(p, n, FNM_PATHNAME) for p in o.excludes)]
    return sorted(names, key=lambda n: n.encode("utf-8", "surrogateescape"))


async def diffdir(o: _Opts, p1: str, p2: str) -> None:
    path1 = (p1 or ".").rstrip("/") + "/" if p1 != "/" else "/"
    path2 = (p2 or ".").rstrip("/") + "/" if p2 != "/" else "/"
    try:
        names1 = await _scandir(o, path1)
    except SyscallError as e:
        if e.errno == 2 and (o.Nflag or o.Pflag):
            names1 = []
        else:
            await warn(path1, e)
            return
    try:
        names2 = await _scandir(o, path2)
    except SyscallError as e:
        if e.errno == 2 and o.Nflag:
            names2 = []
        else:
            await warn(path2, e)
            return
    if o.start is not None:
        names1 = [n for n in names1 if n >= o.start]
        names2 = [n for n in names2 if n >= o.start]
    i = j = 0
    while i < len(names1) or j < len(names2):
        n1 = names1[i] if i < len(names1) else None
        n2 = names2[j] if j < len(names2) else None
        if n1 is not None and n2 is not None and n1 == n2:
            await diffit(o, n1, path1, path2)
            i += 1
            j += 1
        elif n2 is None or (n1 is not None and n1.encode() < n2.encode()):
            assert n1 is not None
            if o.Nflag:
                await diffit(o, n1, path1, path2)
            else:
                await printf(f"Only in {path1[:-1] if len(path1) > 1 else path1}: {n1}\n")
                o.status |= 1
            i += 1
        else:
            if o.Nflag or o.Pflag:
                await diffit(o, n2, path1, path2)
            else:
                await printf(f"Only in {path2[:-1] if len(path2) > 1 else path2}: {n2}\n")
                o.status |= 1
            j += 1


async def diffit(o: _Opts, name: str, path1: str, path2: str) -> None:
    p1, p2 = path1 + name, path2 + name
    empty1 = empty2 = False
    try:
        st1 = await libc.stat(p1)
    except SyscallError as e:
        if not (o.Nflag or o.Pflag) or e.errno != 2:
            await warn(p1, e)
            return
        empty1, st1 = True, None
    try:
        st2 = await libc.stat(p2)
    except SyscallError as e:
        if not o.Nflag or e.errno != 2:
            await warn(p2, e)
            return
        empty2, st2 = True, None
    mode1 = st1.st_mode if st1 is not None else (st2.st_mode if st2 is not None else 0)
    mode2 = st2.st_mode if st2 is not None else mode1
    if S_ISDIR(mode1) and S_ISDIR(mode2):
        if o.rflag:
            await diffdir(o, p1, p2)
        else:
            await printf(f"Common subdirectories: {p1} and {p2}\n")
        return
    if not S_ISREG(mode1) and not S_ISDIR(mode1):
        val = D_SKIPPED1
    elif not S_ISREG(mode2) and not S_ISDIR(mode2):
        val = D_SKIPPED2
    else:
        val = await diffreg(o, p1, p2, st1 if st1 is not None else st2,
                            st2 if st2 is not None else st1, True, empty1, empty2)
    await print_status(o, val, p1, p2)


@command("diff", summary="differential file and directory comparator")
async def diff_main(argv: list[str]) -> int:
    o = _Opts()
    try:
        opts, args = getopt(argv, "aBbC:cdefhI:iL:lNnPpqrS:sTtU:uwX:x:")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(DIFF_USAGE, 2)
    nopt = len(argv) - 1 - len(args)
    o.diffargs = " ".join(["diff"] + [a for a in argv[1:1 + nopt] if a != "--"])
    for opt, a in opts:
        if opt == "a":
            o.aflag = True
        elif opt == "B":
            o.Bflag = True
        elif opt == "b":
            o.bflag = True
        elif opt in "CU":
            o.context, errstr = strtonum(a, 0, INT_MAX)
            if errstr is not None:
                await eprintf(f"diff: context is {errstr}: {a}\n")
                await usage_exit(DIFF_USAGE, 2)
            o.fmt = D_CONTEXT if opt == "C" else D_UNIFIED
        elif opt == "c":
            o.fmt = D_CONTEXT
        elif opt == "d":
            o.dflag = True
        elif opt == "e":
            o.fmt = D_EDIT
        elif opt == "f":
            o.fmt = D_REVERSE
        elif opt == "I":
            try:
                o.ignore.append(re.compile(posix_to_re(a, False).encode("latin-1")))
            except (BadRegex, re.error) as e:
                await eprintf(f"diff: {a}: {e}\n")
                return 2
        elif opt == "i":
            o.iflag = True
        elif opt == "L":
            o.labels.append(a)
        elif opt == "N":
            o.Nflag = True
        elif opt == "n":
            o.fmt = D_NREVERSE
        elif opt == "P":
            o.Pflag = True
        elif opt == "p":
            o.pflag = True
            if o.fmt not in (D_CONTEXT, D_UNIFIED):
                o.fmt = D_CONTEXT
        elif opt == "q":
            o.fmt = D_BRIEF
        elif opt == "r":
            o.rflag = True
        elif opt == "S":
            o.start = a
        elif opt == "s":
            o.sflag = True
        elif opt == "T":
            o.Tflag = True
        elif opt == "t":
            o.tflag = True
        elif opt == "u":
            o.fmt = D_UNIFIED
        elif opt == "w":
            o.wflag = True
        elif opt == "X":
            try:
                fp = await fopen(a)
                o.excludes += [ln for ln in (await fp.read()).decode().split("\n") if ln]
                await fp.close()
            except SyscallError as e:
                await eprintf(f"diff: {a}: {e.strerror if hasattr(e, 'strerror') else e}\n")
                return 2
        elif opt == "x":
            o.excludes.append(a)
    if len(args) != 2:
        await usage_exit(DIFF_USAGE, 2)
    a1, a2 = args
    st: list[libc.struct_stat | None] = [None, None]
    for k, p in enumerate((a1, a2)):
        if p == "-":
            continue
        try:
            st[k] = await libc.stat(p)
        except SyscallError as e:
            if e.errno == 2 and (o.Nflag or (o.Pflag and k == 0)):
                continue
            await warn(p, e)
            return 2
    if a1 == "-" and st[1] is not None and S_ISDIR(st[1].st_mode):
        await eprintf("diff: can't compare - to a directory\n")
        return 2
    if st[0] is not None and st[1] is not None and S_ISDIR(st[0].st_mode) and \
            S_ISDIR(st[1].st_mode):
        await diffdir(o, a1, a2)
        return o.status
    if st[0] is not None and S_ISDIR(st[0].st_mode) and a2 != "-":
        a1 = a1.rstrip("/") + "/" + a2.rsplit("/", 1)[-1]
        try:
            st[0] = await libc.stat(a1)
        except SyscallError as e:
            await warn(a1, e)
            return 2
    elif st[1] is not None and S_ISDIR(st[1].st_mode) and a1 != "-":
        a2 = a2.rstrip("/") + "/" + a1.rsplit("/", 1)[-1]
        try:
            st[1] = await libc.stat(a2)
        except SyscallError as e:
            await warn(a2, e)
            return 2
    val = await diffreg(o, a1, a2, st[0], st[1], False, st[0] is None and a1 != "-",
                        st[1] is None and a2 != "-")
    await print_status(o, val, a1, a2)
    return o.status
