"""kemu's userland libraries.

Code here runs in user lwps and reaches the kernel only through system
calls (``kern.syscall.syscall``), marshalling its arguments into the
process's modelled user memory first, as a C library does:

* ``tools.lib.libc``: the system-call stubs (read, write, ioctl, ...), and
  helpers to allocate user memory (``ualloc``, ``ustr``, ``ufree``).
"""
