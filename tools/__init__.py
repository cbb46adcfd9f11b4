"""kemu's userland: the kemu shell and its commands, the console's host side."""

try:
    from kern._layout import check_siblings as _check_siblings
except ImportError as e:  # kern is not kemu's
    raise ImportError(f"kemu's package {__name__!r} ({__file__}) cannot import kemu's 'kern' "
                      f"({e}): another package named 'kern' shadows it") from e
_check_siblings(__name__, __file__)
