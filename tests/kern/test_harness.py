"""The machine harness: reproducibility, deadlock and lock-order reports, panics, faces."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import threading

import pytest
import trio
import trio.testing

import kern
from kern import (
    IPL_NONE,
    KTHREAD_MUSTJOIN,
    MUTEX_DEFAULT,
    PRI_BIO,
    cv_broadcast,
    cv_init,
    cv_wait,
    kcondvar_t,
    kmutex_t,
    kpause,
    kthread_create,
    kthread_join,
    mutex_enter,
    mutex_exit,
    mutex_init,
)
from tests.pytest_child import run_pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


async def two_waiters():
    """Two lwps each wait on their own condvar for a wakeup that never comes."""
    mtx = kmutex_t()
    mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
    cva, cvb = kcondvar_t(), kcondvar_t()
    cv_init(cva, "waitA")
    cv_init(cvb, "waitB")

    def waiter(cv):
        async def run(_):
            await mutex_enter(mtx)
            await cv_wait(cv, mtx)
            mutex_exit(mtx)
        return run

    _, la = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, waiter(cva), None, "lwpA")
    _, lb = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, waiter(cvb), None, "lwpB")
    await kthread_join(la)
    await kthread_join(lb)


def test_deadlock_report_names_both_wmesgs_and_places():
    with kern.boot(seed=4) as k, pytest.raises(kern.Deadlock) as ei:
        k.run(two_waiters, name="main")
    msg = str(ei.value)
    assert 'lwp "lwpA"' in msg and 'sleeping on "waitA"' in msg
    assert 'lwp "lwpB"' in msg and 'sleeping on "waitB"' in msg
    assert 'lwp "main"' in msg and 'sleeping on "kthrwait"' in msg
    assert "test_harness.py" in msg and "in run" in msg  # where they sleep in the source
    assert ei.value.seed == 4
    assert k.state == "failed"
    with pytest.raises(kern.Deadlock):
        k.run(two_waiters)  # a dead machine keeps saying why


async def abba(pause_between: bool):
    a, b = kmutex_t(), kmutex_t()
    mutex_init(a, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(b, MUTEX_DEFAULT, IPL_NONE)

    async def first(_):
        await mutex_enter(a)
        await mutex_enter(b)
        mutex_exit(b)
        mutex_exit(a)

    async def second(_):
        await mutex_enter(b)
        if pause_between:
            await kpause("between", False, 1, None)
        await mutex_enter(a)
        mutex_exit(a)
        mutex_exit(b)

    _, l1 = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, first, None, "first")
    await kthread_join(l1)  # "first" is done before "second" starts: no deadlock possible
    _, l2 = kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, second, None, "second")
    await kthread_join(l2)


def test_abba_reported_as_lock_order_reversal_without_deadlock():
    with kern.boot(seed=1) as k, pytest.raises(kern.LockOrderReversal) as ei:
        k.run(abba, False)
    msg = str(ei.value)
    assert '1st "b"' in msg and '2nd "a"' in msg
    assert '"a" taken at' in msg and '"b" taken at' in msg
    assert msg.count("test_harness.py") >= 3  # both acquisition sites of both orders
    assert "in first" in msg and "in second" in msg


async def a_then_b():
    """Take "a", then "b": one edge of the order graph, which it returns."""
    from kern.subr_lockdebug import order_edges

    a, b = kmutex_t(), kmutex_t()
    mutex_init(a, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(b, MUTEX_DEFAULT, IPL_NONE)
    await mutex_enter(a)
    await mutex_enter(b)
    mutex_exit(b)
    mutex_exit(a)
    return order_edges()


def test_lock_order_checking_can_be_turned_off():
    with kern.boot(seed=1) as k:
        # (booting records orders too: a vnode's lock before its interlock)
        assert ("a", "b") in k.run(a_then_b)
    with kern.boot(seed=1, lockdebug=False) as k:
        k.run(abba, False)  # same code, no report, no deadlock
        assert k.run(a_then_b) == []  # and no order recorded


async def a_b_twice_then_a_cycle_through_c():
    """a then b twice (the second time the order check is remembered for the
    held chain), b then c, then c then a, which closes a -> b -> c -> a."""
    a, b, c = kmutex_t(), kmutex_t(), kmutex_t()
    mutex_init(a, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(b, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(c, MUTEX_DEFAULT, IPL_NONE)
    for _ in range(2):
        await mutex_enter(a)
        await mutex_enter(b)
        mutex_exit(a)  # (out of order: the chain of b's record is worked out again)
        mutex_exit(b)
    await mutex_enter(b)
    await mutex_enter(c)
    mutex_exit(c)
    mutex_exit(b)
    await mutex_enter(c)
    await mutex_enter(a)


def test_a_remembered_order_check_still_reports_a_longer_cycle():
    with kern.boot(seed=1) as k, pytest.raises(kern.LockOrderReversal) as ei:
        k.run(a_b_twice_then_a_cycle_through_c)
    msg = str(ei.value)
    assert '1st "c"' in msg and '2nd "a"' in msg
    assert msg.index('"a" taken at') < msg.index('"b" taken at') < msg.index('"c" taken at')


def test_panic_keeps_state_inspectable():
    async def body():
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)

        async def holder(_):
            await mutex_enter(mtx)
            await kpause("hold", False, 100, None)

        kthread_create(PRI_BIO, 0, None, holder, None, "holder")
        await kpause("let", False, 1, None)
        kern.panic("test panic %d", 42)

    with kern.boot(seed=2) as k:
        with pytest.raises(kern.KernelPanic) as ei:
            k.run(body, name="panicker")
    assert str(ei.value) == "panic: test panic 42"
    crash = ei.value.crash
    assert crash is k.crash
    holder = crash.lwp("holder")
    assert holder.held_locks == ["mtx"]
    assert holder.wmesg == "hold"
    assert "panic: test panic 42" in k.dmesg()
    # the live objects stay too
    assert k.lwp_named("holder").held_locks()[0].startswith("mtx")


def test_an_exception_escaping_a_kernel_thread_is_reported_where_it_was_raised():
    """The crash dump of the lwp a Python error escaped from shows the frames
    the error came out of (they live in the panic's cause), not the host's."""
    def lookup(table):
        return table["missing"]

    async def faulty(_):
        await kpause("first", False, 1, None)
        lookup({})

    async def body():
        kthread_create(PRI_BIO, 0, None, faulty, None, "faulty")
        await kpause("wait", False, 5, None)

    with kern.boot(seed=1) as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(body)
    assert "KeyError escaped kernel thread 'faulty'" in str(ei.value)
    faulty_info = ei.value.crash.lwp("faulty")
    assert faulty_info.where.startswith("tests/kern/test_harness.py:") and \
        faulty_info.where.endswith(" in lookup"), faulty_info.where
    assert any(s.endswith(" in faulty") for s in faulty_info.stack)


def test_kassert_message_names_expression():
    async def body():
        x = 1
        kern.KASSERT(x == 2)

    with kern.boot() as k, pytest.raises(kern.KernelPanic) as ei:
        k.run(body)
    assert 'kernel diagnostic assertion "x == 2" failed' in str(ei.value)
    assert "test_harness.py" in str(ei.value)


def test_python_exception_in_kernel_thread_is_a_panic():
    async def body():
        async def broken(_):
            {}["missing"]

        kthread_create(PRI_BIO, 0, None, broken, None, "broken")
        await kpause("wait", False, 5, None)

    with kern.boot() as k, pytest.raises(kern.KernelPanic, match="KeyError escaped kernel thread"):
        k.run(body)


def test_user_exception_comes_back_and_machine_lives_on():
    async def fails():
        raise ValueError("from the test")

    async def fine():
        return "still up"

    with kern.boot() as k:
        with pytest.raises(ValueError, match="from the test"):
            k.run(fails)
        assert k.run(fine) == "still up"


def test_lwp_exiting_with_lock_held_panics():
    async def body():
        mtx = kmutex_t()
        mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
        await mutex_enter(mtx)

    with kern.boot() as k, pytest.raises(kern.KernelPanic, match="exits holding mtx"):
        k.run(body)


SCRIPT = textwrap.dedent("""
    import kern, sys
    sys.path.insert(0, {repo!r})
    from tests.kern.test_sync import contend
    with kern.boot(seed=int(sys.argv[1])) as k:
        k.run(contend, 6)
    sys.stdout.write(k.trace.text())
""")


def _trace_in_subprocess(seed: int, hashseed: str) -> str:
    env = dict(os.environ, PYTHONHASHSEED=hashseed)
    out = subprocess.run([sys.executable, "-c", SCRIPT.format(repo=REPO),
                          str(seed)], capture_output=True, text=True, env=env, check=True,
                         cwd=REPO)
    return out.stdout


def test_same_seed_same_trace_across_processes():
    t1 = _trace_in_subprocess(11, "1")
    t2 = _trace_in_subprocess(11, "4242")
    assert t1 == t2
    assert t1.count("sleep") > 5 and "run" in t1
    t3 = _trace_in_subprocess(12, "1")
    assert t3 != t1


def _run_contend(seed: int) -> list[str]:
    from tests.kern.test_sync import contend

    with kern.boot(seed=seed) as k:
        k.run(contend, 4)
    return list(k.trace)


def test_same_seed_same_trace_in_process():
    assert _run_contend(21) == _run_contend(21)


def test_machines_do_not_share_state():
    from kern.cpu import MachineLocal

    counter = MachineLocal(lambda: {"n": 0})

    async def bump():
        counter()["n"] += 1
        return counter()["n"]

    with kern.boot(seed=1) as k1:
        assert k1.run(bump) == 1
        assert k1.run(bump) == 2
    with kern.boot(seed=1) as k2:
        assert k2.run(bump) == 1


def test_async_face_runs_user_threads_against_each_other():
    async def main():
        async with kern.boot(seed=9) as k:
            mtx = kmutex_t()
            cv = kcondvar_t()
            box = []

            async def init():
                mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
                cv_init(cv, "box")

            async def producer():
                await kpause("later", False, 50, None)
                await mutex_enter(mtx)
                box.append("item")
                kern.cv_signal(cv)
                mutex_exit(mtx)

            async def consumer():
                await mutex_enter(mtx)
                while not box:
                    await cv_wait(cv, mtx)
                mutex_exit(mtx)
                return box[0], kern.curmachine().now()

            await k.run(init)
            results = {}

            async def keep(name, afn):
                results[name] = await k.run(afn, name=name)

            async with trio.open_nursery() as n:
                n.start_soon(keep, "consumer", consumer)
                n.start_soon(keep, "producer", producer)
            return results

    results = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    item, when = results["consumer"]
    assert item == "item"
    assert when == pytest.approx(0.5)


def test_async_face_reports_deadlock():
    async def main():
        async with kern.boot(seed=3) as k:
            await k.run(two_waiters)

    with pytest.raises(kern.Deadlock):
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_real_clock_on_request():
    async def body():
        m = kern.curmachine()
        t0 = m.now()
        await kpause("real", False, 2, None)  # 20 ms of real time
        return m.now() - t0

    with kern.boot(clock="real") as k:
        elapsed = k.run(body)
    assert elapsed >= 0.019


def test_a_host_call_taken_at_once_leaves_no_poke_behind():
    """The host pokes the CPU for each call it queues (host_poke) and the run
    clears the poke when it takes the calls (host_taken).  When the machine's
    thread takes a call before the host thread's poke, the poke must not
    outlive it: the preemption points would take a trio step each for the
    rest of the run."""
    async def body():
        return 7

    with kern.boot(config="BARE", trace=False) as k:
        token = k._token

        class Eager:  # the machine's run takes the call before run_sync_soon returns
            def run_sync_soon(self, fn, *args):
                done = threading.Event()
                token.run_sync_soon(lambda: (fn(*args), done.set()))
                assert done.wait(10)

        k._token = Eager()
        try:
            assert k.run(body) == 7
            assert not k.cpu.host_pending and not k.cpu.slow
        finally:
            k._token = token


def test_the_host_turn_puts_the_wakeup_fd_back_and_passes_signals_on():
    """While k.run waits, the machine's turn socket is the signal wakeup fd: a
    signal's number reaches the wakeup fd that was there before (passed on by
    the machine), which is put back when the wait ends; the halt closes the
    turn sockets."""
    import signal
    import socket

    mine_r, mine_w = socket.socketpair()
    mine_r.settimeout(10)
    mine_w.setblocking(False)
    old_handler = signal.signal(signal.SIGUSR1, lambda *a: None)
    before = signal.set_wakeup_fd(mine_w.fileno())

    async def body():
        os.kill(os.getpid(), signal.SIGUSR1)
        await kpause("turn", False, 1, None)
        return 7

    try:
        with kern.boot(config="BARE", trace=False) as k:
            socks = (k._turn_r, k._turn_w)
            assert k.run(body) == 7
            assert signal.set_wakeup_fd(mine_w.fileno()) == mine_w.fileno()
            assert mine_r.recv(16) == bytes((signal.SIGUSR1,))
        assert k._turn_r is None and [s.fileno() for s in socks] == [-1, -1]
        assert signal.set_wakeup_fd(mine_w.fileno()) == mine_w.fileno()
    finally:
        signal.set_wakeup_fd(before)
        signal.signal(signal.SIGUSR1, old_handler)
        mine_r.close()
        mine_w.close()


def test_a_signal_taken_before_k_run_is_back_in_its_wait_reaches_the_machine(monkeypatch):
    """k.run's lwp may run, and send the host a signal, before the host thread
    that posted it gets the GIL back (the machine's thread takes it at the
    post; a computing lwp keeps it): the signal's number must still reach the
    machine's turn socket, which gives the host its turn.  Seen: a SIGTERM to
    kemu run taken while its main thread was between the post and the wait
    went to the old wakeup fd; its handler ran when CPython gave the main
    thread the GIL, 18,119 rounds of the background job later (8 with the
    turn).  Here the host thread is held after the post until the lwp has
    sent the signal (blocked for that thread meanwhile, so it is taken then)."""
    import signal
    import time

    from kern.machine.machine import Machine
    from tools.lib import libc

    got: list[int] = []
    turns: list[int] = []
    sent = threading.Event()
    old_handler = signal.signal(signal.SIGTERM, lambda signo, frame: got.append(signo))

    async def body():
        os.kill(os.getpid(), signal.SIGTERM)
        sent.set()
        deadline = time.monotonic() + 10
        while not turns and time.monotonic() < deadline:   # computes, never sleeps
            await libc.getpid()
        return len(turns)

    try:
        real_post, real_turn = Machine._post, Machine._give_host_turn

        def post(self, fn, *args):
            real_post(self, fn, *args)
            if args and getattr(args[0], "afn", None) is body:
                assert sent.wait(10)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})

        def give_host_turn(self):
            turns.append(1)
            real_turn(self)

        monkeypatch.setattr(Machine, "_post", post)
        monkeypatch.setattr(Machine, "_give_host_turn", give_host_turn)
        with kern.boot(config="BARE", trace=False) as k:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            try:
                assert k.run(body) >= 1
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
        assert got == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, old_handler)


def test_the_turn_sockets_outlive_a_host_wait_in_progress():
    """A halt does not close the turn sockets while a host thread still waits
    on the machine (its signal wakeup fd is the write end until that wait
    puts the old one back: closed, its number could be reused by any open
    and a signal written into that file); the wait's end closes them."""
    import signal

    k = kern.boot(config="BARE", trace=False)
    k.start()
    socks = (k._turn_r, k._turn_w)
    ev = threading.Event()
    prev = k._wait_begin(ev)    # (the main thread's k.run, as a halt sees it)
    try:
        assert signal.set_wakeup_fd(socks[1].fileno()) == socks[1].fileno()
        k.halt()                # (as another thread would, while that wait lasts)
        assert -1 not in [s.fileno() for s in socks]
    finally:
        k._wait_end(ev, prev)
    assert [s.fileno() for s in socks] == [-1, -1]
    assert signal.set_wakeup_fd(prev) == prev


