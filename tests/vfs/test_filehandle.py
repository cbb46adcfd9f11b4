"""getfh/fhopen/fhstat (vfs_syscalls.c) over ext2: handles, E2BIG probes, ESTALE, EPERM."""

from __future__ import annotations

import pytest

import kern
from kern.errno import E2BIG, EPERM, ESTALE
from kern.exceptions import SyscallError
from kern.fcntl import O_RDONLY
from kern.kern_auth import kauth_cred_make
from kern.machine import testing as kt
from kern.machine.testing import MiB
from tools.lib import libc


@pytest.fixture
def img(tmp_path):
    return kt.make_ext2_image(str(tmp_path / "fs.img"), 4 * MiB)


def test_handles_round_trip_and_go_stale(img):
    async def body():
        await kt.mount_image(img, "/mnt")
        await kt.write_file("/mnt/f", b"handle me\n")
        need = await libc.getfh_size("/mnt/f")
        with pytest.raises(SyscallError) as small:
            await libc.getfh("/mnt/f", need - 1)
        fh = await libc.getfh("/mnt/f", need)
        st = await libc.fhstat(fh)
        fd = await libc.fhopen(fh, O_RDONLY)
        data = await libc.read(fd, 100)
        await libc.close(fd)
        await libc.unlink("/mnt/f")
        with pytest.raises(SyscallError) as stale:
            await libc.fhopen(fh, O_RDONLY)
        return need, len(fh), small.value.errno, st.st_size, data, stale.value.errno

    with kern.boot() as k:
        need, n, small, size, data, stale = k.run(body)
    assert need == n == 8 + 12  # fsid, then ext2's ufid
    assert small == E2BIG
    assert (size, data) == (10, b"handle me\n")
    assert stale == ESTALE


def test_only_root_may_use_handles(img):
    async def body():
        await kt.mount_image(img, "/mnt")
        await kt.write_file("/mnt/f", b"x")
        fh = await libc.getfh("/mnt/f")
        p = kern.curmachine().proc_create("user", cred=kauth_cred_make(100, 100))

        async def as_user():
            out = []
            for call in (libc.getfh("/mnt/f"), libc.fhstat(fh), libc.fhopen(fh, O_RDONLY)):
                try:
                    await call
                except SyscallError as e:
                    out.append(e.errno)
            return out

        return p, as_user

    with kern.boot() as k:
        p, as_user = k.run(body)
        assert k.run(as_user, proc=p) == [EPERM, EPERM, EPERM]
