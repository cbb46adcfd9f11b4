"""tests/conftest.py's order for ``--dist loadfile``: costliest files first."""

from pathlib import Path

from tests.conftest import FILE_COST, PER_TEST, file_cost

ROOT = Path(__file__).resolve().parents[1]


def test_every_costed_file_exists():
    # a renamed or removed file would silently go back to PER_TEST a test
    missing = [f for f in FILE_COST if not (ROOT / f).is_file()]
    assert not missing, missing


def test_a_file_not_listed_costs_per_test():
    assert file_cost("tests/docs/test_docs.py", 1) == FILE_COST["tests/docs/test_docs.py"]
    assert file_cost("tests/nosuch.py", 40) == 40 * PER_TEST


def test_the_installed_xdist_still_calls_the_overridden_method():
    # conftest's CostFirst overrides a private method of pytest-xdist's
    # LoadFileScheduling and reorders its workqueue (an OrderedDict): were the
    # method renamed, the override would never run and the order silently go
    # back to xdist's own (no crash, no test failure but this one).
    import inspect

    import pytest

    sched = pytest.importorskip("xdist.scheduler")
    cls = sched.LoadFileScheduling
    src = "".join(inspect.getsource(c) for c in cls.__mro__ if c.__module__.startswith("xdist"))
    assert "self._assign_work_unit(node)" in src
    assert "self.workqueue.popitem(last=False)" in inspect.getsource(cls._assign_work_unit)


class _Config:
    """What pytest-xdist's LoadFileScheduling reads of a config, two workers."""

    def getoption(self, name: str) -> str:
        assert name == "dist"
        return "loadfile"

    def getvalue(self, name: str) -> list[str]:
        assert name == "tx"
        return ["2*popen"]


class _Worker:
    def __init__(self) -> None:
        self.sent: list[list[int]] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.append(indexes)


def test_the_costliest_file_left_is_handed_out_first():
    # a listed file beats a longer unlisted one; unlisted ones go by their
    # number of tests; a file handed out leaves the queue
    import pytest

    pytest.importorskip("xdist.scheduler")
    from tests.conftest import pytest_xdist_make_scheduler

    sched = pytest_xdist_make_scheduler(_Config(), None)
    slow = "tests/kern/test_halt.py"
    files = {"tests/a.py": 3, slow: 1, "tests/b.py": 60, "tests/c.py": 2}
    assert FILE_COST[slow] > 60 * PER_TEST
    ids = [f"{f}::t{i}" for f, n in files.items() for i in range(n)]
    for f, n in files.items():
        sched.workqueue[f] = {f"{f}::t{i}": False for i in range(n)}
    w = _Worker()
    sched.registered_collections[w] = ids
    for _ in files:
        sched._assign_work_unit(w)
    order = [ids[s[0]].split("::")[0] for s in w.sent]
    assert order == [slow, "tests/b.py", "tests/a.py", "tests/c.py"]
    assert not sched.workqueue
