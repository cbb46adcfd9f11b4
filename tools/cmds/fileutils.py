"""File utilities after NetBSD's bin/: mkdir, rmdir, ls, cat, cp, mv, rm, ln, touch,
chmod, stat.  Options, messages and output formats are NetBSD's."""

from __future__ import annotations

from collections.abc import Awaitable

from kern.errno import EINVAL, EISDIR, ENAMETOOLONG, ENOENT, ENOTDIR, EPERM, EXDEV
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY
from kern.param import MAXBSIZE
from kern.types_dev import major, minor
from tools.cmds import command
from tools.cmds._fsutil import (
    DEFFILEMODE,
    BadMode,
    basename,
    ctime_fields,
    getmode,
    group_from_gid,
    join,
    ls_time,
    setmode,
    stat_or_none,
    strmode,
    user_from_uid,
)
from tools.cmds._prog import (
    STDOUT_FILENO,
    eprintf,
    err,
    errx,
    fflush,
    getprogname,
    options,
    printf,
    usage_exit,
    warn,
    warnx,
    write_all,
)
from tools.lib import libc
from tools.lib.tzcode import localtime
from vfs.stat import (
    S_ISBLK,
    S_ISCHR,
    S_ISDIR,
    S_ISFIFO,
    S_ISGID,
    S_ISLNK,
    S_ISREG,
    S_ISSOCK,
    S_ISUID,
    S_IWUSR,
    S_IXUSR,
)


async def _umask() -> int:
    old = await libc.umask(0)
    await libc.umask(old)
    return old


# ------------------------------------------------------------------ mkdir

MKDIR_USAGE = "usage: mkdir [-p] [-m mode] dirname ..."


async def _mkpath(path: str, mode: int, dir_mode: int) -> int:
    """mkdir -p's mkpath(): make each missing component; 0 or -1 (after a warning)."""
    slash, n = 0, len(path)
    while True:
        while slash < n and path[slash] == "/":
            slash += 1
        while slash < n and path[slash] != "/":
            slash += 1
        rest = slash
        while rest < n and path[rest] == "/":
            rest += 1
        done = rest == n
        cur = path[:slash]
        try:
            await libc.mkdir(cur, mode if done else dir_mode)
        except SyscallError as e:
            # Can't create; path exists or no perms: stat() it to see what is there.
            st = await stat_or_none(cur)
            if st is None:
                await warn(cur, e)
                return -1
            if not S_ISDIR(st.st_mode):
                await warn(cur, ENOTDIR)
                return -1
        else:
            # mkdir(2) and the umask keep only the permission bits: chmod(2) the rest.
            if done and mode & ~0o777 and await _warned(cur, libc.chmod(cur, mode)):
                return -1
        if done:
            return 0


async def _warned(path: str, call: Awaitable[object]) -> int:
    """Await a system call: 0, or 1 after ``warn(path)`` if it failed."""
    try:
        await call
    except SyscallError as e:
        await warn(path, e)
        return 1
    return 0


@command("mkdir", summary="make directories")
async def mkdir_main(argv: list[str]) -> int:
    # umask(0), as NetBSD's mkdir: the modes below are applied exactly (and
    # setmode(3), which reads the umask, sees 0 too).
    mode = 0o777 & ~await libc.umask(0)
    dir_mode = mode | S_IWUSR | S_IXUSR
    opts, args = await options(argv, "m:p", MKDIR_USAGE)
    pflag = False
    for o, a in opts:
        if o == "p":
            pflag = True
        else:
            try:
                mode = getmode(setmode(a, 0), 0o777)
            except BadMode:
                await err(1, f"Cannot set file mode `{a}'", EINVAL)
    if not args:
        await usage_exit(MKDIR_USAGE)
    rv = 0
    for path in args:
        if pflag:
            if await _mkpath(path, mode, dir_mode) < 0:
                rv = 1
            continue
        if await _warned(path, libc.mkdir(path, mode)):
            rv = 1
        elif mode & ~0o777:
            rv |= await _warned(path, libc.chmod(path, mode))
    return rv


# ------------------------------------------------------------------ rmdir

RMDIR_USAGE = "usage: rmdir [-p] directory ..."


