"""The system-call boundary: dispatch, errnos, panics, signals and restarts, nanosleep."""

from __future__ import annotations

import pytest
import trio

import kern
from kern import (
    EBADF,
    EFAULT,
    EINTR,
    EINVAL,
    EJUSTRETURN,
    ENOENT,
    ENOSYS,
    EPERM,
    ERESTART,
    ESRCH,
    IPL_NONE,
    MUTEX_DEFAULT,
    cv_broadcast,
    cv_init,
    cv_wait_sig,
    kcondvar_t,
    kmutex_t,
    mutex_enter,
    mutex_exit,
    mutex_init,
)
from kern.cpu import curmachine, curproc
from kern.kern_auth import kauth_cred_make
from kern.kern_lwp import LSRUN, lwp
from kern.kern_sig import SIGKILL, SIGSYS, SIGUSR1, SIGUSR2, psignal, sigact
from kern.kern_time import timespec
from kern.machine.testing import errno_of
from kern.sys_sig import SA_RESTART, SIG_BLOCK, SIG_DFL, SIG_IGN, SIGCHLD
from kern.syscall import (
    SYS_DYNAMIC_FIRST,
    SYS_NSYSENT,
    SYS___gettimeofday50,
    SYS___nanosleep50,
    SYS_getpid,
    SYS_read,
    syscall,
    syscall_disestablish,
    syscall_establish,
    syscall_lookup,
    syscall_names,
)
from tools.lib import libc

SYS_gate_wait = SYS_DYNAMIC_FIRST
SYS_gate_open = SYS_DYNAMIC_FIRST + 1
SYS_broken = SYS_DYNAMIC_FIRST + 2


@pytest.fixture
def k():
    with kern.boot(seed=1) as m:
        yield m


# ---------------------------------------------------------------- dispatch and errnos

def test_errors_arrive_as_syscallerror_with_netbsd_numbers(k):
    async def body():
        with pytest.raises(kern.SyscallError) as ei:
            await libc.read(3, 10)
        e = ei.value
        r = [e.errno, e.name, str(e)]
        with pytest.raises(kern.SyscallError) as ei:
            await syscall(400)                 # not a system call here
        r.append(ei.value.errno)
        r.append(await errno_of(syscall("read", 0)))
        # a Python object where a register value belongs
        r.append(await errno_of(syscall(SYS_read, 0, b"buffer", 6)))
        return r

    r = k.run(body)
    assert r[0] == EBADF == 9
    assert r[1] == "EBADF"
    assert r[2] == "read: Bad file descriptor (EBADF)"
    assert r[3:] == [ENOSYS, ENOSYS, EFAULT]
    assert ENOSYS == 78


def test_unknown_syscall_posts_sigsys():
    """sys_nosys: SIGSYS to the caller's process, whose default action ends it
    on its way back to userland; ignored, the call fails with ENOSYS."""
    from kern.kern_exit import WCOREDUMP, WIFSIGNALED, WTERMSIG
    from kern.kern_sig import SIGSYS
    from tools.lib import libc

    async def body():
        seen = {}

        async def dies() -> int:
            seen["errno"] = await errno_of(syscall(400))  # not reached
            return 0

        async def ignores() -> int:
            await libc.signal(SIGSYS, SIG_IGN)
            return 7 if await errno_of(syscall(400)) == ENOSYS else 8

        _, killed = await libc.waitpid(await libc.fork(dies))
        _, ignored = await libc.waitpid(await libc.fork(ignores))
        return killed, ignored, seen

    with kern.boot(seed=1) as m:
        killed, ignored, seen = m.run(body, proc=m.proc_create("parent", m.initproc))
    # (kern_sig: kemu dumps no core, so WCOREFLAG stays clear)
    assert WIFSIGNALED(killed) and WTERMSIG(killed) == SIGSYS and not WCOREDUMP(killed)
    assert seen == {}
    assert ignored == 7 << 8  # exited 7: ENOSYS


