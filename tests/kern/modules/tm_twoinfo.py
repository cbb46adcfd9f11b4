"""tm_twoinfo: a file with two MODULE() declarations."""

from kern.kern_module import MODULE, MODULE_CLASS_MISC

tm_two_a_modinfo = MODULE(MODULE_CLASS_MISC, "tm_two_a", None)
tm_two_b_modinfo = MODULE(MODULE_CLASS_MISC, "tm_two_b", None)


def tm_two_a_modcmd(cmd, arg):
    return 0


def tm_two_b_modcmd(cmd, arg):
    return 0
