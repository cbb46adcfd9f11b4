"""Two mounts racing for one mount point (vfs_mount.c's re-check under the covered vnode's lock)."""

from __future__ import annotations

import pytest

from kern.errno import EBUSY
from kern.machine.testing import sweep
from tests.dev.fss.scenarios import join, spawn

from .helpers import (
    MB,
    assert_clean,
    attach_image,
    boot,
    check,
    mkfs,
    mount,
    needs_e2fsprogs,
    umount,
)

pytestmark = needs_e2fsprogs


@pytest.mark.parametrize("seed", sweep(8))
def test_two_mounts_on_one_directory_one_wins_and_the_other_is_ebusy(tmp_path, seed):
    """Both mounts may pass the first check before either covers /mnt (VFS_MOUNT
    sleeps reading the superblock); the covering re-checks under the vnode's
    lock, so one mount covers /mnt, the other fails with EBUSY and its fresh
    file system is taken down again: both images are left clean."""
    imgs = [mkfs(str(tmp_path / f"{i}.img"), 4 * MB, 1024) for i in range(2)]
    got: dict[str, int] = {}

    async def body():
        from vfs.vfs_syscalls import kern_mkdir

        for i, img in enumerate(imgs):
            check(await attach_image(img, f"/dev/wd{i}"))
        await kern_mkdir("/mnt", 0o755)

        async def mounter(dev):
            got[dev] = await mount(None, dev=dev)

        await join(*[spawn(f"mount{dev[-1]}", mounter, dev) for dev in ("/dev/wd0", "/dev/wd1")])
        check(await umount())
        # Nothing else was left on /mnt.
        got["second umount"] = await umount()

    with boot(seed) as k:
        k.run(body)
    assert sorted(got[d] for d in ("/dev/wd0", "/dev/wd1")) == [0, EBUSY]
    assert got["second umount"] != 0
    for img in imgs:
        assert_clean(img)
