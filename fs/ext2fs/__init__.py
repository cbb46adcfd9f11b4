"""ext2fs: the ext2 file system module (sys/ufs/ext2fs, with ufs/ufs/inode.h's part).

The files below are headers (kern.kern_module, "Where modules come from"):
constants, the on-disk layouts and pure functions, no storage, so every
machine's copy of the module shares one import of them.
"""

__kobj_headers__ = ("ext2fs", "ext2fs_dinode", "ext2fs_dir", "ufs_inode")
