"""The sysctl(2) tree: a port of NetBSD's sys/kern/kern_sysctl.c, read at 1.257
(2015/08/24, NetBSD 7.99).

The kernel keeps its tunables and its read-only facts in a tree of
``sysctlnode``s.  Kernel code adds nodes with ``sysctl_createv`` (the
setup routines of init_sysctl_base.py, init_sysctl.py, kern_proc.py run
at boot, like NetBSD's ``sysctl_funcs`` link set); userland walks the
tree with ``__sysctl`` (202): a MIB (a list of ints) names a node, a
``CTL_QUERY`` as the last component lists a node's children, and
``CTL_DESCRIBE`` their descriptions.  ``sysctl_dispatch`` finds the node
(``sysctl_locate``) and calls its helper function, or ``sysctl_lookup``,
which copies the value out and, for a writable node and root, the new one
in.  What sysctl(8), ps(1), uname(3) and dmesg(8) see comes from here.

Everything is per machine: the tree, its lock (``sysctl_treelock``, a
krwlock taken for writing when the request carries a new value) and the
kernel variables the nodes point at (hostname, domainname).

Representation (the C memory model in Python):

* a node's ``sysctl_data`` is kernel memory: a ``bytearray`` (strings are
  NUL-terminated in it, ints are 4 little-endian bytes, ...).  Helper
  functions that build a value on the fly copy the node and point the copy
  at a temporary buffer, as the C helpers do with ``node.sysctl_data =
  &value``;
* immediate values (CTLFLAG_IMMEDIATE) live in ``sysctl_qdata``
  (``sysctl_idata``/``sysctl_bdata`` are views of it, as in C's union);
* children are a Python list (``sysctl_child``; ``sysctl_csize`` is kept
  as the allocation size the C code would have, doubling from
  SYSCTL_DEFSIZE);
* a helper ``sysctl_func`` is ``async def fn(name, namelen, oldp, oldlenp,
  newp, newlen, oname, l, rnode) -> errno``: ``name`` and ``oname`` are
  lists (``name + ni`` becomes ``name[ni:]``), ``oldlenp`` a one-element
  list (``*oldlenp``), ``oldp``/``newp`` user addresses (0 is NULL) when
  ``l`` is an lwp, kernel buffers when ``l`` is None (sysctl_copyin/out
  use copyin/copyout or kcopy accordingly, as in C).

What crosses to userland is ``struct sysctlnode`` with NetBSD's LP64
layout (96 bytes, ``struct_sysctlnode`` below) and ``struct sysctldesc``.

Deviations:

* built as with ``options SYSCTL_DISALLOW_CREATE``: a process cannot add,
  remove or describe nodes (CTL_CREATE, CTL_DESTROY and setting a
  description answer EPERM), so the user halves of sysctl_create and
  sysctl_destroy are not here; nothing in kemu removes nodes yet, so
  sysctl_destroyv, sysctl_teardown and the sysctllog are not ported
  (``sysctl_createv`` takes no log);
* kernel addresses are not disclosed: the pointers of an exported node are
  0, except ``sysctl_func``, which is a stable nonzero token when the node
  has a helper (sysctl -M prints it);
* no emulation overlays (``e_sysctlovly``), no ktrace of MIB I/O, no
  CTL_CREATESYM (no ksyms), no rnd_add_data on writes;
* kauth: "may modify" and "may see private nodes" are "is root"
  (kauth_cred_issuser), the policy secmodel_suser applies.
* sysctl_create checks a new node's name (its first SYSCTL_NAMELEN
  characters) with one pattern match instead of NetBSD's loop over the
  characters: the same characters pass (ASCII letters and digits, '-', '_'),
  the same names get EINVAL (a speed change: the boot makes ~40 nodes).
* ``sysctl_locate``'s and ``sysctl_create``'s KASSERTs on the tree lock
  test their condition inline and call KASSERT (the same panic and
  message) only when it fails.
* On the path of a node's creation (sysctl_createv, sysctl_lock/unlock,
  sysctl_locate, sysctl_create, sysctl_cvt_in/out) the SYSCTL_VERS,
  SYSCTL_TYPE and SYSCTL_FLAGS macros are written out as their masks, and
  the tree and its lock are read from the machine's state without the
  ``sysctl_root()``/``_treelock()`` calls (the boot makes ~40 nodes); the
  in-line KASSERTs' tests keep ``_treelock()``, the exact negation of their
  assertion, so that the panic names what NetBSD's does.
* sysctl_lock's rw_enter calls pass a ``lock_site`` kept at module level
  for that call (kern_mutex's ``at``, kemu's): lockdebug's site is looked
  up once, not with a frame lookup at every call; the same sites and
  reports.
"""

from __future__ import annotations

import ctypes
import re
import zlib
from collections.abc import Awaitable, Callable
from typing import Any

from kern.cpu import MachineLocal, curlwp
from kern.errno import (
    EEXIST,
    EINVAL,
    ENAMETOOLONG,
    ENOENT,
    ENOMEM,
    ENOTDIR,
    EOPNOTSUPP,
    EPERM,
)
from kern.kern_rwlock import (
    RW_READER,
    RW_WRITER,
    krwlock_t,
    rw_enter,
    rw_exit,
    rw_init,
    rw_lock_held,
    rw_write_held,
)
from kern.subr_copy import copyin, copyout, kcopy
from kern.subr_lockdebug import lock_site
from kern.subr_prf import KASSERT, printf

# ------------------------------------------------------------------ sys/sysctl.h

CTL_MAXNAME = 12        # largest number of components supported
SYSCTL_NAMELEN = 32     # longest name allowed for a node
CREATE_BASE = 1024      # start of dynamic mib allocation
SYSCTL_DEFSIZE = 8      # initial size of a child set

CTLTYPE_NODE = 1
CTLTYPE_INT = 2
CTLTYPE_STRING = 3
CTLTYPE_QUAD = 4
CTLTYPE_STRUCT = 5
CTLTYPE_BOOL = 6

CTLFLAG_READONLY = 0x00000000
CTLFLAG_READWRITE = 0x00000070
CTLFLAG_ANYWRITE = 0x00000080
CTLFLAG_PRIVATE = 0x00000100
CTLFLAG_PERMANENT = 0x00000200
CTLFLAG_OWNDATA = 0x00000400
CTLFLAG_IMMEDIATE = 0x00000800
CTLFLAG_HEX = 0x00001000
CTLFLAG_ROOT = 0x00002000
CTLFLAG_ANYNUMBER = 0x00004000
CTLFLAG_HIDDEN = 0x00008000
CTLFLAG_ALIAS = 0x00010000
CTLFLAG_MMAP = 0x00020000
CTLFLAG_OWNDESC = 0x00040000
CTLFLAG_UNSIGNED = 0x00080000

