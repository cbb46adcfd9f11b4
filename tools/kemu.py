"""The ``kemu`` command: boot a machine, give it disks, run NetBSD commands in it.

    kemu run [-d DRIVESPEC]... [--seed N] [--trace FILE] [-v] [--faults PLAN] SCRIPT
    kemu shell [-d DRIVESPEC]... [--seed N] [-v] [--faults PLAN]
    kemu demo
    kemu explore TARGET [--strategy S] [--runs N | --time T] [--scheduler ADDR] ...

``-d`` takes rump_server's drive spec,
``key=/dev/wd0,hostpath=disk.img,size=host[,offset=N][,type=blk|chr|reg]``:
the host file appears in the machine at ``key`` (a block device with its
raw twin ``/dev/rwd0`` for ``blk``, the default; a character device for
``chr``; a regular file for ``reg``).  ``size=host`` takes the host file's
size; a number (strsuftoll: ``64m``, ``1g``, ``2x512k``) creates the host
file or extends it to that size.  Without any ``-d`` the machine gets a
64 MiB memory disk (md0) at /dev/wd0 and /dev/rwd0.  ``--faults`` arms a
fault plan (kern.subr_fault.FaultPlan's text form) in the machine from boot.

The machine-setup API other tools reuse::

    from tools.kemu import boot_machine, parse_drivespec

    with boot_machine([parse_drivespec("key=/dev/wd0,hostpath=d.img,size=8m")],
                      seed=7, stdout=buf, stderr=buf) as m:
        m.sh("newfs_ext2fs /dev/rwd0")           # one command line: its status
        m.script(open("setup.sh").read())        # a script: 0, or 1 at the first failure
        m.k.run(afn, proc=m.proc)                # your own lwp in the shell's process

``m.k`` is the ``kern.machine.Machine``, ``m.proc`` the shell's process
(descriptors 0-2 on ``m.console``), ``m.shell`` the :class:`tools.shell.Shell`.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

import kern
from kern.errno import strerror
from kern.exceptions import KernelError, MachineHalted
from tools.lib.libutil import LLONG_MAX, strsuftollx

if TYPE_CHECKING:
    from tools.console import Console

# tools.cmds (every command, with trio through kern.kern_exec), tools.console and
# tools.shell are imported where a machine is booted: ``kemu --help``,
# ``--version`` and a usage error do not pay for them (0.19 -> 0.05 s of CPU for --help).

DEFAULT_MD_SIZE = 64 << 20
DEFAULT_DISK = "/dev/wd0"

ETFS_TYPES = ("blk", "chr", "reg")


class DriveSpecError(ValueError):
    """A -d argument rump_server would refuse; the text is its complaint."""


@dataclass
class Drive:
    """One host drive: rump_allserver's ``struct etfsreg``."""

    key: str
    hostpath: str
    size: int | None = None     # None: size=host
    offset: int = 0
    type: str = "blk"           # blk, chr or reg

    @property
    def raw_key(self) -> str | None:
        """The character twin of a blk key (``/dev/wd0`` -> ``/dev/rwd0``)."""
        from tools.cmds._fsutil import rawname

        return rawname(self.key) if self.type == "blk" else None


# Each drive spec key, in rump_allserver's order, with what its value looks like.
DRIVESPEC_VALUES = {"key": "/dev/wd0", "hostpath": "FILE", "size": "host|N", "offset": "N",
                    "type": "blk|chr|reg"}


