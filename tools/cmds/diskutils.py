"""dd(1) and cmp(1), after NetBSD's bin/dd and usr.bin/cmp.

dd's summary goes to standard error on every exit once the files are open
(NetBSD registers it with atexit), timed with gettimeofday(2) on the
machine's clock::

    4+0 records in
    4+0 records out
    2048 bytes transferred in 0.001 secs (2048000 bytes/sec)

``progress=n`` prints a ``.`` on standard error every n output blocks (and a
newline before the summary), as NetBSD 8's dd does.  As there, SIGINFO prints
the summary and the copy goes on (``summaryx``), SIGINT prints it and then
dies of the signal (``terminate``, with raise_default_signal(3)), and each
output write blocks SIGINFO (``bwrite``).
"""

from __future__ import annotations

from dataclasses import dataclass

from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY, SEEK_CUR
from kern.kern_sig import SIGINFO, SIGINT
from tools.cmds import command
from tools.cmds._fsutil import DEFFILEMODE
from tools.cmds._prog import (
    Exit,
    eprintf,
    errx,
    fflush,
    options,
    printf,
    usage_exit,
    warn,
    warnx,
)
from tools.lib import libc
from tools.lib.libutil import LLONG_MAX, StrsuftollError, raise_default_signal, strsuftoll
from tools.lib.stdlib import strtoll
from vfs.stat import S_ISREG

UINT_MAX = (1 << 32) - 1

# ------------------------------------------------------------------ dd

C_BS, C_COUNT, C_IF, C_OF, C_SEEK, C_SKIP, C_NOTRUNC, C_SYNC, C_NOERROR, C_IBS, C_OBS, \
    C_PROGRESS = (1 << i for i in range(12))


@dataclass
class _Stats:
    in_full: int = 0
    in_part: int = 0
    out_full: int = 0
    out_part: int = 0
    trunc: int = 0
    bytes: int = 0
    start_ms: int = 0
    progress: int = 0       # progress=n: a dot every n output blocks


async def _now_ms() -> int:
    sec, usec = await libc.gettimeofday()
    return sec * 1000 + (usec + 500) // 1000


async def _summary(st: _Stats) -> None:
    if st.progress:
        await eprintf("\n")
    ms = await _now_ms() - st.start_ms
    if ms == 0:
        ms = 1
    text = (f"{st.in_full}+{st.in_part} records in\n"
            f"{st.out_full}+{st.out_part} records out\n")
    if st.trunc:
        text += f"{st.trunc} truncated {'block' if st.trunc == 1 else 'blocks'}\n"
    text += (f"{st.bytes} bytes transferred in {ms // 1000}.{ms % 1000:03d} secs "
             f"({st.bytes * 1000 // ms} bytes/sec)\n")
    await eprintf(text)


_DD_OPERANDS = {
    # name: (flag, desc, min, max)
    "bs": (C_BS, "block size", 1, UINT_MAX),
    "ibs": (C_IBS, "input block size", 1, UINT_MAX),
    "obs": (C_OBS, "output block size", 1, UINT_MAX),
    "count": (C_COUNT, "block count", 0, LLONG_MAX),
    "progress": (C_PROGRESS, "progress blocks", 0, LLONG_MAX),
    "skip": (C_SKIP, "skip", 0, LLONG_MAX),
    "iseek": (C_SKIP, "skip", 0, LLONG_MAX),
    "seek": (C_SEEK, "seek", 0, LLONG_MAX),
    "oseek": (C_SEEK, "seek", 0, LLONG_MAX),
}
_CONVS = {"notrunc": C_NOTRUNC, "sync": C_SYNC, "noerror": C_NOERROR}


