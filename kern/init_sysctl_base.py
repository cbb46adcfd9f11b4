"""The sysctl base nodes: a port of NetBSD's sys/kern/init_sysctl_base.c 1.3.

``sysctl_basenode_init`` makes the top-level nodes (kern, vm, vfs, net,
debug, hw, machdep, user, ddb, proc, vendor, emul, security);
``sysctl_kernbase_setup`` the kern.* nodes every kernel has: ostype,
osrelease, osrevision, version, hostname, domainname, rawpartition.

The kernel variables (``ostype``, ``osrelease``, ``version``: vers.c;
``hostname``/``domainname``: kern_sysctl.c) are per machine here.  kemu
calls itself NetBSD 8.0: the release whose fss.c and puffs it runs; the
version string names kemu and the machine's configuration.

Deviation: the recorded lengths ``hostnamelen``/``domainnamelen`` that
sysctl_setlen keeps are per machine too.
"""

from __future__ import annotations

from typing import Any

from kern._version import __version__
from kern.cpu import MachineLocal, curmachine
from kern.kern_sysctl import (
    CTL_DDB,
    CTL_DEBUG,
    CTL_EMUL,
    CTL_EOL,
    CTL_HW,
    CTL_KERN,
    CTL_MACHDEP,
    CTL_NET,
    CTL_PROC,
    CTL_SECURITY,
    CTL_USER,
    CTL_VENDOR,
    CTL_VFS,
    CTL_VM,
    CTLFLAG_IMMEDIATE,
    CTLFLAG_PERMANENT,
    CTLFLAG_READWRITE,
    CTLTYPE_INT,
    CTLTYPE_NODE,
    CTLTYPE_STRING,
    KERN_DOMAINNAME,
    KERN_HOSTNAME,
    KERN_OSRELEASE,
    KERN_OSREV,
    KERN_OSTYPE,
    KERN_RAWPARTITION,
    KERN_VERSION,
    sysctl_createv,
    sysctl_lookup,
    sysctlnode,
)
from kern.param import MAXHOSTNAMELEN

OSTYPE = "NetBSD"
OSRELEASE = "8.0"
__NetBSD_Version__ = 800000000      # 8.0
RAW_PART = 3                        # amd64: 'd' is the whole disk
DEFAULT_HOSTNAME = "kemu"


def _cstring(s: str, size: int | None = None) -> bytearray:
    b = s.encode() + b"\0"
    return bytearray(b if size is None else b.ljust(size, b"\0"))


class _KernVars:
    """vers.c's ostype, osrelease, version and kern_sysctl.c's host names."""

    def __init__(self) -> None:
        config = curmachine().config.name
        self.ostype = _cstring(OSTYPE)
        self.osrelease = _cstring(OSRELEASE)
        self.version = _cstring(f"{OSTYPE} {OSRELEASE} ({config}) #0: kemu {__version__}\n")
        self.hostname = _cstring(DEFAULT_HOSTNAME, MAXHOSTNAMELEN)
        self.hostnamelen = len(DEFAULT_HOSTNAME)
        self.domainname = bytearray(MAXHOSTNAMELEN)
        self.domainnamelen = 0


kernvars: MachineLocal[_KernVars] = MachineLocal(_KernVars, "kernel version and host names")


async def sysctl_basenode_init() -> None:
    """Set up the base nodes."""
    for num, name, descr, extra in (
            (CTL_KERN, "kern", "High kernel", 0),
            (CTL_VM, "vm", "Virtual memory", 0),
            (CTL_VFS, "vfs", "Filesystem", 0),
            (CTL_NET, "net", "Networking", 0),
            (CTL_DEBUG, "debug", "Debugging", 0),
            (CTL_HW, "hw", "Generic CPU, I/O", 0),
            (CTL_MACHDEP, "machdep", "Machine dependent", 0),
            # this node is inserted so that the sysctl nodes in libc can operate.
            (CTL_USER, "user", "User-level", 0),
            (CTL_DDB, "ddb", "In-kernel debugger", 0),
            (CTL_PROC, "proc", "Per-process", 0),
            (CTL_VENDOR, "vendor", "Vendor specific", CTLFLAG_READWRITE),
            (CTL_EMUL, "emul", "Emulation settings", 0),
            (CTL_SECURITY, "security", "Security", 0)):
        await sysctl_createv(None, CTLFLAG_PERMANENT | extra, CTLTYPE_NODE, name, descr,
                             None, 0, None, 0, num, CTL_EOL)


async def sysctl_kernbase_setup() -> None:
    """The kern.* nodes that rump kernels and NetBSD both have."""
    kv = kernvars()
    await sysctl_createv(None, CTLFLAG_PERMANENT, CTLTYPE_STRING, "ostype",
                         "Operating system type", None, 0, kv.ostype, 0,
                         CTL_KERN, KERN_OSTYPE, CTL_EOL)
    await sysctl_createv(None, CTLFLAG_PERMANENT, CTLTYPE_STRING, "osrelease",
                         "Operating system release", None, 0, kv.osrelease, 0,
                         CTL_KERN, KERN_OSRELEASE, CTL_EOL)
    await sysctl_createv(None, CTLFLAG_PERMANENT | CTLFLAG_IMMEDIATE, CTLTYPE_INT, "osrevision",
                         "Operating system revision", None, __NetBSD_Version__, None, 0,
                         CTL_KERN, KERN_OSREV, CTL_EOL)
    await sysctl_createv(None, CTLFLAG_PERMANENT, CTLTYPE_STRING, "version",
                         "Kernel version", None, 0, kv.version, 0,
                         CTL_KERN, KERN_VERSION, CTL_EOL)
    await sysctl_createv(None, CTLFLAG_PERMANENT | CTLFLAG_READWRITE, CTLTYPE_STRING, "hostname",
                         "System hostname", sysctl_setlen, 0, kv.hostname, MAXHOSTNAMELEN,
                         CTL_KERN, KERN_HOSTNAME, CTL_EOL)
    await sysctl_createv(None, CTLFLAG_PERMANENT | CTLFLAG_READWRITE, CTLTYPE_STRING,
                         "domainname", "YP domain name", sysctl_setlen, 0, kv.domainname,
                         MAXHOSTNAMELEN, CTL_KERN, KERN_DOMAINNAME, CTL_EOL)
    await sysctl_createv(None, CTLFLAG_PERMANENT | CTLFLAG_IMMEDIATE, CTLTYPE_INT, "rawpartition",
                         "Raw partition of a disk", None, RAW_PART, None, 0,
                         CTL_KERN, KERN_RAWPARTITION, CTL_EOL)


async def sysctl_setlen(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                        newp: Any, newlen: int, oname: list[int], l: Any,
                        rnode: sysctlnode) -> int:
    """kern.hostname, kern.domainname: keep the recorded length when the name changes."""
    error = await sysctl_lookup(name, namelen, oldp, oldlenp, newp, newlen, oname, l, rnode)
    if error or not newp:
        return error
    assert rnode.sysctl_data is not None
    n = bytes(rnode.sysctl_data).find(b"\0")
    if rnode.sysctl_num == KERN_HOSTNAME:
        kernvars().hostnamelen = n
    elif rnode.sysctl_num == KERN_DOMAINNAME:
        kernvars().domainnamelen = n
    return 0
