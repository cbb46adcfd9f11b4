"""The machine: the harness that hosts one emulated NetBSD kernel.

Everything here is kemu's own, not a port: booting and halting a machine
(``machine``), the scheduler that decides which lwp runs (``sched``), the
lockset race detector (``lockset``), the pytest plugin (``plugin``) and the
test author's kit (``testing``).  The
NetBSD ports in kern/, vfs/, dev/ and fs/ reach it only through a narrow
face: ``kern.cpu`` (curlwp, curmachine), the sleep queues and preemption
points of ``kern.kern_synch``, fault sites (``kern.subr_fault``) and
``printf``/``panic``, the way rump keeps its hypercall layer (rumpuser)
apart from the kernel it hosts.
"""

from kern.machine.machine import CrashDump, Machine, Trace, boot

__all__ = ["CrashDump", "Machine", "Trace", "boot"]