@command("dd", summary="convert and copy a file")
async def dd_main(argv: list[str]) -> int:
    flags = 0
    nums: dict[str, int] = {}
    in_name, out_name = "stdin", "stdout"
    for oper in argv[1:]:
        name, eq, val = oper.partition("=")
        if not eq:
            await errx(1, f"unknown operand {oper}")
        if not val:
            await errx(1, f"no value specified for {name}")
        if name in _DD_OPERANDS:
            flag, desc, lo, hi = _DD_OPERANDS[name]
            if flags & flag:
                await errx(1, f"{name}: illegal argument combination or already set")
            flags |= flag
            try:
                nums[flag] = strsuftoll(desc, val, lo, hi)
            except StrsuftollError as e:
                await errx(1, e.msg)
        elif name == "if":
            if flags & C_IF:
                await errx(1, "if: illegal argument combination or already set")
            flags |= C_IF
            in_name = val
        elif name == "of":
            if flags & C_OF:
                await errx(1, "of: illegal argument combination or already set")
            flags |= C_OF
            out_name = val
        elif name == "conv":
            for c in val.split(","):
                if c not in _CONVS:
                    await errx(1, f"unknown conversion {c}")
                flags |= _CONVS[c]
        else:
            await errx(1, f"unknown operand {name}")
    if flags & C_BS and flags & (C_IBS | C_OBS):
        await errx(1, "bs and ibs/obs are mutually exclusive")
    ibs = obs = nums.get(C_BS, 512)
    if not flags & C_BS:
        ibs = nums.get(C_IBS, 512)
        obs = nums.get(C_OBS, 512)
    count = nums.get(C_COUNT, -1)
    skip = nums.get(C_SKIP, 0)
    seek = nums.get(C_SEEK, 0)

    # setup(): open the files before the summary is armed.
    if flags & C_IF:
        try:
            ifd = await libc.open(in_name, O_RDONLY)
        except SyscallError as e:
            await warn(in_name, e)
            return 1
    else:
        ifd = 0
    if flags & C_OF:
        oflags = O_CREAT | (0 if flags & (C_SEEK | C_NOTRUNC) else O_TRUNC)
        try:
            ofd = await libc.open(out_name, O_RDWR | oflags, DEFFILEMODE)
        except SyscallError:
            try:
                ofd = await libc.open(out_name, O_WRONLY | oflags, DEFFILEMODE)
            except SyscallError as e:
                await warn(out_name, e)
                return 1
    else:
        ofd = 1

    st = _Stats(start_ms=await _now_ms(), progress=nums.get(C_PROGRESS, 0))

    async def summaryx(signo: int) -> None:
        await _summary(st)

    async def terminate(signo: int) -> None:
        await _summary(st)
        await raise_default_signal(signo)
        await libc._exit(127)

    await libc.signal(SIGINFO, summaryx)
    await libc.signal(SIGINT, terminate)
    status = 0
    try:
        status = await _dd_copy(ifd, ofd, in_name, out_name, flags, ibs, obs, count,
                                skip, seek, st)
    except Exit as e:
        status = e.status
    await fflush()
    await _summary(st)
    return status


async def _dd_copy(ifd: int, ofd: int, in_name: str, out_name: str, flags: int, ibs: int,
                   obs: int, count: int, skip: int, seek: int, st: _Stats) -> int:
    # pos_in: skip input blocks, by seeking when possible.
    if skip:
        try:
            await libc.lseek(ifd, skip * ibs, SEEK_CUR)
        except SyscallError:
            for _ in range(skip):
                if not await libc.read(ifd, ibs):
                    await warnx("skip reached end of input")
                    break
    # pos_out: seek the output, then (regular file, no notrunc) truncate it there.
    if seek:
        try:
            await libc.lseek(ofd, seek * obs, SEEK_CUR)
        except SyscallError as e:
            await warn(out_name, e)
            raise Exit(1) from None
    if flags & C_OF and flags & C_SEEK and not flags & C_NOTRUNC:
        try:
            sb = await libc.fstat(ofd)
            if S_ISREG(sb.st_mode):
                await libc.ftruncate(ofd, seek * obs)
        except SyscallError:
            pass
    bs_mode = bool(flags & C_BS)
    pending = bytearray()
    blocks = 0
    while count < 0 or blocks < count:
        try:
            data = await libc.read(ifd, ibs)
        except SyscallError as e:
            await warn(in_name, e)
            if not flags & C_NOERROR:
                raise Exit(1) from None
            if flags & C_SYNC:
                data = bytes(ibs)
            else:
                continue
        if not data:
            break
        blocks += 1
        if len(data) == ibs:
            st.in_full += 1
        else:
            st.in_part += 1
            if flags & C_SYNC:
                data = data + bytes(ibs - len(data))
        if bs_mode:
            await _dd_write(ofd, out_name, bytes(data), obs, st)
            continue
        pending += data
        while len(pending) >= obs:
            await _dd_write(ofd, out_name, bytes(pending[:obs]), obs, st)
            del pending[:obs]
    if pending:
        await _dd_write(ofd, out_name, bytes(pending), obs, st)
    if ofd != 1:
        try:
            await libc.close(ofd)
        except SyscallError as e:
            await warn(out_name, e)
            return 1
    return 0


async def _bwrite(fd: int, data: bytes) -> int:
    """A write protected against SIGINFO (its summary waits until the write is done)."""
    oset = await libc.sigprocmask(libc.SIG_BLOCK, {SIGINFO})
    try:
        return await libc.write(fd, data)
    finally:
        await libc.sigprocmask(libc.SIG_SETMASK, oset)


async def _dd_write(ofd: int, out_name: str, data: bytes, obs: int, st: _Stats) -> None:
    try:
        n = await _bwrite(ofd, data)
    except SyscallError as e:
        await warn(out_name, e)
        raise Exit(1) from None
    st.bytes += n
    if n == obs:
        st.out_full += 1
    else:
        st.out_part += 1
    if st.progress and (st.out_full + st.out_part) % st.progress == 0:
        await libc.write(2, b".")
    if n != len(data):
        await warnx(f"{out_name}: short write")
        raise Exit(1)


# ------------------------------------------------------------------ cmp

CMP_USAGE = "usage: cmp [-c] [-l | -s] file1 file2 [skip1 [skip2]]"
DIFF_EXIT = 1
ERR_EXIT = 2


