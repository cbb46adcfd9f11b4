"""Helpers the file utilities share: strmode(3), setmode(3)/getmode(3), names, paths."""

from __future__ import annotations

import posixpath

from kern.errno import ELOOP, ENOENT, ENOTDIR, ERANGE
from kern.exceptions import SyscallError
from tools.lib import libc
from tools.lib.stdlib import strtol
from tools.lib.tzcode import ctime
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
    S_IRGRP,
    S_IROTH,
    S_IRUSR,
    S_ISGID,
    S_ISTXT,
    S_ISUID,
    S_IWGRP,
    S_IWOTH,
    S_IWUSR,
    S_IXGRP,
    S_IXOTH,
    S_IXUSR,
)

DEFFILEMODE = 0o666   # sys/stat.h: rw-rw-rw-, less the umask

_TYPECHAR = {S_IFDIR: "d", S_IFCHR: "c", S_IFBLK: "b", S_IFREG: "-", S_IFLNK: "l",
             S_IFSOCK: "s", S_IFIFO: "p", S_IFWHT: "w"}


def strmode(mode: int) -> str:
    """strmode(3): the 11-character mode string ls -l prints ("drwxr-xr-x ")."""
    s = [_TYPECHAR.get(mode & S_IFMT, "?")]
    s.append("r" if mode & S_IRUSR else "-")
    s.append("w" if mode & S_IWUSR else "-")
    x = mode & (S_IXUSR | S_ISUID)
    s.append({0: "-", S_IXUSR: "x", S_ISUID: "S"}.get(x, "s"))
    s.append("r" if mode & S_IRGRP else "-")
    s.append("w" if mode & S_IWGRP else "-")
    x = mode & (S_IXGRP | S_ISGID)
    s.append({0: "-", S_IXGRP: "x", S_ISGID: "S"}.get(x, "s"))
    s.append("r" if mode & S_IROTH else "-")
    s.append("w" if mode & S_IWOTH else "-")
    x = mode & (S_IXOTH | S_ISTXT)
    s.append({0: "-", S_IXOTH: "x", S_ISTXT: "T"}.get(x, "t"))
    s.append(" ")
    return "".join(s)


def user_from_uid(uid: int, numeric: bool = False) -> str:
    """The name ls prints for a uid: root for 0, else the number (kemu has no passwd)."""
    return "root" if uid == 0 and not numeric else str(uid)


def group_from_gid(gid: int, numeric: bool = False) -> str:
    """wheel for 0, else the number."""
    return "wheel" if gid == 0 and not numeric else str(gid)


# kemu's password and group databases: root and wheel, nobody else.
_USERS = {"root": 0}
_GROUPS = {"wheel": 0}


def uid_from_user(name: str) -> int | None:
    """getpwnam(3)'s pw_uid for ``name``, or None (the names ls prints map back)."""
    return _USERS.get(name)


def gid_from_group(name: str) -> int | None:
    """getgrnam(3)'s gr_gid for ``name``, or None."""
    return _GROUPS.get(name)


def ctime_fields(t: int) -> str:
    """ctime(3) of ``t`` (UTC, the machine's only zone): "Thu Nov 24 18:22:48 1986";
    for a time localtime cannot break down, ls's stand-in: 24 question marks."""
    s = ctime(t)
    return s if s is not None else "?" * 24


