"""Userland helpers from NetBSD's libutil and libc that kemu's tools need.

* ``humanize_number`` (libc's gen/humanize_number.c 1.16, humanize_number(3)):
  a number in a few columns with a unit prefix, as df -h and fssconfig -l
  print sizes.
* ``strsuftoll`` / ``strsuftollx`` (libc, strsuftoll(3)): a decimal number
  with an optional size suffix (``b k m g t w``) and optional ``x``/``*``
  products, as dd, fssconfig and rump_allserver's drive specs read sizes.
* ``strpct`` (the helper df prints %Cap with).
* ``dehumanize_number`` (libc's gen/dehumanize_number.c, dehumanize_number(3)).
* ``raise_default_signal`` (libutil's raise_default_signal.c, NetBSD 8): a
  signal handler's way to end its process the way the signal would have.

Pure Python except ``raise_default_signal``, which makes its system calls
through libc.
"""

from __future__ import annotations

from kern.errno import EINVAL, ERANGE
from tools.lib.stdlib import INT_MAX as INT_MAX  # (re-exported: its callers import it here)
from tools.lib.stdlib import LLONG_MAX, LLONG_MIN, strtoll

# humanize_number(3) flags (util.h)
HN_DECIMAL = 0x01
HN_NOSPACE = 0x02
HN_B = 0x04
HN_DIVISOR_1000 = 0x08
# humanize_number(3) scale values
HN_GETSCALE = 0x10
HN_AUTOSCALE = 0x20

INT64_MAX = LLONG_MAX
_SIZEOF_INT = 4


def humanize_number(buflen: int, number: int, suffix: str, scale: int,
                    flags: int) -> str | int:
    """humanize_number(buf, ``buflen``, ``number``, ``suffix``, ``scale``, ``flags``).

    Returns what C leaves in ``buf`` (at most ``buflen - 1`` characters), or,
    when ``scale`` has HN_GETSCALE, the scale the number would need.  Where C
    returns -1 (no room, bad scale) this raises ValueError.

    ``humanize_number(5, 1000, "", HN_AUTOSCALE, HN_B | HN_NOSPACE)`` is
    ``"1K"``; ``(5, 512, ...)`` is ``"512B"``.
    """
    if flags & HN_DIVISOR_1000:
        divisor = 1000
        prefixes = ["B", "k", "M", "G", "T", "P", "E"] if flags & HN_B else \
            ["", "k", "M", "G", "T", "P", "E"]
    else:
        divisor = 1024
        prefixes = ["B", "K", "M", "G", "T", "P", "E"] if flags & HN_B else \
            ["", "K", "M", "G", "T", "P", "E"]
    maxscale = 6
    if scale < 0 or (scale > maxscale and not scale & (HN_AUTOSCALE | HN_GETSCALE)):
        raise ValueError("humanize_number: bad scale")
    post = 1
    if number < 0:
        sign = -1
        baselen = 3  # sign, digit, prefix
        if -number < INT64_MAX // 100:
            number *= -100
        else:
            number = -number
            post = 100
            baselen += 2
    else:
        sign = 1
        baselen = 2  # digit, prefix
        if number < INT64_MAX // 100:
            number *= 100
        else:
            post = 100
            baselen += 2
    if flags & HN_NOSPACE:
        sep = ""
    else:
        sep = " "
        baselen += 1
    baselen += len(suffix)
    if buflen < baselen + 1:
        raise ValueError("humanize_number: buffer too small")

    if scale & (HN_AUTOSCALE | HN_GETSCALE):
        # Use the columns there are beyond the base length.
        mx = 100
        for _ in range(buflen - baselen):
            mx *= 10
        i = 0
        while number >= mx - 50 and i < maxscale:
            number //= divisor
            i += 1
        if scale & HN_GETSCALE:
            return i
    else:
        i = 0
        while i < scale and i < maxscale:
            number //= divisor
            i += 1
    number *= post

    if number < 995 and i > 0 and flags & HN_DECIMAL:
        if buflen < baselen + 1 + 2:
            raise ValueError("humanize_number: buffer too small")
        b = (number + 5) // 10
        s1, s2 = b // 10, b % 10
        out = f"{sign * s1}.{s2}{sep}{prefixes[i]}{suffix}"
    else:
        out = f"{sign * ((number + 50) // 100)}{sep}{prefixes[i]}{suffix}"
    return out[:buflen - 1]


