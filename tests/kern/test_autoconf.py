"""Autoconfiguration (subr_autoconf.c): registration errnos, the pseudo-device life
cycle, and a pseudo-device that makes units on first open and drops them on last close."""

from __future__ import annotations

import pytest
import trio
import trio.testing

import kern
from kern.conf.GENERIC import config as GENERIC
from kern.errno import EBUSY, EEXIST, EIO, ENOENT, ENXIO, EOPNOTSUPP, ESRCH
from kern.kern_module import MODULE_CLASS_ANY, kmod_namespace, module_load, module_unload
from kern.kern_types import sizeof
from kern.subr_autoconf import (
    CFATTACH_DECL_NEW,
    CFDRIVER_DECL,
    DETACH_FORCE,
    DETACH_QUIET,
    DV_DISK,
    FSTATE_FOUND,
    FSTATE_NOTFOUND,
    FSTATE_STAR,
    alldevs,
    cfdata,
    config_attach_pseudo,
    config_cfattach_attach,
    config_cfattach_detach,
    config_cfattach_lookup,
    config_cfdriver_attach,
    config_cfdriver_detach,
    config_cfdriver_lookup,
    config_detach,
    device_cfdata,
    device_is_active,
    device_lookup,
    device_lookup_private,
    device_pmf_is_registered,
    device_private,
    device_unit,
    device_xname,
    deviter_init,
    deviter_next,
    deviter_release,
    deviter_t,
    pmf_device_deregister,
    pmf_device_register,
)
from kern.subr_devsw import bdev_open, cdev_close, cdev_ioctl, cdev_open, devsw_name2chr
from kern.subr_kmem import kmem_stats
from kern.types_dev import makedev

TPD = {"tpd": "tests.kern.modules.tpd"}


def cfg(**kw):
    kw.setdefault("module_path", {**GENERIC.module_path, **TPD})
    return GENERIC.derive("TESTAUTOCONF", **kw)


@pytest.fixture
def k():
    with kern.boot(seed=1, config=cfg()) as m:
        yield m


class tst_softc:
    def __init__(self) -> None:
        self.sc_dev = None
        self.sc_attached = False


class Driver:
    """A pseudo-device driver made inside the machine: ``tst``."""

    def __init__(self, name: str = "tst") -> None:
        self.detach_error = 0
        self.attached: list[str] = []
        self.detached: list[str] = []
        self.cd = CFDRIVER_DECL(name, DV_DISK, None)
        self.ca = CFATTACH_DECL_NEW(name, sizeof(tst_softc), self.match, self.attach,
                                    self.detach, None)

    def match(self, parent, cf, aux):
        return 1

    def attach(self, parent, self_, aux):
        sc = device_private(self_)
        sc.sc_dev = self_
        sc.sc_attached = True
        pmf_device_register(self_, None, None)
        self.attached.append(device_xname(self_))

    def detach(self, self_, flags):
        if self.detach_error:
            return self.detach_error
        pmf_device_deregister(self_)
        self.detached.append(device_xname(self_))
        return 0

    def register(self) -> None:
        assert config_cfdriver_attach(self.cd) == 0
        assert config_cfattach_attach(self.cd.cd_name, self.ca) == 0

    def cf(self, unit: int, fstate: int = FSTATE_STAR) -> cfdata:
        return cfdata(self.cd.cd_name, self.cd.cd_name, unit, fstate)


def test_registration_errnos(k):
    async def body():
        d = Driver()
        r = [config_cfattach_attach("tst", d.ca)]               # no such driver
        r.append(config_cfdriver_attach(d.cd))
        r.append(config_cfdriver_attach(Driver().cd))           # same name again
        r.append(config_cfattach_attach("tst", d.ca))
        r.append(config_cfattach_attach("tst", d.ca))           # same attachment again
        r.append(config_cfdriver_detach(d.cd))                  # attachment still there
        r.append(config_cfattach_detach("nosuch", d.ca))
        assert config_cfattach_lookup("tst", "tst") is d.ca
        assert config_cfdriver_lookup("tst") is d.cd
        r.append(config_cfattach_detach("tst", d.ca))
        r.append(config_cfdriver_detach(d.cd))
        assert config_cfdriver_lookup("tst") is None
        return r

    assert k.run(body) == [ESRCH, 0, EEXIST, 0, EEXIST, EBUSY, ESRCH, 0, 0]


