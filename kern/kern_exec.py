"""execve(2): a process becomes a new program (sys/kern/kern_exec.c, execve1).

Revision: the kern_exec.c text at hand is 1.418 (2015); the steps below are
execve1's there, which kemu takes to be NetBSD 8's (not checked line by line).

What exec does to the process follows NetBSD 8's execve1: the process's
other lwps leave (``exit_lwps``, kern/kern_exit.py: LW_WEXIT), the program's
name becomes ``p_comm``, the close-on-exec descriptors are closed
(fd_closeexec), caught signals go back to SIG_DFL (execsigs), the old
address space is replaced by an empty one (uvmspace_exec), and the process
is marked PK_EXEC.  The arguments are copied in from the caller's argv
array before the old image goes, and laid out in the new image for ps(1)
(kern/exec_subr.py's copyargs, p_psstrp).

NetBSD leaves a user lwp unnamed (``l_name`` NULL: ps shows the process's
``p_comm``); every kemu lwp has a name (traces, ``lwp=`` fault scoping),
so exec names the lwp after the program too (deviation), and a command
the shell forked is ``dd``, not ``sh``, to ps -o lname and to a fault plan.

What kemu cannot do is load a program from a file: its programs are Python
``async def main(argv) -> int`` functions.  So the exec switch (NetBSD's
list of image formats, each with a probe) holds *resolvers*: each gets the
path and answers an entry point or None; the first that answers wins, and
ENOENT when none does (deviation: the path names a program, not a file in
the tree; there is no permission check and no environment).  As in NetBSD
the list is the kernel's own: ``execsw`` is the built-in table every
machine starts with (exec_conf.c's; the userland that provides programs,
tools/cmds, enters its format there with ``execsw_register`` when it is
imported), and ``exec_add``/``exec_remove`` add and remove formats on the
running machine only (as exec modules do), so one machine's formats are
never another's.  The
machine-dependent part, "enter user mode at the image's entry with argv",
is left to the caller, as fork's is (kern/kern_fork.py): the call stores
``(entry, argv)`` in ``l.l_md_execentry`` and returns EJUSTRETURN; libc's
execve then runs the entry and exits with its status, never returning.
"""

from __future__ import annotations

import ctypes
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from kern.cpu import MachineLocal
from kern.errno import E2BIG, EEXIST, EJUSTRETURN, ENAMETOOLONG, ENOENT
from kern.exec_subr import copyargs
from kern.kern_lwp import MAXCOMLEN, PK_EXEC
from kern.param import MAXPATHLEN
from kern.subr_copy import copyin, copyinstr, uvmspace_alloc, uvmspace_free

if TYPE_CHECKING:
    from kern.kern_lwp import lwp

ExecEntry = Callable[[list[str]], Awaitable[int]]
ExecResolver = Callable[[str], ExecEntry | None]

ARG_MAX = 256 * 1024      # sys/syslimits.h: bytes of arguments execve takes

# The built-in image formats (exec_conf.c's table), which every machine has.
execsw: list[ExecResolver] = []


def execsw_register(resolver: ExecResolver) -> None:
    """Build ``resolver`` into the kernel's table of image formats (every
    machine has it): ``resolver(path)`` answers an entry point or None."""
    if resolver not in execsw:
        execsw.append(resolver)


# The formats added on a running machine (exec_add), after the built-in ones.
_exec_added = MachineLocal(list, "exec formats")


def exec_add(resolver: ExecResolver) -> int:
    """Add an image format to this machine; EEXIST if it has it already."""
    added = _exec_added()
    if resolver in execsw or resolver in added:
        return EEXIST
    added.append(resolver)
    return 0


def exec_remove(resolver: ExecResolver) -> int:
    """Remove a format exec_add gave this machine; ENOENT if it has none such."""
    added = _exec_added()
    if resolver not in added:
        return ENOENT
    added.remove(resolver)
    return 0


def _copyinargs(argp: int) -> tuple[int, list[str]]:
    """The NULL-terminated ``char *argv[]`` at user address ``argp``: ``(error, args)``.

    The strings go one after the other into one ARG_MAX area, as execve1
    copies them into its argument buffer; more than ARG_MAX bytes is E2BIG."""
    args: list[str] = []
    if not argp:
        return 0, args
    area = bytearray(ARG_MAX)
    view = memoryview(area)
    total = 0
    i = 0
    while True:
        ptr = ctypes.c_uint64()
        error = copyin(argp + 8 * i, ptr, 8)
        if error:
            return error, []
        if ptr.value == 0:
            return 0, args
        error, n = copyinstr(ptr.value, view[total:], ARG_MAX - total)
        if error == ENAMETOOLONG:
            return E2BIG, []
        if error:
            return error, []
        args.append(bytes(area[total:total + n - 1]).decode("utf-8", "surrogateescape"))
        total += n
        i += 1


async def sys_execve(l: lwp, uap: Any, retval: list[Any]) -> int:
    """execve(path, argp, envp)."""
    from kern.kern_descrip import fd_closeexec
    from kern.kern_sig import execsigs

    p = l.l_proc
    pathbuf = bytearray(MAXPATHLEN)
    error, n = copyinstr(uap.path, pathbuf, MAXPATHLEN)
    if error:
        return error
    path = bytes(pathbuf[:n - 1]).decode("utf-8", "surrogateescape")
    if not path:
        return ENOENT
    error, argv = _copyinargs(uap.argp)
    if error:
        return error

    # check_exec: the first format that recognizes the image.
    entry = None
    for resolver in [*execsw, *_exec_added()]:
        entry = resolver(path)
        if entry is not None:
            break
    if entry is None:
        return ENOENT

    # From here on the old image is gone.  Kill the other lwps of the
    # process first (execve_runproc's exit_lwps).
    if len(p.p_lwps) > 1:
        from kern.kern_exit import exit_lwps

        await exit_lwps(l)
    p.p_comm = path.rsplit("/", 1)[-1][:MAXCOMLEN]
    l.l_name = p.p_comm
    await fd_closeexec()
    execsigs(p)
    old = p.p_vmspace
    p.p_vmspace = uvmspace_alloc()
    if old is not None and not old.vm_kernel:
        uvmspace_free(old)
    p.p_flag |= PK_EXEC
    # The arguments on the new image's "stack", where ps(1) finds them (copyargs).
    error = copyargs(l, argv)
    if error:
        # The old image is gone: like execve1 past its point of no return
        # (exec_abort), the process cannot go on: it exits with the error,
        # killed by SIGABRT.
        from kern.kern_exit import exit1, lwp_exit
        from kern.kern_sig import SIGABRT

        await exit1(l, error, SIGABRT)
        lwp_exit(l)

    # Enter user mode at the image's entry point (the caller runs it).
    l.l_md_execentry = (entry, argv)
    return EJUSTRETURN
