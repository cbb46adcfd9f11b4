"""Timelines: k.trace as Chrome trace-event JSON (kern/machine/timeline.py).

The files are checked against the Trace Event Format's rules (Google's
"Trace Event Format" document, which Perfetto and chrome://tracing read):
a JSON object with a ``traceEvents`` list; every event has a known phase
(``ph``) and the fields that phase needs; per track (pid, tid) the
timestamps never go back and every ``E`` closes the last open ``B``, with
nothing left open.  Then what the tracks say is checked against the run.
Runs that must show preemptions name the ``random`` strategy, so the file
also passes under ``--kemu-strategy=pct``.
"""

from __future__ import annotations

import io
import json
import os
import textwrap

import kern
from kern import KTHREAD_MUSTJOIN, PRI_BIO, kthread_create, kthread_join
from kern.errno import EAGAIN
from kern.machine.explore import run_scenario
from kern.machine.timeline import chrome_trace, machine_traces
from tests.pytest_child import run_pytest

from .sched_scenarios import BARE, lost_update

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# the phases of the format (duration, complete, instant, counter, async, flow,
# sample, object, metadata, memory dump, mark, clock sync, context)
PHASES = set("BEXiICbnesftPNODMVvRcT()") | {"S", "F"}
SCOPES = {"g", "p", "t"}
METADATA = {"process_name", "process_labels", "process_sort_index", "thread_name",
            "thread_sort_index"}


def check_trace_event_format(obj: dict) -> dict[tuple[int, int], list[dict]]:
    """Assert the format's rules; the events of each track, in order."""
    assert isinstance(obj, dict) and isinstance(obj.get("traceEvents"), list)
    assert obj.get("displayTimeUnit", "ms") in ("ms", "ns")
    tracks: dict[tuple[int, int], list[dict]] = {}
    last_ts: dict[tuple[int, int], float] = {}
    stacks: dict[tuple[int, int], list[str]] = {}
    named: set[tuple[int, int]] = set()
    for ev in obj["traceEvents"]:
        ph = ev.get("ph")
        assert ph in PHASES, ev
        assert isinstance(ev.get("pid"), int) and isinstance(ev.get("tid"), int), ev
        key = (ev["pid"], ev["tid"])
        if "args" in ev:
            assert isinstance(ev["args"], dict), ev
        if ph == "M":
            assert ev["name"] in METADATA and isinstance(ev["args"], dict), ev
            if ev["name"] == "thread_name":
                assert isinstance(ev["args"]["name"], str)
                named.add(key)
            continue
        ts = ev.get("ts")
        assert isinstance(ts, (int, float)) and ts >= 0, ev
        assert ts >= last_ts.get(key, 0), f"ts went back on track {key}: {ev}"
        last_ts[key] = ts
        tracks.setdefault(key, []).append(ev)
        stack = stacks.setdefault(key, [])
        if ph == "B":
            assert isinstance(ev.get("name"), str) and ev["name"], ev
            stack.append(ev["name"])
        elif ph == "E":
            assert stack, f"E without a B on track {key}: {ev}"
            stack.pop()
        elif ph in ("i", "I"):
            assert isinstance(ev.get("name"), str)
            assert ev.get("s", "t") in SCOPES, ev
    for key, stack in stacks.items():
        assert not stack, f"track {key} leaves {stack} open"
    for key in tracks:
        if key[1] != 0 or any(e["ph"] in "BE" for e in tracks[key]):
            assert key in named, f"track {key} has no thread_name"
    return tracks


def spans(track: list[dict]) -> list[tuple[str, dict, dict]]:
    """(name, B event, E event) of a track's spans, in order."""
    out = []
    open_: list[dict] = []
    for ev in track:
        if ev["ph"] == "B":
            open_.append(ev)
        elif ev["ph"] == "E":
            b = open_.pop()
            out.append((b["name"], b, ev))
    return out


def by_name(obj: dict) -> dict[str, tuple[int, int]]:
    """thread name -> track (the names are unique in these runs)."""
    return {e["args"]["name"]: (e["pid"], e["tid"]) for e in obj["traceEvents"]
            if e["ph"] == "M" and e["name"] == "thread_name"}


# --- a deadlock on two mutexes -----------------------------------------------------------

async def two_locks() -> None:
    """Two kernel threads take two mutexes in opposite orders (lockdebug off):
    with the right schedule, a deadlock."""
    from kern import IPL_NONE, MUTEX_DEFAULT, kmutex_t, mutex_enter, mutex_exit, mutex_init

    a, b = kmutex_t(), kmutex_t()
    mutex_init(a, MUTEX_DEFAULT, IPL_NONE)
    mutex_init(b, MUTEX_DEFAULT, IPL_NONE)

    def taker(first, second):
        async def run(_):
            await mutex_enter(first)
            await mutex_enter(second)
            mutex_exit(second)
            mutex_exit(first)
        return run

    ls = [kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, taker(x, y), None, name)[1]
          for x, y, name in ((a, b, "ab"), (b, a, "ba"))]
    for l in ls:
        await kthread_join(l)


