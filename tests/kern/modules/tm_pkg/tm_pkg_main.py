"""tm_pkg's entry file: sibling files come in through relative imports."""

from kern.kern_module import MODULE, MODULE_CLASS_MISC

from . import tm_pkg_hdr, tm_pkg_state
from .tm_pkg_util import bump

tm_pkg_modinfo = MODULE(MODULE_CLASS_MISC, "tm_pkg", None)


def tm_pkg_modcmd(cmd, arg):
    bump()
    return 0


def state():
    return tm_pkg_state


def header():
    return tm_pkg_hdr
