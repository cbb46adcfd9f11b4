"""Fault plans as data, and the registry of fault sites."""

from __future__ import annotations

import ast
import os

import pytest

import kern
from kern import EAGAIN, EIO, ENOSPC, PRI_BIO, kthread_create
from kern.fcntl import O_RDWR
from kern.machine import testing as kt
from kern.subr_fault import (
    FAULT_SITES,
    FaultPlan,
    FaultPlanError,
    FaultSpec,
    UnknownFaultSite,
    fault_inject,
    load_fault_sites,
    resolve_dev_name,
)
from tools.lib import libc

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize("text", [
    "disk.write:dev=wd0:prob=0.3:error=EIO",
    "disk.write:dev=wd0:prob=0.3:error=EIO,VOP_WRITE:lwp=fss0:fail_nth=2:error=ENOSPC",
    "kthread_create:nth=3:times=2:error=EAGAIN:seed=7",
    "disk.slow:dev=rwd0:space=4:error=EIO:ticks=5",
    "disk.short:error=EIO:done=1024",
    "copyin:error=14",
])
def test_text_form_parses_back(text):
    plan = FaultPlan.parse(text)
    assert FaultPlan.parse(str(plan)) == plan
    assert str(FaultPlan.parse(str(plan))) == str(plan)


def test_the_text_form_is_canonical_and_carries_every_knob():
    plan = FaultPlan.parse("VOP_WRITE : error=ENOSPC : fail_nth=2 : lwp=fss0")
    assert str(plan) == "VOP_WRITE:lwp=fss0:fail_nth=2:error=ENOSPC"
    (f,) = plan
    assert (f.site, f.lwp, f.fail_nth, f.error) == ("VOP_WRITE", "fss0", 2, ENOSPC)
    assert f.knobs() == {"lwp": "fss0", "fail_nth": 2, "error": ENOSPC}
    slow = FaultSpec.parse("disk.slow:ticks=5")
    assert slow.knobs() == {"extra": {"ticks": 5}}
    assert FaultPlan.parse("") == FaultPlan() and not FaultPlan.parse(" ")
    both = FaultPlan.parse("copyin") + "copyout:nth=2"
    assert str(both) == "copyin:error=EIO,copyout:nth=2:error=EIO"


def test_a_misspelt_site_is_an_error_naming_the_known_ones():
    with kern.boot(seed=1) as k:
        with pytest.raises(UnknownFaultSite) as ei:
            k.faults.inject("VOP_WIRTE", error=EIO)
        assert not k.faults.armed
    msg = str(ei.value)
    assert "unknown fault site 'VOP_WIRTE' (did you mean VOP_WRITE" in msg
    for site in ("kmem_alloc", "disk.write", "VOP_READ", "VFS_SYNC", "fscow_establish"):
        assert site in msg
    with pytest.raises(UnknownFaultSite, match="did you mean disk.write"):
        FaultPlan.parse("disk.wirte:error=EIO")


@pytest.mark.parametrize("text,complaint", [
    ("disk.write:probability=2", "prob must be between 0 and 1"),
    ("disk.write:nth=0", "nth must be >= 1"),
    ("disk.write:error=EWHAT", "unknown errno 'EWHAT'"),
    ("disk.write:nth=two", "nth=two: not an integer"),
    ("disk.write:color=red", "unknown knob 'color'"),
    ("disk.write:ticks=3", "unknown knob 'ticks'"),
    ("disk.write:nth", "'nth' is not knob=value"),
    ("disk.write:nth=1:nth=2", "nth given twice"),
    ("kthread_create:dev=wd0", "no device to scope by"),
    (":nth=2", "a fault starts with its site"),
])
def test_bad_plans_say_what_is_wrong(text, complaint):
    with pytest.raises(FaultPlanError, match=complaint):
        FaultPlan.parse(text)


def test_python_knobs_are_checked_too():
    with kern.boot(seed=1) as k:
        with pytest.raises(FaultPlanError, match="unknown knob 'tick'.*its own: ticks"):
            k.faults.add("disk.slow", tick=3)
        a = k.faults.add("disk.slow", ticks=3)  # a site's own knob goes to extra
        assert a.extra == {"ticks": 3}


@pytest.mark.parametrize("knobs,text", [
    ({"probability": 2.0}, "disk.write:prob=2"),
    ({"times": -2}, "disk.write:times=-2"),
    ({"nth": 0}, "disk.write:nth=0"),
    ({"error": -5}, "disk.write:error=-5"),
])
def test_python_and_text_meet_one_validator(knobs, text):
    """k.faults.add and FaultPlan.parse check a fault the same way, with the same
    message (FaultTable.add builds a FaultSpec; they used to disagree: "probability"
    against "prob", and times=-2 was accepted from Python)."""
    with pytest.raises(FaultPlanError) as from_text:
        FaultPlan.parse(text)
    with kern.boot(seed=1) as k:
        with pytest.raises(FaultPlanError) as from_python:
            k.faults.add("disk.write", **knobs)
        assert not k.faults.armed
    if "error" not in knobs:   # the parser turns error=-5 away first, as not an errno
        assert str(from_python.value) == str(from_text.value)


