"""mount(8), umount(8) and df(1), after NetBSD's sbin/mount, sbin/umount and bin/df.

kemu has no /etc/fstab and no separate mount_<type> programs: ``mount``
builds the file system's argument block itself, from ``MOUNT_ARGS`` (a
registry: type name -> builder), and reports failures as the type's
mount_<type> would, under the name ``mount``::

    mount: /dev/wd0 on /mnt: Device busy
    mount: /dev/wd0 on /mnt: incorrect super block        (ext2fs, ffs: EINVAL)

Without ``-t`` the type comes from the special's super block (ext2's magic
gives ext2fs), as NetBSD takes it from the disklabel; ffs otherwise.
A type that has a program of its own (``mount -t memfs``: mount_memfs, see
tools/cmds/mount_puffs.py) is mounted by running that program with the
``-o`` options as given.
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from kern.errno import EINVAL, EMFILE
from kern.exceptions import SyscallError
from kern.fcntl import O_RDONLY
from tools import cmds
from tools.cmds import command
from tools.cmds._fsutil import abspath, rawname, realpath, user_from_uid
from tools.cmds._prog import errx, fflush, options, printf, setprogname, usage_exit, warn, warnx
from tools.lib import libc
from tools.lib.libutil import HN_AUTOSCALE, HN_B, HN_DECIMAL, HN_NOSPACE, humanize_number, strpct
from vfs.mount import (
    MNT_ASYNC,
    MNT_AUTOMOUNTED,
    MNT_DISCARD,
    MNT_EXPORTED,
    MNT_EXRDONLY,
    MNT_EXTATTR,
    MNT_FORCE,
    MNT_GETARGS,
    MNT_IGNORE,
    MNT_LOCAL,
    MNT_LOG,
    MNT_NOATIME,
    MNT_NOCOREDUMP,
    MNT_NODEV,
    MNT_NODEVMTIME,
    MNT_NOEXEC,
    MNT_NOSUID,
    MNT_NOWAIT,
    MNT_QUOTA,
    MNT_RDONLY,
    MNT_RELATIME,
    MNT_RELOAD,
    MNT_ROOTFS,
    MNT_SOFTDEP,
    MNT_SYMPERM,
    MNT_SYNCHRONOUS,
    MNT_UNION,
    MNT_UPDATE,
    MNT_VISFLAGMASK,
    MNT_WAIT,
)
from vfs.stat import S_ISBLK, S_ISDIR

# sys/fstypes.h __MNT_FLAGS: (flag, silent, name), in NetBSD 8's order.
OPTNAMES = [
    (MNT_ASYNC, 0, "asynchronous"), (MNT_AUTOMOUNTED, 0, "automounted"),
    (MNT_DISCARD, 0, "discard"), (MNT_EXTATTR, 0, "extattr"), (MNT_IGNORE, 0, "hidden"),
    (MNT_LOG, 0, "log"), (MNT_NOATIME, 0, "noatime"), (MNT_NOCOREDUMP, 0, "nocoredump"),
    (MNT_NODEV, 0, "nodev"), (MNT_NODEVMTIME, 0, "nodevmtime"), (MNT_NOEXEC, 0, "noexec"),
    (MNT_NOSUID, 0, "nosuid"), (MNT_RDONLY, 0, "read-only"), (MNT_RELATIME, 0, "relatime"),
    (MNT_SOFTDEP, 0, "soft dependencies"), (MNT_SYMPERM, 0, "symperm"),
    (MNT_SYNCHRONOUS, 0, "synchronous"), (MNT_UNION, 0, "union"),
    (MNT_EXRDONLY, 1, "exported read-only"), (MNT_EXPORTED, 0, "NFS exported"),
    (0x00000200, 1, "exported to the world"), (0x00000400, 1, "anon uid mapping"),
    (0x00000800, 1, "kerberos uid mapping"), (0x08000000, 0, "non-reserved ports"),
    (MNT_LOCAL, 0, "local"), (MNT_QUOTA, 0, "with quotas"), (MNT_ROOTFS, 1, "root file system"),
    (MNT_UPDATE, 1, "being updated"), (MNT_RELOAD, 1, "reload filesystem data"),
    (MNT_FORCE, 1, "force unmount or readonly change"),
    (MNT_GETARGS, 1, "retrieve mount arguments"),
]

# mntopts.h: name -> (inverse, flag).  "no" in front of a name negates it.
MNTOPTS = {
    "async": (0, MNT_ASYNC), "coredump": (1, MNT_NOCOREDUMP), "dev": (1, MNT_NODEV),
    "devmtime": (1, MNT_NODEVMTIME), "exec": (1, MNT_NOEXEC), "suid": (1, MNT_NOSUID),
    "rdonly": (0, MNT_RDONLY), "sync": (0, MNT_SYNCHRONOUS), "union": (0, MNT_UNION),
    "userquota": (0, 0), "groupquota": (0, 0), "atime": (1, MNT_NOATIME),
    "symperm": (0, MNT_SYMPERM), "softdep": (0, MNT_SOFTDEP), "log": (0, MNT_LOG),
    "hidden": (0, MNT_IGNORE), "discard": (0, MNT_DISCARD), "relatime": (0, MNT_RELATIME),
    "extattr": (0, MNT_EXTATTR), "automounted": (0, MNT_AUTOMOUNTED),
    "force": (0, MNT_FORCE), "update": (0, MNT_UPDATE), "reload": (0, MNT_RELOAD),
    "getargs": (0, MNT_GETARGS), "ro": (0, MNT_RDONLY), "rw": (1, MNT_RDONLY),
    "auto": (0, 0),
}


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


# ------------------------------------------------------------------ argument blocks

class ufs_args(ctypes.Structure):
    """struct ufs_args (ufs/ufs/ufsmount.h), LP64: ext2fs's and ffs's mount argument."""

    _fields_ = [("fspec", ctypes.c_uint64)]  # char *: the special device's path


@dataclass
class MountArgs:
    """What a builder gives mount: the argument block, the special's name for
    messages, and user memory to free after the call."""

    data: Any
    special: str
    owned: list[int]
    ufs_errors: bool = False   # EINVAL means "incorrect super block" (ufs-style)


MountArgsBuilder = Callable[[str, str, int, list[str]], Awaitable[MountArgs]]
MOUNT_ARGS: dict[str, MountArgsBuilder] = {}


def mount_type(name: str) -> Callable[[MountArgsBuilder], MountArgsBuilder]:
    """Register how to build the mount(2) argument of file system type ``name``.

    The builder is ``async (special, node, flags, options) -> MountArgs``.
    """

    def deco(fn: MountArgsBuilder) -> MountArgsBuilder:
        MOUNT_ARGS[name] = fn
        return fn

    return deco


async def _canon_special(special: str) -> str:
    """mount_ext2fs's realpath of the device, with its warnings for a relative path."""
    try:
        canon = await realpath(special)
    except SyscallError as e:
        await warn(f"realpath {special}", e)
        raise _Fail(1) from None
    if canon != special:
        await warnx(f'"{special}" is a relative path.')
        await warnx(f'using "{canon}" instead.')
    return canon


