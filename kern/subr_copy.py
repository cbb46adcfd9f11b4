"""User memory and the copy functions across it (subr_copy.c, uvm_io, sys/uio.h).

Every user process gets a modelled address space (``p.p_vmspace``): a
sparse map of page-granular mappings, each a ``bytearray``, at addresses in
the amd64 user range.  Address 0, the gaps between mappings (one unmapped
guard page follows each) and anything past a mapping's end are not
accessible, so a bad pointer gives EFAULT exactly where NetBSD would give it.
Addresses are never reused within a process, which turns a use after
``ufree`` into EFAULT too.

Kernel side (NetBSD's names; errno first, out-parameters after it):

* ``copyin(uaddr, kaddr, len)``, ``copyout(kaddr, uaddr, len)``,
  ``copyinstr(uaddr, kaddr, len) -> (error, done)``, ``copyoutstr``,
  ``copystr``, ``ufetch_*``/``ustore_*``, ``copyin_vmspace``/``copyout_vmspace``,
  ``copyin_proc``/``copyout_proc``, ``ioctl_copyin``/``ioctl_copyout``.
  They work on the current lwp's process; kernel threads (proc0) have no
  user space and get EFAULT.  A kernel buffer is anything writable with the
  buffer protocol: ``bytearray``, ``memoryview`` or a ctypes object.
  ``copyin``, ``copyout`` and ``copyinstr`` are fault-injection sites of
  those names (also ``copyoutstr``, ``ufetch``, ``ustore``).
* ``uio``/``iovec`` and ``uiomove(buf, n, uio)``, which moves data between a
  kernel buffer and the uio's space through the functions above.  In a
  UIO_SYSSPACE uio, ``iov_base`` is a kernel buffer (a memoryview);
  otherwise it is a user address.

Userland side (lib/libc.py, running in the user lwp): ``uvm_map_user``,
``uvm_unmap_user``, ``uwrite``, ``uread``; a bad address raises
``SyscallError(EFAULT)``.

What is ported: uiomove, uiomove_frombuf, ureadc, copyin_vmspace,
copyout_vmspace, copyin_proc, copyout_proc, ioctl_copyin and ioctl_copyout
from ``$NetBSD: subr_copy.c,v 1.6 2015/04/21 riastradh$`` (the stored
revision of the NetBSD 8 era); ufetch_*/ustore_* after subr_copy.c of
NetBSD 9 (1.8 of 2018 is the stored one before them; NetBSD 8 has
fubyte/subyte); struct uio/iovec and the UIO_* values from sys/uio.h.
copyin, copyout, copyinstr, copyoutstr, copystr and kcopy are
machine-dependent in NetBSD (amd64's copy.S); here they are kemu's,
with NetBSD's errnos.  The address-space model (vmspace, vm_map_entry,
uvmspace_*, uvm_map_user and the other userland helpers) is kemu's own.
Notices in LICENSE.NetBSD.

Deviations:

* ``uio_iov`` is a Python list; uiomove drops used entries from its front
  (C advances the pointer and decrements uio_iovcnt the same way).
* uiomove calls kemu's ``preempt()`` before each user-space chunk (1.6
  only when SPCF_SHOULDYIELD is set; kemu's preempt decides that itself;
  its fast-path test, nothing else runnable or a spin mutex held, is made
  in line first, as syscall's entry does, and preempt is then not awaited).
  For a user-space uio it does copyin_vmspace's/copyout_vmspace's user
  branch in line (the fault site, then the copy; it knows the vmspace is
  not the kernel's), and hands a kernel buffer moved whole over without a
  slice (kemu-side shortcuts: the same sites, copies and errnos).
* copyin_vmspace/copyout_vmspace copy another process's memory directly
  (1.6: through uvm_io); copyin_proc/copyout_proc answer EFAULT for a
  process with the kernel's vmspace instead of taking a reference with
  proc_vmspace_getref.
* ``ureadc`` goes through uiomove with a one-byte buffer (1.6 stores the
  byte itself with subyte, panicking on a non-positive iovcnt).
* copyin, copyout, copyinstr, copyoutstr, ufetch and ustore are also
  fault-injection sites; a negative length is EFAULT; a kernel buffer
  smaller than the length panics; copyoutstr and copystr take the end of
  a Python kernel buffer as its terminating NUL.
"""

from __future__ import annotations

