"""tm_longname: a module name of MAXMODNAME characters."""

from kern.kern_module import MODULE, MODULE_CLASS_MISC

NAME = "x" * 32
tm_longname_modinfo = MODULE(MODULE_CLASS_MISC, NAME, None, modcmd=lambda cmd, arg: 0)
