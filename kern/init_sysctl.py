"""The kern.* and hw.* nodes of NetBSD 8's sys/kern/init_sysctl.c (sysctl_kern_setup,
sysctl_hw_setup) that kemu can fill truthfully, with their helpers.
Revision: 1.209 (2015/08/25), the NetBSD 7.99 copy nearest to NetBSD 8 in
the reference store (the first port did not record the one it read, and
these nodes were not re-compared line by line when it was named).

kern: argmax, clockrate (sysctl_kern_clockrate), posix1version, ngroups,
boottime, maxpartitions, msgbufsize and msgbuf (sysctl_msgbuf), fsync,
iov_max, maxphys.  hw: machine, model, ncpu, byteorder, pagesize,
machine_arch, alignbytes, ncpuonline.  kern.proc2, kern.proc_args and
kern.lwp are in kern/kern_proc.py; the base nodes in init_sysctl_base.py.

Deviations:

* kern.boottime has a helper: kemu's boot time is the machine's
  ``boottime_ns`` (which settimeofday moves, as NetBSD moves ``boottime``),
  not a kernel global a node could point at;
* the message buffer is the machine's whole dmesg (it never wraps), so
  kern.msgbufsize is its current length and kern.msgbuf returns it oldest
  first, as NetBSD's returns a buffer that has not wrapped yet;
* nodes kemu has nothing true to put in are left out (memory sizes, vnode
  and file tables, cp_time, tunables such as maxvnodes and maxproc whose
  variables are not per machine).
"""

from __future__ import annotations

import ctypes
from typing import Any

from kern.cpu import curmachine
from kern.errno import EOPNOTSUPP, EPERM
from kern.kern_sysctl import (
    CTL_EOL,
    CTL_HW,
    CTL_KERN,
    CTLFLAG_IMMEDIATE,
    CTLFLAG_PERMANENT,
    CTLTYPE_INT,
    CTLTYPE_STRING,
    CTLTYPE_STRUCT,
    HW_ALIGNBYTES,
    HW_BYTEORDER,
    HW_MACHINE,
    HW_MACHINE_ARCH,
    HW_MODEL,
    HW_NCPU,
    HW_NCPUONLINE,
    HW_PAGESIZE,
    KERN_ARGMAX,
    KERN_BOOTTIME,
    KERN_CLOCKRATE,
    KERN_FSYNC,
    KERN_IOV_MAX,
    KERN_MAXPARTITIONS,
    KERN_MAXPHYS,
    KERN_MSGBUF,
    KERN_MSGBUFSIZE,
    KERN_NGROUPS,
    KERN_POSIX1,
    sysctl_copyout,
    sysctl_createv,
    sysctl_lookup,
    sysctl_relock,
    sysctl_unlock,
    sysctlnode,
)
from kern.kern_time import timespec
from kern.param import ARG_MAX, MAXPHYS, NGROUPS, PAGE_SIZE

_POSIX_VERSION = 200112
MAXPARTITIONS = 16          # amd64
IOV_MAX = 1024
BYTE_ORDER = 1234           # LITTLE_ENDIAN
ALIGNBYTES = 7              # amd64: _ALIGNBYTES (sizeof(long) - 1)
NCPU = 1                    # kemu runs one virtual CPU

machine = bytearray(b"amd64\0")
machine_arch = bytearray(b"x86_64\0")
cpu_model = bytearray(b"kemu virtual CPU\0")


class clockinfo(ctypes.Structure):
    """struct clockinfo (kern.clockrate)."""

    _fields_ = [("hz", ctypes.c_int), ("tick", ctypes.c_int), ("tickadj", ctypes.c_int),
                ("stathz", ctypes.c_int), ("profhz", ctypes.c_int)]


def _int(v: int) -> bytearray:
    return bytearray(ctypes.c_int(v))


async def sysctl_kern_setup() -> None:
    """The kern subtree nodes."""
    P, IMM = CTLFLAG_PERMANENT, CTLFLAG_IMMEDIATE
    await sysctl_createv(None, P | IMM, CTLTYPE_INT, "argmax",
                         "Maximum number of bytes of arguments to execve(2)", None, ARG_MAX,
                         None, 0, CTL_KERN, KERN_ARGMAX, CTL_EOL)
    await sysctl_createv(None, P, CTLTYPE_STRUCT, "clockrate", "Kernel clock rates",
                         sysctl_kern_clockrate, 0, None, ctypes.sizeof(clockinfo),
                         CTL_KERN, KERN_CLOCKRATE, CTL_EOL)
    await sysctl_createv(None, P | IMM, CTLTYPE_INT, "posix1version",
                         "Version of ISO/IEC 9945 (POSIX 1003.1) with which the operating "
                         "system attempts to comply", None, _POSIX_VERSION, None, 0,
                         CTL_KERN, KERN_POSIX1, CTL_EOL)
    await sysctl_createv(None, P | IMM, CTLTYPE_INT, "ngroups",
                         "Maximum number of supplemental groups", None, NGROUPS, None, 0,
                         CTL_KERN, KERN_NGROUPS, CTL_EOL)
    await sysctl_createv(None, P, CTLTYPE_STRUCT, "boottime", "System boot time",
                         sysctl_kern_boottime, 0, None, ctypes.sizeof(timespec),
                         CTL_KERN, KERN_BOOTTIME, CTL_EOL)
    await sysctl_createv(None, P | IMM, CTLTYPE_INT, "maxpartitions",
                         "Maximum number of partitions allowed per disk", None, MAXPARTITIONS,
                         None, 0, CTL_KERN, KERN_MAXPARTITIONS, CTL_EOL)
    await sysctl_createv(None, P, CTLTYPE_INT, "msgbufsize",
                         "Size of the kernel message buffer", sysctl_msgbuf, 0, None, 0,
                         CTL_KERN, KERN_MSGBUFSIZE, CTL_EOL)
    await sysctl_createv(None, P | IMM, CTLTYPE_INT, "fsync",
                         "Whether the POSIX 1003.1b File Synchronization Option is "
                         "available on this system", None, 1, None, 0,
                         CTL_KERN, KERN_FSYNC, CTL_EOL)
    await sysctl_createv(None, P | IMM, CTLTYPE_INT, "iov_max",
                         "Maximum number of iovec structures per process", None, IOV_MAX,
                         None, 0, CTL_KERN, KERN_IOV_MAX, CTL_EOL)
    await sysctl_createv(None, P, CTLTYPE_STRUCT, "msgbuf",
                         "Kernel message buffer", sysctl_msgbuf, 0, None, 0,
                         CTL_KERN, KERN_MSGBUF, CTL_EOL)
    await sysctl_createv(None, P | IMM, CTLTYPE_INT, "maxphys",
                         "Maximum raw I/O transfer size", None, MAXPHYS, None, 0,
                         CTL_KERN, KERN_MAXPHYS, CTL_EOL)