import bisect
import ctypes
from typing import TYPE_CHECKING, Any

from kern.cpu import curlwp_or_none, curmachine_or_none
from kern.errno import EFAULT, EINVAL, ENAMETOOLONG, ENOMEM
from kern.exceptions import SyscallError
from kern.kern_lwp import PS_WEXIT
from kern.kern_synch import preempt
from kern.param import PAGE_MASK, PAGE_SIZE, round_page, trunc_page  # noqa: F401 - re-exported
from kern.subr_fault import fault_inject
from kern.subr_lockdebug import ASSERT_SLEEPABLE
from kern.subr_prf import KASSERT, panic

if TYPE_CHECKING:
    from kern.kern_lwp import proc
    from kern.machine import Machine

# amd64 user address range (vmparam.h)
VM_MIN_ADDRESS = 0
VM_MAXUSER_ADDRESS = 0x00007f7fffffc000
# Where kemu places the first user mapping of a process (mmap space on amd64
# lies just under the stack, in the 0x7f7f... region).
VM_USER_MAP_BASE = 0x00007f0000000000
# Where a program's functions get their addresses (in amd64's text segment,
# which starts at 0x400000; kemu begins higher, so that a made-up handler
# address such as 0x401000 holds no code).
VM_TEXT_BASE = 0x0000000000500000
VM_TEXT_ALIGN = 16

SSIZE_MAX = (1 << 63) - 1

# enum uio_rw, enum uio_seg (sys/uio.h)
UIO_READ = 0
UIO_WRITE = 1
UIO_USERSPACE = 0
UIO_SYSSPACE = 1

UIO_SMALLIOV = 8
IOV_MAX = 1024


# --------------------------------------------------------------- address spaces

class vm_map_entry:
    """One mapping: [start, end) backed by a bytearray of end - start bytes."""

    __slots__ = ("start", "end", "data")

    def __init__(self, start: int, size: int) -> None:
        self.start = start
        self.end = start + size
        self.data = bytearray(size)

    def __repr__(self) -> str:
        return f"<vm_map_entry {self.start:#x}-{self.end:#x}>"


class vmspace:
    """struct vmspace: a process's user address space, or the kernel's (no user pages)."""

    __slots__ = ("vm_starts", "vm_ents", "vm_next", "vm_kernel", "vm_refcnt", "vm_text",
                 "vm_text_next", "vm_hint", "vm_gen")

    def __init__(self, kernel: bool = False) -> None:
        self.vm_starts: list[int] = []
        self.vm_ents: list[vm_map_entry] = []
        self.vm_next = VM_USER_MAP_BASE
        self.vm_kernel = kernel
        self.vm_refcnt = 1
        # The program's text: address -> the Python function that is the code
        # there (a handler given to sigaction, libc's signal trampoline).
        self.vm_text: dict[int, Any] = {}
        self.vm_text_next = VM_TEXT_BASE
        # The mapping the last lookup found: a program's copies mostly hit the
        # one it used last (its stack, its request buffer), so it is tried
        # before the bisection.  Mappings never overlap: a hit is the answer.
        self.vm_hint: vm_map_entry | None = None
        # Counts the mappings removed: a view of a mapping that userland keeps
        # (libc.UserMapping) is good while this is what it was.
        self.vm_gen = 0

    def __repr__(self) -> str:
        if self.vm_kernel:
            return "<vmspace kernel>"
        return f"<vmspace {len(self.vm_ents)} mappings>"

    def lookup(self, addr: int, n: int) -> tuple[vm_map_entry, int] | None:
        """The mapping holding all of [addr, addr + n) and the offset in it, or None."""
        ent = self.vm_hint
        if ent is not None and ent.start <= addr and addr + n <= ent.end and n >= 0:
            return ent, addr - ent.start
        if addr <= 0 or n < 0:
            return None
        i = bisect.bisect_right(self.vm_starts, addr) - 1
        if i < 0:
            return None
        ent = self.vm_ents[i]
        if addr + n > ent.end:
            return None
        self.vm_hint = ent
        return ent, addr - ent.start

    def entry_at(self, addr: int) -> vm_map_entry | None:
        """The mapping that contains ``addr`` (at least its first byte), or None."""
        r = self.lookup(addr, 1)
        return r[0] if r is not None else None

    def map(self, size: int) -> int:
        """Map ``size`` bytes (rounded up to pages) of zeroes; 0 when the space is full."""
        size = round_page(size)
        start = self.vm_next
        if start + size > VM_MAXUSER_ADDRESS:
            return 0
        ent = vm_map_entry(start, size)
        self.vm_starts.append(start)
        self.vm_ents.append(ent)
        self.vm_next = start + size + PAGE_SIZE  # leave one guard page unmapped
        return start

    def unmap(self, addr: int) -> bool:
        i = bisect.bisect_left(self.vm_starts, addr)
        if i == len(self.vm_starts) or self.vm_starts[i] != addr:
            return False
        del self.vm_starts[i]
        del self.vm_ents[i]
        self.vm_hint = None
        self.vm_gen += 1
        return True

    def clear(self) -> None:
        self.vm_starts.clear()
        self.vm_ents.clear()
        self.vm_hint = None
        self.vm_gen += 1

    @property
    def vm_mapped(self) -> int:
        """Bytes mapped now."""
        return sum(e.end - e.start for e in self.vm_ents)