def test_pseudo_device_life_cycle(k):
    async def body():
        base = kmem_stats()["inuse"]
        d = Driver()
        d.register()
        dev = await config_attach_pseudo(d.cf(0))
        sc = device_private(dev)
        assert isinstance(sc, tst_softc) and sc.sc_attached and sc.sc_dev is dev
        assert (device_xname(dev), device_unit(dev)) == ("tst0", 0)
        assert device_lookup_private(d.cd, 0) is sc and device_lookup(d.cd, 0) is dev
        assert device_is_active(dev) and device_pmf_is_registered(dev)
        assert dev in alldevs()
        assert kmem_stats()["inuse"] > base
        # A unit is busy for its cfattach and its cfdriver.
        assert config_cfattach_detach("tst", d.ca) == EBUSY
        assert config_cfdriver_detach(d.cd) == EBUSY
        assert await config_detach(dev, 0) == 0
        assert await config_detach(dev, 0) == ENOENT
        assert device_lookup_private(d.cd, 0) is None
        assert dev not in alldevs() and d.cd.cd_ndevs == 0
        assert kmem_stats()["inuse"] == base
        assert d.attached == ["tst0"] and d.detached == ["tst0"]
        assert config_cfattach_detach("tst", d.ca) == 0
        assert config_cfdriver_detach(d.cd) == 0

    k.run(body)
    assert "tst0: detached\n" in k.dmesg()
    assert "config_detach: tst0 is already detached" in k.dmesg()


def test_units_and_fstate(k):
    async def body():
        d = Driver()
        d.register()
        a = await config_attach_pseudo(d.cf(2))
        b = await config_attach_pseudo(d.cf(2))                 # STAR: next free from 2
        assert (device_unit(a), device_unit(b)) == (2, 3)
        assert d.cd.cd_ndevs == 4
        fixed = d.cf(3, FSTATE_NOTFOUND)
        assert await config_attach_pseudo(fixed) is None        # unit 3 taken
        assert fixed.cf_fstate == FSTATE_NOTFOUND
        fixed = d.cf(9, FSTATE_NOTFOUND)
        c = await config_attach_pseudo(fixed)
        assert device_unit(c) == 9 and fixed.cf_fstate == FSTATE_FOUND
        assert d.cd.cd_ndevs == 16
        assert device_lookup(d.cd, 100) is None and device_lookup(d.cd, -1) is None
        assert await config_attach_pseudo(cfdata("nosuch", "nosuch", 0, FSTATE_STAR)) is None
        assert await config_attach_pseudo(cfdata("tst", "other", 0, FSTATE_STAR)) is None
        assert await config_attach_pseudo(d.cf(-1)) is None
        assert await config_attach_pseudo("tst0") is None
        for dev in (a, b, c):
            assert await config_detach(dev, DETACH_QUIET) == 0
        return d.cd.cd_ndevs, d.cd.cd_devs

    assert k.run(body) == (0, [])
    assert "detached" not in k.dmesg()


def test_detach_refused_and_forced(k):
    async def body():
        d = Driver()
        d.register()
        dev = await config_attach_pseudo(d.cf(0))
        d.detach_error = EBUSY
        assert await config_detach(dev, 0) == EBUSY
        assert device_lookup(d.cd, 0) is dev and device_is_active(dev)
        d.ca.ca_detach = None
        assert await config_detach(dev, 0) == EOPNOTSUPP
        d.ca.ca_detach = d.detach
        await config_detach(dev, DETACH_FORCE)

    with pytest.raises(kern.KernelPanic, match="forced detach of tst0 failed"):
        k.run(body)


def test_fault_sites(k):
    async def body():
        d = Driver()
        with k.faults.inject("config_cfdriver_attach", error=EIO):
            assert config_cfdriver_attach(d.cd) == EIO
        assert config_cfdriver_lookup("tst") is None
        assert config_cfdriver_attach(d.cd) == 0
        with k.faults.inject("config_cfattach_attach", error=EIO):
            assert config_cfattach_attach("tst", d.ca) == EIO
        assert config_cfattach_lookup("tst", "tst") is None
        assert config_cfattach_attach("tst", d.ca) == 0
        with k.faults.inject("config_cfattach_detach", error=EIO):
            assert config_cfattach_detach("tst", d.ca) == EIO
        assert config_cfattach_lookup("tst", "tst") is d.ca
        with k.faults.inject("config_attach_pseudo"):
            assert await config_attach_pseudo(d.cf(0)) is None
        with k.faults.inject("pmf_device_register"):
            dev = await config_attach_pseudo(d.cf(0))
        assert not device_pmf_is_registered(dev)
        assert await config_detach(dev, DETACH_QUIET) == 0
        with k.faults.inject("config_cfdriver_detach", error=EBUSY):
            assert config_cfattach_detach("tst", d.ca) == 0
            assert config_cfdriver_detach(d.cd) == EBUSY
        assert config_cfdriver_detach(d.cd) == 0

    k.run(body)