async def _rm_path(path: str) -> int:
    """rmdir -p: remove each parent, from the last component up."""
    while (p := path.rfind("/")) >= 0:
        # Delete trailing slashes ("/tmp" leaves "", which rmdir(2) refuses).
        p -= 1
        while p > 0 and path[p] == "/":
            p -= 1
        path = path[:p + 1]
        if await _warned(path, libc.rmdir(path)):
            return 1
    return 0


@command("rmdir", summary="remove directories")
async def rmdir_main(argv: list[str]) -> int:
    opts, args = await options(argv, "p", RMDIR_USAGE)
    pflag = any(o == "p" for o, _ in opts)
    if not args:
        await usage_exit(RMDIR_USAGE)
    rv = 0
    for path in args:
        path = path.rstrip("/") or path[:1]      # trailing slashes, per POSIX
        if await _warned(path, libc.rmdir(path)):
            rv = 1
        elif pflag:
            rv |= await _rm_path(path)
    return rv


# ------------------------------------------------------------------ ls

LS_USAGE = "usage: ls [-1AadFilnrt] [file ...]"


class _Ent:
    __slots__ = ("name", "path", "st", "target")

    def __init__(self, name: str, path: str, st: libc.struct_stat) -> None:
        self.name = name
        self.path = path
        self.st = st
        self.target: str | None = None


def _ftype_char(mode: int) -> str:
    if S_ISDIR(mode):
        return "/"
    if S_ISLNK(mode):
        return "@"
    if S_ISSOCK(mode):
        return "="
    if S_ISFIFO(mode):
        return "|"
    if mode & 0o111 and S_ISREG(mode):
        return "*"
    return ""


class _Ls:
    def __init__(self, flags: set[str]) -> None:
        self.f = flags
        self.now = 0
        self.printed = False

    def sort(self, ents: list[_Ent]) -> list[_Ent]:
        if "t" in self.f:
            ents = sorted(ents, key=lambda e: (-e.st.st_mtimespec.tv_sec,
                                               -e.st.st_mtimespec.tv_nsec, e.name))
        else:
            ents = sorted(ents, key=lambda e: e.name.encode("utf-8", "surrogateescape"))
        if "r" in self.f:
            ents.reverse()
        return ents

    async def display(self, ents: list[_Ent], total: bool) -> None:
        if not ents:
            return
        self.printed = True
        f = self.f
        inow = max(len(str(e.st.st_ino)) for e in ents) if "i" in f else 0
        if "l" not in f:
            for e in ents:
                ino = f"{e.st.st_ino:>{inow}} " if "i" in f else ""
                suffix = _ftype_char(e.st.st_mode) if "F" in f else ""
                await printf(f"{ino}{e.name}{suffix}\n")
            return
        numeric = "n" in f
        users = [user_from_uid(e.st.st_uid, numeric) for e in ents]
        groups = [group_from_gid(e.st.st_gid, numeric) for e in ents]
        s_nlink = max(len(str(e.st.st_nlink)) for e in ents)
        s_user = max(len(u) for u in users)
        s_group = max(len(g) for g in groups)
        s_size = max(len(str(e.st.st_size)) for e in ents)
        bc = [e for e in ents if S_ISCHR(e.st.st_mode) or S_ISBLK(e.st.st_mode)]
        s_major = s_minor = 0
        if bc:
            s_major = max(len(str(major(e.st.st_rdev))) for e in bc)
            s_minor = max(len(str(minor(e.st.st_rdev))) for e in bc)
            if s_major + s_minor + 2 > s_size:
                s_size = s_major + s_minor + 2
            elif s_size - s_minor - 2 > s_major:
                s_major = s_size - s_minor - 2
        if total:
            await printf(f"total {sum(e.st.st_blocks for e in ents)}\n")
        for e, u, g in zip(ents, users, groups, strict=True):
            st = e.st
            line = f"{st.st_ino:>{inow}} " if "i" in f else ""
            line += (f"{strmode(st.st_mode)} {st.st_nlink:>{s_nlink}} {u:<{s_user}}  "
                     f"{g:<{s_group}}  ")
            if S_ISCHR(st.st_mode) or S_ISBLK(st.st_mode):
                line += f"{major(st.st_rdev):>{s_major}}, {minor(st.st_rdev):>{s_minor}} "
            else:
                line += f"{st.st_size:>{s_size}} "
            line += ls_time(st.st_mtimespec.tv_sec, self.now) + " "
            line += e.name
            if "F" in f:
                line += _ftype_char(st.st_mode)
            if S_ISLNK(st.st_mode) and e.target is not None:
                line += f" -> {e.target}"
            await printf(line + "\n")

    async def entry(self, name: str, path: str, follow: bool) -> _Ent:
        st = None
        if follow:
            try:
                st = await libc.stat(path)
            except SyscallError:
                st = None
        if st is None:
            st = await libc.lstat(path)
        e = _Ent(name, path, st)
        if S_ISLNK(st.st_mode) and "l" in self.f:
            try:
                e.target = await libc.readlink(path)
            except SyscallError:
                e.target = None
        return e

    async def listdir(self, path: str) -> tuple[list[_Ent], int]:
        rv = 0
        try:
            names = [n for _, n, _ in await libc.listdir(path)]
        except SyscallError as e:
            await warn(path, e)
            return [], 1
        ents = []
        for n in names:
            if n.startswith("."):
                if "a" not in self.f and not ("A" in self.f and n not in (".", "..")):
                    continue
            try:
                ents.append(await self.entry(n, join(path, n), False))
            except SyscallError as e:
                await warn(join(path, n), e)
                rv = 1
        return ents, rv


