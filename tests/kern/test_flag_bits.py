"""kemu's process and lwp flag bits against NetBSD's (sys/proc.h, sys/lwp.h).

A bit kemu ports has NetBSD's value; a bit only kemu has (PK_HOSTCHILD,
LW_DAEMON) sits where no NetBSD flag of that word is, so that a NetBSD test
or tool reading the word never sees kemu's bit as one of its own.

The reference store has no netbsd-8 proc.h or lwp.h.  The tables below are
the revisions around it that it has: proc.h 1.250 (2007) and 1.370.4.2
(netbsd-10, 2023) for p_flag and p_sflag (the union of both, so a bit free
here is free in NetBSD 8, which lies between), lwp.h 1.168 (2013, the newest
before NetBSD 8 in the store) for l_flag.
"""

from __future__ import annotations

import kern.kern_lwp as kl
from kern import kern_descrip

# p_flag: proc.h 1.250 and 1.370.4.2
PK = {
    "PK_ADVLOCK": 0x00000001, "PK_SYSTEM": 0x00000002, "PK_SYSVSEM": 0x00000004,
    "PK_SUGID": 0x00000100, "PK_KMEM": 0x00000200, "PK_EXEC": 0x00004000,
    "PK_NOCLDWAIT": 0x00020000, "PK_32": 0x00040000, "PK_CLDSIGIGN": 0x00080000,
    "PK_SYSTRACE": 0x00200000, "PK_PAXMPROTECT": 0x08000000,
    "PK_PAXNOMPROTECT": 0x10000000, "PK_MARKER": 0x80000000,
}
# p_sflag: proc.h 1.250 and 1.370.4.2
PS = {
    "PS_NOCLDSTOP": 0x00000008, "PS_PPWAIT": 0x00000010, "PS_RUMP_LWPEXIT": 0x00000400,
    "PS_WCORE": 0x00001000, "PS_WEXIT": 0x00002000, "PS_STOPFORK": 0x00800000,
    "PS_STOPEXEC": 0x01000000, "PS_STOPEXIT": 0x02000000, "PS_NOTIFYSTOP": 0x10000000,
    "PS_ORPHANPG": 0x20000000, "PS_COREDUMP": 0x20000000, "PS_CONTINUED": 0x40000000,
    "PS_STOPPING": 0x80000000,
}
# l_flag: lwp.h 1.168
LW = {
    "LW_IDLE": 0x00000001, "LW_LWPCTL": 0x00000002, "LW_SINTR": 0x00000080,
    "LW_SYSTEM": 0x00000200, "LW_WSUSPEND": 0x00020000, "LW_BATCH": 0x00040000,
    "LW_WCORE": 0x00080000, "LW_WEXIT": 0x00100000, "LW_PENDSIG": 0x01000000,
    "LW_CANCELLED": 0x02000000, "LW_WREBOOT": 0x08000000, "LW_UNPARKED": 0x10000000,
    "LW_RUMP_CLEAR": 0x40000000, "LW_RUMP_QEXIT": 0x80000000,
}
KEMU_ONLY = {"PK_HOSTCHILD", "LW_DAEMON"}


def _kemu_bits(prefix: str) -> dict[str, int]:
    bits = {n: v for n, v in vars(kl).items() if n.startswith(prefix) and isinstance(v, int)}
    if prefix == "PK_":
        bits["PK_ADVLOCK"] = kern_descrip.PK_ADVLOCK
    return bits


def test_the_ported_bits_have_netbsds_values():
    for prefix, netbsd in (("PK_", PK), ("PS_", PS), ("LW_", LW)):
        ported = {n: v for n, v in _kemu_bits(prefix).items() if n not in KEMU_ONLY}
        assert ported, prefix
        assert {n: netbsd.get(n) for n in ported} == ported


def test_kemus_own_bits_are_no_netbsd_flag():
    for prefix, netbsd in (("PK_", PK), ("LW_", LW)):
        own = {n: v for n, v in _kemu_bits(prefix).items() if n in KEMU_ONLY}
        assert len(own) == 1, own
        taken = 0
        for v in netbsd.values():
            taken |= v
        for n, v in own.items():
            assert v and not v & (v - 1), n           # one bit
            assert not v & taken, (n, hex(v), [k for k, b in netbsd.items() if b & v])
