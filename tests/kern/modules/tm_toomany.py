"""tm_toomany: names ten requirements (at most nine are allowed)."""

from kern.kern_module import MODULE, MODULE_CLASS_MISC

tm_toomany_modinfo = MODULE(MODULE_CLASS_MISC, "tm_toomany", ",".join(["tm_base"] * 10))


def tm_toomany_modcmd(cmd, arg):
    return 0