def parse_drivespec(spec: str) -> Drive:
    """``key=...,hostpath=...,size=...[,offset=...][,type=...]`` to a Drive.

    Raises DriveSpecError with rump_allserver's complaint and what it is
    about: ``invalid dtoken "garbage" (expected name=value)``, ``key= is empty
    (expected key=/dev/wd0)``, ``invalid dtoken
    "colour=red": no key "colour" (key, hostpath, size, offset, type)``,
    ``key already given``, ``incomplete drivespec: size= missing``, ``invalid
    type foo (blk, chr or reg)``, or strsuftoll's ``-d size `x': illegal number``.
    """
    key = hostpath = None
    size: int | None = None
    size_given = False
    offset = 0
    offset_given = False
    ftype: str | None = None
    for item in spec.split(","):
        if not item:
            continue
        name, eq, value = item.partition("=")
        if not eq:
            raise DriveSpecError(f'invalid dtoken "{item}" (expected name=value)')
        if not value and name in DRIVESPEC_VALUES:
            raise DriveSpecError(f"{name}= is empty (expected {name}={DRIVESPEC_VALUES[name]})")
        if name == "key":
            if key is not None:
                raise DriveSpecError("key already given")
            key = value
        elif name == "hostpath":
            if hostpath is not None:
                raise DriveSpecError("hostpath already given")
            hostpath = value
        elif name == "size":
            if size_given:
                raise DriveSpecError("size already given")
            size_given = True
            if value == "host":
                size = None
            else:
                size, ebuf = strsuftollx("-d size", value, 0, LLONG_MAX)
                if ebuf:
                    raise DriveSpecError(ebuf)
                if size == 0:
                    raise DriveSpecError("size=0: a drive needs a size (a number, or host)")
        elif name == "offset":
            if offset_given:
                raise DriveSpecError("offset already given")
            offset_given = True
            offset, ebuf = strsuftollx("-d offset", value, 0, LLONG_MAX)
            if ebuf:
                raise DriveSpecError(ebuf)
        elif name == "type":
            if ftype is not None:
                raise DriveSpecError("type already specified")
            if value not in ETFS_TYPES:
                raise DriveSpecError(f"invalid type {value} ({', '.join(ETFS_TYPES[:-1])} "
                                     f"or {ETFS_TYPES[-1]})")
            ftype = value
        else:
            raise DriveSpecError(f'invalid dtoken "{item}": no key "{name}" '
                                 f"({', '.join(DRIVESPEC_VALUES)})")
    missing = [n for n, given in (("key", key is not None), ("hostpath", hostpath is not None),
                                  ("size", size_given)) if not given]
    if missing:
        raise DriveSpecError("incomplete drivespec: " + ", ".join(f"{n}=" for n in missing)
                             + " missing")
    assert key is not None and hostpath is not None
    return Drive(key, hostpath, size, offset, ftype or "blk")


class SetupError(Exception):
    """The machine could not be set up as asked (host file, etfs registration)."""


class _HostFiles:
    """What kemu did to the host for the -d drives, so a failed setup can undo it:
    files it created are removed, files it extended get their old size back."""

    def __init__(self) -> None:
        self.created: list[str] = []
        self.extended: list[tuple[str, int]] = []

    def undo(self) -> None:
        for path, size in reversed(self.extended):
            try:
                os.truncate(path, size)
            except OSError:
                pass
        for path in reversed(self.created):
            try:
                os.unlink(path)
            except OSError:
                pass
        self.created.clear()
        self.extended.clear()


