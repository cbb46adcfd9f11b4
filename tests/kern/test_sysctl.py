"""sysctl(2) (kern/kern_sysctl.py): the tree, its nodes, who may write them,
and the process nodes ps(1) reads; settimeofday(2) and clock_settime(2)."""

from __future__ import annotations

import ctypes

import pytest

import kern
from kern.cpu import curlwp
from kern.errno import EEXIST, EINVAL, ENAMETOOLONG, ENOENT, ENOMEM, ENOTDIR, EOPNOTSUPP, EPERM
from kern.exec_subr import copyargs
from kern.kern_auth import kauth_cred_make
from kern.kern_proc import KERN_PROC_ALL, KERN_PROC_NARGV, KERN_PROC_PID, kinfo_proc2
from kern.kern_sysctl import (
    CTL_CREATE,
    CTL_DESCRIBE,
    CTL_DESTROY,
    CTL_KERN,
    CTLTYPE_INT,
    CTLTYPE_NODE,
    CTLTYPE_STRING,
    KERN_PROC2,
    KERN_PROC_ARGS,
    SYSCTL_TYPE,
    SYSCTL_VERSION,
    struct_sysctlnode,
    sysctlnode,
)
from kern.machine.testing import errno_of
from tools.lib import libc, libkvm


@pytest.fixture
def k():
    with kern.boot(seed=5) as k:
        yield k


def test_struct_sysctlnode_has_netbsd_lp64_layout():
    assert ctypes.sizeof(struct_sysctlnode) == 96
    assert struct_sysctlnode.sysctl_name.offset == 8
    assert struct_sysctlnode.sysctl_ver.offset == 40
    assert struct_sysctlnode.sysctl_un.offset == 48      # the union: 16 bytes (scu_child)
    assert struct_sysctlnode.sysctl_desc.offset == 88


def test_names_types_and_values(k):
    async def body():
        r = {}
        for name in ["kern.ostype", "kern.osrelease", "kern.hostname", "hw.machine",
                     "hw.machine_arch"]:
            r[name] = (await libc.sysctlbyname(name)).split(b"\0")[0].decode()
        for name in ["kern.osrevision", "hw.ncpu", "hw.pagesize", "kern.argmax",
                     "kern.ngroups", "hw.byteorder"]:
            r[name] = int.from_bytes(await libc.sysctlbyname(name, 4), "little", signed=True)
        r["mib"] = await libc.sysctlnametomib("hw.pagesize")
        return r

    r = k.run(body)
    assert r == {"kern.ostype": "NetBSD", "kern.osrelease": "8.0", "kern.hostname": "kemu",
                 "hw.machine": "amd64", "hw.machine_arch": "x86_64",
                 "kern.osrevision": 800000000, "hw.ncpu": 1, "hw.pagesize": 4096,
                 "kern.argmax": 262144, "kern.ngroups": 16, "hw.byteorder": 1234,
                 "mib": [6, 7]}


def test_query_lists_children_with_types(k):
    async def body():
        top = await libc.sysctl_query([])
        kern_ = await libc.sysctl_query([CTL_KERN])
        return ([(n.sysctl_name.decode(), n.sysctl_num, SYSCTL_TYPE(n.sysctl_flags))
                 for n in top],
                {n.sysctl_name.decode(): (n.sysctl_num, SYSCTL_TYPE(n.sysctl_flags))
                 for n in kern_})

    top, kern_ = k.run(body)
    assert top[:2] == [("kern", 1, CTLTYPE_NODE), ("vm", 2, CTLTYPE_NODE)]
    assert ("hw", 6, CTLTYPE_NODE) in top
    assert kern_["ostype"] == (1, CTLTYPE_STRING)
    assert kern_["hostname"] == (10, CTLTYPE_STRING)
    assert kern_["osrevision"] == (3, CTLTYPE_INT)
    assert kern_["proc2"] == (47, CTLTYPE_NODE)
    assert kern_["boottime"][0] == 83


def test_errors_of_lookups(k):
    async def body():
        return [
            await errno_of(libc.sysctl([CTL_KERN, 9999])),            # no such node
            await errno_of(libc.sysctl([CTL_KERN, 1, 1])),            # under a leaf
            await errno_of(libc.sysctl([CTL_KERN, 1], 3)),            # too small a buffer
            await libc.sysctl_oldlen([CTL_KERN, 1]),                  # the size it needs
            await errno_of(libc.sysctl([CTL_KERN, -99])),             # an unknown op
            await errno_of(libc.sysctlnametomib("kern.nosuch")),
        ]

    assert k.run(body) == [ENOENT, ENOTDIR, ENOMEM, 7, EOPNOTSUPP, ENOENT]


def test_describe(k):
    async def body():
        raw = await libc.sysctl([CTL_KERN, CTL_DESCRIBE], 8192,
                                new=bytes(_qnode(num=10)))    # kern.hostname only
        return raw

    raw = k.run(body)
    # struct sysctldesc: descr_num, descr_ver, descr_len, then the string
    num, _ver, ln = int.from_bytes(raw[0:4], "little"), raw[4:8], \
        int.from_bytes(raw[8:12], "little")
    assert num == 10
    assert raw[12:12 + ln] == b"System hostname\0"


