"""The module framework (kern_module.c): load/unload rules, builtins, auto-unload,
and per-machine module instances."""

from __future__ import annotations

import sys

import pytest

import kern
from kern.conf.GENERIC import config as GENERIC
from kern.errno import EBUSY, EDEADLK, EEXIST, EINVAL, EIO, EMLINK, ENOENT, ENOEXEC, EPERM
from kern.kern_module import (
    MAXMODNAME,
    MODCTL_LOAD_FORCE,
    MODULE_CLASS_ANY,
    MODULE_CLASS_DRIVER,
    MODULE_CLASS_VFS,
    kmod_namespace,
    kmod_option,
    modstat,
    module_autoload,
    module_autotime_get,
    module_autotime_set,
    module_load,
    module_lookup,
    module_stat,
    module_unload,
)
from kern.kern_synch import hz, kpause

MODS = "tests.kern.modules"
PATH = {n: f"{MODS}.{n}" for n in (
    "tm_base", "tm_dep", "tm_busy", "tm_cycle_a", "tm_cycle_b", "tm_self", "tm_vfs",
    "tm_secmodel", "tm_toomany", "tm_noinfo", "tm_twoinfo", "tm_broken", "tm_longname",
    "tm_autoloader", "tpd")}
PATH.update({f"tm_d{i}": f"{MODS}.deep.tm_d{i}" for i in range(1, 8)})
PATH["tm_pkg"] = f"{MODS}.tm_pkg.tm_pkg_main"
PATH["tm_missing"] = f"{MODS}.no_such_module"


def cfg(builtin_modules=(), **kw):
    """GENERIC plus the test modules on the module path (and maybe as builtins)."""
    return GENERIC.derive("TESTMOD", module_path={**GENERIC.module_path, **PATH},
                          builtin_modules=GENERIC.builtin_modules + list(builtin_modules), **kw)


def stat() -> dict:
    """module_stat() of the test modules (GENERIC's own builtins left out)."""
    return {ms.name: ms for ms in module_stat() if ms.name in PATH}


def fresh_names(k, what: str) -> list[str]:
    """sys.modules names of this machine's fresh copies of ``what``."""
    from kern.kern_module import _machine_id

    root = f"kemu.m{_machine_id.of(k)}."
    return [n for n in sys.modules if n.startswith(root) and n.endswith(what)]


@pytest.fixture
def k():
    with kern.boot(seed=1, config=cfg()) as m:
        yield m


def test_requirement_loaded_first_and_unload_order(k):
    async def body():
        assert await module_load("tm_dep", 0, None, MODULE_CLASS_ANY) == 0
        s = stat()
        assert set(s) == {"tm_base", "tm_dep"}
        assert s["tm_base"].refcnt == 1 and s["tm_dep"].refcnt == 0
        assert s["tm_dep"].required == ["tm_base"]
        # A requirement is loaded on the system's behalf: flagged autoloaded.
        assert s["tm_base"].flags == "a" and s["tm_dep"].flags == "-"
        assert s["tm_dep"].source == "filesys" and s["tm_dep"].modclass == "misc"
        assert kmod_namespace("tm_dep").loaded_at_init == ["tm_base"]
        assert kmod_namespace("tm_base").inits == 1
        assert await module_unload("tm_base") == EBUSY
        assert await module_unload("tm_dep") == 0
        assert stat()["tm_base"].refcnt == 0
        assert await module_unload("tm_base") == 0
        assert await module_unload("tm_base") == ENOENT
        return stat()

    assert k.run(body) == {}
    assert fresh_names(k, "tm_base") == [] and fresh_names(k, "tm_dep") == []


def test_fini_error_keeps_module_loaded(k):
    async def body():
        assert await module_load("tm_base", 0, None, MODULE_CLASS_ANY) == 0
        ns = kmod_namespace("tm_base")
        ns.fini_error = EBUSY
        assert await module_unload("tm_base") == EBUSY
        assert "tm_base" in stat()
        assert kmod_namespace("tm_base") is ns
        ns.fini_error = 0
        assert await module_unload("tm_base") == 0
        return ns.log, ns.finis

    assert k.run(body) == (["init", "fini", "fini"], 1)


def test_init_error_leaves_only_the_loaded_requirements(k):
    async def body():
        assert await module_load("tm_dep", 0, {"init_error": EIO}, MODULE_CLASS_ANY) == EIO
        s = stat()
        assert set(s) == {"tm_base"}
        assert s["tm_base"].refcnt == 0
        # A lone module whose INIT fails leaves nothing.
        assert await module_unload("tm_base") == 0
        assert await module_load("tm_base", 0, {"init_error": EIO}, MODULE_CLASS_ANY) == EIO
        return stat()

    assert k.run(body) == {}
    assert fresh_names(k, "tm_dep") == [] and fresh_names(k, "tm_base") == []
    assert "modcmd function returned error 5 for `tm_dep'" in k.dmesg()


