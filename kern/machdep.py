"""Halting the machine: cpu_reboot and the shutdown hooks.

A port of ``cpu_reboot`` from NetBSD 8's sys/arch/amd64/amd64/machdep.c
(read at revision 1.315; the function is the netbsd-8 one), of the
shutdown hooks of sys/kern/kern_subr.c (``shutdownhook_establish``,
``doshutdownhooks``) and of the RB_* bits of sys/sys/reboot.h.

Every halt of a kemu machine, whatever ends it (a script's end, ``exit``, an
exception or Ctrl-C in the test or tool driving it, interpreter exit), runs
``cpu_reboot(howto)`` in an lwp of proc0, as the lwp calling reboot(2) would.
The order is NetBSD's (step 3's place aside, see the deviations) and lives
here only:

1. unless ``RB_NOSYNC``: ``vfs_sync_all`` once (every file system's dirty
   data and metadata written), then, while anything moves,
   ``vfs_unmountall1`` (newest first, not forced) or ``config_detach_all``
   (pseudo-devices that allow it) or ``vfs_unmount_forceone`` (the newest
   mount, forced);
2. kemu: a file system still mounted after that loop (even the forced
   unmount failed) is named on the console with what backs it ("host image
   PATH", as the disk drivers say through :func:`halt_medium_establish`),
   before any disk closes, and the machine's ``halt()`` then raises
   :class:`kern.exceptions.ShutdownError` with those lines;
3. ``suspendsched``: every user process is stopped (see the deviations);
4. ``doshutdownhooks``: the hooks established by drivers, newest first.  The
   disk drivers close their media here (rumpblk flushes and closes its host
   files, md lets its units go), after every file system is gone.

kern cannot import vfs, so the VFS attaches its four functions to the hook
variables below when it is imported (as ``kern.subr_devsw.biodone_vfs``);
without a VFS they do nothing.

Deviations from NetBSD:

* A machine that crashed (panic, failed KASSERT, deadlock, lock-order
  reversal) never runs cpu_reboot: the crash ends its trio run at once, so
  nothing is synced, as after NetBSD's ``vpanic`` (``RB_NOSYNC``).  The
  ``panicstr`` test and its ``suspendsched()`` branch have nothing to do.
* ``maybe_dump``/``dumpsys``, ``resettodr``, ``splhigh``, RB_POWERDOWN and
  the "press any key to reboot" console have no counterpart; kemu's
  ``pmf_system_shutdown`` would only call driver shutdown handlers, which
  no kemu driver registers, and is left out.
* md and rumpblk are not autoconf devices in kemu, so ``config_detach_all``
  cannot reach them; they establish shutdown hooks instead, which run after
  the loop (with nothing mounted any more, their order does not matter).
* ``suspendsched()`` (kern/kern_synch.py) comes after the unmount loop,
  not first: NetBSD's ``vfs_sync_all`` calls it before the sync, but a
  puffs file server is a user process of the machine that must answer
  while its file system is synced and unmounted (vfs/vfs_mount.py).  And
  it comes with ``RB_NOSYNC`` too, where NetBSD never calls it: NetBSD's
  CPU stops after the hooks, while kemu's halt then waits for the machine
  to be quiescent, which a user process that computes on (``dd ... &``)
  would put off forever.  Every user lwp is then stopped at its next
  return to user mode, as NetBSD's are; the shutdown hooks run after.
  With ``RB_NOSYNC`` it wakes no sleeper (``wake_sleepers=False``): NetBSD's
  CPU stops with them asleep, so no sleep may end early here, with the 0 a
  caller can take for its event (puffs_msgif's touser takes it for the
  server's reply: tests/fs/puffs/test_touser_wait.py).
* ``syncdone`` is per machine (a MachineLocal), not a static.
* Step 2 is kemu's: NetBSD goes on silently (``vfs_unmount_forceone``
  prints its failure only under DEBUG), and the disks lose whatever the
  still-mounted file system had not written.  kemu's disks are a user's
  host images, so the halt says which file system and which image.
* With ``RB_NOSYNC`` (``halt(sync=False)``) kemu names, before the disks
  close, each host image a file system mounted read-write is left on
  ("WARNING: host image PATH left dirty: ..."), where NetBSD's ``reboot -n``
  says nothing; the machine's halt then gives the lines as a
  :class:`kern.exceptions.DirtyHaltWarning` (a Python warning: the halt did
  what was asked, so it raises nothing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from kern.cpu import MachineLocal, curlwp, curmachine
from kern.subr_prf import printf

if TYPE_CHECKING:
    from kern.kern_lwp import lwp

# sys/reboot.h
RB_AUTOBOOT = 0x00000000
RB_ASKNAME = 0x00000001
RB_SINGLE = 0x00000002
RB_NOSYNC = 0x00000004
RB_HALT = 0x00000008
RB_INITNAME = 0x00000010
RB_KDB = 0x00000040
RB_RDONLY = 0x00000080
RB_DUMP = 0x00000100
RB_MINIROOT = 0x00000200
RB_STRING = 0x00000400
RB_POWERDOWN = RB_HALT | 0x800
RB_USERCONF = 0x00001000


async def _no_sync_all(l: lwp) -> None:
    return None


async def _no_unmountall1(l: lwp, force: bool, verbose: bool) -> bool:
    return False


async def _no_unmount_forceone(l: lwp) -> bool:
    return False


def _no_mounts_left() -> list[tuple[str, str, str, bool]]:
    return []


# Filled by vfs/vfs_mount.py when the VFS is imported.
vfs_sync_all: Callable[[lwp], Awaitable[None]] = _no_sync_all
vfs_unmountall1: Callable[[lwp, bool, bool], Awaitable[bool]] = _no_unmountall1
vfs_unmount_forceone: Callable[[lwp], Awaitable[bool]] = _no_unmount_forceone
# (mounted on, mounted from, type, read-only) of every file system still
# mounted, the root aside
vfs_mounts_left: Callable[[], list[tuple[str, str, str, bool]]] = _no_mounts_left


class _RebootState:
    def __init__(self) -> None:
        self.syncdone = False
        # drivers' answers to "what backs device node X" (halt_medium_establish)
        self.media: list[Callable[[str], str | None]] = []
        # what the halt could not unmount, one line each (halt_report)
        self.left_mounted: list[str] = []
        # the host images an RB_NOSYNC halt leaves dirty, one line each
        # (halt_dirty_report)
        self.left_dirty: list[str] = []


_reboot_state = MachineLocal(_RebootState, "cpu_reboot")


async def cpu_reboot(howto: int) -> None:
    """Sync, unmount and detach (unless ``RB_NOSYNC``), stop the user processes,
    then run the shutdown hooks."""
    from kern.kern_synch import suspendsched
    from kern.subr_autoconf import config_detach_all

    l = curlwp()
    st = _reboot_state()
    if (howto & RB_NOSYNC) == 0:
        if not st.syncdone:
            st.syncdone = True
            await vfs_sync_all(l)
        while (await vfs_unmountall1(l, False, False) or await config_detach_all(howto) or
               await vfs_unmount_forceone(l)):
            pass
        _report_left_mounted(st)
    else:
        _report_left_dirty(st)
    # kemu: here rather than in vfs_sync_all, and with RB_NOSYNC too, where it
    # wakes no sleeper (see above).
    suspendsched(wake_sleepers=(howto & RB_NOSYNC) == 0)
    await doshutdownhooks()


def _medium(st: _RebootState, frm: str) -> str | None:
    """What backs device node ``frm``, as its driver says ("host image PATH")."""
    return next((d for d in (fn(frm) for fn in st.media) if d), None)


def _report_left_mounted(st: _RebootState) -> None:
    """kemu: name each file system the loop could not unmount, and what backs it."""
    for on, frm, fstype, _rdonly in vfs_mounts_left():
        line = (f"{frm} on {on} type {fstype} could not be unmounted, even by force: "
                f"{_medium(st, frm) or frm} may be inconsistent")
        printf("WARNING: %s\n", line)
        st.left_mounted.append(line)


def _report_left_dirty(st: _RebootState) -> None:
    """kemu: with RB_NOSYNC, name each host image a file system mounted
    read-write is left on as it is (not synced, not unmounted), and why."""
    for on, frm, fstype, rdonly in vfs_mounts_left():
        medium = _medium(st, frm)
        if medium is None or rdonly:
            continue    # no host file behind it, or nothing written to it
        line = (f"{medium} left dirty: {frm} on {on} type {fstype} was mounted "
                f"read-write at a halt without sync (RB_NOSYNC): data not yet "
                f"written is not in it and it is not marked clean (fsck it)")
        printf("WARNING: %s\n", line)
        st.left_dirty.append(line)


def halt_medium_establish(fn: Callable[[str], str | None]) -> None:
    """A disk driver names what backs a device node of its own (``fn("/dev/wd0")`` is
    "host image /x/disk.img", or None when the node is not its): the halt's
    warning about a file system it could not unmount says it."""
    _reboot_state().media.append(fn)


def halt_report(m: Any) -> list[str]:
    """What the halt of machine ``m`` could not unmount (empty when all went)."""
    return list(_reboot_state.of(m).left_mounted)


def halt_dirty_report(m: Any) -> list[str]:
    """The host images an RB_NOSYNC halt of machine ``m`` left dirty (empty after
    a halt with sync, or when none was mounted read-write)."""
    return list(_reboot_state.of(m).left_dirty)


# kern_subr.c: shutdown hooks.  An established hook runs once, at the halt.

def shutdownhook_establish(fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """Run ``await fn()`` when the machine halts (after the file systems are gone).

    Returns a handle for ``shutdownhook_disestablish``.  NetBSD passes an
    argument to ``fn``; a Python closure carries it here.
    """
    curmachine().add_shutdown_hook(fn)
    return fn


def shutdownhook_disestablish(handle: Callable[[], Awaitable[None]]) -> None:
    hooks = curmachine()._shutdown_hooks
    if handle in hooks:
        hooks.remove(handle)


async def doshutdownhooks() -> None:
    """Run and forget the shutdown hooks, the newest first (LIST_INSERT_HEAD order)."""
    hooks = curmachine()._shutdown_hooks
    while hooks:
        fn = hooks.pop()
        await fn()
