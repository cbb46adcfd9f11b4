"""Autoconfiguration (NetBSD's kern/subr_autoconf.c and sys/device.h, NetBSD 8).

Ported from subr_autoconf.c as NetBSD 8 has it (read at revision 1.235; the
alldevs locking, config_attach_pseudo and config_detach are unchanged in the
netbsd-8 branch).  A driver is a ``cfdriver`` (its name, device class and the
array of its units, ``cd_devs``) plus one or more ``cfattach`` (how to match,
attach and detach a unit, and the size of its softc).  Both are registered
per machine with ``config_cfdriver_attach``/``config_cfattach_attach``.  A
pseudo-device unit is made with ``await config_attach_pseudo(cf)`` and
destroyed with ``await config_detach(dev, flags)``; ``device_private(dev)`` is
its softc, a fresh zeroed object of the class given to ``CFATTACH_DECL_NEW``
as ``sizeof(softc)`` (allocated with kmem, so leaks show in ``kmem_stats``).

**Attach and detach run in thread context and may sleep**, as in NetBSD:
``config_attach_pseudo`` and ``config_detach`` are ``async``, and a driver's
``ca_attach``/``ca_detach`` may be ``async def`` (awaited) or a plain ``def``
(one that does not sleep).  While a detach sleeps, the rest of the kernel
runs, so the tables are guarded as the C guards them:

* ``alldevs_mtx`` (a spin mutex at IPL_VM) protects ``alldevs``, every
  ``cd_devs`` array, the generation counter and the reader/writer counts;
* ``config_detach`` counts itself a writer (``alldevs_nwrite``) across the
  driver's ``ca_detach``; a device iterator (``deviter_*``) counts a reader
  or writer while it walks;
* a unit detached while another detach or an iterator is in progress is not
  unlinked at once: it gets ``dv_del_gen`` (so ``device_lookup`` and the
  iterators no longer see it, though it keeps its slot in ``cd_devs``) and
  ``alldevs_garbage`` is set; the next ``config_alldevs_enter`` with no
  reader or writer left unlinks it (``config_collect_garbage``), and
  ``config_alldevs_exit`` frees it after dropping the lock
  (``config_dump_garbage``).

NetBSD 8 does not serialize two detaches of the same unit: both pass the
``dv_del_gen`` check and both call ``ca_detach`` (the ``dv_detaching``
claim, ``config_detach_enter``, came in 2021-22).  Kept, as it is the
behaviour of the kernel fss.c 1.104 ran on; fss serializes its own detaches
with ``fss_device_lock``.

Deviations from the C:

* ``alldevs_mtx`` is taken with ``mutex_tryenter`` by the plain functions
  (``config_alldevs_lock``): on kemu's one virtual CPU the holder of a spin
  mutex never leaves it, so the lock is always free when another lwp runs and
  the try cannot fail (a failure panics); as with any try-lock, lockdebug
  records no order edge into it.  ``config_makeroom`` keeps the writer count
  around its growth of ``cd_devs`` but does not drop the lock there: the
  array is a Python list, not a kmem allocation that may sleep.
* A device unlinked at once is marked with ``dv_del_gen`` too, so a second
  ``config_detach`` of a freed device answers ENOENT (and says so under
  DIAGNOSTIC) where the C would read freed memory.
* ``config_detach_all`` follows revision 1.262 (2018): it skips RB_DUMP as
  well as RB_NOSYNC and passes DETACH_POWEROFF for RB_POWERDOWN.  1.235
  tests RB_NOSYNC alone and always passes DETACH_SHUTDOWN; the netbsd-8
  copy, made between the two, could not be read, and the later form is the
  one NetBSD kept (1.300 has it too).
* ``config_unit_nextfree`` refuses a negative unit (as later revisions do),
  and the exported functions check their argument types, so bad input gets
  None or an errno rather than a Python error.
* ``device_lookup``'s KASSERT on alldevs_mtx tests its condition inline
  and calls KASSERT (the same panic and message) only when it fails.
* ``config_alldevs_lock``'s mutex_tryenter passes a ``lock_site`` kept at
  module level for that call (kern_mutex's ``at``, kemu's): lockdebug's
  site is looked up once, not with a frame lookup at every call; the same
  sites and reports.
* Not ported, as kemu attaches only pseudo-devices (no parent, no bus, no
  drvctl): config_found/config_attach_loc and the cfdata search,
  config_defer/config_interrupts and the deferred-configuration queues
  (which only ever hold children of a real parent), devmon reports,
  device properties and locators, and the pmf suspend/resume machinery
  beyond handler registration.

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
from kern.kern_mutex import (
    IPL_VM,
    MUTEX_DEFAULT,
    kmutex_t,
    lock_site,
    mutex_exit,
    mutex_init,
    mutex_owned,
    mutex_tryenter,
)
from kern.kern_types import sizeof
from kern.subr_fault import fault_check, fault_inject
from kern.subr_kmem import KM_SLEEP, kmem_free, kmem_zalloc
from kern.subr_prf import KASSERT, KASSERTMSG, aprint_debug, aprint_normal_dev, panic, printf

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

# deviter_flags_t
DEVITER_F_RW = 0x1
DEVITER_F_SHUTDOWN = 0x2
DEVITER_F_LEAVES_FIRST = 0x4
DEVITER_F_ROOT_FIRST = 0x8


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
        # struct device_garbage: the cd_devs array unlinked with the last unit
        self.dv_garbage_devs: list[device | None] | None = None
        self.dv_garbage_ndevs = 0
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
        # list of all devices, and the lock and counters that guard it
        self.alldevs: list[device] = []
        alldevs_mtx = self.alldevs_mtx = kmutex_t()
        mutex_init(alldevs_mtx, MUTEX_DEFAULT, IPL_VM)
        self.alldevs_garbage = False
        self.alldevs_gen = 1
        self.alldevs_nread = 0
        self.alldevs_nwrite = 0
        self.detachall = False
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
    rc = 0
    af = config_alldevs_enter()
    # Make sure there are no active instances.
    for dev in cd.cd_devs:
        if dev is not None:
            rc = EBUSY
            break
    config_alldevs_exit(af)
    if rc != 0:
        return rc
    # ...and no attachments loaded.
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
    rc = 0
    af = config_alldevs_enter()
    # Make sure there are no active instances.
    for dev in cd.cd_devs:
        if dev is not None and dev.dv_cfattach is ca:
            rc = EBUSY
            break
    config_alldevs_exit(af)
    if rc != 0:
        return rc
    # C unlinks it without looking; removing what is not there does nothing here.
    if ca in cd.cd_attach:
        cd.cd_attach.remove(ca)
    return 0


def config_cfattach_lookup_cd(cd: cfdriver, atname: str | None) -> cfattach | None:
    for ca in cd.cd_attach:
        if ca.ca_name == atname:
            return ca
    return None


def config_cfattach_lookup(name: str, atname: str) -> cfattach | None:
    cd = config_cfdriver_lookup(name)
    if cd is None:
        return None
    return config_cfattach_lookup_cd(cd, atname)


def config_match(parent: device | None, cf: cfdata, aux: Any) -> int:
    """The match priority of ``cf`` (0 if it has no attachment)."""
    ca = config_cfattach_lookup(cf.cf_name or "", cf.cf_atname or "")
    if ca is None or ca.ca_match is None:
        return 0
    return ca.ca_match(parent, cf, aux)


# --- units --------------------------------------------------------------------------

def config_makeroom(n: int, cd: cfdriver) -> None:
    """Grow ``cd_devs`` so that unit ``n`` fits.  Caller holds alldevs_mtx."""
    ac = _autoconf()
    KASSERT(mutex_owned(ac.alldevs_mtx))
    ac.alldevs_nwrite += 1
    nndevs = max(4, cd.cd_ndevs)
    while nndevs <= n:
        nndevs += nndevs
    while n >= cd.cd_ndevs:
        ondevs = cd.cd_ndevs
        nsp: list[device | None] = [None] * nndevs
        nsp[:ondevs] = cd.cd_devs[:ondevs]
        cd.cd_ndevs = nndevs
        cd.cd_devs = nsp
    ac.alldevs_nwrite -= 1


def config_devlink(dev: device) -> None:
    """Put ``dev`` at the tail of the device list (safe with walkers in the list)."""
    ac = _autoconf()
    s = config_alldevs_lock()
    cd = dev.dv_cfdriver
    assert cd is not None
    KASSERT(cd.cd_devs[dev.dv_unit] is dev)
    dev.dv_add_gen = ac.alldevs_gen
    ac.alldevs.append(dev)
    config_alldevs_unlock(s)


def config_devfree(dev: device) -> None:
    priv = dev.dv_flags & DVF_PRIV_ALLOC
    ca = dev.dv_cfattach
    if ca is not None and ca.ca_devsize > 0:
        kmem_free(dev.dv_private, ca.ca_devsize)
    if priv:
        kmem_free(dev, sizeof(device))


def config_devunlink(dev: device, garbage: list[device]) -> None:
    """Move ``dev`` from the device list to ``garbage``.  Caller holds alldevs_mtx."""
    ac = _autoconf()
    KASSERT(mutex_owned(ac.alldevs_mtx))
    cd = dev.dv_cfdriver
    assert cd is not None
    # Unlink from the device list, link to the garbage list.
    ac.alldevs.remove(dev)
    garbage.append(dev)
    # kemu: a freed device answers ENOENT to a later config_detach.
    if dev.dv_del_gen == 0:
        dev.dv_del_gen = ac.alldevs_gen
    # Remove from the cfdriver's array.
    cd.cd_devs[dev.dv_unit] = None
    # If the driver now has no unit in use, unlink its array (freed later).
    for i in range(cd.cd_ndevs):
        if cd.cd_devs[i] is not None:
            break
    else:
        dev.dv_garbage_ndevs = cd.cd_ndevs
        dev.dv_garbage_devs = cd.cd_devs
        cd.cd_devs = []
        cd.cd_ndevs = 0


def config_devdelete(dev: device) -> None:
    dev.dv_garbage_devs = None  # the unlinked cd_devs array goes with it
    config_devfree(dev)


def config_unit_nextfree(cd: cfdriver, cf: cfdata) -> int:
    unit = cf.cf_unit
    if unit < 0:
        return -1
    if cf.cf_fstate == FSTATE_STAR:
        while unit < cd.cd_ndevs and cd.cd_devs[unit] is not None:
            unit += 1
        # unit is the first free slot, or max(cd_ndevs, cf_unit)
    else:
        if unit < cd.cd_ndevs and cd.cd_devs[unit] is not None:
            unit = -1
    return unit


def config_unit_alloc(dev: device, cd: cfdriver, cf: cfdata) -> int:
    af = config_alldevs_enter()
    while True:
        unit = config_unit_nextfree(cd, cf)
        if unit == -1:
            break
        if unit < cd.cd_ndevs:
            cd.cd_devs[unit] = dev
            dev.dv_unit = unit
            break
        config_makeroom(unit, cd)
    config_alldevs_exit(af)
    return unit


def config_devalloc(parent: device | None, cf: cfdata) -> device | None:
    cd = config_cfdriver_lookup(cf.cf_name) if isinstance(cf.cf_name, str) else None
    if cd is None:
        return None
    ca = config_cfattach_lookup_cd(cd, cf.cf_atname)
    if ca is None:
        return None
    if not isinstance(cf.cf_unit, int):
        return None

    # get memory for all device vars
    KASSERT(ca.ca_flags & DVF_PRIV_ALLOC)
    if ca.ca_devsize > 0:
        dev_private = kmem_zalloc(ca.ca_devsize, KM_SLEEP)
    else:
        dev_private = None
    dev = kmem_zalloc(sizeof(device), KM_SLEEP)

    dev.dv_class = cd.cd_class
    dev.dv_cfdata = cf
    dev.dv_cfdriver = cd
    dev.dv_cfattach = ca
    dev.dv_private = dev_private
    dev.dv_flags = ca.ca_flags  # inherit flags from class

    myunit = config_unit_alloc(dev, cd, cf)
    if myunit == -1:
        config_devfree(dev)
        return None

    xname = f"{cd.cd_name}{myunit}"
    if len(xname) > _DV_XNAME_SIZE:
        panic("config_devalloc: device name too long")
    dev.dv_xname = xname
    dev.dv_parent = parent
    dev.dv_depth = parent.dv_depth + 1 if parent is not None else 0
    dev.dv_flags |= DVF_ACTIVE  # always initially active
    return dev


async def config_attach_pseudo(cf: cfdata) -> device | None:
    """Attach a pseudo-device unit for ``cf``; the device, or None.

    With ``FSTATE_STAR`` the unit is the first free one from ``cf_unit``,
    otherwise exactly ``cf_unit``.  None if the driver or its attachment is
    not registered, or the unit is taken.  The driver's ``ca_attach`` may
    sleep; the unit is in ``cd_devs`` and the device list while it does.
    """
    if not isinstance(cf, cfdata):
        return None
    if fault_check("config_attach_pseudo") is not None:
        return None
    dev = config_devalloc(ROOT, cf)
    if dev is None:
        return None

    # XXX mark busy in cfdata (the C's own note)
    if cf.cf_fstate != FSTATE_STAR:
        KASSERT(cf.cf_fstate == FSTATE_NOTFOUND)
        cf.cf_fstate = FSTATE_FOUND

    config_devlink(dev)

    ca = dev.dv_cfattach
    assert ca is not None
    r = ca.ca_attach(ROOT, dev, None)
    if inspect.isawaitable(r):
        await r
    return dev


def config_collect_garbage(garbage: list[device]) -> None:
    """Unlink the devices detached while the list had walkers, once it has none."""
    ac = _autoconf()
    KASSERT(mutex_owned(ac.alldevs_mtx))
    while ac.alldevs_nwrite == 0 and ac.alldevs_nread == 0 and ac.alldevs_garbage:
        for dv in ac.alldevs:
            if dv.dv_del_gen != 0:
                break
        else:
            ac.alldevs_garbage = False
            break
        config_devunlink(dv, garbage)
    KASSERT(mutex_owned(ac.alldevs_mtx))


def config_dump_garbage(garbage: list[device]) -> None:
    while garbage:
        dv = garbage.pop(0)
        config_devdelete(dv)


async def config_detach(dev: device, flags: int) -> int:
    """Detach a unit: the driver's ca_detach error (panic with DETACH_FORCE),
    ENOENT if it is already detached, EOPNOTSUPP without ca_detach.

    The driver's ``ca_detach`` may sleep.  On success the unit leaves
    ``cd_devs`` and its softc is freed, at once or, while another detach or a
    device iterator is in progress, when the last of them is done; unless
    ``DETACH_QUIET``, "<xname>: detached" is printed.
    """
    if not isinstance(dev, device):
        panic("config_detach: not a device: %r", dev)
    if not isinstance(flags, int):
        flags = 0
    ac = _autoconf()
    diagnostic = curmachine().config.options.get("DIAGNOSTIC")
    cf = dev.dv_cfdata
    KASSERTMSG(cf is None or cf.cf_fstate in (FSTATE_FOUND, FSTATE_STAR),
               "config_detach: %s: bad device fstate: %d", dev.dv_xname,
               cf.cf_fstate if cf is not None else -1)
    cd = dev.dv_cfdriver
    KASSERT(cd is not None)
    ca = dev.dv_cfattach
    KASSERT(ca is not None)
    assert cd is not None and ca is not None

    s = config_alldevs_lock()
    if dev.dv_del_gen != 0:
        config_alldevs_unlock(s)
        if diagnostic:
            printf("%s: %s is already detached\n", "config_detach", dev.dv_xname)
        return ENOENT
    ac.alldevs_nwrite += 1
    config_alldevs_unlock(s)

    if not ac.detachall and \
            (flags & (DETACH_SHUTDOWN | DETACH_FORCE)) == DETACH_SHUTDOWN and \
            (dev.dv_flags & DVF_DETACH_SHUTDOWN) == 0:
        rv = EOPNOTSUPP
    elif ca.ca_detach is not None:
        rv = ca.ca_detach(dev, flags)
        if inspect.isawaitable(rv):
            rv = await rv
    else:
        rv = EOPNOTSUPP

    # Not detached: panic if it was forced, else give the error back.
    # Detached: the device is no longer active.
    if rv == 0:
        dev.dv_flags &= ~DVF_ACTIVE
    elif (flags & DETACH_FORCE) == 0:
        pass  # goto out
    else:
        panic("config_detach: forced detach of %s failed (%d)", dev.dv_xname, rv)

    if rv == 0:
        # The device has now been successfully detached.
        if diagnostic:
            # A detached device has no children; they come after it in the list.
            i = ac.alldevs.index(dev) if dev in ac.alldevs else len(ac.alldevs)
            for d in ac.alldevs[i + 1:]:
                if d.dv_parent is dev and d.dv_del_gen == 0:
                    printf("config_detach: detached device %s has children %s\n",
                           dev.dv_xname, d.dv_xname)
                    panic("config_detach")

        # notify the parent that the child is gone
        p = dev.dv_parent
        if p is not None and p.dv_cfattach is not None and p.dv_cfattach.ca_childdetached:
            p.dv_cfattach.ca_childdetached(p, dev)

        # Mark cfdata to show that the unit can be reused, if possible.
        for ct in ac.allcftables:
            for c in ct:
                if c.cf_name == cd.cd_name and c.cf_fstate == FSTATE_FOUND and \
                        c.cf_unit == dev.dv_unit:
                    c.cf_fstate = FSTATE_NOTFOUND

        if dev.dv_cfdata is not None and (flags & DETACH_QUIET) == 0:
            aprint_normal_dev(dev, "detached\n")

    # out:
    af = config_alldevs_enter()
    KASSERT(ac.alldevs_nwrite != 0)
    ac.alldevs_nwrite -= 1
    if rv == 0 and dev.dv_del_gen == 0:
        if ac.alldevs_nwrite == 0 and ac.alldevs_nread == 0:
            config_devunlink(dev, af.af_garbage)
        else:
            dev.dv_del_gen = ac.alldevs_gen
            ac.alldevs_garbage = True
    config_alldevs_exit(af)
    return rv


# --- the alldevs lock -------------------------------------------------------------------

class alldevs_foray:
    """struct alldevs_foray: the lock cookie and the devices to free after unlocking."""

    __slots__ = ("af_s", "af_garbage")

    def __init__(self) -> None:
        self.af_s = 0
        self.af_garbage: list[device] = []


_alldevs_lock_site = lock_site()


def config_alldevs_lock() -> int:
    """mutex_enter(&alldevs_mtx).  A spin mutex: see the module notes for tryenter."""
    mtx = _autoconf().alldevs_mtx
    if not mutex_tryenter(mtx, at=_alldevs_lock_site):
        panic("config_alldevs_lock: alldevs_mtx is held by %s",
              mtx.mtx_owner.l_name if mtx.mtx_owner is not None else "nobody")
    return 0


def config_alldevs_unlock(s: int) -> None:
    mutex_exit(_autoconf().alldevs_mtx)


def config_alldevs_enter() -> alldevs_foray:
    """Lock the device list and collect what detaches left behind (C: fills ``*af``)."""
    af = alldevs_foray()
    af.af_s = config_alldevs_lock()
    config_collect_garbage(af.af_garbage)
    return af


def config_alldevs_exit(af: alldevs_foray) -> None:
    config_alldevs_unlock(af.af_s)
    config_dump_garbage(af.af_garbage)


# --- the halt's detach (kern/machdep.py's cpu_reboot) ------------------------------------

class shutdown_state:
    def __init__(self) -> None:
        self.initialized = False
        self.di = deviter_t()


def shutdown_first(s: shutdown_state) -> device | None:
    if not s.initialized:
        deviter_init(s.di, DEVITER_F_SHUTDOWN | DEVITER_F_LEAVES_FIRST)
        s.initialized = True
    return shutdown_next(s)


def shutdown_next(s: shutdown_state) -> device | None:
    """The next active device of the walk.  As in NetBSD, the walk's iterator
    is not released at the end (its writer count stays: the system is going
    down, so later detaches leave their devices as garbage)."""
    while True:
        dv = deviter_next(s.di)
        if dv is None or device_is_active(dv):
            break
    if dv is None:
        s.initialized = False
    return dv


async def config_detach_all(how: int) -> bool:
    """Detach, leaves first, every device whose driver allows it at shutdown
    (DVF_DETACH_SHUTDOWN in its cfattach); True if any went.  fss(4) 1.104 does
    not allow it: its units stay (config_detach answers EOPNOTSUPP).

    Nothing is detached for RB_NOSYNC or RB_DUMP (a crash dump must find the
    devices as they were); RB_POWERDOWN adds DETACH_POWEROFF to the flags.
    This function follows revision 1.262 (see the module's notes).

    NetBSD keeps the walk's state in a static; each call walks to the end,
    which resets it, so a local one is the same.
    """
    from kern.machdep import RB_DUMP, RB_NOSYNC, RB_POWERDOWN

    s = shutdown_state()
    progress = False
    if how & (RB_NOSYNC | RB_DUMP):
        return False
    if (how & RB_POWERDOWN) == RB_POWERDOWN:
        flags = DETACH_SHUTDOWN | DETACH_POWEROFF
    else:
        flags = DETACH_SHUTDOWN
    curdev = shutdown_first(s)
    while curdev is not None:
        aprint_debug(" detaching %s, ", device_xname(curdev))
        if await config_detach(curdev, flags) == 0:
            progress = True
            aprint_debug("success.")
        else:
            aprint_debug("failed.")
        curdev = shutdown_next(s)
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
    """Unit ``unit`` of ``cd``; None if out of range, empty, or detached."""
    if cd is None:
        panic("device_lookup: NULL cfdriver")
    s = config_alldevs_lock()
    if not mutex_owned(_autoconf().alldevs_mtx):  # (the KASSERT's call only when it fails)
        KASSERT(mutex_owned(_autoconf().alldevs_mtx))
    if not isinstance(unit, int) or unit < 0 or unit >= cd.cd_ndevs:
        dv = None
    else:
        dv = cd.cd_devs[unit]
        if dv is not None and dv.dv_del_gen != 0:
            dv = None
    config_alldevs_unlock(s)
    return dv


def device_lookup_private(cd: cfdriver, unit: int) -> Any:
    """The softc of unit ``unit`` of ``cd``, or None."""
    return device_private(device_lookup(cd, unit))


def device_find_by_xname(name: str) -> device | None:
    di = deviter_t()
    dv = deviter_first(di, 0)
    while dv is not None:
        if device_xname(dv) == name:
            break
        dv = deviter_next(di)
    deviter_release(di)
    return dv


def alldevs() -> list[device]:
    """kemu: the attached devices of this machine, oldest first (a deviter walk)."""
    di = deviter_t()
    out = []
    dv = deviter_first(di, 0)
    while dv is not None:
        out.append(dv)
        dv = deviter_next(di)
    deviter_release(di)
    return out


# --- device iteration -------------------------------------------------------------------

def device_exists_at(dv: device, gen: int) -> bool:
    """Whether ``dv`` exists at generation ``gen``."""
    return (dv.dv_del_gen == 0 or dv.dv_del_gen > gen) and dv.dv_add_gen <= gen


class deviter_t:
    """A walk over the device list; see deviter_init."""

    __slots__ = ("di_prev", "di_flags", "di_curdepth", "di_maxdepth", "di_gen")

    def __init__(self) -> None:
        self.di_prev: device | None = None
        self.di_flags = 0
        self.di_curdepth = 0
        self.di_maxdepth = 0
        self.di_gen = 0


def deviter_visits(di: deviter_t, dv: device) -> bool:
    return device_exists_at(dv, di.di_gen)


def deviter_init(di: deviter_t, flags: int) -> None:
    """Start a walk.  DEVITER_F_RW: the walker will config_detach what it is given
    (it counts as a writer, and walks from the tail); DEVITER_F_SHUTDOWN implies
    RW; DEVITER_F_ROOT_FIRST / DEVITER_F_LEAVES_FIRST order by depth.  Devices
    attached or detached during the walk are fine; each device comes once."""
    ac = _autoconf()
    di.__init__()
    s = config_alldevs_lock()
    if flags & DEVITER_F_SHUTDOWN:
        flags |= DEVITER_F_RW
    if flags & DEVITER_F_RW:
        ac.alldevs_nwrite += 1
    else:
        ac.alldevs_nread += 1
    di.di_gen = ac.alldevs_gen
    ac.alldevs_gen += 1
    config_alldevs_unlock(s)

    di.di_flags = flags
    order = di.di_flags & (DEVITER_F_LEAVES_FIRST | DEVITER_F_ROOT_FIRST)
    if order == DEVITER_F_LEAVES_FIRST:
        for dv in ac.alldevs:
            if deviter_visits(di, dv):
                di.di_curdepth = max(di.di_curdepth, dv.dv_depth)
    elif order == DEVITER_F_ROOT_FIRST:
        for dv in ac.alldevs:
            if deviter_visits(di, dv):
                di.di_maxdepth = max(di.di_maxdepth, dv.dv_depth)
    deviter_reinit(di)


def deviter_reinit(di: deviter_t) -> None:
    devs = _autoconf().alldevs
    if di.di_flags & DEVITER_F_RW:
        di.di_prev = devs[-1] if devs else None
    else:
        di.di_prev = devs[0] if devs else None


def deviter_first(di: deviter_t, flags: int) -> device | None:
    deviter_init(di, flags)
    return deviter_next(di)


def deviter_next2(di: deviter_t) -> device | None:
    dv = di.di_prev
    if dv is None:
        return None
    devs = _autoconf().alldevs
    i = devs.index(dv)  # the list does not shrink while a walker is in it
    if di.di_flags & DEVITER_F_RW:
        di.di_prev = devs[i - 1] if i > 0 else None
    else:
        di.di_prev = devs[i + 1] if i + 1 < len(devs) else None
    return dv


def deviter_next1(di: deviter_t) -> device | None:
    while True:
        dv = deviter_next2(di)
        if dv is None or deviter_visits(di, dv):
            return dv


def deviter_next(di: deviter_t) -> device | None:
    order = di.di_flags & (DEVITER_F_LEAVES_FIRST | DEVITER_F_ROOT_FIRST)
    dv = None
    if order == 0:
        return deviter_next1(di)
    if order == DEVITER_F_LEAVES_FIRST:
        while di.di_curdepth >= 0:
            dv = deviter_next1(di)
            if dv is None:
                di.di_curdepth -= 1
                deviter_reinit(di)
            elif dv.dv_depth == di.di_curdepth:
                break
        return dv
    if order == DEVITER_F_ROOT_FIRST:
        while di.di_curdepth <= di.di_maxdepth:
            dv = deviter_next1(di)
            if dv is None:
                di.di_curdepth += 1
                deviter_reinit(di)
            elif dv.dv_depth == di.di_curdepth:
                break
        return dv
    return None


def deviter_release(di: deviter_t) -> None:
    ac = _autoconf()
    rw = (di.di_flags & DEVITER_F_RW) != 0
    s = config_alldevs_lock()
    if rw:
        ac.alldevs_nwrite -= 1
    else:
        ac.alldevs_nread -= 1
    # XXX wake a garbage-collection thread (the C's own note)
    config_alldevs_unlock(s)


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