def test_eexist_enoent_and_bad_arguments(k):
    async def body():
        assert await module_load("tm_base", 0, None, MODULE_CLASS_ANY) == 0
        assert await module_load("tm_base", 0, None, MODULE_CLASS_ANY) == EEXIST
        assert await module_load("no_such", 0, None, MODULE_CLASS_ANY) == ENOENT
        assert await module_load("tm_missing", 0, None, MODULE_CLASS_ANY) == ENOENT
        assert await module_unload("no_such") == ENOENT
        assert await module_load(None, 0, None, MODULE_CLASS_ANY) == ENOENT
        assert await module_load("tm_dep", "x", None, MODULE_CLASS_ANY) == EINVAL
        assert await module_unload(17) == ENOENT
        # tm_dep finds its requirement loaded already.
        assert await module_load("tm_dep", 0, None, MODULE_CLASS_ANY) == 0
        return stat()["tm_base"].refcnt

    assert k.run(body) == 1


def test_circular_and_self_requirements(k):
    async def body():
        assert await module_load("tm_cycle_a", 0, None, MODULE_CLASS_ANY) == EDEADLK
        assert await module_load("tm_self", 0, None, MODULE_CLASS_ANY) == EDEADLK
        return stat()

    assert k.run(body) == {}
    assert "circular dependency detected for `tm_cycle_a'" in k.dmesg()
    assert "self-dependency detected for `tm_self'" in k.dmesg()


def test_class_mismatch(k):
    async def body():
        assert await module_load("tm_vfs", 0, None, MODULE_CLASS_DRIVER) == ENOENT
        assert stat() == {}
        assert await module_load("tm_vfs", 0, None, MODULE_CLASS_VFS) == 0
        return stat()["tm_vfs"].modclass

    assert k.run(body) == "vfs"
    assert "incompatible module class 2 for `tm_vfs' (wanted 3)" in k.dmesg()


def test_depth_and_requirement_limits(k):
    async def body():
        r = [await module_load("tm_d1", 0, None, MODULE_CLASS_ANY)]
        assert stat() == {}
        r.append(await module_load("tm_d2", 0, None, MODULE_CLASS_ANY))  # six deep: fine
        r.append(len(stat()))
        r.append(await module_load("tm_toomany", 0, None, MODULE_CLASS_ANY))
        return r

    assert k.run(body) == [EMLINK, 0, 6, EINVAL]
    assert "too many required modules 9 >= 9" in k.dmesg()


def test_files_that_are_not_proper_modules(k):
    async def body():
        return [await module_load(n, 0, None, MODULE_CLASS_ANY)
                for n in ("tm_noinfo", "tm_twoinfo", "tm_broken", "tm_longname")]

    assert k.run(body) == [ENOENT, ENOEXEC, ENOEXEC, EINVAL]
    assert "tm_broken does not load" in k.dmesg()
    assert f"longer than {MAXMODNAME}" in k.dmesg()
    assert fresh_names(k, "tm_broken") == []


def test_init_may_autoload_under_the_same_lock(k):
    async def body():
        assert await module_load("tm_autoloader", 0, None, MODULE_CLASS_ANY) == 0
        return kmod_namespace("tm_autoloader").init_result, sorted(stat())

    assert k.run(body) == (0, ["tm_autoloader", "tm_base"])