@mount_type("ext2fs")
@mount_type("ffs")
async def ufs_mount_args(special: str, node: str, flags: int, opts: list[str]) -> MountArgs:
    if flags & MNT_GETARGS:
        return MountArgs(ufs_args(), special, [], True)
    canon = await _canon_special(special)
    addr = libc.ustr(canon)
    return MountArgs(ufs_args(fspec=addr), canon, [addr], True)


@mount_type("rootfs")
async def no_mount_args(special: str, node: str, flags: int, opts: list[str]) -> MountArgs:
    """No argument block (rootfs, and a type nobody registered)."""
    return MountArgs(None, special, [])


class _Fail(Exception):  # noqa: N818
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


async def sniff_fstype(special: str) -> str:
    """The type the special's super block says: ext2fs for ext2's magic, else ffs.

    Read through the raw twin (/dev/rwd0 for /dev/wd0) when the block device
    cannot be opened (it is busy while mounted), as mount reads the
    disklabel from the raw device.
    """
    for cand in (special, rawname(special)):
        if cand is None:
            continue
        try:
            fd = await libc.open(cand, O_RDONLY)
            break
        except SyscallError:
            continue
    else:
        return "ffs"
    try:
        sb = await libc.pread(fd, 1024, 1024)
    except SyscallError:
        sb = b""
    finally:
        await libc.close(fd)
    if len(sb) >= 58 and struct.unpack_from("<H", sb, 56)[0] == 0xEF53:
        return "ext2fs"
    return "ffs"