_vmspace_kernel = vmspace(kernel=True)


def vmspace_kernel() -> vmspace:
    """The kernel's vmspace: a UIO_SYSSPACE uio points here; it has no user pages."""
    return _vmspace_kernel


def VMSPACE_IS_KERNEL_P(vm: vmspace | None) -> bool:
    return vm is None or vm.vm_kernel


def uvmspace_alloc() -> vmspace:
    return vmspace()


def uvmspace_fork(vm1: vmspace) -> vmspace:
    """A copy of ``vm1`` for a forked child: the same mappings at the same
    addresses, each with its own copy of the bytes (no copy-on-write)."""
    vm2 = vmspace()
    for ent in vm1.vm_ents:
        new = vm_map_entry(ent.start, ent.end - ent.start)
        new.data[:] = ent.data
        vm2.vm_starts.append(ent.start)
        vm2.vm_ents.append(new)
    vm2.vm_next = vm1.vm_next
    vm2.vm_text = dict(vm1.vm_text)      # the same program
    vm2.vm_text_next = vm1.vm_text_next
    return vm2


def uvmspace_free(vm: vmspace) -> None:
    vm.vm_refcnt -= 1
    if vm.vm_refcnt <= 0 and not vm.vm_kernel:
        vm.clear()


def uvm_user_init(machine: Machine) -> None:
    """Boot hook: proc0 runs in the kernel's vmspace; each new process gets its own."""
    machine.proc0.p_vmspace = _vmspace_kernel

    def create(p: proc, parent: proc | None) -> None:
        from kern.kern_lwp import PK_EXEC

        if p.p_flag & PK_EXEC or parent is None or parent.p_vmspace is None \
                or parent.p_vmspace.vm_kernel:
            # A new process as though it had just exec'd: an empty address space.
            p.p_vmspace = uvmspace_alloc()
        else:
            p.p_vmspace = uvmspace_fork(parent.p_vmspace)

    def destroy(p: proc) -> None:
        vm = p.p_vmspace
        if vm is not None and not vm.vm_kernel:
            uvmspace_free(vm)
        p.p_vmspace = None

    machine.proc_create_hooks.append(create)
    machine.proc_destroy_hooks.append(destroy)


# --------------------------------------------------------------- helpers

def _kview(buf: Any) -> memoryview:
    """A byte view of a kernel buffer (bytearray, memoryview, bytes, ctypes object)."""
    if isinstance(buf, memoryview):
        if buf.format == "B" and buf.ndim == 1:
            return buf
        return buf.cast("B")
    # (cast without asking the new view its format first: for a ctypes struct
    # that is a string built from every field)
    return memoryview(buf).cast("B")


def _uaddr(uaddr: Any) -> int:
    """A user pointer as an int (None and ctypes' NULL are 0)."""
    if uaddr is None:
        return 0
    if isinstance(uaddr, int):
        return uaddr
    v = getattr(uaddr, "value", uaddr)  # a ctypes pointer-sized scalar
    if v is None:
        return 0
    if isinstance(v, int):
        return v
    panic("user address expected, got %s", type(uaddr).__name__)
    return 0


def _curvm() -> vmspace | None:
    """The current process's user vmspace, or None for a kernel thread / no lwp."""
    l = curlwp_or_none()
    if l is None:
        return None
    vm = l.l_proc.p_vmspace
    if vm is None or vm.vm_kernel:
        return None
    return vm


