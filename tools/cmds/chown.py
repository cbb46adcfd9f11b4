"""chown and chgrp: change file owner and group, after NetBSD 8's
usr.sbin/chown/chown.c (one program, two names).

``chown [-R [-H | -L | -P]] [-fhv] owner[:group] file ...`` (also
``owner.group`` and ``:group``), ``chgrp [-R [-H | -L | -P]] [-fhv] group
file ...``.  Owners and groups are names from the password and group
databases (kemu's hold root and wheel) or numbers.  -R walks the trees
(fts pre-order, physical; -H follows links on the command line, -L all;
a symbolic link met in a physical walk is changed itself, with lchown),
-h changes a link itself (lchown), -f suppresses error messages (the
exit status still counts them), -v prints each file changed.  The work is
chown(2)/lchown(2): the file system's setattr decides (EPERM for a
non-root caller giving a file away, ...).
"""

from __future__ import annotations

from kern.exceptions import SyscallError
from tools.cmds import command
from tools.cmds._fsutil import gid_from_group, uid_from_user
from tools.cmds._prog import (
    GetoptError,
    eprintf,
    errx,
    getopt,
    getprogname,
    printf,
    usage_exit,
    warn,
)
from tools.cmds.find import FTS_DNR, FTS_DP, FTS_NS, FTS_SL, FTS_SLNONE, _Find
from tools.lib import libc


def _usage() -> str:
    if getprogname() == "chgrp":
        return "usage: chgrp [-R [-H | -L | -P]] [-fhv] group file ..."
    return ("usage: chown [-R [-H | -L | -P]] [-fhv] owner:group file ...\n"
            "       chown [-R [-H | -L | -P]] [-fhv] owner file ...\n"
            "       chown [-R [-H | -L | -P]] [-fhv] :group file ...")


async def _a_uid(s: str) -> int:
    if not s:
        await errx(1, "empty user name")  # not reached: callers skip empty names
    uid = uid_from_user(s)
    if uid is not None:
        return uid
    if not s.isdigit() or not s.isascii():
        await errx(1, f"{s}: illegal user name")
    return int(s)


async def _a_gid(s: str) -> int:
    gid = gid_from_group(s)
    if gid is not None:
        return gid
    if not s.isdigit() or not s.isascii():
        await errx(1, f"{s}: illegal group name")
    return int(s)


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
    uid = gid = -1
    spec = args[0]
    if ischown:
        sep = ":" if ":" in spec else ("." if "." in spec and uid_from_user(spec) is None
                                      else None)
        if sep is not None:
            owner, group = spec.split(sep, 1)
            if group:
                gid = await _a_gid(group)
        else:
            owner = spec
        if owner:
            uid = await _a_uid(owner)
    else:
        gid = await _a_gid(spec)

    rval = 0

    async def change(path: str, link: bool) -> None:
        nonlocal rval
        try:
            await (libc.lchown if link else libc.chown)(path, uid, gid)
        except SyscallError as e:
            if not fflag:
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
            if e.info == FTS_DP:
                continue
            if e.info in (FTS_DNR, FTS_NS):
                if not fflag:
                    await warn(e.path, e.errno)
                rval = 1
                continue
            if e.info in (FTS_SL, FTS_SLNONE):
                # a link met in a physical walk is changed itself
                await change(e.path, True)
                continue
            await change(e.path, False)
    return rval
