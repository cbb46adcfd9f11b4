"""The pytest plugin as a user meets it: from a project outside this repository."""

from __future__ import annotations

import os
import re
import shlex
import textwrap

from tests.pytest_child import run_pytest

USER_TEST = textwrap.dedent('''
    import asyncio

    import pytest

    from kern.machine import testing as kt
    from lib import VALUE   # the project's own lib/, not kemu's


    def test_own_lib_wins():
        assert VALUE == "mine"


    def test_snapshot_keeps_the_old_contents(ext2_mount, ext2_snapshot):
        async def body():
            await kt.write_file("/mnt/f", b"new")
            return await ext2_snapshot.read()

        before = ext2_mount.image.read_bytes()
        assert ext2_mount.run(body) == before


    def test_memfs_counts_requests(kernel, memfs_mount):
        kernel.run(kt.write_file, "/mnt/f", b"hello")
        assert kernel.run(kt.read_file, "/mnt/f") == b"hello"
        assert memfs_mount.counters()["WRITE"] >= 1


    @pytest.mark.kemu
    async def test_kemu_async(kemu_seed):
        import kern
        async with kern.boot(seed=kemu_seed) as k:
            await k.run(kt.write_file, "/tmp/f", b"x")
            assert await k.run(kt.read_file, "/tmp/f") == b"x"


    async def test_plain_asyncio():
        await asyncio.sleep(0)
''')

CONFTEST = 'import pytest\n\n@pytest.fixture\ndef project_name():\n    return "user"\n'

FAILING = textwrap.dedent('''
    import pytest

    import kern
    from kern.machine.testing import sweep
    from tools.lib import libc


    @pytest.mark.parametrize("seed", sweep(3))
    def test_sweep(seed):
        with kern.boot(seed=seed):
            assert seed != 1


    def test_eexist(kernel):
        kernel.run(libc.mkdir, "/tmp", 0o755)


    def test_faults_in_report(kernel):
        async def body():
            return await libc.open("/dev/null", 0)
        kernel.run(body)
        assert False
''')


def _plain(out: str) -> str:
    """pytest's output without timings."""
    return re.sub(r" in [0-9.]+s", "", out)


def test_a_project_outside_uses_the_installed_fixtures(tmp_path):
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "__init__.py").write_text('VALUE = "mine"\n')
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_user.py").write_text(USER_TEST)
    r = run_pytest(tmp_path, "-q", "-rA", "test_user.py")
    out = r.stdout
    for name in ("test_own_lib_wins", "test_snapshot_keeps_the_old_contents",
                 "test_memfs_counts_requests", "test_kemu_async"):
        assert f"PASSED test_user.py::{name}" in out, out + r.stderr
    # The plain asyncio test is pytest's, reported as pytest reports it without kemu.
    assert "FAILED test_user.py::test_plain_asyncio" in out
    (tmp_path / "test_plain.py").write_text(
        "import asyncio\n\n\nasync def test_plain_asyncio():\n    await asyncio.sleep(0)\n")
    alone = run_pytest(tmp_path, "-q", "test_plain.py")
    without = run_pytest(tmp_path, "-q", "-p", "no:kemu", "test_plain.py")
    assert "async def functions are not natively supported" in alone.stdout
    assert _plain(alone.stdout) == _plain(without.stdout)
    assert alone.returncode == without.returncode