@command("ls", summary="list directory contents")
async def ls_main(argv: list[str]) -> int:
    opts, args = await options(argv, "1AadFilnrt", LS_USAGE)
    flags = {o for o, _ in opts}
    if "n" in flags:
        flags.add("l")
    ls = _Ls(flags)
    ls.now = (await libc.gettimeofday())[0]
    rv = 0
    operands = args or ["."]
    follow = not ({"l", "d", "F"} & flags)
    files: list[_Ent] = []
    dirs: list[_Ent] = []
    for a in operands:
        try:
            e = await ls.entry(a, a, follow)
        except SyscallError as err_:
            await warn(a, err_)
            rv = 1
            continue
        if S_ISDIR(e.st.st_mode) and "d" not in flags:
            dirs.append(e)
        else:
            files.append(e)
    await ls.display(ls.sort(files), total=False)
    for i, d in enumerate(ls.sort(dirs)):
        if ls.printed or i > 0:
            await printf("\n")
        if len(operands) > 1:
            await printf(f"{d.name}:\n")
            ls.printed = True
        ents, r = await ls.listdir(d.path)
        rv |= r
        await ls.display(ls.sort(ents), total=True)
    return rv


# ------------------------------------------------------------------ cat

CAT_USAGE = "usage: cat [-u] [file ...]"


async def _copy_data(src_fd: int, dst_fd: int) -> None:
    """read(2) ``src_fd`` to its end, write(2) all of it to ``dst_fd`` (cat's raw_cat)."""
    while True:
        data = await libc.read(src_fd, MAXBSIZE)
        if not data:
            return
        await write_all(dst_fd, data)


@command("cat", summary="concatenate and print files")
async def cat_main(argv: list[str]) -> int:
    _, args = await options(argv, "u", CAT_USAGE)
    rv = 0
    for path in args or ["-"]:
        if path == "-":
            fd, name = 0, "stdin"
        else:
            try:
                fd, name = await libc.open(path, O_RDONLY), path
            except SyscallError as e:
                await warn(path, e)
                rv = 1
                continue
        try:
            await _copy_data(fd, STDOUT_FILENO)
        except SyscallError as e:
            await warn(name, e)
            rv = 1
        finally:
            if fd != 0:
                await libc.close(fd)
    return rv


# ------------------------------------------------------------------ cp

CP_USAGE = ("usage: cp [-R [-H | -L | -P]] [-f | -i] [-alNpv] src target\n"
            "       cp [-R [-H | -L | -P]] [-f | -i] [-alNpv] src1 ... srcN directory")


