"""tpd: a test pseudo-device shaped like fss(4).

Units are created on demand in ``tpd_open`` (config_attach_pseudo with a
heap cfdata in FSTATE_STAR, as fss_open does) and destroyed on the last
close (config_detach).  The same file works both ways NetBSD builds a
driver: statically configured ("pseudo-device tpd 2": cfdriver from ioconf,
``tpdattach``) and as a module (``_MODULE``: CFDRIVER_DECL, ``tpd_modcmd``).

Knobs for tests: ``tpd_busy`` makes ``tpd_detach`` refuse with EBUSY.
"""

from kern.conf import (
    D_MPSAFE,
    D_OTHER,
    bdevsw,
    cdevsw,
    nodiscard,
    nodump,
    nokqfilter,
    nommap,
    nopoll,
    noread,
    nostop,
    notty,
    nowrite,
)
from kern.errno import EBUSY, ENOMEM, ENOTTY, ENXIO
from kern.kern_module import (
    MODULE,
    MODULE_CLASS_DRIVER,
    MODULE_CMD_FINI,
    MODULE_CMD_INIT,
    kmod_option,
)
from kern.kern_mutex import (
    IPL_NONE,
    MUTEX_DEFAULT,
    kmutex_t,
    mutex_destroy,
    mutex_enter,
    mutex_exit,
    mutex_init,
)
from kern.kern_types import sizeof
from kern.subr_autoconf import (
    CFATTACH_DECL_NEW,
    CFDRIVER_DECL,
    DETACH_QUIET,
    DV_DULL,
    FSTATE_STAR,
    cfdata,
    config_attach_pseudo,
    config_cfattach_attach,
    config_cfattach_detach,
    config_cfdriver_attach,
    config_cfdriver_detach,
    config_detach,
    device_cfdata,
    device_lookup_private,
    device_private,
    device_xname,
    ioconf_cfdriver,
    pmf_device_deregister,
    pmf_device_register,
)
from kern.subr_devsw import devsw_attach, devsw_detach
from kern.subr_kmem import M_DEVBUF, M_WAITOK, free, malloc
from kern.subr_prf import aprint_error, aprint_error_dev
from kern.types_dev import minor

_MODULE = kmod_option("_MODULE")

# extern struct cfdriver tpd_cd (from ioconf when statically configured)
tpd_cd = ioconf_cfdriver("tpd", DV_DULL)


class tpd_softc:
    def __init__(self) -> None:
        self.sc_dev = None
        self.sc_opens = 0
        self.sc_cf = None


tpd_bdevsw = bdevsw(
    d_open="tpd_open",
    d_close="tpd_close",
    d_strategy="tpd_strategy",
    d_ioctl="tpd_ioctl",
    d_dump=nodump,
    d_psize="tpd_size",
    d_discard=nodiscard,
    d_flag=D_OTHER | D_MPSAFE,
)

tpd_cdevsw = cdevsw(
    d_open="tpd_open",
    d_close="tpd_close",
    d_read=noread,
    d_write=nowrite,
    d_ioctl="tpd_ioctl",
    d_stop=nostop,
    d_tty=notty,
    d_poll=nopoll,
    d_mmap=nommap,
    d_kqfilter=nokqfilter,
    d_discard=nodiscard,
    d_flag=D_OTHER | D_MPSAFE,
)

tpd_ca = CFATTACH_DECL_NEW("tpd", sizeof(tpd_softc), "tpd_match", "tpd_attach", "tpd_detach",
                           None)

tpd_device_lock = kmutex_t()
tpd_num_attached = 0
tpd_busy = False
tpd_attach_count = 0


def tpdattach(num: int) -> None:
    global tpd_attach_count
    tpd_attach_count = num
    mutex_init(tpd_device_lock, MUTEX_DEFAULT, IPL_NONE)
    if config_cfattach_attach(tpd_cd.cd_name, tpd_ca):
        aprint_error("%s: unable to register\n", tpd_cd.cd_name)


def tpd_match(parent, cf, aux) -> int:
    return 1


def tpd_attach(parent, self, aux) -> None:
    global tpd_num_attached
    sc = device_private(self)
    sc.sc_dev = self
    if not pmf_device_register(self, None, None):
        aprint_error_dev(self, "couldn't establish power handler\n")
    tpd_num_attached += 1