def test_a_plan_applies_and_reads_back():
    async def body():
        out = []
        for _ in range(4):
            error, l = kthread_create(PRI_BIO, 0, None, _noop, None, "x")
            out.append(error)
        return out

    with kern.boot(seed=1) as k:
        attrs = k.faults.apply("kthread_create:nth=2:error=EAGAIN")
        assert k.run(body) == [0, EAGAIN, 0, EAGAIN]
        assert attrs[0].nfaults == 2
        assert str(k.faults.plan()) == "kthread_create:nth=2:error=EAGAIN"


def test_a_plan_reads_back_in_the_order_it_was_armed():
    """Faults of one site interleaved with another's come back as armed, not
    grouped by site (hypothesis found kmem_alloc, copyout, kmem_alloc read back
    as kmem_alloc, kmem_alloc, copyout)."""
    text = "kmem_alloc:nth=2,copyout:fail_nth=1,kmem_alloc:times=1:error=ENOMEM"
    with kern.boot(seed=1) as k:
        k.faults.apply(text)
        assert str(k.faults.plan()) == str(FaultPlan.parse(text))


async def _noop(_):
    return 0


def test_machines_take_a_plan_at_boot():
    async def body():
        return [fault_inject("copyout") for _ in range(3)]

    with kern.boot(seed=1, faults="copyout:fail_nth=2:error=ENOSPC") as k:
        assert k.run(body) == [0, ENOSPC, 0]


def test_an_undeclared_site_reached_by_the_kernel_panics():
    async def body():
        return fault_inject("no.such.site")

    with kern.boot(seed=1) as k, pytest.raises(kern.KernelPanic,
                                               match="'no.such.site' is used but not declared"):
        k.run(body)


def _literal_sites(path: str) -> list[tuple[str, int]]:
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if "fault_inject" not in text and "fault_check" not in text:
        return []       # no call of either by name: nothing to parse for
    tree = ast.parse(text, path)
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        fn = node.func
        name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) \
            else None
        if name not in ("fault_inject", "fault_check"):
            continue
        arg = node.args[0]
        # fault_inject("site") and fault_inject("a" if x else "b")
        for a in (arg.body, arg.orelse) if isinstance(arg, ast.IfExp) else (arg,):
            if isinstance(a, ast.Constant) and isinstance(a.value, str):
                out.append((a.value, node.lineno))
    return out


def test_every_site_the_code_uses_is_declared():
    known = load_fault_sites()
    used = []
    for top in ("kern", "vfs", "dev", "fs", "tools"):
        for root, _, files in os.walk(os.path.join(REPO, top)):
            for f in files:
                if f.endswith(".py"):
                    path = os.path.join(root, f)
                    used += [(s, f"{os.path.relpath(path, REPO)}:{n}")
                             for s, n in _literal_sites(path)]
    assert len(used) > 20
    missing = [f"{site} ({where})" for site, where in used if site not in known]
    assert not missing, f"fault sites used but not declared: {missing}"
    # the VOPs come from vnode_if's table, the disk sites from vfs/subr_disk.py
    from vfs.vnode_if import vfs_op_descs

    vops = {d.vop_site for d in vfs_op_descs if d.vop_site}
    assert vops <= set(FAULT_SITES) and "VOP_WRITE" in vops and "VOP_LOCK" not in vops
    assert FAULT_SITES["disk.slow"].knobs == ("ticks",)


# ------------------------------------------------------------------ dev=NAME in a live machine

def test_a_disk_fault_named_by_device_fires_on_that_disk_only():
    """``disk.write:dev=wd0`` fails writes to wd0 (either node) and lets wd1's
    through.  (Every dev=NAME fault used to panic the kernel at its first call:
    a TypeError from the scope check.)"""
    async def body():
        await kt.attach_memory_disk(kt.MiB, "/dev/wd0", unit=0)
        await kt.attach_memory_disk(kt.MiB, "/dev/wd1", unit=1)
        out = []
        for dev in ("/dev/rwd1", "/dev/rwd0", "/dev/rwd1"):
            fd = await libc.open(dev, O_RDWR)
            out.append(await kt.errno_of(libc.pwrite(fd, b"x" * 512, 0)))
            await libc.close(fd)
        return out

    with kern.boot(seed=1, faults="disk.write:dev=wd0:error=ENOSPC") as k:
        assert k.run(body, name="writer") == [0, ENOSPC, 0]
        (attr,) = k.faults.armed["disk.write"]
        assert (attr.calls, attr.nfaults) == (1, 1)
        assert [str(e) for e in k.faults.fired()] == ["disk.write: ENOSPC in writer (call 2)"]


