"""tm_self: requires itself."""

from kern.kern_module import MODULE, MODULE_CLASS_MISC

tm_self_modinfo = MODULE(MODULE_CLASS_MISC, "tm_self", "tm_self")


def tm_self_modcmd(cmd, arg):
    return 0