# From this many bytes on, a copy between user memory and a kernel buffer goes
# through a memoryview: a slice of a bytearray is itself a copy, which is
# cheaper than making the view only for small transfers.
_VIEW_MIN = 16384


def _need(kv: memoryview | bytearray, n: int, what: str) -> None:
    if len(kv) < n:
        panic("%s: kernel buffer of %d bytes is smaller than the %d to copy", what,
              len(kv), n)


def _copy_vm(vm: vmspace | None, kaddr: Any, uaddr: Any, n: int, out: bool) -> int:
    """copyout (``out``) or copyin of ``n`` bytes between kernel buffer ``kaddr``
    and ``uaddr`` in ``vm``."""
    # (``n``, not C's ``len``, so that the builtin len() can be called: a
    # buffer's __len__ method called instead costs several times as much)
    if n == 0:
        return 0
    if vm is None or n < 0:
        return EFAULT
    addr = uaddr if uaddr.__class__ is int else _uaddr(uaddr)
    ent = vm.vm_hint    # (lookup's first try, without its call: most copies hit it)
    if ent is None or addr < ent.start or addr + n > ent.end:
        r = vm.lookup(addr, n)
        if r is None:
            return EFAULT
        ent = r[0]
    off = addr - ent.start
    kv = kaddr if kaddr.__class__ is bytearray else _kview(kaddr)
    kn = len(kv)
    if kn < n:
        _need(kv, n, "copyout" if out else "copyin")
    if not out:
        src = ent.data
        kv[:n] = src[off:off + n] if n < _VIEW_MIN else memoryview(src)[off:off + n]
    elif kn == n:
        ent.data[off:off + n] = kv    # (the whole buffer: no copy of it first)
    else:
        ent.data[off:off + n] = kv[:n] if n < _VIEW_MIN else memoryview(kv)[:n]
    return 0


# --------------------------------------------------------------- copy functions

def copyin(uaddr: Any, kaddr: Any, len: int) -> int:
    """Copy ``len`` bytes from user address ``uaddr`` into kernel buffer ``kaddr``."""
    m = curmachine_or_none()  # (fault_inject, without its call)
    if m is not None:
        attr = m.faults.check("copyin")
        if attr is not None:
            return attr.error
    l = curlwp_or_none()  # (_curvm, the same)
    vm = l.l_proc.p_vmspace if l is not None else None
    return _copy_vm(vm if vm is None or not vm.vm_kernel else None, kaddr, uaddr, len, False)


def copyout(kaddr: Any, uaddr: Any, len: int) -> int:
    """Copy ``len`` bytes from kernel buffer ``kaddr`` to user address ``uaddr``."""
    m = curmachine_or_none()  # (as in copyin)
    if m is not None:
        attr = m.faults.check("copyout")
        if attr is not None:
            return attr.error
    l = curlwp_or_none()
    vm = l.l_proc.p_vmspace if l is not None else None
    return _copy_vm(vm if vm is None or not vm.vm_kernel else None, kaddr, uaddr, len, True)


def _kstr(kaddr: Any) -> memoryview:
    if isinstance(kaddr, str):
        kaddr = kaddr.encode()
    return _kview(kaddr)


def copyinstr(uaddr: Any, kaddr: Any, len: int) -> tuple[int, int]:
    """Copy a NUL-terminated string of at most ``len`` bytes (NUL included) from user space.

    Returns ``(error, done)``; ``done`` counts the bytes copied, the NUL too.
    ENAMETOOLONG when no NUL lies within ``len`` bytes; EFAULT when the
    string runs into unmapped memory first.
    """
    error = fault_inject("copyinstr")
    if error:
        return error, 0
    vm = _curvm()
    if vm is None:
        return EFAULT, 0
    if len <= 0:
        return ENAMETOOLONG, 0
    addr = _uaddr(uaddr)
    ent = vm.entry_at(addr)
    if ent is None:
        return EFAULT, 0
    off = addr - ent.start
    n = min(len, ent.end - addr)
    kv = _kview(kaddr)
    i = ent.data.find(0, off, off + n)
    if i >= 0:
        done = i - off + 1
        _need(kv, done, "copyinstr")
        kv[:done] = ent.data[off:off + done]
        return 0, done
    _need(kv, n, "copyinstr")
    kv[:n] = ent.data[off:off + n]
    if n == len:
        return ENAMETOOLONG, n
    return EFAULT, n