def test_device_private_of_none(k):
    async def body():
        return device_private(None), device_private(await config_attach_pseudo(cfdata("x", "x", 0)))

    assert k.run(body) == (None, None)


# --- attach and detach may sleep (NetBSD 8's alldevs locking) -------------------------

class SleepyDriver(Driver):
    """``tst`` whose attach and detach sleep for ``ticks`` (they are async)."""

    def __init__(self, ticks: int = 10) -> None:
        self.ticks = ticks
        super().__init__()

    async def attach(self, parent, self_, aux):
        if self.ticks:
            await kern.kpause("tstatt", False, self.ticks, None)
        super().attach(parent, self_, aux)

    async def detach(self, self_, flags):
        if self.ticks:
            await kern.kpause("tstdet", False, self.ticks, None)
        return super().detach(self_, flags)


def _two_lwps(first, second):
    """Run ``first`` and ``second`` (which starts with a one-tick sleep, so that
    ``first`` is under way); both results."""
    async def main():
        async with kern.boot(seed=1, config=cfg()) as k:
            results = {}

            async def keep(name, afn):
                results[name] = await k.run(afn, name=name)

            async def later():
                await kern.kpause("later", False, 1, None)
                return await second()

            async with trio.open_nursery() as n:
                n.start_soon(keep, "first", first)
                n.start_soon(keep, "second", later)
            return results

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_attach_sleeps_with_the_unit_already_linked():
    """config_attach_pseudo links the unit (cd_devs, the device list) before the
    driver's attach, which may sleep: meanwhile another lwp finds the unit, and
    a second STAR attach from the same unit number gets the next one."""
    d = SleepyDriver()
    seen = {}

    async def first():
        d.register()
        dev = await config_attach_pseudo(d.cf(0))
        return device_xname(dev), device_private(dev).sc_attached

    async def second():
        dev = device_lookup(d.cd, 0)
        seen["during"] = (dev is not None, device_private(dev).sc_attached)
        other = await config_attach_pseudo(d.cf(0))
        return device_xname(other)

    r = _two_lwps(first, second)
    assert seen["during"] == (True, False)  # linked, its attach not done yet
    assert r == {"first": ("tst0", True), "second": "tst1"}
    assert d.attached == ["tst0", "tst1"]  # equal sleeps: the first started first


def test_detach_sleeps_and_the_unit_stays_until_it_is_done():
    """config_detach counts itself a writer across a sleeping ca_detach: the unit
    is found meanwhile, and leaves cd_devs (and its softc is freed) only after."""
    d = SleepyDriver()
    box = {}

    async def first():
        d.register()
        box["base"] = kmem_stats()["inuse"]
        d.ticks = 0
        dev = await config_attach_pseudo(d.cf(0))
        d.ticks = 10
        box["dev"] = dev
        return await config_detach(dev, DETACH_QUIET)

    async def second():
        during = device_lookup(d.cd, 0) is box["dev"]
        await kern.kpause("after", False, 20, None)
        return during, device_lookup(d.cd, 0), d.cd.cd_ndevs, kmem_stats()["inuse"] - box["base"]

    r = _two_lwps(first, second)
    assert r["first"] == 0
    assert r["second"] == (True, None, 0, 0)
    assert d.detached == ["tst0"]


