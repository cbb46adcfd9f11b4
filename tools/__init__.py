"""kemu's userland: the kemu shell and its commands, the console's host side."""
