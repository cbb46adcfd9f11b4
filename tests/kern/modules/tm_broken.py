"""tm_broken: executing it raises (a module that does not link)."""

from kern.kern_module import MODULE, MODULE_CLASS_MISC

tm_broken_modinfo = MODULE(MODULE_CLASS_MISC, "tm_broken", None)

raise RuntimeError("tm_broken does not load")
