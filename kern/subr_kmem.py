"""Kernel memory (subr_kmem.c, kern_malloc.c): kmem_alloc/zalloc/free, malloc/free.

Every allocation is accounted per machine, so tests can say "nothing
leaked".  ``kmem_free`` with the wrong size, a double free, or freeing
memory never allocated panics, as NetBSD's DEBUG kmem does.  Memory from
``kmem_alloc`` is filled with a poison byte (NetBSD's KMEM_POISON idea), so
code that forgets to initialise shows it; ``kmem_zalloc`` is zeroed.

KM_NOSLEEP (and M_NOWAIT) allocations can fail by fault injection (site
``kmem_alloc``); KM_SLEEP ones never fail, and panic if called where the
caller may not sleep.

Not a port: kemu's own allocator with the kmem(9) and malloc(9) API of
NetBSD 8 (sys/kmem.h, sys/malloc.h; the KM_* and M_* values are NetBSD's).
NetBSD's sys/kern/subr_kmem.c builds on vmem and pool caches, none of
which exist here.  Where it differs:

* An allocation is a Python object: a bytearray, or the object a
  ``TypedSize`` (``sizeof(struct)``) makes; there are no pools, caches,
  vmem arenas, kmem_intr_* or red zones.
* Every allocation is recorded, so a wrong size, a double free, freeing
  what was not allocated or freeing kmem memory with free(9) (and the
  reverse) panics always (NetBSD checks sizes only with KMEM_SIZE);
  ``kmem_stats``/``kmem_outstanding`` are kemu's leak reports.
* kmem_alloc and malloc without M_ZERO fill with 0xA5 (a POISON byte);
  a zero-byte allocation is allowed; a None pointer to free panics.
* The malloc type is not used for accounting (all types count together),
  and ``MALLOC_DEFINE`` just makes the type object.
"""

from __future__ import annotations

import sys
from typing import Any

from kern.cpu import MachineLocal
from kern.kern_types import TypedSize
from kern.subr_lockdebug import ASSERT_SLEEPABLE, frame_site, site_str
from kern.subr_prf import panic

KM_SLEEP = 0x00000001
KM_NOSLEEP = 0x00000002

# malloc(9) flags
M_WAITOK = 0x0000
M_NOWAIT = 0x0001
M_ZERO = 0x0002
M_CANFAIL = 0x0004

POISON = 0xA5


class malloc_type:
    """A malloc(9) type.  Its allocations are counted with all the others (kmem_stats)."""

    __slots__ = ("ks_shortdesc",)

    def __init__(self, shortdesc: str) -> None:
        self.ks_shortdesc = shortdesc

    def __repr__(self) -> str:
        return f"<malloc_type {self.ks_shortdesc}>"


def MALLOC_DEFINE(name: str, shortdesc: str) -> malloc_type:
    return malloc_type(shortdesc)


M_DEVBUF = MALLOC_DEFINE("M_DEVBUF", "devbuf")
M_TEMP = MALLOC_DEFINE("M_TEMP", "temp")
M_MOUNT = MALLOC_DEFINE("M_MOUNT", "mount")
M_VNODE = MALLOC_DEFINE("M_VNODE", "vnodes")
M_NFSREQ = MALLOC_DEFINE("M_NFSREQ", "NFS req")
M_PUFFS = MALLOC_DEFINE("M_PUFFS", "puffs")


class _Kmem:
    def __init__(self) -> None:
        # id(obj) -> (obj, size, kind, site)
        self.live: dict[int, tuple[Any, int, str, Any]] = {}
        self.inuse = 0
        self.allocs = 0
        self.frees = 0


_kmem = MachineLocal(_Kmem, "kmem accounting")


def _make(size: int, fill: int) -> Any:
    if isinstance(size, TypedSize):
        return size.make()
    if size < 0:
        panic("kmem_alloc: negative size %d", size)
    return bytearray(bytes((fill,)) * size) if fill else bytearray(size)


def _record(obj: Any, size: int, kind: str, site: Any) -> Any:
    k = _kmem()
    k.live[id(obj)] = (obj, int(size), kind, site)
    k.inuse += int(size)
    k.allocs += 1
    return obj


def _alloc(size: int, nosleep: int, fill: int, kind: str, site: Any) -> Any:
    if nosleep:
        from kern.subr_fault import fault_inject

        if fault_inject("kmem_alloc"):
            return None
    else:
        ASSERT_SLEEPABLE()
    return _record(_make(size, fill), size, kind, site)


def kmem_alloc(size: int, flags: int) -> Any:
    return _alloc(size, flags & KM_NOSLEEP, POISON, "kmem", frame_site(sys._getframe(1)))


def kmem_zalloc(size: int, flags: int) -> Any:
    return _alloc(size, flags & KM_NOSLEEP, 0, "kmem", frame_site(sys._getframe(1)))


def _release(obj: Any, size: int | None, kind: str, what: str) -> None:
    if obj is None:
        panic("%s: NULL pointer", what)
    k = _kmem()
    rec = k.live.pop(id(obj), None)
    if rec is None or rec[0] is not obj:
        if rec is not None:
            k.live[id(obj)] = rec
        panic("%s: %r was not allocated (double free?)", what, type(obj).__name__)
        return
    if size is not None and int(size) != rec[1]:
        k.live[id(obj)] = rec
        panic("%s: size %d does not match allocation of %d at %s", what, int(size), rec[1],
              site_str(rec[3]))
    if rec[2] != kind:
        k.live[id(obj)] = rec
        panic("%s: memory came from %s", what, rec[2])
    k.inuse -= rec[1]
    k.frees += 1


def kmem_free(obj: Any, size: int) -> None:
    _release(obj, size, "kmem", "kmem_free")


def malloc(size: int, ktype: malloc_type, flags: int) -> Any:
    return _alloc(size, flags & M_NOWAIT, 0 if flags & M_ZERO else POISON, "malloc",
                  frame_site(sys._getframe(1)))


def free(obj: Any, ktype: malloc_type) -> None:
    _release(obj, None, "malloc", "free")


def kmem_stats() -> dict[str, int]:
    """Bytes and objects outstanding on the current machine."""
    k = _kmem()
    return {"inuse": k.inuse, "objects": len(k.live), "allocs": k.allocs, "frees": k.frees}


def kmem_outstanding() -> list[str]:
    """Where each live allocation came from, for leak reports."""
    return [f"{rec[2]} {rec[1]} bytes ({type(rec[0]).__name__}) at {site_str(rec[3])}"
            for rec in _kmem().live.values()]
