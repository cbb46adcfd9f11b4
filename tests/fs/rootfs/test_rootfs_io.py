"""rootfs reads, by every path a read takes: in the kernel's space a read that
lies in one stored chunk is moved from a view of the chunk, any other (a user
read, one across chunks, a hole) from a copy; kt.read_file's loop; libc's
pread; an etfs host file."""

from __future__ import annotations

import pytest

import kern
from fs.rootfs.rootfs import CHUNK
from kern.fcntl import O_CREAT, O_RDWR
from kern.machine import testing as kt
from tests.fs.ext2fs.helpers import read_file, write_file
from tools.lib import libc

SIZE = 3 * CHUNK - 50


def _pattern(n: int) -> bytes:
    return bytes((i * 7 + i // 251) & 0xFF for i in range(n))


def _model() -> bytes:
    """The file: chunks 0 and 2 written, chunk 1 a hole (never written)."""
    data = bytearray(_pattern(SIZE))
    data[CHUNK:2 * CHUNK] = bytes(CHUNK)
    return bytes(data)


# (offset, count): in one chunk, at its start, ending at its end, across chunks,
# in the hole, across the hole's edges, ending at and running past the end of file
READS = [(0, 100), (5, 4000), (CHUNK - 7, 7), (CHUNK - 10, 20), (0, CHUNK), (0, SIZE),
         (CHUNK + 3, 50), (2 * CHUNK - 5, 10), (2 * CHUNK + 1, CHUNK - 60),
         (SIZE - 10, 10), (SIZE - 10, 100), (SIZE, 10), (SIZE + 5, 10), (3, 0)]


async def _make(path: str) -> None:
    data = _pattern(SIZE)
    assert await write_file(path, data[:CHUNK]) == 0
    assert await write_file(path, data[2 * CHUNK:], 2 * CHUNK, create=False) == 0


@pytest.mark.parametrize("off,n", READS)
def test_kernel_space_reads(off, n):
    async def body():
        await _make("/tmp/f")
        got = await read_file("/tmp/f", n, off)
        # what was read is a copy: a later write does not show through it
        assert await write_file("/tmp/f", b"\xee" * SIZE, create=False) == 0
        return got

    with kern.boot() as k:
        error, got = k.run(body)
    assert error == 0
    assert got == _model()[off:off + n]


def test_user_reads():
    async def body():
        await _make("/tmp/f")
        fd = await libc.open("/tmp/f", 0)
        out = [await libc.pread(fd, n, off) for off, n in READS]
        await libc.close(fd)
        return out

    with kern.boot() as k:
        got = k.run(body)
    model = _model()
    assert got == [model[off:off + n] for off, n in READS]


@pytest.mark.parametrize("size,bs", [(0, 65536), (1, 65536), (SIZE, 65536), (SIZE, 4096),
                                     (2 * CHUNK, 65536), (100, 7)])
def test_kt_read_file(size, bs):
    data = _pattern(size)

    async def body():
        await kt.write_file("/tmp/g", data)
        return await kt.read_file("/tmp/g", bs)

    with kern.boot() as k:
        assert k.run(body) == data


def test_etfs_reads(tmp_path):
    """A host file shown in rootfs: read in the kernel's space and from a user program."""
    from dev.rumpblk import RUMP_ETFS_REG, rump_etfs_register

    host = tmp_path / "host"
    host.write_bytes(_model())

    async def body():
        assert await rump_etfs_register("/tmp/h", str(host), RUMP_ETFS_REG) == 0
        sys = [await read_file("/tmp/h", n, off) for off, n in READS]
        fd = await libc.open("/tmp/h", 0)
        user = [await libc.pread(fd, n, off) for off, n in READS]
        await libc.close(fd)
        return sys, user

    with kern.boot() as k:
        sys, user = k.run(body)
    model = _model()
    assert sys == [(0, model[off:off + n]) for off, n in READS]
    assert user == [model[off:off + n] for off, n in READS]


# (offset, count) of writes, in order: in a new chunk, ending at a chunk's end,
# across chunks, a whole chunk, past the end (leaving holes), over written bytes
WRITES = [(10, 100), (CHUNK - 5, 5), (CHUNK - 5, 10), (2 * CHUNK, CHUNK), (5 * CHUNK + 7, 3),
          (0, 1), (20, 50)]


def _written() -> tuple[bytes, int]:
    """The file the writes make and how many chunks it stores."""
    model = bytearray()
    for i, (off, n) in enumerate(WRITES):
        data = bytes([i + 1]) * n
        if len(model) < off + n:
            model.extend(bytes(off + n - len(model)))
        model[off:off + n] = data
    chunks = {o // CHUNK for off, n in WRITES for o in range(off, off + n)}
    return bytes(model), len(chunks)


async def _write_all(user: bool) -> None:
    """WRITES into /tmp/w: from the kernel's space, or from a user program."""
    fd = await libc.open("/tmp/w", O_CREAT | O_RDWR, 0o644) if user else None
    for i, (off, n) in enumerate(WRITES):
        data = bytes([i + 1]) * n
        if user:
            assert await libc.pwrite(fd, data, off) == n
        else:
            assert await write_file("/tmp/w", data, off) == 0
    if user:
        await libc.close(fd)


@pytest.mark.parametrize("user", [False, True])
def test_writes(user):
    """Writes from the kernel's space (straight into a chunk when they lie in one) and
    from a user program make the same file, size and stored chunks."""
    from tests.fs.ext2fs.helpers import stat

    async def body():
        await _write_all(user)
        error, st = await stat("/tmp/w")
        assert error == 0
        return await read_file("/tmp/w"), st.st_size, st.st_blocks

    with kern.boot() as k:
        (error, got), size, blocks = k.run(body)
    model, nchunks = _written()
    assert error == 0
    assert got == model
    assert size == len(model)
    assert blocks * 512 == nchunks * CHUNK


@pytest.mark.parametrize("user", [False, True])
def test_writes_account_the_chunks_made(user):
    """The chunks a write makes count in the file system's blocks (statvfs), from the
    kernel's space (the chunk made before the move) as from a user program, and
    removing the file gives them back."""
    from tests.fs.ext2fs.helpers import unlink

    async def body():
        # (a stored chunk first, so that the count is not at statvfs's floor)
        assert await write_file("/tmp/base", b"b" * CHUNK) == 0
        before = (await libc.statvfs("/tmp")).f_blocks
        await _write_all(user)
        after = (await libc.statvfs("/tmp")).f_blocks
        assert await unlink("/tmp/w") == 0
        return before, after, (await libc.statvfs("/tmp")).f_blocks

    with kern.boot() as k:
        before, after, removed = k.run(body)
    assert after - before == _written()[1] * CHUNK // 4096
    assert removed == before


def test_etfs_kernel_space_writes(tmp_path):
    """A write from the kernel's space to a host file shown in rootfs goes to the
    host file, even one that lies in one chunk: rootfs stores no chunk for it."""
    from dev.rumpblk import RUMP_ETFS_REG, rump_etfs_register
    from tests.fs.ext2fs.helpers import stat

    host = tmp_path / "host"
    host.write_bytes(b"")

    async def body():
        assert await rump_etfs_register("/tmp/h", str(host), RUMP_ETFS_REG) == 0
        for i, (off, n) in enumerate(WRITES):
            assert await write_file("/tmp/h", bytes([i + 1]) * n, off, create=False) == 0
        error, st = await stat("/tmp/h")
        assert error == 0
        return await read_file("/tmp/h"), st.st_size, st.st_blocks

    with kern.boot() as k:
        (error, got), size, blocks = k.run(body)
    model = _written()[0]
    assert host.read_bytes() == model
    assert (error, got, size, blocks) == (0, model, len(model), 0)


def test_kt_read_file_unmaps_its_buffer():
    """kt.read_file's one user buffer is unmapped on every way out: the end of the
    file, an error at the first read(2) (a directory) and one mid-way (a copyout
    fault at the second read, raised as before)."""
    from kern.cpu import curmachine, curproc
    from kern.errno import EFAULT, EISDIR

    async def body():
        await kt.write_file("/tmp/g", _pattern(3 * CHUNK))
        vm = curproc().p_vmspace
        await kt.read_file("/tmp/g")      # (libc's own stack mapping made)
        mapped = len(vm.vm_ents)
        out = [await kt.read_file("/tmp/g") == _pattern(3 * CHUNK), len(vm.vm_ents)]
        for path, site in (("/tmp", None), ("/tmp/g", "copyout")):
            f = curmachine().faults.add(site, error=EFAULT, fail_nth=2) if site else None
            try:
                await kt.read_file(path)
            except kern.SyscallError as e:
                out.append(e.errno)
            if f is not None:
                curmachine().faults.remove(f)
            out.append(len(vm.vm_ents))
        return mapped, out

    with kern.boot() as k:
        mapped, out = k.run(body)
    assert out == [True, mapped, EISDIR, mapped, EFAULT, mapped]
