"""A Ctrl-C (SIGINT) while ``Machine.run_once`` runs (run_scenario, explore,
an in-process campaign of ``kemu explore``): the run ends promptly, the
machine halts as a Ctrl-C halt does (cpu_reboot syncs and unmounts: the image
is e2fsck-clean with every completed write), and run_once raises
KeyboardInterrupt.

run_once's trio run is the caller's, in the main thread: trio's SIGINT handler
defers the interrupt while the machine's KI-protected CPU task runs (lwp code,
the clock's callouts) and raises it in trio's main task, run_once's own, at
whatever it awaits then.  That used to skip the halt and ``_stop``: the
kernel's nursery is shielded, so the outer nursery waited for it for ever, in
trio's epoll wait, and a second Ctrl-C could not get in either.

Each case runs in a child (a hang is a timeout there, not a wedged pytest), at
a point of its own: in lwp code, before a kernel sleep, from a callout (the
CPU task between two lwp steps), from a host thread while the lwp waits
outside the machine (trio's own wait), and during the boot.
"""

from __future__ import annotations

import os
import textwrap

import pytest

from kern.machine import testing as kt
from tests.kern.test_halt import ROOT, assert_written, mount_and_write  # noqa: F401 (the child: t.mount_and_write)
from tools.lib import forkserver

pytestmark = [
    pytest.mark.skipif(bool(kt.e2fsprogs_missing("mke2fs", "e2fsck", "debugfs", "dumpe2fs")),
                       reason="e2fsprogs (mke2fs, e2fsck, debugfs, dumpe2fs) needed"),
    pytest.mark.timeout(120),
]

MB = 1 << 20


async def interrupt_in_lwp_code(img: str) -> int:
    """Mount and write, then SIGINT from the lwp's own code, which goes on computing."""
    await mount_and_write(img)
    os.kill(os.getpid(), __import__("signal").SIGINT)
    return sum(range(1000))


async def interrupt_then_sleep(img: str) -> None:
    """Mount and write, SIGINT, then nap for ever: kernel sleeps (kpause) on the
    virtual clock, so the CPU never waits and trio gets no step unless the
    interrupt pokes the CPU."""
    import signal

    from kern.kern_synch import kpause

    await mount_and_write(img)
    os.kill(os.getpid(), signal.SIGINT)
    while True:
        await kpause("nap", False, 1, None)


async def interrupt_from_a_callout(img: str) -> None:
    """Mount and write; a callout (the CPU task, between lwp steps) sends SIGINT
    while the lwp naps."""
    import signal

    from kern.cpu import curmachine
    from kern.kern_synch import kpause

    await mount_and_write(img)
    curmachine().cpu.callout_after(5_000_000, lambda _: os.kill(os.getpid(), signal.SIGINT),
                                   None)
    while True:
        await kpause("nap", False, 1, None)


async def interrupt_while_outside(img: str) -> None:
    """Mount and write, then wait outside the machine (trio's epoll wait) while
    a host thread sends SIGINT."""
    import signal
    import threading

    import trio

    from kern.cpu import curmachine

    await mount_and_write(img)
    threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()
    async with curmachine().external_wait():
        await trio.sleep(30)


CHILD = textwrap.dedent("""
    import faulthandler, signal, sys
    from kern.machine.explore import run_scenario
    from tests.kern import test_sigint_run_once as t

    faulthandler.dump_traceback_later(60, exit=True)   # a hang: a traceback, status 1
    # a terminal session's SIGINT even if the runner's is ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    point, img = sys.argv[1:]
    if point == "boot":
        import kern.machine.machine as machine
        real = machine.Machine._boot

        async def boot(self):
            import os
            os.kill(os.getpid(), signal.SIGINT)
            await real(self)
        machine.Machine._boot = boot
        scenario = t.mount_and_write
    else:
        scenario = getattr(t, point)
    try:
        r = run_scenario(scenario, img, seed=7)
    except KeyboardInterrupt:
        print("KeyboardInterrupt")
    else:
        print("no interrupt:", r.outcome, repr(r.exception))
""")


@pytest.mark.parametrize("point", ["interrupt_in_lwp_code", "interrupt_then_sleep",
                                   "interrupt_from_a_callout", "interrupt_while_outside"])
def test_ctrl_c_during_run_once_halts_and_raises(tmp_path, point):
    img = kt.make_ext2_image(tmp_path / "disk.img", 8 * MB, mkfs="mke2fs")
    out = forkserver.run(["-c", CHILD, point, img], capture_output=True, text=True, cwd=ROOT,
                         timeout=100)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "KeyboardInterrupt\n", out.stderr
    assert_written(img)


def test_ctrl_c_during_run_once_boot(tmp_path):
    """SIGINT while lwp0 boots the kernel: the machine halts (nothing mounted yet)
    and run_once raises KeyboardInterrupt."""
    img = kt.make_ext2_image(tmp_path / "disk.img", 8 * MB, mkfs="mke2fs")
    out = forkserver.run(["-c", CHILD, "boot", img], capture_output=True, text=True, cwd=ROOT,
                         timeout=100)
    assert out.returncode == 0, out.stderr
    assert out.stdout == "KeyboardInterrupt\n", out.stderr
    kt.assert_e2fsck_clean(img)


async def interrupted_third_run() -> None:
    """kemu explore's scenario: the third run of this process sends SIGINT from its lwp."""
    import signal

    from kern.kern_synch import kpause

    _runs.append(1)
    if len(_runs) == 3:
        os.kill(os.getpid(), signal.SIGINT)
    await kpause("nap", False, 1, None)


_runs: list[int] = []

KEMU = ("import faulthandler, signal, sys; faulthandler.dump_traceback_later(60, exit=True); "
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from tools.kemu import main; sys.exit(main(sys.argv[1:]))")


def test_kemu_explore_in_process_exits_130_on_ctrl_c():
    """``kemu explore`` running its campaign in its own process (--workers 1):
    a SIGINT during the third run ends it with status 130."""
    out = forkserver.run(["-c", KEMU, "explore", "--workers", "1", "--runs", "50",
                          "tests.kern.test_sigint_run_once:interrupted_third_run"],
                         capture_output=True, text=True, cwd=ROOT, timeout=100)
    assert out.returncode == 130, (out.stdout, out.stderr)
