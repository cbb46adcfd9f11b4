"""tm_base: a module with no requirements whose answers the tests choose.

Knobs (module globals, set through kmod_namespace): ``fini_error`` is what
FINI returns, ``autounload_error`` what AUTOUNLOAD returns.  INIT returns
``props["init_error"]`` when the loader passes such props.
"""

from kern.errno import ENOTTY
from kern.kern_module import (
    MODULE,
    MODULE_CLASS_MISC,
    MODULE_CMD_AUTOUNLOAD,
    MODULE_CMD_FINI,
    MODULE_CMD_INIT,
    kmod_option,
)

_MODULE = kmod_option("_MODULE")
DIAGNOSTIC = kmod_option("DIAGNOSTIC")
_LP64 = kmod_option("_LP64")

tm_base_modinfo = MODULE(MODULE_CLASS_MISC, "tm_base", None)

counter = 0
inits = 0
finis = 0
fini_error = 0
autounload_error = ENOTTY
log: list[str] = []


def tm_base_modcmd(cmd, arg):
    global inits, finis
    if cmd == MODULE_CMD_INIT:
        log.append("init")
        if arg and arg.get("init_error"):
            return arg["init_error"]
        inits += 1
        return 0
    if cmd == MODULE_CMD_FINI:
        log.append("fini")
        if fini_error:
            return fini_error
        finis += 1
        return 0
    if cmd == MODULE_CMD_AUTOUNLOAD:
        log.append("autounload")
        return autounload_error
    return ENOTTY
