"""Arithmetic expansion, ``$((expression))``: a port of NetBSD sh's
bin/sh/arith_token.c (1.4, 2017) and bin/sh/arithmetic.c (read at 1.5.4.1;
the recursive-descent evaluator NetBSD took from FreeBSD, who took it from
dash), with arith_tokens.h's token order.

The expression has already been through parameter expansion and command
substitution (expari runs argstr first); here it is tokenized and evaluated
in intmax_t (64 bits, two's complement: ``+ - * <<`` wrap), with C's
truncating ``/`` and ``%``, the comparisons giving 0 or 1, ``&& || ?:``
evaluating only what they need (noeval), and assignments (``=`` and the
compound ones) setting shell variables.  A variable's value is read with
strtoimax(3) base 0 (``0x1f``, ``017``); unset or empty is 0, anything else
not a number is an error.  The errors are sh's words:
``arithmetic expression: division by zero: "1/0"``.

As arith_token.c 1.4 has it, ``++`` and ``--`` are refused ("operator
unsupported"); arithmetic.c's increment cases are therefore unreachable and
are left out.  Deviation: sh's ``set -u`` check for variables ("variable not
set") is not here, as kemu's sh has no ``-u``.
"""

from __future__ import annotations

from collections.abc import Callable

from tools.lib.stdlib import INTMAX_MAX, INTMAX_MIN, strtoimax, to_int64
from tools.sh.parser import is_in_name, is_name_start

# arith_tokens.h: the order matters (binop + ARITH_ASS_GAP is its assignment).
ARITH_ASS = 1
ARITH_OR = 2
ARITH_AND = 3
ARITH_BAD = 4
ARITH_NUM = 5
ARITH_VAR = 6
ARITH_NOT = 7
ARITH_BINOP_MIN = 8
ARITH_LE = 8
ARITH_GE = 9
ARITH_LT = 10
ARITH_GT = 11
ARITH_EQ = 12
ARITH_REM = 13
ARITH_BAND = 14
ARITH_LSHIFT = 15
ARITH_RSHIFT = 16
ARITH_MUL = 17
ARITH_ADD = 18
ARITH_BOR = 19
ARITH_SUB = 20
ARITH_BXOR = 21
ARITH_DIV = 22
ARITH_NE = 23
ARITH_BINOP_MAX = 24
ARITH_ASS_MIN = 24
ARITH_ASS_GAP = ARITH_ASS_MIN - ARITH_REM        # 11: ARITH_ASS + gap == ARITH_EQ
ARITH_ASS_MAX = ARITH_NE + ARITH_ASS_GAP         # the compound assignments: 24..33
ARITH_LPAREN = 35
ARITH_RPAREN = 36
ARITH_BNOT = 37
ARITH_QMARK = 38
ARITH_COLON = 39
ARITH_COMMA = 40            # (arith_tokens.h has it; arith_token.c 1.4 never makes it)

assert ARITH_BOR + ARITH_ASS_GAP == 30 and ARITH_ASS + ARITH_ASS_GAP == ARITH_EQ

_PREC = {
    ARITH_MUL: 0, ARITH_DIV: 0, ARITH_REM: 0,
    ARITH_ADD: 1, ARITH_SUB: 1,
    ARITH_LSHIFT: 2, ARITH_RSHIFT: 2,
    ARITH_LT: 3, ARITH_LE: 3, ARITH_GT: 3, ARITH_GE: 3,
    ARITH_EQ: 4, ARITH_NE: 4,
    ARITH_BAND: 5, ARITH_BXOR: 6, ARITH_BOR: 7,
}
ARITH_MAX_PREC = 8


