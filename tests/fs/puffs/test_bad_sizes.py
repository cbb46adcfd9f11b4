"""A server that answers with a negative node size (or VSIZENOTSET, -1) or a
bad node type: the caller gets EPROTO, the server gets an error report naming
what was wrong, and the machine keeps running (puffs_subr.py's S1, S5, S6 and
puffs_vnops.py's V6).

Before, a negative size reached uvm_vnp_setsize, whose assertion
(uvm_vnode.c 1.117: ``newsize >= 0``) panicked the machine: a user's server
could crash the kernel.  puffs_node.c 1.26/1.36 refuse VSIZENOTSET and a bad
type with puffs_senderr and EPROTO; kemu gives any other negative size, and a
negative size in a getattr answer, the same answer.
"""

from __future__ import annotations

import pytest

import kern
from fs.puffs.puffs_msgif_h import PUFFS_ERR_ERROR, PUFFS_ERR_MAKENODE
from kern.errno import EINVAL, EPROTO
from kern.fcntl import O_APPEND, O_RDWR, SEEK_CUR
from kern.kern_exit import WEXITSTATUS, WIFEXITED
from tools.lib import libc
from tools.lib.libpuffs import KernelError, NodeInfo, PuffsServer, puffs_daemon, puffs_kernerr_abort
from tools.puffs_servers.memfs import MemFS
from vfs.vnode import VBAD, VNON

from . import h_puffs as h


class BadAnswers(MemFS):
    """memfs that answers a lookup of a name in ``lookup`` with the
    (type, size) given there, and a getattr of a cookie in ``getattr_size``
    with that size.  Its inactive answers 0, so a closed file's vnode goes
    and the next lookup makes a new one (puffs_getvnode)."""

    def __init__(self) -> None:
        super().__init__()
        self.lookup: dict[bytes, tuple[int | None, int]] = {}
        self.getattr_size: dict[int, int] = {}

    async def node_lookup(self, dir, cn):
        info = await super().node_lookup(dir, cn)
        if cn.name in self.lookup:
            vtype, size = self.lookup[cn.name]
            return NodeInfo(info.cookie, info.vtype if vtype is None else vtype, size,
                            info.rdev)
        return info

    async def node_getattr(self, node, cred, pid):
        a = await super().node_getattr(node, cred, pid)
        if node in self.getattr_size:
            a.size = self.getattr_size[node]  # to_wire: a u_quad_t, as C's vattr
        return a

    async def node_inactive(self, node, pid):
        return 0


def _start(k, ops):
    s = h.start_server(k, ops, name="badanswers")
    lines: list[str] = []

    async def keep(line: str) -> None:
        lines.append(line)

    s.dumpfn = keep  # where the library's lines (the error report's) go
    return s, lines


async def _make(path: str, data: bytes) -> None:
    error, fd = await h.create(path)
    assert error == 0
    assert await h.write(fd, data) == (0, len(data))
    assert await h.close(fd) == 0


async def _make_f(ops: MemFS) -> int:
    """/mnt/f made holding b"hello"; its cookie, as the server named it."""
    await _make("/mnt/f", b"hello")
    return ops.nodes[ops.root_cookie].entries[b"f"]


async def _cat(path: str) -> tuple[int, bytes]:
    error, fd = await h.open_(path)
    if error:
        return error, b""
    error, data = await h.read(fd, 100)
    await h.close(fd)
    return error, data


async def _vsizes(path: str) -> tuple[int, int]:
    """(v_size, v_writesize) of the vnode of ``path`` (found by lookup, which
    asks the server nothing about a node that has a vnode)."""
    from vfs.namei import NSM_FOLLOW_NOEMULROOT, namei_simple_kernel
    from vfs.vnode import vrele

    error, vp = await namei_simple_kernel(path, NSM_FOLLOW_NOEMULROOT)
    assert error == 0
    sizes = (vp.v_size, vp.v_writesize)
    await vrele(vp)
    return sizes