def test_builtin_modules_init_at_boot_and_need_force_again():
    with kern.boot(seed=2, config=cfg(builtin_modules=["tm_dep", "tm_base"])) as k:
        async def body():
            s = stat()
            assert {n: (m.source, m.refcnt) for n, m in s.items()} == {
                "tm_base": ("builtin", 1), "tm_dep": ("builtin", 0)}
            dep = kmod_namespace("tm_dep")
            assert dep.inits == 1 and kmod_namespace("tm_base").inits == 1
            assert dep.loaded_at_init == ["tm_base"]
            assert await module_unload("tm_base") == EBUSY
            assert await module_unload("tm_dep") == 0
            s = stat()
            assert (s["tm_dep"].refcnt, s["tm_dep"].flags, s["tm_dep"].source) == \
                (-1, "f", "builtin")
            assert s["tm_base"].refcnt == 0
            assert await module_load("tm_dep", 0, None, MODULE_CLASS_ANY) == EPERM
            assert await module_autoload("tm_dep", MODULE_CLASS_ANY) == EPERM
            assert await module_load("tm_dep", MODCTL_LOAD_FORCE, None, MODULE_CLASS_ANY) == 0
            # A built-in module is not re-executed: INIT runs again on its globals.
            assert kmod_namespace("tm_dep") is dep and dep.inits == 2
            return modstat()

        text = k.run(body)
    lines = text.splitlines()
    assert lines[0].split() == ["NAME", "CLASS", "SOURCE", "FLAG", "REFS", "SIZE", "REQUIRES"]
    rows = {line.split()[0]: line.split() for line in lines[1:]}
    assert rows["tm_base"] == ["tm_base", "misc", "builtin", "-", "1", "-", "-"]
    # The flag stays: it was loaded with -f ("Required the -f flag", modstat(8)).
    assert rows["tm_dep"] == ["tm_dep", "misc", "builtin", "f", "0", "-", "tm_base"]
    assert list(rows) == sorted(rows)
    assert "use -f to reinstate builtin module `tm_dep'" in k.dmesg()


def test_builtin_secmodel_stays():
    with kern.boot(seed=3, config=cfg(builtin_modules=["tm_secmodel"])) as k:
        async def body():
            return await module_unload("tm_secmodel"), stat()["tm_secmodel"].modclass

        assert k.run(body) == (EPERM, "secmodel")


def test_module_globals_are_per_machine():
    async def load_and_mutate():
        assert await module_load("tm_base", 0, None, MODULE_CLASS_ANY) == 0
        ns = kmod_namespace("tm_base")
        seen = ns.counter
        ns.counter = 42
        ns.log.append("machine")
        return seen, ns

    with kern.boot(seed=1, config=cfg()) as k1:
        seen1, ns1 = k1.run(load_and_mutate)
        with kern.boot(seed=1, config=cfg()) as k2:   # both alive at once
            seen2, ns2 = k2.run(load_and_mutate)
    with kern.boot(seed=1, config=cfg()) as k3:       # one after another
        seen3, ns3 = k3.run(load_and_mutate)
    assert (seen1, seen2, seen3) == (0, 0, 0)
    assert ns1 is not ns2 and ns2 is not ns3
    assert ns1.log == ["init", "machine"] and ns3.log == ["init", "machine"]
    assert ns1.__name__ != ns2.__name__
    # The shared import of the same file is untouched.
    import tests.kern.modules.tm_base as shared
    assert shared.counter == 0 and shared._MODULE is False


def test_package_module_gets_fresh_siblings():
    async def body():
        assert await module_load("tm_pkg", 0, None, MODULE_CLASS_ANY) == 0
        ns = kmod_namespace("tm_pkg")
        return ns.state()

    with kern.boot(seed=1, config=cfg()) as k1:
        st1 = k1.run(body)
        names = fresh_names(k1, "tm_pkg_state")
        assert len(names) == 1 and sys.modules[names[0]] is st1
    with kern.boot(seed=1, config=cfg()) as k2:
        st2 = k2.run(body)

        async def unload():
            return await module_unload("tm_pkg")

        assert k2.run(unload) == 0
        assert fresh_names(k2, "tm_pkg_state") == []
        assert fresh_names(k2, "tm_pkg_util") == []
    assert st1 is not st2
    assert st1.events == ["modcmd"] and st2.events == ["modcmd", "modcmd"]


def test_a_declared_header_is_shared_by_every_machine():
    """A file its package names in ``__kobj_headers__`` is imported once for the
    process: every machine's copy of the module reaches that import (the same
    ctypes classes), while the module's other files stay per machine; it is
    not among the files executed for the machine, and its name goes with the
    module's at unload and comes back at a reload."""
    import tests.kern.modules.tm_pkg.tm_pkg_hdr as shared

    async def load():
        assert await module_load("tm_pkg", 0, None, MODULE_CLASS_ANY) == 0
        ns = kmod_namespace("tm_pkg")
        files = [m.__name__.rpartition(".")[2] for m in module_lookup("tm_pkg").mod_kobj.modules()]
        return ns.header(), ns.state(), sorted(files)

    async def unload():
        return await module_unload("tm_pkg")

    with kern.boot(seed=1, config=cfg()) as k1, kern.boot(seed=1, config=cfg()) as k2:
        h1, st1, files1 = k1.run(load)
        h2, st2, files2 = k2.run(load)
        assert h1 is shared and h2 is shared
        assert h1.tm_pkg_rec.from_buffer_copy(b"\x57\x7e\x08\0\0\0").r_magic == h1.TM_PKG_MAGIC
        assert st1 is not st2
        assert files1 == files2 == ["tm_pkg_main", "tm_pkg_state", "tm_pkg_util"]
        assert len(fresh_names(k1, "tm_pkg_hdr")) == 1
        assert k1.run(unload) == 0
        assert fresh_names(k1, "tm_pkg_hdr") == []
        assert sys.modules["tests.kern.modules.tm_pkg.tm_pkg_hdr"] is shared
        # loaded again: the same shared header, the other files executed afresh
        h3, st3, files3 = k1.run(load)
        assert h3 is shared and st3 is not st1 and files3 == files1
        assert len(fresh_names(k1, "tm_pkg_hdr")) == 1
        assert k2.run(unload) == 0 and k2.run(load)[0] is shared


