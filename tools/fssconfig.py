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
from typing import NoReturn

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
from kern.errno import EEXIST, ENOENT, ENXIO
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_EXCL, O_RDONLY, O_RDWR, O_TRUNC, O_WRONLY
from tools.cmds._prog import err, errx, options, printf, usage_exit
from tools.lib import libc
from tools.lib.libutil import (
    HN_AUTOSCALE,
    HN_B,
    HN_NOSPACE,
    StrsuftollError,
    humanize_number,
    strsuftoll,
)
from vfs.mount import ST_WAIT
from vfs.stat import S_ISDIR, S_ISREG, SF_SNAPSHOT

INT_MAX = 2**31 - 1
LLONG_MAX = 2**63 - 1
RAW_PART_LETTER = "d"  # amd64: RAW_PART 3

USAGE = (
    "usage: fssconfig [-cxv] device path backup [cluster [size]]\n"
    "       fssconfig -u [-v] device\n"
    "       fssconfig -l [-v] [device]\n"
)


async def main(argv: list[str]) -> int:
    """fssconfig's main(); errors end it through err(3)/usage (tools.cmds._prog.Exit)."""
    # A bad option: getopt(3)'s complaint, then main's default case, usage().
    # (C's getopt meets the options one by one, so "-c -u -z" stops at -u there.)
    opts, args = await options(argv, "cluvx", USAGE)
    action = None
    vflag = xflag = False
    for ch, _ in opts:
        if ch in "clu":
            if action is not None:
                await usage()
            action = ch
        elif ch == "v":
            vflag = True
        elif ch == "x":
            xflag = True
    if action is None:
        action = "c"

    if action == "c":
        await config(args, vflag, xflag)
    elif action == "l":
        await list_(args, vflag, xflag)
    else:
        await unconfig(args, vflag, xflag)
    return 0


async def config(argv: list[str], vflag: bool, xflag: bool) -> None:
    argc = len(argv)
    if argc < 3:
        await usage()

    istmp = ispersistent = False

    bstore = argv[2]  # fss.fss_bstore

    try:
        fsbuf = await libc.statvfs1(argv[1], ST_WAIT)
        sbuf = await libc.stat(argv[1])
    except SyscallError as e:
        await err(1, f"stat {argv[1]}", e)
    mountdev = sbuf.st_dev
    try:
        sbuf = await libc.stat(argv[2])
        exists = True
    except SyscallError:
        exists = False
    if exists and S_ISREG(sbuf.st_mode) and sbuf.st_dev == mountdev:
        if (sbuf.st_flags & SF_SNAPSHOT) == 0:
            await errx(1, f"{argv[2]}: exists and is not a snapshot")
        if argc != 3:
            await usage()
        isreg = ispersistent = True
        # goto configure (fss_csize stays unset: the kernel ignores it here)
        csize = 0
    else:
        if exists and S_ISDIR(sbuf.st_mode):
            istmp = True

        if argc > 5:
            await usage()

        if argc > 3:
            csize = await _strsuftoll("cluster size", argv[3], 0, INT_MAX)
        else:
            csize = 0
        if argc > 4:
            bssize = await _strsuftoll("bs size", argv[4], 0, LLONG_MAX)
        else:
            bssize = fsbuf.f_blocks * fsbuf.f_frsize

        # Create the backing store.
        if istmp:
            fd, bstore, error = await mkstemp(f"{argv[2]}/XXXXXXXXXX")
        else:
            try:
                fd, error = await libc.open(bstore, O_CREAT | O_TRUNC | O_WRONLY, 0o600), 0
            except SyscallError as e:
                fd, error = -1, e.errno
        if fd < 0:
            await err(1, f"create: {bstore}", error)
        try:
            sbuf = await libc.fstat(fd)
        except SyscallError as e:
            await err(1, f"stat: {bstore}", e)
        if not ispersistent and sbuf.st_dev == mountdev:
            ispersistent = True
        isreg = S_ISREG(sbuf.st_mode)
        if not ispersistent and isreg:
            try:
                await libc.ftruncate(fd, bssize)
            except SyscallError as e:
                await err(1, f"truncate {bstore}", e)
        await libc.close(fd)

    # configure:
    fd, full, error = await opendisk1(argv[0], O_RDWR)
    if fd < 0:
        if istmp:
            await _unlink(bstore)
        await err(1, f"open: {argv[0]}", error)

    fss = fss_set()
    fss.fss_csize = csize
    fss.fss_flags = 0
    if (xflag or istmp) and isreg:
        fss.fss_flags |= FSS_UNLINK_ON_CREATE

    fss.fss_mount = libc.ustr(argv[1])
    fss.fss_bstore = libc.ustr(bstore)
    try:
        await libc.ioctl(fd, FSSIOCSET, fss)
    except SyscallError as e:
        if istmp:
            await _unlink(bstore)
        await err(1, f"{full}: FSSIOCSET", e)
    finally:
        libc.ufree(fss.fss_mount)
        libc.ufree(fss.fss_bstore)

    if vflag:
        # list(1, argv): with -x too, list() ends in usage() (exit 1) after
        # the snapshot was made, as 1.13 does.
        await list_(argv[:1], vflag, xflag)


