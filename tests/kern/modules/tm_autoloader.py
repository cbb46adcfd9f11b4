"""tm_autoloader: its INIT autoloads tm_base (kernconfig_lock is recursive)."""

from kern.kern_module import (
    MODULE,
    MODULE_CLASS_ANY,
    MODULE_CLASS_MISC,
    MODULE_CMD_INIT,
    module_autoload,
)

tm_autoloader_modinfo = MODULE(MODULE_CLASS_MISC, "tm_autoloader", None)

init_result = None


async def tm_autoloader_modcmd(cmd, arg):
    global init_result
    if cmd == MODULE_CMD_INIT:
        init_result = await module_autoload("tm_base", MODULE_CLASS_ANY)
    return 0
