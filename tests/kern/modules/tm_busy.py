"""tm_busy: declines auto-unload with EBUSY."""

from kern.errno import EBUSY, ENOTTY
from kern.kern_module import (
    MODULE,
    MODULE_CLASS_MISC,
    MODULE_CMD_AUTOUNLOAD,
    MODULE_CMD_FINI,
    MODULE_CMD_INIT,
)

tm_busy_modinfo = MODULE(MODULE_CLASS_MISC, "tm_busy", None)


def tm_busy_modcmd(cmd, arg):
    if cmd in (MODULE_CMD_INIT, MODULE_CMD_FINI):
        return 0
    if cmd == MODULE_CMD_AUTOUNLOAD:
        return EBUSY
    return ENOTTY