# ------------------------------------------------------------------ mount

MOUNT_USAGE = ("usage: mount [-Aadfruvw] [-t type]\n"
               "       mount [-dfruvw] special | node\n"
               "       mount [-dfruvw] [-o options] [-t type] special node")


def prmount(sf: libc.struct_statvfs, verbose: int) -> str:
    """One line of mount's listing: ``/dev/wd0 on /mnt type ext2fs (local)``."""
    out = f"{_s(sf.f_mntfromname)} on {_s(sf.f_mntonname)} type {_s(sf.f_fstypename)}"
    flags = sf.f_flag & MNT_VISFLAGMASK
    f = 0
    for opt, silent, name in OPTNAMES:
        if not flags:
            break
        if flags & opt:
            if not silent or verbose:
                out += (" (" if f == 0 else ", ") + name
                f += 1
            flags &= ~opt
    if sf.f_owner:
        out += (" (" if f == 0 else ", ") + "mounted by " + user_from_uid(sf.f_owner)
        f += 1
    if verbose:
        vals = getattr(sf.f_fsidx, "__fsid_val")
        out += (" (" if f == 0 else ", ") + f"fsid: {vals[0] & 0xffffffff:#x}/" \
            f"{vals[1] & 0xffffffff:#x}"
        f += 1
        out += f", reads: sync {sf.f_syncreads} async {sf.f_asyncreads}"
        out += f", writes: sync {sf.f_syncwrites} async {sf.f_asyncwrites}"
    return out + (")" if f else "")


def getmntopts(optstr: str, flags: int) -> tuple[int, list[str], str | None]:
    """getmntopts(3): apply ``-o`` options to flags; (flags, the options, a bad one)."""
    given = [o for o in optstr.split(",") if o]
    for opt in given:
        name = opt.split("=", 1)[0]
        negative = name.startswith("no") and name[2:] in MNTOPTS
        if negative:
            name = name[2:]
        m = MNTOPTS.get(name)
        if m is None:
            return flags, given, opt
        flags = mntopt_apply(flags, m, negative)
    return flags, given, None


def mntopt_apply(flags: int, opt: tuple[int, int], negative: bool) -> int:
    """getmntopts(3) for one option ``(inverse, flag)``, "no" in front or not."""
    inverse, flag = opt
    return flags | flag if int(negative) == inverse else flags & ~flag


