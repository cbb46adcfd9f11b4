"""puffs(4): the Pass-to-Userspace Framework File System, as of April 2007.

The kernel side is a module (``MODULE(MODULE_CLASS_VFS, "puffs", ...)`` in
puffs_vfsops.py) whose sibling files come in through relative imports, so
every machine gets its own copy of their globals (kern/kern_module.py).
Userland includes the headers (puffs_msgif_h) the ordinary way.

Files: puffs_vfsops (port of puffs_vfsops.c 1.38), puffs_msgif (the request
engine), puffs_transport (/dev/puffs), puffs_subr (nodes and helpers),
puffs_vnops (vnode operations), puffs_msgif_h and puffs_sys (the headers).
"""
