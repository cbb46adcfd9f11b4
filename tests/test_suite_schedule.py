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