class StrsuftollError(ValueError):
    """strsuftoll's complaint; C prints it with errx(1, "%s", msg) and exits."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


_SUFFIX = {"b": 512, "k": 1024, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "w": _SIZEOF_INT}


def strsuftollx(desc: str, val: str, mn: int, mx: int) -> tuple[int, str]:
    """strsuftollx(3): ``(number, "")``, or ``(0, message)`` when ``val`` is bad.

    The messages are libc's: ``"<desc>: Result too large"``, ``"<desc>
    `<val>': illegal number"``, ``"<desc> <n> is less than <min>."``,
    ``"<desc> <n> is greater than <max>."``.
    """
    val = val.lstrip(" \t\n\v\f\r")   # the messages show it without them
    c0 = strtoll(val, 10)
    num, used, overflow = c0.value, c0.end, c0.errno == ERANGE
    if overflow:
        return 0, f"{desc}: Result too large"
    if used == 0:
        return 0, f"{desc} `{val}': illegal number"
    expr = val[used:]
    c = expr[:1]
    if c in _SUFFIX:
        num *= _SUFFIX[c]
        if num > LLONG_MAX or num < LLONG_MIN:
            return 0, f"{desc}: Result too large"
        expr = expr[1:]
    c = expr[:1]
    if c == "":
        pass
    elif c in ("*", "x"):
        t, ebuf = strsuftollx(desc, expr[1:], mn, mx)
        if ebuf:
            return 0, ebuf
        num *= t
        if num > LLONG_MAX or num < LLONG_MIN:
            return 0, f"{desc}: Result too large"
    else:
        return 0, f"{desc} `{val}': illegal number"
    if num < mn:
        return 0, f"{desc} {num} is less than {mn}."
    if num > mx:
        return 0, f"{desc} {num} is greater than {mx}."
    return num, ""


def strsuftoll(desc: str, val: str, mn: int, mx: int) -> int:
    """strsuftoll(3): the number, or StrsuftollError carrying libc's message."""
    num, ebuf = strsuftollx(desc, val, mn, mx)
    if ebuf:
        raise StrsuftollError(ebuf)
    return num


def strpct(numerator: int, denominator: int, digits: int = 0) -> str:
    """The percentage df prints: truncated, with ``digits`` decimals and a ``%``."""
    factor = 100 * 10 ** digits
    if denominator <= 0:
        denominator = 1
    result = numerator * factor // denominator
    if digits == 0:
        return f"{result}%"
    q, r = divmod(result, 10 ** digits)
    return f"{q}.{r:0{digits}d}%"


async def raise_default_signal(sig: int) -> int:
    """raise_default_signal(3): with every signal blocked, set ``sig`` to SIG_DFL,
    raise it and unblock it (the default action happens then: a killing one ends
    the process there), then put the action and the mask back.  0, or -1 when a
    step failed (the errno is the SyscallError's, as raise_default_signal keeps
    errno)."""
    from kern.exceptions import SyscallError
    from tools.lib import libc

    retval = -1
    act = libc.struct_sigaction(sa_handler=libc.SIG_DFL, sa_flags=0)
    fullmask = set(range(1, 129))
    try:
        # Block all signals.
        origmask = await libc.sigprocmask(libc.SIG_BLOCK, fullmask)
    except SyscallError:
        return retval
    try:
        # Enable the SIG_DFL handler.
        origact = libc.struct_sigaction()
        await libc.sigaction(sig, act, origact)
    except SyscallError:
        await _restore_mask(origmask)
        return retval
    try:
        # Raise the signal, and unblock it.
        await libc.raise_(sig)
        await libc.sigprocmask(libc.SIG_UNBLOCK, {sig})
        retval = 0
    except SyscallError:
        pass
    # Restore the original handler, then the original mask.
    try:
        await libc.sigaction(sig, origact, None)
    except SyscallError:
        pass
    await _restore_mask(origmask)
    return retval


async def _restore_mask(origmask: set[int]) -> None:
    from kern.exceptions import SyscallError
    from tools.lib import libc

    try:
        await libc.sigprocmask(libc.SIG_SETMASK, origmask)
    except SyscallError:
        pass


def dehumanize_number(s: str) -> tuple[int, int]:
    """dehumanize_number(3) (lib/libc/gen/dehumanize_number.c): a decimal
    strtoll(3) number, optionally followed by one of b, k, m, g (any case)
    as its last character.  -> (0, value), or (-1, errno): EINVAL for an
    empty string or another letter at the end, ERANGE out of range, and 0
    (errno untouched) for something that is not a number."""
    if not s:
        return -1, EINVAL
    multiplier = 1
    unit = s[-1]
    delimit = None
    if unit.isascii() and unit.isalpha():
        mult = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}.get(unit.lower())
        if mult is None:
            return -1, EINVAL                   # an invalid suffix
        multiplier = mult
        delimit = len(s) - 1
    c = strtoll(s, 10)
    if c.end != delimit and c.end != len(s):
        return -1, 0                            # not a number
    if c.errno == ERANGE and c.value in (LLONG_MAX, LLONG_MIN):
        return -1, ERANGE
    v = c.value * multiplier
    if not LLONG_MIN <= v <= LLONG_MAX:
        return -1, ERANGE
    return 0, v
