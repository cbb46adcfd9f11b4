"""Data races of puffs_vfsops.c 1.38, kept on purpose: what kemu's race detector reports.

With ``kern.boot(race=True)`` (or ``pytest --kemu-race``) the lockset detector
(kern.machine.lockset) watches struct puffs_mount and struct puffs_node.  Its
table declares the races below kept: each is recorded once in
``k.race.kept`` and the run goes on; any other race on those fields still
ends it.  The root-cookie races are 1.38's "XXX: this is wrong, so FIXME":
a root vnode asked for while the mount is still MOUNTING is made before the
server has told its root cookie; from mid-May 2007 the cookie comes with the
mount arguments and both races are gone.
"""

from __future__ import annotations

import kern
from kern.errno import EBUSY, ENXIO
from tools.lib.libpuffs import PuffsServer
from tools.lib.libpuffs._sys import lwp_create
from tools.puffs_servers.memfs import MemFS
from vfs.mount import MNT_FORCE

from . import h_puffs as h


def _kept(k, struct: str, field: str) -> list:
    return [r for r in k.race.kept if (r.struct, r.field) == (struct, field)]


def _sides(report) -> list[str]:
    return report.message.splitlines()[1:3]


def test_the_root_cookie_reaches_a_root_vnode_made_while_MOUNTING():
    """A lookup of the mount point before the server's PUFFSSTARTOP makes the
    root vnode with no cookie (its GETATTR fails: ENXIO while MOUNTING);
    puffs_start2 then writes the cookie into that node under pmp_lock, while
    later users of the root read it under the vnode lock only.  After an
    unmount the server refused (vflush reclaimed the root), puffs_root reads
    pmp_rootcookie without pmp_lock to make the root again."""
    memfs = MemFS()
    with h.Booted(seed=1, race=True) as k:
        p = k.proc_create("memfs", k.initproc)

        async def body():
            srv = PuffsServer(memfs, "memfs")
            await srv.init()
            await srv.mount("/mnt")

            async def serve():
                await kern.kpause("late", False, 3, None)  # the start comes late
                await srv.start()
                await srv.serve()

            lwp_create(serve, name="server")
            early = (await h.stat_("/mnt"))[0]
            await kern.kpause("wait", False, 10, None)
            running = (await h.stat_("/mnt"))[0]
            memfs.unmount_refusal = EBUSY
            refused = await h.unmount("/mnt")
            again = (await h.stat_("/mnt"))[0]
            return early, running, refused, again, await h.unmount("/mnt", MNT_FORCE)

        assert k.run(body, proc=p) == (ENXIO, 0, EBUSY, 0, 0)
        assert k.race.races == []

    cookie = _kept(k, "puffs_node", "pn_cookie")
    assert cookie, "the detector did not see start2 patch the root node's cookie"
    for r in cookie:
        sides = _sides(r)
        assert any(s.startswith('  write by lwp "server"') and " in puffs_start2, " in s and
                   '"pmp.pmp_lock"' in s for s in sides)
        assert any(s.startswith('  read by lwp "body"') and '"self.v_lock"' in s and
                   '"pmp.pmp_lock"' not in s for s in sides)
        assert "mid-May 2007" in r.why
    root = _kept(k, "puffs_mount", "pmp_rootcookie")
    assert len(root) == 1
    sides = _sides(root[0])
    assert any(s.startswith('  read by lwp "body"') and " in puffs_root, holding no lock" in s
               for s in sides)
    assert any(s.startswith('  write by lwp "server"') and " in puffs_start2, " in s and
               '"pmp.pmp_lock"' in s for s in sides)
    assert "pa_root_cookie" in root[0].why or "mount arguments" in root[0].why


def test_statvfs_tests_MOUNTING_without_pmp_lock():
    """puffs_statvfs reads pmp_status without pmp_lock (a guard: the server's own
    mount(2) asks statvfs while MOUNTING), while puffs_userdead, run when the
    server closes /dev/puffs, sets DYING under the lock.  Later revisions
    still read it so (1.106)."""
    with h.Booted(seed=2, race=True) as k:
        server = h.start_server(k)

        async def stop_later():
            async def stop():
                await kern.kpause("later", False, 20, None)
                await server.terminate()  # its loop ends, it closes /dev/puffs
            lwp_create(stop, name="stopper")

        k.run(stop_later, proc=server.proc)

        async def body():
            error, sb = await h.statvfs1("/mnt")
            await kern.kpause("while", False, 40, None)  # the server goes meanwhile
            return error, h.mounted(k, "/mnt") is None

        assert k.run(body) == (0, True)
        assert k.race.races == []
    reps = _kept(k, "puffs_mount", "pmp_status")
    assert reps
    for r in reps:
        assert any(" in puffs_statvfs, holding no lock" in s for s in _sides(r))
        assert any(" in puffs_userdead, " in s and '"pmp.pmp_lock"' in s and
                   s.startswith("  write") for s in _sides(r))
        assert "1.106" in r.why