def test_reports_rerun_lines_faults_and_hide_kernel_frames(tmp_path):
    (tmp_path / "test_fail.py").write_text(FAILING)
    r = run_pytest(tmp_path, "-q", "--kemu-sweep=3",
                "--kemu-faults=fd_allocfile:fail_nth=1:error=ENFILE", "test_fail.py")
    out = r.stdout
    assert "3 failed, 2 passed" in out, out + r.stderr
    # a sweep item is re-run as parametrised, with the sweep option
    assert ("re-run: pytest 'test_fail.py::test_sweep[1]' --kemu-sweep=3 "
            "--kemu-faults=fd_allocfile:fail_nth=1:error=ENFILE --kemu-seed=1") in out
    # the plan is armed in every machine and shown with what fired
    assert "faults armed: fd_allocfile:fail_nth=1:error=ENFILE" in out
    assert "faults fired: 1: fd_allocfile: ENFILE in body (call 1)" in out
    # an errno from deep in the kernel: the traceback ends in libc, no kernel frames
    section = out[out.index("test_eexist"):out.index("test_faults_in_report")]
    assert "SyscallError: mkdir: File exists (EEXIST)" in section
    assert "kern/syscall.py" not in section and "machine.py" not in section
    full = run_pytest(tmp_path, "-q", "--kemu-full-trace", "test_fail.py::test_eexist")
    assert "kern/syscall.py" in full.stdout
    bad = run_pytest(tmp_path, "-q", "--kemu-faults=VOP_WIRTE", "test_fail.py")
    assert bad.returncode == 4
    assert "did you mean VOP_WRITE" in bad.stderr


def test_no_machine_outlives_its_test(tmp_path):
    """Neither a passing nor a failing test leaves its machine behind (a failing
    one's report, traceback and "kemu" section included), nor one that crashed."""
    (tmp_path / "test_gc.py").write_text(textwrap.dedent('''
        import gc
        import pytest
        from kern.machine.machine import Machine
        from kern.subr_prf import panic

        @pytest.mark.parametrize("n", range(6))
        def test_boot(kernel, n):
            assert kernel.state == "running"
            assert n % 2 == 0, "the odd ones fail"

        def test_crash(kernel):
            async def crash():
                panic("on purpose")
            kernel.run(crash)

        def test_none_left():
            gc.collect()
            assert [o for o in gc.get_objects() if isinstance(o, Machine)] == []
    '''))
    r = run_pytest(tmp_path, "-q", "test_gc.py")
    assert "4 failed, 4 passed" in r.stdout, r.stdout + r.stderr
    assert "PASSED" not in r.stdout and "FAILED test_gc.py::test_none_left" not in r.stdout
    assert r.stdout.count("machine seed 0 (") == 4      # the failures' reports were made


# ------------------------------------------------------------------ hypothesis

HYPOTHESIS_FAILING = textwrap.dedent('''
    from hypothesis import given, settings, strategies as st

    from kern.machine import testing as kt
    from kern.machine.hypothesis import booted, seeds


    @settings(max_examples=200, database=None, derandomize=False, deadline=None,
              print_blob=PRINT_BLOB)
    @given(seed=seeds(max_value=50), n=st.integers(0, 64))
    def test_writes(seed, n):
        with open("examples.txt", "a") as f:
            f.write(f"{seed} {n}\\n")
        with booted(seed) as k:
            k.run(kt.write_file, "/tmp/f", b"x" * n)
            assert not (n >= 10 and seed % 7 == 3), "a seed-dependent failure"
''')


def _kemu_section(out: str) -> list[str]:
    """The lines of the (first) "kemu" report section."""
    lines = out[out.index(" kemu ---"):].splitlines()[1:]
    return lines[:next(i for i, ln in enumerate(lines) if ln.startswith(("===", "___")))]


def _examples(pytester) -> list[str]:
    path = pytester.path / "examples.txt"
    lines = path.read_text().splitlines()
    path.unlink()
    return lines


def test_a_failing_hypothesis_example_is_rerun_by_its_seed(pytester):
    """Without print_blob, the re-run line carries the --hypothesis-seed hypothesis
    drew: running it draws the very same examples, and fails on the same one
    with the same machine seed.  (It used to say --kemu-seed=S, which replays
    nothing: booted(seed) takes hypothesis' seed.)"""
    pytester.makepyfile(test_h=HYPOTHESIS_FAILING.replace("PRINT_BLOB", "False"))
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    out = r.stdout.str()
    assert r.ret == 1, out
    first = _examples(pytester)
    seed = first[-1].split()[0]                          # hypothesis replays the failure last
    # hypothesis' constants came from the checkout's cache (tests/conftest.py)
    assert (pytester.path / ".hypothesis" / "constants").is_symlink()
    section = _kemu_section(out)
    assert section[0] == f"machine seed {seed} (halted)"  # the failing example's only
    assert int(seed) % 7 == 3
    rerun = next(ln for ln in section if ln.startswith("re-run: "))
    assert re.fullmatch(r"re-run: pytest test_h\.py::test_writes --hypothesis-seed=\d+", rerun)
    assert "--kemu-seed" not in out
    assert f"kemu: machine seed {seed}" in out           # hypothesis' note, with the example
    again = pytester.runpytest_subprocess("-p", "no:cacheprovider",
                                          *shlex.split(rerun)[2:])
    assert again.ret == 1
    assert _examples(pytester) == first                  # the same examples, in order
    assert _kemu_section(again.stdout.str())[0] == f"machine seed {seed} (halted)"


