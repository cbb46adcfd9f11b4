"""struct buf and its flags (sys/buf.h, NetBSD 8).

``b_blkno`` and ``b_rawblkno`` count DEV_BSIZE (512-byte) blocks.  ``b_data``
is a writable buffer (bytearray or memoryview) of at least ``b_bcount``
bytes.  The functions that work on bufs (biowait, biodone, getblk, bread,
nestiobuf_setup, ...) are in vfs.vfs_bio.

The flag values are NetBSD 8's sys/buf.h.  The only stored text of buf.h
is ``$NetBSD: buf.h,v 1.45 2000/11/27 chs$``, which agrees on the b_flags
values kept here (B_AGE through B_READ, B_WRITE 0); the b_cflags/b_oflags
split (BC_*, BO_*), B_MODIFY and the BPRIO_* values are NetBSD 5 and later
and were not checked against a stored revision.  Notices in
LICENSE.NetBSD.

Deviations: ``buf`` has only the fields kemu uses, with ``b_data`` a
Python buffer and the condvars (b_done "biowait", b_busy "bbusy") as
attributes; there is no b_un/b_saveaddr, no b_dep or bioops, no
b_cylinder alias of b_resid, and no BUFQ_* macros (bufq(9) is in
vfs.subr_bufq).  B_CLRBUF and B_SYNC are defined where ext2fs uses them.
kemu's own fields: ``b_cache``, the machine's buffer cache getblk put
the buf in (brelse and biowait need not look the machine up; None for a
getiobuf or geteblk buf) and ``b_owner`` (the lwp that made it busy);
``b_hash`` is the buf's key in that cache (None outside it).  No b_actq
(the bufq strategies keep their own lists) and no b_lru (the cache's lru
is an ordered dict of bufs): nothing reads them, and each field costs
every buf (~290 a sweep seed) a store.
"""

from __future__ import annotations

from typing import Any

from kern.kern_types import NODEV

# b_flags
B_AGE = 0x00000001
B_NEEDCOMMIT = 0x00000002
B_ASYNC = 0x00000004
B_COWDONE = 0x00000400
B_GATHERED = 0x00001000
B_INVAL = 0x00002000
B_LOCKED = 0x00004000
B_PHYS = 0x00040000
B_RAW = 0x00080000
B_READ = 0x00100000
B_DEVPRIVATE = 0x02000000
B_MEDIA_FLAGS = B_ASYNC
B_WRITE = 0x00000000

# b_cflags
BC_AGE = 0x00000001
BC_BUSY = 0x00000010
BC_SCANNED = 0x00000020
BC_INVAL = 0x00002000
BC_NOCACHE = 0x00008000
BC_WANTED = 0x00800000
BC_VFLUSH = 0x04000000

# b_oflags
BO_DELWRI = 0x00000080
BO_DONE = 0x00000200

# flags to bread() and breadn()
B_MODIFY = 0x01  # the caller will modify the buffer: run the copy-on-write handlers now

# b_prio
BPRIO_NPRIO = 3
BPRIO_TIMECRITICAL = 2
BPRIO_TIMELIMITED = 1
BPRIO_TIMENONCRITICAL = 0
BPRIO_DEFAULT = BPRIO_TIMELIMITED


class buf:
    """struct buf: one I/O request, or one block of the buffer cache."""

    __slots__ = ("b_error", "b_resid", "b_flags", "b_prio", "b_bufsize", "b_bcount",
                 "b_dev", "b_data", "b_blkno", "b_rawblkno", "b_proc", "b_iodone",
                 "b_private", "b_cflags", "b_vp", "b_oflags", "b_lblkno", "b_done",
                 "b_busy", "b_objlock", "b_freelistindex", "b_hash", "b_owner", "b_cache",
                 "__weakref__")  # (kern.machine.lockset watches bufs by weak reference)

    _c_sizeof = 256

    def __init__(self) -> None:
        self.b_error = 0
        self.b_resid = 0
        self.b_flags = 0
        self.b_prio = BPRIO_DEFAULT
        self.b_bufsize = 0
        self.b_bcount = 0
        self.b_dev = NODEV
        self.b_data: Any = None
        self.b_blkno = 0
        self.b_rawblkno = 0
        self.b_proc: Any = None
        self.b_iodone: Any = None
        self.b_private: Any = None
        self.b_cflags = 0
        self.b_vp: Any = None
        self.b_oflags = 0
        self.b_lblkno = 0
        self.b_done: Any = None  # condvar "biowait"
        self.b_busy: Any = None  # condvar "bbusy"
        self.b_objlock: Any = None
        self.b_freelistindex = 0
        self.b_hash: Any = None
        self.b_owner: Any = None
        # kemu: the buffer cache (its machine's) that getblk put it in, so
        # that brelse and biowait need not look the machine up; None for
        # a buffer of no cache (getiobuf, geteblk)
        self.b_cache: Any = None

    def __repr__(self) -> str:
        rw = "R" if self.b_flags & B_READ else "W"
        return (f"<buf {rw} dev={self.b_dev:#x} blkno={self.b_blkno} bcount={self.b_bcount} "
                f"resid={self.b_resid} error={self.b_error}>")
