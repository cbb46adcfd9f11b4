"""fssconfig(8): configure file system snapshot devices.

Behaves as NetBSD's usr.sbin/fssconfig/fssconfig.c 1.13 (2017-12-21): the
same options, argument forms, messages, exit statuses and list formats (see
fss-spec §4).  It is userland: it reaches the kernel only through system
calls (lib/libc).

    fssconfig [-cxv] device path backup [cluster [size]]
    fssconfig -u [-v] device
    fssconfig -l [-v] [device]
"""

from __future__ import annotations

import ctypes
import random
import time
from typing import Any

from dev.fss.fssvar import (
    FSS_UNCONFIG_ON_CLOSE,
    FSS_UNLINK_ON_CREATE,
    FSSIOCCLR,
    FSSIOCGET,
    FSSIOCSET,
    FSSIOFGET,
    fss_get,
    fss_set,
)
from kern.errno import ENOENT, ENXIO, strerror
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY
from lib import libc
from lib.libutil import (
    HN_AUTOSCALE,
    HN_B,
    HN_NOSPACE,
    StrsuftollError,
    humanize_number,
    strsuftoll,
)
from vfs.mount import ST_WAIT
from vfs.stat import S_ISDIR, S_ISREG, SF_SNAPSHOT

PROG = "fssconfig"
INT_MAX = 2**31 - 1
LLONG_MAX = 2**63 - 1
RAW_PART_LETTER = "d"  # amd64: RAW_PART 3

USAGE = (
    "usage: fssconfig [-cxv] device path backup [cluster [size]]\n"
    "       fssconfig -u [-v] device\n"
    "       fssconfig -l [-v] [device]\n"
)


class _Exit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


async def _out(text: str) -> None:
    await libc.write(1, text.encode())


async def _err(text: str) -> None:
    await libc.write(2, text.encode())


async def err(status: int, errno_: int, fmt: str, *args: Any) -> None:
    """err(3): "fssconfig: <message>: <strerror>" on stderr, then exit."""
    await _err(f"{PROG}: {fmt % args}: {strerror(errno_)}\n")
    raise _Exit(status)


async def errx(status: int, fmt: str, *args: Any) -> None:
    await _err(f"{PROG}: {fmt % args}\n")
    raise _Exit(status)


async def usage() -> None:
    await _err(USAGE)
    raise _Exit(1)


async def opendisk1(name: str, flags: int) -> tuple[int, str, int]:
    """opendisk(3): (fd or -1, the path that worked or was tried last, errno)."""
    if "/" in name:
        candidates = [name, name + RAW_PART_LETTER]
    else:
        candidates = [f"/dev/r{name}", f"/dev/r{name}{RAW_PART_LETTER}", name,
                      name + RAW_PART_LETTER]
    error = ENOENT
    for path in candidates:
        try:
            return await libc.open(path, flags), path, 0
        except SyscallError as e:
            error = e.errno
            if e.errno != ENOENT:
                return -1, path, error
    return -1, candidates[0], error


def _cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def _H(n: int) -> str:
    return humanize_number(5, n, "", HN_AUTOSCALE, HN_B | HN_NOSPACE)


async def list_device(dev: str, verbose: bool, fd: int, full: str) -> None:
    flags = 0
    try:
        fv = ctypes.c_int(0)
        await libc.ioctl(fd, FSSIOFGET, fv)
        flags = fv.value
    except SyscallError:
        flags = 0
    fsg = fss_get()
    try:
        await libc.ioctl(fd, FSSIOCGET, fsg)
    except SyscallError as e:
        if e.errno != ENXIO:
            await err(1, e.errno, "%s: FSSIOCGET", full)
        await _out(f"{dev}: not in use\n")
        return
    if not verbose:
        await _out(f"{dev}: {_cstr(fsg.fsg_mount)}\n")
        return
    taken = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(fsg.fsg_time.tv_sec))
    line = f"{dev}: {_cstr(fsg.fsg_mount)}, taken {taken}"
    if flags & FSS_UNCONFIG_ON_CLOSE:
        line += ", unconfig on close"
    if fsg.fsg_csize == 0:
        line += ", file system internal"
    else:
        line += (f", {fsg.fsg_mount_size} cluster of {_H(fsg.fsg_csize)}, "
                 f"{_H(fsg.fsg_bs_size * fsg.fsg_csize)} backup")
    await _out(line + "\n")


