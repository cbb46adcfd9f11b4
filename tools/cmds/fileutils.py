"""File utilities after NetBSD's bin/: mkdir, rmdir, ls, cat, cp, mv, rm, ln, touch,
chmod, stat.  Options, messages and output formats are NetBSD's."""

from __future__ import annotations

from kern.errno import EEXIST, EISDIR, ENOENT, ENOTDIR, EXDEV
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_RDONLY, O_TRUNC, O_WRONLY
from kern.types_dev import major, minor
from lib import libc
from tools.cmds import command
from tools.cmds._fsutil import (
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
    errx,
    fflush,
    options,
    printf,
    usage_exit,
    warn,
    warnx,
    write_all,
)
from vfs.stat import (
    S_IFMT,
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

MAXBSIZE = 64 * 1024
DEFFILEMODE = 0o666


async def _umask() -> int:
    old = await libc.umask(0)
    await libc.umask(old)
    return old


# ------------------------------------------------------------------ mkdir

MKDIR_USAGE = "usage: mkdir [-p] [-m mode] dirname ..."


async def _mkpath(path: str, mode: int, dir_mode: int) -> int:
    """mkdir -p: make each missing component; 0 or -1 (after a warning)."""
    parts = path.split("/")
    cur = "/" if path.startswith("/") else ""
    comps = [p for p in parts if p]
    for i, comp in enumerate(comps):
        cur = cur + comp if cur in ("", "/") or cur.endswith("/") else f"{cur}/{comp}"
        last = i == len(comps) - 1
        try:
            await libc.mkdir(cur, mode if last else dir_mode)
        except SyscallError as e:
            st = await stat_or_none(cur)
            if st is None:
                await warn(cur, e)
                return -1
            if not S_ISDIR(st.st_mode):
                await warn(cur, ENOTDIR)
                return -1
    return 0


@command("mkdir")
async def mkdir_main(argv: list[str]) -> int:
    opts, args = await options(argv, "m:p", MKDIR_USAGE)
    pflag = False
    mode = 0o777
    mflag = False
    umask = await _umask()
    for o, a in opts:
        if o == "p":
            pflag = True
        else:
            try:
                mode = getmode(setmode(a, umask), 0o777)
            except BadMode:
                await errx(1, f"invalid file mode: {a}")
            mflag = True
    if not args:
        await usage_exit(MKDIR_USAGE)
    dir_mode = (0o777 & ~umask) | S_IWUSR | S_IXUSR
    rv = 0
    for path in args:
        if pflag:
            if await _mkpath(path.rstrip("/") or "/", mode, dir_mode) < 0:
                rv = 1
                continue
        else:
            try:
                await libc.mkdir(path, mode)
            except SyscallError as e:
                await warn(path, e)
                rv = 1
                continue
        if mflag:
            try:
                await libc.chmod(path, mode)
            except SyscallError as e:
                await warn(path, e)
                rv = 1
    return rv


# ------------------------------------------------------------------ rmdir

RMDIR_USAGE = "usage: rmdir [-p] directory ..."


@command("rmdir")
async def rmdir_main(argv: list[str]) -> int:
    opts, args = await options(argv, "p", RMDIR_USAGE)
    pflag = any(o == "p" for o, _ in opts)
    if not args:
        await usage_exit(RMDIR_USAGE)
    rv = 0
    for path in args:
        p = path.rstrip("/") or "/"
        try:
            await libc.rmdir(p)
        except SyscallError as e:
            await warn(path, e)
            rv = 1
            continue
        while pflag and "/" in p.strip("/"):
            p = p.rsplit("/", 1)[0]
            try:
                await libc.rmdir(p)
            except SyscallError as e:
                await warn(p, e)
                rv = 1
                break
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


@command("ls")
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
    many = len(operands) > 1 or rv != 0
    for i, d in enumerate(ls.sort(dirs)):
        if ls.printed or i > 0:
            await printf("\n")
        if many or files:
            await printf(f"{d.name}:\n")
            ls.printed = True
        ents, r = await ls.listdir(d.path)
        rv |= r
        await ls.display(ls.sort(ents), total=True)
    return rv


# ------------------------------------------------------------------ cat

CAT_USAGE = "usage: cat [-u] [file ...]"


async def _raw_cat(fd: int) -> None:
    while True:
        data = await libc.read(fd, MAXBSIZE)
        if not data:
            return
        await write_all(1, data)


@command("cat")
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
            await _raw_cat(fd)
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


async def _copy_data(src_fd: int, dst_fd: int) -> None:
    while True:
        data = await libc.read(src_fd, MAXBSIZE)
        if not data:
            return
        await write_all(dst_fd, data)


class _Cp:
    def __init__(self, flags: set[str]) -> None:
        self.f = flags
        self.rv = 0

    async def copy_file(self, src: str, st: libc.struct_stat, dst: str, dne: bool) -> None:
        try:
            sfd = await libc.open(src, O_RDONLY)
        except SyscallError as e:
            await warn(src, e)
            self.rv = 1
            return
        try:
            mode = st.st_mode & ~(S_ISUID | S_ISGID) & 0o7777
            try:
                dfd = await libc.open(dst, O_WRONLY | O_TRUNC | (O_CREAT if dne else 0), mode)
            except SyscallError as e:
                if "f" in self.f and not dne:
                    try:
                        await libc.unlink(dst)
                        dfd = await libc.open(dst, O_WRONLY | O_TRUNC | O_CREAT, mode)
                    except SyscallError as e2:
                        await warn(dst, e2)
                        self.rv = 1
                        return
                else:
                    await warn(dst, e)
                    self.rv = 1
                    return
            try:
                await _copy_data(sfd, dfd)
            except SyscallError as e:
                await warn(dst, e)
                self.rv = 1
            if "p" in self.f:
                await self.setfile(dst, st, dfd)
            await libc.close(dfd)
        finally:
            await libc.close(sfd)

    async def setfile(self, dst: str, st: libc.struct_stat, fd: int = -1) -> None:
        times = ((st.st_atimespec.tv_sec, st.st_atimespec.tv_nsec // 1000),
                 (st.st_mtimespec.tv_sec, st.st_mtimespec.tv_nsec // 1000))
        try:
            if fd >= 0:
                await libc.futimes(fd, times)
                await libc.fchown(fd, st.st_uid, st.st_gid)
                await libc.fchmod(fd, st.st_mode & 0o7777)
            else:
                await libc.lutimes(dst, times)
                await libc.lchown(dst, st.st_uid, st.st_gid)
                if not S_ISLNK(st.st_mode):
                    await libc.chmod(dst, st.st_mode & 0o7777)
        except SyscallError as e:
            await warn(dst, e)
            self.rv = 1

    async def copy(self, src: str, dst: str, top: bool) -> None:
        follow = top and "R" not in self.f
        try:
            st = await (libc.stat(src) if follow else libc.lstat(src))
        except SyscallError as e:
            await warn(src, e)
            self.rv = 1
            return
        dst_st = await stat_or_none(dst, follow=False)
        if dst_st is not None and dst_st.st_dev == st.st_dev and dst_st.st_ino == st.st_ino:
            await warnx(f"{src} and {dst} are identical (not copied).")
            self.rv = 1
            return
        dne = dst_st is None
        mode = st.st_mode
        if S_ISDIR(mode):
            if "R" not in self.f:
                await warnx(f"{src} is a directory (not copied).")
                self.rv = 1
                return
            if dne:
                try:
                    await libc.mkdir(dst, (mode & 0o7777) | 0o700)
                except SyscallError as e:
                    await warn(dst, e)
                    self.rv = 1
                    return
            elif not S_ISDIR(dst_st.st_mode):
                await warn(dst, ENOTDIR)
                self.rv = 1
                return
            try:
                names = [n for _, n, _ in await libc.listdir(src) if n not in (".", "..")]
            except SyscallError as e:
                await warn(src, e)
                self.rv = 1
                return
            for n in sorted(names):
                await self.copy(join(src, n), join(dst, n), False)
            if "p" in self.f:
                await self.setfile(dst, st)
            elif dne:
                try:
                    await libc.chmod(dst, mode & 0o7777 & ~await _umask())
                except SyscallError as e:
                    await warn(dst, e)
                    self.rv = 1
            return
        if S_ISLNK(mode):
            try:
                target = await libc.readlink(src)
                if not dne:
                    await libc.unlink(dst)
                await libc.symlink(target, dst)
            except SyscallError as e:
                await warn(dst, e)
                self.rv = 1
            return
        if (S_ISCHR(mode) or S_ISBLK(mode) or S_ISFIFO(mode)) and "R" in self.f:
            try:
                if not dne:
                    await libc.unlink(dst)
                await libc.mknod(dst, mode, st.st_rdev)
            except SyscallError as e:
                await warn(dst, e)
                self.rv = 1
            return
        await self.copy_file(src, st, dst, dne)


@command("cp")
async def cp_main(argv: list[str]) -> int:
    opts, args = await options(argv, "HLPRfiprv", CP_USAGE)
    flags = {"R" if o == "r" else o for o, _ in opts}
    if len(args) < 2:
        await usage_exit(CP_USAGE)
    cp = _Cp(flags)
    target = args[-1]
    srcs = args[:-1]
    tst = await stat_or_none(target)
    if tst is None or not S_ISDIR(tst.st_mode):
        if len(srcs) > 1:
            await usage_exit(CP_USAGE)
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

    async def fail(self, path: str, e: SyscallError | int) -> None:
        errno = e.errno if isinstance(e, SyscallError) else e
        if "f" in self.f and errno == ENOENT:
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


@command("rm")
async def rm_main(argv: list[str]) -> int:
    opts, args = await options(argv, "dfiPRrvW", RM_USAGE)
    flags = {"R" if o == "r" else o for o, _ in opts}
    if "i" in flags:
        flags.discard("f")
    if not args:
        if "f" in flags:
            return 0
        await usage_exit(RM_USAGE)
    rm = _Rm(flags)
    for path in args:
        if basename(path) in (".", ".."):
            await warnx('"." and ".." may not be removed')
            rm.rv = 1
            continue
        try:
            st = await libc.lstat(path)
        except SyscallError as e:
            await rm.fail(path, e)
            continue
        if S_ISDIR(st.st_mode):
            if "R" in flags:
                await rm.rmtree(path)
            elif "d" in flags:
                try:
                    await libc.rmdir(path)
                except SyscallError as e:
                    await rm.fail(path, e)
            else:
                await warnx(f"{path}: is a directory")
                rm.rv = 1
            continue
        try:
            await libc.unlink(path)
            if "v" in flags:
                await printf(f"{path}\n")
        except SyscallError as e:
            await rm.fail(path, e)
    return rm.rv


# ------------------------------------------------------------------ mv

MV_USAGE = ("usage: mv [-fiv] source target\n"
            "       mv [-fiv] source ... directory")


async def _mv_copy(cp: _Cp, rm: _Rm, src: str, dst: str) -> int:
    """mv across file systems: copy (preserving), then remove the source."""
    cp.f = {"R", "p"}
    await cp.copy(src, dst, True)
    if cp.rv:
        return 1
    st = await libc.lstat(src)
    if S_ISDIR(st.st_mode):
        return 0 if await rm.rmtree(src) else 1
    try:
        await libc.unlink(src)
    except SyscallError as e:
        await warn(src, e)
        return 1
    return 0


async def _do_move(src: str, dst: str, verbose: bool) -> int:
    try:
        await libc.rename(src, dst)
    except SyscallError as e:
        if e.errno != EXDEV:
            await warn(f"rename {src} to {dst}", e)
            return 1
        dst_st = await stat_or_none(dst, follow=False)
        if dst_st is not None:
            try:
                if S_ISDIR(dst_st.st_mode):
                    await libc.rmdir(dst)
                else:
                    await libc.unlink(dst)
            except SyscallError as e2:
                await warn(dst, e2)
                return 1
        r = await _mv_copy(_Cp(set()), _Rm(set()), src, dst)
        if r:
            return r
    if verbose:
        await printf(f"{src} -> {dst}\n")
    return 0


@command("mv")
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
        if await stat_or_none(args[0], follow=False) is None:
            await warn(args[0], ENOENT)
            return 1
        return await _do_move(args[0], target, verbose)
    rv = 0
    for s in args[:-1]:
        if await stat_or_none(s, follow=False) is None:
            await warn(s, ENOENT)
            rv = 1
            continue
        rv |= await _do_move(s, join(target, basename(s)), verbose)
    return rv


# ------------------------------------------------------------------ ln

LN_USAGE = ("usage:\tln [-fhinsv] source_file [target_file]\n"
            "\tln [-fhinsv] source_file ... target_dir")


async def _linkit(source: str, target: str, isdir: bool, flags: set[str]) -> int:
    if "s" not in flags:
        st = await stat_or_none(source)
        if st is None:
            try:
                await libc.stat(source)
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
        await printf(f"{p} -> {source}\n")
    return 0


@command("ln")
async def ln_main(argv: list[str]) -> int:
    opts, args = await options(argv, "fhinsv", LN_USAGE)
    flags = {o for o, _ in opts}
    if not args:
        await usage_exit(LN_USAGE)
    if len(args) == 1:
        return await _linkit(args[0], ".", True, flags)
    if len(args) == 2:
        return await _linkit(args[0], args[1], False, flags)
    target = args[-1]
    st = await stat_or_none(target)
    if st is None or not S_ISDIR(st.st_mode):
        await warn(target, ENOTDIR)
        await usage_exit(LN_USAGE)
    rv = 0
    for s in args[:-1]:
        rv |= await _linkit(s, target, True, flags)
    return rv


# ------------------------------------------------------------------ touch

TOUCH_USAGE = "usage: touch [-acm] file ..."


@command("touch")
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
        try:
            await libc.utimes(path, None)
        except SyscallError as e:
            await warn(path, e)
            rv = 1
    return rv


# ------------------------------------------------------------------ chmod

CHMOD_USAGE = "usage: chmod [-R [-H | -L | -P]] [-fh] mode file ..."


async def _chmod_one(path: str, steps: list, follow: bool, fflag: bool) -> int:
    try:
        st = await (libc.stat(path) if follow else libc.lstat(path))
        newmode = getmode(steps, st.st_mode)
        if follow:
            await libc.chmod(path, newmode)
        else:
            await libc.lchmod(path, newmode)
    except SyscallError as e:
        if not fflag:
            await warn(path, e)
        return 1
    return 0


async def _chmod_tree(path: str, steps: list, fflag: bool) -> int:
    rv = await _chmod_one(path, steps, False, fflag)
    st = await stat_or_none(path, follow=False)
    if st is not None and S_ISDIR(st.st_mode):
        try:
            names = [n for _, n, _ in await libc.listdir(path) if n not in (".", "..")]
        except SyscallError as e:
            await warn(path, e)
            return 1
        for n in sorted(names):
            rv |= await _chmod_tree(join(path, n), steps, fflag)
    return rv


@command("chmod")
async def chmod_main(argv: list[str]) -> int:
    # A mode such as -w looks like an option: getopt stops at it, as NetBSD's chmod arranges.
    i = 1
    flags: set[str] = set()
    while i < len(argv) and argv[i].startswith("-") and len(argv[i]) > 1 and \
            all(c in "RHLPfh" for c in argv[i][1:]):
        flags.update(argv[i][1:])
        i += 1
    if i < len(argv) and argv[i] == "--":
        i += 1
    args = argv[i:]
    if len(args) < 2:
        await usage_exit(CHMOD_USAGE)
    try:
        steps = setmode(args[0], await _umask())
    except BadMode:
        await errx(1, f"invalid file mode: {args[0]}")
        return 1
    rv = 0
    for path in args[1:]:
        if "R" in flags:
            rv |= await _chmod_tree(path, steps, "f" in flags)
        else:
            rv |= await _chmod_one(path, steps, "h" not in flags, "f" in flags)
    return rv


# ------------------------------------------------------------------ stat

STAT_USAGE = "usage: stat [-FLnq] [file ...]"


def _stat_time(sec: int) -> str:
    """stat(1)'s default time format, "%b %e %T %Y"."""
    return ctime_fields(sec)[4:24]


@command("stat")
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


_ = (EEXIST, S_IFMT)
