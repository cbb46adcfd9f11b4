"""newfs_ext2fs(8) inside the machine: tools/newfs_ext2fs.py's formatting core,
driven through system calls on the special file.

The special (normally the raw disk, /dev/rwd0) is opened with open(2); its
size comes from ioctl(DIOCGMEDIASIZE) (lseek(2) to the end for a regular
file) unless ``-s`` gives it; the core's writes go out with pwrite(2).
What the core reports is printed on standard output through write(2).
"""

from __future__ import annotations

import ctypes

from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_RDONLY, O_RDWR, SEEK_END
from kern.param import DEV_BSIZE
from tools import newfs_ext2fs as core
from tools.cmds import command
from tools.cmds._prog import eprintf, printf
from tools.lib import libc
from vfs.dkio import DIOCGMEDIASIZE


async def special_size(fd: int) -> int:
    """Bytes of the special file: the disk's media size, or a regular file's length."""
    size = ctypes.c_int64(0)
    try:
        await libc.ioctl(fd, DIOCGMEDIASIZE, size)
        if size.value > 0:
            return size.value
    except SyscallError:
        pass
    return await libc.lseek(fd, 0, SEEK_END)


async def sector_pwrite(fd: int, data: bytes, off: int, secsize: int = DEV_BSIZE) -> int:
    """pwrite(2) that keeps to whole sectors, as a raw disk wants them: a write
    that starts or ends inside a sector reads that sector, patches it and
    writes it back (newfs's wtfs writes whole sectors too)."""
    if off % secsize == 0 and len(data) % secsize == 0:
        return await libc.pwrite(fd, data, off)
    start = off - off % secsize
    end = -(-(off + len(data)) // secsize) * secsize
    old = await libc.pread(fd, end - start, start)
    buf = bytearray(old.ljust(end - start, b"\0"))
    buf[off - start:off - start + len(data)] = data
    n = await libc.pwrite(fd, bytes(buf), start)
    return len(data) if n == len(buf) else max(0, n - (off - start))


@command("newfs_ext2fs", summary="construct a new ext2 file system")
async def main(argv: list[str]) -> int:
    out: list[str] = []
    special = "?"
    try:
        p, flags, special = core.parse_args(argv[1:])
        p.out = out.append
        if p.now is None:
            p.now = (await libc.gettimeofday())[0]         # the machine's clock
        create = flags["F"] and flags.get("size", 0) > 0 and not p.Nflag
        fd = await libc.open(special, (O_RDONLY if p.Nflag else O_RDWR) |
                             (O_CREAT if create else 0), 0o644)
        try:
            core._fix_size(p, flags, await special_size(fd))

            async def pwrite(data: bytes, off: int) -> int:
                return await sector_pwrite(fd, data, off)

            await core.anewfs_ext2fs(pwrite, p, special)
        finally:
            await libc.close(fd)
    except core.NewfsError as e:
        await printf("".join(out))
        msg = str(e)
        if msg.startswith("usage:"):
            await eprintf(msg if msg.endswith("\n") else msg + "\n")
        else:
            await eprintf(f"newfs_ext2fs: {msg.rstrip()}\n")
        return 1
    except SyscallError as e:
        await printf("".join(out))
        await eprintf(f"newfs_ext2fs: {special}: {e.strerror}\n")
        return 1
    await printf("".join(out))
    return 0