def _prepare_host_file(d: Drive, undo: _HostFiles) -> int:
    """rump_allserver's part on the host: the file (created or extended to
    ``size``, never with size=host); the window size.  Raises SetupError,
    after undoing its own change."""
    what = f"-d {d.key}: hostpath {d.hostpath}"
    if d.size is None:
        # size=host: the host file must be there; kemu creates nothing.
        try:
            st = os.stat(d.hostpath)
        except OSError as e:
            raise SetupError(f"{what}: {os.strerror(e.errno or 0)} "
                             "(size=host takes the size of an existing file)") from None
        if os.path.isfile(d.hostpath):
            flen = st.st_size - d.offset
        else:
            flen = _device_size(d.hostpath) - d.offset
        if flen <= 0:
            raise SetupError(f"{what}: size=host, but the host file is "
                             + ("empty" if st.st_size == 0 else
                                f"no longer than offset={d.offset}"))
        return flen
    # Through a symbolic link whose target is missing, O_CREAT makes the target:
    # that is the file to remove again.
    existed = os.path.exists(d.hostpath)
    made = os.path.realpath(d.hostpath)
    try:
        fd = os.open(d.hostpath, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise SetupError(f"{what}: {os.strerror(e.errno or 0)}") from None
    if not existed:
        undo.created.append(made)
    try:
        st = os.fstat(fd)
        if os.path.isfile(d.hostpath) and st.st_size < d.offset + d.size:
            os.ftruncate(fd, d.offset + d.size)
            if existed:
                undo.extended.append((d.hostpath, st.st_size))
        return d.size
    except (OSError, OverflowError) as e:
        err = os.strerror(e.errno or 0) if isinstance(e, OSError) else "File too large"
        raise SetupError(f"{what}: cannot make it {d.offset + d.size} bytes: {err}") from None
    finally:
        os.close(fd)


def _device_size(path: str) -> int:
    """The size of a host block or character device (0 when it cannot be told)."""
    try:
        with open(path, "rb") as f:
            return f.seek(0, os.SEEK_END)
    except OSError:
        return 0


async def _setup_drives(drives: list[tuple[Drive, int]], md_size: int | None) -> str | None:
    """In the kernel (like rump_allserver's etfs registrations): the disks.

    Returns an error message, or None.
    """
    from dev.rumpblk import RUMP_ETFS_BLK, RUMP_ETFS_CHR, RUMP_ETFS_REG, rump_etfs_register

    if not drives and md_size:
        from dev.md import md_create
        from kern.subr_devsw import devsw_blk2chr
        from vfs.stat import S_IFBLK, S_IFCHR
        from vfs.vfs_syscalls import kern_mknod

        error, dev = md_create(0, md_size)
        if error:
            return f"md0: {strerror(error)}"
        for path, mode, d in ((DEFAULT_DISK, S_IFBLK | 0o640, dev),
                              ("/dev/rwd0", S_IFCHR | 0o640, devsw_blk2chr(dev))):
            error = await kern_mknod(path, mode, d)
            if error:
                return f"mknod {path}: {strerror(error)}"
        return None
    types = {"blk": RUMP_ETFS_BLK, "chr": RUMP_ETFS_CHR, "reg": RUMP_ETFS_REG}
    for d, flen in drives:
        error = await rump_etfs_register(d.key, os.path.abspath(d.hostpath), types[d.type],
                                         d.offset, flen)
        if error:
            return f"etfs register: {d.key}: {strerror(error)}"
    return None


class KemuMachine:
    """A booted machine with its disks, a console and a shell process."""

    def __init__(self, k: Any, console: Console, proc: Any, drives: list[Drive]) -> None:
        from tools.shell import Shell

        self.k = k
        self.console = console
        self.proc = proc
        self.drives = drives
        self.shell = Shell(k, console, proc)

    def sh(self, line: str) -> int:
        """Run one command line in the shell; its exit status."""
        return self.shell.system(line)

    def script(self, text: str, *, trace: bool = False, transcript: bool = False) -> int:
        """Run a script (one command a line); 0, or 1 at the first failing command."""
        return self.shell.run_script(text, trace=trace, transcript=transcript)

    def halt(self) -> None:
        """Shut the machine down (sync and unmount first, unless it crashed)."""
        if self.k.state != "halted":
            self.k.halt()

    def __enter__(self) -> KemuMachine:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.halt()


def boot_machine(drives: Sequence[Drive] = (), seed: int | None = None, *,
                 config: Any = None, stdout: Any = None, stderr: Any = None,
                 verbose: bool = False, md_size: int | None = DEFAULT_MD_SIZE,
                 **boot_kw: Any) -> KemuMachine:
    """Boot a machine for kemu's userland (see the module docstring).

    ``drives``: host drives (``parse_drivespec``); with none, a memory disk
    of ``md_size`` bytes at /dev/wd0 and /dev/rwd0 (``md_size=None``: no
    disk).  ``config``: a kernel configuration (default GENERIC).
    ``stdout``/``stderr``: where the console's output goes (a binary stream,
    anything with ``write``, or a callable; default the host's).  Other
    keywords go to ``kern.boot``.  Raises SetupError when a drive cannot be
    set up (the machine is halted again).
    """
    from tools.console import Console

    # modctl(2) registers itself when kern.sys_module is imported; kern/conf/GENERIC
    # will import it at boot (boot hook kern.sys_module:sys_module_init).
    importlib.import_module("kern.sys_module")

    undo = _HostFiles()
    try:
        prepared = [(d, _prepare_host_file(d, undo)) for d in drives]
    except SetupError:
        undo.undo()
        raise
    try:
        k = kern.boot(seed=seed, config=config, verbose=verbose, **boot_kw)
        k.start()
    except BaseException:
        undo.undo()
        raise
    try:
        msg = k.run(_setup_drives, prepared, md_size, name="kemu-setup", proc=k.proc0)
        if msg:
            raise SetupError(msg)
        console = Console(stdout, stderr)
        p = k.proc_create("sh", k.initproc)
        k.run(console.attach, name="sh", proc=p)
    except BaseException:
        if k.state == "running":
            k.halt(sync=False)
        undo.undo()       # a failed -d leaves the host as it was
        raise
    return KemuMachine(k, console, p, list(drives))


def _halted(m: KemuMachine, errs: TextIO) -> bool:
    """Halt ``m``; False, with the report written, when the halt met a crash or
    left a file system mounted (the images it names may be inconsistent)."""
    try:
        m.halt()
    except (KernelError, MachineHalted) as e:
        _write(errs, f"kemu: {e}\n")
        return False
    return True


# ------------------------------------------------------------------ the command

DRIVE_HELP = ("rump_server's drive spec: key=/dev/wd0,hostpath=disk.img,size=host|N"
              "[,offset=N][,type=blk|chr|reg]; size=host uses an existing file as it is, "
              "a number creates or extends the file (repeatable)")

RUN_DESC = """Boot a machine and run a script of sh commands in it (NetBSD sh's grammar:
pipelines, lists, variables, globbing, if/for/while/case).  The script stops
at the first command that fails (sh -e) and says which line it was; the
machine is then halted: file systems synced and unmounted, host images left
consistent.  Ctrl-C stops the script the same way (status 130), also while
a background job computes (the halt stops it); a job started with & that
never sleeps holds the script at its line (see README.md)."""

SHELL_DESC = """Boot a machine and type sh commands in it: line editing, history (Up
arrow) and Tab completion of commands and of paths in the machine when
standard input is a terminal; `help` lists the commands.  Ctrl-C interrupts
the running command (status 130), or clears the line at the prompt.  exit
or Ctrl-D halts the machine (file systems synced and unmounted first), without
waiting for background jobs (the halt stops them).  After `cmd &` the prompt
comes back once every lwp sleeps; Ctrl-C gives it back while the job computes
(see README.md)."""

DEMO_DESC = """Snapshot a mounted ext2 file system with fss(4): write some files, take a
snapshot, change the files, mount the snapshot read-only and show both.  By
default it runs on a fresh 16 MiB in-memory disk and the host is not
touched.  With -d it WRITES INTO YOUR IMAGE: the image (an ext2 file system)
is mounted read-write, files are created, changed and removed in it (its
root directory gets hello.txt, docs/ and new.txt), and it is unmounted
cleanly at the end."""


EXPLORE_DESC = """Run a scenario (module:function, an async def run as one lwp of a fresh
machine) or a test (a pytest node id) many times under a scheduling
strategy, and list the distinct failures found (grouped by error class and
site), each with a shrunk schedule string and the command that replays it.
The runs go to a Dask cluster: one worker process per local core by
default, or the cluster at --scheduler.  Exit status: 0 when no run failed,
1 when some did, 2 when the campaign could not run.  With --replay, run the
target once with that schedule (and --trace writes its timeline)."""


def _version() -> str:
    from kern._version import __version__

    return f"kemu {__version__} (native helper: {_native_status()})"


def _native_status() -> str:
    try:
        import kern.native as native
    except ImportError as e:
        return f"does not load: {e}"
    if native.impl == "cffi":
        return "cffi, compiled"
    why = native.fallback_reason()
    if why:
        return f"the pure-Python twin; the compiled helper did not load: {why}"
    return "the pure-Python twin"


class _VersionAction(argparse.Action):
    """argparse's ``action="version"`` with the text made when asked for
    (the native helper's state; the version is kern/_version.py's), not at
    every start."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS,
                 default: Any = argparse.SUPPRESS,
                 help: str = "show program's version number and exit") -> None:  # noqa: A002
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        sys.stdout.write(_version() + "\n")   # (argparse's goes to standard output)
        parser.exit()


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="kemu", description="kemu: a NetBSD-style kernel emulated in Python, with "
        "fss(4) and puffs(4); boot a machine and run NetBSD commands in it.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--version", action=_VersionAction)
    sub = ap.add_subparsers(dest="cmd", metavar="{run,shell,demo,explore}")
    for name, helptext, desc in (("run", "run a script of commands", RUN_DESC),
                                 ("shell", "type commands interactively", SHELL_DESC)):
        p = sub.add_parser(name, help=helptext, description=desc,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("-d", dest="drives", action="append", default=[], metavar="DRIVESPEC",
                       help=DRIVE_HELP)
        p.add_argument("--seed", type=int, default=0, help="scheduler seed (default 0)")
        _sched_arguments(p)
        p.add_argument("-v", dest="verbose", action="store_true",
                       help="echo commands and kernel messages")
        p.add_argument("--faults", type=_fault_plan, default=None, metavar="PLAN",
                       help="fault plan armed from boot, e.g. "
                            "'disk.write:dev=wd0:prob=0.3:error=EIO' (faults joined by ',')")
        if name == "run":
            p.add_argument("script", help="script file, or - for standard input")
    d = sub.add_parser("demo", help="snapshot a mounted ext2 file system with fss(4)",
                       description=DEMO_DESC,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    d.add_argument("-d", dest="drives", action="append", default=[], metavar="DRIVESPEC",
                   help="run on this ext2 image as /dev/wd0 instead of an in-memory disk; "
                        "the demo writes into it (e.g. key=/dev/wd0,hostpath=disk.img,"
                        "size=host)")
    d.add_argument("--seed", type=int, default=0, help="scheduler seed (default 0)")
    _sched_arguments(d)
    d.add_argument("-v", dest="verbose", action="store_true", help="echo kernel messages")
    _explore_arguments(sub.add_parser(
        "explore", help="run a scenario or a test many times under a strategy",
        description=EXPLORE_DESC, formatter_class=argparse.RawDescriptionHelpFormatter))
    return ap


def _explore_arguments(e: argparse.ArgumentParser) -> None:
    e.add_argument("target", help="a scenario, package.module:function (e.g. "
                                  "tests.dev.fss.scenarios:sweep), or a pytest node id "
                                  "(e.g. tests/dev/fss/test_faults.py::test_x[3])")
    e.add_argument("--strategy", default="random", metavar="NAME[:OPT=V,...]",
                   help="random (default), pct[:depth=N,steps=N,fair_after=N] or "
                        "dfs[:bound=N] (a preemption bound, default 2; bound=none: no bound)")
    g = e.add_mutually_exclusive_group()
    g.add_argument("--runs", type=int, default=None,
                   help="how many runs (default 1000; dfs: until every schedule was run)")
    g.add_argument("--time", dest="budget", default=None, metavar="T",
                   help="a time budget instead: seconds, or 90s, 5m, 1h")
    e.add_argument("--seed", type=int, default=0, help="the first seed (default 0)")
    e.add_argument("--workers", type=int, default=None,
                   help="local worker processes (default: one per core, started once the "
                        "runs have taken a second of CPU in this process; 1: in this process)")
    e.add_argument("--scheduler", default=None, metavar="ADDR",
                   help="a Dask scheduler's address (tcp://host:8786): run on that cluster")
    e.add_argument("--config", default=None, metavar="NAME",
                   help="scenarios: the kernel configuration (kern/conf/NAME.py, "
                        "default GENERIC)")
    e.add_argument("--lockdebug", default=None, choices=("on", "off", "strict"),
                   help="scenarios: lock-order checking (strict: a reversal declared "
                        "kept ends the run too)")
    e.add_argument("--batch", type=int, default=None, help="runs per task")
    e.add_argument("--shrink-runs", type=int, default=200, metavar="N",
                   help="replays each distinct failure's shrinking may spend (0: none)")
    e.add_argument("--replay", default=None, metavar="SCHEDULE",
                   help="run the target once with this schedule string (or @file)")
    e.add_argument("--trace", default=None, metavar="FILE",
                   help="with --replay: write the run's timeline (Chrome trace-event JSON)")
    e.add_argument("-q", dest="quiet", action="store_true", help="no progress line")


def _budget(text: str) -> float:
    """``90``, ``90s``, ``5m``, ``1h`` -> seconds."""
    t = text.strip().lower()
    scale = {"s": 1, "m": 60, "h": 3600}.get(t[-1:], None)
    try:
        v = float(t[:-1] if scale else t) * (scale or 1)
    except ValueError:
        raise ValueError(f"--time {text}: expected seconds, or a number with s, m or h") \
            from None
    if v <= 0:
        raise ValueError(f"--time {text}: must be positive")
    return v


def explore_main(args: argparse.Namespace, out: TextIO, errs: TextIO) -> int:
    """``kemu explore``: a campaign (kern/machine/campaign.py), or one replay."""
    from kern.machine.campaign import Campaign, CampaignError, Target, replay
    from kern.machine.explore import NondeterminismError
    from kern.machine.schedule import ScheduleError

    boot: dict[str, Any] = {}
    if args.config:
        boot["config"] = args.config
    if args.lockdebug:
        boot["lockdebug"] = {"on": True, "off": False, "strict": "strict"}[args.lockdebug]
    try:
        target = Target.parse(args.target, boot=boot)
        if args.replay is not None:
            rec = replay(target, args.replay, args.trace)
            _write(out, f"{rec.outcome}\n")
            return 1 if rec.failed else 0
        if args.trace:
            raise CampaignError("--trace goes with --replay (a campaign's runs are not traced)")
        budget = _budget(args.budget) if args.budget is not None else None
        c = Campaign(target, args.strategy, runs=args.runs, time_budget=budget, seed=args.seed,
                     workers=args.workers, scheduler=args.scheduler, batch=args.batch,
                     shrink_runs=args.shrink_runs, progress=None if args.quiet else errs)
        res = c.run()
    except (CampaignError, ScheduleError, ValueError, NondeterminismError) as e:
        _write(errs, f"kemu explore: {e}\n")
        return 2
    _write(out, res.table() + "\n")
    return 1 if res.failures else 0


def _fault_plan(text: str) -> Any:
    """--faults: kern.subr_fault.FaultPlan's text form; argparse shows what is wrong."""
    from kern.subr_fault import FaultPlan, FaultPlanError

    try:
        return FaultPlan.parse(text)
    except FaultPlanError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def _sched_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strategy", default=None, metavar="NAME[:OPT=V,...]",
                   help="scheduling strategy: random (default), pct[:depth=N,steps=N]")
    p.add_argument("--replay", default=None, metavar="SCHEDULE",
                   help="rerun exactly the run of this schedule string (or @file)")
    p.add_argument("--trace", default=None, metavar="FILE",
                   help="write the run's timeline to FILE when the machine has halted "
                        "(Chrome trace-event JSON: open it in Perfetto or chrome://tracing)")