class ArithError(Exception):
    """sh's error() from the arithmetic code: the message."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


def _is_binop(op: int) -> bool:
    return ARITH_BINOP_MIN <= op < ARITH_BINOP_MAX


class _Arith:
    """One evaluation: arith_buf, a_t_val and last_token of the C."""

    def __init__(self, s: str, lookup: Callable[[str], str | None],
                 setvar: Callable[[str, str], None]) -> None:
        self.startbuf = s
        self.s = s
        self.buf = 0
        self.a_t_val: int | str = 0
        self.last_token = 0
        self.lookup = lookup
        self.setvar = setvar

    def err(self, what: str) -> ArithError:
        return ArithError(f'arithmetic expression: {what}: "{self.startbuf}"')

    # -------------------------------------------------------------- arith_token.c

    def token(self) -> int:
        """arith_token(): the next token; its value (a number or a name) in a_t_val."""
        s = self.s
        n = len(s)
        buf = self.buf
        while True:
            c = s[buf] if buf < n else ""
            if c.isdigit() and c.isascii():
                # A number is whatever strtoimax() takes, in any base.
                conv = strtoimax(s[buf:], 0)
                self.a_t_val = conv.value
                self.buf = buf + conv.end
                return ARITH_NUM
            if c and is_name_start(c):
                p = buf
                buf += 1
                while buf < n and is_in_name(s[buf]):
                    buf += 1
                self.a_t_val = s[p:buf]
                self.buf = buf
                return ARITH_VAR
            if c in ("\n", " ", "\t"):
                buf += 1
                continue
            nxt = s[buf + 1] if buf + 1 < n else ""
            if c == "":
                self.buf = buf
                return 0
            if c == "=":
                tok = ARITH_ASS
            elif c == ">":
                if nxt == "=":
                    self.buf = buf + 2
                    return ARITH_GE
                if nxt == ">":
                    tok = ARITH_RSHIFT
                    buf += 1
                else:
                    self.buf = buf + 1
                    return ARITH_GT
            elif c == "<":
                if nxt == "=":
                    self.buf = buf + 2
                    return ARITH_LE
                if nxt == "<":
                    tok = ARITH_LSHIFT
                    buf += 1
                else:
                    self.buf = buf + 1
                    return ARITH_LT
            elif c == "|":
                if nxt == "|":
                    self.buf = buf + 2
                    return ARITH_OR
                tok = ARITH_BOR
            elif c == "&":
                if nxt == "&":
                    self.buf = buf + 2
                    return ARITH_AND
                tok = ARITH_BAND
            elif c == "!":
                if nxt == "=":
                    self.buf = buf + 2
                    return ARITH_NE
                self.buf = buf + 1
                return ARITH_NOT
            elif c in "()~?:":
                self.buf = buf + 1
                return {"(": ARITH_LPAREN, ")": ARITH_RPAREN, "~": ARITH_BNOT,
                        "?": ARITH_QMARK, ":": ARITH_COLON}[c]
            elif c in "*/%^":
                tok = {"*": ARITH_MUL, "/": ARITH_DIV, "%": ARITH_REM, "^": ARITH_BXOR}[c]
            elif c == "+":
                if nxt == "+":
                    raise ArithError("arithmetic: ++ operator unsupported")
                tok = ARITH_ADD
            elif c == "-":
                if nxt == "-":
                    raise ArithError("arithmetic: -- operator unsupported")
                tok = ARITH_SUB
            else:
                raise ArithError(f"arithmetic: unexpected '{c}' ({ord(c):#x}) in expression")
            # checkeq: an '=' after the operator makes it its assignment.
            buf += 1
            if buf < n and s[buf] == "=":
                self.buf = buf + 1
                return tok + ARITH_ASS_GAP
            self.buf = buf
            return tok

    # -------------------------------------------------------------- arithmetic.c

    def lookupvarint(self, name: str) -> int:
        """arith_lookupvarint: a variable's value as a number (unset or empty: 0)."""
        text = self.lookup(name)
        if text is None or text == "":
            text = "0"
        conv = strtoimax(text, 0)
        rest = text[conv.end:]
        if conv.errno != 0 or rest:
            if conv.errno == 0 and rest.strip(" \t\n\v\f\r") == "":
                return conv.value
            raise self.err("variable contains non-numeric value")
        return conv.value

    def do_binop(self, op: int, a: int, b: int) -> int:
        if op in (ARITH_REM, ARITH_DIV):
            if b == 0:
                raise self.err("division by zero")
            if a == INTMAX_MIN and b == -1:
                raise self.err("divide error")
            q = abs(a) // abs(b)
            if (a < 0) != (b < 0):
                q = -q                               # C truncates toward zero
            return a - q * b if op == ARITH_REM else q
        if op == ARITH_MUL:
            return to_int64(a * b)
        if op == ARITH_ADD:
            return to_int64(a + b)
        if op == ARITH_SUB:
            return to_int64(a - b)
        if op == ARITH_LSHIFT:
            return to_int64(a << (b & 63))
        if op == ARITH_RSHIFT:
            return a >> (b & 63)
        if op == ARITH_LT:
            return int(a < b)
        if op == ARITH_LE:
            return int(a <= b)
        if op == ARITH_GT:
            return int(a > b)
        if op == ARITH_GE:
            return int(a >= b)
        if op == ARITH_EQ:
            return int(a == b)
        if op == ARITH_NE:
            return int(a != b)
        if op == ARITH_BAND:
            return a & b
        if op == ARITH_BXOR:
            return a ^ b
        if op == ARITH_BOR:
            return a | b
        raise self.err("token error")

    def primary(self, token: int, val: int | str, op: int, noeval: bool) -> int:
        if token == ARITH_LPAREN:
            result = self.comma_list(op, noeval)
            if self.last_token != ARITH_RPAREN:
                raise self.err("expecting ')'")
            self.last_token = self.token()
            return result
        if token == ARITH_NUM:
            self.last_token = op
            assert isinstance(val, int)
            return val
        if token == ARITH_VAR:
            assert isinstance(val, str)
            result = 0 if noeval else self.lookupvarint(val)
            self.last_token = op
            return result
        if token in (ARITH_ADD, ARITH_SUB, ARITH_NOT, ARITH_BNOT):
            val = self.a_t_val
            r = self.primary(op, val, self.token(), noeval)
            if token == ARITH_ADD:
                return r
            if token == ARITH_SUB:
                return to_int64(-r)
            if token == ARITH_NOT:
                return int(not r)
            return ~r
        raise self.err("expecting primary")

    def binop2(self, a: int, op: int, precedence: int, noeval: bool) -> int:
        while True:
            token = self.token()
            val = self.a_t_val
            b = self.primary(token, val, self.token(), noeval)
            op2 = self.last_token
            if _is_binop(op2) and _PREC[op2] < _PREC[op]:
                b = self.binop2(b, op2, _PREC[op], noeval)
                op2 = self.last_token
            a = b if noeval else self.do_binop(op, a, b)
            if not _is_binop(op2) or _PREC[op2] >= precedence:
                return a
            op = op2

    def binop(self, token: int, val: int | str, op: int, noeval: bool) -> int:
        a = self.primary(token, val, op, noeval)
        op = self.last_token
        if not _is_binop(op):
            return a
        return self.binop2(a, op, ARITH_MAX_PREC, noeval)

    def and_(self, token: int, val: int | str, op: int, noeval: bool) -> int:
        a = self.binop(token, val, op, noeval)
        if self.last_token != ARITH_AND:
            return a
        token = self.token()
        val = self.a_t_val
        b = self.and_(token, val, self.token(), noeval or not a)
        return int(bool(a) and bool(b))

    def or_(self, token: int, val: int | str, op: int, noeval: bool) -> int:
        a = self.and_(token, val, op, noeval)
        if self.last_token != ARITH_OR:
            return a
        token = self.token()
        val = self.a_t_val
        b = self.or_(token, val, self.token(), noeval or bool(a))
        return int(bool(a) or bool(b))

    def cond(self, token: int, val: int | str, op: int, noeval: bool) -> int:
        a = self.or_(token, val, op, noeval)
        if self.last_token != ARITH_QMARK:
            return a
        b = self.comma_list(self.token(), noeval or not a)
        if self.last_token != ARITH_COLON:
            raise self.err("expecting ':'")
        token = self.token()
        val = self.a_t_val
        c = self.cond(token, val, self.token(), noeval or bool(a))
        return b if a else c

    def assignment(self, var: int, noeval: bool) -> int:
        val = self.a_t_val
        op = self.token()
        if var != ARITH_VAR:
            return self.cond(var, val, op, noeval)
        if op != ARITH_ASS and not ARITH_ASS_MIN <= op < ARITH_ASS_MAX:
            return self.cond(var, val, op, noeval)
        assert isinstance(val, str)
        result = self.assignment(self.token(), noeval)
        if noeval:
            return result
        if op != ARITH_ASS:
            result = self.do_binop(op - ARITH_ASS_GAP, self.lookupvarint(val), result)
        self.setvar(val, str(result))
        return result

    def comma_list(self, token: int, noeval: bool) -> int:
        result = self.assignment(token, noeval)
        while self.last_token == ARITH_COMMA:
            result = self.assignment(self.token(), noeval)
        return result


def arith(s: str, lookup: Callable[[str], str | None],
          setvar: Callable[[str, str], None]) -> int:
    """arith(): the value of expression ``s``; ``lookup``/``setvar`` read and
    set the shell's variables.  Raises ArithError with sh's message."""
    a = _Arith(s, lookup, setvar)
    try:
        result = a.comma_list(a.token(), False)
    except RecursionError:
        raise ArithError(f'arithmetic expression: nested too deeply: "{s}"') from None
    if a.last_token:
        raise a.err("expecting end of expression")
    assert INTMAX_MIN <= result <= INTMAX_MAX
    return result