def test_a_crashed_machine_never_halted_closes_its_turn_sockets():
    """A machine that crashed and is dropped without a halt leaves no socket
    open once it is collected."""
    import gc

    from kern.machine.plugin import forget_machines

    async def boom():
        from kern.subr_prf import panic
        panic("boom")

    def crash():
        k = kern.boot(config="BARE", trace=False)
        k.start()
        socks = (k._turn_r, k._turn_w)
        with pytest.raises(kern.KernelPanic):
            k.run(boom)
        k._thread.join(10)
        return socks

    socks = crash()
    forget_machines()       # (the plugin keeps a test's machines for its report)
    gc.collect()
    assert [s.fileno() for s in socks] == [-1, -1]


def test_trace_records_lwp_switches_sleeps_and_faults():
    async def body():
        kern.curmachine().faults.add("kthread_create", error=kern.EAGAIN, fail_nth=1)
        error, l = kthread_create(PRI_BIO, 0, None, body, None, "never")
        return error, l

    with kern.boot(seed=0) as k:
        assert k.run(body, name="tester") == (kern.EAGAIN, None)
    assert any(e.endswith("tester: fault kthread_create EAGAIN") for e in k.trace)
    assert any(e.endswith("tester: start") for e in k.trace)


async def _sleeps_renamed_and_lock_waits():
    """Sleeps on "a", "b", "a", on "mutex" (a kpause, no lock), waits for a
    mutex its holder keeps, then is renamed and sleeps on "a" again."""
    from tests.kern.test_sync import _spawn

    mtx = kmutex_t()
    mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)

    async def holder(_):
        await mutex_enter(mtx)
        await kpause("hold", False, 2, None)
        # (On the real clock a loaded host can fire both timeouts at once and
        # run the holder first: keep the mutex until the waiter is there.)
        while not mtx.mtx_waiters:
            await kpause("hold", False, 1, None)
        mutex_exit(mtx)

    for wmesg in ("a", "b", "a", "mutex"):
        await kpause(wmesg, False, 1, None)
    h = await _spawn(holder, "holder")
    await kpause("settle", False, 1, None)
    await mutex_enter(mtx)
    mutex_exit(mtx)
    kern.curlwp().l_name = "renamed"
    await kpause("a", False, 1, None)
    await kthread_join(h)