@command("mount", summary="mount file systems")
async def mount_main(argv: list[str]) -> int:
    opts, args = await options(argv, "Aadfo:rt:uvw", MOUNT_USAGE)
    flags = 0
    optlist: list[str] = []
    fstype: str | None = None
    verbose = 0
    debug = False
    for o, a in opts:
        if o == "d":
            debug = True
        elif o == "f":
            flags |= MNT_FORCE
        elif o == "o":
            if a:
                optlist.append(a)
        elif o == "r":
            optlist.append("ro")
        elif o == "w":
            optlist.append("rw")
        elif o == "t":
            if fstype is not None:
                await errx(1, "only one -t option may be specified.")
            fstype = a
        elif o == "u":
            flags |= MNT_UPDATE
        elif o == "v":
            verbose += 1
        elif o in "aA":
            await errx(1, "no /etc/fstab in kemu: nothing to mount with -a")
    flags, given, bad = getmntopts(",".join(optlist), flags)
    # A type with a program of its own (mount_memfs): NetBSD's mount(8) runs
    # mount_<type> with the -o options as they are.
    program = None
    if fstype is not None and fstype not in MOUNT_ARGS:
        program = cmds.lookup(f"mount_{fstype}")
    if bad is not None and program is None:
        await errx(1, f"-o {bad}: option not supported")

    if not args:
        for sf in await libc.getmntinfo(MNT_NOWAIT):
            if fstype is not None and _s(sf.f_fstypename) not in fstype.split(","):
                continue
            await printf(prmount(sf, verbose) + "\n")
        return 0

    if len(args) == 1:
        if not flags & MNT_UPDATE:
            await errx(1, f"{args[0]}: unknown special file or file system.")
        node = await abspath(args[0])
        for sf in await libc.getmntinfo(MNT_NOWAIT):
            if _s(sf.f_mntonname) == node:
                special, fstype = _s(sf.f_mntfromname), _s(sf.f_fstypename)
                break
        else:
            await errx(1, f"{args[0]}: unknown special file or file system.")
        args = [special, node]
    if len(args) != 2:
        await usage_exit(MOUNT_USAGE)
    special, node = args
    try:
        node = await realpath(node)
    except SyscallError as e:
        await warn(f"realpath {node}", e)
        return 1
    if program is not None:
        if debug:
            return 0
        extra = [n for f, n in ((MNT_FORCE, "force"), (MNT_UPDATE, "update")) if flags & f]
        opts_ = optlist + extra
        setprogname(f"mount_{fstype}")          # as after execve of mount_<type>
        return await program([f"mount_{fstype}", *(["-o", ",".join(opts_)] if opts_ else []),
                              special, node])
    if fstype is None:
        fstype = await sniff_fstype(special)
    builder = MOUNT_ARGS.get(fstype, no_mount_args)
    try:
        ma = await builder(special, node, flags, given)
    except _Fail as e:
        return e.status
    try:
        if debug:
            return 0
        try:
            await libc.mount(fstype, node, flags, ma.data)
        except SyscallError as e:
            if e.errno == EMFILE:
                cause = "mount table full"
            elif e.errno == EINVAL and ma.ufs_errors:
                cause = ("specified device does not match mounted device"
                         if flags & MNT_UPDATE else "incorrect super block")
            else:
                cause = e.strerror
            await errx(1, f"{ma.special} on {node}: {cause}")
    finally:
        for a in ma.owned:
            libc.ufree(a)
    if verbose:
        try:
            sf = await libc.statvfs1(node, MNT_WAIT)
            await printf(prmount(sf, verbose) + "\n")
        except SyscallError as e:
            await warn(node, e)
    return 0


# ------------------------------------------------------------------ umount

UMOUNT_USAGE = ("usage: umount [-fvFR] [-t fstypelist] special | node\n"
                "       umount -a[fvF] [-h host] [-t fstypelist]")


async def _getmntname(name: str, on: bool) -> tuple[str, str] | None:
    """getmntname(): the newest mount whose from-name (on=True: give its mount point)
    or mount point (on=False: give its from-name) is ``name``: (other name, type)."""
    found = None
    for sf in await libc.getmntinfo(MNT_NOWAIT):
        frm, onn, t = _s(sf.f_mntfromname), _s(sf.f_mntonname), _s(sf.f_fstypename)
        if on and frm == name:
            found = (onn, t)
        elif not on and onn == name:
            found = (frm, t)
    return found


