"""Files and descriptor tables (kern_descrip.c, sys_descrip.c, sys/file.h, sys/filedesc.h).

Ported from NetBSD 8's descriptor code (kern_descrip.c around 1.230,
sys_descrip.c around 1.30): the same functions, fields and errnos.

* ``file``: the kernel's open file (``struct file``): ``f_flag`` (FREAD,
  FWRITE, FNONBLOCK, ...), ``f_type`` (DTYPE_*), ``f_ops`` (a
  :class:`fileops`), ``f_data``, ``f_offset``, ``f_count``, ``f_cred``.
* ``filedesc``: a process's descriptor table (``p.p_fd``), whose slots are
  ``fdfile`` entries (``ff_file``, ``ff_refcnt``, ``ff_exclose``,
  ``ff_allocated``).  A descriptor in use by a system call holds a
  reference on its slot (fd_getfile ... fd_putfile); close waits for those
  references to drain, after asking the file to kick its sleepers out
  (``fo_restart``), exactly as NetBSD does.  ``fd_lock`` is taken where
  fd_close sleeps under it (the drain); the other table updates are plain
  functions that run without a preemption point, which is all the lock
  gives them in C.
* Opening a file: ``error, fp, fd = fd_allocfile()``, fill in ``fp``, then
  ``fd_affix(p, fp, fd)`` (or ``fd_abort(p, fp, fd)`` to back out), or
  ``return fd_clone(fp, fd, flag, fops, data)`` from a cloning device open.

Pointers that C passes in and out become Python shapes: ``off_t *offset``
of fo_read/fo_write is an object with ``offset[0]`` (see
:func:`file_offset`), ioctl ``data`` is a kernel buffer.  Every ``fo_*``
operation is ``async``.  Functions that sleep in NetBSD (fd_close, closef,
fd_dup2, fd_free) are async; the rest are plain.

The per-process descriptor limit, NetBSD's ``p_rlimit[RLIMIT_NOFILE]``,
is ``fdp.fd_nofile`` here (kemu keeps no resource limits yet).

Deviation (kemu-side, no behaviour change): the KASSERTs of the
descriptor paths every system call on a descriptor passes (fd_used,
fd_unused, fd_alloc, fd_affix, fd_putfile, closef, fd_close) test their
condition inline and call KASSERT (the same panic and message) only when
it fails.  The mutex_init of a file's f_lock passes a ``lock_site`` kept
at module level for that call (kern_mutex's ``at``, kemu's): the lock
class's init site is looked up once, not at every call.
"""

from __future__ import annotations

import ctypes
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from kern.cpu import MachineLocal, curlwp, curlwp_or_none
from kern.errno import EBADF, EINTR, EINVAL, EMFILE, EMOVEFD, ENFILE, ENOSPC, EOPNOTSUPP, ERESTART
from kern.fcntl import (
    DTYPE_KQUEUE,
    DTYPE_MISC,
    DTYPE_VNODE,
    F_CLOSEM,
    F_DUPFD,
    F_DUPFD_CLOEXEC,
    F_FSCTL,
    F_GETFD,
    F_GETFL,
    F_GETLK,
    F_GETNOSIGPIPE,
    F_GETOWN,
    F_MAXFD,
    F_POSIX,
    F_RDLCK,
    F_SETFD,
    F_SETFL,
    F_SETLK,
    F_SETLKW,
    F_SETNOSIGPIPE,
    F_SETOWN,
    F_UNLCK,
    F_WAIT,
    F_WRLCK,
    FASYNC,
    FCNTLFLAGS,
    FD_CLOEXEC,
    FFLAGS,
    FMASK,
    FNONBLOCK,
    FNOSIGPIPE,
    FREAD,
    FWRITE,
    O_CLOEXEC,
    O_NONBLOCK,
    O_NOSIGPIPE,
    OFLAGS,
    SEEK_CUR,
    flock,  # noqa: F401 - struct flock (sys/fcntl.h), re-exported
)
from kern.kern_condvar import cv_broadcast, cv_init, cv_wait, kcondvar_t
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    lock_site,
    mutex_enter,
    mutex_exit,
    mutex_init,
)
from kern.subr_prf import KASSERT

if TYPE_CHECKING:
    from kern.kern_auth import kauth_cred
    from kern.kern_lwp import lwp, proc
    from kern.machine import Machine

# sys/filedesc.h
NDFILE = 20            # slots a new table starts with
NDEXTENT = 50          # the first size fd_tryexpand grows a table to
NDFDFILE = 6           # slots whose fdfile lives inside the table (kept for reference)
FR_CLOSING = 0x80000000  # ff_refcnt: a close waits for the count to drain
FR_MASK = ~FR_CLOSING & 0xffffffff

# sys/param.h, sys/syslimits.h: the default per-process limit (OPEN_MAX) and
# the kernel-wide file limit (MAXFILES with MAXUSERS 64).
OPEN_MAX = 128
NOFILE = OPEN_MAX
MAXFILES = 3404
maxfiles = MAXFILES

PK_ADVLOCK = 0x00000001  # p_flag: the process has held advisory locks

# enum vtype (sys/vnode.h, vfs.vnode): a reclaimed vnode's type.  Kept here
# because the descriptor code may not import the VFS.
VBAD = 8


# ---------------------------------------------------------------- fileops

async def fbadop_read(fp: file, offset: Any, uio: Any, cred: kauth_cred, flags: int) -> int:
    return EOPNOTSUPP