SYSCTL_VERS_MASK = 0xff000000
SYSCTL_VERS_0 = 0x00000000
SYSCTL_VERS_1 = 0x01000000
SYSCTL_VERSION = SYSCTL_VERS_1
SYSCTL_TYPEMASK = 0x0000000f
SYSCTL_FLAGMASK = 0x00fffff0
SYSCTL_USERFLAGS = (CTLFLAG_READWRITE | CTLFLAG_ANYWRITE | CTLFLAG_PRIVATE | CTLFLAG_OWNDATA
                    | CTLFLAG_IMMEDIATE | CTLFLAG_HEX | CTLFLAG_HIDDEN)

CTL_EOL = -1
CTL_QUERY = -2
CTL_CREATE = -3
CTL_CREATESYM = -4
CTL_DESTROY = -5
CTL_MMAP = -6
CTL_DESCRIBE = -7

CTL_UNSPEC = 0
CTL_KERN = 1
CTL_VM = 2
CTL_VFS = 3
CTL_NET = 4
CTL_DEBUG = 5
CTL_HW = 6
CTL_MACHDEP = 7
CTL_USER = 8
CTL_DDB = 9
CTL_PROC = 10
CTL_VENDOR = 11
CTL_EMUL = 12
CTL_SECURITY = 13

# CTL_KERN identifiers (the ones kemu has nodes for, and their neighbours)
KERN_OSTYPE = 1
KERN_OSRELEASE = 2
KERN_OSREV = 3
KERN_VERSION = 4
KERN_MAXPROC = 6
KERN_ARGMAX = 8
KERN_HOSTNAME = 10
KERN_CLOCKRATE = 12
KERN_POSIX1 = 17
KERN_NGROUPS = 18
KERN_DOMAINNAME = 22
KERN_MAXPARTITIONS = 23
KERN_RAWPARTITION = 24
KERN_MSGBUFSIZE = 31
KERN_FSYNC = 32
KERN_IOV_MAX = 38
KERN_PROC2 = 47
KERN_PROC_ARGS = 48
KERN_MSGBUF = 53
KERN_MAXPHYS = 57
KERN_BOOTTIME = 83

# CTL_HW identifiers
HW_MACHINE = 1
HW_MODEL = 2
HW_NCPU = 3
HW_BYTEORDER = 4
HW_PAGESIZE = 7
HW_MACHINE_ARCH = 10
HW_ALIGNBYTES = 11
HW_NCPUONLINE = 16

# sys/lwp.h: the lwp holds the tree lock for writing
LP_SYSCTLWRITE = 0x00000080


SysctlFn = Callable[..., Awaitable[int]]


class _suc_child(ctypes.Structure):
    _fields_ = [("suc_csize", ctypes.c_uint32), ("suc_clen", ctypes.c_uint32),
                ("suc_child", ctypes.c_uint64)]


class _sud_data(ctypes.Structure):
    _fields_ = [("sud_data", ctypes.c_uint64), ("sud_offset", ctypes.c_uint64)]


class _sysctl_un(ctypes.Union):
    _fields_ = [("scu_child", _suc_child), ("scu_data", _sud_data),
                ("scu_alias", ctypes.c_int32), ("scu_idata", ctypes.c_int32),
                ("scu_qdata", ctypes.c_uint64), ("scu_bdata", ctypes.c_bool)]


class struct_sysctlnode(ctypes.Structure):
    """struct sysctlnode as userland sees it (LP64: 96 bytes, pointers padded to 8)."""

    _fields_ = [("sysctl_flags", ctypes.c_uint32), ("sysctl_num", ctypes.c_int32),
                ("sysctl_name", ctypes.c_char * SYSCTL_NAMELEN),
                ("sysctl_ver", ctypes.c_uint32), ("__rsvd", ctypes.c_uint32),
                ("sysctl_un", _sysctl_un),
                ("sysctl_size", ctypes.c_uint64), ("sysctl_func", ctypes.c_uint64),
                ("sysctl_parent", ctypes.c_uint64), ("sysctl_desc", ctypes.c_uint64)]

    @property
    def sysctl_csize(self) -> int:
        return self.sysctl_un.scu_child.suc_csize

    @property
    def sysctl_clen(self) -> int:
        return self.sysctl_un.scu_child.suc_clen

    @property
    def sysctl_idata(self) -> int:
        return self.sysctl_un.scu_idata

    @property
    def sysctl_qdata(self) -> int:
        return self.sysctl_un.scu_qdata

    @property
    def sysctl_alias(self) -> int:
        return self.sysctl_un.scu_alias


class sysctldesc_hdr(ctypes.Structure):
    """The fixed head of struct sysctldesc; ``descr_str`` (descr_len bytes, NUL
    included, rounded up to 4) follows it."""

    _fields_ = [("descr_num", ctypes.c_int32), ("descr_ver", ctypes.c_uint32),
                ("descr_len", ctypes.c_uint32)]


def __sysc_desc_roundup(x: int) -> int:
    return ((x - 1) | 3) + 1


def __sysc_desc_len(n: int) -> int:
    """Size of a sysctldesc whose string is ``n`` bytes long."""
    return ctypes.sizeof(sysctldesc_hdr) + __sysc_desc_roundup(n)


def SYSCTL_VERS(f: int) -> int:
    return f & SYSCTL_VERS_MASK


def SYSCTL_TYPE(f: int) -> int:
    return f & SYSCTL_TYPEMASK


def SYSCTL_FLAGS(f: int) -> int:
    return f & SYSCTL_FLAGMASK


_SIZEOF = {CTLTYPE_INT: 4, CTLTYPE_QUAD: 8, CTLTYPE_BOOL: 1}
SIZEOF_SYSCTLNODE = ctypes.sizeof(struct_sysctlnode)