@pytest.mark.parametrize("size, text", [
    (-1, "VSIZENOTSET is not a valid size"),                       # NetBSD's check
    (-5, "negative size -5 is not a valid size"),                  # S5
    (-(1 << 63), f"negative size {-(1 << 63)} is not a valid size"),
])
def test_lookup_answering_a_negative_size(size, text):
    """stat and open of the name fail with EPROTO, the server's error callback
    gets PUFFS_ERR_MAKENODE/EINVAL naming the size and the node; the other
    file, and then the same file once the server answers a real size, are
    read back whole."""
    with h.Booted(seed=181) as k:
        ops = BadAnswers()
        s, lines = _start(k, ops)

        async def body():
            f = await _make_f(ops)
            await _make("/mnt/g", b"other file")
            ops.lookup[b"f"] = (None, size)
            out = {"stat": (await h.stat_("/mnt/f"))[0], "open": (await h.open_("/mnt/f"))[0]}
            await h.syncbar()
            out["g"] = await _cat("/mnt/g")
            del ops.lookup[b"f"]
            error, sb = await h.stat_("/mnt/f")
            out["after"] = (error, sb.st_size, await _cat("/mnt/f"))
            return f, out

        f, out = k.run(body)
        assert out == {"stat": EPROTO, "open": EPROTO, "g": (0, b"other file"),
                       "after": (0, 5, (0, b"hello"))}
        assert s.kernel_errors == [KernelError(PUFFS_ERR_MAKENODE, EINVAL, text, f)] * 2
        assert lines == [f"puffs /mnt: kernel: type 1 (MAKENODE), error 22, "
                         f"cookie {f:#x} ({text})\n"] * 2
        assert s.errors == []
        assert k.run(h.unmount, "/mnt") == 0


def test_lookup_of_a_directory_with_a_negative_size():
    """The check is on every type (as NetBSD's VSIZENOTSET one): a directory
    named with size -2 cannot be entered; its files are all there after."""
    with h.Booted(seed=182) as k:
        ops = BadAnswers()
        s, _ = _start(k, ops)

        async def body():
            assert await h.mkdir("/mnt/d") == 0
            await _make("/mnt/d/x", b"in d")
            ops.lookup[b"d"] = (None, -2)
            bad = (await h.stat_("/mnt/d/x"))[0], await h.chdir("/mnt/d")
            del ops.lookup[b"d"]
            return bad, await _cat("/mnt/d/x")

        assert k.run(body) == ((EPROTO, EPROTO), (0, b"in d"))
        assert [(e.type, e.text) for e in s.kernel_errors] == \
            [(PUFFS_ERR_MAKENODE, "negative size -2 is not a valid size")] * 2
        assert k.run(h.unmount, "/mnt") == 0


@pytest.mark.parametrize("vtype", [VNON, VBAD, 99])
def test_lookup_answering_a_bad_type(vtype):
    """S1 as puffs_node.c 1.26: "bad node type", EPROTO (1.28 panicked)."""
    with h.Booted(seed=183) as k:
        ops = BadAnswers()
        s, _ = _start(k, ops)

        async def body():
            await _make("/mnt/f", b"hello")
            ops.lookup[b"f"] = (vtype, 5)
            error = (await h.stat_("/mnt/f"))[0]
            await h.syncbar()
            return error

        assert k.run(body) == EPROTO
        assert [(e.type, e.error, e.text) for e in s.kernel_errors] == \
            [(PUFFS_ERR_MAKENODE, EINVAL, "bad node type")]
        assert k.run(h.unmount, "/mnt") == 0


