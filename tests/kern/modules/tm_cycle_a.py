"""tm_cycle_a: requires tm_cycle_b, which requires tm_cycle_a."""

from kern.kern_module import MODULE, MODULE_CLASS_MISC

tm_cycle_a_modinfo = MODULE(MODULE_CLASS_MISC, "tm_cycle_a", "tm_cycle_b")


def tm_cycle_a_modcmd(cmd, arg):
    return 0