@pytest.mark.parametrize("clock", ["virtual", "real"])
def test_trace_sleep_and_wakeup_events_follow_wmesg_lock_and_name(clock):
    """The sleep/wakeup events an lwp's tuples are reused for (kern_synch.py)
    follow a changed wmesg, name a lock's holder even after a plain sleep on
    a wmesg that reads "mutex", and take a new name.  The same with the real
    clock, where they go through trace_add (Machine.trace_sleep)."""
    with kern.boot(seed=1, clock=clock) as k:
        k.run(_sleeps_renamed_and_lock_waits, name="t")
    mine = [e.text().split(" ", 1)[1] for e in k.trace.records
            if e.lwp in ("t", "renamed") and e.kind in ("sleep", "wakeup")]
    assert mine == ["t: sleep a", "t: sleep b", "t: sleep a", "t: sleep mutex",
                    "t: sleep settle", 't: sleep mutex "mtx" held by "holder"',
                    "t: wakeup mutex", "renamed: sleep a"]


def test_trace_limit_keeps_the_first_events_across_seals():
    """With a small trace_limit, the kept events are the first ones of the
    same run traced without a limit, and the total counts every event: the
    raw list is sealed every few steps and flushed past the limit."""
    from tests.kern.test_sync import contend

    def run(**kw):
        with kern.boot(seed=21, **kw) as k:
            k.run(contend, 200)
        return k.trace

    full, small = run(), run(trace_limit=40)
    assert full.total > 1000  # (many seals and flushes of the small one)
    # none lost at a seal: each lwp's sleeps and wakeups pair up, in time order
    kinds: dict[tuple[int, int], list[str]] = {}
    times = [e.time for e in full.records]
    assert times == sorted(times)
    for e in full.records:
        if e.kind in ("sleep", "wakeup", "timeout"):
            kinds.setdefault((e.pid, e.lid), []).append("wake" if e.kind != "sleep" else "sleep")
    assert sum(len(v) for v in kinds.values()) > 100
    for v in kinds.values():
        assert v[0::2] == ["sleep"] * len(v[0::2]) and v[1::2] == ["wake"] * len(v[1::2]), v
    assert small.total == full.total
    assert small.records == full.records[:40]


