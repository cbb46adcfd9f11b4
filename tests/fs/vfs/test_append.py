"""O_APPEND on every file-system type: an appending write lands at the end of the
file and leaves the descriptor's offset there (vn_write, the file systems'
IO_APPEND), so the next read finds the end, not old data.

puffs used to send the caller's offset (its uncached write path leaves
IO_APPEND to the server): the server appended, but the descriptor's offset
stayed short of the end.  See puffs_vnops.py's V1.
"""

from __future__ import annotations

from kern.fcntl import O_APPEND, O_CREAT, O_RDWR, O_TRUNC, O_WRONLY, SEEK_CUR, SEEK_SET
from tools.lib import libc

from .h_fsmacros import fsapply


async def append_lands_at_the_end(mp: str) -> None:
    path = f"{mp}/log"
    fd = await libc.open(path, O_CREAT | O_TRUNC | O_RDWR, 0o644)
    assert await libc.write(fd, b"0123456789") == 10
    await libc.close(fd)

    fd = await libc.open(path, O_RDWR | O_APPEND)
    assert await libc.lseek(fd, 0, SEEK_CUR) == 0
    assert await libc.write(fd, b"abc") == 3
    assert await libc.lseek(fd, 0, SEEK_CUR) == 13  # the end, not 3
    assert await libc.read(fd, 10) == b""  # nothing old to read there
    # wherever the offset is, the write goes to the end
    assert await libc.lseek(fd, 2, SEEK_SET) == 2
    assert await libc.write(fd, b"de") == 2
    assert await libc.lseek(fd, 0, SEEK_CUR) == 15
    # an empty append leaves the offset alone (SUSv3: no other result)
    await libc.lseek(fd, 4, SEEK_SET)
    assert await libc.write(fd, b"") == 0
    assert await libc.lseek(fd, 0, SEEK_CUR) == 4
    # another descriptor makes the file longer: the next append goes after that
    fd2 = await libc.open(path, O_WRONLY)
    assert await libc.pwrite(fd2, b"XYZ", 15) == 3
    await libc.close(fd2)
    assert await libc.write(fd, b"!") == 1
    assert await libc.lseek(fd, 0, SEEK_CUR) == 19
    assert (await libc.fstat(fd)).st_size == 19
    assert await libc.pread(fd, 100, 0) == b"0123456789abcdeXYZ!"
    await libc.close(fd)
    await libc.unlink(path)


async def append_in_chunks(mp: str) -> None:
    """A large append goes out in several requests on puffs (PUFFS_TOMOVE):
    each lands after the last, and the offset ends at the end."""
    path = f"{mp}/big"
    fd = await libc.open(path, O_CREAT | O_TRUNC | O_RDWR | O_APPEND, 0o644)
    assert await libc.write(fd, b"head") == 4
    body = bytes(range(256)) * 1024  # 256 KiB
    assert await libc.write(fd, body) == len(body)
    assert await libc.lseek(fd, 0, SEEK_CUR) == 4 + len(body)
    assert await libc.pread(fd, 8, 0) == b"head" + body[:4]
    assert await libc.pread(fd, 8, 4 + len(body) - 8) == body[-8:]
    await libc.close(fd)
    await libc.unlink(path)


test_append_lands_at_the_end = fsapply(append_lands_at_the_end,
                                       "O_APPEND writes go to the end and leave the offset there")
test_append_in_chunks = fsapply(append_in_chunks, "a large O_APPEND write, in several requests")