async def fbadop_write(fp: file, offset: Any, uio: Any, cred: kauth_cred, flags: int) -> int:
    return EOPNOTSUPP


async def fbadop_ioctl(fp: file, com: int, data: Any) -> int:
    return EOPNOTSUPP


async def fnullop_fcntl(fp: file, cmd: int, data: Any) -> int:
    # Every file accepts F_SETFL (the flags live in the file itself).
    if cmd == F_SETFL:
        return 0
    return EOPNOTSUPP


async def fnullop_poll(fp: file, events: int) -> int:
    return 0


async def fnullop_kqfilter(fp: file, kn: Any) -> int:
    return EOPNOTSUPP


async def fnullop_restart(fp: file) -> None:
    return None


async def fbadop_stat(fp: file, sb: Any) -> int:
    return EOPNOTSUPP


async def fbadop_close(fp: file) -> int:
    return EOPNOTSUPP


async def fbadop_seek(fp: file, delta: int, whence: int, flags: int) -> tuple[int, int]:
    return EOPNOTSUPP, 0


_FILEOPS_DEFAULTS: dict[str, Any] = {
    "fo_read": fbadop_read,
    "fo_write": fbadop_write,
    "fo_ioctl": fbadop_ioctl,
    "fo_fcntl": fnullop_fcntl,
    "fo_poll": fnullop_poll,
    "fo_stat": fbadop_stat,
    "fo_close": fbadop_close,
    "fo_kqfilter": fnullop_kqfilter,
    "fo_restart": fnullop_restart,
    "fo_seek": fbadop_seek,
}


class fileops:
    """struct fileops: what a kind of file does.  Built like C's designated initializer::

        putter_fileops = fileops(fo_name="putter", fo_read=putter_fop_read, ...)

    or by subclassing with static methods.  Each operation is ``async`` and
    takes NetBSD's arguments:

    * ``fo_read(fp, offset, uio, cred, flags) -> int`` / ``fo_write(...)``;
      ``offset[0]`` is the ``off_t *``: read it, and update it when ``flags``
      has FOF_UPDATE_OFFSET;
    * ``fo_ioctl(fp, com, data) -> int`` (``data``: the kernel buffer, or the
      raw int argument of an argument-less command);
    * ``fo_fcntl(fp, cmd, data) -> int``; ``fo_poll(fp, events) -> revents``;
    * ``fo_stat(fp, sb) -> int`` (fill the struct stat ``sb`` in place);
    * ``fo_close(fp) -> int``; ``fo_kqfilter(fp, kn) -> int``;
    * ``fo_restart(fp) -> None``: wake this file's sleepers (a close is waiting);
    * ``fo_seek(fp, delta, whence, flags) -> (error, newoff)`` (NetBSD 10's, optional).

    Operations not given get NetBSD's generic ones (fbadop_* / fnullop_*).
    """

    fo_name: str = "?"

    def __init__(self, fo_name: str | None = None, **ops: Any) -> None:
        if fo_name is not None:
            self.fo_name = fo_name
        for name, fn in ops.items():
            if name not in _FILEOPS_DEFAULTS and name != "fo_mmap":
                raise TypeError(f"fileops has no member {name!r}")
            setattr(self, name, fn)

    def __repr__(self) -> str:
        return f"<fileops {self.fo_name}>"


for _n, _f in _FILEOPS_DEFAULTS.items():
    setattr(fileops, _n, staticmethod(_f))
del _n, _f


# ---------------------------------------------------------------- struct file

class _Files:
    """The machine's list of open files (filehead/nfiles)."""

    def __init__(self) -> None:
        self.filehead: dict[int, file] = {}
        self.nfiles = 0


_files = MachineLocal(_Files, "open files")


_f_lock_init_site = lock_site()


class file:
    """struct file: one open file, shared by every descriptor that refers to it."""

    __slots__ = ("f_offset", "f_cred", "f_ops", "f_data", "f_lock", "f_flag", "f_marker",
                 "f_type", "f_advice", "f_count", "f_msgcount", "f_unpcount", "__weakref__")

    def __init__(self) -> None:
        self.f_offset = 0
        self.f_cred: Any = None
        self.f_ops: Any = None
        self.f_data: Any = None
        self.f_lock = kmutex_t()
        mutex_init(self.f_lock, MUTEX_DEFAULT, IPL_NONE, at=_f_lock_init_site)
        self.f_flag = 0
        self.f_marker = 0
        self.f_type = 0
        self.f_advice = 0
        self.f_count = 0
        self.f_msgcount = 0
        self.f_unpcount = 0

    # The f_undata union of NetBSD: the same pointer under its typed names.
    @property
    def f_vnode(self) -> Any:
        return self.f_data

    @f_vnode.setter
    def f_vnode(self, v: Any) -> None:
        self.f_data = v

    @property
    def f_socket(self) -> Any:
        return self.f_data

    @property
    def f_pipe(self) -> Any:
        return self.f_data

    def __repr__(self) -> str:
        ops = getattr(self.f_ops, "fo_name", "?")
        return (f"<file {ops} type={self.f_type} flag={self.f_flag:#x} count={self.f_count} "
                f"off={self.f_offset}>")


file_t = file