def test_trace_event_numbers_of_dead_lwps_do_not_stay():
    """The trace's table of the numbers its hot paths append (Trace.intern)
    is emptied at a flush once it is long, and the live lwps number their
    events again: the table does not keep every lwp that ever ran, and the
    trace reads the same as one never renumbered (here table_max starts at 0:
    renumbered at the first flush, then whenever the table passes twice the
    live lwps' entries, as Trace.flush raises table_max)."""
    from tests.kern.test_sync import contend

    def run(table_max):
        with kern.boot(seed=21, trace_limit=40) as k:
            k.trace.table_max = table_max
            for _ in range(4):
                k.run(contend, 30)
                assert k.trace.records  # a flush mid-run (the first renumbers with table_max 0)
        return k.trace

    never, always = run(10**9), run(0)
    assert never.total > 500
    assert always.total == never.total
    assert always.records == never.records
    assert always.digest() == never.digest()
    # (who: (name, pid, lid); the contenders "a", "b" and k.run's lwps "contend"
    # are dead at the end, the daemons are not)
    dead = {("a", 0, 5), ("b", 0, 12), ("contend", 1, 1), ("contend", 1, 4)}
    assert dead <= {who for who, _, _ in never._table}
    kept = {who for who, _, _ in always._table}
    assert kept and not kept & dead and len(always._table) < len(never._table) // 5
    # A trace (within its limit) pickles, as a run's result to another process,
    # without its machine, its numbers still read.
    with kern.boot(seed=21) as k:
        k.run(contend, 5)
    assert k.trace.raw
    copy = pickle.loads(pickle.dumps(k.trace))
    assert copy.renumbered is None and copy.records == k.trace.records