def _kstring(src: memoryview, len: int) -> tuple[bytes, bool]:
    """The bytes of a kernel string to copy (NUL included) within ``len``, and
    whether they end with the NUL.  The end of a Python kernel buffer counts as
    its terminating NUL.
    """
    limit = min(len, src.nbytes)
    b = src[:limit].tobytes()
    i = b.find(0)
    if i >= 0:
        return b[:i + 1], True
    if src.nbytes < len:
        return b + b"\0", True
    return b, False


def copyoutstr(kaddr: Any, uaddr: Any, len: int) -> tuple[int, int]:
    """Copy a kernel string out to user space; ``(error, done)`` as copyinstr."""
    error = fault_inject("copyoutstr")
    if error:
        return error, 0
    vm = _curvm()
    if vm is None:
        return EFAULT, 0
    if len <= 0:
        return ENAMETOOLONG, 0
    data, terminated = _kstring(_kstr(kaddr), len)
    n = data.__len__()
    addr = _uaddr(uaddr)
    ent = vm.entry_at(addr)
    if ent is None:
        return EFAULT, 0
    off = addr - ent.start
    room = ent.end - addr
    if room < n:
        ent.data[off:off + room] = data[:room]
        return EFAULT, room
    ent.data[off:off + n] = data
    return (0 if terminated else ENAMETOOLONG), n


def copystr(kfaddr: Any, kdaddr: Any, len: int) -> tuple[int, int]:
    """Copy a NUL-terminated string between two kernel buffers; ``(error, done)``."""
    if len <= 0:
        return ENAMETOOLONG, 0
    data, terminated = _kstring(_kstr(kfaddr), len)
    n = data.__len__()
    dst = _kview(kdaddr)
    _need(dst, n, "copystr")
    dst[:n] = data
    return (0 if terminated else ENAMETOOLONG), n


def copyin_vmspace(vm: vmspace | None, uaddr: Any, kaddr: Any, len: int) -> int:
    """copyin from ``vm``; from the kernel's vmspace ``uaddr`` is a kernel buffer."""
    if VMSPACE_IS_KERNEL_P(vm):
        return kcopy(uaddr, kaddr, len)
    error = fault_inject("copyin")
    if error:
        return error
    return _copy_vm(vm, kaddr, uaddr, len, False)


def copyout_vmspace(vm: vmspace | None, kaddr: Any, uaddr: Any, len: int) -> int:
    """copyout to ``vm``; to the kernel's vmspace ``uaddr`` is a kernel buffer."""
    if VMSPACE_IS_KERNEL_P(vm):
        return kcopy(kaddr, uaddr, len)
    error = fault_inject("copyout")
    if error:
        return error
    return _copy_vm(vm, kaddr, uaddr, len, True)


def copyin_proc(p: proc, uaddr: Any, kaddr: Any, len: int) -> int:
    """copyin from another process's address space."""
    vm = p.p_vmspace
    if VMSPACE_IS_KERNEL_P(vm):
        return EFAULT
    return copyin_vmspace(vm, uaddr, kaddr, len)


def copyout_proc(p: proc, kaddr: Any, uaddr: Any, len: int) -> int:
    """copyout to another process's address space."""
    vm = p.p_vmspace
    if VMSPACE_IS_KERNEL_P(vm):
        return EFAULT
    return copyout_vmspace(vm, kaddr, uaddr, len)


def kcopy(src: Any, dst: Any, len: int) -> int:
    """Copy between two kernel buffers (memcpy that reports faults)."""
    if len == 0:
        return 0
    s = _kview(src)
    d = _kview(dst)
    _need(s, len, "kcopy")
    _need(d, len, "kcopy")
    d[:len] = s[:len]
    return 0


def ioctl_copyin(ioctlflags: int, src: Any, dst: Any, len: int) -> int:
    """copyin, unless the ioctl came from inside the kernel (FKIOCTL): then memcpy."""
    from kern.fcntl import FKIOCTL

    if ioctlflags & FKIOCTL:
        return kcopy(src, dst, len)
    return copyin(src, dst, len)


