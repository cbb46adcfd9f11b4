"""GETATTR read and answered in the request frame itself (libpuffs' server.py
``_getattr``): the credentials, the pid and the attributes at the offsets the
ctypes structs (puffs_vnreq_getattr, puffs_cred, vattr) give them."""

from __future__ import annotations

import ctypes
import random
import struct

from fs.puffs.puffs_msgif_h import (
    NGROUPS,
    PUFFCRED_CRED_FSCRED,
    PUFFCRED_CRED_NOCRED,
    PUFFCRED_TYPE_INTERNAL,
    PUFFCRED_TYPE_UUC,
    puffs_cred,
    puffs_vnreq_getattr,
    uucred,
)
from kern.cpu import curproc
from kern.fcntl import O_CREAT, O_RDWR
from kern.kern_auth import FSCRED, NOCRED, kauth_cred_make
from tools.lib import libc
from tools.lib.libpuffs.ops import Attr, Cred
from tools.puffs_servers.memfs import MemFS
from vfs.vnode import vattr as kvattr

from . import h_puffs as h


def _cred_by_fields(pcr) -> Cred:
    """What the struct's fields say, read through ctypes one by one."""
    if pcr.pcr_type == PUFFCRED_TYPE_INTERNAL:
        return Cred(internal="FSCRED" if pcr.pcr_internal == PUFFCRED_CRED_FSCRED else "NOCRED")
    u = pcr.pcr_uuc
    n = max(0, min(u.cr_ngroups, NGROUPS))
    return Cred(u.cr_uid, u.cr_gid, tuple(u.cr_groups[:n]))


def test_cred_and_pid_from_the_frame_are_the_structs_fields():
    """Random frames (any type byte, a cr_ngroups below 0 and above NGROUPS,
    uids with the top bit set): Cred.from_frame at pvnr_cred's offset and the
    pid at pvnr_pid's read what ctypes reads there."""
    rng = random.Random(5)
    cred_off = puffs_vnreq_getattr.pvnr_cred.offset
    for _ in range(2000):
        frame = bytearray(rng.randbytes(ctypes.sizeof(puffs_vnreq_getattr)))
        if rng.random() < 0.3:
            frame[cred_off + puffs_cred.pcr_type.offset] = rng.choice(
                (PUFFCRED_TYPE_UUC, PUFFCRED_TYPE_INTERNAL))
            frame[cred_off + puffs_cred.pcr_internal.offset] = rng.choice(
                (PUFFCRED_CRED_NOCRED, PUFFCRED_CRED_FSCRED, rng.randrange(256)))
        if rng.random() < 0.5:
            struct.pack_into("=h", frame, cred_off + puffs_cred.pcr_uuc.offset
                             + uucred.cr_ngroups.offset, rng.randrange(-3, NGROUPS + 4))
        req = puffs_vnreq_getattr.from_buffer(frame)
        want = _cred_by_fields(req.pvnr_cred), req.pvnr_pid
        del req
        pid = struct.unpack_from("=i", frame, puffs_vnreq_getattr.pvnr_pid.offset)[0]
        assert (Cred.from_frame(frame, cred_off), pid) == want
        assert Cred.from_wire(puffs_vnreq_getattr.from_buffer_copy(frame).pvnr_cred) == want[0]


