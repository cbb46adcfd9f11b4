"""Host processes as Linux's /proc shows them, for tests that check what kemu
started or reaped on the host (fork servers, puffs servers, a shell's children)."""

from __future__ import annotations

import os


def proc_stat(pid: int) -> tuple[str, int]:
    """The state letter ("R", "S", "Z", ...) and the parent pid of host process
    ``pid``, from /proc/PID/stat (raises OSError when there is no such process).

    The command name in that line is in parentheses and may itself hold
    ")" or spaces, so the fields are read after its last ")"."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return fields[0], int(fields[1])


def parent_pid(pid: int) -> int:
    """The parent pid of host process ``pid`` (raises OSError when it is gone)."""
    return proc_stat(pid)[1]


def gone(pid: int) -> bool:
    """Whether host process ``pid`` has ended: no such process, or a zombie."""
    try:
        return proc_stat(pid)[0] == "Z"
    except (FileNotFoundError, ProcessLookupError):  # (ESRCH: reaped while being read)
        return True


def host_processes() -> dict[int, int]:
    """Every host process /proc lists, as pid -> parent pid (those that end
    while being read are left out)."""
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                out[int(d)] = parent_pid(int(d))
            except (OSError, ValueError, IndexError):
                continue
    return out