class file_offset:
    """``&fp->f_offset`` as an ``off_t *``: ``ptr[0]`` reads and writes the file's offset.

    A caller with its own offset (pread) passes a one-element list instead.
    """

    __slots__ = ("fp",)

    def __init__(self, fp: file) -> None:
        self.fp = fp

    def __getitem__(self, i: int) -> int:
        if i != 0:
            raise IndexError(i)
        return self.fp.f_offset

    def __setitem__(self, i: int, v: int) -> None:
        if i != 0:
            raise IndexError(i)
        self.fp.f_offset = v


def filelist() -> list[file]:
    """The files open on the current machine (NetBSD's filehead)."""
    return list(_files().filehead.values())


def nfiles() -> int:
    return _files().nfiles


def _file_ctor() -> file | None:
    from kern.subr_prf import log

    fl = _files()
    if fl.nfiles >= maxfiles:
        log(4, "%s: table is full - %s\n", "file", "increase kern.maxfiles or MAXFILES")
        return None
    fp = file()
    fl.nfiles += 1
    fl.filehead[id(fp)] = fp
    return fp


def ffree(fp: file) -> None:
    """Give a file with no references left back to the pool."""
    fl = _files()
    if fl.filehead.pop(id(fp), None) is not None:
        fl.nfiles -= 1


# ---------------------------------------------------------------- tables

class fdfile:
    """fdfile_t: one descriptor slot."""

    __slots__ = ("ff_exclose", "ff_allocated", "ff_refcnt", "ff_file", "ff_knlist",
                 "ff_closing")

    def __init__(self) -> None:
        self.ff_exclose = False
        self.ff_allocated = False
        self.ff_refcnt = 0
        self.ff_file: file | None = None
        self.ff_knlist: list[Any] = []
        self.ff_closing = kcondvar_t()
        cv_init(self.ff_closing, "fdclose")

    def __repr__(self) -> str:
        return (f"<fdfile alloc={self.ff_allocated} ref={self.ff_refcnt & FR_MASK}"
                f"{' closing' if self.ff_refcnt & FR_CLOSING else ''} {self.ff_file!r}>")


fdfile_t = fdfile


class fdtab:
    """fdtab_t: the array of slots (grows by doubling)."""

    __slots__ = ("dt_nfiles", "dt_ff")

    def __init__(self, nfiles: int = NDFILE) -> None:
        self.dt_nfiles = nfiles
        self.dt_ff: list[fdfile | None] = [None] * nfiles


class filedesc:
    """filedesc_t: a process's descriptor table."""

    __slots__ = ("fd_dt", "fd_lastfile", "fd_lastkqfile", "fd_refcnt", "fd_exclose",
                 "fd_lock", "fd_freefile", "fd_nofile")

    def __init__(self) -> None:
        self.fd_dt = fdtab()
        self.fd_lastfile = -1
        self.fd_lastkqfile = -1
        self.fd_refcnt = 1
        self.fd_exclose = False
        self.fd_lock = kmutex_t()
        mutex_init(self.fd_lock, MUTEX_DEFAULT, IPL_NONE)
        self.fd_freefile = 0
        self.fd_nofile = NOFILE  # stands in for p_rlimit[RLIMIT_NOFILE].rlim_cur

    def open_fds(self) -> list[int]:
        """The descriptors that refer to an open file now."""
        return [i for i, ff in enumerate(self.fd_dt.dt_ff)
                if ff is not None and ff.ff_file is not None]

    def __repr__(self) -> str:
        return f"<filedesc open={self.open_fds()}>"


filedesc_t = filedesc


def fd_isused(fdp: filedesc, fd: int) -> bool:
    dt = fdp.fd_dt
    if not 0 <= fd < dt.dt_nfiles:
        return False
    ff = dt.dt_ff[fd]
    return ff is not None and ff.ff_allocated


def fd_used(fdp: filedesc, fd: int) -> None:
    """Mark slot ``fd`` allocated."""
    ff = fdp.fd_dt.dt_ff[fd]
    assert ff is not None
    if ff.ff_allocated:  # (the KASSERT's call only when it fails)
        KASSERT(not ff.ff_allocated)
    ff.ff_allocated = True
    if fd > fdp.fd_lastfile:
        fdp.fd_lastfile = fd


def fd_unused(fdp: filedesc, fd: int) -> None:
    """Release slot ``fd``; keeps fd_freefile and fd_lastfile right."""
    ff = fdp.fd_dt.dt_ff[fd]
    assert ff is not None
    if ff.ff_file is not None:  # (the KASSERT's call only when it fails)
        KASSERT(ff.ff_file is None)
    if not ff.ff_allocated:  # (the KASSERT's call only when it fails)
        KASSERT(ff.ff_allocated)
    if fd < fdp.fd_freefile:
        fdp.fd_freefile = fd
    ff.ff_allocated = False
    if fd == fdp.fd_lastfile:
        i = fd - 1
        while i >= 0:
            f2 = fdp.fd_dt.dt_ff[i]
            if f2 is not None and f2.ff_allocated:
                break
            i -= 1
        fdp.fd_lastfile = i


def _nofile(p: proc) -> int:
    """min(p_rlimit[RLIMIT_NOFILE].rlim_cur, maxfiles): the descriptors ``p`` may have."""
    return min(p.p_fd.fd_nofile, maxfiles)