def ioctl_copyout(ioctlflags: int, src: Any, dst: Any, len: int) -> int:
    """copyout, unless the ioctl came from inside the kernel (FKIOCTL): then memcpy."""
    from kern.fcntl import FKIOCTL

    if ioctlflags & FKIOCTL:
        return kcopy(src, dst, len)
    return copyout(src, dst, len)


# ufetch(9) / ustore(9): one aligned integer at a user address.

def _ufetch(uaddr: Any, size: int, signed: bool) -> tuple[int, int]:
    error = fault_inject("ufetch")
    if error:
        return error, 0
    vm = _curvm()
    addr = _uaddr(uaddr)
    if vm is None or addr % size:
        return EFAULT, 0
    r = vm.lookup(addr, size)
    if r is None:
        return EFAULT, 0
    ent, off = r
    return 0, int.from_bytes(ent.data[off:off + size], "little", signed=signed)


def _ustore(uaddr: Any, size: int, val: int) -> int:
    error = fault_inject("ustore")
    if error:
        return error
    vm = _curvm()
    addr = _uaddr(uaddr)
    if vm is None or addr % size:
        return EFAULT
    r = vm.lookup(addr, size)
    if r is None:
        return EFAULT
    ent, off = r
    ent.data[off:off + size] = (val & ((1 << (8 * size)) - 1)).to_bytes(size, "little")
    return 0


def ufetch_8(uaddr: Any) -> tuple[int, int]:
    return _ufetch(uaddr, 1, False)


def ufetch_16(uaddr: Any) -> tuple[int, int]:
    return _ufetch(uaddr, 2, False)


def ufetch_32(uaddr: Any) -> tuple[int, int]:
    return _ufetch(uaddr, 4, False)


def ufetch_64(uaddr: Any) -> tuple[int, int]:
    return _ufetch(uaddr, 8, False)


ufetch_char = ufetch_8
ufetch_short = ufetch_16
ufetch_int = ufetch_32
ufetch_long = ufetch_64
ufetch_ptr = ufetch_64


def ustore_8(uaddr: Any, val: int) -> int:
    return _ustore(uaddr, 1, val)


def ustore_16(uaddr: Any, val: int) -> int:
    return _ustore(uaddr, 2, val)


def ustore_32(uaddr: Any, val: int) -> int:
    return _ustore(uaddr, 4, val)


def ustore_64(uaddr: Any, val: int) -> int:
    return _ustore(uaddr, 8, val)


ustore_char = ustore_8
ustore_short = ustore_16
ustore_int = ustore_32
ustore_long = ustore_64
ustore_ptr = ustore_64


# --------------------------------------------------------------- uio

class iovec:
    """struct iovec as the kernel holds it inside a uio.

    ``iov_base`` is a user address (int) in a user-space uio, and a kernel
    buffer (bytearray or memoryview) in a UIO_SYSSPACE one.
    """

    __slots__ = ("iov_base", "iov_len")

    def __init__(self, iov_base: Any = None, iov_len: int = 0) -> None:
        self.iov_base = iov_base
        self.iov_len = iov_len

    def __repr__(self) -> str:
        b = self.iov_base
        b = f"{b:#x}" if isinstance(b, int) else type(b).__name__
        return f"iovec({b}, {self.iov_len})"


class user_iovec(ctypes.Structure):
    """struct iovec as it lies in user memory (LP64: pointer, size_t; 16 bytes)."""

    _fields_ = [("iov_base", ctypes.c_uint64), ("iov_len", ctypes.c_uint64)]


class uio:
    """struct uio: a scatter/gather request against a user or kernel address space.

    ``uio_iov`` is a list of :class:`iovec`; as C advances the pointer,
    uiomove drops used-up entries from its front.
    """

    __slots__ = ("uio_iov", "uio_iovcnt", "uio_offset", "uio_resid", "uio_rw", "uio_vmspace")

    def __init__(self, uio_iov: list[iovec] | iovec | None = None, uio_iovcnt: int | None = None,
                 uio_offset: int = 0, uio_resid: int | None = None, uio_rw: int = UIO_READ,
                 uio_vmspace: vmspace | None = None) -> None:
        if isinstance(uio_iov, iovec):
            uio_iov = [uio_iov]
        self.uio_iov: list[iovec] = list(uio_iov) if uio_iov is not None else []
        self.uio_iovcnt = len(self.uio_iov) if uio_iovcnt is None else uio_iovcnt
        self.uio_offset = uio_offset
        self.uio_resid = sum(v.iov_len for v in self.uio_iov) if uio_resid is None else uio_resid
        self.uio_rw = uio_rw
        self.uio_vmspace = uio_vmspace

    def __repr__(self) -> str:
        rw = "READ" if self.uio_rw == UIO_READ else "WRITE"
        space = "sys" if VMSPACE_IS_KERNEL_P(self.uio_vmspace) else "user"
        return (f"<uio {rw} {space} off={self.uio_offset} resid={self.uio_resid} "
                f"iov={self.uio_iov!r}>")


