"""find: walk a file hierarchy, after NetBSD 8's usr.bin/find (main.c, find.c,
function.c, operator.c, option.c, ls.c).  No revision is named: the
reference store holds no NetBSD copy of function.c to name one from;
find_parsenum (strtoq, "illegal numeric value"/"illegal trailing
character") and -maxdepth/-mindepth's atoi were checked against the
excerpts it does hold.

``find [-H | -L | -P] [-dhsXx] [-f file] file [file ...] [expression]``

Implemented primaries: -amin -atime -cmin -ctime -mmin -mtime (with
TIME_CORRECT's "-1 means less than 1"), -anewer -cnewer -newer, -delete,
-depth, -empty, -exec/-ok ``utility [args] ;`` and ``-exec ... {} +``,
-false, -follow, -group, -iname, -inum, -links, -ls, -maxdepth,
-mindepth, -name, -nogroup, -nouser, -path, -perm, -print, -print0,
-printx, -prune, -regex/-iregex, -size (512-byte blocks, or bytes with
``c``), -type (b c d f l p s w), -user, -xdev; operators ``( )``, ``!``/
``-not``, ``-a``/``-and`` and ``-o``/``-or``.  Without an action the
expression is ``( expression ) -print``.  The walk is fts(3)'s: pre-order
(post-order with -d/-depth/-delete), in directory order (sorted with -s),
physical by default, -H follows links named on the command line, -L all;
-x/-xdev stays on the starting file system.  Messages and exit status
(1 after any error) are NetBSD's.

-exec and -ok run the utility as NetBSD does: fork(2), execve(2) of the
utility in the child, waitpid(2) in find (-ok asks on standard error and
reads the answer from standard input, as kemu has no /dev/tty).  Not
implemented: -E/-X (xargs-safe names), -execdir, -exit, -flags, -fprint,
-fstype.  The walk names every file by its path from the starting point
(fts's FTS_NOCHDIR) instead of changing directory as fts does by default,
so -delete removes by that path and leaves out f_delete's "relative path
potentially not safe" check, which guards the chdir walk.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kern.errno import ENOTEMPTY, strerror
from kern.exceptions import SyscallError
from tools.cmds import command
from tools.cmds._fsutil import (
    BadMode,
    basename,
    ctime_fields,
    getmode,
    gid_from_group,
    group_from_gid,
    setmode,
    strmode,
    uid_from_user,
    user_from_uid,
)
from tools.cmds._prog import (
    GetoptError,
    eprintf,
    err,
    errx,
    fflush,
    getopt,
    printf,
    usage_exit,
    warn,
    warnx,
)
from tools.cmds.grep import BadRegex, posix_to_re
from tools.lib import libc
from tools.lib.fnmatch import FNM_CASEFOLD, fnmatch
from tools.lib.stdlib import atoi, strtoll
from vfs.stat import (
    S_IFBLK,
    S_IFCHR,
    S_IFDIR,
    S_IFIFO,
    S_IFLNK,
    S_IFMT,
    S_IFREG,
    S_IFSOCK,
    S_IFWHT,
    S_ISBLK,
    S_ISCHR,
    S_ISDIR,
    S_ISLNK,
    S_ISREG,
)

FIND_USAGE = "usage: find [-H | -L | -P] [-dEhsXx] [-f file] file [file ...] [expression]"
SECSPERMIN, SECSPERDAY = 60, 86400
FIND_SIZE = 512

# fts_info values
FTS_D, FTS_DP, FTS_F, FTS_SL, FTS_SLNONE, FTS_DNR, FTS_NS, FTS_DC = range(1, 9)


@dataclass
class Entry:
    """An FTSENT: what fts_read returns."""

    path: str
    name: str
    level: int
    info: int
    statp: Any = None
    errno: int = 0
    skip: bool = False


@dataclass
class Plan:
    """One node of the execution plan (a PLAN)."""

    kind: str
    fn: Callable[[Plan, Entry], Awaitable[bool]] | None = None
    data: Any = None
    flags: str = "="
    sub: list[Plan] = field(default_factory=list)   # ( ), !
    sub2: list[Plan] = field(default_factory=list)  # -o's right side


class _Find:
    def __init__(self) -> None:
        self.isoutput = False
        self.isdepth = False
        self.follow = "P"               # P physical, L logical, H command line
        self.xdev = False
        self.sort = False
        self.now = 0
        self.divsize = True
        self.rval = 0
        self.exec_rval = 0
        self.plus_sets: list[Plan] = []

    # ---------------------------------------------------------------- parsing

    def parsenum(self, plan: Plan, option: str, vp: str, endch: str | None = None) -> tuple:
        """find_parsenum: [+-]N, ``(value, trailing char)``; sets plan.flags."""
        s = vp
        if s[:1] == "+":
            s, plan.flags = s[1:], ">"
        elif s[:1] == "-":
            s, plan.flags = s[1:], "<"
        else:
            plan.flags = "="
        c = strtoll(s, 10)                  # strtoq
        if c.value == 0 and c.end == 0:
            raise _ParseError(f"{option}: {vp}: illegal numeric value")
        value = c.value
        rest = c.rest(s)
        if rest and (endch is None or rest[0] != endch):
            raise _ParseError(f"{option}: {vp}: illegal trailing character")
        return value, rest[:1]

    async def create(self, argv: list[str], i: int) -> tuple[Plan, int]:
        """find_create: the plan node for argv[i]; returns it and the next index."""
        name = argv[i]
        spec = _PRIMARIES.get(name)
        if spec is None:
            raise _ParseError(f"{name}: unknown option")
        needs_arg = spec[0]
        i += 1
        if needs_arg and i >= len(argv):
            raise _ParseError(f"{name}: requires additional arguments")
        return await spec[1](self, argv, i, name)

    # ---------------------------------------------------------------- walking

    async def stat(self, path: str, level: int) -> tuple[Any, int, int]:
        """(stat, info, errno) of one path as fts sees it."""
        logical = self.follow == "L" or (self.follow == "H" and level == 0)
        try:
            st = await (libc.stat(path) if logical else libc.lstat(path))
        except SyscallError as e:
            if logical:
                try:
                    st = await libc.lstat(path)
                    return st, FTS_SLNONE, 0
                except SyscallError:
                    pass
            return None, FTS_NS, e.errno
        if S_ISDIR(st.st_mode):
            return st, FTS_D, 0
        if S_ISLNK(st.st_mode):
            return st, FTS_SL, 0
        return st, FTS_F, 0

    async def walk(self, root: str) -> AsyncIterator[Entry]:
        st, info, errno = await self.stat(root, 0)
        name = basename(root) if root else ""
        e = Entry(root, name, 0, info, st, errno)
        async for x in self._walk(e, st.st_dev if st is not None else None, set()):
            yield x

    async def _walk(self, e: Entry, rootdev: int | None,
                    ancestors: set[tuple[int, int]]) -> AsyncIterator[Entry]:
        if e.info != FTS_D:
            yield e
            return
        key = (e.statp.st_dev, e.statp.st_ino)
        if key in ancestors:
            e.info = FTS_DC
            yield e
            return
        yield e                          # pre-order
        post = Entry(e.path, e.name, e.level, FTS_DP, e.statp)
        if e.skip or (self.xdev and rootdev is not None and e.statp.st_dev != rootdev):
            # fts_read: FTS_SKIP, and -x at a mount point, turn straight to post-order
            yield post
            return
        try:
            names = [n for _, n, _ in await libc.listdir(e.path) if n not in (".", "..")]
        except SyscallError as ex:
            e.info, e.errno = FTS_DNR, ex.errno
            yield e
            return
        if self.sort:
            names.sort()
        base = e.path[:-1] if e.path.endswith("/") and len(e.path) > 1 else e.path
        ancestors = ancestors | {key}
        for n in names:
            path = f"{base}/{n}" if base != "/" else f"/{n}"
            st, info, errno = await self.stat(path, e.level + 1)
            async for x in self._walk(Entry(path, n, e.level + 1, info, st, errno), rootdev,
                                      ancestors):
                yield x
        yield post

    async def execute(self, plan: list[Plan], paths: list[str]) -> int:
        for root in paths:
            async for entry in self.walk(root):
                if entry.info == FTS_D and self.isdepth:
                    continue
                if entry.info == FTS_DP and not self.isdepth:
                    continue
                if entry.info in (FTS_DNR, FTS_NS):
                    await fflush()
                    await warnx(f"{entry.path}: {strerror(entry.errno)}")
                    self.rval = 1
                    continue
                if entry.info == FTS_DC:
                    await warnx(f"{entry.path}: directory causes a cycle")
                    self.rval = 1
                    continue
                await evalplan(plan, entry)
        for p in self.plus_sets:
            await run_f_exec(self, p)
        return self.rval or (1 if self.exec_rval else 0)


class _ParseError(Exception):
    pass


async def evalplan(plan: list[Plan], entry: Entry) -> bool:
    """Call the plan's functions until one is false (an implicit -and)."""
    for p in plan:
        assert p.fn is not None
        if not await p.fn(p, entry):
            return False
    return True