def fd_alloc(p: proc, want: int) -> tuple[int, int]:
    """Allocate the lowest free descriptor >= ``want``: ``(error, fd)``.

    EMFILE at the process's limit; ENOSPC when the table must grow first
    (the caller runs fd_tryexpand and retries, as in NetBSD).
    """
    fdp = p.p_fd
    dt = fdp.fd_dt
    lim = _nofile(p)
    last = min(dt.dt_nfiles, lim)
    i = want if want > fdp.fd_freefile else fdp.fd_freefile
    while i < last:
        ff = dt.dt_ff[i]
        if ff is None:
            ff = dt.dt_ff[i] = fdfile()
        if not ff.ff_allocated:
            if ff.ff_file is not None:  # (the KASSERT's call only when it fails)
                KASSERT(ff.ff_file is None)
            fd_used(fdp, i)
            if want <= fdp.fd_freefile:
                fdp.fd_freefile = i
            return 0, i
        i += 1
    return (EMFILE if dt.dt_nfiles >= lim else ENOSPC), -1


def fd_tryexpand(p: proc) -> None:
    """Grow ``p``'s table: to NDEXTENT slots, then by doubling."""
    dt = p.p_fd.fd_dt
    oldnfiles = dt.dt_nfiles
    numfiles = NDEXTENT if oldnfiles < NDEXTENT else 2 * oldnfiles
    dt.dt_ff.extend([None] * (numfiles - oldnfiles))
    dt.dt_nfiles = numfiles


def _curproc() -> proc:
    return curlwp().l_proc


def fd_allocfile() -> tuple[int, file | None, int]:
    """A new file and a descriptor for it in the current process: ``(error, fp, fd)``.

    The file is not reachable through the descriptor until fd_affix.  It
    can fail by fault injection (site ``fd_allocfile``) as when the
    kernel's file table is full.
    """
    from kern.subr_fault import fault_inject

    p = _curproc()
    while True:
        error, fd = fd_alloc(p, 0)
        if error != ENOSPC:
            break
        fd_tryexpand(p)
    if error:
        return error, None, -1
    ferr = fault_inject("fd_allocfile")
    fp = None if ferr else _file_ctor()
    if fp is None:
        fd_abort(p, None, fd)
        return (ferr or ENFILE), None, -1
    fp.f_cred = curlwp().l_cred
    fp.f_advice = 0
    fp.f_offset = 0
    return 0, fp, fd


def fd_affix(p: proc, fp: file, fd: int) -> None:
    """Make ``fp`` visible through descriptor ``fd`` (which fd_alloc gave out)."""
    fp.f_count += 1
    fdp = p.p_fd
    ff = fdp.fd_dt.dt_ff[fd]
    if ff is None:  # (the KASSERT's call only when it fails)
        KASSERT(ff is not None)
    assert ff is not None
    if ff.ff_file is not None:  # (the KASSERT's call only when it fails)
        KASSERT(ff.ff_file is None)
    if not ff.ff_allocated:  # (the KASSERT's call only when it fails)
        KASSERT(ff.ff_allocated)
    ff.ff_file = fp


def fd_abort(p: proc, fp: file | None, fd: int) -> None:
    """Back out of fd_allocfile: release the slot and free the unused file."""
    fdp = p.p_fd
    ff = fdp.fd_dt.dt_ff[fd]
    assert ff is not None
    ff.ff_exclose = False
    KASSERT(fd_isused(fdp, fd))
    fd_unused(fdp, fd)
    if fp is not None:
        KASSERT(fp.f_count == 0)
        ffree(fp)


def fd_getfile(fd: int) -> file | None:
    """The file behind descriptor ``fd`` of the current process, with a use reference.

    None for a descriptor that is not open (or is being closed).  Every
    successful call is paired with ``fd_putfile(fd)``.
    """
    # (_curproc's work without its calls: every system call on a descriptor
    # passes here; curlwp raises its error when there is no lwp)
    dt = (curlwp_or_none() or curlwp()).l_proc.p_fd.fd_dt
    if not 0 <= fd < dt.dt_nfiles:
        return None
    ff = dt.dt_ff[fd]
    if ff is None:
        return None
    ff.ff_refcnt += 1
    fp = ff.ff_file
    if fp is not None:
        return fp
    fd_putfile(fd)
    return None


def fd_putfile(fd: int) -> None:
    """Drop the use reference fd_getfile took; wakes a close waiting for it."""
    _fd_putfile((curlwp_or_none() or curlwp()).l_proc.p_fd, fd)  # (as in fd_getfile)


def _fd_putfile(fdp: filedesc, fd: int) -> None:
    dt = fdp.fd_dt
    if not (0 <= fd < dt.dt_nfiles):  # (the KASSERT's call only when it fails)
        KASSERT(0 <= fd < dt.dt_nfiles)
    ff = dt.dt_ff[fd]
    if ff is None or (ff.ff_refcnt & FR_MASK) <= 0:  # (the KASSERT's call only when it fails)
        KASSERT(ff is not None and (ff.ff_refcnt & FR_MASK) > 0)
    assert ff is not None
    ff.ff_refcnt -= 1
    if ff.ff_refcnt & FR_CLOSING:
        # A close waits for the uses to drain: let it look again.
        cv_broadcast(ff.ff_closing)


def fd_getfile2(p: proc, fd: int) -> file | None:
    """The file behind ``fd`` of another process, with a file reference (drop it with closef)."""
    fdp = p.p_fd
    if fdp is None:
        return None
    dt = fdp.fd_dt
    if not 0 <= fd < dt.dt_nfiles:
        return None
    ff = dt.dt_ff[fd]
    if ff is None or ff.ff_file is None:
        return None
    fp = ff.ff_file
    fp.f_count += 1
    return fp


