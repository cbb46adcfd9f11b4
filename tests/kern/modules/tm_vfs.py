"""tm_vfs: a module of class VFS (for class-mismatch tests)."""

from kern.kern_module import MODULE, MODULE_CLASS_VFS

tm_vfs_modinfo = MODULE(MODULE_CLASS_VFS, "tm_vfs", None)


def tm_vfs_modcmd(cmd, arg):
    return 0