async def config(argv: list[str], xflag: bool, vflag: bool) -> None:
    argc = len(argv)
    if argc < 3:
        await usage()
    dev, path, backup = argv[0], argv[1], argv[2]
    fss = fss_set()
    try:
        await libc.statvfs1(path, ST_WAIT)
        sbuf = await libc.stat(path)
    except SyscallError as e:
        await err(1, e.errno, "stat %s", path)
    mountdev = sbuf.st_dev
    persistent = False
    isreg = False
    istmp = False
    try:
        bsb = await libc.stat(backup)
        exists = True
    except SyscallError:
        exists = False
    if exists and S_ISREG(bsb.st_mode) and bsb.st_dev == mountdev:
        if (bsb.st_flags & SF_SNAPSHOT) == 0:
            await errx(1, "%s: exists and is not a snapshot", backup)
        if argc != 3:
            await usage()
        isreg = persistent = True
        bstore = backup
    else:
        if exists and S_ISDIR(bsb.st_mode):
            istmp = True
        if argc > 5:
            await usage()
        csize = 0
        if argc > 3:
            csize = await _strsuftoll("cluster size", argv[3], 0, INT_MAX)
        if argc > 4:
            bssize = await _strsuftoll("bs size", argv[4], 0, LLONG_MAX)
        else:
            vfs = await libc.statvfs1(path, ST_WAIT)
            bssize = vfs.f_blocks * vfs.f_frsize
        fss.fss_csize = csize
        # Create the backing store; a directory gets a temporary file in it.
        if istmp:
            fd, bstore = await _mkstemp(backup.rstrip("/") + "/XXXXXXXXXX")
        else:
            bstore = backup
            try:
                fd = await libc.open(bstore, O_CREAT | O_TRUNC | O_WRONLY, 0o600)
            except SyscallError as e:
                await err(1, e.errno, "create: %s", bstore)
        try:
            sb = await libc.fstat(fd)
        except SyscallError as e:
            await err(1, e.errno, "stat: %s", bstore)
        if sb.st_dev == mountdev:
            persistent = True
        isreg = S_ISREG(sb.st_mode)
        if not persistent and isreg:
            try:
                await libc.ftruncate(fd, bssize)
            except SyscallError as e:
                await err(1, e.errno, "truncate %s", bstore)
        await libc.close(fd)

    # configure:
    fd, full, error = await opendisk1(dev, O_RDWR)
    if fd < 0:
        if istmp:
            await _unlink_quiet(bstore)
        await err(1, error, "open: %s", dev)

    fss.fss_mount = libc.ustr(path)
    fss.fss_bstore = libc.ustr(bstore)
    if (xflag or istmp) and isreg:
        fss.fss_flags |= FSS_UNLINK_ON_CREATE
    else:
        fss.fss_flags = 0
    try:
        await libc.ioctl(fd, FSSIOCSET, fss)
    except SyscallError as e:
        if istmp:
            await _unlink_quiet(bstore)
        await err(1, e.errno, "%s: FSSIOCSET", full)
    finally:
        libc.ufree(fss.fss_mount)
        libc.ufree(fss.fss_bstore)

    if vflag:
        await list_device(dev, True, fd, full)
    _ = persistent


async def _unlink_quiet(path: str) -> None:
    try:
        await libc.unlink(path)
    except SyscallError:
        pass


async def _mkstemp(template: str) -> tuple[int, str]:
    """mkstemp(3): replace the trailing X's until an exclusive create succeeds."""
    from kern.errno import EEXIST

    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    base = template.rstrip("X")
    nx = len(template) - len(base)
    rng = random.Random(await libc.getpid())
    while True:
        name = base + "".join(rng.choice(letters) for _ in range(nx))
        try:
            return await libc.open(name, O_CREAT | O_EXCL | O_RDWR, 0o600), name
        except SyscallError as e:
            if e.errno != EEXIST:
                await err(1, e.errno, "create: %s", name)


async def _strsuftoll(desc: str, val: str, lo: int, hi: int) -> int:
    try:
        return strsuftoll(desc, val, lo, hi)
    except StrsuftollError as e:
        await errx(1, "%s", e)
    return 0


async def unconfig(argv: list[str], vflag: bool) -> None:
    if len(argv) != 1:
        await usage()
    dev = argv[0]
    fd, full, error = await opendisk1(dev, O_RDWR)
    if fd < 0:
        await err(1, error, "open: %s", dev)
    if vflag:
        await list_device(dev, True, fd, full)
    try:
        await libc.ioctl(fd, FSSIOCCLR, None)
    except SyscallError as e:
        await err(1, e.errno, "%s: FSSIOCCLR", full)


async def list_(argv: list[str], vflag: bool) -> None:
    if len(argv) > 1:
        await usage()
    if argv:
        dev = argv[0]
        fd, full, error = await opendisk1(dev, O_RDONLY)
        if fd < 0:
            await err(1, error, "open: %s", dev)
        await list_device(dev, vflag, fd, full)
        await libc.close(fd)
        return
    n = 0
    while True:
        dev = f"fss{n}"
        fd, full, error = await opendisk1(dev, O_RDONLY)
        if fd < 0:
            if error in (ENOENT, ENXIO):
                break
            await err(1, error, "open: %s", dev)
        await list_device(dev, vflag, fd, full)
        await libc.close(fd)
        n += 1


def _getopt(argv: list[str], optstring: str) -> tuple[list[tuple[str, str]], list[str]] | None:
    opts: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "--":
            i += 1
            break
        if not a.startswith("-") or a == "-":
            break
        for ch in a[1:]:
            if ch not in optstring:
                return None
            opts.append((ch, ""))
        i += 1
    return opts, argv[i:]


async def main(argv: list[str]) -> int:
    """fssconfig's main(): returns the exit status."""
    try:
        parsed = _getopt(argv[1:], "cluvx")
        if parsed is None:
            await usage()
            return 1
        opts, args = parsed
        action = None
        vflag = xflag = False
        for ch, _ in opts:
            if ch in "clu":
                if action is not None and action != ch:
                    await usage()
                action = ch
            elif ch == "v":
                vflag = True
            elif ch == "x":
                xflag = True
        if action is None:
            action = "c"
        if action == "c":
            await config(args, xflag, vflag)
        elif action == "u":
            if xflag:
                await usage()
            await unconfig(args, vflag)
        else:
            if xflag:
                await usage()
            await list_(args, vflag)
        return 0
    except _Exit as e:
        return e.status


def console_main() -> None:
    """The ``fssconfig`` console script: one command on a fresh machine."""
    import sys

    from tools.kemu import run_command_on_fresh_machine

    sys.exit(run_command_on_fresh_machine(["fssconfig", *sys.argv[1:]]))
