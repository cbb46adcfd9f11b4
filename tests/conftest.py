"""Shared test configuration: the kemu plugin is loaded through its entry point.

The suite's hypothesis tests run derandomized and without the example
database, so every run of the suite draws the same examples (kemu's promise:
every run reproducible); ``pytest --hypothesis-profile=explore`` searches
afresh with the database, as hypothesis does by default.  Both print the
``@reproduce_failure`` decorator of a failing example (the kemu plugin shows
it in its re-run lines).  The suite's profile leaves out the too_slow health
check, which times example generation and so depends on the machine's load.
"""

import pytest
from hypothesis import HealthCheck, settings

# Imported with this file, before any test: pytester restores sys.modules after
# each test, so a fork server client first imported in one (the pytester fixture
# below) was dropped with its fork servers, which pytest_unconfigure then did
# not reap (their children's CPU missed RUSAGE_CHILDREN).
from tools.lib import forkserver

# too_slow measures the machine, not the test: on a shared, loaded machine (CI)
# it fails a test whose examples are the same on every run.
settings.register_profile("suite", derandomize=True, database=None, print_blob=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("explore", settings.get_profile("default"), print_blob=True)
settings.load_profile("suite")


@pytest.fixture
def unmounts(monkeypatch) -> list:
    """Every dounmount of the machines the test runs, as (mount point, forced, errno)."""
    import vfs.vfs_mount
    from vfs.mount import MNT_FORCE

    seen: list = []
    real = vfs.vfs_mount.dounmount

    async def spy(mp, flags, l):
        on = bytes(mp.mnt_stat.f_mntonname).decode()
        error = await real(mp, flags, l)
        seen.append((on, bool(flags & MNT_FORCE), error))
        return error

    monkeypatch.setattr(vfs.vfs_mount, "dounmount", spy)
    return seen


@pytest.fixture
def sigint_raises():
    """Python's own SIGINT handler for the test, as a terminal's session gives it:
    a runner started with SIGINT ignored (``cmd &`` in a script, ``nohup``) passes
    that on, and then the Ctrl-C a test makes (``_thread.interrupt_main()``,
    ``signal.raise_signal``) does nothing: kemu keeps an ignored SIGINT ignored,
    and a machine waiting for it runs on until pytest-timeout (a minute of CPU).

    Afterwards SIGINT's disposition is the one before, the OS's action exactly
    (tests/host_signals.py: a handler set outside Python, which
    ``signal.getsignal`` gives as None, too)."""
    from tests.host_signals import python_sigint

    with python_sigint():
        yield


def pytest_unconfigure(config) -> None:
    """Reap this process's fork servers (tools/lib/forkserver.py: the puffs servers'
    and the Python children's of the tests), so their children's CPU time counts
    in this process's RUSAGE_CHILDREN (benchmarks/bench_suite.py), as when each
    was its own child."""
    forkserver.shutdown(wait=10.0)


@pytest.fixture
def pytester(pytester, monkeypatch):
    """pytest's pytester, whose ``runpytest_subprocess`` (and ``run`` of this
    Python) forks the pytest process from a fork server that has imported
    pytest, trio and kemu (tools/lib/forkserver.py) instead of starting a fresh
    interpreter: the same command line, environment (pytester adds the working
    directory to PYTHONPATH), descriptors and exit status.  Its directory gets
    the checkout's hypothesis constants (tests/pytest_child.py's
    ``share_hypothesis_constants``) for the Python children run there."""
    import os
    import subprocess
    import sys

    from tests.pytest_child import share_hypothesis_constants

    real = pytester.popen

    def popen(cmdargs, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              stdin=pytester.CLOSE_STDIN, **kw):
        args = [os.fspath(a) for a in cmdargs]
        if args[0] == sys.executable:
            share_hypothesis_constants(kw.get("cwd") or os.getcwd())
        if args[0] != sys.executable or kw or not (stdin is pytester.CLOSE_STDIN
                                                   or isinstance(stdin, bytes)):
            return real(cmdargs, stdout=stdout, stderr=stderr, stdin=stdin, **kw)
        env = os.environ.copy()
        env["PYTHONPATH"] = os.pathsep.join(
            filter(None, [os.getcwd(), env.get("PYTHONPATH", "")]))
        p = forkserver.popen(args[1:], stdin=subprocess.PIPE, stdout=stdout, stderr=stderr,
                             env=env)
        if isinstance(stdin, bytes):
            p.stdin.write(stdin)
        else:
            p.stdin.close()
        return p

    monkeypatch.setattr(pytester, "popen", popen)
    return pytester


#: Seconds of wall time of the files that take longest, from a whole-suite run
#: (`CI=true pytest -q -n auto --dist loadfile`, 2 workers, load ~5, 2026-12-07);
#: a file not listed counts PER_TEST a test.  Only the order of the figures (among
#: themselves and against the unlisted files' PER_TEST a test) matters: a stale
#: figure costs balance, never a test.
FILE_COST = {
    "tests/docs/test_docs.py": 85, "tests/tools/test_kemu.py": 25,
    "tests/benchmarks/test_smoke.py": 24, "tests/kern/test_campaign.py": 23,
    "tests/kern/test_plugin.py": 21, "tests/tools/test_shell_pty.py": 21,
    "tests/tools/test_kemu_halt.py": 14, "tests/tools/test_forkserver.py": 14,
    "tests/fs/vfs/test_t_vnops.py": 14, "tests/kern/test_halt.py": 14,
    "tests/kern/test_sched.py": 14, "tests/fs/vfs/test_badinput.py": 13,
    "tests/fs/ext2fs/test_ext2fs_random.py": 8, "tests/fs/ext2fs/test_ext2fs_rw.py": 7,
    "tests/fs/vfs/test_getcwd.py": 6, "tests/kern/test_race.py": 5,
    "tests/kern/test_sweep_xdist.py": 5, "tests/tools/test_cmds_daily.py": 5,
    "tests/fs/puffs/test_fuzz.py": 4.5, "tests/dev/fss/test_campaign.py": 4.4,
    "tests/dev/fss/test_defect_b7.py": 4, "tests/kern/test_harness.py": 4,
    "tests/tools/test_seedcov.py": 3.4,
}
PER_TEST = 0.05


def file_cost(scope: str, ntests: int) -> float:
    """A test file's expected wall time (FILE_COST, or PER_TEST a test)."""
    return FILE_COST.get(scope, PER_TEST * ntests)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """``--dist loadfile`` hands out the costliest file left first (FILE_COST).

    pytest-xdist's own order is by number of tests, so the files of a few slow
    tests (a pytest run in a child, the benchmarks' smoke runs, seedcov) came
    last and one worker ran the last of them while the other had ended (4-8 s
    at the end of a run on 2 workers).  Longest first, the end is made of short
    files.  Which worker runs a file, and when, is all that changes."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class CostFirst(LoadFileScheduling):
        def _assign_work_unit(self, node) -> None:
            scope = max(self.workqueue,
                        key=lambda s: file_cost(s, len(self.workqueue[s])))
            self.workqueue.move_to_end(scope, last=False)
            super()._assign_work_unit(node)

    return CostFirst(config, log)