@pytest.mark.kemu
async def test_the_raw_trace_is_sealed_when_the_cpu_task_leaves_drive():
    """The async face: an lwp whose steps left the raw list long (here it
    appends to it as the hot paths do, without a length check) sleeps until a
    task outside wakes it.  The CPU task's _drive returns with no trace_add
    on the way (it seals every _TRIO_EVERY steps of one entry only): the
    list is sealed then, and every event is kept."""
    import trio.testing

    from kern.machine.trace import SEAL_AT

    mtx = kmutex_t()
    mutex_init(mtx, MUTEX_DEFAULT, IPL_NONE)
    cv = kcondvar_t()
    cv_init(cv, "outside")
    state = {"go": False}

    async def body():
        l = kern.curlwp()
        l.l_cpu.tbuf.extend([(l.l_tid, "mark", "x")] * (SEAL_AT + 10))
        await mutex_enter(mtx)
        while not state["go"]:
            await cv_wait(cv, mtx)
        mutex_exit(mtx)

    async with kern.boot(seed=1) as k:
        async with trio.open_nursery() as n:
            n.start_soon(k.run, body)
            await trio.testing.wait_all_tasks_blocked()
            raw = len(k.trace.raw)
            state["go"] = True
            cv_broadcast(cv)
    assert raw < 16
    assert sum(1 for e in k.trace.records if e.kind == "mark") == SEAL_AT + 10


PLUGIN_CASES = textwrap.dedent("""
    import kern

    def test_with_fixture(kernel):
        assert False

    def test_with_boot():
        with kern.boot(seed=5):
            pass
        assert False
""")


def test_failing_test_report_names_its_machines(tmp_path):
    """The plugin's "kemu" section lists every machine the test booted, the
    ``kernel`` fixture's (booted during setup) included, and how to re-run."""
    (tmp_path / "test_cases.py").write_text(PLUGIN_CASES)
    out = run_pytest(tmp_path, "-q", "--kemu-seed=3", "test_cases.py")
    assert out.returncode == 1, out.stdout + out.stderr
    assert "machine seed 3 (running)" in out.stdout
    assert "re-run: pytest test_cases.py::test_with_fixture --kemu-seed=3" in out.stdout
    assert "machine seed 5 (halted)" in out.stdout
    assert "re-run: pytest test_cases.py::test_with_boot --kemu-seed=5" in out.stdout