def fd_getvnode(fd: int) -> tuple[int, file | None]:
    """The file behind ``fd`` if it is a vnode: ``(error, fp)``; fd_putfile when done.

    EBADF for a closed descriptor or a revoked vnode (one a forced unmount
    reclaimed), EINVAL for one that is not a vnode.
    """
    fp = fd_getfile(fd)
    if fp is None:
        return EBADF, None
    if fp.f_type != DTYPE_VNODE:
        fd_putfile(fd)
        return EINVAL, None
    if fp.f_vnode.v_type == VBAD:
        fd_putfile(fd)
        return EBADF, None
    return 0, fp


async def closef(fp: file) -> int:
    """Drop a reference to ``fp``; the last one closes the file (fo_close) and frees it."""
    if fp.f_count <= 0:  # (the KASSERT's call only when it fails)
        KASSERT(fp.f_count > 0)
    fp.f_count -= 1
    if fp.f_count > 0:
        return 0
    error = 0
    if fp.f_ops is not None:
        error = await fp.f_ops.fo_close(fp)
    if fp.f_count != 0:  # (the KASSERT's call only when it fails)
        KASSERT(fp.f_count == 0)
    ffree(fp)
    return error


async def fd_close(fd: int) -> int:
    """Close descriptor ``fd`` of the current process; the caller holds fd_getfile's reference.

    When other lwps are using the descriptor, asks the file to restart
    their long sleeps (fo_restart) and waits until they let go.
    """
    l = curlwp()
    return await _fd_close(l.l_proc, l.l_proc.p_fd, fd)


async def _fd_close(p: proc, fdp: filedesc, fd: int) -> int:
    ff = fdp.fd_dt.dt_ff[fd]
    assert ff is not None
    if (ff.ff_refcnt & FR_MASK) <= 0:  # (the KASSERT's call only when it fails)
        KASSERT((ff.ff_refcnt & FR_MASK) > 0)
    fp = ff.ff_file
    if fp is None:
        # Another lwp is closing it and waits for the uses to drain: let go,
        # and tell the caller the descriptor is gone.
        ff.ff_refcnt -= 1
        cv_broadcast(ff.ff_closing)
        return EBADF
    if (ff.ff_refcnt & FR_CLOSING) != 0:  # (the KASSERT's call only when it fails)
        KASSERT((ff.ff_refcnt & FR_CLOSING) == 0)

    # New lookups fail from here on.
    ff.ff_file = None
    ff.ff_exclose = False
    ff.ff_refcnt -= 1
    if ff.ff_refcnt != 0:
        # Others are inside system calls on this descriptor: wake them out of
        # long sleeps and wait until every such use has ended.
        ff.ff_refcnt |= FR_CLOSING
        ff.ff_knlist.clear()
        await fp.f_ops.fo_restart(fp)
        await mutex_enter(fdp.fd_lock)
        while ff.ff_refcnt & FR_MASK:
            await cv_wait(ff.ff_closing, fdp.fd_lock)
        ff.ff_refcnt &= ~FR_CLOSING
        mutex_exit(fdp.fd_lock)

    # A close drops every POSIX record lock the process holds on the file.
    if (p.p_flag & PK_ADVLOCK) and fp.f_type == DTYPE_VNODE and fcntl_advlock is not None:
        lf = flock(l_whence=0, l_start=0, l_len=0, l_type=F_UNLCK)
        await fcntl_advlock(fp, p, F_UNLCK, lf, F_POSIX)

    fd_unused(fdp, fd)
    return await closef(fp)


def fd_dup(fp: file, minfd: int, exclose: bool) -> tuple[int, int]:
    """A new descriptor >= ``minfd`` for ``fp`` in the current process: ``(error, newfd)``."""
    p = _curproc()
    while True:
        error, newfd = fd_alloc(p, minfd)
        if error != ENOSPC:
            break
        fd_tryexpand(p)
    if error:
        return error, -1
    fd_set_exclose(curlwp(), newfd, exclose)
    fd_affix(p, fp, newfd)
    return 0, newfd


async def fd_dup2(fp: file, newfd: int, flags: int) -> int:
    """Make descriptor ``newfd`` refer to ``fp``, closing what it referred to before."""
    from kern.kern_synch import kpause

    p = _curproc()
    fdp = p.p_fd
    if flags & ~(O_CLOEXEC | O_NONBLOCK | O_NOSIGPIPE):
        return EINVAL
    while newfd >= fdp.fd_dt.dt_nfiles:
        fd_tryexpand(p)
    while fd_isused(fdp, newfd):
        if fd_getfile(newfd) is not None:
            await fd_close(newfd)
        else:
            # Another lwp is half-way through opening into this slot.
            await kpause("dup2", False, 1, None)
    dt = fdp.fd_dt
    if dt.dt_ff[newfd] is None:
        dt.dt_ff[newfd] = fdfile()
    fd_used(fdp, newfd)
    fd_set_exclose(curlwp(), newfd, (flags & O_CLOEXEC) != 0)
    fp.f_flag |= flags & (FNONBLOCK | FNOSIGPIPE)
    fd_affix(p, fp, newfd)
    return 0


