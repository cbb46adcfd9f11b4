"""modctl(2) (kern.sys_module) and modload/modunload/modstat over it."""

from __future__ import annotations

import ctypes
import plistlib

import pytest

import kern
from kern import EEXIST, EFAULT, EINVAL, ENAMETOOLONG, ENOENT, ENOMEM, EPERM
from kern.conf.GENERIC import config as GENERIC
from kern.kern_auth import kauth_cred_make
from kern.kern_module import (
    MODCTL_EXISTS,
    MODCTL_LOAD,
    MODCTL_STAT,
    MODCTL_UNLOAD,
    MODFLG_AUTO_LOADED,
    kmod_namespace,
    modstat,
)
from kern.machine.testing import errno_of
from kern.subr_copy import user_iovec
from kern.sys_module import modctl_load_t, modstat_t
from tests.shell_helpers import kemu_machine
from tools.lib import libc

MODS = "tests.kern.modules"
CFG = GENERIC.derive("TOOLSMOD", module_path={
    **GENERIC.module_path, "tm_base": f"{MODS}.tm_base", "tm_dep": f"{MODS}.tm_dep"})


@pytest.fixture
def km():
    with kemu_machine(seed=2, config=CFG, md_size=None) as m:
        yield m


def test_modstat_t_layout():
    assert ctypes.sizeof(modstat_t) == 392 and ctypes.sizeof(modctl_load_t) == 32
    assert modstat_t.ms_addr.offset == 352 and modstat_t.ms_refcnt.offset == 372


def test_modctl_load_stat_unload(km):
    async def load(name, props=None, flags=0):
        ml = modctl_load_t(ml_filename=libc.ustr(name), ml_flags=flags)
        if props is not None:
            ml.ml_props = libc.ustr(props)
            ml.ml_propslen = len(props)
        try:
            return await libc.modctl(MODCTL_LOAD, ml)
        finally:
            libc.ufree(ml.ml_filename)
            if props is not None:
                libc.ufree(ml.ml_props)

    async def stat(length=8192):
        buf = libc.ualloc(length)
        iov = user_iovec(buf, length)
        await libc.modctl(MODCTL_STAT, iov)
        n = min(iov.iov_len, length) // ctypes.sizeof(modstat_t)
        rows = [modstat_t.from_buffer_copy(libc.uget(buf, ctypes.sizeof(modstat_t) * n),
                                           i * ctypes.sizeof(modstat_t)) for i in range(n)]
        libc.ufree(buf)
        return iov.iov_len, {r.ms_name.decode(): r for r in rows}

    async def body():
        r = {"load": await load("tm_dep")}
        r["again"] = await errno_of(load("tm_dep"))
        need, rows = await stat()
        r["need"] = need
        r["rows"] = {n: (x.ms_class, x.ms_source, x.ms_refcnt, x.ms_flags,
                         x.ms_required.decode()) for n, x in rows.items()}
        r["small"] = (await stat(10))[0]
        r["busy"] = await errno_of(libc.modctl(MODCTL_UNLOAD, "tm_base"))
        r["unload"] = await libc.modctl(MODCTL_UNLOAD, "tm_dep")
        r["none"] = await errno_of(libc.modctl(MODCTL_UNLOAD, "tm_dep"))
        r["long"] = await errno_of(libc.modctl(MODCTL_UNLOAD, "x" * 40))
        r["missing"] = await errno_of(load("no_such_module"))
        r["props"] = await errno_of(load("tm_base", b"not a plist"))
        r["toolong"] = await errno_of(load("tm_base", b"x" * 5000))
        bad = modctl_load_t(ml_filename=0x10, ml_flags=0)
        r["efault"] = await errno_of(libc.modctl(MODCTL_LOAD, bad))
        r["nolen"] = await errno_of(libc.modctl(MODCTL_LOAD, modctl_load_t(
            ml_filename=0x10, ml_props=0x20, ml_propslen=0)))
        r["cmd"] = await errno_of(libc.modctl(99, 0))
        r["exists"] = [await libc.modctl(MODCTL_EXISTS, 0),
                       await errno_of(libc.modctl(MODCTL_EXISTS, 7))]
        await libc.modctl(MODCTL_UNLOAD, "tm_base")
        xml = plistlib.dumps({"init_error": 5})
        r["init_error"] = await errno_of(load("tm_base", xml))
        return r

    r = km.k.run(body)
    assert r["load"] == 0 and r["again"] == EEXIST
    assert r["need"] == len(r["rows"]) * 392
    assert r["rows"]["tm_dep"] == (1, 2, 0, 0, "tm_base")            # misc, filesys
    assert r["rows"]["tm_base"][2:4] == (1, MODFLG_AUTO_LOADED)       # required by tm_dep
    assert r["rows"]["rootfs"][1] == 0                                # builtin
    assert r["small"] == r["need"]
    assert (r["busy"], r["unload"], r["none"], r["long"]) == (kern.EBUSY, 0, ENOENT,
                                                              ENAMETOOLONG)
    assert r["missing"] == ENOENT and r["props"] == EINVAL and r["toolong"] == ENOMEM
    assert r["efault"] == EFAULT and r["nolen"] == EINVAL and r["cmd"] == EINVAL
    assert r["exists"] == [0, EINVAL]
    assert r["init_error"] == kern.EIO


def test_modctl_needs_the_superuser(km):
    user = km.k.proc_create("user", km.k.initproc, cred=kauth_cred_make(100, 100))

    async def body():
        ml = modctl_load_t(ml_filename=libc.ustr("tm_base"))
        return [await errno_of(libc.modctl(MODCTL_LOAD, ml)),
                await errno_of(libc.modctl(MODCTL_EXISTS, 1))]

    assert km.k.run(body, proc=user) == [EPERM, EPERM]


def test_modload_modstat_modunload_commands(km):
    km.ok("modload tm_dep")
    out = km.ok("modstat")
    lines = out.splitlines()
    assert lines[0] == "NAME             CLASS    SOURCE   FLAG REFS  SIZE    REQUIRES"
    assert "tm_base          misc     filesys  a    1     " in out
    assert [ln.split()[0] for ln in lines[1:]] == sorted(ln.split()[0] for ln in lines[1:])
    # the same listing as the kernel's own formatter
    assert out == km.k.run(_kernel_modstat)
    assert km.ok("modstat -n tm_dep").splitlines()[1].split() == \
        ["tm_dep", "misc", "filesys", "-", "0", lines[-1].split()[5], "tm_base"]
    r = km.sh("modload tm_dep")
    assert (r.status, r.err) == (1, "modload: tm_dep: File exists\n")
    r = km.sh("modunload tm_base")
    assert (r.status, r.err) == (1, "modunload: tm_base: Device busy\n")
    km.ok("modunload tm_dep")
    km.ok("modunload tm_base")
    assert "tm_base" not in km.ok("modstat")


def test_modload_passes_properties(km):
    r = km.sh("modload -i init_error=5 tm_base")
    assert (r.status, r.err) == (1, "modload: tm_base: Input/output error\n")
    km.ok("modload -b flag=true -s name=x tm_base")
    assert kmod_namespace("tm_base", km.k).inits == 1


async def _kernel_modstat() -> str:
    return modstat()
