"""kemu's version: the one place it is written.

pyproject.toml reads it for the package's metadata (``[tool.setuptools.dynamic]``),
and the kernel's version string (kern/init_sysctl_base.py) reads it from here,
so a boot need not import importlib.metadata (~25 ms of a fresh process's CPU).
"""

__version__ = "0.1.0"