def test_attr_to_frame_stores_what_to_wire_stores_in_a_view():
    """Attr.to_frame at pvnr_va's offset of a frame leaves the frame as
    Attr.to_wire into a ctypes view of that vattr does, the bytes around it
    untouched (in one pack, and field by field for values a pack refuses)."""
    rng = random.Random(6)
    va_off = puffs_vnreq_getattr.pvnr_va.offset

    def u32():
        return rng.choice((None, rng.randrange(1 << 32), -1, 1 << 32))

    def full() -> Attr:   # every field in range, fsid left to the kernel: one pack
        return Attr(type=1, mode=0o100644, nlink=1, uid=rng.randrange(1 << 32), gid=2,
                    fsid=None, fileid=3, size=rng.randrange(1 << 64), blocksize=512, atime=(1, 2),
                    mtime=(3, 4), ctime=(5, 6), birthtime=(7, 8), gen=1, flags=2, rdev=0,
                    bytes=3, filerev=4)

    def mixed() -> Attr:  # fields missing, out of range or negative: field by field
        return Attr(type=rng.choice((None, 1, 2)), mode=u32(), nlink=u32(), uid=u32(),
                    gid=u32(), fsid=u32(), fileid=rng.choice((None, rng.randrange(1 << 64))),
                    size=rng.choice((None, rng.randrange(1 << 64))),
                    blocksize=rng.choice((None, 4096, -5)), atime=rng.choice((None, (1, 2))),
                    mtime=(3, 4), ctime=(5, 6), birthtime=rng.choice((None, (7, 8))), gen=1,
                    flags=2, rdev=u32(), bytes=3, filerev=4)

    def outcome(fn, *args) -> type | None:
        try:
            fn(*args)
        except (TypeError, OverflowError, ValueError) as e:
            return type(e)
        return None

    for k in range(600):
        a = full() if k % 6 == 0 else mixed()
        base = bytearray(rng.randbytes(ctypes.sizeof(puffs_vnreq_getattr)))
        got, want = bytearray(base), bytearray(base)
        view = puffs_vnreq_getattr.from_buffer(want).pvnr_va
        assert outcome(a.to_frame, got, va_off) == outcome(a.to_wire, view), a
        del view
        assert got == want, a


class _RecordingFS(MemFS):
    """memfs that notes who asks for each getattr."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[Cred, int]] = []

    async def node_getattr(self, node, cred, pid):
        self.asked.append((cred, pid))
        return await super().node_getattr(node, cred, pid)


def test_getattr_hands_the_server_the_callers_cred_and_pid():
    """VOP_GETATTR with a user's credentials (groups too), FSCRED and NOCRED:
    the server sees each as sent and the calling process's pid, and the
    kernel gets the server's attributes back."""
    from vfs.namei import NSM_FOLLOW_NOEMULROOT, namei_simple_kernel
    from vfs.vnode import vrele
    from vfs.vnode_if import VOP_GETATTR

    fs = _RecordingFS()
    with h.Booted(seed=190) as k:
        h.start_server(k, fs)

        async def body():
            fd = await libc.open("/mnt/f", O_RDWR | O_CREAT, 0o640)
            await libc.write(fd, b"seven b")
            await libc.close(fd)
            error, vp = await namei_simple_kernel("/mnt/f", NSM_FOLLOW_NOEMULROOT)
            assert error == 0
            fs.asked.clear()
            out = []
            for cred in (kauth_cred_make(1001, 20, (5, 6, 7)), FSCRED, NOCRED):
                va = kvattr()
                out.append((await VOP_GETATTR(vp, va, cred), va.va_size, va.va_mode & 0o777))
            await vrele(vp)
            return curproc().p_pid, out

        pid, out = k.run(body)
        assert out == [(0, 7, 0o640)] * 3
        assert fs.asked == [(Cred(1001, 20, (5, 6, 7)), pid), (Cred(internal="FSCRED"), pid),
                            (Cred(internal="NOCRED"), pid)]
        assert pid > 0
        assert k.run(h.unmount, "/mnt") == 0


def test_short_getattr_frame_is_einval_and_never_reaches_the_handler():
    """dispatch sends only a whole puffs_vnreq_getattr to _getattr; a shorter
    GETATTR frame is answered EINVAL (the frame as it came, rv set) and the server's
    node_getattr is not called: _vnop has no GETATTR branch to fall back on."""
    import trio

    from fs.puffs.puffs_msgif_h import PUFFS_VN_GETATTR, PUFFSOP_VN
    from kern.errno import EINVAL
    from tools.lib.libpuffs.channel import HDR_OUT, HDR_OUT_OFF, HDR_RV, HDR_RV_OFF, HDRSIZE
    from tools.lib.libpuffs.server import PuffsServer

    fs = _RecordingFS()
    server = PuffsServer(fs)
    for size in (HDRSIZE, ctypes.sizeof(puffs_vnreq_getattr) - 1):
        frame = bytearray(size)
        HDR_OUT.pack_into(frame, HDR_OUT_OFF, PUFFSOP_VN, PUFFS_VN_GETATTR, 0x1234)
        reply = trio.run(server.dispatch, frame)
        assert reply is not None and len(reply) == size
        assert HDR_RV.unpack_from(reply, HDR_RV_OFF)[0] == EINVAL
    assert fs.asked == [] and server.errors == []