class _Cp:
    """One cp run: its flags and its exit status."""

    def __init__(self, flags: set[str]) -> None:
        self.f = flags
        self.rv = 0

    def follow(self, top: bool) -> bool:
        """stat (not lstat) the source, as cp's fts options say."""
        if "R" in self.f:
            return "L" in self.f or (top and "H" in self.f)
        return "P" not in self.f

    async def copy_file(self, src: str, st: libc.struct_stat, dst: str, dne: bool) -> bool:
        try:
            sfd = await libc.open(src, O_RDONLY)
        except SyscallError as e:
            await warn(src, e)
            return False
        try:
            # A new file gets the source's mode without set-id bits, less the umask.
            mode = st.st_mode & ~(S_ISUID | S_ISGID) & 0o7777
            tolnk = ("R" in self.f and not {"L", "H"} & self.f) or "P" in self.f
            try:
                dfd = await libc.open(dst, O_WRONLY | O_TRUNC | (O_CREAT if dne else 0), mode)
            except SyscallError as e:
                if "f" not in self.f and not tolnk:
                    await warn(dst, e)
                    return False
                # Remove the existing destination name and create a new file.
                try:
                    await libc.unlink(dst)
                except SyscallError:
                    pass
                try:
                    dfd = await libc.open(dst, O_WRONLY | O_TRUNC | O_CREAT, mode)
                except SyscallError as e2:
                    await warn(dst, e2)
                    return False
            if "l" in self.f:
                # Hard linking: close, link and return.
                await libc.close(dfd)
                try:
                    await libc.unlink(dst)
                    await libc.link(src, dst)
                except SyscallError as e:
                    await warn(dst, e)
                    return False
                return True
            try:
                await _copy_data(sfd, dfd)
            except SyscallError as e:
                await warn(dst, e)
                await libc.close(dfd)
                return False
            ok = await self.setfile(dst, st, dfd) if "p" in self.f else True
            await libc.close(dfd)
            return ok
        finally:
            await libc.close(sfd)

    async def setfile(self, dst: str, st: libc.struct_stat, fd: int = -1) -> bool:
        """Owner, group, mode and times of ``st`` onto ``dst`` (cp -p)."""
        ok = True
        mode = st.st_mode & (S_ISUID | S_ISGID | 0o777)
        try:
            if fd >= 0:
                await libc.fchown(fd, st.st_uid, st.st_gid)
            else:
                await libc.lchown(dst, st.st_uid, st.st_gid)
        except SyscallError as e:
            if e.errno != EPERM:
                await warn(f"chown: {dst}", e)
                ok = False
            mode &= ~(S_ISUID | S_ISGID)     # lose the set-id bits if chown failed
        try:
            await (libc.fchmod(fd, mode) if fd >= 0 else libc.lchmod(dst, mode))
        except SyscallError as e:
            await warn(f"chmod: {dst}", e)
            ok = False
        times = ((st.st_atimespec.tv_sec, st.st_atimespec.tv_nsec // 1000),
                 (st.st_mtimespec.tv_sec, st.st_mtimespec.tv_nsec // 1000))
        try:
            await (libc.futimes(fd, times) if fd >= 0 else libc.lutimes(dst, times))
        except SyscallError as e:
            await warn(f"lutimes: {dst}", e)
            ok = False
        return ok

    async def copy_link(self, src: str, st: libc.struct_stat, dst: str, exists: bool) -> bool:
        try:
            target = await libc.readlink(src)
        except SyscallError as e:
            await warn(f"readlink: {src}", e)
            return False
        if exists:
            try:
                await libc.unlink(dst)
            except SyscallError as e:
                await warn(f"unlink: {dst}", e)
                return False
        try:
            await libc.symlink(target, dst)
        except SyscallError as e:
            await warn(f"symlink: {target}", e)
            return False
        return await self.setfile(dst, st) if "p" in self.f else True

    async def copy_special(self, st: libc.struct_stat, dst: str, exists: bool) -> bool:
        """copy_special/copy_fifo: make the node anew."""
        if exists:
            try:
                await libc.unlink(dst)
            except SyscallError as e:
                await warn(f"unlink: {dst}", e)
                return False
        try:
            await libc.mknod(dst, st.st_mode, st.st_rdev)
        except SyscallError as e:
            await warn(f"{'mkfifo' if S_ISFIFO(st.st_mode) else 'mknod'}: {dst}", e)
            return False
        return await self.setfile(dst, st) if "p" in self.f else True

    async def copy(self, src: str, dst: str, top: bool) -> None:
        try:
            st = await (libc.stat(src) if self.follow(top) else libc.lstat(src))
        except SyscallError as e:
            await warn(src, e)
            self.rv = 1
            return
        dst_st = await stat_or_none(dst, follow="P" not in self.f)
        dne = dst_st is None
        if dst_st is not None:
            if dst_st.st_dev == st.st_dev and dst_st.st_ino == st.st_ino:
                await warnx(f"{dst} and {src} are identical (not copied).")
                self.rv = 1
                return
            if not S_ISDIR(st.st_mode) and S_ISDIR(dst_st.st_mode):
                await warnx(f"cannot overwrite directory {dst} with non-directory {src}")
                self.rv = 1
                return
        mode = st.st_mode
        if S_ISDIR(mode):
            if "R" not in self.f:
                await warnx(f"{src} is a directory (not copied).")
                self.rv = 1
                return
            # First pass: create it (the source's mode plus u+rwx, less the umask).
            if dne:
                try:
                    await libc.mkdir(dst, (mode & 0o7777) | 0o700)
                except SyscallError as e:
                    await err(1, dst, e)
            elif not S_ISDIR(dst_st.st_mode):
                await err(1, dst, ENOTDIR)
            if "v" in self.f:
                await printf(f"{src} -> {dst}\n")
            try:
                names = [n for _, n, _ in await libc.listdir(src) if n not in (".", "..")]
            except SyscallError as e:
                await warn(src, e)
                self.rv = 1
                return
            for n in sorted(names):
                await self.copy(join(src, n), join(dst, n), False)
            # Second pass: -p's attributes, or a new directory gets the source's
            # mode, unmodified by the umask ("it's been that way forever").
            if "p" in self.f:
                if not await self.setfile(dst, st):
                    self.rv = 1
            elif dne:
                try:
                    await libc.chmod(dst, mode & 0o7777)
                except SyscallError:
                    pass
            return
        if S_ISLNK(mode):
            ok = await self.copy_link(src, st, dst, not dne)
        elif (S_ISCHR(mode) or S_ISBLK(mode) or S_ISFIFO(mode)) and "R" in self.f:
            ok = await self.copy_special(st, dst, not dne)
        else:
            ok = await self.copy_file(src, st, dst, dne)
        if not ok:
            self.rv = 1
        elif "v" in self.f:
            await printf(f"{src} -> {dst}\n")


@command("cp", summary="copy files")
async def cp_main(argv: list[str]) -> int:
    opts, args = await options(argv, "HLNPRafilprv", CP_USAGE)
    flags: set[str] = set()
    for o, _ in opts:
        if o in "HLP":                   # the last of -H, -L, -P wins
            flags -= {"H", "L", "P"}
        elif o in "fi":                  # and of -f, -i
            flags -= {"f", "i"}
        if o == "a":                     # -a: -RpP
            flags -= {"H", "L"}
            flags |= {"R", "p", "P"}
        else:
            flags.add("R" if o == "r" else o)
    if len(args) < 2:
        await usage_exit(CP_USAGE)
    cp = _Cp(flags)
    target = args[-1].rstrip("/") or args[-1][:1]
    srcs = [s.rstrip("/") or s[:1] for s in args[:-1]]
    tst = await stat_or_none(target, follow="P" not in flags)
    if tst is None or not S_ISDIR(tst.st_mode):
        # cp source target: the target becomes a copy of the source.
        if len(srcs) > 1:
            await usage_exit(CP_USAGE)
        if target != args[-1]:
            # "dst/" names a directory: only "cp -R dir dst/" may make it.
            if tst is not None:
                await errx(1, f"{target} is not a directory")
            src_st = await stat_or_none(srcs[0], follow=cp.follow(True))
            if src_st is not None and not (S_ISDIR(src_st.st_mode) and "R" in flags):
                await errx(1, f"directory {target} does not exist")
        await cp.copy(srcs[0], target, True)
    else:
        for s in srcs:
            await cp.copy(s, join(target, basename(s)), True)
    return cp.rv


# ------------------------------------------------------------------ rm

RM_USAGE = "usage: rm [-f|-i] [-dPRrvW] file ..."


class _Rm:
    def __init__(self, flags: set[str]) -> None:
        self.f = flags
        self.rv = 0

    async def fail(self, path: str, e: SyscallError) -> None:
        """warn, unless -f and the file does not exist (NONEXISTENT)."""
        if "f" in self.f and e.errno in (ENOENT, ENAMETOOLONG, ENOTDIR):
            return
        await warn(path, e)
        self.rv = 1

    async def rmtree(self, path: str) -> bool:
        try:
            names = [n for _, n, _ in await libc.listdir(path) if n not in (".", "..")]
        except SyscallError as e:
            await self.fail(path, e)
            return False
        ok = True
        for n in sorted(names):
            p = join(path, n)
            try:
                st = await libc.lstat(p)
            except SyscallError as e:
                await self.fail(p, e)
                ok = False
                continue
            if S_ISDIR(st.st_mode):
                ok = await self.rmtree(p) and ok
            else:
                try:
                    await libc.unlink(p)
                    if "v" in self.f:
                        await printf(f"{p}\n")
                except SyscallError as e:
                    await self.fail(p, e)
                    ok = False
        try:
            await libc.rmdir(path)
            if "v" in self.f:
                await printf(f"{path}\n")
        except SyscallError as e:
            await self.fail(path, e)
            return False
        return ok


@command("rm", summary="remove directory entries")
async def rm_main(argv: list[str]) -> int:
    opts, args = await options(argv, "dfiPRrvW", RM_USAGE)
    flags: set[str] = set()
    for o, _ in opts:
        if o in "fi":                    # the last of -f, -i wins
            flags -= {"f", "i"}
        flags.add("R" if o == "r" else o)
    if not args:
        if "f" in flags:
            return 0
        await usage_exit(RM_USAGE)
    rm = _Rm(flags)
    # checkdot(): trailing slashes go; "." and ".." operands are dropped
    # first, with one complaint.
    args = [p.rstrip("/") or p[:1] for p in args]
    kept = [p for p in args if basename(p) not in (".", "..")]
    if len(kept) != len(args):
        await warnx('"." and ".." may not be removed')
        rm.rv = 1
    for path in kept:
        try:
            st = await libc.lstat(path)
        except SyscallError as e:
            await rm.fail(path, e)
            continue
        isdir = S_ISDIR(st.st_mode)
        if isdir and "R" in flags:
            await rm.rmtree(path)
            continue
        if isdir and "d" not in flags:
            await warnx(f"{path}: is a directory")
            rm.rv = 1
            continue
        try:
            await (libc.rmdir(path) if isdir else libc.unlink(path))
        except SyscallError as e:
            await rm.fail(path, e)
            continue
        if "v" in flags:
            await printf(f"{path}\n")
    return rm.rv


# ------------------------------------------------------------------ mv

MV_USAGE = ("usage: mv [-fiv] source target\n"
            "       mv [-fiv] source ... directory")


async def _do_move(src: str, dst: str, verbose: bool) -> int:
    try:
        await libc.rename(src, dst)
    except SyscallError as e:
        if e.errno != EXDEV:
            await warn(f"rename {src} to {dst}", e)
            return 1
    else:
        if verbose:
            await printf(f"{src} -> {dst}\n")
        return 0
    # Across file systems: remove the destination, then copy as cp -PRp
    # does and remove the source as rm -rf does.
    dst_st = await stat_or_none(dst, follow=False)
    if dst_st is not None:
        try:
            await (libc.rmdir(dst) if S_ISDIR(dst_st.st_mode) else libc.unlink(dst))
        except SyscallError as e:
            await warn(f"can't remove {dst}", e)
            return 1
    try:
        st = await libc.lstat(src)
    except SyscallError as e:
        await warn(src, e)
        return 1
    cp = _Cp({"P", "R", "p", "v"} if verbose else {"P", "R", "p"})
    await cp.copy(src, dst, True)
    if cp.rv:
        return 1
    rm = _Rm({"f"})
    if S_ISDIR(st.st_mode):
        return 0 if await rm.rmtree(src) else 1
    try:
        await libc.unlink(src)
    except SyscallError as e:
        await rm.fail(src, e)
    return rm.rv


@command("mv", summary="move files")
async def mv_main(argv: list[str]) -> int:
    opts, args = await options(argv, "fiv", MV_USAGE)
    verbose = any(o == "v" for o, _ in opts)
    if len(args) < 2:
        await usage_exit(MV_USAGE)
    target = args[-1]
    tst = await stat_or_none(target)
    if tst is None or not S_ISDIR(tst.st_mode):
        if len(args) > 2:
            await usage_exit(MV_USAGE)
        return await _do_move(args[0], target, verbose)
    rv = 0
    for s in args[:-1]:
        s = s.rstrip("/") or s[:1]
        rv |= await _do_move(s, join(target, basename(s)), verbose)
    return rv


# ------------------------------------------------------------------ ln

LN_USAGE = ("usage:\tln [-fhinsv] source_file [target_file]\n"
            "\tln [-fhinsv] source_file ... target_dir")


async def _linkit(source: str, target: str, isdir: bool, flags: set[str]) -> int:
    if "s" not in flags:
        # The source must exist; only symbolic links may point to directories.
        try:
            st = await libc.stat(source)
        except SyscallError as e:
            await warn(source, e)
            return 1
        if S_ISDIR(st.st_mode):
            await warn(source, EISDIR)
            return 1
    p = target
    if isdir:
        p = join(target, basename(source))
    else:
        follow = not ({"h", "n"} & flags)
        st = await stat_or_none(target, follow=follow)
        if st is not None and S_ISDIR(st.st_mode):
            p = join(target, basename(source))
    if "f" in flags:
        try:
            await libc.unlink(p)
        except SyscallError as e:
            if e.errno != ENOENT:
                await warn(p, e)
                return 1
    try:
        if "s" in flags:
            await libc.symlink(source, p)
        else:
            await libc.link(source, p)
    except SyscallError as e:
        await warn(p, e)
        return 1
    if "v" in flags:
        await printf(f"{p} {'-' if 's' in flags else '='}> {source}\n")
    return 0


@command("ln", summary="make links")
async def ln_main(argv: list[str]) -> int:
    opts, args = await options(argv, "fhinsv", LN_USAGE)
    flags = {o for o, _ in opts}
    if not args:
        await usage_exit(LN_USAGE)
    if len(args) == 1:
        return await _linkit(args[0], ".", True, flags)
    if len(args) == 2:
        return await _linkit(args[0], args[1], False, flags)
    target = args[-1]                    # ln source1 source2 ... directory
    try:
        st = await libc.stat(target)
    except SyscallError as e:
        await err(1, target, e)
    if not S_ISDIR(st.st_mode):
        await usage_exit(LN_USAGE)
    rv = 0
    for s in args[:-1]:
        rv |= await _linkit(s, target, True, flags)
    return rv


# ------------------------------------------------------------------ touch

TOUCH_USAGE = "usage: touch [-acm] file ..."


@command("touch", summary="change file access and modification times")
async def touch_main(argv: list[str]) -> int:
    opts, args = await options(argv, "acfm", TOUCH_USAGE)
    cflag = any(o == "c" for o, _ in opts)
    if not args:
        await usage_exit(TOUCH_USAGE)
    rv = 0
    for path in args:
        st = await stat_or_none(path)
        if st is None:
            if cflag:
                continue
            try:
                fd = await libc.open(path, O_WRONLY | O_CREAT, DEFFILEMODE)
                await libc.close(fd)
            except SyscallError as e:
                await warn(path, e)
                rv = 1
            continue
        rv |= await _warned(path, libc.utimes(path, None))
    return rv


# ------------------------------------------------------------------ chmod

CHMOD_USAGE = "Usage: chmod [-R [-H | -L | -P]] [-fh] mode file ..."


async def _chmod_parse(argv: list[str]) -> tuple[set[str], list[str]]:
    """chmod's getopt("HLPRXfghorstuwx"): a mode letter ends the options; a
    whole "-w" argument is the mode itself, as NetBSD's chmod backs up to it."""
    flags: set[str] = set()
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "--":
            return flags, argv[i + 1:]
        if not a.startswith("-") or a == "-":
            break
        for j, c in enumerate(a[1:], 1):
            if c in "Xgorstuwx":
                last = j == len(a) - 1
                return flags, argv[i + 1 if last and a != "-" + c else i:]
            if c not in "HLPRfh":
                await eprintf(f"{getprogname()}: unknown option -- {c}\n")
                await usage_exit(CHMOD_USAGE)
            if c in "HLP":
                flags -= {"H", "L"}
            flags.add(c)
        i += 1
    return flags, argv[i:]


async def _chmod_entry(path: str, st: libc.struct_stat, steps: list, hflag: bool,
                       fflag: bool) -> int:
    """change_mode() on one file; a failure counts only without -f."""
    try:
        await (libc.lchmod if hflag else libc.chmod)(path, getmode(steps, st.st_mode))
    except SyscallError as e:
        if not fflag:
            await warn(path, e)
            return 1
    return 0


async def _chmod_tree(path: str, steps: list, flags: set[str], top: bool) -> int:
    """-R: fts's pre-order walk, physical (-H: follow the operand, -L: every link)."""
    try:
        follow = "L" in flags or (top and "H" in flags)
        st = await (libc.stat(path) if follow else libc.lstat(path))
    except SyscallError as e:
        await warn(path, e)                     # FTS_NS
        return 1
    if S_ISLNK(st.st_mode):
        return 0                                # FTS_SL: ignored
    rv = await _chmod_entry(path, st, steps, False, "f" in flags)
    if S_ISDIR(st.st_mode):
        try:
            names = [n for _, n, _ in await libc.listdir(path) if n not in (".", "..")]
        except SyscallError as e:
            await warn(path, e)                 # FTS_DNR
            return 1
        for n in sorted(names):
            rv |= await _chmod_tree(join(path, n), steps, flags, False)
    return rv


@command("chmod", summary="change file modes")
async def chmod_main(argv: list[str]) -> int:
    flags, args = await _chmod_parse(argv)
    if len(args) < 2:
        await usage_exit(CHMOD_USAGE)
    if "R" in flags and "h" in flags:
        await errx(1, "the -R and -h options may not be specified together.")
    try:
        steps = setmode(args[0], await _umask())
    except BadMode:
        await err(1, f"Cannot set file mode `{args[0]}'", EINVAL)
    rv = 0
    hflag = "h" in flags
    for path in args[1:]:
        if "R" in flags:
            rv |= await _chmod_tree(path, steps, flags, True)
            continue
        try:
            st = await (libc.lstat(path) if hflag else libc.stat(path))
        except SyscallError as e:
            await warn(path, e)                 # FTS_NS, even with -f
            rv = 1
            continue
        rv |= await _chmod_entry(path, st, steps, hflag, "f" in flags)
    return rv


# ------------------------------------------------------------------ stat

STAT_USAGE = "usage: stat [-FLnq] [file ...]"


def _stat_time(sec: int) -> str:
    """stat(1)'s default time format, "%b %e %T %Y"; a time localtime cannot
    break down is shown as the epoch, as stat.c falls back to tv_sec 0."""
    if localtime(sec) is None:
        sec = 0
    return ctime_fields(sec)[4:]


@command("stat", summary="display file status")
async def stat_main(argv: list[str]) -> int:
    opts, args = await options(argv, "FLnq", STAT_USAGE)
    flags = {o for o, _ in opts}
    rv = 0
    for path in args:
        try:
            st = await (libc.stat(path) if "L" in flags else libc.lstat(path))
        except SyscallError as e:
            rv = 1
            if "q" not in flags:
                await warn(f"{path}: {'stat' if 'L' in flags else 'lstat'}", e)
            continue
        name = path
        if "F" in flags:
            name += _ftype_char(st.st_mode)
        fl = f"{st.st_flags:#X}" if st.st_flags else "0"
        line = (f"{st.st_dev} {st.st_ino} {strmode(st.st_mode).rstrip()} {st.st_nlink} "
                f"{user_from_uid(st.st_uid)} {group_from_gid(st.st_gid)} {st.st_rdev} "
                f"{st.st_size} \"{_stat_time(st.st_atimespec.tv_sec)}\" "
                f"\"{_stat_time(st.st_mtimespec.tv_sec)}\" "
                f"\"{_stat_time(st.st_ctimespec.tv_sec)}\" "
                f"\"{_stat_time(st.st_birthtimespec.tv_sec)}\" {st.st_blksize} "
                f"{st.st_blocks} {fl} {name}")
        await printf(line + ("" if "n" in flags else "\n"))
    await fflush()
    return rv

