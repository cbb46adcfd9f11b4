"""tm_d3: one link of a chain of requirements (tm_d1 -> tm_d2 -> ... -> tm_d7)."""

from kern.kern_module import MODULE, MODULE_CLASS_MISC

tm_d3_modinfo = MODULE(MODULE_CLASS_MISC, "tm_d3", "tm_d4")


def tm_d3_modcmd(cmd, arg):
    return 0