def fd_clone(fp: file, fd: int, flag: int, fops: fileops, data: Any) -> int:
    """Finish a cloning open: ``fp`` becomes a DTYPE_MISC file with ``fops`` and ``data``.

    ``flag`` gives the file flags and, with O_CLOEXEC, close-on-exec.
    Returns EMOVEFD, which tells the open path that the descriptor is
    already installed (its number is left in ``curlwp().l_dupfd``).
    """
    l = curlwp()
    fp.f_flag = flag & FMASK
    fd_set_exclose(l, fd, (flag & O_CLOEXEC) != 0)
    fp.f_type = DTYPE_MISC
    fp.f_ops = fops
    fp.f_data = data
    l.l_specific["l_dupfd"] = fd
    fd_affix(l.l_proc, fp, fd)
    return EMOVEFD


def l_dupfd(l: lwp) -> int:
    """The descriptor fd_clone installed (NetBSD's ``curlwp->l_dupfd``)."""
    return l.l_specific.get("l_dupfd", -1)


def fd_set_exclose(l: lwp, fd: int, exclose: bool) -> None:
    fdp = l.l_proc.p_fd
    ff = fdp.fd_dt.dt_ff[fd]
    assert ff is not None
    ff.ff_exclose = exclose
    if exclose:
        fdp.fd_exclose = True


def pgid_in_session(p: proc, pg_id: int) -> int:
    """0 if process group ``pg_id`` (or, negative, the group of process
    -pg_id) is in ``p``'s session; EINVAL if there is no such group, EPERM if
    it is another session's.

    kemu: every process leads its own process group and session (pgid = sid
    = pid, as kill(2) and ps see them), so a group exists while its process
    does and is in the caller's session only when it is the caller's."""
    from kern.cpu import curmachine
    from kern.errno import EPERM

    p1 = curmachine().procs.get(abs(pg_id))
    if p1 is None:
        return EINVAL
    return EPERM if p1.p_pid != p.p_pid else 0


def fsetown(pgid: list[int], cmd: int, data: Any) -> int:
    """Set a descriptor's owner (``pgid[0]``): a process (> 0) or a process
    group (< 0), from FIOSETOWN's id or TIOCSPGRP's group; ESRCH for no such
    process, pgid_in_session's errors for a group."""
    from kern.cpu import curmachine, curproc
    from kern.errno import ESRCH
    from kern.ioccom import TIOCSPGRP

    id_ = ioctl_int(data)
    if cmd == TIOCSPGRP:
        if id_ < 0:
            return EINVAL
        id_ = -id_
    if id_ > 0:
        error = 0 if curmachine().procs.get(id_) is not None else ESRCH
    elif id_ < 0:
        error = pgid_in_session(curproc(), -id_)
    else:
        error = 0
    if not error:
        pgid[0] = id_
    return error


def fgetown(pgid: int, cmd: int, data: Any) -> int:
    """A descriptor's owner into ``data``: the group as TIOCGPGRP's positive
    number, else as kept (negative for a group)."""
    from kern.ioccom import TIOCGPGRP

    ioctl_setint(data, -pgid if cmd == TIOCGPGRP else pgid)
    return 0


def ioctl_int(data: Any) -> int:
    """``*(const int *)data`` of an ioctl's kernel buffer."""
    if isinstance(data, int):
        return data
    return int.from_bytes(bytes(data[0:4]), "little", signed=True)


def ioctl_setint(data: Any, v: int) -> None:
    """``*(int *)data = v`` into an ioctl's kernel buffer."""
    data[0:4] = (v & 0xffffffff).to_bytes(4, "little")


async def fd_closeexec() -> None:
    """Close every close-on-exec descriptor of the current process (exec does this)."""
    p = _curproc()
    fdp = p.p_fd
    if not fdp.fd_exclose:
        return
    fdp.fd_exclose = False
    for fd in range(fdp.fd_lastfile + 1):
        ff = fdp.fd_dt.dt_ff[fd]
        if ff is None or ff.ff_file is None or not ff.ff_exclose:
            continue
        ff.ff_refcnt += 1
        await _fd_close(p, fdp, fd)


def fd_init() -> filedesc:
    """A new, empty descriptor table."""
    return filedesc()


def fd_copy(src: filedesc) -> filedesc:
    """A copy of ``src`` for a child process (fork): same files, one more reference each."""
    new = filedesc()
    new.fd_nofile = src.fd_nofile
    sdt = src.fd_dt
    lastfile = src.fd_lastfile
    if lastfile >= NDFILE:
        # The smallest table that holds the descriptors in use: the
        # source's size, halved while that stays above NDEXTENT.
        i = sdt.dt_nfiles
        while i >= 2 * NDEXTENT and i > lastfile * 2:
            i //= 2
        new.fd_dt = fdtab(i)
    for i in range(lastfile + 1):
        ff = sdt.dt_ff[i]
        if ff is None or ff.ff_file is None:
            continue
        fp = ff.ff_file
        if fp.f_type == DTYPE_KQUEUE:  # a kqueue is not inherited
            continue
        nff = fdfile()
        nff.ff_file = fp
        nff.ff_exclose = ff.ff_exclose
        nff.ff_allocated = True
        new.fd_dt.dt_ff[i] = nff
        fp.f_count += 1
        new.fd_lastfile = i
        if ff.ff_exclose:
            new.fd_exclose = True
    # the lowest free slot
    i = 0
    while i <= new.fd_lastfile and new.fd_dt.dt_ff[i] is not None:
        i += 1
    new.fd_freefile = i
    return new


