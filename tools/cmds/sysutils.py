"""Small system utilities: echo, true, false, pwd, sleep, sync, dmesg."""

from __future__ import annotations

from kern.exceptions import SyscallError
from tools.cmds import command
from tools.cmds._prog import err, fflush, options, printf, usage_exit
from tools.lib import libc


@command("echo", summary="write arguments to the standard output")
async def echo_main(argv: list[str]) -> int:
    """echo [-n] [string ...]: -n only as the first argument, as NetBSD's."""
    args = argv[1:]
    nflag = bool(args) and args[0] == "-n"
    if nflag:
        args = args[1:]
    await printf(" ".join(args) + ("" if nflag else "\n"))
    return 0


@command("true", summary="return true value")
async def true_main(argv: list[str]) -> int:
    return 0


@command("false", summary="return false value")
async def false_main(argv: list[str]) -> int:
    return 1


@command("pwd", summary="return working directory name")
async def pwd_main(argv: list[str]) -> int:
    await options(argv, "LP", "usage: pwd [-LP]")
    try:
        cwd = await libc.getcwd()
    except SyscallError as e:
        await err(1, ".", e)
    await printf(cwd + "\n")
    return 0


SLEEP_USAGE = "usage: sleep seconds"


@command("sleep", summary="suspend execution for an interval of time")
async def sleep_main(argv: list[str]) -> int:
    """sleep seconds: on the machine's clock (virtual unless it was booted with a real one)."""
    _, args = await options(argv, "", SLEEP_USAGE)
    if len(args) != 1:
        await usage_exit(SLEEP_USAGE)
    try:
        secs = float(args[0])
        if secs != secs or secs < 0 or args[0].strip().lower() in ("inf", "infinity", "nan"):
            raise ValueError
    except ValueError:
        await usage_exit(SLEEP_USAGE)
    if secs > 0:
        await libc.nanosleep(secs)
    return 0


@command("sync", summary="force completion of pending disk writes (flush cache)")
async def sync_main(argv: list[str]) -> int:
    await libc.sync()
    return 0


@command("dmesg", summary="display the system message buffer")
async def dmesg_main(argv: list[str]) -> int:
    """dmesg: the kernel message buffer (sysctl kern.msgbuf), as sbin/dmesg/dmesg.c
    1.27 reads it: sized with a NULL buffer, then read; NULs (the unwritten part
    of the buffer) are skipped and a missing final newline is supplied.  -M/-N
    (a crash dump) are accepted and not supported."""
    await options(argv, "M:N:", "usage: dmesg [-M core] [-N system]")
    mib = [libc.CTL_KERN, libc.KERN_MSGBUF]
    try:
        size = await libc.sysctl_oldlen(mib)
        data = await libc.sysctl(mib, size)
    except SyscallError as e:
        await err(1, "can't get msgbuf", e)
    text = data.replace(b"\0", b"")
    if not text.endswith(b"\n"):
        text += b"\n"
    await printf(text)
    await fflush()
    return 0
