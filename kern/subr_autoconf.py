"""Autoconfiguration (NetBSD's kern/subr_autoconf.c and sys/device.h, as of early 2018).

A driver is a ``cfdriver`` (its name, device class and the array of its
units, ``cd_devs``) plus one or more ``cfattach`` (how to match, attach and
detach a unit, and the size of its softc).  Both are registered per machine
with ``config_cfdriver_attach``/``config_cfattach_attach``.  A pseudo-device
unit is made with ``config_attach_pseudo(cf)`` and destroyed with
``config_detach(dev, flags)``; ``device_private(dev)`` is its softc, a fresh
zeroed object of the class given to ``CFATTACH_DECL_NEW`` as
``sizeof(softc)`` (allocated with kmem, so leaks show in ``kmem_stats``).

The attach/detach hooks (``ca_match``, ``ca_attach``, ``ca_detach``) and
``config_attach_pseudo``/``config_detach`` are plain functions: for
pseudo-devices nothing in them may sleep (fss_attach only initialises locks
and queues), and a ``ca_detach`` that returns an awaitable is a bug that
panics.  The tables they touch change between two ``await`` points only,
so NetBSD's alldevs lock has nothing to do here.

Statically configured pseudo-devices (``config.pseudo_devices``, NetBSD's
"pseudo-device fss 4") are set up at boot: ``config_init`` executes each
driver's file for the machine (without ``_MODULE``), registers the cfdrivers
it took from ioconf (``ioconf_cfdriver``) and files its
``<name>_bdevsw``/``<name>_cdevsw`` under the configured majors, as the
devsw tables config(1) generates would; ``configure_pseudo`` then calls
``<name>attach(count)``.

Named fault sites: ``config_cfdriver_attach``, ``config_cfdriver_detach``,
``config_cfattach_attach``, ``config_cfattach_detach`` (their errno is
returned), ``config_attach_pseudo`` (returns None) and
``pmf_device_register`` (returns False).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import Any

from kern.conf import fwd_init, fwdfield
from kern.cpu import MachineLocal, curmachine
from kern.errno import EBUSY, EEXIST, ENOENT, EOPNOTSUPP, ESRCH
from kern.kern_types import sizeof
from kern.subr_fault import fault_check, fault_inject
from kern.subr_kmem import KM_SLEEP, kmem_free, kmem_zalloc
from kern.subr_prf import (
    KASSERT,
    KASSERTMSG,
    aprint_debug,
    aprint_debug_dev,
    aprint_normal_dev,
    panic,
    printf,
)

# enum devclass (sys/device.h)
DV_DULL = 0
DV_CPU = 1
DV_DISK = 2
DV_IFNET = 3
DV_TAPE = 4
DV_TTY = 5
DV_AUDIODEV = 6
DV_DISPLAYDEV = 7
DV_BUS = 8
DV_VIRTUAL = 9

# enum devact
DVACT_DEACTIVATE = 0

# dv_flags (and the ca_flags a cfattach passes on)
DVF_ACTIVE = 0x0001
DVF_PRIV_ALLOC = 0x0002
DVF_POWER_HANDLERS = 0x0004
DVF_CLASS_SUSPENDED = 0x0008
DVF_DRIVER_SUSPENDED = 0x0010
DVF_BUS_SUSPENDED = 0x0020
DVF_DETACH_SHUTDOWN = 0x0080

# cf_fstate
FSTATE_NOTFOUND = 0
FSTATE_FOUND = 1
FSTATE_STAR = 2
FSTATE_DSTAR = 3
FSTATE_DNOTFOUND = 4

# config_detach flags
DETACH_FORCE = 0x01
DETACH_QUIET = 0x02
DETACH_SHUTDOWN = 0x04
DETACH_POWEROFF = 0x08

DVUNIT_ANY = -1

# The parent of a root (or pseudo) device.
ROOT = None

_DV_XNAME_SIZE = 16  # sizeof(dv_xname)


class cfdriver:
    """struct cfdriver: a driver, with the array of its units."""

    def __init__(self, cd_name: str = "", cd_class: int = DV_DULL,
                 cd_attrs: Any = None) -> None:
        self.cd_name = cd_name
        self.cd_class = cd_class
        self.cd_attrs = cd_attrs
        self.cd_attach: list[cfattach] = []
        self.cd_devs: list[device | None] = []
        self.cd_ndevs = 0

    def __repr__(self) -> str:
        return f"<cfdriver {self.cd_name} ndevs {self.cd_ndevs}>"


cfdriver_t = cfdriver


class cfattach:
    """struct cfattach: how units of a driver are matched, attached and detached.

    The function members may be given by name (a string) when the functions
    come later in the file, as C's forward declarations allow.
    """

    ca_match = fwdfield()
    ca_attach = fwdfield()
    ca_detach = fwdfield()
    ca_activate = fwdfield()
    ca_rescan = fwdfield()
    ca_childdetached = fwdfield()

    def __init__(self, ca_name: str = "", ca_devsize: int = 0, ca_flags: int = 0,
                 ca_match: Callable[..., Any] | str | None = None,
                 ca_attach: Callable[..., Any] | str | None = None,
                 ca_detach: Callable[..., Any] | str | None = None,
                 ca_activate: Callable[..., Any] | str | None = None,
                 ca_rescan: Callable[..., Any] | str | None = None,
                 ca_childdetached: Callable[..., Any] | str | None = None,
                 *, _depth: int = 1) -> None:
        self.ca_name = ca_name
        self.ca_devsize = ca_devsize
        self.ca_flags = ca_flags
        fwd_init(self, {"ca_match": ca_match, "ca_attach": ca_attach,
                        "ca_detach": ca_detach, "ca_activate": ca_activate,
                        "ca_rescan": ca_rescan, "ca_childdetached": ca_childdetached}, _depth)

    def __repr__(self) -> str:
        return f"<cfattach {self.ca_name}>"


cfattach_t = cfattach


class cfdata:
    """struct cfdata: one configured instance ("fss* at root", or fss_open's)."""

    def __init__(self, cf_name: str | None = None, cf_atname: str | None = None,
                 cf_unit: int = 0, cf_fstate: int = FSTATE_NOTFOUND, cf_loc: Any = None,
                 cf_flags: int = 0, cf_pspec: Any = None) -> None:
        self.cf_name = cf_name
        self.cf_atname = cf_atname
        self.cf_unit = cf_unit
        self.cf_fstate = cf_fstate
        self.cf_loc = cf_loc
        self.cf_flags = cf_flags
        self.cf_pspec = cf_pspec

    def __repr__(self) -> str:
        return f"<cfdata {self.cf_name}{self.cf_unit} fstate {self.cf_fstate}>"


cfdata_t = cfdata


class device:
    """struct device (device_t): one attached unit.  Its softc is ``dv_private``."""

    _c_sizeof = 256

    def __init__(self) -> None:
        self.dv_class = DV_DULL
        self.dv_cfdata: cfdata | None = None
        self.dv_cfdriver: cfdriver | None = None
        self.dv_cfattach: cfattach | None = None
        self.dv_unit = 0
        self.dv_xname = ""
        self.dv_parent: device | None = None
        self.dv_depth = 0
        self.dv_flags = 0
        self.dv_private: Any = None
        self.dv_properties: dict[str, Any] = {}
        self.dv_add_gen = 0
        self.dv_del_gen = 0
        self.dv_driver_suspend: Any = None
        self.dv_driver_resume: Any = None
        self.dv_driver_shutdown: Any = None

    def __repr__(self) -> str:
        return f"<device {self.dv_xname or '?'}>"


device_t = device


# --- per-machine state ----------------------------------------------------------------

class _Autoconf:
    def __init__(self) -> None:
        self.allcfdrivers: list[cfdriver] = []
        self.allcftables: list[list[cfdata]] = []
        self.alldevs: list[device] = []
        self.alldevs_gen = 1
        self.config_initialized = False


_autoconf = MachineLocal(_Autoconf, "autoconf")


# --- declarations ---------------------------------------------------------------------

def _define(name: str, value: Any) -> None:
    # Like the C macro, define <name> in the declaring file when called at its top level.
    f = sys._getframe(2)
    if f.f_code.co_name == "<module>":
        f.f_globals[name] = value


def CFDRIVER_DECL(name: str, devclass: int, attrs: Any) -> cfdriver:
    """``CFDRIVER_DECL(fss, DV_DISK, NULL)``: defines and returns ``fss_cd``."""
    cd = cfdriver(name, devclass, attrs)
    _define(f"{name}_cd", cd)
    return cd


def CFATTACH_DECL3_NEW(name: str, ddsize: int, matfn: Any, attfn: Any, detfn: Any,
                       actfn: Any, rescanfn: Any, chdetfn: Any, flags: int) -> cfattach:
    """A cfattach whose softc is separate from the device: defines and returns ``<name>_ca``."""
    ca = cfattach(name, ddsize, flags | DVF_PRIV_ALLOC, matfn, attfn, detfn, actfn, rescanfn,
                  chdetfn, _depth=2)
    _define(f"{name}_ca", ca)
    return ca


def CFATTACH_DECL_NEW(name: str, ddsize: int, matfn: Any, attfn: Any, detfn: Any,
                      actfn: Any) -> cfattach:
    """``CFATTACH_DECL_NEW(fss, sizeof(struct fss_softc), match, attach, detach, NULL)``.

    Defines and returns ``fss_ca``.  Functions defined further down the file
    may be named by string (``"fss_match"``).
    """
    ca = cfattach(name, ddsize, DVF_PRIV_ALLOC, matfn, attfn, detfn, actfn, None, None,
                  _depth=2)
    _define(f"{name}_ca", ca)
    return ca


def ioconf_cfdriver(name: str, devclass: int = DV_DULL, attrs: Any = None) -> cfdriver | None:
    """``extern struct cfdriver <name>_cd``, as ioconf.c of a static kernel provides it.

    In a driver's file executed for a statically configured pseudo-device,
    this is the cfdriver config(1) would generate (registered by
    ``config_init``).  Anywhere else (a module, an ordinary import) it is
    None; a module then declares its own with ``CFDRIVER_DECL``.
    """
    from kern.kern_module import kobj_context

    ctx = kobj_context(sys._getframe(1).f_globals)
    if ctx is None or ctx.source != "static":
        return None
    for cd in ctx.ioconf:
        if cd.cd_name == name:
            return cd
    cd = cfdriver(name, devclass, attrs)
    ctx.ioconf.append(cd)
    return cd


# --- boot -----------------------------------------------------------------------------

def config_init(machine: Any) -> None:
    """Boot: load the static pseudo-device drivers and register their ioconf cfdrivers."""
    from kern.kern_module import kobj_load_static
    from kern.subr_devsw import devsw_attach

    ac = _autoconf.of(machine)
    if ac.config_initialized:
        return
    kobjs = []
    for name in machine.config.pseudo_devices:
        error, ko = kobj_load_static(machine, name)
        if error or ko is None:
            panic("configure: cannot load the driver of pseudo-device %s (error %d)", name,
                  error)
            return
        kobjs.append(ko)
    # cfdriver_list_initial
    for ko in kobjs:
        for cd in ko.ko_ctx.ioconf:
            if config_cfdriver_attach(cd) != 0:
                panic("configure: duplicate `%s' drivers", cd.cd_name)
    # The static device switch tables.
    for ko in kobjs:
        ns = ko.ko_entry.__dict__ if ko.ko_entry is not None else {}
        bdev = ns.get(f"{ko.ko_name}_bdevsw")
        cdev = ns.get(f"{ko.ko_name}_cdevsw")
        if cdev is not None:
            error, _, _ = devsw_attach(ko.ko_name, bdev, -1, cdev, -1)
            if error:
                panic("configure: cannot enter the device switches of %s (error %d)",
                      ko.ko_name, error)
    ac.config_initialized = True


async def configure_pseudo(machine: Any) -> None:
    """Boot: ``<name>attach(count)`` of each configured pseudo-device, in config order."""
    from kern.kern_module import kobj_load_static

    for name, count in machine.config.pseudo_devices.items():
        error, ko = kobj_load_static(machine, name)
        fn = getattr(ko.ko_entry, f"{name}attach", None) if ko is not None else None
        if error or fn is None:
            panic("configure: pseudo-device %s has no %sattach", name, name)
            return
        r = fn(count)
        if inspect.isawaitable(r):
            await r


# --- registration -------------------------------------------------------------------

def config_cfdriver_attach(cd: cfdriver) -> int:
    """Register a driver: EEXIST if one of that name is registered."""
    if not isinstance(cd, cfdriver):
        panic("config_cfdriver_attach: not a cfdriver: %r", cd)
    error = fault_inject("config_cfdriver_attach")
    if error:
        return error
    ac = _autoconf()
    for lcd in ac.allcfdrivers:
        if lcd.cd_name == cd.cd_name:
            return EEXIST
    cd.cd_attach = []
    ac.allcfdrivers.insert(0, cd)
    return 0


def config_cfdriver_detach(cd: cfdriver) -> int:
    """Unregister a driver: EBUSY while it has a unit or a registered attachment."""
    if not isinstance(cd, cfdriver):
        panic("config_cfdriver_detach: not a cfdriver: %r", cd)
    error = fault_inject("config_cfdriver_detach")
    if error:
        return error
    for dev in cd.cd_devs:
        if dev is not None:
            return EBUSY
    if cd.cd_attach:
        return EBUSY
    ac = _autoconf()
    if cd in ac.allcfdrivers:
        ac.allcfdrivers.remove(cd)
    KASSERT(not cd.cd_devs)
    return 0


def config_cfdriver_lookup(name: str) -> cfdriver | None:
    for cd in _autoconf().allcfdrivers:
        if cd.cd_name == name:
            return cd
    return None


def config_cfattach_attach(driver: str, ca: cfattach) -> int:
    """Add an attachment to driver ``driver``: ESRCH if no such driver, EEXIST if present."""
    if not isinstance(ca, cfattach):
        panic("config_cfattach_attach: not a cfattach: %r", ca)
    error = fault_inject("config_cfattach_attach")
    if error:
        return error
    cd = config_cfdriver_lookup(driver)
    if cd is None:
        return ESRCH
    for lca in cd.cd_attach:
        if lca.ca_name == ca.ca_name:
            return EEXIST
    cd.cd_attach.insert(0, ca)
    return 0


def config_cfattach_detach(driver: str, ca: cfattach) -> int:
    """Remove an attachment: ESRCH if no such driver, EBUSY if a unit attached through it."""
    error = fault_inject("config_cfattach_detach")
    if error:
        return error
    cd = config_cfdriver_lookup(driver)
    if cd is None:
        return ESRCH
    for dev in cd.cd_devs:
        if dev is not None and dev.dv_cfattach is ca:
            return EBUSY
    # C unlinks it without looking; removing what is not there does nothing here.
    if ca in cd.cd_attach:
        cd.cd_attach.remove(ca)
    return 0


def _config_cfattach_lookup_cd(cd: cfdriver, atname: str | None) -> cfattach | None:
    for ca in cd.cd_attach:
        if ca.ca_name == atname:
            return ca
    return None


def config_cfattach_lookup(name: str, atname: str) -> cfattach | None:
    cd = config_cfdriver_lookup(name)
    if cd is None:
        return None
    return _config_cfattach_lookup_cd(cd, atname)


def config_match(parent: device | None, cf: cfdata, aux: Any) -> int:
    """The match priority of ``cf`` (0 if it has no attachment)."""
    ca = config_cfattach_lookup(cf.cf_name or "", cf.cf_atname or "")
    if ca is None or ca.ca_match is None:
        return 0
    return ca.ca_match(parent, cf, aux)


# --- units --------------------------------------------------------------------------

def _config_makeroom(n: int, cd: cfdriver) -> None:
    nndevs = max(4, cd.cd_ndevs)
    while nndevs <= n:
        nndevs += nndevs
    cd.cd_devs.extend([None] * (nndevs - cd.cd_ndevs))
    cd.cd_ndevs = nndevs


def _config_unit_nextfree(cd: cfdriver, cf: cfdata) -> int:
    if cf.cf_fstate == FSTATE_STAR:
        unit = cf.cf_unit
        while unit < cd.cd_ndevs and cd.cd_devs[unit] is not None:
            unit += 1
        return unit
    unit = cf.cf_unit
    if unit < cd.cd_ndevs and cd.cd_devs[unit] is not None:
        return -1
    return unit


def _config_unit_alloc(dev: device, cd: cfdriver, cf: cfdata) -> int:
    while True:
        unit = _config_unit_nextfree(cd, cf)
        if unit == -1:
            return -1
        if unit < cd.cd_ndevs:
            cd.cd_devs[unit] = dev
            dev.dv_unit = unit
            return unit
        _config_makeroom(unit, cd)


def _config_devalloc(parent: device | None, cf: cfdata) -> device | None:
    cd = config_cfdriver_lookup(cf.cf_name) if isinstance(cf.cf_name, str) else None
    if cd is None:
        return None
    ca = _config_cfattach_lookup_cd(cd, cf.cf_atname)
    if ca is None:
        return None
    if not isinstance(cf.cf_unit, int) or cf.cf_unit < 0:
        return None
    if ca.ca_devsize > 0:
        dev_private = kmem_zalloc(ca.ca_devsize, KM_SLEEP)
    else:
        KASSERT(ca.ca_flags & DVF_PRIV_ALLOC)
        dev_private = None
    dev = kmem_zalloc(sizeof(device), KM_SLEEP)
    dev.dv_class = cd.cd_class
    dev.dv_cfdata = cf
    dev.dv_cfdriver = cd
    dev.dv_cfattach = ca
    dev.dv_private = dev_private
    dev.dv_flags = ca.ca_flags
    if _config_unit_alloc(dev, cd, cf) == -1:
        _config_devfree(dev)
        return None
    xname = f"{cd.cd_name}{dev.dv_unit}"
    if len(xname) > _DV_XNAME_SIZE:
        panic("config_devalloc: device name too long")
    dev.dv_xname = xname
    dev.dv_parent = parent
    dev.dv_depth = parent.dv_depth + 1 if parent is not None else 0
    dev.dv_flags |= DVF_ACTIVE
    return dev


def _config_devfree(dev: device) -> None:
    ca = dev.dv_cfattach
    if dev.dv_private is not None and ca is not None and ca.ca_devsize > 0:
        kmem_free(dev.dv_private, ca.ca_devsize)
    kmem_free(dev, sizeof(device))


def _config_devlink(dev: device) -> None:
    ac = _autoconf()
    ac.alldevs.append(dev)
    dev.dv_add_gen = ac.alldevs_gen
    ac.alldevs_gen += 1


def _config_devunlink(dev: device) -> None:
    ac = _autoconf()
    if dev in ac.alldevs:
        ac.alldevs.remove(dev)
    cd = dev.dv_cfdriver
    assert cd is not None
    if dev.dv_unit < cd.cd_ndevs and cd.cd_devs[dev.dv_unit] is dev:
        cd.cd_devs[dev.dv_unit] = None
    # No unit left: the array goes.
    if all(d is None for d in cd.cd_devs):
        cd.cd_devs = []
        cd.cd_ndevs = 0


def config_attach_pseudo(cf: cfdata) -> device | None:
    """Attach a pseudo-device unit for ``cf``; the device, or None.

    With ``FSTATE_STAR`` the unit is the first free one from ``cf_unit``,
    otherwise exactly ``cf_unit``.  None if the driver or its attachment is
    not registered, or the unit is taken.
    """
    if not isinstance(cf, cfdata):
        return None
    if fault_check("config_attach_pseudo") is not None:
        return None
    dev = _config_devalloc(ROOT, cf)
    if dev is None:
        return None
    if cf.cf_fstate != FSTATE_STAR:
        KASSERT(cf.cf_fstate == FSTATE_NOTFOUND)
        cf.cf_fstate = FSTATE_FOUND
    _config_devlink(dev)
    ca = dev.dv_cfattach
    assert ca is not None
    if ca.ca_attach is not None:
        r = ca.ca_attach(ROOT, dev, None)
        if inspect.isawaitable(r):
            _close(r)
            panic("config_attach_pseudo: ca_attach of %s may not sleep", dev.dv_xname)
    if not device_pmf_is_registered(dev):
        aprint_debug_dev(dev, "WARNING: power management not supported\n")
    return dev


def _close(r: Any) -> None:
    close = getattr(r, "close", None)
    if close is not None:
        close()


def config_detach(dev: device, flags: int) -> int:
    """Detach a unit: the driver's ca_detach error (panic with DETACH_FORCE),
    ENOENT if it is already detached, EOPNOTSUPP without ca_detach.

    On success the unit leaves ``cd_devs`` and its softc is freed; unless
    ``DETACH_QUIET``, "<xname>: detached" is printed.
    """
    if not isinstance(dev, device):
        panic("config_detach: not a device: %r", dev)
    if not isinstance(flags, int):
        flags = 0
    cf = dev.dv_cfdata
    KASSERTMSG(cf is None or cf.cf_fstate in (FSTATE_FOUND, FSTATE_STAR),
               "config_detach: %s: bad device fstate: %d", dev.dv_xname,
               cf.cf_fstate if cf is not None else -1)
    cd = dev.dv_cfdriver
    ca = dev.dv_cfattach
    KASSERT(cd is not None)
    KASSERT(ca is not None)
    assert cd is not None and ca is not None

    if dev.dv_del_gen != 0:
        if curmachine().config.options.get("DIAGNOSTIC"):
            printf("%s: %s is already detached\n", "config_detach", dev.dv_xname)
        return ENOENT

    if (flags & (DETACH_SHUTDOWN | DETACH_FORCE)) == DETACH_SHUTDOWN and \
            not (dev.dv_flags & DVF_DETACH_SHUTDOWN):
        rv = EOPNOTSUPP
    elif ca.ca_detach is not None:
        rv = ca.ca_detach(dev, flags)
        if inspect.isawaitable(rv):
            _close(rv)
            panic("config_detach: ca_detach of %s may not sleep", dev.dv_xname)
    else:
        rv = EOPNOTSUPP

    if rv == 0:
        dev.dv_flags &= ~DVF_ACTIVE
    elif not (flags & DETACH_FORCE):
        return rv
    else:
        panic("config_detach: forced detach of %s failed (%d)", dev.dv_xname, rv)

    # Tell the parent its child is gone.
    p = dev.dv_parent
    if p is not None and p.dv_cfattach is not None and p.dv_cfattach.ca_childdetached:
        p.dv_cfattach.ca_childdetached(p, dev)

    # A configured instance found for this unit may be found again.
    for ct in _autoconf().allcftables:
        for c in ct:
            if c.cf_name == cd.cd_name and c.cf_fstate == FSTATE_FOUND and \
                    c.cf_unit == dev.dv_unit:
                c.cf_fstate = FSTATE_NOTFOUND

    if dev.dv_cfdata is not None and not (flags & DETACH_QUIET):
        aprint_normal_dev(dev, "detached\n")

    dev.dv_del_gen = _autoconf().alldevs_gen
    _config_devunlink(dev)
    _config_devfree(dev)
    return 0


def _shutdown_order() -> list[device]:
    """shutdown_first/shutdown_next: the active devices, leaves first
    (DEVITER_F_SHUTDOWN|DEVITER_F_LEAVES_FIRST: deepest first, then in
    attachment order), as attached when the walk starts."""
    devs = [dv for dv in _autoconf().alldevs if dv.dv_del_gen == 0]
    devs.sort(key=lambda dv: -dv.dv_depth)  # stable: attachment order within a depth
    return [dv for dv in devs if device_is_active(dv)]


def config_detach_all(how: int) -> bool:
    """Detach every device that allows it at shutdown; True if any went.

    The halt's part of autoconf (kern/machdep.py's cpu_reboot).  A driver
    opts in with DVF_DETACH_SHUTDOWN in its cfattach; fss(4) 1.104 does not,
    so its units stay attached (config_detach answers EOPNOTSUPP).
    """
    from kern.machdep import RB_NOSYNC

    progress = False
    if how & RB_NOSYNC:
        return False
    for curdev in _shutdown_order():
        if curdev.dv_del_gen != 0:
            continue  # detached along with an earlier one
        aprint_debug(" detaching %s, ", device_xname(curdev))
        if config_detach(curdev, DETACH_SHUTDOWN) == 0:
            progress = True
            aprint_debug("success.")
        else:
            aprint_debug("failed.")
    return progress


# --- accessors --------------------------------------------------------------------------

def device_private(dev: device | None) -> Any:
    """The softc of ``dev``; None for None (so device_private(config_attach_pseudo(cf)) works)."""
    return None if dev is None else dev.dv_private


def device_xname(dev: device) -> str:
    return dev.dv_xname


def device_unit(dev: device) -> int:
    return dev.dv_unit


def device_cfdata(dev: device) -> cfdata | None:
    return dev.dv_cfdata


def device_cfdriver(dev: device) -> cfdriver | None:
    return dev.dv_cfdriver


def device_cfattach(dev: device) -> cfattach | None:
    return dev.dv_cfattach


def device_parent(dev: device) -> device | None:
    return dev.dv_parent


def device_class(dev: device) -> int:
    return dev.dv_class


def device_properties(dev: device) -> dict[str, Any]:
    return dev.dv_properties


def device_is_a(dev: device | None, dname: str) -> bool:
    if dev is None or dev.dv_cfdriver is None:
        return False
    return dev.dv_cfdriver.cd_name == dname


def device_is_active(dev: device) -> bool:
    """Attached, not detached, and not suspended."""
    active_flags = DVF_ACTIVE | DVF_CLASS_SUSPENDED | DVF_DRIVER_SUSPENDED | DVF_BUS_SUSPENDED
    return (dev.dv_flags & active_flags) == DVF_ACTIVE


def device_is_enabled(dev: device) -> bool:
    return (dev.dv_flags & DVF_ACTIVE) == DVF_ACTIVE


def device_lookup(cd: cfdriver, unit: int) -> device | None:
    """Unit ``unit`` of ``cd``; None if out of range, empty, or being detached."""
    if cd is None:
        panic("device_lookup: NULL cfdriver")
    if not isinstance(unit, int) or unit < 0 or unit >= cd.cd_ndevs:
        return None
    dv = cd.cd_devs[unit]
    if dv is not None and dv.dv_del_gen != 0:
        return None
    return dv


def device_lookup_private(cd: cfdriver, unit: int) -> Any:
    """The softc of unit ``unit`` of ``cd``, or None."""
    return device_private(device_lookup(cd, unit))


def device_find_by_xname(name: str) -> device | None:
    for dev in _autoconf().alldevs:
        if dev.dv_xname == name and dev.dv_del_gen == 0:
            return dev
    return None


def alldevs() -> list[device]:
    """The attached devices of this machine, oldest first."""
    return list(_autoconf().alldevs)


# --- power management (kern_pmf.c): registration only -----------------------------------

def device_pmf_is_registered(dev: device) -> bool:
    return (dev.dv_flags & DVF_POWER_HANDLERS) != 0


def pmf_device_register1(dev: device, suspend: Any, resume: Any, shutdown: Any) -> bool:
    """Record a device's power handlers; True (False only by fault injection)."""
    if fault_check("pmf_device_register") is not None:
        return False
    dev.dv_driver_suspend = suspend
    dev.dv_driver_resume = resume
    dev.dv_driver_shutdown = shutdown
    dev.dv_flags |= DVF_POWER_HANDLERS
    return True


def pmf_device_register(dev: device, suspend: Any, resume: Any) -> bool:
    return pmf_device_register1(dev, suspend, resume, None)


def pmf_device_deregister(dev: device) -> None:
    dev.dv_driver_suspend = None
    dev.dv_driver_resume = None
    dev.dv_driver_shutdown = None
    dev.dv_flags &= ~DVF_POWER_HANDLERS