async def fd_free(p: proc | None = None) -> None:
    """Close every descriptor of a process that is exiting (by default the current one)."""
    if p is None:
        p = _curproc()
    fdp = p.p_fd
    if fdp is None:
        return
    fdp.fd_refcnt -= 1
    if fdp.fd_refcnt > 0:
        return
    for fd in range(fdp.fd_lastfile + 1):
        ff = fdp.fd_dt.dt_ff[fd]
        if ff is None or ff.ff_file is None:
            continue
        ff.ff_refcnt += 1
        await _fd_close(p, fdp, fd)
    p.p_fd = None


def filedesc_init(machine: Machine) -> None:
    """Boot hook: proc0's table; each new process inherits its parent's descriptors.

    A process made by ``machine.proc_create`` is as after fork and exec:
    it shares its parent's open files, except close-on-exec ones; a forked
    one (no ``PK_EXEC``) shares all of them.
    """
    from kern.kern_lwp import LW_SYSTEM
    from kern.kern_lwp import lwp as lwp_t

    machine.proc0.p_fd = fd_init()

    def create(p: proc, parent: proc | None) -> None:
        from kern.kern_lwp import PK_EXEC

        src = parent.p_fd if parent is not None else None
        if src is None:
            p.p_fd = fd_init()
            return
        fdp = fd_copy(src)
        if not p.p_flag & PK_EXEC:
            p.p_fd = fdp  # fork: every descriptor, close-on-exec ones too
            return
        # exec: the close-on-exec descriptors do not survive (the parent still
        # holds those files, so dropping the child's reference closes nothing).
        for i in range(fdp.fd_lastfile + 1):
            ff = fdp.fd_dt.dt_ff[i]
            if ff is not None and ff.ff_file is not None and ff.ff_exclose:
                ff.ff_file.f_count -= 1
                ff.ff_file = None
                ff.ff_exclose = False
                fd_unused(fdp, i)
        fdp.fd_exclose = False
        p.p_fd = fdp

    def destroy(p: proc) -> None:
        # An exit path that can sleep should have run fd_free() already; close
        # what is left from a kernel thread, since fo_close may sleep.
        fdp = p.p_fd
        if fdp is None or not fdp.open_fds():
            p.p_fd = None
            return

        async def reap(_: Any) -> None:
            await fd_free(p)

        from kern.exceptions import MachineHalted

        try:
            machine.spawn_lwp(lwp_t(machine.proc0, "fdfree", LW_SYSTEM), reap, (None,))
        except MachineHalted:
            p.p_fd = None

    machine.proc_create_hooks.append(create)
    machine.proc_destroy_hooks.append(destroy)


# ---------------------------------------------------------------- hooks for the VFS

# The VFS sets these (the descriptor code may not import it):
#   fcntl_advlock(fp, p, op, fl, flags) -> int   VOP_ADVLOCK on fp's vnode
#   fcntl_forfs(fd, fp, cmd, arg) -> int         fcntl(F_FSCTL ...) to the file system
fcntl_advlock: Callable[..., Awaitable[int]] | None = None
fcntl_forfs: Callable[..., Awaitable[int]] | None = None


# ---------------------------------------------------------------- system calls (sys_descrip.c)

def _intbuf(v: int) -> bytearray:
    """An ``int`` in a kernel buffer, as C passes ``&tmp`` to fo_ioctl/fo_fcntl."""
    return bytearray((v & 0xffffffff).to_bytes(4, "little"))


async def sys_dup(l: lwp, uap: Any, retval: list[Any]) -> int:
    """dup(fd): the lowest free descriptor, for the same file."""
    fd = uap.fd
    fp = fd_getfile(fd)
    if fp is None:
        return EBADF
    error, newfd = fd_dup(fp, 0, False)
    fd_putfile(fd)
    retval[0] = newfd
    return error


async def dodup(l: lwp, from_: int, to: int, flags: int, retval: list[Any]) -> int:
    fp = fd_getfile(from_)
    if fp is None:
        return EBADF
    fp.f_count += 1
    fd_putfile(from_)
    if to < 0 or to >= _nofile(l.l_proc):
        error = EBADF
    elif from_ == to:
        error = 0
    else:
        error = await fd_dup2(fp, to, flags)
    await closef(fp)
    retval[0] = to
    return error


async def sys_dup2(l: lwp, uap: Any, retval: list[Any]) -> int:
    """dup2(from, to): make ``to`` refer to ``from``'s file, closing ``to`` first."""
    return await dodup(l, uap.from_, uap.to, 0, retval)


async def do_fcntl_lock(fd: int, cmd: int, fl: flock) -> int:
    """The record-locking part of fcntl, on the vnode behind ``fd``."""
    error, fp = fd_getvnode(fd)
    if error:
        return error
    assert fp is not None
    if fl.l_whence == SEEK_CUR:
        fl.l_start += fp.f_offset
    flg = F_POSIX
    p = _curproc()
    if cmd in (F_SETLKW, F_SETLK):
        if cmd == F_SETLKW:
            flg |= F_WAIT
        if fl.l_type == F_RDLCK or fl.l_type == F_WRLCK:
            need = FREAD if fl.l_type == F_RDLCK else FWRITE
            if (fp.f_flag & need) == 0:
                error = EBADF
            else:
                p.p_flag |= PK_ADVLOCK
                error = await _advlock(fp, p, F_SETLK, fl, flg)
        elif fl.l_type == F_UNLCK:
            error = await _advlock(fp, p, F_UNLCK, fl, F_POSIX)
        else:
            error = EINVAL
    elif cmd == F_GETLK:
        if fl.l_type not in (F_RDLCK, F_WRLCK, F_UNLCK):
            error = EINVAL
        else:
            error = await _advlock(fp, p, F_GETLK, fl, F_POSIX)
    else:
        error = EINVAL
    fd_putfile(fd)
    return error


