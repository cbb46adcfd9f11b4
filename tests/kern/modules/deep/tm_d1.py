"""tm_d1: one link of a chain of requirements (tm_d1 -> tm_d2 -> ... -> tm_d7)."""

from kern.kern_module import MODULE, MODULE_CLASS_MISC

tm_d1_modinfo = MODULE(MODULE_CLASS_MISC, "tm_d1", "tm_d2")


def tm_d1_modcmd(cmd, arg):
    return 0