class _Reader:
    """Buffered getc(3) on one input: ``fill()`` is False at end of file or
    on a read error (kept in ``error``, as ferror(3) would tell)."""

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name
        self.buf = b""
        self.pos = 0
        self.eof = False
        self.error: SyscallError | None = None

    async def fill(self) -> bool:
        if self.pos < len(self.buf):
            return True
        if self.eof or self.error is not None:
            return False
        try:
            self.buf = await libc.read(self.fd, 65536)
        except SyscallError as e:
            self.error = e
            return False
        self.pos = 0
        if not self.buf:
            self.eof = True
            return False
        return True


async def _cmp_open(name: str, sflag: bool) -> tuple[int, str]:
    """The descriptor and the name messages use ("-" is standard input, "stdin")."""
    if name == "-":
        return 0, "stdin"
    try:
        return await libc.open(name, O_RDONLY), name
    except SyscallError as e:
        if not sflag:
            await warn(name, e)
        raise Exit(ERR_EXIT) from None


def _strtoq0(s: str) -> int | None:
    """strtoq(s, &ep, 0): the number at the start of ``s`` (0x: hex, 0: octal;
    what follows is ignored); None when no digit was read (ep == s) or it is
    out of range (errno), cmp's two reasons for usage()."""
    c = strtoll(s, 0)
    return None if c.end == 0 or c.errno else c.value


@command("cmp", summary="compare two files")
async def cmp_main(argv: list[str]) -> int:
    """cmp, always comparing as c_special() does (kemu has no mmap; NetBSD's -c)."""
    try:
        opts, args = await options(argv, "cls", CMP_USAGE)
    except Exit:
        raise Exit(ERR_EXIT) from None
    flags = {o for o, _ in opts}
    lflag, sflag = "l" in flags, "s" in flags
    if lflag and sflag:
        await errx(ERR_EXIT, "only one of -l and -s may be specified")
    if len(args) < 2 or len(args) > 4:
        await usage_exit(CMP_USAGE, ERR_EXIT)
    if args[0] == "-" and args[1] == "-":
        await errx(ERR_EXIT, "standard input may only be specified once")
    fd1, file1 = await _cmp_open(args[0], sflag)
    fd2, file2 = await _cmp_open(args[1], sflag)
    try:
        skips = [_strtoq0(s) for s in args[2:]]
        if None in skips:
            await usage_exit(CMP_USAGE, ERR_EXIT)
        return await _c_special(_Reader(fd1, file1), _Reader(fd2, file2),
                                *(skips + [0, 0])[:2], lflag, sflag)
    finally:
        for fd in (fd1, fd2):
            if fd != 0:
                await libc.close(fd)


async def _c_special(a: _Reader, b: _Reader, skip1: int, skip2: int, lflag: bool,
                     sflag: bool) -> int:
    """special.c's c_special(): the exit status (0 same, 1 different, 2 error)."""
    byte = line = 1
    dfound = False
    for r, skip in ((a, skip1), (b, skip2)):
        byte = line = 1
        while skip != 0:                # skip-- of a negative skip reads to the end
            if not await r.fill():
                return await _cmp_eof(a, b, byte, line, lflag, sflag)
            k = len(r.buf) - r.pos if skip < 0 else min(skip, len(r.buf) - r.pos)
            line += r.buf.count(b"\n", r.pos, r.pos + k)
            r.pos += k
            byte += k
            skip -= k
    byte = line = 1
    while True:
        ha = await a.fill()
        hb = await b.fill()
        if not ha or not hb:
            break
        n = min(len(a.buf) - a.pos, len(b.buf) - b.pos)
        ca = a.buf[a.pos:a.pos + n]
        cb = b.buf[b.pos:b.pos + n]
        if ca != cb:
            for i in range(n):
                x, y = ca[i], cb[i]
                if x != y:
                    if not lflag:
                        if not sflag:
                            at = line + ca.count(b"\n", 0, i)
                            await printf(f"{a.name} {b.name} differ: char {byte + i}, "
                                         f"line {at}\n")
                        return DIFF_EXIT
                    dfound = True
                    await printf(f"{byte + i:6d} {x:3o} {y:3o}\n")
        line += ca.count(b"\n")
        byte += n
        a.pos += n
        b.pos += n
    status = await _cmp_eof(a, b, byte, line, lflag, sflag)
    return status or (DIFF_EXIT if dfound else 0)


async def _cmp_eof(a: _Reader, b: _Reader, byte: int, line: int, lflag: bool,
                   sflag: bool) -> int:
    """special.c's eof: label: errmsg() for a read error, eofmsg() when only one
    input ended; 0 when both did."""
    for r in (a, b):
        if r.error is not None:
            # errmsg(): err(3), whatever -s says.
            await fflush()
            await warn(f"{r.name}: char {byte}, line {line}" if lflag else r.name, r.error)
            return ERR_EXIT
    if a.eof != b.eof:
        if not sflag:
            await fflush()
            await warnx(f"EOF on {(a if a.eof else b).name}"
                        + (f": char {byte}, line {line}" if lflag else ""))
        return DIFF_EXIT
    return 0