def _deadlocked():
    for seed in range(50):
        r = run_scenario(two_locks, strategy="random", seed=seed,
                         boot={**BARE, "lockdebug": False})
        if r.failed:
            return r
    raise AssertionError("no deadlock in 50 seeds")


def test_a_deadlock_shows_each_lwp_waiting_for_the_lock_the_other_holds():
    r = _deadlocked()
    assert r.outcome.error == "Deadlock"
    obj = json.loads(json.dumps(r.trace.to_chrome()))  # JSON through and through
    tracks = check_trace_event_format(obj)
    names = by_name(obj)
    ab, ba = spans(tracks[names["ab"]]), spans(tracks[names["ba"]])
    # each ends waiting for the other's lock, the wait ended by the crash
    assert ab[-1][0] == 'mutex "b" held by "ba"'
    assert ba[-1][0] == 'mutex "a" held by "ab"'
    assert ab[-1][1]["cat"] == ba[-1][1]["cat"] == "lock"
    assert ab[-1][2]["args"] == ba[-1][2]["args"] == {"ended": "crash"}
    (crash,) = [e for e in obj["traceEvents"] if e.get("cat") == "crash"]
    assert crash["ph"] == "i" and crash["s"] == "g" and "deadlock" in crash["name"]
    assert crash["ts"] >= max(e["ts"] for e in obj["traceEvents"] if e["ph"] != "M")
    # both ran before waiting
    assert any(s[0] == "running" for s in ab) and any(s[0] == "running" for s in ba)


def test_one_lwp_runs_at_a_time_and_time_follows_the_virtual_clock():
    r = run_scenario(lost_update, strategy="random", seed=3, boot=BARE)
    obj = r.trace.to_chrome()
    tracks = check_trace_event_format(obj)
    running = sorted((b["ts"], e["ts"]) for t in tracks.values() for name, b, e in spans(t)
                     if name == "running")
    assert len(running) > 10
    for (_, end), (start, _) in zip(running, running[1:], strict=False):
        assert end <= start  # never two lwps on the CPU
    evs = [e for e in obj["traceEvents"] if e["ph"] != "M"]
    for e in evs:
        assert e["ts"] >= e["args"]["vt"] * 1e6 if "vt" in e.get("args", {}) else True
    # a distinct, increasing time for each trace event
    per_event = {}
    for e in evs:
        if "n" in e.get("args", {}):
            per_event[e["args"]["n"]] = e["ts"]
    ordered = [per_event[n] for n in sorted(per_event)]
    assert ordered == sorted(ordered) and len(set(ordered)) == len(ordered)


def test_sleeps_wakeups_and_preemptions():
    """kpause(1 tick) is a sleep span named after its wmesg, ended by a timeout
    after one virtual tick (10 ms); a preempted lwp is runnable meanwhile."""
    async def body():
        from kern import kpause
        from kern.kern_synch import preempt

        async def napper(_):
            await kpause("nap", False, 1, None)

        async def spinner(_):
            for _ in range(20):
                await preempt()

        ls = [kthread_create(PRI_BIO, KTHREAD_MUSTJOIN, None, f, None, name)[1]
              for f, name in ((napper, "napper"), (spinner, "spin1"), (spinner, "spin2"))]
        for l in ls:
            await kthread_join(l)

    r = run_scenario(body, strategy="random", seed=1, boot=BARE)
    obj = r.trace.to_chrome()
    tracks = check_trace_event_format(obj)
    names = by_name(obj)
    (nap,) = [s for s in spans(tracks[names["napper"]]) if s[0] == "nap"]
    assert nap[1]["cat"] == "sleep" and nap[2]["args"] == {"timed out": True}
    # it began at virtual time 0 (plus a few steps); the axis catches up with the
    # clock at the timeout, one tick (10 ms) later
    assert nap[1]["args"]["vt"] == 0 and nap[1]["ts"] < 100
    assert nap[2]["ts"] == 10_000
    spin = spans(tracks[names["spin1"]]) + spans(tracks[names["spin2"]])
    assert any(s[0] == "runnable" and "preempted by" in s[1]["args"] for s in spin)
    join = [s for s in spans(tracks[names["body"]]) if s[0] == "kthrwait"]
    assert join and all("woken by" in s[2]["args"] for s in join)
    # the joiner is woken by the lwp whose exit it waited for (not "the clock")
    assert {s[2]["args"]["woken by"] for s in join} <= {"spin1", "spin2", "napper"}