def _compare(value: int, plan: Plan) -> bool:
    """The COMPARE macro."""
    if plan.flags == "<":
        return value < plan.data
    if plan.flags == ">":
        return value > plan.data
    return value == plan.data


# ------------------------------------------------------------------ primaries

def _ts(st: Any, which: str) -> tuple[int, int]:
    t = getattr(st, f"st_{which}timespec")
    return t.tv_sec, t.tv_nsec


async def _c_time(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    which, unit = {"-amin": ("a", SECSPERMIN), "-atime": ("a", SECSPERDAY),
                   "-cmin": ("c", SECSPERMIN), "-ctime": ("c", SECSPERDAY),
                   "-mmin": ("m", SECSPERMIN), "-mtime": ("m", SECSPERDAY)}[name]
    p = Plan(name)
    p.data, _ = f.parsenum(p, name, argv[i])
    if p.flags == "<":
        p.data += 1                     # TIME_CORRECT

    async def fn(plan: Plan, e: Entry) -> bool:
        t = _ts(e.statp, which)[0]
        return _compare((f.now - t + unit - 1) // unit, plan)

    p.fn = fn
    return p, i + 1


async def _c_newer(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    which = {"-anewer": "a", "-cnewer": "c", "-newer": "m"}[name]
    try:
        st = await libc.stat(argv[i])
    except SyscallError as e:
        await err(1, argv[i], e)
    p = Plan(name, data=_ts(st, "m" if which == "m" else which))

    async def fn(plan: Plan, e: Entry) -> bool:
        return _ts(e.statp, which) > plan.data

    p.fn = fn
    return p, i + 1


async def _c_delete(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    f.isoutput = True
    f.isdepth = True
    f.follow = "P"

    async def fn(plan: Plan, e: Entry) -> bool:
        if e.path in (".", ".."):
            return True
        if f.follow != "P":
            await errx(1, "-delete: insecure options got turned on")
        try:
            if S_ISDIR(e.statp.st_mode):
                await libc.rmdir(e.path)
            else:
                await libc.unlink(e.path)
        except SyscallError as ex:
            if not (S_ISDIR(e.statp.st_mode) and ex.errno == ENOTEMPTY):
                what = "rmdir" if S_ISDIR(e.statp.st_mode) else "unlink"
                await warn(f"-delete: {what}({e.path})", ex)
        return True

    return Plan(name, fn), i


async def _c_depth(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    f.isdepth = True
    return Plan(name, _true), i


async def _true(plan: Plan, e: Entry) -> bool:
    return True


async def _false(plan: Plan, e: Entry) -> bool:
    return False


async def _c_false(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    return Plan(name, _false), i


async def _c_empty(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    async def fn(plan: Plan, e: Entry) -> bool:
        if S_ISREG(e.statp.st_mode) and e.statp.st_size == 0:
            return True
        if S_ISDIR(e.statp.st_mode):
            try:
                ents = await libc.listdir(e.path)
            except SyscallError:
                return False
            return all(n in (".", "..") for _, n, _ in ents)
        return False

    return Plan(name, fn), i


async def _c_exec(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    f.isoutput = True
    isok = name == "-ok"
    start = i
    brace = False
    plus = False
    while True:
        if i >= len(argv):
            raise _ParseError(f"{name}: no terminating \";\" or \"+\"")
        lastbrace, brace = brace, argv[i] == "{}"
        if argv[i] == ";":
            break
        if argv[i] == "+" and lastbrace:
            plus = True
            break
        i += 1
    if isok and plus:
        raise _ParseError("-ok: terminating \"+\" not permitted.")
    words = argv[start:i]
    if plus:
        p = Plan(name, data={"argv": words[:-1], "set": []})

        async def fnplus(plan: Plan, e: Entry) -> bool:
            plan.data["set"].append(e.path)
            if len(plan.data["set"]) == 5000:
                await run_f_exec(f, plan)
            return True

        p.fn = fnplus
        f.plus_sets.append(p)
        return p, i + 1

    async def fn(plan: Plan, e: Entry) -> bool:
        args = [w.replace("{}", e.path) for w in plan.data]
        if isok and not await _queryuser(args):
            return False
        status = await _run(args)
        return status is not None and status >> 8 == 0 and status & 0x7f == 0

    return Plan(name, fn, data=words), i + 1


async def _queryuser(args: list[str]) -> bool:
    await eprintf(f"\"{' '.join(args)}\"? ")
    answer = b""
    while True:
        c = await libc.read(0, 1)
        if not c or c == b"\n":
            break
        answer += c
    return answer[:1] in (b"y", b"Y")


async def _exec_child(args: list[str]) -> int:
    """The child of -exec: execvp the utility; on failure warn and _exit(1)."""
    try:
        await libc.execve(args[0], args)
    except SyscallError as e:
        await warn(args[0], e)
    return 1


async def _run(args: list[str]) -> int | None:
    """vfork + execvp + waitpid: the utility's wait status, or None."""
    await fflush()
    try:
        pid = await libc.fork(_exec_child, args)
    except SyscallError as e:
        await err(1, "vfork", e)
    try:
        _, status = await libc.waitpid(pid, 0)
    except SyscallError:
        return None
    return status


async def run_f_exec(f: _Find, plan: Plan) -> None:
    if not plan.data["set"]:
        return
    args = plan.data["argv"] + plan.data["set"]
    plan.data["set"] = []
    status = await _run(args)
    rval = status >> 8 if status is not None and status & 0x7f == 0 else -1
    if rval:
        f.exec_rval = rval


async def _c_follow(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    f.follow = "L"
    return Plan(name, _true), i


async def _c_group(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    gname = argv[i]
    p = Plan(name)
    gid = gid_from_group(gname)
    if gid is None:
        if not gname.lstrip("+-").isdigit() or (gname.lstrip("+-").strip("0") == ""
                                                 and gname not in ("0", "+0", "-0")):
            raise _ParseError(f"-group: {gname}: no such group")
        gid, _ = f.parsenum(p, "-group", gname)
    p.data = gid

    async def fn(plan: Plan, e: Entry) -> bool:
        return _compare(e.statp.st_gid, plan)

    p.fn = fn
    return p, i + 1


async def _c_user(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    uname = argv[i]
    p = Plan(name)
    uid = uid_from_user(uname)
    if uid is None:
        if not uname.lstrip("+-").isdigit():
            raise _ParseError(f"-user: {uname}: no such user")
        uid, _ = f.parsenum(p, "-user", uname)
    p.data = uid

    async def fn(plan: Plan, e: Entry) -> bool:
        return _compare(e.statp.st_uid, plan)

    p.fn = fn
    return p, i + 1


async def _c_num(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    attr = {"-inum": "st_ino", "-links": "st_nlink"}[name]
    p = Plan(name)
    p.data, _ = f.parsenum(p, name, argv[i])

    async def fn(plan: Plan, e: Entry) -> bool:
        return _compare(getattr(e.statp, attr), plan)

    p.fn = fn
    return p, i + 1


async def _c_ls(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    f.isoutput = True

    async def fn(plan: Plan, e: Entry) -> bool:
        await printlong(f, e.path, e.statp)
        return True

    return Plan(name, fn), i


async def printlong(f: _Find, name: str, st: Any) -> None:
    """find's ls -dils line."""
    line = f"{st.st_ino:6d} {st.st_blocks:4d} {strmode(st.st_mode)}{st.st_nlink:3d} "
    line += f"{user_from_uid(st.st_uid):<8s} {group_from_gid(st.st_gid):<8s} "
    if S_ISCHR(st.st_mode) or S_ISBLK(st.st_mode):
        line += f"{(st.st_rdev >> 8) & 0xfff:3d},{st.st_rdev & 0xff:5d} "
    else:
        line += f"{st.st_size:8d} "
    c = ctime_fields(st.st_mtimespec.tv_sec)
    if st.st_mtimespec.tv_sec + (365 // 2) * 86400 > f.now:
        line += c[4:16] + " "
    else:
        line += c[4:11] + " " + c[20:24] + " "
    line += name
    if S_ISLNK(st.st_mode):
        try:
            line += " -> " + await libc.readlink(name)
        except SyscallError as e:
            await warn(name, e)
    await printf(line + "\n")


async def _c_depthlimit(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    n = atoi(argv[i])
    if name == "-maxdepth":
        async def fn(plan: Plan, e: Entry) -> bool:
            if e.level >= plan.data:
                e.skip = True
            return e.level <= plan.data
    else:
        async def fn(plan: Plan, e: Entry) -> bool:
            return e.level >= plan.data
    return Plan(name, fn, data=n), i + 1


async def _c_name(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    pattern = argv[i]
    if name == "-path":
        async def fn(plan: Plan, e: Entry) -> bool:
            return fnmatch(pattern, e.path, 0)
    else:
        flags = FNM_CASEFOLD if name == "-iname" else 0

        async def fn(plan: Plan, e: Entry) -> bool:
            return fnmatch(pattern, e.name, flags)
    return Plan(name, fn), i + 1


async def _c_noowner(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    async def fn(plan: Plan, e: Entry) -> bool:
        if name == "-nouser":
            return user_from_uid(e.statp.st_uid) == str(e.statp.st_uid) and \
                e.statp.st_uid != 0
        return group_from_gid(e.statp.st_gid) == str(e.statp.st_gid) and e.statp.st_gid != 0
    return Plan(name, fn), i


async def _c_perm(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    perm = argv[i]
    p = Plan(name)
    if perm[:1] == "-":
        p.flags = "atleast"
        perm = perm[1:]
    try:
        p.data = getmode(setmode(perm, 0), 0)
    except BadMode:
        raise _ParseError(f"-perm: Cannot set file mode `{perm}'") from None

    async def fn(plan: Plan, e: Entry) -> bool:
        mode = e.statp.st_mode & 0o7777
        if plan.flags == "atleast":
            return (plan.data | mode) == mode
        return mode == plan.data

    p.fn = fn
    return p, i + 1


async def _c_print(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    f.isoutput = True

    async def fn(plan: Plan, e: Entry) -> bool:
        if name == "-print0":
            await printf(e.path + "\0")
        elif name == "-printx":
            await printf(re.sub(r"(['\" $`\t\n\\])", r"\\\1", e.path) + "\n")
        else:
            await printf(e.path + "\n")
        return True

    return Plan(name, fn), i


async def _c_prune(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    async def fn(plan: Plan, e: Entry) -> bool:
        e.skip = True
        return True
    return Plan(name, fn), i


async def _c_regex(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    regexp = argv[i]
    try:
        rx = re.compile(posix_to_re(regexp, False) + r"\Z",
                        re.IGNORECASE if name == "-iregex" else 0)
    except (BadRegex, re.error) as e:
        raise _ParseError(f"regexp {regexp}: {e}") from None

    async def fn(plan: Plan, e: Entry) -> bool:
        return rx.match(e.path) is not None

    return Plan(name, fn), i + 1


async def _c_size(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    p = Plan(name)
    p.data, endch = f.parsenum(p, "-size", argv[i], "c")
    if endch == "c":
        f.divsize = False

    async def fn(plan: Plan, e: Entry) -> bool:
        size = e.statp.st_size
        if f.divsize:
            size = (size + FIND_SIZE - 1) // FIND_SIZE
        return _compare(size, plan)

    p.fn = fn
    return p, i + 1


async def _c_type(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    t = argv[i]
    mask = {"b": S_IFBLK, "c": S_IFCHR, "d": S_IFDIR, "f": S_IFREG, "l": S_IFLNK,
            "p": S_IFIFO, "s": S_IFSOCK, "w": S_IFWHT, "W": S_IFWHT}.get(t[:1])
    if mask is None:
        raise _ParseError(f"-type: {t}: unknown type")

    async def fn(plan: Plan, e: Entry) -> bool:
        return (e.statp.st_mode & S_IFMT) == mask

    return Plan(name, fn), i + 1


async def _c_xdev(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    f.xdev = True
    return Plan(name, _true), i


async def _c_op(f: _Find, argv: list[str], i: int, name: str) -> tuple[Plan, int]:
    kind = {"(": "(", ")": ")", "!": "!", "-not": "!", "-o": "or", "-or": "or",
            "-a": "and", "-and": "and"}[name]
    return Plan(kind), i


_PRIMARIES: dict[str, tuple[bool, Any]] = {
    "!": (False, _c_op), "(": (False, _c_op), ")": (False, _c_op),
    "-a": (False, _c_op), "-amin": (True, _c_time), "-and": (False, _c_op),
    "-anewer": (True, _c_newer), "-atime": (True, _c_time), "-cmin": (True, _c_time),
    "-cnewer": (True, _c_newer), "-ctime": (True, _c_time), "-delete": (False, _c_delete),
    "-depth": (False, _c_depth), "-empty": (False, _c_empty), "-exec": (True, _c_exec),
    "-false": (False, _c_false), "-follow": (False, _c_follow), "-group": (True, _c_group),
    "-iname": (True, _c_name), "-inum": (True, _c_num), "-iregex": (True, _c_regex),
    "-links": (True, _c_num), "-ls": (False, _c_ls), "-maxdepth": (True, _c_depthlimit),
    "-mindepth": (True, _c_depthlimit), "-mmin": (True, _c_time), "-mtime": (True, _c_time),
    "-name": (True, _c_name), "-newer": (True, _c_newer), "-nogroup": (False, _c_noowner),
    "-not": (False, _c_op), "-nouser": (False, _c_noowner), "-o": (False, _c_op),
    "-ok": (True, _c_exec), "-or": (False, _c_op), "-path": (True, _c_name),
    "-perm": (True, _c_perm), "-print": (False, _c_print), "-print0": (False, _c_print),
    "-printx": (False, _c_print), "-prune": (False, _c_prune), "-regex": (True, _c_regex),
    "-size": (True, _c_size), "-type": (True, _c_type), "-user": (True, _c_user),
    "-xdev": (False, _c_xdev),
}


# ------------------------------------------------------------------ operators

def _paren_squish(plan: list[Plan]) -> list[Plan]:
    """Turn ( expr ) into one node whose sub-plan is expr."""
    out: list[Plan] = []
    i = 0
    while i < len(plan):
        p = plan[i]
        if p.kind == ")":
            raise _ParseError("): no beginning '('")
        if p.kind != "(":
            out.append(p)
            i += 1
            continue
        depth, j = 1, i + 1
        while j < len(plan) and depth:
            if plan[j].kind == "(":
                depth += 1
            elif plan[j].kind == ")":
                depth -= 1
            j += 1
        if depth:
            raise _ParseError("(: missing closing ')'")
        inner = plan[i + 1:j - 1]
        if not inner:
            raise _ParseError("(): empty inner expression")
        node = Plan("expr", sub=_squish(inner))

        async def fn(plan_: Plan, e: Entry) -> bool:
            return await evalplan(plan_.sub, e)

        node.fn = fn
        out.append(node)
        i = j
    return out


def _not_squish(plan: list[Plan]) -> list[Plan]:
    out: list[Plan] = []
    i = 0
    while i < len(plan):
        if plan[i].kind != "!":
            out.append(plan[i])
            i += 1
            continue
        notlevel = 0
        while i < len(plan) and plan[i].kind == "!":
            notlevel += 1
            i += 1
        if i >= len(plan):
            raise _ParseError("!: no following expression")
        if plan[i].kind == "or":
            raise _ParseError("!: nothing between ! and -o")
        target = plan[i]
        i += 1
        if notlevel % 2:
            node = Plan("not", sub=[target])

            async def fn(plan_: Plan, e: Entry) -> bool:
                return not await evalplan(plan_.sub, e)

            node.fn = fn
            out.append(node)
        else:
            out.append(target)
    return out


def _or_squish(plan: list[Plan]) -> list[Plan]:
    for i, p in enumerate(plan):
        if p.kind == "or":
            left, right = plan[:i], plan[i + 1:]
            if not left:
                raise _ParseError("-o: no expression before -o")
            if not right:
                raise _ParseError("-o: no expression after -o")
            node = Plan("or", sub=left, sub2=_or_squish(right))

            async def fn(plan_: Plan, e: Entry) -> bool:
                return await evalplan(plan_.sub, e) or await evalplan(plan_.sub2, e)

            node.fn = fn
            return [node]
    return plan


def _squish(plan: list[Plan]) -> list[Plan]:
    plan = [p for p in plan if p.kind != "and"]
    return _or_squish(_not_squish(_paren_squish(plan)))


async def find_formplan(f: _Find, argv: list[str]) -> list[Plan]:
    plan: list[Plan] = []
    i = 0
    while i < len(argv):
        node, i = await f.create(argv, i)
        plan.append(node)
    if not f.isoutput:
        # ( expression ) -print
        printnode, _ = await _c_print(f, [], 0, "-print")
        if plan:
            plan = [Plan("("), *plan, Plan(")"), printnode]
        else:
            plan = [printnode]
    return _squish(plan)


# ------------------------------------------------------------------ main

@command("find", summary="walk a file hierarchy")
async def find_main(argv: list[str]) -> int:
    f = _Find()
    # options end at the first operand; the expression starts at the first
    # argument that begins with '-', '!' or '(' after the files
    try:
        opts, rest = getopt(argv, "HLPdEf:hsXx")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(FIND_USAGE)
    paths: list[str] = []
    for o, a in opts:
        if o in "HLP":
            f.follow = o
        elif o == "h":
            f.follow = "L"
        elif o == "d":
            f.isdepth = True
        elif o == "f":
            paths.append(a)
        elif o == "s":
            f.sort = True
        elif o == "x":
            f.xdev = True
    i = 0
    while i < len(rest) and not (rest[i][:1] in ("-", "!", "(") and rest[i] != "-"):
        paths.append(rest[i])
        i += 1
    if not paths:
        await usage_exit(FIND_USAGE)
    f.now = (await libc.gettimeofday())[0]
    try:
        plan = await find_formplan(f, rest[i:])
    except _ParseError as e:
        await errx(1, str(e))
    return await f.execute(plan, paths)
