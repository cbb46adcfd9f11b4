"""chown and chgrp: change file owner and group, after NetBSD 8's
usr.sbin/chown/chown.c (read at 1.8, 2012; one program, two names).

``chown [-R [-H | -L | -P]] [-fhv] owner[:group] file ...`` (also
``:group``), ``chgrp [-R [-H | -L | -P]] [-fhv] group file ...``.  Owners
and groups are names from the password and group databases (kemu's hold
root and wheel) or numbers: id()'s strtoul(3) in base 10, all of the word
("#N" is always a number); a bad one is "N: invalid user name".  -R walks
the trees (fts pre-order, physical; -H follows links on the command line,
-L all, and -L with -h is refused); a symbolic link met in a physical walk
is left alone unless -h, which changes the link itself (lchown).  -f
suppresses the error messages and, as in the C, the failure status with
them; -v prints each file changed.  The work is chown(2)/lchown(2): the
file system's setattr decides (EPERM for a non-root caller giving a file
away, ...).

Deviations: no --reference=rfile (kemu's getopt has no long options);
no SUPPORT_DOT "owner.group" form (the C compiles it only on request).
"""

from __future__ import annotations

from kern.errno import strerror
from kern.exceptions import SyscallError
from tools.cmds import command
from tools.cmds._fsutil import gid_from_group, uid_from_user
from tools.cmds._prog import (
    GetoptError,
    eprintf,
    err,
    errx,
    getopt,
    getprogname,
    printf,
    usage_exit,
    warn,
    warnx,
)
from tools.cmds.find import FTS_D, FTS_DNR, FTS_NS, FTS_SL, FTS_SLNONE, _Find
from tools.lib import libc
from tools.lib.stdlib import UINT_MAX, strtoul


def _usage() -> str:
    me = getprogname()
    return (f"Usage: {me} [-R [-H | -L | -P]] [-fhv] "
            f"{'owner:group|owner|:group' if me != 'chgrp' else 'group'} file ...\n"
            f"\t{me} [-R [-H | -L | -P]] [-fhv] --reference=rfile file ...")


async def _id(name: str, what: str) -> int:
    """id(): a number, all of the word ("#" before it allowed), as an id_t."""
    if name.startswith("#"):
        name = name[1:]
    c = strtoul(name, 10)
    if c.errno:
        await err(1, name, c.errno)
    if c.rest(name):
        await errx(1, f"{name}: invalid {what} name")
    return c.value & UINT_MAX


async def _a_uid(s: str) -> int:
    uid = None if s.startswith("#") else uid_from_user(s)
    return uid if uid is not None else await _id(s, "user")


async def _a_gid(s: str) -> int:
    gid = None if s.startswith("#") else gid_from_group(s)
    return gid if gid is not None else await _id(s, "group")


@command("chown", "chgrp", summary="change file owner and group")
async def chown_main(argv: list[str]) -> int:
    ischown = getprogname() != "chgrp"
    try:
        opts, args = getopt(argv, "HLPRfhv")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(_usage())
    rflag = fflag = hflag = vflag = False
    follow = "P"
    for o, _ in opts:
        if o in "HLP":
            follow = o
        elif o == "R":
            rflag = True
        elif o == "f":
            fflag = True
        elif o == "h":
            hflag = True
        elif o == "v":
            vflag = True
    if len(args) < 2:
        await usage_exit(_usage())
    if rflag and follow == "L" and hflag:
        await errx(1, "the -L and -h options may not be specified together.")
    uid = gid = -1
    spec = args[0]
    if ischown:
        owner, colon, group = spec.partition(":")
        if colon and group:
            gid = await _a_gid(group)
        if owner:
            uid = await _a_uid(owner)
    elif spec:
        gid = await _a_gid(spec)

    rval = 0

    async def change(path: str, link: bool) -> None:
        nonlocal rval
        try:
            await (libc.lchown if link else libc.chown)(path, uid, gid)
        except SyscallError as e:
            if not fflag:                   # -f: neither the message nor the status
                await warn(path, e)
                rval = 1
            return
        if vflag:
            await printf(path + "\n")

    if not rflag:
        for path in args[1:]:
            await change(path, hflag)
        return rval

    f = _Find()
    f.follow = follow
    for root in args[1:]:
        async for e in f.walk(root):
            if e.info == FTS_D:
                continue                    # a directory is changed at FTS_DP
            if e.info in (FTS_DNR, FTS_NS):
                await warnx(f"{e.path}: {strerror(e.errno)}")
                rval = 1
                if e.info == FTS_NS:
                    continue                # FTS_DNR: warned, and changed still
            if e.info == FTS_SLNONE or (e.info == FTS_SL and not hflag):
                continue                    # links are left alone unless -h
            await change(e.path, e.info == FTS_SL)
    return rval