@pytest.mark.parametrize("size", [-5, -(1 << 63)])
def test_getattr_answering_a_negative_size(size):
    """V6: a getattr answer whose size is negative as a voff_t: fstat/stat
    answer EPROTO, the vnode keeps the size it had, the report names the
    size; the data is untouched and the next good answer is taken."""
    with h.Booted(seed=184) as k:
        ops = BadAnswers()
        s, lines = _start(k, ops)

        async def body():
            f = await _make_f(ops)
            error, fd = await h.open_("/mnt/f")
            assert error == 0
            ops.getattr_size[f] = size
            bad = (await h.stat_("/mnt/f"))[0]
            await h.syncbar()
            kept = await _vsizes("/mnt/f")
            good = await h.stat_("/mnt")
            del ops.getattr_size[f]
            error, sb = await h.stat_("/mnt/f")
            data = await h.pread(fd, 100, 0)
            await h.close(fd)
            return f, bad, kept, good[0], (error, sb.st_size), data

        f, bad, kept, good, after, data = k.run(body)
        assert (bad, kept, good, after, data) == (EPROTO, (5, 5), 0, (0, 5), (0, b"hello"))
        text = f"negative size {size} is not a valid size"
        assert s.kernel_errors == [KernelError(PUFFS_ERR_ERROR, EINVAL, text, f)]
        assert lines == [f"puffs /mnt: kernel: type 0 (ERROR), error 22, "
                         f"cookie {f:#x} ({text})\n"]
        assert k.run(h.unmount, "/mnt") == 0


def test_getattr_answering_no_size_is_not_an_error():
    """VNOVAL (all ones on the wire) means "no size" in a getattr answer, in
    every revision: the vnode keeps its size and nothing is reported."""
    with h.Booted(seed=185) as k:
        ops = BadAnswers()
        s, _ = _start(k, ops)

        async def body():
            f = await _make_f(ops)
            ops.getattr_size[f] = -1
            error = (await h.stat_("/mnt/f"))[0]
            await h.syncbar()
            return error, await _vsizes("/mnt/f")

        assert k.run(body) == (0, (5, 5))
        assert s.kernel_errors == []
        assert k.run(h.unmount, "/mnt") == 0


def test_append_with_no_size_in_the_answer_goes_to_v_size():
    """V1's appending write asks the server for the size; an answer without
    one (VNOVAL) leaves the write at v_size, the cached path's offset, so the
    descriptor's offset ends at the end of the data (before, the write went
    to offset -1: memfs appended, but the offset ended one short of the old
    size plus the data)."""
    with h.Booted(seed=186) as k:
        ops = BadAnswers()
        s, _ = _start(k, ops)

        async def body():
            f = await _make_f(ops)
            error, fd = await h.open_("/mnt/f", O_RDWR | O_APPEND)
            assert error == 0
            ops.getattr_size[f] = -1
            wrote = await h.write(fd, b"world")
            offset = await libc.lseek(fd, 0, SEEK_CUR)
            del ops.getattr_size[f]
            data = await h.pread(fd, 100, 0)
            await h.close(fd)
            return wrote, offset, data

        assert k.run(body) == ((0, 5), 10, (0, b"helloworld"))
        assert s.kernel_errors == []
        assert k.run(h.unmount, "/mnt") == 0


def test_kernerr_abort_ends_the_server():
    """A server that asks for libpuffs' default (puffs_kernerr_abort) ends
    its loop at the report: the kernel unmounts its file system."""
    with h.Booted(seed=186) as k:
        ops = BadAnswers()
        s, lines = _start(k, ops)
        s.errnotify = puffs_kernerr_abort

        async def body():
            await _make("/mnt/f", b"hello")
            ops.lookup[b"f"] = (None, -1)
            error = (await h.stat_("/mnt/f"))[0]
            for _ in range(100):  # the server reads the report, ends, closes
                if h.mounted(k) is None:
                    break
                await kern.kpause("gone", False, 1, None)
            return error

        assert k.run(body) == EPROTO
        assert h.mounted(k) is None
        assert s.loop_error == EINVAL
        assert lines and lines[0].startswith("puffs /mnt: abort: kernel: type 1 (MAKENODE)")