def UIO_SETUP_SYSSPACE(uio: uio) -> None:
    """Point ``uio`` at kernel memory: its iov_base are kernel buffers."""
    uio.uio_vmspace = _vmspace_kernel


def uio_setup_sysspace(uio: uio) -> None:
    UIO_SETUP_SYSSPACE(uio)


def _advance(base: Any, cnt: int) -> Any:
    if isinstance(base, int):
        return base + cnt
    return _kview(base)[cnt:]


async def uiomove(buf: Any, n: int, uio: uio) -> int:
    """Move up to ``n`` bytes between kernel buffer ``buf`` and the uio.

    UIO_READ copies from ``buf`` out to the uio's space, UIO_WRITE from the
    uio into ``buf``.  Advances the uio (iovecs, resid, offset) by what was
    moved; a fault stops the move and returns its errno.

    A move within the kernel's space (UIO_SYSSPACE) neither sleeps nor fails
    (no preemption point, no fault site): fs/rootfs's chunk fast paths rely
    on that; adding either here must revisit them.
    """
    vm = uio.uio_vmspace
    ASSERT_SLEEPABLE()
    # (The KASSERTs are called only to report a failure: they run for every page moved.)
    if uio.uio_rw != UIO_READ and uio.uio_rw != UIO_WRITE:
        KASSERT(uio.uio_rw == UIO_READ or uio.uio_rw == UIO_WRITE)
    if isinstance(uio.uio_iov, iovec):
        uio.uio_iov = [uio.uio_iov]
    kv = _kview(buf) if n > 0 else None
    klen = len(kv) if kv is not None else 0
    user = not VMSPACE_IS_KERNEL_P(vm)
    cp = 0
    error = 0
    while n > 0 and uio.uio_resid:
        if uio.uio_iovcnt <= 0 or not uio.uio_iov:
            KASSERT(uio.uio_iovcnt > 0 and len(uio.uio_iov) > 0)
        iov = uio.uio_iov[0]
        cnt = iov.iov_len
        if cnt == 0:
            uio.uio_iov = uio.uio_iov[1:]
            uio.uio_iovcnt -= 1
            continue
        if cnt > n:
            cnt = n
        assert kv is not None
        # (the whole kernel buffer, the common case of a page or a block
        # moved at once, is passed without a slice)
        part = kv if cp == 0 and cnt == klen else kv[cp:cp + cnt]
        base = iov.iov_base
        if user:
            # (kern_synch.preempt's fast-path test in line, as syscall's
            # entry has it: preempt is awaited only when it may switch)
            l = curlwp_or_none()
            if l is None or (not l.l_spinlocks and (l.l_cpu.runq or l.l_cpu.slow)):
                await preempt()
            # (copyout_vmspace/copyin_vmspace of a user vmspace in line:
            # their fault site, then the copy)
            error = fault_inject("copyout" if uio.uio_rw == UIO_READ else "copyin")
            if not error:
                error = _copy_vm(vm, part, base, cnt, uio.uio_rw == UIO_READ)
        elif uio.uio_rw == UIO_READ:
            error = copyout_vmspace(vm, part, base, cnt)
        else:
            error = copyin_vmspace(vm, base, part, cnt)
        if error:
            break
        iov.iov_base = base + cnt if base.__class__ is int else _advance(base, cnt)
        iov.iov_len -= cnt
        uio.uio_resid -= cnt
        uio.uio_offset += cnt
        cp += cnt
        n -= cnt
    return error


async def uiomove_frombuf(buf: Any, buflen: int, uio: uio) -> int:
    """uiomove from ``buf`` treated as a file of ``buflen`` bytes, at uio_offset."""
    if uio.uio_offset < 0:
        return EINVAL
    offset = uio.uio_offset
    if offset >= buflen:
        return 0
    return await uiomove(_kview(buf)[offset:], buflen - offset, uio)