class sysctlnode:
    """A node of the kernel's tree (kernel memory; see the module docstring)."""

    __slots__ = ("sysctl_flags", "sysctl_num", "sysctl_name", "sysctl_ver", "sysctl_csize",
                 "sysctl_clen", "sysctl_child", "sysctl_data", "sysctl_alias", "sysctl_qdata",
                 "sysctl_size", "sysctl_func", "sysctl_parent", "sysctl_desc")

    def __init__(self) -> None:
        self.sysctl_flags = 0
        self.sysctl_num = 0
        self.sysctl_name = ""
        self.sysctl_ver = 0
        self.sysctl_csize = 0
        self.sysctl_clen = 0
        self.sysctl_child: list[sysctlnode] | None = None
        self.sysctl_data: bytearray | None = None
        self.sysctl_alias = 0
        self.sysctl_qdata = 0
        self.sysctl_size = 0
        self.sysctl_func: SysctlFn | None = None
        self.sysctl_parent: sysctlnode | None = None
        self.sysctl_desc: str | None = None

    @property
    def sysctl_idata(self) -> int:
        v = self.sysctl_qdata & 0xffffffff
        return v - (1 << 32) if v & 0x80000000 else v

    @sysctl_idata.setter
    def sysctl_idata(self, v: int) -> None:
        self.sysctl_qdata = v & 0xffffffff

    @property
    def sysctl_bdata(self) -> bool:
        return bool(self.sysctl_qdata & 0xff)

    @sysctl_bdata.setter
    def sysctl_bdata(self, v: bool) -> None:
        self.sysctl_qdata = 1 if v else 0

    def copy(self) -> sysctlnode:
        """``node = *rnode`` (a shallow struct copy: every member, as __slots__ lists them)."""
        n = _new_node(sysctlnode)
        n.sysctl_flags = self.sysctl_flags
        n.sysctl_num = self.sysctl_num
        n.sysctl_name = self.sysctl_name
        n.sysctl_ver = self.sysctl_ver
        n.sysctl_csize = self.sysctl_csize
        n.sysctl_clen = self.sysctl_clen
        n.sysctl_child = self.sysctl_child
        n.sysctl_data = self.sysctl_data
        n.sysctl_alias = self.sysctl_alias
        n.sysctl_qdata = self.sysctl_qdata
        n.sysctl_size = self.sysctl_size
        n.sysctl_func = self.sysctl_func
        n.sysctl_parent = self.sysctl_parent
        n.sysctl_desc = self.sysctl_desc
        return n

    def __repr__(self) -> str:
        t = SYSCTL_TYPE(self.sysctl_flags)
        return f"<sysctlnode {self.sysctl_name} ({self.sysctl_num}) type {t}>"


_new_node = object.__new__  # (copy: every member is assigned, __init__'s defaults unneeded)


def _func_token(fn: Any) -> int:
    """What an exported node shows for its helper's address: nonzero, stable."""
    if fn is None:
        return 0
    name = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
    return 0xffffffff80000000 | (zlib.crc32(name.encode()) & 0x7ffffff0)


def _export(node: sysctlnode) -> struct_sysctlnode:
    """The user image of a kernel node (kernel pointers withheld, see above)."""
    u = struct_sysctlnode()
    u.sysctl_flags = node.sysctl_flags
    u.sysctl_num = node.sysctl_num
    u.sysctl_name = node.sysctl_name.encode()[:SYSCTL_NAMELEN - 1]
    u.sysctl_ver = node.sysctl_ver
    t = SYSCTL_TYPE(node.sysctl_flags)
    if t == CTLTYPE_NODE:
        if node.sysctl_flags & CTLFLAG_ALIAS:
            u.sysctl_un.scu_alias = node.sysctl_alias
        else:
            u.sysctl_un.scu_child.suc_csize = node.sysctl_csize
            u.sysctl_un.scu_child.suc_clen = node.sysctl_clen
    elif node.sysctl_flags & CTLFLAG_IMMEDIATE:
        u.sysctl_un.scu_qdata = node.sysctl_qdata
    u.sysctl_size = node.sysctl_size
    u.sysctl_func = _func_token(node.sysctl_func)
    return u


# ------------------------------------------------------------------ per-machine state

class _SysctlState:
    def __init__(self) -> None:
        root = sysctlnode()
        root.sysctl_flags = SYSCTL_VERSION | CTLFLAG_ROOT | CTLFLAG_READWRITE | CTLTYPE_NODE
        root.sysctl_num = 0
        root.sysctl_size = SIZEOF_SYSCTLNODE
        root.sysctl_name = "(root)"
        self.sysctl_root = root
        self.sysctl_treelock = krwlock_t()
        rw_init(self.sysctl_treelock)


_state: MachineLocal[_SysctlState] = MachineLocal(_SysctlState, "sysctl tree")


def sysctl_root() -> sysctlnode:
    """The root of the current machine's tree."""
    return _state().sysctl_root


def _treelock() -> krwlock_t:
    return _state().sysctl_treelock


# ------------------------------------------------------------------ section 0: glue

def sysctl_copyin(l: Any, uaddr: Any, kaddr: Any, len: int) -> int:
    if l is not None:
        return copyin(uaddr, kaddr, len)
    return kcopy(uaddr, kaddr, len)


def sysctl_copyout(l: Any, kaddr: Any, uaddr: Any, len: int) -> int:
    if l is not None:
        return copyout(kaddr, uaddr, len)
    return kcopy(kaddr, uaddr, len)


def _issuser(l: Any) -> bool:
    from kern.kern_auth import kauth_cred_issuser

    return kauth_cred_issuser(l.l_cred)


# ------------------------------------------------------------------ init

async def sysctl_init(machine: Any) -> None:
    """Boot hook: the tree, the base nodes, then every setup routine
    (NetBSD's sysctl_funcs link set, here a fixed list)."""
    from kern.init_sysctl import sysctl_hw_setup, sysctl_kern_setup
    from kern.init_sysctl_base import sysctl_basenode_init, sysctl_kernbase_setup
    from kern.kern_proc import sysctl_proc_setup

    # dynamic mib numbers start here
    sysctl_root().sysctl_num = CREATE_BASE
    await sysctl_basenode_init()
    for setup in (sysctl_kernbase_setup, sysctl_kern_setup, sysctl_hw_setup,
                  sysctl_proc_setup):
        await setup()
    sysctl_finalize()


def sysctl_finalize() -> None:
    """No more permanent nodes from now on (the end of kernel init)."""
    sysctl_root().sysctl_flags |= CTLFLAG_PERMANENT


# ------------------------------------------------------------------ the system call

async def sys___sysctl(l: Any, uap: Any, retval: list[int]) -> int:
    # get oldlen
    oldlen = [0]
    if uap.oldlenp:
        lb = ctypes.c_uint64()
        error = copyin(uap.oldlenp, lb, 8)
        if error:
            return error
        oldlen[0] = lb.value
    savelen = oldlen[0]

    # top-level sysctl names may or may not be non-terminal, but we don't care
    if uap.namelen > CTL_MAXNAME or uap.namelen < 1:
        return EINVAL
    raw = (ctypes.c_int * uap.namelen)()
    error = copyin(uap.name, raw, ctypes.sizeof(raw))
    if error:
        return error
    name = list(raw)

    await sysctl_lock(uap.newv != 0)
    # do sysctl work (None means the main built-in tree)
    error = await sysctl_dispatch(name, uap.namelen, uap.oldv, oldlen, uap.newv, uap.newlen,
                                  name, l, None)
    sysctl_unlock()

    # set the caller's oldlen even in the face of an error (if this gets an
    # error and they didn't have one, they get this one)
    if uap.oldlenp:
        nerror = copyout(ctypes.c_uint64(oldlen[0]), uap.oldlenp, 8)
        if error == 0:
            error = nerror

    # if the only problem is that we weren't given enough space, that's ENOMEM
    if error == 0 and uap.oldv and savelen < oldlen[0]:
        error = ENOMEM
    return error


