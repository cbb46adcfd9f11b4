"""kemu's VFS: vnodes, mounts, namei, fstrans/fscow, the buffer cache, specfs, syscalls."""
