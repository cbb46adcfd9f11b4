"""tm_pkg's shared state: a C-style global of the module."""

events: list[str] = []
