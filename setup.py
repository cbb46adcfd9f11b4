"""Build glue for kemu's optional C extension; the metadata is in pyproject.toml.

``cffi_modules`` compiles kern/native/_build.py:ffibuilder into
kern.native._bitops, the native helper (see kern/native/__init__.py).  The
extension is an accelerator only: when it cannot be compiled (no C compiler,
no Python headers, ...) the build prints a warning and kemu installs without
it, running on the pure-Python twin (kern/native/twin.py).

Set KEMU_REQUIRE_NATIVE=1 (or CIBUILDWHEEL=1, as wheel builders do) to make a
failed compile an error instead, so a build that must ship the extension
cannot silently lose it.
"""

from __future__ import annotations

import importlib.util
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import CCompilerError, ExecError, PlatformError

# What a missing or broken toolchain raises.  (The ValueError that
# distutils' MSVC probing raises about 'path' is included below.)
BUILD_ERRORS = (CCompilerError, ExecError, PlatformError)


def native_required() -> bool:
    return os.environ.get("KEMU_REQUIRE_NATIVE") == "1" or os.environ.get("CIBUILDWHEEL") == "1"


def warn(msg: str) -> None:
    bar = "*" * 75
    print(f"\n{bar}\nWARNING: {msg}\n{bar}\n", file=sys.stderr)


class fail_soft_build_ext(build_ext):
    """build_ext that drops an extension it cannot compile instead of failing.

    cffi subclasses whatever build_ext is in cmdclass, so its generated-source
    step still runs first.  A dropped extension is marked optional, which is
    how setuptools knows not to copy or install its missing file.
    """

    def run(self) -> None:
        try:
            super().run()
        except BUILD_ERRORS as e:
            # Raised before any extension was built (no usable compiler).
            self._give_up(self.extensions, e)
        except ValueError as e:
            if "'path'" not in str(e):
                raise
            self._give_up(self.extensions, e)

    def build_extension(self, ext) -> None:
        try:
            super().build_extension(ext)
        except BUILD_ERRORS as e:
            self._give_up([ext], e)

    def _give_up(self, exts, err: BaseException) -> None:
        names = ", ".join(ext.name for ext in exts) or "the C extension"
        if native_required():
            raise SystemExit(f"error: KEMU_REQUIRE_NATIVE=1 and {names} failed to build: {err}")
        for ext in exts:
            ext.optional = True
        warn(
            f"{names} could not be compiled ({err}).\n"
            "kemu is installed without it and uses the pure-Python twin "
            "(kern/native/twin.py);\nset KEMU_REQUIRE_NATIVE=1 to make this an error."
        )


if native_required() and importlib.util.find_spec("cffi") is None:
    raise SystemExit(
        "error: KEMU_REQUIRE_NATIVE=1 but cffi is not installed in the build environment"
    )

setup(
    cffi_modules=["kern/native/_build.py:ffibuilder"],
    cmdclass={"build_ext": fail_soft_build_ext},
    zip_safe=False,
)
