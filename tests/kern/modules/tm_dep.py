"""tm_dep: requires tm_base; its modcmd is async (the framework awaits it)."""

from kern.errno import ENOTTY
from kern.kern_module import (
    MODULE,
    MODULE_CLASS_MISC,
    MODULE_CMD_FINI,
    MODULE_CMD_INIT,
    module_stat,
)
from kern.kern_synch import kpause

tm_dep_modinfo = MODULE(MODULE_CLASS_MISC, "tm_dep", "tm_base")

inits = 0
fini_error = 0
loaded_at_init: list[str] = []


async def tm_dep_modcmd(cmd, arg):
    global inits
    if cmd == MODULE_CMD_INIT:
        loaded_at_init[:] = [ms.ms_name for ms in module_stat()
                              if ms.ms_refcnt >= 0 and ms.ms_name.startswith("tm_")]
        await kpause("tmdep", False, 1, None)
        if arg and arg.get("init_error"):
            return arg["init_error"]
        inits += 1
        return 0
    if cmd == MODULE_CMD_FINI:
        return fini_error
    return ENOTTY
