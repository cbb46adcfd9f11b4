"""f_mntfromname is bytes, as in NetBSD: a puffs file system's name comes back as
the server gave it, whatever its bytes (statvfs, getmntinfo, mount(8), df(1)).

puffs_mount builds "puffs:<name>" from the name in puffs_kargs; kemu used to
turn it into text and back, so a 0xff byte came back as c3 bf, its UTF-8.
"""

from __future__ import annotations

from kern.fcntl import O_RDONLY
from tests.shell_helpers import kemu_machine
from tools.lib import libc
from tools.lib.libpuffs import PuffsServer
from vfs.mount import MNT_NOWAIT

NAME = b"m\xffs"  # not UTF-8
FROM = b"puffs:" + NAME


def test_a_puffs_name_byte_0xff_is_kept():
    with kemu_machine(seed=3) as m:
        k = m.k

        async def mount() -> int:
            from tools.cmds.mount_puffs import _mount_server
            from tools.puffs_servers.memfs import FHSIZE, MemFS

            return await _mount_server(PuffsServer(MemFS(), NAME, fhsize=FHSIZE), "/mnt", 0)

        assert k.run(mount, proc=k.proc_create("mount_memfs", k.initproc)) == 0

        async def names():
            fd = await libc.open("/mnt", O_RDONLY)
            fst = await libc.fstatvfs(fd)
            await libc.close(fd)
            return ((await libc.statvfs("/mnt")).f_mntfromname, fst.f_mntfromname,
                    [s.f_mntfromname for s in await libc.getmntinfo(MNT_NOWAIT)
                     if s.f_mntonname == b"/mnt"])

        assert k.run(names) == (FROM, FROM, [FROM])
        out = m.sh("mount")
        assert out.status == 0
        assert FROM + b" on /mnt type puffs" in m.out.data
        assert m.sh("df /mnt").status == 0
        line = m.out.data.splitlines()[-1]
        assert line.startswith(FROM) and line.endswith(b"/mnt")
        assert b"\xc3\xbf" not in m.out.data
        assert m.ok("umount /mnt") == ""
