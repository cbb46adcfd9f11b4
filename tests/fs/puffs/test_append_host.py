"""O_APPEND on puffs when the file grows behind the kernel's back.

kemu's puffs has no page cache (puffs_vnops.py V1): the server holds the only
cache of a file's size.  So an appending write first asks the server for the
size (VOP_GETATTR) and writes there; here the host appends to the file that
the passthrough server serves, between two appends from kemu.
"""

from __future__ import annotations

from kern.fcntl import O_APPEND, O_RDWR, SEEK_CUR
from tools.lib import libc

from .test_passthrough import serve


def test_append_goes_after_what_the_host_appended(tmp_path):
    log = tmp_path / "log"
    log.write_bytes(b"one\n")

    async def body():
        fd = await libc.open("/mnt/log", O_RDWR | O_APPEND)
        assert await libc.write(fd, b"two\n") == 4
        first = await libc.lseek(fd, 0, SEEK_CUR)
        with open(log, "ab") as f:  # the host, behind the kernel's back
            f.write(b"host\n")
        assert await libc.write(fd, b"three\n") == 6
        second = await libc.lseek(fd, 0, SEEK_CUR)
        data = await libc.pread(fd, 100, 0)
        await libc.close(fd)
        return first, second, data

    first, second, data = serve(tmp_path, body, seed=5)
    assert (first, second) == (8, 19)
    assert data == b"one\ntwo\nhost\nthree\n"
    assert log.read_bytes() == b"one\ntwo\nhost\nthree\n"