def test_arguments_take_their_c_types(k):
    seen = []

    async def sys_args(l, uap, retval):
        seen.append((uap.fd, uap.nbyte, uap.buf, uap.from_, getattr(uap, "from"), uap.raw,
                     uap.ui, uap.ul))
        retval[0] = uap.fd
        return 0

    async def body():
        assert syscall_establish(SYS_DYNAMIC_FIRST, "args", sys_args,
                                 ("int fd", "size_t nbyte", "const void *buf", "int from",
                                  "raw", "unsigned int ui", "unsigned long ul")) == 0
        r = await syscall(SYS_DYNAMIC_FIRST, 0xffffffff, -1, None, 2**32 + 5, 1 << 70, -1, -1)
        return r, repr(syscall_lookup(SYS_DYNAMIC_FIRST))

    r, rep = k.run(body)
    assert r == -1
    assert seen == [(-1, 2**64 - 1, 0, 5, 5, 1 << 70, 2**32 - 1, 2**64 - 1)]
    assert rep == "<sysent 210 args(fd, nbyte, buf, from, raw, ui, ul)>"


def test_written_out_conversions_are_the_conversion_functions():
    """make_uap writes each C type's conversion out as an expression
    (_CONV_EXPR): it gives what the function gives, at every sign and width
    edge, and for a register that is not an int (converted first)."""
    from kern.syscall import _CONV, _CONV_EXPR, _register_value

    assert set(_CONV_EXPR) >= set(_CONV.values())
    edges = [0, 1, -1, 0x7fffffff, 0x80000000, 0xffffffff, 2**32, 2**63 - 1, 2**63,
             2**64 - 1, 2**64, 2**70 + 0x80000005, -(2**31), -(2**31) - 1, -(2**63) - 1]
    for fn, form in _CONV_EXPR.items():
        for v in edges:
            assert eval(form.format("v")) == fn(v), (fn.__name__, v)  # noqa: S307
        r = True    # (not an int: what the generated code converts with _rv)
        assert eval(form.format("_register_value(r)")) == fn(_register_value(r))  # noqa: S307


def test_registered_calls_and_per_machine_establish(k):
    async def noop(l, uap, retval):
        return EJUSTRETURN

    async def body():
        names = syscall_names()
        r = [names[3], names[4], names[6], names[54], names[92], names[20], names[37]]
        r.append(syscall_establish(SYS_DYNAMIC_FIRST, "noop", noop))
        r.append(syscall_establish(SYS_DYNAMIC_FIRST, "noop", noop))   # taken
        r.append(await syscall(SYS_DYNAMIC_FIRST))
        r.append(syscall_disestablish(SYS_DYNAMIC_FIRST))
        r.append(await errno_of(syscall(SYS_DYNAMIC_FIRST)))
        syscall_establish(SYS_DYNAMIC_FIRST, "noop", noop)
        return r

    assert k.run(body) == ["read", "write", "close", "ioctl", "fcntl", "getpid", "kill",
                           0, kern.EBUSY, 0, 0, ENOSYS]
    with kern.boot(seed=2) as k2:         # another machine never saw it
        assert k2.run(lambda: errno_of(syscall(SYS_DYNAMIC_FIRST))) == ENOSYS


def test_establish_rejects_a_number_the_trap_cannot_reach(k):
    """The trap masks the number with SYS_NSYSENT - 1, so an entry at 512 or
    above (or below 0) could never run: EINVAL and a message naming it, and
    no entry (512 + n still reaches call n, not the rejected one)."""
    async def noop(l, uap, retval):
        return EJUSTRETURN

    async def body():
        r = [syscall_establish(n, "noop", noop)
             for n in (SYS_NSYSENT, SYS_NSYSENT + SYS_DYNAMIC_FIRST, -1)]
        r.append(await errno_of(syscall(SYS_NSYSENT + SYS_DYNAMIC_FIRST)))
        r.append(syscall_disestablish(SYS_NSYSENT + SYS_DYNAMIC_FIRST))
        r.append(syscall_establish(SYS_NSYSENT - 1, "noop", noop))
        r.append(await syscall(2 * SYS_NSYSENT - 1))
        r.append(syscall_disestablish(SYS_NSYSENT - 1))
        return r

    assert k.run(body) == [EINVAL, EINVAL, EINVAL, ENOSYS, ENOENT, 0, 0, 0]
    for n in (512, 722, -1):
        assert f"syscall {n} is out of range (0 to 511)\n" in k.dmesg()
    with kern.boot(seed=2, config="BARE") as k2:     # from the host, naming the machine
        assert syscall_establish(SYS_NSYSENT, "noop", noop, machine=k2) == EINVAL
        assert "syscall 512 is out of range" in k2.dmesg()