# ------------------------------------------------------------------ section 1: using the tree

_sysctl_rlock_site = lock_site()
_sysctl_wlock_site = lock_site()


async def sysctl_lock(write: bool) -> None:
    l = curlwp()
    if write:
        await rw_enter(_state().sysctl_treelock, RW_WRITER, at=_sysctl_wlock_site)
        l.l_pflag |= LP_SYSCTLWRITE
    else:
        await rw_enter(_state().sysctl_treelock, RW_READER, at=_sysctl_rlock_site)
        l.l_pflag &= ~LP_SYSCTLWRITE


async def sysctl_relock() -> None:
    if curlwp().l_pflag & LP_SYSCTLWRITE:
        await rw_enter(_treelock(), RW_WRITER)
    else:
        await rw_enter(_treelock(), RW_READER)


def sysctl_unlock() -> None:
    rw_exit(_state().sysctl_treelock)


async def sysctl_dispatch(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                          newp: Any, newlen: int, oname: list[int], l: Any,
                          rnode: sysctlnode | None) -> int:
    """Scan the tree and pick a function to call based on what is found."""
    KASSERT(rw_lock_held(_treelock()))
    if rnode is not None and SYSCTL_VERS(rnode.sysctl_flags) != SYSCTL_VERSION:
        printf("sysctl_dispatch: rnode %s wrong version\n", rnode.sysctl_name)
        return EINVAL

    fn: Any = None
    error, rnode, ni = sysctl_locate(l, name, namelen, rnode)
    if rnode.sysctl_func is not None:
        # the node we ended up at has a function, so call it.  it can hand
        # off to query or create if it wants to.
        fn = rnode.sysctl_func
    elif error == 0:
        # we found the node they were looking for, so do a lookup.
        fn = sysctl_lookup
    elif error == ENOENT and (ni + 1) == namelen and name[ni] < 0:
        # prospective parent node found, but the terminal node was not.
        # generic operations associate with the parent.
        op = name[ni]
        if op == CTL_QUERY:
            fn = sysctl_query
        elif op == CTL_CREATE:
            if not newp:
                error = EINVAL
            else:
                KASSERT(rw_write_held(_treelock()))
                fn = sysctl_create
        elif op == CTL_DESTROY:
            if not newp:
                error = EINVAL
            else:
                KASSERT(rw_write_held(_treelock()))
                fn = sysctl_destroy
        elif op == CTL_MMAP:
            fn = sysctl_mmap
        elif op == CTL_DESCRIBE:
            fn = sysctl_describe
        else:
            error = EOPNOTSUPP

    # after all of that, maybe we found someone who knows how to get us
    # what we want?
    if fn is not None:
        error = await fn(name[ni:], namelen - ni, oldp, oldlenp, newp, newlen, oname, l, rnode)
    elif error == 0:
        error = EOPNOTSUPP
    return error


# ------------------------------------------------------------------ section 2: the tree

def sysctl_locate(l: Any, name: list[int], namelen: int,
                  rnode: sysctlnode | None) -> tuple[int, sysctlnode, int]:
    """Find the node matching ``name`` under ``rnode`` (the root when None).

    Returns ``(error, node, ni)``: the deepest node reached and how many
    components of the mib were consumed.
    """
    if not rw_lock_held(_treelock()):  # (the KASSERT's call only when it fails)
        KASSERT(rw_lock_held(_treelock()))
    if rnode is None:
        rnode = _state().sysctl_root
    if namelen == 0:
        return 0, rnode, 0

    # search starts from "root"
    pnode = rnode
    if (pnode.sysctl_flags & SYSCTL_VERS_MASK) != SYSCTL_VERSION:
        printf("sysctl_locate: pnode %s wrong version\n", pnode.sysctl_name)
        return EINVAL, rnode, 0
    node = pnode.sysctl_child
    error = 0

    # scan for the node to which the new node should be attached
    ni = 0
    while ni < namelen:
        # walked off bottom of tree
        if node is None:
            error = ENOENT if (pnode.sysctl_flags & SYSCTL_TYPEMASK) == CTLTYPE_NODE else ENOTDIR
            break
        # can anyone traverse this node or only root?
        if l is not None and pnode.sysctl_flags & CTLFLAG_PRIVATE and not _issuser(l):
            return EPERM, pnode, ni
        # find a child node with the right number
        tn = name[ni]
        alias = 0
        si = 0
        found = None
        # CTLFLAG_ANYNUMBER only matches positive integers, on single-node subtrees
        if node and node[0].sysctl_flags & CTLFLAG_ANYNUMBER and tn >= 0:
            found = 0
        else:
            while si < pnode.sysctl_clen:
                if node[si].sysctl_num == tn:
                    if node[si].sysctl_flags & CTLFLAG_ALIAS:
                        if alias == 4:
                            break
                        alias += 1
                        tn = node[si].sysctl_alias
                        si = 0
                        continue
                    found = si
                    break
                si += 1
        if found is None:
            # if we ran off the end, it obviously doesn't exist
            error = ENOENT
            break
        # so far so good, move on down the line
        pnode = node[found]
        node = pnode.sysctl_child \
            if (pnode.sysctl_flags & SYSCTL_TYPEMASK) == CTLTYPE_NODE else None
        ni += 1
    return error, pnode, ni


def sysctl_rootof(node: sysctlnode) -> sysctlnode:
    while node.sysctl_parent is not None:
        node = node.sysctl_parent
    return node


