"""Vnode operations: descriptors, argument blocks and the VOP_* calls.

NetBSD generates vnode_if.c from vnode_if.src; this is that file, written
out.  A file system implements an operation as ``async def fs_op(v)`` where
``v`` is the argument block (``ap = v``), with NetBSD's ``a_*`` fields.  Out
pointers are one-element lists, so C's ``*ap->a_vpp = vp`` reads
``ap.a_vpp[0] = vp``.  Callers use the ``VOP_*`` functions, whose C
out-parameters come back after the errno:
``error, vp = await VOP_LOOKUP(dvp, cnp)``.

Protocols are those of NetBSD 8 (2018), the era of fss.c 1.104:

* lookup (v2): ``dvp`` locked in and out; ``*vpp`` referenced, unlocked.
* create, mknod, mkdir, symlink (v3): ``dvp`` stays locked; ``*vpp``
  referenced and unlocked.
* remove, rmdir (v2): ``dvp`` stays locked; ``vp`` locked on entry and
  released (vput) by the file system.
* link (v2): ``dvp`` stays locked, ``vp`` unlocked.
* rename: ``fdvp``/``fvp`` referenced (released by the fs), ``tdvp`` locked
  and ``tvp`` locked if not None (both vput by the fs).
* inactive (v2): ``vp`` locked in and out; sets ``*recycle``.
* reclaim (v2): ``vp`` locked on entry, unlocked on return.
* read, write, fsync, getattr (shared ok), setattr, readdir, readlink,
  access, open, close: ``vp`` locked (getattr and close may be shared).

Operations that change a file system run inside an fstrans transaction on
the vnode's mount (``vfs_trans``), so they wait while it is suspended.
Every VOP except VOP_UNLOCK, VOP_ISLOCKED and VOP_PRINT may sleep.

Each descriptor carries its locking protocol as vnode_if.src 1.76 writes it
above the operation (``#% rename tdvp L U U``: the state of each vnode
argument on entry, on success and on error, with WILLRELE/WILLPUT for the
vnodes the operation releases), plus what else the call consumes: the
interlock VOP_PUTPAGES is entered with and always releases, the buf
VOP_STRATEGY always completes and VOP_BWRITE always releases.  An injected
failure (``VOP_*`` fault sites) goes through ``vop_error_unwind``, which
leaves exactly the error column's state: it releases what the operation
would have released, unlocks what it would have unlocked, completes or
releases the buf with the error and drops the interlock, so a caller
unwinds a fault as it unwinds a real failure of the file system.  kemu's
VOP_GETPAGES is not entered with the interlock unless PGO_LOCKED (and then
keeps it), so it consumes nothing.

Deviations from the generated vnode_if.c:

* Calls are ``async`` Python functions returning ``error`` followed by the
  C out-parameters; argument blocks are Python objects with the ``a_*``
  names and one-element lists for out pointers.
* No KERNEL_LOCK around file systems that are not MPSAFE (one emulated
  CPU; see kern.subr_devsw on DEV_LOCK).
* An argument block's ``a_desc`` is its class's attribute (each
  operation's block class points at its descriptor), not a field the
  VOP_* call stores.
* The VOP fault sites and ``vop_error_unwind`` are kemu's.
* VOP_GETPAGES's interlock rule differs (above).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from kern.cpu import curmachine_or_none
from kern.errno import EOPNOTSUPP
from kern.subr_fault import ARMED_ANYWHERE, dev_is, fault_site
from kern.subr_prf import KASSERT
from vfs.mount import IMNT_HAS_TRANS
from vfs.vfs_trans import fstrans_done, fstrans_start_begin

if TYPE_CHECKING:
    from vfs.vnode import vnode


_NO_FAULTS = ("vop_default", "vop_inactive", "vop_reclaim", "vop_lock", "vop_unlock",
              "vop_islocked", "vop_print", "vop_abortop")  # cannot fail in NetBSD either


def _vnode_is(name: str, vp: Any) -> bool:
    """A VOP site's ``dev=NAME``: a vnode of device /dev/NAME, or of a file
    system mounted from it."""
    if dev_is(name, getattr(vp, "v_rdev", None)):
        return True
    mp = getattr(vp, "v_mount", None)
    if mp is None:
        return False
    src = mp.mnt_stat.f_mntfromname.decode(errors="replace")
    return src.startswith("/dev/") and (src[5:] == name or src[5:] == "r" + name or
                                        "r" + src[5:] == name)


class vnodeop_desc:
    """One operation: its name, its argument names, which are out-pointers."""

    __slots__ = ("vdesc_offset", "vdesc_name", "vdesc_args", "vdesc_outs", "vdesc_vp",
                 "vdesc_fstrans", "args_class", "vop_site", "vdesc_locks", "vdesc_interlock",
                 "vdesc_buf")

    def __init__(self, offset: int, name: str, args: tuple[str, ...], outs: tuple[str, ...],
                 vp: str, fstrans: bool, locks: str = "", interlock: bool = False,
                 buf: str | None = None) -> None:
        self.vdesc_offset = offset
        self.vdesc_name = name
        self.vdesc_args = args
        self.vdesc_outs = outs
        self.vdesc_vp = vp  # the argument whose v_op dispatches the call
        self.vdesc_fstrans = fstrans
        self.vop_site = None if name in _NO_FAULTS else fault_site(
            "VOP_" + name[4:].upper(),
            f"{name}: fails with the errno before the file system sees the call, "
            "leaving the state of its error path (vop_error_unwind)",
            scope="vnode", dev_match=_vnode_is)
        self.vdesc_locks = _parse_locks(name, args, locks)
        self.vdesc_interlock = interlock  # entered with v_interlock, released on return
        self.vdesc_buf = buf  # "done": the buf is completed; "released": it is released
        # (a_desc is the class's attribute, not a slot: every argument block
        # of the operation points at its descriptor, so no call stores it)
        fields = tuple("a_" + a for a in args)
        self.args_class = type(f"{name}_args", (_vop_args,), {"__slots__": fields,
                                                              "a_desc": self})

    def __repr__(self) -> str:
        return f"<vnodeop_desc {self.vdesc_name}>"


class vop_lockspec:
    """One vnode argument's line of vnode_if.src's table: ``#% op arg in out error``.

    States: L locked, U unlocked, X locked if not NULL, ``-`` not a vnode
    yet (an out-pointer) or no longer, ``=`` as it was.  ``release`` is
    WILLPUT (``put``: unlocked and released) or WILLRELE (``rele``).
    """

    __slots__ = ("arg", "state_in", "state_out", "state_error", "release")

    def __init__(self, arg: str, states: str, release: str | None) -> None:
        self.arg = arg
        self.state_in, self.state_out, self.state_error = states
        self.release = release

    def __repr__(self) -> str:
        rel = f" {self.release}" if self.release else ""
        return f"<{self.arg} {self.state_in}{self.state_out}{self.state_error}{rel}>"


def _parse_locks(name: str, args: tuple[str, ...], spec: str) -> tuple[vop_lockspec, ...]:
    out = []
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        words = part.split()
        arg, states = words[0], words[1]
        release = words[2] if len(words) > 2 else None
        if arg not in args or len(states) != 3 or release not in (None, "put", "rele") or \
                any(c not in "LUX-=" for c in states):
            raise ValueError(f"{name}: bad lock line {part!r}")
        out.append(vop_lockspec(arg, states, release))
    return tuple(out)


class _vop_args:
    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} " + " ".join(
            f"{s}={getattr(self, s, None)!r}" for s in self.__slots__) + ">"


_descs: list[vnodeop_desc] = []


def _desc(name: str, args: str, outs: str = "", vp: str = "vp", fstrans: bool = False,
          locks: str = "", interlock: bool = False, buf: str | None = None) -> vnodeop_desc:
    d = vnodeop_desc(len(_descs), name, tuple(args.split()), tuple(outs.split()), vp, fstrans,
                     locks, interlock, buf)
    _descs.append(d)
    return d


vop_default_desc = _desc("vop_default", "")
vop_bwrite_desc = _desc("vop_bwrite", "vp bp", fstrans=True, locks="vp ===", buf="released")
vop_lookup_desc = _desc("vop_lookup", "dvp vpp cnp", "vpp", vp="dvp", locks="dvp LLL; vpp -U-")
vop_create_desc = _desc("vop_create", "dvp vpp cnp vap", "vpp", vp="dvp", fstrans=True,
                        locks="dvp LLL; vpp -U-")
vop_mknod_desc = _desc("vop_mknod", "dvp vpp cnp vap", "vpp", vp="dvp", fstrans=True,
                       locks="dvp LLL; vpp -U-")
vop_open_desc = _desc("vop_open", "vp mode cred", locks="vp LLL")
vop_close_desc = _desc("vop_close", "vp fflag cred", locks="vp LLL")
vop_access_desc = _desc("vop_access", "vp mode cred", locks="vp LLL")
vop_getattr_desc = _desc("vop_getattr", "vp vap cred", locks="vp LLL")
vop_setattr_desc = _desc("vop_setattr", "vp vap cred", fstrans=True, locks="vp LLL")
vop_read_desc = _desc("vop_read", "vp uio ioflag cred", locks="vp LLL")
vop_write_desc = _desc("vop_write", "vp uio ioflag cred", fstrans=True, locks="vp LLL")
vop_fallocate_desc = _desc("vop_fallocate", "vp pos len", fstrans=True, locks="vp LLL")
vop_fdiscard_desc = _desc("vop_fdiscard", "vp pos len", fstrans=True, locks="vp LLL")
vop_ioctl_desc = _desc("vop_ioctl", "vp command data fflag cred", locks="vp UUU")
vop_fcntl_desc = _desc("vop_fcntl", "vp command data fflag cred", locks="vp UUU")
vop_poll_desc = _desc("vop_poll", "vp events", locks="vp UUU")
vop_kqfilter_desc = _desc("vop_kqfilter", "vp kn", locks="vp UUU")
vop_revoke_desc = _desc("vop_revoke", "vp flags", locks="vp UUU")
vop_mmap_desc = _desc("vop_mmap", "vp prot cred", locks="vp ===")
vop_fsync_desc = _desc("vop_fsync", "vp cred flags offlo offhi", fstrans=True, locks="vp LLL")
vop_seek_desc = _desc("vop_seek", "vp oldoff newoff cred")
vop_remove_desc = _desc("vop_remove", "dvp vp cnp", vp="dvp", fstrans=True,
                        locks="dvp LLL; vp LUU put")
vop_link_desc = _desc("vop_link", "dvp vp cnp", vp="dvp", fstrans=True, locks="dvp LLL; vp UUU")
vop_rename_desc = _desc("vop_rename", "fdvp fvp fcnp tdvp tvp tcnp", vp="fdvp", fstrans=True,
                        locks="tdvp LUU put; tvp XUU put; fdvp UUU rele; fvp UUU rele")
vop_mkdir_desc = _desc("vop_mkdir", "dvp vpp cnp vap", "vpp", vp="dvp", fstrans=True,
                       locks="dvp LLL; vpp -U-")
vop_rmdir_desc = _desc("vop_rmdir", "dvp vp cnp", vp="dvp", fstrans=True,
                       locks="dvp LLL; vp LUU put")
vop_symlink_desc = _desc("vop_symlink", "dvp vpp cnp vap target", "vpp", vp="dvp",
                         fstrans=True, locks="dvp LLL; vpp -U-")
vop_readdir_desc = _desc("vop_readdir", "vp uio cred eofflag cookies ncookies",
                         "eofflag cookies ncookies", locks="vp LLL")
vop_readlink_desc = _desc("vop_readlink", "vp uio cred", locks="vp LLL")
vop_abortop_desc = _desc("vop_abortop", "dvp cnp", vp="dvp", locks="dvp ===")
vop_inactive_desc = _desc("vop_inactive", "vp recycle", "recycle", fstrans=True, locks="vp LLL")
vop_reclaim_desc = _desc("vop_reclaim", "vp", fstrans=True, locks="vp LUU")
vop_lock_desc = _desc("vop_lock", "vp flags", locks="vp ULU")
vop_unlock_desc = _desc("vop_unlock", "vp", locks="vp LUL")
vop_bmap_desc = _desc("vop_bmap", "vp bn vpp bnp runp", "vpp bnp runp", locks="vp ===; vpp -U-")
vop_strategy_desc = _desc("vop_strategy", "vp bp", locks="vp ===", buf="done")
vop_print_desc = _desc("vop_print", "vp", locks="vp ===")
vop_islocked_desc = _desc("vop_islocked", "vp", locks="vp ===")
vop_pathconf_desc = _desc("vop_pathconf", "vp name retval", "retval", locks="vp LLL")
vop_advlock_desc = _desc("vop_advlock", "vp id op fl flags", locks="vp UUU")
vop_whiteout_desc = _desc("vop_whiteout", "dvp cnp flags", vp="dvp", fstrans=True,
                          locks="dvp LLL")
vop_getpages_desc = _desc("vop_getpages", "vp offset m count centeridx access_type advice "
                          "flags", locks="vp ===")
# genfs enters fstrans itself; entered with v_interlock held, which it releases.
vop_putpages_desc = _desc("vop_putpages", "vp offlo offhi flags", locks="vp ===", interlock=True)

vfs_op_descs: list[vnodeop_desc] = list(_descs)
VOP_NDESCS = len(_descs)


# --------------------------------------------------------------- op vectors

VopFn = Callable[[Any], Awaitable[int]]


class vnodeopv_entry_desc:
    __slots__ = ("opve_op", "opve_impl")

    def __init__(self, op: vnodeop_desc, impl: Any) -> None:
        self.opve_op = op
        self.opve_impl = impl


class vnodeopv_desc:
    """A file system's table of operations: ``{desc: implementation}`` entries.

    ``vfs_opv_init`` turns it into the vector (``opv_desc_vector``) that vnodes
    of that file system carry in ``v_op``: a list indexed by desc offset.
    Operations a file system does not list fall back to its ``vop_default``
    entry (usually ``vn_default_error``, EOPNOTSUPP).
    """

    __slots__ = ("opv_desc_vector", "opv_desc_ops", "opv_name")

    def __init__(self, name: str, entries: list[tuple[vnodeop_desc, Any]]) -> None:
        self.opv_name = name
        self.opv_desc_ops = [vnodeopv_entry_desc(d, f) for d, f in entries]
        self.opv_desc_vector: list[Any] = vfs_opv_init(self)


async def vn_default_error(v: Any) -> int:
    return EOPNOTSUPP


def vfs_opv_init(opv: vnodeopv_desc) -> list[Any]:
    vec: list[Any] = [None] * VOP_NDESCS
    default = None
    for e in opv.opv_desc_ops:
        vec[e.opve_op.vdesc_offset] = e.opve_impl
        if e.opve_op is vop_default_desc:
            default = e.opve_impl
    if default is None:
        default = vn_default_error
    for i, f in enumerate(vec):
        if f is None:
            vec[i] = default
    return vec


# ------------------------------------------------------------------ calls

# VCALL, the dispatch of a call to the vnode's implementation of an operation,
# is NetBSD's macro; here it is generated into each VOP_* function by _make
# (one coroutine less per call, and the descriptor's constants written in):
#
# * every operation is also a fault-injection site named after it
#   (``VOP_WRITE``, ``VOP_READ``, ...), scoped by lwp or by vnode
#   (``dev=vp``): an armed fault makes the call fail with its errno before
#   the file system sees it, leaving the state its error path leaves
#   (vop_error_unwind);
# * the implementation is read from ``v_op`` before anything sleeps;
# * an operation that writes (``vdesc_fstrans``) runs inside a shared fstrans
#   transaction on the vnode's mount when that mount has transactions
#   (fstrans_start written as ``fstrans_start_begin`` and, only when it must
#   sleep, the wait it returns: no coroutine when it is granted at once).


async def vop_error_unwind(desc: vnodeop_desc, ap: Any, error: int) -> None:
    """Leave the state a failure of ``desc`` leaves (the error column of its table).

    Vnodes the operation releases are released (WILLPUT: unlocked and
    released; a vnode passed twice is unlocked once), one locked on entry and
    unlocked on error is unlocked, out-pointers stay NULL; the interlock of
    VOP_PUTPAGES is dropped; the buf of VOP_STRATEGY is completed with
    ``error`` and that of VOP_BWRITE released with it (invalid, as bwrite
    leaves a buffer whose write failed).
    """
    from vfs.vnode import vput, vrele

    unlocked: list[Any] = []
    for spec in desc.vdesc_locks:
        vp = getattr(ap, "a_" + spec.arg)
        if spec.arg in desc.vdesc_outs or vp is None:
            continue
        held = spec.state_in == "L" or spec.state_in == "X"
        unlock = held and spec.state_error == "U" and not any(vp is u for u in unlocked)
        if unlock:
            unlocked.append(vp)
        if spec.release == "put" and unlock:
            await vput(vp)
        elif spec.release is not None:
            await vrele(vp)
        elif unlock:
            VOP_UNLOCK(vp)
    if desc.vdesc_interlock:
        from kern.kern_mutex import mutex_exit

        mutex_exit(getattr(ap, "a_" + desc.vdesc_vp).v_interlock)
    if desc.vdesc_buf is not None:
        from vfs.vfs_bio import biodone, brelse

        bp = ap.a_bp
        bp.b_error = error
        bp.b_resid = bp.b_bcount
        if desc.vdesc_buf == "done":
            biodone(bp)
        else:
            brelse(bp, 0)


def _make(desc: vnodeop_desc) -> Callable[..., Awaitable[Any]]:
    cls = desc.args_class
    names = desc.vdesc_args
    outs = set(desc.vdesc_outs)
    vpi = names.index(desc.vdesc_vp)
    in_names = [n for n in names if n not in outs]
    # The a_ attribute names, worked out once: the arguments in order, the
    # out-pointers (each a one-element list the operation stores into).
    in_attrs = tuple("a_" + n for n in in_names)
    out_attrs = tuple("a_" + n for n in names if n in outs)
    ret_attrs = tuple("a_" + n for n in desc.vdesc_outs)
    vp_attr = "a_" + names[vpi]
    assert names[vpi] not in outs, desc.vdesc_name
    # The call, generated once per operation: the arguments, positional-only
    # parameters, stored one statement each, the vnode passed as it came (a loop of
    # setattr by name cost a VOP about a microsecond more).
    ret = ", ".join(["error"] + [f"ap.{a}[0]" for a in ret_attrs])
    lines = [
        # (positional-only parameters: Python itself refuses a wrong count,
        # naming the operation, before any coroutine is made)
        f"async def VOP({', '.join(in_attrs)}, /):",
        "    ap = cls()",  # (its a_desc is desc: see vnodeop_desc)
        *[f"    ap.{a} = {a}" for a in in_attrs],
        *[f"    ap.{a} = [None]" for a in out_attrs],
    ]
    # VCALL (see above), for this operation.
    if desc.vop_site is not None:
        lines += [
            # (ARMED_ANYWHERE first: nothing armed in any machine, no look-up)
            "    if ARMED_ANYWHERE[0]:",
            "        m = curmachine_or_none()",
            "        if m is not None and m.faults.armed:",
            f"            attr = m.faults.check(site, {vp_attr})",
            "            if attr is not None:",
            "                await vop_error_unwind(desc, ap, attr.error)",
            "                error = attr.error",
            f"                return {ret}",
        ]
    lines.append(f"    fn = {vp_attr}.v_op[{desc.vdesc_offset}]")
    if desc.vdesc_fstrans:
        lines += [
            f"    mp = {vp_attr}.v_mount",
            "    if mp is not None and mp.mnt_iflag & IMNT_HAS_TRANS:",
            # (fstrans_start, its common case without a coroutine)
            "        wait = fstrans_start_begin(mp)",
            "        if wait is not None:",
            "            KASSERT(await wait == 0)",
            "        try:",
            "            error = await fn(ap)",
            "        finally:",
            "            fstrans_done(mp)",
            f"        return {ret}",
        ]
    lines += [
        "    error = await fn(ap)",
        f"    return {ret}",
    ]

    ns: dict[str, Any] = {"cls": cls, "desc": desc, "site": desc.vop_site,
                          "curmachine_or_none": curmachine_or_none,
                          "ARMED_ANYWHERE": ARMED_ANYWHERE,
                          "vop_error_unwind": vop_error_unwind, "IMNT_HAS_TRANS": IMNT_HAS_TRANS,
                          "fstrans_start_begin": fstrans_start_begin, "KASSERT": KASSERT,
                          "fstrans_done": fstrans_done}
    exec("\n".join(lines), ns)  # noqa: S102 - names from the descriptor table
    VOP = ns["VOP"]

    VOP.__name__ = "VOP_" + desc.vdesc_name[4:].upper()
    VOP.__qualname__ = VOP.__name__
    VOP.__doc__ = (f"VOP_{desc.vdesc_name[4:].upper()}({', '.join(in_names)})"
                   + (f" -> (error, {', '.join(desc.vdesc_outs)})" if outs else " -> error"))
    return VOP


VOP_BWRITE = _make(vop_bwrite_desc)
VOP_LOOKUP = _make(vop_lookup_desc)
VOP_CREATE = _make(vop_create_desc)
VOP_MKNOD = _make(vop_mknod_desc)
VOP_OPEN = _make(vop_open_desc)
VOP_CLOSE = _make(vop_close_desc)
VOP_ACCESS = _make(vop_access_desc)
VOP_GETATTR = _make(vop_getattr_desc)
VOP_SETATTR = _make(vop_setattr_desc)
VOP_READ = _make(vop_read_desc)
VOP_WRITE = _make(vop_write_desc)
VOP_FALLOCATE = _make(vop_fallocate_desc)
VOP_FDISCARD = _make(vop_fdiscard_desc)
VOP_IOCTL = _make(vop_ioctl_desc)
VOP_FCNTL = _make(vop_fcntl_desc)
VOP_POLL = _make(vop_poll_desc)
VOP_KQFILTER = _make(vop_kqfilter_desc)
VOP_REVOKE = _make(vop_revoke_desc)
VOP_MMAP = _make(vop_mmap_desc)
VOP_FSYNC = _make(vop_fsync_desc)
VOP_SEEK = _make(vop_seek_desc)
VOP_REMOVE = _make(vop_remove_desc)
VOP_LINK = _make(vop_link_desc)
VOP_RENAME = _make(vop_rename_desc)
VOP_MKDIR = _make(vop_mkdir_desc)
VOP_RMDIR = _make(vop_rmdir_desc)
VOP_SYMLINK = _make(vop_symlink_desc)
VOP_READDIR = _make(vop_readdir_desc)
VOP_READLINK = _make(vop_readlink_desc)
VOP_ABORTOP = _make(vop_abortop_desc)
VOP_INACTIVE = _make(vop_inactive_desc)
VOP_RECLAIM = _make(vop_reclaim_desc)
VOP_LOCK = _make(vop_lock_desc)
VOP_BMAP = _make(vop_bmap_desc)
VOP_STRATEGY = _make(vop_strategy_desc)
VOP_PATHCONF = _make(vop_pathconf_desc)
VOP_ADVLOCK = _make(vop_advlock_desc)
VOP_WHITEOUT = _make(vop_whiteout_desc)
VOP_GETPAGES = _make(vop_getpages_desc)
VOP_PUTPAGES = _make(vop_putpages_desc)


def _sync_call(vp: vnode, desc: vnodeop_desc) -> Any:
    """Call a plain (never sleeping) operation whose only argument is ``vp``."""
    ap = desc.args_class()  # (a_desc is desc's: see vnodeop_desc)
    ap.a_vp = vp
    return vp.v_op[desc.vdesc_offset](ap)


def VOP_UNLOCK(vp: vnode) -> int:
    """Release the vnode lock (never sleeps)."""
    # (_sync_call(vp, vop_unlock_desc) written out: ~500 a sweep seed)
    ap = _unlock_args()  # (a_desc is vop_unlock_desc: see vnodeop_desc)
    ap.a_vp = vp
    return vp.v_op[_UNLOCK_OFFSET](ap)


_unlock_args = vop_unlock_desc.args_class
_UNLOCK_OFFSET = vop_unlock_desc.vdesc_offset


def VOP_ISLOCKED(vp: vnode) -> int:
    """LK_EXCLUSIVE, LK_SHARED or 0 (never sleeps)."""
    return _sync_call(vp, vop_islocked_desc)


def VOP_PRINT(vp: vnode) -> int:
    return _sync_call(vp, vop_print_desc)
