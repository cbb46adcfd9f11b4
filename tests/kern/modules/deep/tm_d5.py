"""tm_d5: one link of a chain of requirements (tm_d1 -> tm_d2 -> ... -> tm_d7)."""

from kern.kern_module import MODULE, MODULE_CLASS_MISC

tm_d5_modinfo = MODULE(MODULE_CLASS_MISC, "tm_d5", "tm_d6")


def tm_d5_modcmd(cmd, arg):
    return 0