async def sysctl_query(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                       newp: Any, newlen: int, oname: list[int], l: Any,
                       rnode: sysctlnode) -> int:
    """The auto-discovery engine: copy out the nodes under ``rnode``."""
    KASSERT(rw_lock_held(_treelock()))
    if SYSCTL_VERS(rnode.sysctl_flags) != SYSCTL_VERSION:
        printf("sysctl_query: rnode %s wrong version\n", rnode.sysctl_name)
        return EINVAL
    if SYSCTL_TYPE(rnode.sysctl_flags) != CTLTYPE_NODE:
        return ENOTDIR
    if namelen != 1 or name[0] != CTL_QUERY:
        return EINVAL

    out = 0
    left = oldlenp[0]
    # translate the given request to a current node
    error, v, qnode = sysctl_cvt_in(l, newp, newlen)
    if error:
        return error
    # if the request specifies a version, check it
    if qnode.sysctl_ver != 0:
        if qnode.sysctl_ver != rnode.sysctl_ver and \
                qnode.sysctl_ver != sysctl_rootof(rnode).sysctl_ver:
            return EINVAL
    for onode in list(rnode.sysctl_child or ())[:rnode.sysctl_clen]:
        error, t = sysctl_cvt_out(l, v, onode, oldp, left)
        if error:
            return error
        if oldp:
            oldp += t
        out += t
        left -= min(left, t)
    oldlenp[0] = out
    return error


# sysctl_create's name check: ASCII letters and digits, '-' and '_'
_NAME_CHARS = re.compile(r"[0-9A-Za-z_-]*").fullmatch


async def sysctl_create(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                        newp: Any, newlen: int, oname: list[int], l: Any,
                        rnode: sysctlnode) -> int:
    """Add the node described by ``newp`` under ``rnode``; a copy of it (or of
    the node it collides with, with EEXIST) goes to ``oldp``."""
    if not rw_write_held(_treelock()):  # (the KASSERT's call only when it fails)
        KASSERT(rw_write_held(_treelock()))
    at = 0
    if (rnode.sysctl_flags & SYSCTL_VERS_MASK) != SYSCTL_VERSION:
        printf("sysctl_create: rnode %s wrong version\n", rnode.sysctl_name)
        return EINVAL
    if namelen != 1 or name[namelen - 1] != CTL_CREATE:
        return EINVAL
    # processes may not add nodes (SYSCTL_DISALLOW_CREATE)
    if l is not None:
        return EPERM
    # nothing can add a node if we've finished initial set up of this tree
    # and (the tree itself is not writeable or the entire sysctl system is
    # not writeable)
    root = _state().sysctl_root
    if sysctl_rootof(rnode).sysctl_flags & CTLFLAG_PERMANENT and \
            (not sysctl_rootof(rnode).sysctl_flags & CTLFLAG_READWRITE
             or not root.sysctl_flags & CTLFLAG_READWRITE):
        return EPERM
    # it must be a "node", not a "int" or something
    if (rnode.sysctl_flags & SYSCTL_TYPEMASK) != CTLTYPE_NODE:
        return ENOTDIR
    if rnode.sysctl_flags & CTLFLAG_ALIAS:
        printf("sysctl_create: attempt to add node to aliased node %s\n", rnode.sysctl_name)
        return EINVAL
    pnode = rnode                       # we are adding children to this node

    if newp is None:
        return EINVAL
    error, v, nnode = sysctl_cvt_in(l, newp, newlen)
    if error:
        return error
    # nodes passed in don't *have* parents
    if nnode.sysctl_parent is not None:
        return EINVAL
    # if we are indeed adding it, it should be a "good" name and number
    nm = nnode.sysctl_num
    if nm < 0 and nm != CTL_CREATE:
        return EINVAL
    # the name can't start with a digit, must be only alphanumerics or - or
    # _, longer than 0 bytes and shorter than SYSCTL_NAMELEN
    nname = nnode.sysctl_name
    if nname[:1].isdigit() and nname[:1].isascii():
        return EINVAL
    head = nname[:SYSCTL_NAMELEN]       # (the characters the loop looks at)
    if _NAME_CHARS(head) is None:
        return EINVAL
    nsz = len(head)
    if nsz == 0 or nsz == SYSCTL_NAMELEN:
        return EINVAL

    # various checks revolve around size vs type, etc
    type_ = nnode.sysctl_flags & SYSCTL_TYPEMASK
    flags = nnode.sysctl_flags & SYSCTL_FLAGMASK
    sz = nnode.sysctl_size

    # find out if there's a collision, and if so, let the caller know what
    # they collided with
    node = pnode.sysctl_child
    if node:
        if (flags | node[0].sysctl_flags) & CTLFLAG_ANYNUMBER:
            return EINVAL               # no siblings for a CTLFLAG_ANYNUMBER node
        for sib in node[:pnode.sysctl_clen]:      # node[ni], ni < sysctl_clen
            snum = sib.sysctl_num
            if nm == snum or nname == sib.sysctl_name:
                # ignore the error here, since we are already fixed on EEXIST
                sysctl_cvt_out(l, v, sib, oldp, oldlenp[0], oldlenp)
                return EEXIST
            if nm > snum:
                at += 1

    # use sysctl_ver to add to the tree iff it hasn't changed
    if nnode.sysctl_ver != 0:
        if nnode.sysctl_ver != sysctl_rootof(rnode).sysctl_ver and \
                nnode.sysctl_ver != rnode.sysctl_ver:
            return EINVAL

    # only the kernel can create permanent entries, and only before the
    # kernel is finished setting itself up
    if flags & CTLFLAG_PERMANENT & root.sysctl_flags:
        return EPERM
    if (flags & (CTLFLAG_OWNDATA | CTLFLAG_IMMEDIATE)) == (CTLFLAG_OWNDATA | CTLFLAG_IMMEDIATE):
        return EINVAL
    if flags & CTLFLAG_IMMEDIATE and type_ not in (CTLTYPE_INT, CTLTYPE_QUAD, CTLTYPE_BOOL):
        return EINVAL

    # check size, or set it if unset and we can figure it out.  kernel
    # created nodes are allowed to have a function instead of a size (or a
    # data pointer).
    anum = -1
    if type_ == CTLTYPE_NODE:
        if flags & CTLFLAG_ALIAS:
            anum = nnode.sysctl_alias
            if anum < 0:
                return EINVAL
            nnode.sysctl_alias = 0
        if sz != 0 or nnode.sysctl_data is not None:
            return EINVAL
        if nnode.sysctl_csize != 0 or nnode.sysctl_clen != 0 or nnode.sysctl_child is not None:
            return EINVAL
        if flags & CTLFLAG_OWNDATA:
            return EINVAL
        sz = SIZEOF_SYSCTLNODE
    elif type_ in (CTLTYPE_INT, CTLTYPE_QUAD, CTLTYPE_BOOL):
        # an int is an int: if the size is not given or is wrong, "int-uit" it
        if sz != 0 and sz != _SIZEOF[type_]:
            return EINVAL
        sz = _SIZEOF[type_]
    elif type_ == CTLTYPE_STRING:
        if sz == 0 and nnode.sysctl_func is None:
            if nnode.sysctl_data is None:
                return EINVAL
            d = bytes(nnode.sysctl_data)
            sz = (d.find(b"\0") if b"\0" in d else len(d)) + 1
    elif type_ == CTLTYPE_STRUCT:
        if sz == 0:
            if nnode.sysctl_func is None:
                return EINVAL
            if flags & CTLFLAG_OWNDATA:
                return EINVAL
    else:
        return EINVAL

    # at this point, if sz is zero, we *must* have a function to go with it
    own = None
    if type_ != CTLTYPE_NODE:
        if sz != 0:
            if flags & CTLFLAG_OWNDATA:
                own = bytearray(sz)
                if nnode.sysctl_data is not None:
                    error = sysctl_copyin(l, nnode.sysctl_data, own, sz)
                    if error:
                        return error
        elif nnode.sysctl_func is None:
            return EINVAL
    # the kernel can't create a node that has no function or data
    if nnode.sysctl_func is None:
        if type_ != CTLTYPE_NODE and nnode.sysctl_data is None and \
                not flags & CTLFLAG_IMMEDIATE and own is None:
            return EINVAL

    # make sure there's somewhere to put the new stuff
    if pnode.sysctl_child is None:
        sysctl_alloc(pnode, 1 if flags & CTLFLAG_ANYNUMBER else 0)
    node = pnode.sysctl_child
    assert node is not None

    # no collisions, so pick a good dynamic number if we need to
    if nm == CTL_CREATE:
        root.sysctl_num += 1
        nm = root.sysctl_num
        ni = 0
        while ni < pnode.sysctl_clen:
            if nm == node[ni].sysctl_num:
                nm += 1
                ni = 0
                continue
            if nm > node[ni].sysctl_num:
                at = ni + 1
            ni += 1

    # oops...ran out of space
    if pnode.sysctl_clen == pnode.sysctl_csize:
        sysctl_realloc(pnode)

    # insert new node data
    new = sysctlnode()
    new.sysctl_parent = pnode
    node.insert(at, new)
    pnode.sysctl_clen += 1

    new.sysctl_name = nname[:SYSCTL_NAMELEN - 1]
    new.sysctl_num = nm
    new.sysctl_size = sz
    new.sysctl_flags = SYSCTL_VERSION | type_ | flags
    new.sysctl_csize = 0
    new.sysctl_clen = 0
    if own is not None:
        new.sysctl_data = own
        new.sysctl_flags |= CTLFLAG_OWNDATA
    elif flags & CTLFLAG_ALIAS:
        new.sysctl_alias = anum
    elif flags & CTLFLAG_IMMEDIATE:
        new.sysctl_qdata = nnode.sysctl_qdata
    else:
        new.sysctl_data = nnode.sysctl_data
        new.sysctl_flags &= ~CTLFLAG_OWNDATA
    new.sysctl_func = nnode.sysctl_func
    new.sysctl_child = None

    # update "version" on path to "root"
    r = rnode
    while r.sysctl_parent is not None:
        r = r.sysctl_parent
    nv = r.sysctl_ver + 1
    p: sysctlnode | None = new
    while p is not None:
        p.sysctl_ver = nv
        p = p.sysctl_parent

    # if this fails, the node is already added - the user won't know!
    error, _ = sysctl_cvt_out(l, v, new, oldp, oldlenp[0], oldlenp)
    return error


