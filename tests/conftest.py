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
    import sys

    fs = sys.modules.get("tools.lib.forkserver")
    if fs is not None:
        fs.shutdown(wait=10.0)


@pytest.fixture
def pytester(pytester, monkeypatch):
    """pytest's pytester, whose ``runpytest_subprocess`` (and ``run`` of this
    Python) forks the pytest process from a fork server that has imported
    pytest, trio and kemu (tools/lib/forkserver.py) instead of starting a fresh
    interpreter: the same command line, environment (pytester adds the working
    directory to PYTHONPATH), descriptors and exit status."""
    import os
    import subprocess
    import sys

    from tools.lib import forkserver

    real = pytester.popen

    def popen(cmdargs, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
              stdin=pytester.CLOSE_STDIN, **kw):
        args = [os.fspath(a) for a in cmdargs]
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
