"""kern/__init__.py re-exports the kernel's primitives and imports them at first use:
a process that imports only headers (kern.errno, kern.fcntl) or the sibling
packages' __init__ (which import kern._layout) does not load the kernel core."""

from __future__ import annotations

import os
import subprocess
import sys

import kern

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

_LEAN = """
import sys
import kern.errno, kern.fcntl, vfs, dev, fs, tools
print(sorted(m for m in ("trio", "kern.kern_synch", "kern.machine.machine", "kern.cpu")
             if m in sys.modules))
import kern
print(kern.ENXIO, kern.strerror(kern.ENXIO))
from kern import mutex_enter, KASSERT
print(mutex_enter.__module__, KASSERT.__module__, kern.kern_synch.__name__,
      "trio" in sys.modules)
"""


def test_headers_and_packages_load_no_kernel():
    p = subprocess.run([sys.executable, "-c", _LEAN], capture_output=True, text=True, cwd=ROOT,
                       env={**os.environ, "PYTHONPATH": ROOT}, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == [
        "[]",
        "6 Device not configured",
        "kern.kern_mutex kern.subr_prf kern.kern_synch True",
    ]


def test_the_reexported_names_are_their_modules_objects():
    from kern import kern_mutex, machine, subr_prf

    assert kern.mutex_enter is kern_mutex.mutex_enter
    assert kern.boot is machine.machine.boot
    assert kern.panic is subr_prf.panic
    assert {"boot", "mutex_enter", "cv_wait", "ENXIO", "SyscallError"} <= set(kern.__all__)
    assert {"boot", "mutex_enter"} <= set(dir(kern))
    ns: dict = {}
    exec("from kern import *", ns)
    assert ns["kmutex_t"] is kern_mutex.kmutex_t and ns["EIO"] == 5


def test_an_unknown_name_is_an_attribute_error():
    assert not hasattr(kern, "no_such_name")
    try:
        kern.no_such_name  # noqa: B018
    except AttributeError as e:
        assert str(e) == "module 'kern' has no attribute 'no_such_name'"
    else:
        raise AssertionError("kern.no_such_name resolved")