def test_python_exception_in_a_handler_is_a_kernel_panic(k):
    async def sys_broken(l, uap, retval):
        d = {}
        return d["missing"]

    async def body():
        syscall_establish(SYS_broken, "broken", sys_broken)
        await syscall(SYS_broken)

    with pytest.raises(kern.KernelPanic) as ei:
        k.run(body)
    msg = str(ei.value)
    assert "syscall broken (212)" in msg and "KeyError" in msg and "missing" in msg
    assert k.state == "failed"
    assert "panic: syscall broken" in k.dmesg()


def test_handler_that_returns_no_errno_is_a_kernel_panic():
    async def sys_forgot(l, uap, retval):
        retval[0] = 1

    async def body():
        syscall_establish(SYS_broken, "forgot", sys_forgot)
        await syscall(SYS_broken)

    with kern.boot(seed=1) as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(body)
    assert "forgot" in str(ei.value) and "None" in str(ei.value)


def test_a_number_past_the_table_is_the_call_it_masks_to(k):
    """x86 syscall() takes the number modulo SYS_NSYSENT: 512 + getpid is
    getpid, 512 + 400 an empty slot (SIGSYS ignored: ENOSYS)."""
    async def body():
        await libc.signal(SIGSYS, SIG_IGN)
        return [await syscall(SYS_NSYSENT + SYS_getpid),
                await syscall(3 * SYS_NSYSENT + SYS_getpid),
                await errno_of(syscall(SYS_NSYSENT + 400)),
                await libc.getpid()]

    assert k.run(body) == [1, 1, ENOSYS, 1]


def test_getpid_kill_errors(k):
    async def body():
        r = [await libc.getpid(), await libc.getppid(), await syscall(SYS_getpid)]
        r.append(await libc.kill(await libc.getpid(), 0))     # exists
        r.append(await errno_of(libc.kill(999, SIGUSR1)))
        r.append(await errno_of(libc.kill(1, 64)))
        r.append(await errno_of(libc.kill(1, -1)))
        r.append(await errno_of(libc.kill(-1, SIGUSR1)))     # nobody else to signal
        r.append(await errno_of(libc.kill(0, 0)))   # init's group: killpg1 skips init
        return r

    assert k.run(body) == [1, 0, 1, 0, ESRCH, EINVAL, EINVAL, ESRCH, ESRCH]
    child = k.proc_create("child", k.initproc)
    assert k.run(libc.getpid, proc=child) == child.p_pid == 2
    assert k.run(lambda: errno_of(libc.kill(0, 0)), proc=child) == 0  # its own group
    assert k.run(libc.getppid, proc=child) == 1
    user = k.proc_create("user", k.initproc, cred=kauth_cred_make(100, 100))
    assert k.run(lambda: errno_of(libc.kill(1, SIGUSR1)), proc=user) == EPERM


def test_sigaction_records_and_returns(k):
    async def body():
        old = libc.struct_sigaction()
        act = libc.struct_sigaction(sa_handler=0x401000, sa_flags=SA_RESTART)
        r = [await libc.sigaction(SIGUSR1, act, old), old.sa_handler, old.sa_flags]
        r.append(await libc.signal(SIGUSR1, SIG_IGN))      # returns the previous handler
        await libc.sigaction(SIGUSR1, None, old)
        r += [old.sa_handler, old.sa_flags]
        r.append(await errno_of(libc.sigaction(SIGKILL, act)))
        r.append(await errno_of(libc.sigaction(0, act)))
        r.append(await errno_of(libc.sigaction(SIGUSR1, libc.struct_sigaction(sa_flags=0x1000))))
        r.append(sigact(curproc(), SIGUSR1)[2])
        return r

    assert k.run(body) == [0, SIG_DFL, 0, 0x401000, SIG_IGN, SA_RESTART, EINVAL, EINVAL,
                           EINVAL, SA_RESTART]