def test_sibling_files_are_found_again_when_they_change_on_disk(tmp_path, monkeypatch):
    """The place of a sibling file is remembered between loads, never a file
    that is gone: a sibling deleted makes the next load fail (ENOEXEC), one
    put back (with new contents) is executed as it now is."""
    pkg = tmp_path / "kemu_tm_disk"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "tm_disk_main.py").write_text(
        "from kern.kern_module import MODULE, MODULE_CLASS_MISC\n"
        "from . import tm_disk_sib\n"
        "tm_disk_modinfo = MODULE(MODULE_CLASS_MISC, 'tm_disk', None)\n"
        "def tm_disk_modcmd(cmd, arg):\n"
        "    return 0\n")
    sib = pkg / "tm_disk_sib.py"
    sib.write_text("value = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = cfg().derive("TESTMOD_DISK", module_path={**cfg().module_path,
                                                       "tm_disk": "kemu_tm_disk.tm_disk_main"})

    async def body():
        error = await module_load("tm_disk", 0, None, MODULE_CLASS_ANY)
        return error, (kmod_namespace("tm_disk").tm_disk_sib.value if error == 0 else None)

    def load() -> tuple:
        with kern.boot(seed=1, config=config) as k:
            return k.run(body)

    assert load() == (0, 1)
    assert load() == (0, 1)
    sib.unlink()
    assert load() == (ENOEXEC, None)
    sib.write_text("value = 22\n")
    assert load() == (0, 22)


def test_an_entry_file_is_found_again_when_it_changes_on_disk(tmp_path, monkeypatch):
    """kobj_load remembers where a module's entry file is, never a file that is
    gone: deleted, the next load answers ENOENT; put back with new contents,
    it is executed as it now is."""
    pkg = tmp_path / "kemu_tm_entry"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    main = pkg / "tm_entry_main.py"

    def write(value: int) -> None:
        main.write_text(
            "from kern.kern_module import MODULE, MODULE_CLASS_MISC\n"
            f"value = {value}\n"
            "tm_entry_modinfo = MODULE(MODULE_CLASS_MISC, 'tm_entry', None)\n"
            "def tm_entry_modcmd(cmd, arg):\n"
            "    return 0\n")

    monkeypatch.syspath_prepend(str(tmp_path))
    config = cfg().derive("TESTMOD_ENTRY", module_path={**cfg().module_path,
                                                        "tm_entry": "kemu_tm_entry.tm_entry_main"})

    async def body():
        error = await module_load("tm_entry", 0, None, MODULE_CLASS_ANY)
        return error, (kmod_namespace("tm_entry").value if error == 0 else None)

    def load() -> tuple:
        with kern.boot(seed=1, config=config) as k:
            return k.run(body)

    write(1)
    assert load() == (0, 1)
    assert load() == (0, 1)
    main.unlink()
    assert load() == (ENOENT, None)
    write(22)
    assert load() == (0, 22)


def test_compile_time_options(k):
    async def body():
        assert await module_load("tm_base", 0, None, MODULE_CLASS_ANY) == 0
        ns = kmod_namespace("tm_base")
        return ns._MODULE, ns.DIAGNOSTIC, ns._LP64

    assert k.run(body) == (True, True, True)
    assert kmod_option("_MODULE") is False and kmod_option("_KERNEL") is True