def tpd_detach(self, flags) -> int:
    global tpd_num_attached
    if tpd_busy:
        return EBUSY
    tpd_num_attached -= 1
    pmf_device_deregister(self)
    return 0


async def tpd_open(dev, flags, mode, l) -> int:
    await mutex_enter(tpd_device_lock)
    sc = device_lookup_private(tpd_cd, minor(dev))
    if sc is None:
        cf = malloc(sizeof(cfdata), M_DEVBUF, M_WAITOK)
        cf.cf_name = tpd_cd.cd_name
        cf.cf_atname = tpd_cd.cd_name
        cf.cf_unit = minor(dev)
        cf.cf_fstate = FSTATE_STAR
        sc = device_private(await config_attach_pseudo(cf))
        if sc is None:
            free(cf, M_DEVBUF)
            mutex_exit(tpd_device_lock)
            return ENOMEM
    sc.sc_opens += 1
    mutex_exit(tpd_device_lock)
    return 0


async def tpd_close(dev, flags, mode, l) -> int:
    await mutex_enter(tpd_device_lock)
    sc = device_lookup_private(tpd_cd, minor(dev))
    if sc is None:
        mutex_exit(tpd_device_lock)
        return ENXIO
    error = 0
    sc.sc_opens -= 1
    if sc.sc_opens == 0:
        cf = device_cfdata(sc.sc_dev)
        error = await config_detach(sc.sc_dev, DETACH_QUIET)
        if error == 0:
            free(cf, M_DEVBUF)
        else:
            sc.sc_opens += 1
    mutex_exit(tpd_device_lock)
    return error


async def tpd_strategy(bp) -> None:
    bp.b_error = 0
    bp.b_resid = 0


async def tpd_ioctl(dev, cmd, data, flag, l) -> int:
    sc = device_lookup_private(tpd_cd, minor(dev))
    if sc is None:
        return ENXIO
    if isinstance(data, list):
        data.append(device_xname(sc.sc_dev))
    return 0


def tpd_size(dev) -> int:
    return -1


if _MODULE:
    MODULE(MODULE_CLASS_DRIVER, "tpd", None)
    tpd_cd = CFDRIVER_DECL("tpd", DV_DULL, None)

    tpd_bmajor = -1
    tpd_cmajor = -1

    def tpd_modcmd(cmd, arg) -> int:
        global tpd_bmajor, tpd_cmajor
        error = 0
        if cmd == MODULE_CMD_INIT:
            mutex_init(tpd_device_lock, MUTEX_DEFAULT, IPL_NONE)
            error = config_cfdriver_attach(tpd_cd)
            if error:
                mutex_destroy(tpd_device_lock)
                return error
            error = config_cfattach_attach(tpd_cd.cd_name, tpd_ca)
            if error:
                config_cfdriver_detach(tpd_cd)
                mutex_destroy(tpd_device_lock)
                return error
            error, tpd_bmajor, tpd_cmajor = devsw_attach(tpd_cd.cd_name, tpd_bdevsw, tpd_bmajor,
                                                         tpd_cdevsw, tpd_cmajor)
            if error:
                config_cfattach_detach(tpd_cd.cd_name, tpd_ca)
                config_cfdriver_detach(tpd_cd)
                mutex_destroy(tpd_device_lock)
            return error
        if cmd == MODULE_CMD_FINI:
            devsw_detach(tpd_bdevsw, tpd_cdevsw)
            error = config_cfattach_detach(tpd_cd.cd_name, tpd_ca)
            if error:
                devsw_attach(tpd_cd.cd_name, tpd_bdevsw, tpd_bmajor, tpd_cdevsw, tpd_cmajor)
                return error
            error = config_cfdriver_detach(tpd_cd)
            if error:
                config_cfattach_attach(tpd_cd.cd_name, tpd_ca)
                devsw_attach(tpd_cd.cd_name, tpd_bdevsw, tpd_bmajor, tpd_cdevsw, tpd_cmajor)
                return error
            mutex_destroy(tpd_device_lock)
            return 0
        return ENOTTY