async def ureadc(c: int, uio: uio) -> int:
    """Give one byte to a UIO_READ uio."""
    if uio.uio_resid <= 0:
        panic("ureadc: non-positive resid")
    return await uiomove(bytearray((c & 0xff,)), 1, uio)


# --------------------------------------------------------------- userland side

def _user_vm(p: proc) -> vmspace:
    if p.p_sflag & PS_WEXIT:
        l = curlwp_or_none()
        if l is not None and l.l_proc is p:
            # A program whose process has exited is only unwinding: it leaves.
            from kern.kern_exit import lwp_exit

            lwp_exit(l)
    vm = p.p_vmspace
    if vm is None or vm.vm_kernel:
        raise SyscallError(EFAULT, "no user address space")
    return vm


def uvm_text_map(p: proc, fn: Any) -> int:
    """The address of function ``fn`` in ``p``'s text (C's ``&fn``): the same
    function always has the same address in one image (forks share it)."""
    vm = _user_vm(p)
    for addr, code in vm.vm_text.items():
        if code is fn:
            return addr
    addr = vm.vm_text_next
    vm.vm_text[addr] = fn
    vm.vm_text_next += VM_TEXT_ALIGN
    return addr


def uvm_text_lookup(vm: vmspace | None, addr: int) -> Any:
    """The function whose code is at ``addr`` in ``vm``, or None (no code there)."""
    if vm is None or vm.vm_kernel:
        return None
    return vm.vm_text.get(addr)


def uvm_map_user(p: proc, size: int) -> int:
    """Map ``size`` bytes of zeroed anonymous memory in ``p``; returns the address."""
    vm = _user_vm(p)
    if size <= 0:
        raise SyscallError(EINVAL, "mapping size")
    addr = vm.map(size)
    if addr == 0:
        raise SyscallError(ENOMEM, "user address space full")
    return addr


def uvm_unmap_user(p: proc, addr: int) -> None:
    """Remove the mapping that starts at ``addr``."""
    vm = _user_vm(p)
    if not vm.unmap(_uaddr(addr)):
        raise SyscallError(EINVAL, f"no mapping starts at {addr:#x}")


def uvm_user_bytes(p: proc, addr: int) -> bytearray:
    """The bytes of the mapping that starts at ``addr`` in ``p`` (userland's own
    memory, which a program reads and writes through a pointer)."""
    vm = _user_vm(p)
    ent = vm.entry_at(addr)
    if ent is None or ent.start != addr:
        raise SyscallError(EFAULT, f"no mapping starts at {addr:#x}")
    return ent.data


def uwrite(p: proc, addr: int, data: Any) -> None:
    """Store bytes at a user address of ``p`` (userland's own memory access)."""
    vm = _user_vm(p)
    mv = data if data.__class__ is bytes or data.__class__ is bytearray else _kview(data)
    n = len(mv)
    if n == 0:
        return
    r = vm.lookup(addr if addr.__class__ is int else _uaddr(addr), n)
    if r is None:
        raise SyscallError(EFAULT, f"write of {n} bytes at {_uaddr(addr):#x}")
    ent, off = r
    ent.data[off:off + n] = mv


def uread(p: proc, addr: int, n: int) -> bytes:
    """Load ``n`` bytes from a user address of ``p``."""
    vm = _user_vm(p)
    if n == 0:
        return b""
    r = vm.lookup(addr if addr.__class__ is int else _uaddr(addr), n)
    if r is None:
        raise SyscallError(EFAULT, f"read of {n} bytes at {_uaddr(addr):#x}")
    ent, off = r
    src = ent.data
    return bytes(src[off:off + n] if n < _VIEW_MIN else memoryview(src)[off:off + n])


def ureadstr(p: proc, addr: int, maxlen: int = 1 << 20) -> bytes:
    """Load a NUL-terminated string (without its NUL) from user memory of ``p``."""
    vm = _user_vm(p)
    a = _uaddr(addr)
    ent = vm.entry_at(a)
    if ent is None:
        raise SyscallError(EFAULT, f"string at {a:#x}")
    off = a - ent.start
    i = ent.data.find(0, off, min(ent.end - ent.start, off + maxlen))
    if i < 0:
        raise SyscallError(EFAULT, f"unterminated string at {a:#x}")
    return bytes(ent.data[off:i])