async def sysctl_hw_setup() -> None:
    """The hw subtree nodes."""
    P, IMM = CTLFLAG_PERMANENT, CTLFLAG_IMMEDIATE
    await sysctl_createv(None, P, CTLTYPE_STRING, "machine", "Machine class", None, 0,
                         machine, 0, CTL_HW, HW_MACHINE, CTL_EOL)
    await sysctl_createv(None, P, CTLTYPE_STRING, "model", "Machine model", None, 0,
                         cpu_model, 0, CTL_HW, HW_MODEL, CTL_EOL)
    await sysctl_createv(None, P, CTLTYPE_INT, "ncpu", "Number of CPUs configured", None, 0,
                         _int(NCPU), 0, CTL_HW, HW_NCPU, CTL_EOL)
    await sysctl_createv(None, P | IMM, CTLTYPE_INT, "byteorder", "System byte order", None,
                         BYTE_ORDER, None, 0, CTL_HW, HW_BYTEORDER, CTL_EOL)
    await sysctl_createv(None, P | IMM, CTLTYPE_INT, "pagesize", "Software page size", None,
                         PAGE_SIZE, None, 0, CTL_HW, HW_PAGESIZE, CTL_EOL)
    await sysctl_createv(None, P, CTLTYPE_STRING, "machine_arch", "Machine CPU class", None,
                         0, machine_arch, 0, CTL_HW, HW_MACHINE_ARCH, CTL_EOL)
    await sysctl_createv(None, P | IMM, CTLTYPE_INT, "alignbytes",
                         "Alignment constraint for all possible data types", None,
                         ALIGNBYTES, None, 0, CTL_HW, HW_ALIGNBYTES, CTL_EOL)
    await sysctl_createv(None, P, CTLTYPE_INT, "ncpuonline", "Number of CPUs online", None, 0,
                         _int(NCPU), 0, CTL_HW, HW_NCPUONLINE, CTL_EOL)


async def sysctl_kern_clockrate(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                                newp: Any, newlen: int, oname: list[int], l: Any,
                                rnode: sysctlnode) -> int:
    """kern.clockrate: a struct clockinfo assembled on the fly."""
    from kern.kern_synch import hz, tick

    clk = clockinfo()
    clk.tick = tick
    clk.tickadj = 240000 // (60 * hz)   # kern_clock.c's default
    clk.hz = hz
    clk.profhz = hz                     # no separate statistics/profiling clock
    clk.stathz = hz
    node = rnode.copy()
    node.sysctl_data = bytearray(clk)
    return await sysctl_lookup(name, namelen, oldp, oldlenp, newp, newlen, oname, l, node)


async def sysctl_kern_boottime(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                               newp: Any, newlen: int, oname: list[int], l: Any,
                               rnode: sysctlnode) -> int:
    """kern.boottime: the struct timespec the machine booted at (on its clock)."""
    bt = timespec(*divmod(curmachine().boottime_ns, 1_000_000_000))
    node = rnode.copy()
    node.sysctl_data = bytearray(bt)
    return await sysctl_lookup(name, namelen, oldp, oldlenp, newp, newlen, oname, l, node)


async def sysctl_msgbuf(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                        newp: Any, newlen: int, oname: list[int], l: Any,
                        rnode: sysctlnode) -> int:
    """kern.msgbufsize and kern.msgbuf."""
    msgbuf = curmachine().dmesg().encode("utf-8", "replace")
    msg_bufs = len(msgbuf)
    if rnode.sysctl_num == KERN_MSGBUFSIZE:
        node = rnode.copy()
        node.sysctl_data = _int(msg_bufs)
        return await sysctl_lookup(name, namelen, oldp, oldlenp, newp, newlen, oname, l, node)
    if rnode.sysctl_num != KERN_MSGBUF:
        return EOPNOTSUPP
    if newp:
        return EPERM
    if not oldp:
        # always return the full buffer size
        oldlenp[0] = msg_bufs
        return 0
    sysctl_unlock()
    try:
        maxlen = min(msg_bufs, oldlenp[0])
        return sysctl_copyout(l, bytearray(msgbuf[:maxlen]), oldp, maxlen)
    finally:
        await sysctl_relock()