async def _advlock(fp: file, p: proc, op: int, fl: flock, flags: int) -> int:
    if fcntl_advlock is None:
        return EOPNOTSUPP
    return await fcntl_advlock(fp, p, op, fl, flags)


async def sys_fcntl(l: lwp, uap: Any, retval: list[Any]) -> int:
    """fcntl(fd, cmd, arg)."""
    from kern.ioccom import FIOASYNC, FIOGETOWN, FIONBIO, FIOSETOWN
    from kern.kern_synch import kpause
    from kern.subr_copy import copyin, copyout

    fd = uap.fd
    cmd = uap.cmd
    p = l.l_proc
    fdp = p.p_fd
    error = 0

    if cmd == F_CLOSEM:
        if fd < 0:
            return EBADF
        while fdp.fd_lastfile >= fd:
            i = fdp.fd_lastfile
            if fd_getfile(i) is None:
                # Another lwp is opening into (or closing) this slot: let it finish.
                await kpause("closem", False, 1, None)
                continue
            await fd_close(i)
        return 0
    if cmd == F_MAXFD:
        retval[0] = fdp.fd_lastfile
        return 0
    if cmd in (F_SETLKW, F_SETLK, F_GETLK):
        fl = flock()
        error = copyin(uap.arg, fl, ctypes.sizeof(fl))
        if error:
            return error
        error = await do_fcntl_lock(fd, cmd, fl)
        if cmd == F_GETLK and error == 0:
            error = copyout(fl, uap.arg, ctypes.sizeof(fl))
        return error

    fp = fd_getfile(fd)
    if fp is None:
        return EBADF

    if cmd & F_FSCTL:
        if fcntl_forfs is None:
            error = EOPNOTSUPP
        else:
            error = await fcntl_forfs(fd, fp, cmd, uap.arg)
        fd_putfile(fd)
        return error

    arg = uap.arg
    if cmd in (F_DUPFD, F_DUPFD_CLOEXEC):
        newmin = _as_int(arg)
        if newmin < 0 or newmin >= _nofile(p):
            fd_putfile(fd)
            return EINVAL
        error, i = fd_dup(fp, newmin, cmd == F_DUPFD_CLOEXEC)
        retval[0] = i
    elif cmd == F_GETFD:
        ff = fdp.fd_dt.dt_ff[fd]
        assert ff is not None
        retval[0] = 1 if ff.ff_exclose else 0
    elif cmd == F_SETFD:
        fd_set_exclose(l, fd, (_as_int(arg) & FD_CLOEXEC) != 0)
    elif cmd == F_GETNOSIGPIPE:
        retval[0] = 1 if fp.f_flag & FNOSIGPIPE else 0
    elif cmd == F_SETNOSIGPIPE:
        if arg:
            fp.f_flag |= FNOSIGPIPE
        else:
            fp.f_flag &= ~FNOSIGPIPE
        retval[0] = 0
    elif cmd == F_GETFL:
        retval[0] = OFLAGS(fp.f_flag)
    elif cmd == F_SETFL:
        tmp = FFLAGS(_as_int(arg)) & FCNTLFLAGS
        error = await fp.f_ops.fo_fcntl(fp, F_SETFL, _intbuf(tmp))
        if not error:
            i = tmp ^ fp.f_flag
            if i & FNONBLOCK:
                error = await fp.f_ops.fo_ioctl(fp, FIONBIO, _intbuf(tmp & FNONBLOCK))
                if error:
                    await fp.f_ops.fo_fcntl(fp, F_SETFL, _intbuf(fp.f_flag))
            if not error and i & FASYNC:
                error = await fp.f_ops.fo_ioctl(fp, FIOASYNC, _intbuf(tmp & FASYNC))
                if error:
                    if i & FNONBLOCK:
                        await fp.f_ops.fo_ioctl(fp, FIONBIO, _intbuf(fp.f_flag & FNONBLOCK))
                    await fp.f_ops.fo_fcntl(fp, F_SETFL, _intbuf(fp.f_flag))
            if not error:
                fp.f_flag = (fp.f_flag & ~FCNTLFLAGS) | tmp
    elif cmd == F_GETOWN:
        buf = _intbuf(0)
        error = await fp.f_ops.fo_ioctl(fp, FIOGETOWN, buf)
        retval[0] = int.from_bytes(buf[:4], "little", signed=True)
    elif cmd == F_SETOWN:
        error = await fp.f_ops.fo_ioctl(fp, FIOSETOWN, _intbuf(_as_int(arg)))
    else:
        error = EINVAL

    fd_putfile(fd)
    return error


def _as_int(arg: Any) -> int:
    """The ``int`` C takes from fcntl's ``void *arg`` (the low 32 bits, signed)."""
    v = int(arg or 0) & 0xffffffff
    return v - (1 << 32) if v & 0x80000000 else v


async def sys_close(l: lwp, uap: Any, retval: list[Any]) -> int:
    """close(fd)."""
    from kern.subr_prf import printf

    fd = uap.fd
    if fd_getfile(fd) is None:
        return EBADF
    error = await fd_close(fd)
    if error == ERESTART:
        printf("%s[%d]: close(%d) returned ERESTART\n", l.l_proc.p_comm, l.l_proc.p_pid, fd)
        error = EINTR
    return error