# ---------------------------------------------------------------- signals and restarts

class Gate:
    """A test syscall pair: gate_wait sleeps (interruptibly) until gate_open."""

    def __init__(self) -> None:
        self.mtx = kmutex_t()
        mutex_init(self.mtx, MUTEX_DEFAULT, IPL_NONE)
        self.cv = kcondvar_t()
        cv_init(self.cv, "gate")
        self.open = False
        self.entries = 0
        self.results: list[int] = []

    async def sys_gate_wait(self, l, uap, retval):
        self.entries += 1
        await mutex_enter(self.mtx)
        error = 0
        while not self.open:
            error = await cv_wait_sig(self.cv, self.mtx)
            if error:
                break
        mutex_exit(self.mtx)
        self.results.append(error)
        retval[0] = self.entries
        return error

    async def sys_gate_open(self, l, uap, retval):
        await mutex_enter(self.mtx)
        self.open = True
        cv_broadcast(self.cv)
        mutex_exit(self.mtx)
        return 0

    def establish(self) -> None:
        assert syscall_establish(SYS_gate_wait, "gate_wait", self.sys_gate_wait) == 0
        assert syscall_establish(SYS_gate_open, "gate_open", self.sys_gate_open) == 0


def caught(sig: int) -> None:
    """A handler that only catches (the signal interrupts, nothing else happens)."""


def run_gate_scenario(k, restart: bool):
    gate = Gate()

    async def main():
        gate.establish()
        if restart:
            await libc.signal(SIGUSR1, caught, SA_RESTART)
        res = {}

        async def waiter():
            res["r"] = await errno_of(syscall(SYS_gate_wait))

        curmachine().spawn_lwp(lwp(curproc(), "waiter"), waiter, ())
        await libc.nanosleep(0.01)
        wm = curmachine().lwp_named("waiter").l_wmesg
        await libc.kill(await libc.getpid(), SIGUSR1)
        await libc.nanosleep(0.01)
        if restart:
            wm2 = curmachine().lwp_named("waiter").l_wmesg    # asleep again
            await syscall(SYS_gate_open)
            await libc.nanosleep(0.01)
            return wm, wm2, res, gate.entries, gate.results
        return wm, res, gate.entries, gate.results, curproc().p_sigpend

    return k.run(main)


def test_signal_interrupts_cv_wait_sig_with_eintr(k):
    assert run_gate_scenario(k, restart=False) == ("gate", {"r": EINTR}, 1, [EINTR], set())


def test_sa_restart_reruns_the_interrupted_call(k):
    assert run_gate_scenario(k, restart=True) == ("gate", "gate", {"r": 0}, 2, [ERESTART, 0])


def run_wakeup_with_signal_pending(k, restart: bool):
    """The waiter is woken normally (cv_broadcast) and, before it runs again, a
    caught signal becomes pending: sigpost finds it runnable, so nothing
    interrupts its sleep; sleepq_block's check after the switch (kern_sleepq.c's
    ``catch && error == 0``) must still answer the signal."""
    gate = Gate()

    async def main():
        gate.establish()
        handled = []
        await libc.signal(SIGUSR1, lambda sig: handled.append(sig),
                          SA_RESTART if restart else 0)
        res = {}

        async def waiter():
            res["r"] = await errno_of(syscall(SYS_gate_wait))

        curmachine().spawn_lwp(lwp(curproc(), "waiter"), waiter, ())
        await libc.sigprocmask(SIG_BLOCK, {SIGUSR1})    # the waiter alone takes it
        await libc.nanosleep(0.01)
        w = curmachine().lwp_named("waiter")
        assert w.l_sigmask == set()
        wm = w.l_wmesg
        # Open the gate and post the signal with nothing running in between.
        await mutex_enter(gate.mtx)
        gate.open = True
        cv_broadcast(gate.cv)
        stat = w.l_stat
        psignal(curproc(), SIGUSR1)
        mutex_exit(gate.mtx)
        await libc.nanosleep(0.01)
        return wm, stat == LSRUN, res, gate.entries, gate.results, handled

    return k.run(main)