async def sysctl_destroy(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                         newp: Any, newlen: int, oname: list[int], l: Any,
                         rnode: sysctlnode) -> int:
    """Remove a node: refused to processes (SYSCTL_DISALLOW_CREATE)."""
    KASSERT(rw_write_held(_treelock()))
    if SYSCTL_VERS(rnode.sysctl_flags) != SYSCTL_VERSION:
        printf("sysctl_destroy: rnode %s wrong version\n", rnode.sysctl_name)
        return EINVAL
    if namelen != 1 or name[namelen - 1] != CTL_DESTROY:
        return EINVAL
    if l is not None:
        return EPERM
    # the kernel's own removals (sysctl_destroyv, sysctl_teardown) are not ported:
    # nothing in kemu takes nodes away yet.
    return EOPNOTSUPP


def _node_bytes(rnode: sysctlnode) -> bytearray:
    """The memory sysctl_lookup reads and writes (``d`` in C)."""
    if rnode.sysctl_flags & CTLFLAG_IMMEDIATE:
        return bytearray(rnode.sysctl_qdata.to_bytes(8, "little"))
    assert rnode.sysctl_data is not None
    return rnode.sysctl_data


async def sysctl_lookup(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                        newp: Any, newlen: int, oname: list[int], l: Any,
                        rnode: sysctlnode) -> int:
    """Copy out the value of ``rnode`` and, when given, copy in a new one.
    Partial reads are allowed; only root writes unless the node says otherwise."""
    KASSERT(rw_lock_held(_treelock()))
    if SYSCTL_VERS(rnode.sysctl_flags) != SYSCTL_VERSION:
        printf("sysctl_lookup: rnode %s wrong version\n", rnode.sysctl_name)
        return EINVAL
    if newlen == 0:
        newp = None
    # you can't "look up" a node.  you can "query" it, but you can't "look it up".
    if SYSCTL_TYPE(rnode.sysctl_flags) == CTLTYPE_NODE or namelen != 0:
        return EINVAL
    # some nodes are private, so only root can look into them.
    if l is not None and rnode.sysctl_flags & CTLFLAG_PRIVATE and not _issuser(l):
        return EPERM
    # only root can write to stuff unless a flag is set
    if l is not None and newp and not rnode.sysctl_flags & CTLFLAG_ANYWRITE and \
            not _issuser(l):
        return EPERM
    # is this node supposedly writable?
    rw = bool(rnode.sysctl_flags & CTLFLAG_READWRITE)
    if not rw and newp:
        return EPERM

    # step one, copy out the stuff we have presently
    d = _node_bytes(rnode)
    if SYSCTL_TYPE(rnode.sysctl_flags) == CTLTYPE_STRING:
        n = d.find(b"\0")
        sz = (n if n >= 0 else len(d)) + 1
        if n < 0:
            d = d + b"\0"
    else:
        sz = rnode.sysctl_size
    if oldp:
        error = sysctl_copyout(l, d, oldp, min(sz, oldlenp[0]))
        if error:
            return error
    oldlenp[0] = sz

    # are we done?
    if not newp:
        return 0

    # not done: copy in the new value.  re-adjust sz to the maximum value
    # (strings are "weird").
    sz = rnode.sysctl_size
    t = SYSCTL_TYPE(rnode.sysctl_flags)
    error = 0
    if t == CTLTYPE_BOOL:
        # these data must be *exactly* the same size coming in.  bool may
        # only be true or false.
        if newlen != sz:
            return EINVAL
        tmp = bytearray(sz)
        error = sysctl_copyin(l, newp, tmp, sz)
        if error == 0:
            if tmp[0] not in (0, 1):
                return EINVAL
            d[:sz] = tmp
    elif t in (CTLTYPE_INT, CTLTYPE_QUAD, CTLTYPE_STRUCT):
        if newlen != sz:
            return EINVAL
        tmp = bytearray(sz)
        error = sysctl_copyin(l, newp, tmp, sz)
        if error == 0:
            d[:sz] = tmp
    elif t == CTLTYPE_STRING:
        # strings can be shorter, and userland may be sloppy about the NUL
        if newlen > sz:
            return EINVAL
        n = min(sz, newlen)
        newbuf = bytearray(n)
        error = sysctl_copyin(l, newp, newbuf, n)
        if error:
            return error
        # did they NUL terminate it, or do we have space left to do it ourselves?
        if newbuf[n - 1] != 0 and n == sz:
            return EINVAL
        # looks good, so pop it into place and zero the rest.
        d[:n] = newbuf
        if sz != n:
            d[n:sz] = bytes(sz - n)
    else:
        return EINVAL
    if error == 0 and rnode.sysctl_flags & CTLFLAG_IMMEDIATE:
        rnode.sysctl_qdata = int.from_bytes(d[:8], "little")
    return error