async def _umountfs(name: str, flags: int, verbose: bool, raw: bool) -> int:
    mntpt = name
    mntfrom = name
    if not raw:
        try:
            name = await realpath(name)
        except SyscallError:
            pass
        try:
            st = await libc.stat(name)
        except SyscallError:
            st = None
        if st is None:
            mntpt = name
            r = await _getmntname(name, on=False)
            if r is None:
                r2 = await _getmntname(name, on=True)
                if r2 is None:
                    await warnx(f"{name}: not currently mounted")
                    return 1
                mntpt = r2[0]
                mntfrom = name
            else:
                mntfrom = r[0]
        elif S_ISBLK(st.st_mode):
            r = await _getmntname(name, on=True)
            if r is None:
                await warnx(f"{name}: not currently mounted")
                return 1
            mntpt, mntfrom = r[0], name
        elif S_ISDIR(st.st_mode):
            mntpt = name
            r = await _getmntname(mntpt, on=False)
            if r is None:
                await warnx(f"{name}: not currently mounted")
                return 1
            mntfrom = r[0]
        else:
            await warnx(f"{name}: not a directory or special device")
            return 1
    if verbose:
        await printf(f"{mntfrom}: unmount from {mntpt}\n")
        await fflush()
    try:
        await libc.unmount(mntpt, flags)
    except SyscallError as e:
        await warn(mntpt, e)
        return 1
    return 0


@command("umount", summary="unmount file systems")
async def umount_main(argv: list[str]) -> int:
    opts, args = await options(argv, "AaFfh:Rt:v", UMOUNT_USAGE)
    flags = 0
    verbose = raw = False
    for o, _ in opts:
        if o == "f":
            flags |= MNT_FORCE
        elif o == "v":
            verbose = True
        elif o == "R":
            raw = True
        elif o in "aA":
            await errx(1, "no /etc/fstab in kemu: nothing to unmount with -a")
    if not args:
        await usage_exit(UMOUNT_USAGE)
    rv = 0
    for name in args:
        rv |= await _umountfs(name, flags, verbose, raw)
    return rv


# ------------------------------------------------------------------ df

DF_USAGE = "Usage: df [-aGghklmn] [-i|-P] [-t type] [file | file_system ...]"