def test_a_normal_wakeup_with_a_caught_signal_pending_answers_eintr(k):
    assert run_wakeup_with_signal_pending(k, restart=False) == (
        "gate", True, {"r": EINTR}, 1, [EINTR], [SIGUSR1])


def test_a_normal_wakeup_with_a_caught_signal_pending_restarts_with_sa_restart(k):
    # ERESTART: the handler runs, gate_wait is entered again and finds the gate open.
    assert run_wakeup_with_signal_pending(k, restart=True) == (
        "gate", True, {"r": 0}, 2, [ERESTART, 0], [SIGUSR1])


def test_ignored_signal_does_not_interrupt(k):
    gate = Gate()

    async def main():
        gate.establish()
        await libc.signal(SIGUSR2, SIG_IGN)
        res = {}

        async def waiter():
            res["r"] = await errno_of(syscall(SYS_gate_wait))

        curmachine().spawn_lwp(lwp(curproc(), "waiter"), waiter, ())
        await libc.nanosleep(0.01)
        await libc.kill(await libc.getpid(), SIGUSR2)
        await libc.kill(await libc.getpid(), SIGCHLD)       # ignored by default
        await libc.nanosleep(0.01)
        still = curmachine().lwp_named("waiter").l_wmesg
        await syscall(SYS_gate_open)
        await libc.nanosleep(0.01)
        return still, res, gate.entries

    assert k.run(main) == ("gate", {"r": 0}, 1)


@pytest.mark.kemu
async def test_signal_between_two_user_lwps_async_face():
    """The async face: two k.run lwps of the init process, set against each other."""
    gate = Gate()
    async with kern.boot(seed=3) as k:
        out = {}

        async def waiter():
            gate.establish()
            out["waiter"] = await errno_of(syscall(SYS_gate_wait))

        async def killer():
            # The killer blocks the signal, so the sleeping waiter takes it (a
            # running lwp that may take a signal is offered it first).
            await libc.sigprocmask(libc.SIG_BLOCK, {SIGUSR1})
            await libc.nanosleep(0.5)
            out["t"] = curmachine().now()
            await libc.kill(await libc.getpid(), SIGUSR1)

        async with trio.open_nursery() as n:
            n.start_soon(k.run, waiter)
            n.start_soon(k.run, killer)
    assert out["waiter"] == EINTR
    assert out["t"] == pytest.approx(0.5)
    assert gate.results == [EINTR]


# ---------------------------------------------------------------- nanosleep

def test_nanosleep_uses_the_virtual_clock(k):
    async def body():
        m = curmachine()
        t0 = m.now()
        rem = timespec(5, 5)
        await libc.nanosleep(2.5, rem)
        t1 = m.now()
        rem0 = timespec(5, 5)
        await libc.nanosleep(0, rem0)                   # does not sleep
        r = [t1 - t0, (rem.tv_sec, rem.tv_nsec), m.now() - t1, (rem0.tv_sec, rem0.tv_nsec)]
        r.append(await errno_of(libc.nanosleep(timespec(0, 1_000_000_000))))
        r.append(await errno_of(libc.nanosleep(timespec(0, -1))))
        # A negative time is one already past (itimespecfix's ETIMEDOUT): 0 at
        # once, nothing left, as on NetBSD (not EINVAL).
        t2 = m.now()
        remneg = timespec(5, 5)
        r.append(await errno_of(libc.nanosleep(timespec(-1, 0), remneg)))
        r.append((remneg.tv_sec, remneg.tv_nsec, m.now() - t2))
        r.append(await errno_of(syscall(SYS___nanosleep50, 0x10, 0)))
        return r

    r = k.run(body)
    assert r[0] == pytest.approx(2.5)
    assert r[1:] == [(0, 0), 0, (0, 0), EINVAL, EINVAL, 0, (0, 0, 0), EFAULT]


