"""tm_secmodel: a security model; built in, it cannot be unloaded."""

from kern.kern_module import MODULE, MODULE_CLASS_SECMODEL

tm_secmodel_modinfo = MODULE(MODULE_CLASS_SECMODEL, "tm_secmodel", None)


def tm_secmodel_modcmd(cmd, arg):
    return 0