def _fsbtoblk(num: int, fsbs: int, bs: int) -> int:
    if fsbs != 0 and fsbs < bs:
        return int(num / (bs // fsbs))
    return num * (fsbs // bs)


def _human(n: int) -> str:
    return str(humanize_number(5 if n >= 0 else 6, n, "", HN_AUTOSCALE,
                               HN_B | HN_NOSPACE | HN_DECIMAL))


@command("df", summary="display free disk space")
async def df_main(argv: list[str]) -> int:
    opts, args = await options(argv, "aGghiklmnPt:", DF_USAGE)
    aflag = iflag = lflag = nflag = Pflag = hflag = False
    usize = 0
    typelist: list[str] | None = None
    negate = False
    for o, a in opts:
        if o == "a":
            aflag = True
        elif o == "G":
            hflag, usize = False, 1 << 30
        elif o == "h":
            hflag, usize = True, 0
        elif o == "i":
            iflag = True
        elif o == "k":
            hflag, usize = False, 1024
        elif o == "l":
            lflag = True
        elif o == "m":
            hflag, usize = False, 1 << 20
        elif o == "n":
            nflag = True
        elif o == "P":
            Pflag = True
        elif o == "g":
            pass
        elif o == "t":
            if typelist is not None:
                await errx(1, "only one -t option may be specified.")
            if not a:
                await errx(1, "empty type list")
            if a.startswith("no"):
                negate, a = True, a[2:]
            typelist = a.split(",")
    if Pflag and iflag:
        await errx(1, "only one of -P and -i may be specified")

    def selected(t: str) -> bool:
        if typelist is None:
            return True
        return (t in typelist) != negate

    mnts = await libc.getmntinfo(MNT_NOWAIT)
    shown: list[libc.struct_statvfs] = []
    rv = 0
    if not args:
        for sf in mnts:
            if not aflag and sf.f_flag & MNT_IGNORE:
                continue
            if lflag and not sf.f_flag & MNT_LOCAL:
                continue
            if not selected(_s(sf.f_fstypename)):
                continue
            if not nflag:
                try:
                    sf = await libc.statvfs1(_s(sf.f_mntonname), MNT_WAIT)
                except SyscallError:
                    pass
            shown.append(sf)
    else:
        for a in args:
            mntpt = a
            try:
                st = await libc.stat(a)
                if S_ISBLK(st.st_mode):
                    for sf in mnts:
                        if _s(sf.f_mntfromname) == a:
                            mntpt = _s(sf.f_mntonname)
            except SyscallError as e:
                found = [sf for sf in mnts if _s(sf.f_mntfromname) == a]
                if not found:
                    await warn(a, e)
                    rv = 1
                    continue
                mntpt = _s(found[-1].f_mntonname)
            try:
                sf = await libc.statvfs1(mntpt, MNT_WAIT)
            except SyscallError as e:
                await warn(a, e)
                rv = 1
                continue
            if lflag and not sf.f_flag & MNT_LOCAL:
                await warnx(f"Warning: {a} is not a local file system")
            elif not selected(_s(sf.f_fstypename)):
                await warnx(f"Warning: {a} mounted as a {_s(sf.f_fstypename)} file system")
            else:
                shown.append(sf)
    maxwidth = max([len(sf.f_mntfromname) for sf in shown] + [0])
    if maxwidth < 12:
        maxwidth = 12
    if usize == 1024:
        header, blocksize = ("1024-blocks" if Pflag else "1K-blocks"), 1024
    elif usize == 1 << 20:
        header, blocksize = ("1048576-blocks" if Pflag else "1M-blocks"), 1 << 20
    elif usize == 1 << 30:
        header, blocksize = ("1073741824-blocks" if Pflag else "1G-blocks"), 1 << 30
    elif hflag:
        header, blocksize = "      Size", 512
    else:
        header, blocksize = "512-blocks", 512   # getbsize(3) without BLOCKSIZE
    headerlen = len(header)
    if shown:
        if Pflag:
            await printf(f"Filesystem {header} Used Available Capacity Mounted on\n")
        else:
            w = maxwidth - (headerlen - 9)
            line = f"{'Filesystem':<{w}.{w}} {header}       Used      Avail %Cap"
            if iflag:
                line += "      iUsed     iAvail %iCap"
            await printf(line + " Mounted on\n")
    for sf in shown:
        frm, on = _s(sf.f_mntfromname), _s(sf.f_mntonname)
        used = sf.f_blocks - sf.f_bfree
        bavail = sf.f_bfree - sf.f_bresvd
        availblks = bavail + used
        pct = "100%" if availblks == 0 else strpct(used, availblks)
        if Pflag:
            await printf(f"{frm} {_fsbtoblk(sf.f_blocks, sf.f_frsize, blocksize)} "
                         f"{_fsbtoblk(used, sf.f_frsize, blocksize)} "
                         f"{_fsbtoblk(bavail, sf.f_frsize, blocksize)} {pct} {on}\n")
            continue
        line = f"{frm:<{maxwidth}.{maxwidth}}"
        if hflag:
            line += (f"{_human(sf.f_blocks * sf.f_frsize):>10} "
                     f"{_human(used * sf.f_frsize):>10} {_human(bavail * sf.f_frsize):>10}")
        else:
            line += (f"{_fsbtoblk(sf.f_blocks, sf.f_frsize, blocksize):>10} "
                     f"{_fsbtoblk(used, sf.f_frsize, blocksize):>10} "
                     f"{_fsbtoblk(bavail, sf.f_frsize, blocksize):>10}")
        line += f" {pct:>4}"
        if iflag:
            inodes = sf.f_files
            iused = inodes - sf.f_ffree
            ipct = ("  0%" if iused == 0 else "100%") if inodes == 0 else strpct(iused, inodes)
            line += f" {iused:>10} {sf.f_ffree:>10} {ipct:>4}"
        await printf(line + f" {on}\n")
    return rv