def test_an_lwp_the_halt_suspends_is_suspended_to_the_end_of_the_trace():
    """The "suspend" event (lwp_userret's LW_WSUSPEND after suspendsched) is a
    "suspended" span from there to the end of the trace: the lwp neither runs
    nor is runnable again."""
    from kern.kern_synch import suspendsched
    from tools.lib import libc

    state = {"spins": 0}

    async def computing() -> int:
        while True:
            await libc.getpid()
            state["spins"] += 1

    async def stopper(_):
        suspendsched()

    async def parent() -> int:
        pid = await libc.fork(computing)
        while state["spins"] < 5:
            await libc.getpid()
        kthread_create(PRI_BIO, 0, None, stopper, None, "stopper")
        return pid

    with kern.boot(seed=3) as k:
        pp = k.proc_create("parent", k.initproc)
        pid = k.run(parent, proc=pp)
        k.run(libc.getpid)    # once the machine is idle again
        obj = k.trace.to_chrome()
    tracks = check_trace_event_format(obj)
    # (the forked child is named "parent" too: its track is found by pid)
    (track,) = [t for key, t in tracks.items() if key[0] == pid and key[1] != 0]
    assert track[-2]["ph"] == "B" and track[-2]["name"] == "suspended"
    assert track[-2]["cat"] == "suspended"
    assert track[-1]["args"] == {"ended": "end of trace"}
    assert [s[0] for s in spans(track)][-2:] == ["running", "suspended"]


def test_faults_are_instant_events_on_their_lwp():
    async def body():
        m = kern.curmachine()
        with m.faults.inject("kthread_create", error=EAGAIN, fail_nth=1):
            error, _ = kthread_create(PRI_BIO, 0, None, _nothing, None, "t")
        return error

    with kern.boot(seed=0, config="BARE") as k:
        assert k.run(body, name="tester") == EAGAIN
    obj = k.trace.to_chrome()
    tracks = check_trace_event_format(obj)
    (fault,) = [e for t in tracks.values() for e in t if e.get("cat") == "fault"]
    assert fault["ph"] == "i" and fault["s"] == "t"
    assert fault["name"] == "fault kthread_create EAGAIN"
    assert (fault["pid"], fault["tid"]) == by_name(obj)["tester"]
    procs = {e["pid"]: e["args"]["name"] for e in obj["traceEvents"]
             if e["ph"] == "M" and e["name"] == "process_name"}
    assert procs[0] == "system (pid 0)" and procs[1] == "init (pid 1)"


async def _nothing(_):
    pass


def test_several_machines_in_one_file():
    rs = [run_scenario(lost_update, strategy="random", seed=s, boot=BARE, keep_machine=True)
          for s in (1, 2)]
    obj = chrome_trace(machine_traces([r.machine for r in rs]))
    tracks = check_trace_event_format(obj)
    pids = {k[0] for k in tracks}
    assert {p // 1_000_000 for p in pids} == {0, 1}
    names = [e["args"]["name"] for e in obj["traceEvents"]
             if e["ph"] == "M" and e["name"] == "process_name"]
    assert any(n.startswith("machine 1 (random(seed=1))") for n in names)
    assert any(n.startswith("machine 2 (random(seed=2))") for n in names)


# --- the commands -------------------------------------------------------------------------

def test_kemu_run_writes_the_timeline(tmp_path):
    from tools.kemu import main

    script = tmp_path / "s.kemu"
    script.write_text("mkdir /tmp/d\necho hi > /tmp/d/f\ncat /tmp/d/f\n")
    out = tmp_path / "sub" / "run.json"
    o, e = io.StringIO(), io.StringIO()
    assert main(["run", "--trace", str(out), str(script)], stdout=o, stderr=e) == 0, \
        e.getvalue()
    assert o.getvalue() == "hi\n"
    obj = json.loads(out.read_text())
    check_trace_event_format(obj)
    procs = {ev["args"]["name"] for ev in obj["traceEvents"]
             if ev["ph"] == "M" and ev["name"] == "process_name"}
    assert any(p.startswith("cat (pid") for p in procs), procs
    assert e.getvalue() == ""
    bad = io.StringIO()  # the script ran, the timeline cannot be written: status 1
    assert main(["run", "--trace", str(script / "x.json"), str(script)],
                stdout=io.StringIO(), stderr=bad) == 1
    assert bad.getvalue().startswith(f"kemu: --trace {script / 'x.json'}: ")


FAILING = textwrap.dedent("""
    import kern
    from tests.kern.sched_scenarios import lost_update

    def test_fails():
        with kern.boot(seed={seed}, config="BARE") as k:
            k.run(lost_update)

    def test_passes():
        with kern.boot(seed=0, config="BARE") as k:
            k.run(lost_update, 1, 1)
""")


def test_pytest_trace_dir_writes_one_file_per_failing_test(tmp_path):
    seed = next(s for s in range(200)
                if run_scenario(lost_update, seed=s, boot=BARE).failed)
    (tmp_path / "test_case.py").write_text(FAILING.format(seed=seed))
    tdir = tmp_path / "timelines"
    env = dict(os.environ, PYTHONPATH=REPO)
    out = run_pytest(tmp_path, "-q", "test_case.py", f"--kemu-trace-dir={tdir}", env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    files = sorted(os.listdir(tdir))
    assert files == ["test_case.py__test_fails.json"]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("timeline: "))
    assert line == f"timeline: {tdir / files[0]}"
    obj = json.loads((tdir / files[0]).read_text())
    check_trace_event_format(obj)
    crash = [e for e in obj["traceEvents"] if e.get("cat") == "crash"]
    assert crash and "assertion" in crash[0]["name"]
