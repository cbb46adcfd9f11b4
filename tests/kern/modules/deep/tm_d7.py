"""tm_d7: one link of a chain of requirements (tm_d1 -> tm_d2 -> ... -> tm_d7)."""

from kern.kern_module import MODULE, MODULE_CLASS_MISC

tm_d7_modinfo = MODULE(MODULE_CLASS_MISC, "tm_d7", None)


def tm_d7_modcmd(cmd, arg):
    return 0