async def sysctl_mmap(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                      newp: Any, newlen: int, oname: list[int], l: Any,
                      rnode: sysctlnode) -> int:
    """Dispatch an mmap request to the node that purports to handle it."""
    if SYSCTL_VERS(rnode.sysctl_flags) != SYSCTL_VERSION:
        printf("sysctl_mmap: rnode %s wrong version\n", rnode.sysctl_name)
        return EINVAL
    # let's just pretend that didn't happen, m'kay?
    if l is None:
        return EPERM
    # is this a sysctlnode description of an mmap request?
    if not newp or newlen != SIZEOF_SYSCTLNODE:
        return EINVAL
    nnode = struct_sysctlnode()
    error = sysctl_copyin(l, newp, nnode, SIZEOF_SYSCTLNODE)
    if error:
        return error
    # does the node they asked for exist?
    if namelen != 1:
        return EOPNOTSUPP
    error, node, _ = sysctl_locate(l, [nnode.sysctl_num], 1, rnode)
    if error:
        return error
    # does this node that we have found purport to handle mmap?
    if node.sysctl_func is None or not node.sysctl_flags & CTLFLAG_MMAP:
        return EOPNOTSUPP
    return await node.sysctl_func(name, namelen, oldp, oldlenp, newp, newlen, oname, l, node)


async def sysctl_describe(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                          newp: Any, newlen: int, oname: list[int], l: Any,
                          rnode: sysctlnode) -> int:
    """Copy out the descriptions of ``rnode``'s children (or of the one asked for)."""
    if SYSCTL_VERS(rnode.sysctl_flags) != SYSCTL_VERSION:
        printf("sysctl_query: rnode %s wrong version\n", rnode.sysctl_name)
        return EINVAL
    if SYSCTL_TYPE(rnode.sysctl_flags) != CTLTYPE_NODE:
        return ENOTDIR
    if namelen != 1 or name[0] != CTL_DESCRIBE:
        return EINVAL

    error = 0
    v = -1
    tot = 0
    node = list(rnode.sysctl_child or ())[:rnode.sysctl_clen]
    left = oldlenp[0]
    dnode: Any = None
    # no request -> all descriptions at this level
    # request with desc unset -> just this node
    # request with desc set -> set descr for this node (refused to processes:
    # SYSCTL_DISALLOW_CREATE)
    if newp:
        error, v, dnode = sysctl_cvt_in(l, newp, newlen)
        if error:
            return error
        if dnode.sysctl_desc:
            return EPERM

    # scan for one description or just retrieve all descriptions
    for n in node:
        # did they ask for the description of only one node?
        if v != -1 and n.sysctl_num != dnode.sysctl_num:
            continue
        # don't describe "private" nodes to non-suser users
        if n.sysctl_flags & CTLFLAG_PRIVATE and l is not None and not _issuser(l):
            continue
        text = b"" if n.sysctl_desc is None else n.sysctl_desc.encode()[:1024 - 13]
        dlen = len(text) + 1            # includes the trailing NUL
        rec = bytearray(__sysc_desc_len(dlen))
        hdr = sysctldesc_hdr(n.sysctl_num, n.sysctl_ver, dlen)
        rec[:ctypes.sizeof(hdr)] = bytes(hdr)
        rec[ctypes.sizeof(hdr):ctypes.sizeof(hdr) + len(text)] = text
        sz = len(rec)
        if oldp and left >= sz:
            error = sysctl_copyout(l, rec, oldp, sz)
            if error:
                return error
            left -= sz
            oldp += sz
        tot += sz
        # if we get this far with v not "unset", they asked for a specific
        # node and we found it
        if v != -1:
            break
    # did we find it after all?
    if v != -1 and tot == 0:
        error = ENOENT
    else:
        oldlenp[0] = tot
    return error


# ------------------------------------------------------------------ section 3: createv