def _qnode(num: int) -> struct_sysctlnode:
    n = struct_sysctlnode()
    n.sysctl_flags = SYSCTL_VERSION
    n.sysctl_num = num
    return n


def test_writes_need_root_and_a_writable_node(k):
    user = k.proc_create("user", k.initproc, cred=kauth_cred_make(100, 100))

    async def as_user():
        return [await errno_of(libc.sysctlbyname("kern.hostname", 0, b"evil\0")),
                await errno_of(libc.sysctl([CTL_KERN, CTL_CREATE], 96,
                                           new=bytes(_qnode(num=500)))),
                await errno_of(libc.sysctl([CTL_KERN, CTL_DESTROY], 96,
                                           new=bytes(_qnode(num=10))))]

    async def as_root():
        r = [await errno_of(libc.sysctlbyname("kern.ostype", 0, b"Linux\0")),
             await errno_of(libc.sysctlbyname("kern.hostname", 0, b"x" * 300 + b"\0"))]
        old = await libc.sysctlbyname("kern.hostname", 256, b"storage1\0")
        r.append(old.split(b"\0")[0])
        r.append((await libc.uname()).nodename)
        return r

    assert k.run(as_user, proc=user) == [EPERM, EPERM, EPERM]
    assert k.run(as_root) == [EPERM, EINVAL, b"kemu", "storage1"]


def test_uname_is_five_sysctls(k):
    u = k.run(libc.uname)
    assert (u.sysname, u.nodename, u.release, u.machine) == ("NetBSD", "kemu", "8.0", "amd64")
    assert u.version == "NetBSD 8.0 (GENERIC) #0: kemu 0.1.0"       # newline gone


def test_proc2_and_proc_args(k):
    p = k.proc_create("worker", k.initproc)

    async def worker():
        assert copyargs(curlwp(), ["worker", "-v", "disk 0"]) == 0
        me = await libc.getpid()
        ki = await libkvm.kvm_getproc2(KERN_PROC_PID, me)
        everyone = await libkvm.kvm_getproc2(KERN_PROC_ALL, 0)
        argv = await libkvm.kvm_getargv2(me)
        nargv = await libc.sysctl([CTL_KERN, KERN_PROC_ARGS, me, KERN_PROC_NARGV], 4)
        short = await libc.sysctl([CTL_KERN, KERN_PROC_ARGS, me, 1], 9)
        none = await libkvm.kvm_getproc2(KERN_PROC_PID, 9999)
        return ki, [e.p_pid for e in everyone], argv, nargv, short, none, me

    ki, pids, argv, nargv, short, none, me = k.run(worker, proc=p)
    assert len(ki) == 1 and isinstance(ki[0], kinfo_proc2)
    assert (ki[0].p_pid, ki[0].p_ppid, ki[0].p_comm) == (me, 1, b"worker")
    assert ki[0].p_uid == 0 and ki[0].p_ruid == 0
    assert pids[:2] == [0, 1] and me in pids
    assert argv == ["worker", "-v", "disk 0"]
    assert int.from_bytes(nargv, "little") == 3
    assert short == b"worker\0-v"          # at most the buffer, as copy_procargs cuts
    assert none == []


def test_proc_args_of_a_process_without_arguments(k):
    async def body():
        return [await errno_of(libc.sysctl([CTL_KERN, KERN_PROC_ARGS, 0, 1], 100)),
                await errno_of(libc.sysctl([CTL_KERN, KERN_PROC_ARGS, 4242, 1], 100)),
                await errno_of(libc.sysctl([CTL_KERN, KERN_PROC2, 0, 0, 1], 100))]

    # the system process has no user memory; 4242 does not exist; kern.proc2
    # wants op, arg, elem_size, elem_count
    assert k.run(body) == [EINVAL, EINVAL, EINVAL]


def test_settimeofday_moves_the_clock_and_boottime(k):
    async def body():
        before = await libc.sysctlbyname("kern.boottime", 16)
        now, _ = await libc.clock_gettime(libc.CLOCK_REALTIME)
        await libc.settimeofday(now + 3600, 0)
        later, _ = await libc.clock_gettime(libc.CLOCK_REALTIME)
        after = await libc.sysctlbyname("kern.boottime", 16)
        await libc.clock_settime(libc.CLOCK_REALTIME, 1_000_000_000, 0)
        set2, _ = await libc.clock_gettime(libc.CLOCK_REALTIME)
        mono = await errno_of(libc.clock_settime(libc.CLOCK_MONOTONIC, 5, 0))
        b0 = int.from_bytes(before[:8], "little")
        b1 = int.from_bytes(after[:8], "little")
        return later - now, b1 - b0, set2, mono

    dt, dboot, set2, mono = k.run(body)
    assert 3600 <= dt <= 3601 and dboot == 3600
    assert set2 == 1_000_000_000
    assert mono == EINVAL
    user = k.proc_create("user", k.initproc, cred=kauth_cred_make(100, 100))
    assert k.run(lambda: errno_of(libc.settimeofday(0, 0)), proc=user) == EPERM
    assert k.run(lambda: errno_of(libc.clock_settime(libc.CLOCK_REALTIME, 0, 0)),
                 proc=user) == EPERM


