"""Path-lookup structures and flags (sys/namei.h, NetBSD 8).

``componentname`` is what a file system's VOP_LOOKUP and the namespace
operations see: one path component (``cn_nameptr``/``cn_namelen``), the
operation (``cn_nameiop``), flags and credentials.  The lookup machinery
itself is in vfs.namei.

The values are NetBSD 8's sys/namei.h (generated from namei.src); no
stored revision of namei.h or namei.src was found to cite, so the
nameiop and flag values were not re-checked against a text in this pass.

Deviations: ``componentname`` has no cn_hash and holds the component as a
Python str (``cn_nameptr``, with ``cn_namelen`` its UTF-8 length) instead
of a pointer into the path buffer; struct nameidata is in vfs.namei, not
here.
"""

from __future__ import annotations

from typing import Any

from kern.param import MAXPATHLEN  # noqa: F401 - re-exported

# cn_nameiop
LOOKUP = 0
CREATE = 1
DELETE = 2
RENAME = 3
OPMASK = 3

# namei operational modifier flags, stored in ni_cnd.cn_flags
NOFOLLOW = 0x00000000
LOCKLEAF = 0x00000004
LOCKPARENT = 0x00000008
TRYEMULROOT = 0x00000010
NOCACHE = 0x00000020
FOLLOW = 0x00000040
EMULROOTSET = 0x00000080
NOCROSSMOUNT = 0x00000100
RDONLY = 0x00000200
ISDOTDOT = 0x00002000
MAKEENTRY = 0x00004000
ISLASTCN = 0x00008000
ISWHITEOUT = 0x00020000
DOWHITEOUT = 0x00040000
REQUIREDIR = 0x00080000
CREATEDIR = 0x00200000
INRENAME = 0x00400000
INRELOOKUP = 0x00800000
MODMASK = 0x010000fc
PARAMASK = 0x00ffff00

NAME_MAX = 255
MAXSYMLINKS = 32
MAXNAMLEN = 255


class componentname:
    """struct componentname."""

    __slots__ = ("cn_nameiop", "cn_flags", "cn_cred", "cn_nameptr", "cn_namelen",
                 "cn_consume")

    def __init__(self, nameiop: int = LOOKUP, flags: int = 0, cred: Any = None,
                 name: str = "") -> None:
        self.cn_nameiop = nameiop
        self.cn_flags = flags
        self.cn_cred = cred
        self.cn_nameptr = name  # this component (a str; C points into the path buffer)
        self.cn_namelen = len(name.encode()) if name else 0
        self.cn_consume = 0

    @property
    def name(self) -> str:
        return self.cn_nameptr

    def __repr__(self) -> str:
        return (f"<componentname op={self.cn_nameiop} flags={self.cn_flags:#x} "
                f"{self.cn_nameptr!r}>")
