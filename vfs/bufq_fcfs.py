"""The "fcfs" buffer queue strategy: first come, first served.

Ports NetBSD's sys/kern/bufq_fcfs.c as of early 2018, when the bufq
strategies had become modules.  This file is the loadable module
``bufq_fcfs`` (class MODULE_CLASS_BUFQ): its INIT registers the strategy
with bufq(9), its FINI withdraws it, failing with EBUSY while a queue uses
it.  fss(4) requires it.

Load it through the module framework (``module_path`` maps "bufq_fcfs" to
"vfs.bufq_fcfs"), which runs this file afresh for each machine, so
``bufq_strat_fcfs`` and its reference count belong to that machine.

Compared against ``$NetBSD: bufq_fcfs.c,v 1.10 2009/01/19 yamt$`` (the
stored revision; put, get, cancel, fini and init read the same in the
2018 module version), plus that version's MODULE(MODULE_CLASS_BUFQ, ...)
and modcmd.  Notices in LICENSE.NetBSD.

Deviations:

* The queue is a Python list used as a FIFO, not a TAILQ threaded through
  the bufs' ``b_actq``; ``bufq_fcfs_init`` fills ``bq_private`` before the
  function pointers (1.10: after; nothing runs in between).
* The modcmd answers ENOTTY to any command but INIT and FINI, as the
  NetBSD modules do.
"""

from __future__ import annotations

from typing import Any

from kern.errno import ENOTTY
from kern.kern_module import MODULE, MODULE_CLASS_BUFQ, MODULE_CMD_FINI, MODULE_CMD_INIT
from kern.kern_types import sizeof
from kern.subr_kmem import KM_SLEEP, kmem_free, kmem_zalloc
from kern.subr_prf import KASSERT
from vfs.buf import buf
from vfs.subr_bufq import (
    BUFQ_DEFINE,
    bufq_private,
    bufq_register,
    bufq_state,
    bufq_unregister,
)


class bufq_fcfs:
    """The queue: a plain FIFO (NetBSD's TAILQ of bufs)."""

    __slots__ = ("bq_head",)

    _c_sizeof = 16

    def __init__(self) -> None:
        self.bq_head: list[buf] = []


def bufq_fcfs_get(bufq: bufq_state, remove: int) -> buf | None:
    fcfs = bufq_private(bufq)
    if not fcfs.bq_head:
        return None
    return fcfs.bq_head.pop(0) if remove else fcfs.bq_head[0]


def bufq_fcfs_put(bufq: bufq_state, bp: buf) -> None:
    fcfs = bufq_private(bufq)
    fcfs.bq_head.append(bp)


def bufq_fcfs_cancel(bufq: bufq_state, buf: buf) -> buf | None:
    fcfs = bufq_private(bufq)
    for i, bp in enumerate(fcfs.bq_head):
        if bp is buf:
            del fcfs.bq_head[i]
            return buf
    return None


def bufq_fcfs_fini(bufq: bufq_state) -> None:
    KASSERT(bufq.bq_private is not None)
    kmem_free(bufq.bq_private, sizeof(bufq_fcfs))


def bufq_fcfs_init(bufq: bufq_state) -> None:
    fcfs = kmem_zalloc(sizeof(bufq_fcfs), KM_SLEEP)
    bufq.bq_private = fcfs
    bufq.bq_get = bufq_fcfs_get
    bufq.bq_put = bufq_fcfs_put
    bufq.bq_cancel = bufq_fcfs_cancel
    bufq.bq_fini = bufq_fcfs_fini
    fcfs.bq_head = []


bufq_strat_fcfs = BUFQ_DEFINE("fcfs", 10, bufq_fcfs_init)

bufq_fcfs_modinfo = MODULE(MODULE_CLASS_BUFQ, "bufq_fcfs", None)


def bufq_fcfs_modcmd(cmd: int, opaque: Any) -> int:
    if cmd == MODULE_CMD_INIT:
        return bufq_register(bufq_strat_fcfs)
    if cmd == MODULE_CMD_FINI:
        return bufq_unregister(bufq_strat_fcfs)
    return ENOTTY