def test_node_copy_copies_every_member():
    """sysctlnode.copy (``node = *rnode``) names its members one by one: a
    member added to __slots__ and not to copy() would come out unset.  Each
    member is the same object in both (a shallow copy: sysctl_child shared)."""
    n = sysctlnode()
    marks = {s: object() for s in sysctlnode.__slots__}
    for s, m in marks.items():
        setattr(n, s, m)
    c = n.copy()
    assert c is not n
    for s, m in marks.items():
        assert getattr(c, s) is m, s


def test_names_a_new_node_may_have(k):
    """sysctl_create takes ASCII letters and digits, '-' and '_', not first a
    digit, 1 to SYSCTL_NAMELEN - 1 characters; anything else is EINVAL (the
    kernel's own nodes, under a tree of this test's that is still open).
    sysctl_createv strlcpy's the name, so "nul\\0" is the C string "nul"."""
    from kern.kern_sysctl import (
        CTLFLAG_IMMEDIATE,
        CTLFLAG_READWRITE,
        SYSCTL_NAMELEN,
        sysctl_createv,
    )

    names = ["ok", "a-b_C9", "x" * (SYSCTL_NAMELEN - 1), "", "9lives", "\u0661ab",
             "a.b", "a b", "tab\t", "na\u00efve", "\u00e9t\u00e9", "nul\0", "-lead", "_lead",
             "e" * (SYSCTL_NAMELEN - 2) + "\u00e9"]

    async def body():
        root = sysctlnode()
        root.sysctl_flags = SYSCTL_VERSION | CTLTYPE_NODE | CTLFLAG_READWRITE
        out = []
        for n in names:
            error, _ = await sysctl_createv(root, CTLFLAG_IMMEDIATE, CTLTYPE_INT, n, None,
                                            None, 1, None, 0, CTL_CREATE)
            out.append(error)
        return out, [c.sysctl_name for c in root.sysctl_child or ()]

    errors, made = k.run(body)
    assert errors == [0, 0, 0, EINVAL, EINVAL, EINVAL, EINVAL, EINVAL, EINVAL, EINVAL,
                      EINVAL, 0, 0, 0, ENAMETOOLONG]
    assert sorted(made) == sorted(["ok", "a-b_C9", "x" * (SYSCTL_NAMELEN - 1), "nul",
                                   "-lead", "_lead"])


def test_siblings_a_new_node_meets(k):
    """sysctl_create puts a node among its siblings in number order; a collision
    answers EEXIST with the first sibling whose number or name is the new node's
    (here "a", number 1, by its name, before "i", number 9, by its number);
    sysctl_createv of an existing name with CTL_CREATE gives that node back."""
    from kern.kern_sysctl import (
        CTL_EOL,
        CTLFLAG_IMMEDIATE,
        CTLFLAG_READWRITE,
        SIZEOF_SYSCTLNODE,
        sysctl_create,
        sysctl_createv,
        sysctl_lock,
        sysctl_unlock,
    )

    async def body():
        root = sysctlnode()
        root.sysctl_flags = SYSCTL_VERSION | CTLTYPE_NODE | CTLFLAG_READWRITE
        for name, num in (("e", 5), ("a", 1), ("i", 9)):
            error, _ = await sysctl_createv(root, CTLFLAG_IMMEDIATE, CTLTYPE_INT, name, None,
                                            None, num, None, 0, num, CTL_EOL)
            assert error == 0
        order = [(c.sysctl_name, c.sysctl_num) for c in root.sysctl_child or ()]
        n = sysctlnode()
        n.sysctl_flags = SYSCTL_VERSION | CTLTYPE_INT | CTLFLAG_IMMEDIATE
        n.sysctl_num = 9
        n.sysctl_name = "a"
        box: list[sysctlnode] = []
        await sysctl_lock(True)
        try:
            error = await sysctl_create([CTL_CREATE], 1, box, [SIZEOF_SYSCTLNODE], n,
                                        SIZEOF_SYSCTLNODE, [CTL_CREATE], None, root)
        finally:
            sysctl_unlock()
        again = await sysctl_createv(root, CTLFLAG_IMMEDIATE, CTLTYPE_INT, "e", None, None,
                                     7, None, 0, CTL_CREATE)
        return order, error, box[0].sysctl_num, again[0], again[1].sysctl_num

    order, error, hit, again_error, again_num = k.run(body)
    assert order == [("a", 1), ("e", 5), ("i", 9)]
    assert (error, hit) == (EEXIST, 1)
    assert (again_error, again_num) == (0, 5)


def test_the_version_is_written_in_one_place(k):
    """kern/_version.py is what the installed package's metadata, the kernel's
    version string and ``kemu --version`` all say."""
    from importlib.metadata import version

    from kern._version import __version__
    from tools.kemu import _version

    assert version("kemu") == __version__
    assert k.run(libc.uname).version.endswith(f": kemu {__version__}")
    assert _version().startswith(f"kemu {__version__} (native helper: ")