async def sysctl_createv(rnode: sysctlnode | None, flags: int, type_: int, namep: str,
                         descr: str | None, func: SysctlFn | None, qv: int,
                         newp: Any, newlen: int, *mib: int) -> tuple[int, sysctlnode | None]:
    """Add a node from kernel code; ``(error, the node)``.

    ``mib`` ends with CTL_EOL (the node's number is the last one before it)
    or CTL_CREATE (pick a number).  Re-creating a node that exists with the
    same name and function succeeds, like mkdir -p.
    """
    root = rnode
    # what is it?
    flags = SYSCTL_VERSION | (type_ & SYSCTL_TYPEMASK) | (flags & SYSCTL_FLAGMASK)
    # where do we put it?
    name: list[int] = []
    for n in mib:
        if len(name) == CTL_MAXNAME:
            return ENAMETOOLONG, None
        if n == CTL_CREATESYM:          # sorry, this is not supported from here
            return EINVAL, None
        name.append(n)
        if n in (CTL_EOL, CTL_CREATE):
            break
    else:
        return EINVAL, None
    namelen = len(name) - 1 + (1 if name[-1] == CTL_CREATE else 0)
    name = name[:namelen]

    # what's it called (strlcpy: the C string ends at its first NUL)
    namep = namep.partition("\0")[0]
    if len(namep.encode()) >= SYSCTL_NAMELEN:
        return ENAMETOOLONG, None

    # cons up the description of the new node
    nnode = sysctlnode()
    nnode.sysctl_name = namep
    nnode.sysctl_num = name[namelen - 1]
    name[namelen - 1] = CTL_CREATE
    nnode.sysctl_size = newlen
    nnode.sysctl_flags = flags
    if type_ == CTLTYPE_NODE:
        nnode.sysctl_csize = 0
        nnode.sysctl_clen = 0
        nnode.sysctl_child = None
        if flags & CTLFLAG_ALIAS:
            nnode.sysctl_alias = qv
    elif flags & CTLFLAG_IMMEDIATE:
        if type_ not in (CTLTYPE_BOOL, CTLTYPE_INT, CTLTYPE_QUAD):
            return EINVAL, None
        nnode.sysctl_qdata = qv & ((1 << 64) - 1)
    else:
        nnode.sysctl_data = newp
    nnode.sysctl_func = func
    nnode.sysctl_parent = None
    nnode.sysctl_ver = 0

    await sysctl_lock(True)
    try:
        # locate the prospective parent of the new node, and if we find it,
        # add the new node.
        sz = [SIZEOF_SYSCTLNODE]
        onode_box: list[sysctlnode] = []
        error, pnode, ni = sysctl_locate(None, name, namelen - 1, root)
        if error:
            printf("sysctl_createv: sysctl_locate(%s) returned %d\n", namep, error)
            return error, None
        error = await sysctl_create(name[ni:], namelen - ni, onode_box, sz, nnode,
                                    SIZEOF_SYSCTLNODE, name, None, pnode)
        onode = onode_box[0] if onode_box else None
        # unfortunately the node we wanted to create is already there.  if the
        # node that's already there is a reasonable facsimile of the node we
        # wanted to create, just pretend we managed to create it.
        if error == EEXIST and onode is not None and onode.sysctl_name == nnode.sysctl_name \
                and onode.sysctl_func is nnode.sysctl_func and \
                (nnode.sysctl_num == onode.sysctl_num or nnode.sysctl_num == CTL_CREATE):
            error = 0
        cnode = None
        if error == 0 and onode is not None:
            # sysctl_create() gave us a copy of the node; find the real one
            error, pnode, ni = sysctl_locate(None, name, namelen - 1, root)
            if error == 0:
                # manual scan of the last layer so that aliased nodes aren't followed
                onum = onode.sysctl_num
                for c in (pnode.sysctl_child or [])[:pnode.sysctl_clen]:  # (one copy)
                    if c.sysctl_num == onum:
                        cnode = c
                        break
                else:
                    error = ENOENT
            if error == 0 and cnode is not None:
                # allow the first caller to *set* a description
                if descr is not None and cnode.sysctl_desc is None:
                    cnode.sysctl_desc = descr
            else:
                printf("sysctl_create succeeded but node not found?!\n")
                error = 0
    finally:
        sysctl_unlock()
    if error != 0:
        printf("sysctl_createv: sysctl_create(%s) returned %d\n", namep, error)
    return error, cnode


# ------------------------------------------------------------------ section 4: helpers

async def sysctl_notavail(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                          newp: Any, newlen: int, oname: list[int], l: Any,
                          rnode: sysctlnode) -> int:
    if namelen == 1 and name[0] == CTL_QUERY:
        return await sysctl_query(name, namelen, oldp, oldlenp, newp, newlen, oname, l, rnode)
    return EOPNOTSUPP


async def sysctl_null(name: list[int], namelen: int, oldp: Any, oldlenp: list[int],
                      newp: Any, newlen: int, oname: list[int], l: Any,
                      rnode: sysctlnode) -> int:
    oldlenp[0] = 0
    return 0


def sysctl_map_flags(fmap: tuple[int, ...], word: int) -> int:
    """Translate flag bits through pairs (kernel bit, exported bit)."""
    rv = 0
    for i in range(0, len(fmap), 2):
        if word & fmap[i]:
            rv |= fmap[i + 1]
    return rv


# ------------------------------------------------------------------ section 5: memory

def sysctl_alloc(p: sysctlnode, x: int) -> None:
    KASSERT(p.sysctl_child is None)
    p.sysctl_csize = 1 if x == 1 else SYSCTL_DEFSIZE
    p.sysctl_clen = 0
    p.sysctl_child = []


def sysctl_realloc(p: sysctlnode) -> None:
    KASSERT(p.sysctl_csize == p.sysctl_clen)
    p.sysctl_csize = 2 * p.sysctl_clen


# ------------------------------------------------------------------ section 6: versions

def sysctl_cvt_in(l: Any, i: Any, sz: int) -> tuple[int, int, Any]:
    """A request's node: ``(error, version, node)``.  From a process it is the
    user's struct sysctlnode; from the kernel, the kernel's own node object."""
    if l is None:
        if not isinstance(i, sysctlnode):
            return EINVAL, 0, None
        if sz != SIZEOF_SYSCTLNODE or (i.sysctl_flags & SYSCTL_VERS_MASK) != SYSCTL_VERSION:
            return EINVAL, 0, None
        return 0, SYSCTL_VERSION, i.copy()
    if not i or sz < 4:
        return EINVAL, 0, None
    flags = ctypes.c_uint32()
    error = sysctl_copyin(l, i, flags, 4)
    if error:
        return error, 0, None
    if sz == SIZEOF_SYSCTLNODE and (flags.value & SYSCTL_VERS_MASK) == SYSCTL_VERSION:
        node = struct_sysctlnode()
        error = sysctl_copyin(l, i, node, SIZEOF_SYSCTLNODE)
        if error:
            return error, 0, None
        return 0, SYSCTL_VERSION, node
    return EINVAL, 0, None


def sysctl_cvt_out(l: Any, v: int, i: sysctlnode, ovp: Any, left: int,
                   szp: list[int] | None = None) -> tuple[int, int]:
    """Give a node to the caller: ``(error, size)``; ``szp[0]`` gets the size too.
    The kernel (``l`` None) gets a copy of the node object in the list ``ovp``."""
    if v == SYSCTL_VERS_0:
        return EINVAL, 0
    sz = SIZEOF_SYSCTLNODE
    if l is None:
        if isinstance(ovp, list) and left >= sz:
            ovp.clear()
            ovp.append(i.copy())
    elif ovp and left >= sz:
        error = sysctl_copyout(l, _export(i), ovp, sz)
        if error:
            return error, 0
    if szp is not None:
        szp[0] = sz
    return 0, sz


# ------------------------------------------------------------------ registration

def _register() -> None:
    from kern.syscall import SYS___sysctl, syscall_register

    syscall_register(SYS___sysctl, "__sysctl", sys___sysctl,
                     ("const int *name", "u_int namelen", "void *oldv", "size_t *oldlenp",
                      "const void *newv", "size_t newlen"))


_register()