def _sched_boot_args(args: argparse.Namespace) -> dict[str, Any]:
    """kern.boot keywords for --strategy and --replay."""
    from kern.machine.schedule import decode
    from kern.machine.strategies import make_strategy, parse_strategy_spec

    kw: dict[str, Any] = {}
    if args.replay:
        decode(args.replay)  # ScheduleError (a ValueError) for a bad string
        kw["replay"] = args.replay
    if args.strategy:
        name, opts = parse_strategy_spec(args.strategy)
        try:
            make_strategy(name, 0, args.replay, dict(opts))
        except TypeError as e:
            raise ValueError(f"--strategy={args.strategy}: {e}") from None
        kw["strategy"] = name
        kw.update(opts)
    return kw


DEMO_MD_SIZE = 16 << 20


def demo_script() -> str:
    """The demo's script (tools/examples/snapshot.kemu, shipped in the package)."""
    from importlib.resources import files

    return (files("tools.examples") / "snapshot.kemu").read_text(encoding="utf-8")


def _write(stream: Any, text: str) -> None:
    stream.write(text)
    flush = getattr(stream, "flush", None)
    if flush is not None:
        flush()


def _native_check(errs: TextIO) -> bool:
    """The native helper loads, or the machine would not work: say why.

    A requested helper (KEMU_NATIVE=cffi, or a bad value) that cannot load
    stops kemu with the import error.  An install that fell back to the
    pure-Python twin runs quietly: standard error is the script's; the
    reason is in ``kemu --version`` and the machine's dmesg
    (kern.native.fallback_reason).
    """
    try:
        import kern.native  # noqa: F401
    except ImportError as e:
        _write(errs, f"kemu: {e}\n")
        return False
    return True