async def unconfig(argv: list[str], vflag: bool, xflag: bool) -> None:
    if len(argv) != 1 or xflag:
        await usage()

    if vflag:
        await list_(argv, vflag, xflag)

    fd, full, error = await opendisk1(argv[0], O_RDWR)
    if fd < 0:
        await err(1, f"open: {argv[0]}", error)

    try:
        await libc.ioctl(fd, FSSIOCCLR, None)
    except SyscallError as e:
        await err(1, f"{full}: FSSIOCCLR", e)


async def list_(argv: list[str], vflag: bool, xflag: bool) -> None:
    """list(argc, argv): the device given, or fss0, fss1, ... up to the first missing."""
    if len(argv) > 1 or xflag:
        await usage()

    n = 0
    while True:
        dev = argv[0] if argv else f"fss{n}"
        fd, full, error = await opendisk1(dev, O_RDONLY)
        if fd < 0:
            if not argv and error in (ENOENT, ENXIO):
                break
            await err(1, f"open: {dev}", error)

        fv = ctypes.c_int(0)
        try:
            await libc.ioctl(fd, FSSIOFGET, fv)
            flags = fv.value
        except SyscallError:
            flags = 0

        fsg = fss_get()
        try:
            await libc.ioctl(fd, FSSIOCGET, fsg)
        except SyscallError as e:
            if e.errno == ENXIO:
                await printf(f"{dev}: not in use\n")
            else:
                await err(1, f"{full}: FSSIOCGET", e)
        else:
            mount = _cstr(fsg.fsg_mount)
            if vflag:
                clbuf = _humanize(fsg.fsg_csize)
                bsbuf = _humanize(fsg.fsg_bs_size * fsg.fsg_csize)
                # strftime("%F %T", localtime(&t)): the machine's time zone is UTC
                tmbuf = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(fsg.fsg_time.tv_sec))
                line = f"{dev}: {mount}, taken {tmbuf}"
                if (flags & FSS_UNCONFIG_ON_CLOSE) != 0:
                    line += ", unconfig on close"
                if fsg.fsg_csize == 0:
                    line += ", file system internal\n"
                else:
                    line += f", {fsg.fsg_mount_size} cluster of {clbuf}, {bsbuf} backup\n"
                await printf(line)
            else:
                await printf(f"{dev}: {mount}\n")

        await libc.close(fd)

        if argv:
            break
        n += 1


async def usage() -> NoReturn:
    await usage_exit(USAGE)


# ---------------------------------------------------------------- libc/libutil pieces

async def opendisk1(path: str, flags: int) -> tuple[int, str, int]:
    """opendisk1(3) (libutil opendisk.c 1.14): ``(fd or -1, full path, errno)``.

    A plain name is tried as /dev/r<name> and /dev/r<name><raw part> first,
    then every name as given and with the raw partition letter; the first
    open that works or fails other than with ENOENT ends the search.
    """
    candidates = [path, path + RAW_PART_LETTER]
    if "/" not in path:
        candidates = [f"/dev/r{path}", f"/dev/r{path}{RAW_PART_LETTER}", *candidates]
    error = ENOENT
    for full in candidates:
        try:
            return await libc.open(full, flags), full, 0
        except SyscallError as e:
            error = e.errno
            if error != ENOENT:
                break
    return -1, full, error


async def mkstemp(template: str) -> tuple[int, str, int]:
    """mkstemp(3): ``(fd or -1, the name, errno)``; the trailing X's become
    letters until an exclusive create succeeds or fails other than EEXIST."""
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    base = template.rstrip("X")
    rng = random.Random(await libc.getpid())
    while True:
        name = base + "".join(rng.choice(letters) for _ in range(len(template) - len(base)))
        try:
            return await libc.open(name, O_CREAT | O_EXCL | O_RDWR, 0o600), name, 0
        except SyscallError as e:
            if e.errno != EEXIST:
                return -1, name, e.errno


async def _unlink(path: str) -> None:
    """unlink(2), its result ignored."""
    try:
        await libc.unlink(path)
    except SyscallError:
        pass


async def _strsuftoll(desc: str, val: str, lo: int, hi: int) -> int:
    """strsuftoll(3): errx(1, ...) on a bad number."""
    try:
        return strsuftoll(desc, val, lo, hi)
    except StrsuftollError as e:
        await errx(1, str(e))


def _cstr(b: bytes) -> str:
    return b.split(b"\0", 1)[0].decode("utf-8", "replace")


def _humanize(n: int) -> str:
    """humanize_number(buf, 5, n, "", HN_AUTOSCALE, HN_B | HN_NOSPACE)."""
    return humanize_number(5, n, "", HN_AUTOSCALE, HN_B | HN_NOSPACE)
