"""Hypothesis strategies for kemu tests, and a machine per example.

Needs hypothesis (``pip install -e '.[test]'`` installs it)::

    from hypothesis import given
    from kern.machine.hypothesis import booted, fault_plans, fss_set_args, seeds

    @given(seed=seeds(), args=fss_set_args())
    def test_fss_set_never_panics(seed, args, tmp_path_factory):
        with booted(seed) as k:
            ...

* :func:`seeds` -- machine seeds;
* :func:`fault_plans` -- kern.subr_fault.FaultPlan values over declared sites
  (a given list, or every site), whose text form parses back;
* :func:`fss_set_args` -- the fields of struct fss_set for FSSIOCSET (mount
  and backing-store paths, good and bad; cluster sizes; flags, known and
  unknown bits), as keywords of kern.machine.testing.fss_set_ioctl;
* :func:`puffs_mount_args` -- the arguments of a puffs mount (struct
  puffs_kargs' flags, maxreqlen, fhsize, fhflags, nhashbuckets, the name),
  as keywords of PuffsServer/kern.machine.testing.mount_memfs;
* :func:`booted` -- ``with booted(seed) as k``: a machine for one example,
  halted at the end of it (never a function-scoped fixture shared by the
  examples, which hypothesis' health check refuses).  When the example
  fails, hypothesis prints the machine's seed with it; the plugin's "kemu"
  section lists only that example's machines, and the line that reruns it
  (``--hypothesis-seed``, or with ``settings(print_blob=True)`` the
  ``@reproduce_failure`` decorator that replays that one example).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

try:
    from hypothesis import note
    from hypothesis import strategies as st
except ImportError as e:  # pragma: no cover - the test extra installs it
    raise ImportError("kern.machine.hypothesis needs hypothesis: pip install 'kemu[test]' "
                      "(or pip install hypothesis)") from e

from kern.machine import machine as _machine


def seeds(max_value: int = 2**32 - 1) -> st.SearchStrategy[int]:
    """Machine seeds (shrink towards 0)."""
    return st.integers(min_value=0, max_value=max_value)


_ERRNOS = ("EIO", "ENOSPC", "ENOMEM", "EAGAIN", "EFAULT", "ENXIO", "EROFS")


@st.composite
def fault_specs(draw: Any, sites: Sequence[str] | None = None) -> Any:
    """One FaultSpec on one of ``sites`` (default: every declared site)."""
    import kern.errno
    from kern.subr_fault import FaultSpec, load_fault_sites

    names = sorted(sites if sites is not None else load_fault_sites())
    site = draw(st.sampled_from(names))
    s = load_fault_sites()[site]
    kw: dict[str, Any] = {"error": getattr(kern.errno, draw(st.sampled_from(_ERRNOS)))}
    mode = draw(st.sampled_from(("always", "nth", "fail_nth", "prob")))
    if mode == "nth":
        kw["nth"] = draw(st.integers(2, 16))
    elif mode == "fail_nth":
        kw["fail_nth"] = draw(st.integers(1, 32))
    elif mode == "prob":
        kw["probability"] = draw(st.sampled_from((0.01, 0.05, 0.1, 0.25, 0.5)))
        kw["seed"] = draw(st.integers(0, 2**16))
    if draw(st.booleans()):
        kw["space"] = draw(st.integers(0, 8))
    if draw(st.booleans()):
        kw["times"] = draw(st.integers(1, 4))
    if s.scope == "dev" and draw(st.booleans()):
        kw["dev"] = draw(st.sampled_from(("wd0", "rwd0", "wd1")))
    extra = []
    if "ticks" in s.knobs and draw(st.booleans()):
        extra.append(("ticks", draw(st.integers(1, 20))))
    if "done" in s.knobs and draw(st.booleans()):
        extra.append(("done", draw(st.sampled_from((0, 512, 1024, 4096)))))
    return FaultSpec(site, extra=tuple(extra), **kw)


def fault_plans(sites: Sequence[str] | None = None, max_faults: int = 3) -> Any:
    """FaultPlan values of 0..``max_faults`` faults on ``sites`` (default: every site)."""
    from kern.subr_fault import FaultPlan

    return st.lists(fault_specs(sites), max_size=max_faults).map(FaultPlan)


FSS_PATHS = ("/mnt", "/mnt/", "/", "/tmp", "/tmp/store", "/mnt/inside", "/nonexistent",
          "/dev/rfss0", "/dev/wd0", "", "relative", "/mnt/" + "x" * 300, "/tmp/../mnt")


def fss_set_args(mounts: Sequence[str] = FSS_PATHS, bstores: Sequence[str] = FSS_PATHS) -> Any:
    """Keywords of kern.machine.testing.fss_set_ioctl: ``mount``, ``bstore`` (paths, or
    0 for a NULL pointer), ``csize`` and ``flags`` (FSS_UNCONFIG_ON_CLOSE,
    FSS_UNLINK_ON_CREATE, and bits fss does not know)."""
    from dev.fss.fssvar import FSS_UNCONFIG_ON_CLOSE, FSS_UNLINK_ON_CREATE

    known = st.sampled_from((0, FSS_UNCONFIG_ON_CLOSE, FSS_UNLINK_ON_CREATE,
                             FSS_UNCONFIG_ON_CLOSE | FSS_UNLINK_ON_CREATE))
    return st.fixed_dictionaries({
        "mount": st.sampled_from(mounts) | st.just(0),
        "bstore": st.sampled_from(bstores) | st.just(0),
        "csize": st.sampled_from((0, 512, 1024, 4096, 65536, 1 << 20)) |
        st.integers(-2**31, 2**31 - 1),
        "flags": known | st.integers(-2**31, 2**31 - 1),
    })


def puffs_mount_args() -> Any:
    """Keywords of PuffsServer (and kern.machine.testing.mount_memfs): struct
    puffs_kargs' ``flags`` (PUFFS_KFLAG_* and unknown bits), ``maxreqlen``,
    ``fhsize``, ``fhflags``, ``nhashbuckets``, and the server's ``name``."""
    from fs.puffs.puffs_msgif_h import PUFFS_KFLAG_MASK

    return st.fixed_dictionaries({
        "name": st.sampled_from(("memfs", "m", "x" * 40)),
        "flags": st.integers(0, PUFFS_KFLAG_MASK) | st.integers(0, 2**32 - 1),
        "maxreqlen": st.sampled_from((0, 64, 4096, 65536, 1 << 20)),
        "fhsize": st.sampled_from((0, 8, 24, 64, 128, 129)),
        "fhflags": st.integers(0, 7),
        "nhashbuckets": st.sampled_from((0, 1, 7, 256, 1 << 16)),
    })


@contextlib.contextmanager
def booted(seed: int | None = None, **boot_kw: Any) -> Iterator[_machine.Machine]:
    """A booted machine (sync face) for one hypothesis example, halted at its end.

    The plugin forgets the machines of the examples that ran before (they
    passed, or hypothesis is shrinking), so a failure report names this
    example's machine; hypothesis prints its seed with the failing example.
    """
    from kern.machine import plugin

    plugin.forget_machines()
    with _machine.boot(seed=seed, **boot_kw) as k:
        note(f"kemu: machine seed {k.seed}")
        yield k