def test_nanosleep_woken_without_a_signal_sleeps_the_rest(k):
    """kern_time.c's nanosleep1 ``goto again``: a sleeper made runnable by something
    that is not a signal (setrunnable, as the halt's suspendsched does) sleeps
    again for the time left; rmt then says nothing is left.  (kemu's returned
    0 at the wakeup, 7 s early, with rmt 0.)"""
    from kern.kern_synch import setrunnable

    async def body():
        m = curmachine()
        res = {}

        async def sleeper():
            rem = timespec(9, 9)
            res["e"] = await errno_of(libc.nanosleep(timespec(10, 5_000_000), rem))
            res["rem"] = (rem.tv_sec, rem.tv_nsec)
            res["t"] = m.now()

        t0 = m.now()
        sl = lwp(curproc(), "sleeper")
        m.spawn_lwp(sl, sleeper, ())
        await libc.nanosleep(3)
        assert sl.l_wmesg == "nanoslp"
        setrunnable(sl)
        await libc.nanosleep(20)
        res["t"] -= t0
        return res

    r = k.run(body)
    assert r["e"] == 0
    assert r["t"] == pytest.approx(10.01, abs=1e-6)
    assert r["rem"] == (0, 0)


def test_nanosleep_rounds_to_microseconds_and_a_tick_at_least(k):
    """subr_time.c's itimespecfix and tstohz: a time under a tick sleeps one tick
    (10 ms); nanoseconds below a microsecond do not add a tick."""
    async def body():
        m = curmachine()
        r = []
        for ts in (timespec(0, 1), timespec(0, 10_000_900), timespec(0, 10_001_000)):
            t0 = m.now()
            await libc.nanosleep(ts)
            r.append(round((m.now() - t0) * 1000, 6))
        return r

    assert k.run(body) == [10.0, 10.0, 20.0]


def test_nanosleep_interrupted_reports_time_left_and_never_restarts(k):
    async def body():
        await libc.signal(SIGUSR1, caught, SA_RESTART)     # nanosleep ignores SA_RESTART
        res = {}

        async def sleeper():
            rem = timespec()
            res["e"] = await errno_of(libc.nanosleep(10, rem))
            res["rem"] = rem.tv_sec + rem.tv_nsec / 1e9
            res["t"] = curmachine().now()

        t0 = curmachine().now()
        curmachine().spawn_lwp(lwp(curproc(), "sleeper"), sleeper, ())
        await libc.nanosleep(3)
        await libc.kill(await libc.getpid(), SIGUSR1)
        await libc.nanosleep(0.01)
        res["t"] -= t0
        return res

    r = k.run(body)
    assert r["e"] == EINTR
    assert r["t"] == pytest.approx(3, abs=0.02)
    assert r["rem"] == pytest.approx(7, abs=0.02)


def test_gettimeofday_reports_an_empty_time_zone(k):
    async def body():
        tp, tzp = libc.ualloc(16), libc.ualloc(8)
        libc.uput(tzp, b"\xff" * 8)
        r = [await syscall(SYS___gettimeofday50, tp, tzp), libc.uget(tzp, 8)]
        r.append(await errno_of(syscall(SYS___gettimeofday50, tp, 0x10)))   # a bad tzp
        r.append(await errno_of(syscall(SYS___gettimeofday50, 0x10, tzp)))  # a bad tp
        return r

    assert k.run(body) == [0, bytes(8), EFAULT, EFAULT]


def test_ejustreturn_and_restart_codes(k):
    calls = []

    async def sys_restart_once(l, uap, retval):
        calls.append(len(calls))
        retval[0] = 77
        return ERESTART if len(calls) == 1 else 0

    async def body():
        syscall_establish(SYS_DYNAMIC_FIRST, "restart_once", sys_restart_once)
        return await syscall(SYS_DYNAMIC_FIRST)

    assert k.run(body) == 77
    assert calls == [0, 1]


def test_same_seed_same_trace():
    def one(seed):
        with kern.boot(seed=seed) as k:
            assert run_gate_scenario(k, restart=True)[2] == {"r": 0}
            return k.trace.digest(), [e for e in k.trace if "gate" in e]

    a, b = one(7), one(7)
    assert a == b
    assert any("sleep gate" in e for e in a[1])
