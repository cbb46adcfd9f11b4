"""tm_pkg's helper, using its sibling's global."""

from . import tm_pkg_state


def bump():
    tm_pkg_state.events.append("modcmd")