def test_detach_during_a_walk_is_deferred_to_the_next_foray():
    """A unit detached while an iterator walks the device list is only marked
    (dv_del_gen): device_lookup no longer finds it, the walker still sees it,
    it keeps its cd_devs slot (a STAR attach from 0 gets unit 1) and its softc,
    until the walk ends and the next config_alldevs_enter collects it."""
    d = Driver()
    box = {}

    async def walker():
        d.register()
        box["base"] = kmem_stats()["inuse"]
        box["dev"] = await config_attach_pseudo(d.cf(0))
        di = deviter_t()
        deviter_init(di, 0)
        await kern.kpause("walk", False, 10, None)  # the detach happens now
        first = deviter_next(di)  # detached since, but it existed when the walk began
        rest = deviter_next(di)
        deviter_release(di)
        return device_xname(first), first.dv_del_gen != 0, rest

    async def detacher():
        dev = box["dev"]
        rv = await config_detach(dev, DETACH_QUIET)
        marked = dev.dv_del_gen != 0 and device_lookup(d.cd, 0) is None
        kept = d.cd.cd_devs[0] is dev and kmem_stats()["inuse"] > box["base"]
        other = await config_attach_pseudo(d.cf(0))  # slot 0 is still taken
        unit = device_unit(other)
        await kern.kpause("wait", False, 20, None)  # the walk ends
        # This detach counts itself a writer when it enters the list, so it
        # unlinks only its own unit; tst0 waits for the next foray.
        assert await config_detach(other, DETACH_QUIET) == 0
        lingering = d.cd.cd_devs[0] is dev
        assert config_cfattach_detach("tst", d.ca) == 0  # enters: collects tst0
        return (rv, marked, kept, unit, lingering, d.cd.cd_ndevs,
                kmem_stats()["inuse"] - box["base"])

    r = _two_lwps(walker, detacher)
    r = {"walker": r["first"], "detacher": r["second"]}
    assert r["walker"] == ("tst0", True, None)
    assert r["detacher"] == (0, True, True, 1, True, 0, 0)


def test_two_detaches_of_one_unit_both_call_the_driver():
    """NetBSD 8 does not serialize detaches of the same unit: both pass the
    dv_del_gen check while the first ca_detach sleeps, and the driver's detach
    runs twice (config_detach_enter and dv_detaching, present by 1.300 in 2022,
    make the second wait).  Kept: it is the autoconf fss.c 1.104 ran on."""
    d = SleepyDriver()
    box = {}

    async def first():
        d.register()
        d.ticks = 0
        box["dev"] = await config_attach_pseudo(d.cf(0))
        d.ticks = 10
        return await config_detach(box["dev"], DETACH_QUIET)

    async def second():
        return await config_detach(box["dev"], DETACH_QUIET)

    r = _two_lwps(first, second)
    assert r == {"first": 0, "second": 0}
    assert d.detached == ["tst0", "tst0"]


# --- tpd: units made on first open, dropped on last close ---------------------------

def test_tpd_module_units_follow_opens(k):
    async def body():
        base = kmem_stats()["inuse"]
        assert await module_load("tpd", 0, None, MODULE_CLASS_ANY) == 0
        tpd = kmod_namespace("tpd")
        cmaj = devsw_name2chr("tpd")
        assert cmaj == tpd.tpd_cmajor and cmaj >= 0
        dev = makedev(cmaj, 3)
        l = kern.curlwp()
        assert await cdev_open(dev, 0, 0, l) == 0
        sc = device_lookup_private(tpd.tpd_cd, 3)
        assert sc is not None and device_xname(sc.sc_dev) == "tpd3"
        cf = device_cfdata(sc.sc_dev)
        assert (cf.cf_unit, cf.cf_fstate) == (3, FSTATE_STAR)
        assert await cdev_open(dev, 0, 0, l) == 0
        assert device_lookup_private(tpd.tpd_cd, 3) is sc and sc.sc_opens == 2
        names = []
        assert await cdev_ioctl(dev, 0, names, 0, l) == 0 and names == ["tpd3"]
        assert tpd.tpd_num_attached == 1
        # A unit is open: FINI fails (cfattach busy) and the module stays.
        assert await module_unload("tpd") == EBUSY
        assert await cdev_open(makedev(cmaj, 0), 0, 0, l) == 0   # still usable
        assert await cdev_close(makedev(cmaj, 0), 0, 0, l) == 0
        assert await cdev_close(dev, 0, 0, l) == 0
        assert device_lookup_private(tpd.tpd_cd, 3) is sc
        assert await cdev_close(dev, 0, 0, l) == 0
        assert device_lookup_private(tpd.tpd_cd, 3) is None
        assert tpd.tpd_num_attached == 0 and tpd.tpd_cd.cd_ndevs == 0
        assert await cdev_ioctl(dev, 0, None, 0, l) == ENXIO
        assert await module_unload("tpd") == 0
        assert await cdev_open(dev, 0, 0, l) == ENXIO
        assert kmem_stats()["inuse"] == base
        return cmaj

    k.run(body)