def test_kernerr_abort_makes_the_daemon_fail():
    """The same with puffs_daemon: the daemon's mainloop returns the report's
    errno and its process exits 1 (NetBSD's abort() is a failure too), not
    0 as after an unmount."""
    with h.Booted(seed=189) as k:
        parent = k.proc_create("parent", k.initproc)
        ops = BadAnswers()
        s = PuffsServer(ops, "badanswers")
        s.errnotify = puffs_kernerr_abort

        async def keep(line: str) -> None:
            pass

        s.dumpfn = keep

        async def body():
            pid = await puffs_daemon(s, "/mnt")
            await _make("/mnt/f", b"hello")
            ops.lookup[b"f"] = (None, -1)
            error = (await h.stat_("/mnt/f"))[0]
            _, status = await libc.waitpid(pid)
            return error, status

        error, status = k.run(body, proc=parent)
        assert error == EPROTO
        assert WIFEXITED(status) and WEXITSTATUS(status) == 1
        assert (s.loop_error, h.mounted(k)) == (EINVAL, None)


def test_a_server_in_another_process_gets_the_report():
    """The same through a RemoteServer: EPROTO in the machine, the report in
    the server process (its kernel_errors, sent back at its end)."""
    with h.Booted(seed=187) as k:
        s = h.start_remote_server(k, "tests.fs.puffs.h_remote:NegativeSizeFS")

        async def body():
            await _make("/mnt/f", b"hello")
            bad = (await h.stat_("/mnt/neg"))[0]
            await h.syncbar()
            return bad, await _cat("/mnt/f")

        assert k.run(body) == (EPROTO, (0, b"hello"))
        assert k.run(h.unmount, "/mnt") == 0
    assert (s.loop_error, s.died, s.returncode) == (0, False, 0)
    assert s.child_stats["kernel_errors"] == [
        "kernel: type 1 (MAKENODE), error 22, cookie 0x4242 "
        "(negative size -7 is not a valid size)"]
    assert s.child_stats["kernel_errors_seen"] == 1


@pytest.mark.parametrize("kept", [2, 0])
def test_kernel_errors_keeps_the_last_few_and_counts_all(kept):
    """A server that runs for ever must not grow with the kernel's reports:
    ``kernel_errors`` holds the last ``kernel_errors_kept`` (oldest first),
    ``kernel_errors_seen`` counts every one, and the error callback still
    sees each."""
    assert PuffsServer.kernel_errors_kept == 100    # the documented default
    with h.Booted(seed=189) as k:
        ops = BadAnswers()
        s, lines = _start(k, ops)
        s.kernel_errors_kept = kept
        sizes = (-2, -3, -4, -5)

        async def body():
            f = await _make_f(ops)
            out = []
            for size in sizes:
                ops.lookup[b"f"] = (None, size)
                out.append((await h.stat_("/mnt/f"))[0])
            await h.syncbar()
            return f, out

        f, out = k.run(body)
        assert out == [EPROTO] * len(sizes)
        texts = [f"negative size {size} is not a valid size" for size in sizes]
        assert s.kernel_errors == [KernelError(PUFFS_ERR_MAKENODE, EINVAL, t, f)
                                   for t in texts[len(texts) - kept:]]
        assert s.kernel_errors_seen == len(sizes)
        assert len(lines) == len(sizes)
        assert k.run(h.unmount, "/mnt") == 0


def test_updatevpsize_goes_through_getattr_and_setsize():
    """S6: puffs_updatevpsize (no caller in 1.28) takes the server's size
    through puffs_getattr and sets it with uvm_vnp_setsize (v_size and
    v_writesize together); a negative answer leaves both as they were."""
    from fs.puffs.puffs_subr import puffs_updatevpsize
    from vfs.namei import NSM_FOLLOW_NOEMULROOT, namei_simple_kernel
    from vfs.vnode import vrele

    with h.Booted(seed=188) as k:
        ops = BadAnswers()
        s, _ = _start(k, ops)

        async def body():
            f = await _make_f(ops)
            error, vp = await namei_simple_kernel("/mnt/f", NSM_FOLLOW_NOEMULROOT)
            assert error == 0
            out = []
            for size in (12, -4):
                ops.getattr_size[f] = size
                await puffs_updatevpsize(vp)
                out.append((vp.v_size, vp.v_writesize))
            await vrele(vp)
            await h.syncbar()
            return out

        assert k.run(body) == [(12, 12), (12, 12)]
        assert [e.text for e in s.kernel_errors] == ["negative size -4 is not a valid size"]
        assert k.run(h.unmount, "/mnt") == 0