def test_autounload_after_autotime(k):
    async def body():
        assert module_autotime_get() == 10
        assert await module_autoload("tm_base", MODULE_CLASS_ANY) == 0
        assert await module_autoload("tm_busy", MODULE_CLASS_ANY) == 0
        s = stat()
        assert s["tm_base"].flags == "a" and s["tm_busy"].flags == "a"
        log = kmod_namespace("tm_base").log
        await kpause("wait", False, 9 * hz + hz // 2, None)
        assert set(stat()) == {"tm_base", "tm_busy"}
        await kpause("wait", False, 2 * hz, None)
        # tm_base said ENOTTY: unloaded; tm_busy said EBUSY: it stays, for good.
        assert set(stat()) == {"tm_busy"}
        await kpause("wait", False, 30 * hz, None)
        assert set(stat()) == {"tm_busy"}
        return log

    assert k.run(body) == ["init", "autounload", "fini"]
    t = k.lwp_named("modunload")
    assert t.l_wmesg == "mod_unld" and not t.l_sleeptimo


def test_autounload_settings():
    with kern.boot(seed=4, config=cfg(autoload=False)) as k:
        async def off():
            return await module_autoload("tm_base", MODULE_CLASS_ANY)

        assert k.run(off) == EPERM

    with kern.boot(seed=4, config=cfg(), module_autotime=3) as k:
        async def body():
            assert await module_autoload("tm.base", MODULE_CLASS_ANY) == EPERM
            assert await module_autoload("a/b", MODULE_CLASS_ANY) == EPERM
            assert module_autotime_get() == 3
            assert module_autotime_set(-1) == EINVAL
            assert await module_autoload("tm_base", MODULE_CLASS_ANY) == 0
            await kpause("wait", False, 4 * hz, None)
            return stat()

        assert k.run(body) == {}


def test_idle_machine_has_no_module_timer(k):
    async def body():
        await kpause("wait", False, hz, None)

    k.run(body)
    t = k.lwp_named("modunload")
    assert t.l_stat_name == "SLEEP" and not t.l_sleeptimo


def test_only_the_superuser_loads_modules(k):
    from kern.kern_auth import kauth_cred_make

    async def body():
        return [await module_load("tm_base", 0, None, MODULE_CLASS_ANY),
                await module_unload("tm_base"),
                await module_autoload("tm_base", MODULE_CLASS_ANY),   # the system's own load
                await module_unload("tm_base"),
                await module_load("tm_base", 0, None, MODULE_CLASS_ANY)]  # EEXIST first

    user = k.proc_create("user", k.initproc, kauth_cred_make(100, 100))
    assert k.run(body, proc=user) == [EPERM, EPERM, 0, EPERM, EEXIST]


def test_required_list_is_split_as_c_walks_it():
    from kern.kern_module import _requirements, modinfo

    def req(s):
        return _requirements(modinfo(0, MODULE_CLASS_DRIVER, "m", s))

    assert req(None) == [] and req("") == []
    assert req("a,b") == ["a", "b"]
    assert req(",a,b,") == ["a", "b"]     # one comma is skipped before each name
    assert req("a,,b") == ["a"]           # an empty name ends the list
    assert req(",,a") == []


def test_an_entry_files_cached_path_is_the_shared_imports(tmp_path, monkeypatch):
    """A module copy's entry file has the ``__file__`` and ``__cached__`` an
    ordinary import of the file gets (kobj_load gives the spec the path the
    finder found, first from the path finder, then from its table)."""
    import importlib.util

    pkg = tmp_path / "kemu_tm_cached"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    main = pkg / "tm_cached_main.py"
    main.write_text(
        "from kern.kern_module import MODULE, MODULE_CLASS_MISC\n"
        "tm_cached_modinfo = MODULE(MODULE_CLASS_MISC, 'tm_cached', None)\n"
        "def tm_cached_modcmd(cmd, arg):\n"
        "    return 0\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config = cfg().derive("TESTMOD_CACHED", module_path={
        **cfg().module_path, "tm_cached": "kemu_tm_cached.tm_cached_main"})

    async def body():
        assert await module_load("tm_cached", 0, None, MODULE_CLASS_ANY) == 0
        ns = kmod_namespace("tm_cached")
        return ns.__file__, ns.__cached__

    want = (str(main), importlib.util.cache_from_source(str(main)))
    for _ in range(2):
        with kern.boot(seed=1, config=config) as k:
            assert k.run(body) == want


def test_a_sweep_racing_another_takes_what_is_left(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads may sweep halted machines' namespaces at once (the pytest
    plugin's end-of-test collection, explore()'s runs, a boot): the other
    thread's pop can take the last id between this sweep's test and its pop.
    The list below plays that: it looks non-empty, and its pop finds it empty."""
    from kern import kern_module

    class Raced(list):
        def __len__(self) -> int:
            return 1

        def pop(self, *a: object) -> int:
            raise IndexError("pop from empty list")

    monkeypatch.setattr(kern_module, "_dead", Raced())
    kern_module.forget_halted()     # no IndexError out of the sweep
