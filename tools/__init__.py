"""kemu's userland: the kemu shell and its commands, the console's host side."""

from kern import _layout  # kern/_layout.py: the five packages must all be kemu's

_layout.check_siblings(__name__, __file__)