def main(argv: Sequence[str] | None = None, *, stdin: TextIO | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    """The ``kemu`` entry point: returns the exit status (never raises, whatever the
    user does: a Ctrl-C anywhere ends it with 130 after a clean halt)."""
    out = stdout if stdout is not None else sys.stdout
    errs = stderr if stderr is not None else sys.stderr
    try:
        return _main(argv, stdin, out, errs)
    except KeyboardInterrupt:
        _write(errs, "\n")
        return 130


def _main(argv: Sequence[str] | None, stdin: TextIO | None, out: TextIO,
          errs: TextIO) -> int:
    ap = _parser()
    old = sys.stdout, sys.stderr
    try:
        sys.stdout, sys.stderr = out, errs   # argparse prints its usage and errors there
        args = ap.parse_args(list(argv) if argv is not None else None)
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else 1
    except ImportError as e:
        # --faults loads the fault sites (kern.subr_fault), which imports the
        # native helper: one that cannot load stops kemu as _native_check does
        _write(errs, f"kemu: {e}\n")
        return 1
    finally:
        sys.stdout, sys.stderr = old
    if args.cmd is None:
        _write(errs, ap.format_usage())
        return 1
    if args.cmd == "explore":
        return explore_main(args, out, errs)

    drives = []
    for spec in args.drives:
        try:
            drives.append(parse_drivespec(spec))
        except DriveSpecError as e:
            msg = str(e)
            _write(errs, f"kemu: {msg}\n" if msg.startswith("-d ") else
                   f"kemu: -d {spec}: {msg}\n")
            _write(errs, "usage: kemu run|shell|demo [-d key=/dev/wd0,hostpath=FILE,"
                         "size=host|N[,offset=N][,type=blk|chr|reg]]... ...\n")
            return 1
    if not _native_check(errs):
        return 1

    try:
        sched_kw = _sched_boot_args(args)
    except ValueError as e:
        _write(errs, f"kemu: {e}\n")
        return 1

    text = None
    if args.cmd == "demo":
        text = demo_script()
        if not drives:
            # A fresh in-memory disk: format it first (after the script's header).
            lines = text.splitlines(keepends=True)
            n = next((i for i, ln in enumerate(lines) if not ln.startswith("#")), 0)
            text = "".join(lines[:n]) + "newfs_ext2fs /dev/rwd0\n" + "".join(lines[n:])
    if args.cmd == "run":
        try:
            if args.script == "-":
                text = (stdin if stdin is not None else sys.stdin).read()
            else:
                with open(args.script, encoding="utf-8", errors="surrogateescape") as f:
                    text = f.read()
        except OSError as e:
            _write(errs, f"kemu: {args.script}: {os.strerror(e.errno or 0)}\n")
            return 1

    from tools.console import host_binary

    # Ctrl-C, SIGTERM or SIGHUP end kemu with 128 + the signal's number, after
    # the machine halted (synced and unmounted its file systems), no traceback.
    try:
        with ending_signals():
            try:
                m = boot_machine(drives, args.seed, stdout=host_binary(out),
                                 stderr=host_binary(errs), verbose=args.verbose, console=out,
                                 md_size=DEMO_MD_SIZE if args.cmd == "demo" else DEFAULT_MD_SIZE,
                                 faults=getattr(args, "faults", None), **sched_kw)
            except (SetupError, KernelError, MachineHalted) as e:
                _write(errs, f"kemu: {e}\n")
                return 1
            status = 1
            try:
                if args.cmd in ("run", "demo"):
                    assert text is not None
                    status = m.script(text, trace=args.verbose, transcript=args.cmd == "demo")
                else:
                    status = m.shell.interactive(stdin)
            finally:
                if not _halted(m, errs):
                    status = 1
                if args.trace and not _write_trace(m.k, args.trace, errs):
                    status = status or 1
            return status
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except HostSignal as e:
        return 128 + e.signo


def _write_trace(k: Any, path: str, errs: TextIO) -> bool:
    """--trace FILE: write the machine's timeline (however the run ended); False
    (and a message) if it cannot be written."""
    try:
        k.trace.write_chrome(path)
    except OSError as e:
        _write(errs, f"kemu: --trace {path}: {e.strerror or e}\n")
        return False
    return True


class HostSignal(BaseException):
    """A host signal that ends kemu (SIGTERM, SIGHUP), raised in the main thread
    like KeyboardInterrupt so that the machine halts on the way out."""

    def __init__(self, signo: int) -> None:
        super().__init__(signo)
        self.signo = signo


@contextlib.contextmanager
def ending_signals() -> Iterator[None]:
    """While in the block, SIGTERM and SIGHUP raise HostSignal (where they had their
    default action and this is the main thread) instead of killing the process."""
    def handler(signo: int, frame: Any) -> None:
        raise HostSignal(signo)

    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(sig) is signal.SIG_DFL:
                old[sig] = signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


if __name__ == "__main__":
    sys.exit(main())