SIXMONTHS = (365 // 2) * 86400


def ls_time(t: int, now: int) -> str:
    """ls -l's date: "Jan 23 22:42", or "Jan 23  2017" for one over six months away."""
    c = ctime_fields(t)
    if t + SIXMONTHS > now and t - SIXMONTHS < now:
        return c[4:16]
    return c[4:11] + " " + c[20:24]


def basename(path: str) -> str:
    """basename(3)."""
    p = path.rstrip("/")
    if not p:
        return "/" if path else "."
    return p.rsplit("/", 1)[-1]


def join(d: str, name: str) -> str:
    return d + name if d.endswith("/") else f"{d}/{name}"


def rawname(name: str) -> str | None:
    """The raw twin of a block device's name, as getdiskrawname(3) makes it
    (``/dev/wd0`` -> ``/dev/rwd0``); None for a name without a directory."""
    head, slash, tail = name.rpartition("/")
    return f"{head}/r{tail}" if slash else None


async def abspath(path: str) -> str:
    """``path`` made absolute against the current directory, normalised (no links read)."""
    if not path.startswith("/"):
        path = posixpath.join(await libc.getcwd(), path)
    p = posixpath.normpath(path)
    return "/" + p.lstrip("/") if p.startswith("//") else p


async def stat_or_none(path: str, follow: bool = True) -> libc.struct_stat | None:
    try:
        return await (libc.stat(path) if follow else libc.lstat(path))
    except SyscallError:
        return None


# ------------------------------------------------------------------ setmode(3)

class BadMode(ValueError):
    pass


_WHO = {"u": S_ISUID | 0o700, "g": S_ISGID | 0o070, "o": 0o007, "a": 0o7777 & ~S_ISTXT}

# One compiled clause: (op, who or None, perm bits, copy-from "u"/"g"/"o"/"", X, umask)
ModeStep = tuple[str, int | None, int, str, bool, int]


def setmode(text: str, umask: int) -> list[ModeStep]:
    """Compile a mode (octal, or symbolic like ``u+x,go-w``) for getmode(); BadMode if bad."""
    if not text:
        raise BadMode(text)
    if text[0].isdigit():
        # strtol(p, &ep, 8), all of it, no bits past STANDARD_BITS|S_ISTXT
        c = strtol(text, 8)
        if c.rest(text) or c.errno == ERANGE:
            raise BadMode(text)
        v = c.value
        if v & ~0o7777:
            raise BadMode(text)
        return [("abs", None, v, "", False, 0)]
    steps: list[ModeStep] = []
    for clause in text.split(","):
        i = 0
        who: int | None = None
        while i < len(clause) and clause[i] in "ugoa":
            who = (who or 0) | _WHO[clause[i]]
            i += 1
        if i == len(clause):
            raise BadMode(text)
        while i < len(clause):
            op = clause[i]
            if op not in "+-=":
                raise BadMode(text)
            i += 1
            perm, copy, xflag = 0, "", False
            while i < len(clause) and clause[i] in "rwxXstugo":
                c = clause[i]
                if c in "ugo":
                    copy = c
                else:
                    perm |= {"r": 0o444, "w": 0o222, "x": 0o111, "X": 0,
                             "s": S_ISUID | S_ISGID, "t": S_ISTXT}[c]
                    xflag = xflag or c == "X"
                i += 1
            steps.append((op, who, perm, copy, xflag, umask))
    return steps


def getmode(steps: list[ModeStep], omode: int) -> int:
    """getmode(3): the new permission bits for a file whose mode is ``omode``."""
    mode = omode & 0o7777
    for op, who, perm, copy, xflag, umask in steps:
        if op == "abs":
            mode = perm
            continue
        bits = perm
        if xflag and omode & (S_IFDIR | 0o111):      # X looks at the original mode
            bits |= 0o111
        if copy:
            src = {"u": (mode >> 6) & 7, "g": (mode >> 3) & 7, "o": mode & 7}[copy]
            bits |= (src << 6) | (src << 3) | src
        if who is None:
            # "=" clears STANDARD_BITS (not the sticky bit); the umask limits what is set.
            setmask, clearmask = 0o7777 & ~umask, 0o7777 & ~S_ISTXT
        else:
            setmask = clearmask = who
        if op == "+":
            mode |= bits & setmask
        elif op == "-":
            mode &= ~(bits & setmask)
        else:
            mode = (mode & ~clearmask) | (bits & setmask)
    return mode & 0o7777


MAXSYMLINKS = 32


async def realpath(path: str) -> str:
    """realpath(3): the absolute path with every symbolic link, '.' and '..' resolved.

    Every component must exist (SyscallError as lstat/readlink give it;
    ELOOP after MAXSYMLINKS links).
    """
    if not path:
        raise SyscallError(ENOENT, "realpath")
    todo = path.split("/")
    resolved: list[str] = [] if path.startswith("/") else \
        [c for c in (await libc.getcwd()).split("/") if c]
    links = 0
    i = 0
    while i < len(todo):
        comp = todo[i]
        i += 1
        if comp in ("", "."):
            continue
        if comp == "..":
            if resolved:
                resolved.pop()
            continue
        cand = "/" + "/".join(resolved + [comp])
        st = await libc.lstat(cand)
        if S_IFMT & st.st_mode == S_IFLNK:
            links += 1
            if links > MAXSYMLINKS:
                raise SyscallError(ELOOP, "realpath")
            target = await libc.readlink(cand)
            if target.startswith("/"):
                resolved = []
            todo = target.split("/") + todo[i:]
            i = 0
            continue
        if i < len(todo) and any(c not in ("", ".") for c in todo[i:]) and \
                S_IFMT & st.st_mode != S_IFDIR:
            raise SyscallError(ENOTDIR, "realpath")
        resolved.append(comp)
    return "/" + "/".join(resolved)