def test_tpd_detach_refused_keeps_the_unit(k):
    async def body():
        assert await module_load("tpd", 0, None, MODULE_CLASS_ANY) == 0
        tpd = kmod_namespace("tpd")
        dev = makedev(devsw_name2chr("tpd"), 1)
        l = kern.curlwp()
        assert await cdev_open(dev, 0, 0, l) == 0
        sc = device_lookup_private(tpd.tpd_cd, 1)
        tpd.tpd_busy = True
        assert await cdev_close(dev, 0, 0, l) == EBUSY      # the last close, refused
        assert device_lookup_private(tpd.tpd_cd, 1) is sc and sc.sc_opens == 1
        tpd.tpd_busy = False
        assert await cdev_close(dev, 0, 0, l) == 0
        assert device_lookup_private(tpd.tpd_cd, 1) is None
        return await module_unload("tpd")

    assert k.run(body) == 0


def test_tpd_module_fini_error_path_keeps_it_working(k):
    # fss's B6 test shape: config_cfdriver_detach fails during FINI.
    async def body():
        assert await module_load("tpd", 0, None, MODULE_CLASS_ANY) == 0
        with k.faults.inject("config_cfdriver_detach", error=EBUSY):
            assert await module_unload("tpd") == EBUSY
        dev = makedev(devsw_name2chr("tpd"), 0)
        assert await cdev_open(dev, 0, 0, kern.curlwp()) == 0
        assert await cdev_close(dev, 0, 0, kern.curlwp()) == 0
        return await module_unload("tpd")

    assert k.run(body) == 0


def test_tpd_statically_configured():
    config = cfg(pseudo_devices={"tpd": 2}, majors={"tpd": (200, 201)})
    with kern.boot(seed=1, config=config) as k:
        async def body():
            tpd = kmod_namespace("tpd")
            assert tpd._MODULE is False and tpd.tpd_attach_count == 2
            assert tpd.tpd_cd is config_cfdriver_lookup("tpd")
            l = kern.curlwp()
            assert await cdev_open(makedev(201, 0), 0, 0, l) == 0
            assert await bdev_open(makedev(200, 1), 0, 0, l) == 0
            assert sorted(device_xname(d) for d in alldevs()) == ["tpd0", "tpd1"]
            # Not a module; a module copy of the same driver cannot register again.
            assert await module_unload("tpd") == ENOENT
            assert await module_load("tpd", 0, None, MODULE_CLASS_ANY) == EEXIST
            assert kmod_namespace("tpd") is tpd

        k.run(body)
        import tests.kern.modules.tpd as shared
        assert shared.tpd_cd is None and shared._MODULE is False


def test_config_detach_all_flags_follow_how(k):
    """config_detach_all: nothing for RB_NOSYNC or RB_DUMP, DETACH_SHUTDOWN
    for a halt, DETACH_SHUTDOWN|DETACH_POWEROFF for RB_POWERDOWN."""
    from kern.machdep import RB_DUMP, RB_HALT, RB_NOSYNC, RB_POWERDOWN
    from kern.subr_autoconf import (
        DETACH_POWEROFF,
        DETACH_SHUTDOWN,
        DVF_DETACH_SHUTDOWN,
        DVF_PRIV_ALLOC,
        cfattach,
        cfdriver,
        config_detach_all,
    )

    detached: list[tuple[str, int]] = []

    def det(dev, flags):
        detached.append((dev.dv_xname, flags))
        return 0

    async def body() -> list:
        assert config_cfdriver_attach(cfdriver("tsd")) == 0
        ca = cfattach("tsd", 0, DVF_PRIV_ALLOC | DVF_DETACH_SHUTDOWN, lambda *a: 1,
                      lambda *a: None, det)
        assert config_cfattach_attach("tsd", ca) == 0
        out = []
        # (a unit each: the shutdown walk, as in the C, never releases its
        # iterator, so a detached unit keeps its slot)
        for unit, how in enumerate((RB_NOSYNC, RB_DUMP, RB_HALT, RB_POWERDOWN)):
            dev = await config_attach_pseudo(cfdata("tsd", "tsd", unit))
            assert dev is not None
            out.append((await config_detach_all(how), list(detached)))
            if not detached:
                assert await config_detach(dev, DETACH_FORCE) == 0
            detached.clear()
        return out

    assert k.run(body) == [(False, []), (False, []),
                           (True, [("tsd2", DETACH_SHUTDOWN)]),
                           (True, [("tsd3", DETACH_SHUTDOWN | DETACH_POWEROFF)])]