def test_a_vop_fault_named_by_device_fires_on_its_file_system_only(tmp_path):
    """``VOP_WRITE:dev=wd0`` fails writes to files of the ext2 mounted from
    /dev/wd0, not to files on the root file system; the file systems stay sound."""
    image = kt.make_ext2_image(tmp_path / "wd0.img", 4 * kt.MiB)

    async def body():
        await kt.mount_image(image, "/mnt")
        out = [await kt.errno_of(kt.write_file("/tmp/f", b"root")),
               await kt.errno_of(kt.write_file("/mnt/f", b"ext2"))]
        k.faults.clear()
        out.append(await kt.read_file("/mnt/f"))
        out.append(await kt.unmount("/mnt"))
        return out

    with kern.boot(seed=2) as k:
        k.faults.apply("VOP_WRITE:dev=wd0:error=EIO")
        assert k.run(body) == [0, EIO, b"", 0]
    if kt.E2FSPROGS["e2fsck"]:
        kt.assert_e2fsck_clean(image)


def test_a_vop_fault_armed_mid_run_fires_at_its_nth_call_and_the_process_count_follows():
    """The VOPs skip their fault check while ARMED_ANYWHERE says nothing is armed in
    any machine: a VOP fault armed inside a running machine must still fire at its
    nth call (counted from the arming), and the count must come back down when the
    faults are removed, cleared or leave their ``with``."""
    from kern.subr_fault import ARMED_ANYWHERE

    base = ARMED_ANYWHERE[0]

    async def body():
        out = [await kt.errno_of(kt.write_file("/tmp/f", b"before"))]
        with k.faults.inject("VOP_WRITE", error=EIO, fail_nth=2) as f:
            assert ARMED_ANYWHERE[0] == base + 1
            for _ in range(3):
                out.append(await kt.errno_of(kt.write_file("/tmp/f", b"during")))
            out.append((f.calls, f.nfaults))
        out.append(ARMED_ANYWHERE[0] - base)
        out.append(await kt.errno_of(kt.write_file("/tmp/f", b"after")))
        return out

    with kern.boot(seed=3) as k:
        assert k.run(body) == [0, 0, EIO, 0, (2, 1), 0, 0]
        (event,) = k.faults.fired("VOP_WRITE")
        assert event.call == 2
        attrs = k.faults.apply("VOP_WRITE:error=EIO,VOP_READ:error=EIO,VOP_READ:nth=2")
        assert ARMED_ANYWHERE[0] == base + 3
        k.faults.remove(attrs[1])
        k.faults.remove(attrs[1])  # (not armed any more: no change)
        assert ARMED_ANYWHERE[0] == base + 2
        k.faults.clear()
        assert ARMED_ANYWHERE[0] == base


def test_the_process_count_follows_one_table_armed_and_cleared_from_two_threads():
    """FaultTable.arm/remove/clear change their table and ARMED_ANYWHERE under one
    lock: one table armed, removed and cleared from two threads at once ends with
    the count what the table holds (clear summing the lists while another thread
    armed or removed one left it off by one, or raised "dictionary changed size")."""
    import sys
    import threading
    import time

    from kern.subr_fault import ARMED_ANYWHERE, FaultSpec, FaultTable

    base = ARMED_ANYWHERE[0]
    table = FaultTable()
    spec = FaultSpec.of("VOP_READ", error=EIO)
    stop = threading.Event()
    errors: list[BaseException] = []

    def loop(step) -> None:
        try:
            while not stop.is_set():
                step()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    def arm_remove() -> None:
        table.remove(table.arm(spec))

    def arm_clear() -> None:
        table.arm(spec)
        table.clear()

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=loop, args=(f,)) for f in (arm_remove, arm_clear)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert errors == []
    held = sum(len(lst) for lst in table.armed.values())
    assert ARMED_ANYWHERE[0] - base == held
    table.clear()
    assert ARMED_ANYWHERE[0] == base


def test_dev_names_resolve_in_each_machine_of_a_process_and_of_its_threads():
    """One resolver serves every machine (the first copy of fs/rootfs/rootfs.py's,
    the later copies do not add theirs): ``dev=NAME`` is looked up in the tree
    of the machine making the call, for the 2nd and 3rd machine of the process
    and for two machines running at once in two threads."""
    import threading

    async def body(unit):
        await kt.attach_memory_disk(kt.MiB, f"/dev/wd{unit}", unit=unit)
        fd = await libc.open(f"/dev/rwd{unit}", O_RDWR)
        out = [await kt.errno_of(libc.pwrite(fd, b"x" * 512, 0)) for _ in range(3)]
        await libc.close(fd)
        st = await libc.stat(f"/dev/wd{unit}")
        out += [resolve_dev_name(f"wd{unit}") == st.st_rdev, resolve_dev_name(f"wd{1 - unit}")]
        return out

    def one(seed, unit, results):
        with kern.boot(seed=seed, faults=f"disk.write:dev=wd{unit}:fail_nth=2:error=EIO") as k:
            results[seed] = k.run(body, unit, name="writer")

    want = {0: [0, EIO, 0, True, None], 1: [0, EIO, 0, True, None]}
    results: dict[int, list] = {}
    for seed, unit in ((11, 0), (12, 1), (13, 0)):
        one(seed, unit, results)
    assert results == {11: want[0], 12: want[1], 13: want[0]}
    results.clear()
    threads = [threading.Thread(target=one, args=(20 + u, u, results)) for u in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {20: want[0], 21: want[1]}
