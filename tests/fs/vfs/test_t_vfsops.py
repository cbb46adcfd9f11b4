"""NetBSD's tests/fs/vfs/t_vfsops.c (1.10) on every type.

All six cases: tmount, tstatvfs, tsync, tfilehandle, tfhremove, tfhinval.
The file-handle cases skip themselves where getfh(2) answers EOPNOTSUPP
("file handles not supported"), as NetBSD's do: kemu's rootfs has no
VFS_VPTOFH.
"""

from __future__ import annotations

import random

from kern.errno import EOPNOTSUPP, ESTALE
from kern.exceptions import SyscallError
from kern.fcntl import O_CREAT, O_RDONLY, O_RDWR
from tools.lib import libc
from vfs.mount import ST_WAIT

from .h_fsmacros import (
    FSTYPE_P2K_FFS,
    FSTYPE_PUFFS,
    MAXNAMLEN,
    atf_tc_skip,
    fsapply,
    fstype,
    require_errno,
)


async def tmount(path: str) -> None:
    # The work is in the frame: mount a fresh file system, unmount it.
    return


async def tstatvfs(path: str) -> None:
    fstypename = fstype().mntname
    svb = await libc.statvfs1(path, ST_WAIT)

    assert 0 < svb.f_namemax <= MAXNAMLEN, svb.f_namemax
    # puffs file systems report their server's name ("puffs|memfs").
    if not (FSTYPE_PUFFS() or FSTYPE_P2K_FFS()):
        assert svb.f_fstypename.decode() == fstypename
    assert svb.f_mntonname.decode() == path


async def tsync(path: str) -> None:
    await libc.sync()


MAGICSTR = b"just a string, I like A"
MAGICSZ = len(MAGICSTR) + 1          # sizeof(MAGICSTR): the NUL too


async def getfh_size_or_skip(path: str) -> int:
    """The E2BIG probe of getfh(2); EOPNOTSUPP skips the case."""
    try:
        return await libc.getfh_size(path)
    except SyscallError as e:
        if e.errno == EOPNOTSUPP:
            atf_tc_skip("file handles not supported")
        raise


async def tfilehandle(path: str) -> None:
    fpath = f"{path}/file"
    fd = await libc.open(fpath, O_RDWR | O_CREAT, 0o777)
    assert await libc.write(fd, MAGICSTR + b"\0") == MAGICSZ, "write to file"
    await libc.close(fd)

    # Get file handle size.  This also weeds out unsupported file systems.
    fhsize = await getfh_size_or_skip(fpath)
    fh = await libc.getfh(fpath, fhsize)

    # open file based on file handle
    fd = await libc.fhopen(fh, O_RDONLY)

    # check that we got the same file
    buf = await libc.read(fd, MAGICSZ)
    assert len(buf) == MAGICSZ, "read fhopened file"
    assert buf == MAGICSTR + b"\0"

    await libc.close(fd)


async def tfhremove(path: str) -> None:
    fname = "a_file"

    await libc.chdir(path)
    fd = await libc.open(fname, O_RDWR | O_CREAT, 0o777)
    await libc.close(fd)

    fhsize = await getfh_size_or_skip(fname)
    fh = await libc.getfh(fname, fhsize)
    await libc.unlink(fname)

    # NetBSD expects this to fail on msdosfs and lfs (PR kern/43745).
    await require_errno(ESTALE, libc.fhopen(fh, O_RDONLY), "fhopen() for a removed file")

    await libc.chdir("/")


# NetBSD seeds with time(NULL) and prints the seed; kemu tries fixed seeds so
# that a failure re-runs the same way.
FHINVAL_SEEDS = range(8)


async def tfhinval(path: str) -> None:
    """Only checks that the file system does not crash (a valid handle may result)."""
    await libc.chdir(path)
    fhsize = await getfh_size_or_skip(".")

    for seed in FHINVAL_SEEDS:
        rng = random.Random(seed)
        fh = bytes(rng.randrange(256) for _ in range(fhsize))
        try:
            fd = await libc.fhopen(fh, O_RDWR)
        except SyscallError:
            continue
        await libc.close(fd)

    await libc.chdir("/")


test_tmount = fsapply(tmount, "mount/unmount")
test_tstatvfs = fsapply(tstatvfs, "statvfs")
test_tsync = fsapply(tsync, "sync")
test_tfilehandle = fsapply(tfilehandle, "file handles")
test_tfhremove = fsapply(tfhremove, "fhtovp for removed file")
test_tfhinval = fsapply(tfhinval, "fhopen invalid filehandle")