def test_a_failing_hypothesis_example_is_replayed_by_its_blob(pytester):
    """With print_blob, the report also gives the @reproduce_failure decorator:
    added to the test, it runs that one example and nothing else."""
    pytester.makepyfile(test_h=HYPOTHESIS_FAILING.replace("PRINT_BLOB", "True"))
    r = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    out = r.stdout.str()
    assert r.ret == 1, out
    failing = _examples(pytester)[-1]                    # hypothesis replays it last
    seed = failing.split()[0]
    section = _kemu_section(out)
    line = next(ln for ln in section if ln.startswith("re-run this example only: "))
    m = re.fullmatch(r"re-run this example only: add (@reproduce_failure\(.*\)) to "
                     r"test_writes, then the line above", line)
    assert m, line
    test = pytester.path / "test_h.py"
    test.write_text(test.read_text().replace(
        "@settings(", f"from hypothesis import reproduce_failure\n\n\n{m.group(1)}\n@settings("))
    again = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert again.ret == 1, again.stdout.str()
    assert _examples(pytester) == [failing]              # exactly that example
    assert _kemu_section(again.stdout.str())[0] == f"machine seed {seed} (halted)"


# ------------------------------------------------------------------ hypothesis' constants

#: A module of the project (hypothesis draws from the constants of local modules,
#: not of test files) and a test that writes down what hypothesis drew.
LOCAL_MODULE = "MAGIC = 982451653\n"
CONSTANTS = textwrap.dedent('''
    from hypothesis import given, settings, strategies as st

    import magic_numbers  # noqa: F401 - its constants are drawn from


    @settings(derandomize=True, database=None, max_examples=100)
    @given(st.integers())
    def test_draws(n):
        with open("drawn.txt", "a") as f:
            f.write(f"{n}\\n")
''')


def test_a_child_draws_from_the_checkouts_cache_of_hypothesis_constants(tmp_path):
    """A pytest child in a fresh directory reads hypothesis' constants from the
    checkout's cache (tests/pytest_child.share_hypothesis_constants), and draws
    the very examples it draws with a cache of its own (the same constants:
    the cache is keyed by the source's hash); a local module's constants go
    to the checkout's cache."""
    import hashlib

    from tests.pytest_child import ROOT

    shared, own = tmp_path / "shared", tmp_path / "own"
    for d in (shared, own):
        d.mkdir()
        (d / "magic_numbers.py").write_text(LOCAL_MODULE)
        (d / "test_c.py").write_text(CONSTANTS)
    (own / ".hypothesis" / "constants").mkdir(parents=True)   # its own: kept
    for d in (shared, own):
        r = run_pytest(d, "-q", "test_c.py", env=dict(os.environ, PYTHONPATH=str(d)))
        assert r.returncode == 0, r.stdout + r.stderr
    cache = ROOT / ".hypothesis" / "constants"
    link = shared / ".hypothesis" / "constants"
    assert link.is_symlink() and link.resolve() == cache.resolve()
    assert not (own / ".hypothesis" / "constants").is_symlink()
    key = hashlib.sha1(LOCAL_MODULE.encode()).hexdigest()[:16]
    assert (cache / key).is_file() and (own / ".hypothesis" / "constants" / key).is_file()
    drawn = [(d / "drawn.txt").read_text().split() for d in (shared, own)]
    assert drawn[0] == drawn[1] and len(drawn[0]) >= 100
    assert "982451653" in (cache / key).read_text()
