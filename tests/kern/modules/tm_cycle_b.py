"""tm_cycle_b: requires tm_cycle_a (a cycle)."""

from kern.kern_module import MODULE, MODULE_CLASS_MISC

tm_cycle_b_modinfo = MODULE(MODULE_CLASS_MISC, "tm_cycle_b", "tm_cycle_a")


def tm_cycle_b_modcmd(cmd, arg):
    return 0
