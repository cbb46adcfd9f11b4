"""test and [: condition evaluation utility, after NetBSD 8's bin/test/test.c
(read at 1.39, 2012; numbers are its getn(): strtoll(3), then only white
space).

The grammar is test.c's recursive descent (oexpr/aexpr/nexpr/primary/binop
with t_lex's and isoperand's disambiguation of ``-a``, ``-o``, ``!``, ``(``
and the unary operators used as operands)::

    oexpr   ::= aexpr | aexpr "-o" oexpr
    aexpr   ::= nexpr | nexpr "-a" aexpr
    nexpr   ::= primary | "!" primary
    primary ::= unary-operator operand | operand binary-operator operand
              | operand | "(" oexpr ")"

Unary operators: -b -c -d -e -f -g -h -k -L -n -O -G -p -r -S -s -t -u -w
-x -z; binary: = != < > -eq -ne -ge -gt -le -lt -nt -ot -ef.  Invoked as
``[`` the last argument must be ``]``.  Exit status 0 for true, 1 for
false (or no expression), 2 on an error, with test.c's messages
("missing ]", "X: unexpected operator", "X: argument expected",
"closing paren expected", "X: bad number", "X: out of range").
File tests use stat/lstat/access(2) on the machine's file systems.
``-t fd`` is false for every descriptor: kemu has no terminal devices.
"""

from __future__ import annotations

from kern.errno import ERANGE
from kern.exceptions import SyscallError
from tools.cmds import command
from tools.cmds._prog import errx, getprogname
from tools.lib import libc
from tools.lib.stdlib import LLONG_MAX, LLONG_MIN, strtoll
from vfs.stat import (
    S_ISBLK,
    S_ISCHR,
    S_ISDIR,
    S_ISFIFO,
    S_ISGID,
    S_ISLNK,
    S_ISREG,
    S_ISSOCK,
    S_ISUID,
    S_ISVTX,
    S_IXGRP,
    S_IXOTH,
    S_IXUSR,
)

UNOP, BINOP, BUNOP, BBINOP, PAREN = range(5)
EOI, OPERAND = "EOI", "OPERAND"

# (text, token, type), in test.c's order
_OPS = [
    ("-r", "FILRD", UNOP), ("-w", "FILWR", UNOP), ("-x", "FILEX", UNOP),
    ("-e", "FILEXIST", UNOP), ("-f", "FILREG", UNOP), ("-d", "FILDIR", UNOP),
    ("-c", "FILCDEV", UNOP), ("-b", "FILBDEV", UNOP), ("-p", "FILFIFO", UNOP),
    ("-u", "FILSUID", UNOP), ("-g", "FILSGID", UNOP), ("-k", "FILSTCK", UNOP),
    ("-s", "FILGZ", UNOP), ("-t", "FILTT", UNOP), ("-z", "STREZ", UNOP),
    ("-n", "STRNZ", UNOP), ("-h", "FILSYM", UNOP), ("-O", "FILUID", UNOP),
    ("-G", "FILGID", UNOP), ("-L", "FILSYM", UNOP), ("-S", "FILSOCK", UNOP),
    ("=", "STREQ", BINOP), ("!=", "STRNE", BINOP), ("<", "STRLT", BINOP),
    (">", "STRGT", BINOP), ("-eq", "INTEQ", BINOP), ("-ne", "INTNE", BINOP),
    ("-ge", "INTGE", BINOP), ("-gt", "INTGT", BINOP), ("-le", "INTLE", BINOP),
    ("-lt", "INTLT", BINOP), ("-nt", "FILNT", BINOP), ("-ot", "FILOT", BINOP),
    ("-ef", "FILEQ", BINOP), ("!", "UNOT", BUNOP), ("-a", "BAND", BBINOP),
    ("-o", "BOR", BBINOP), ("(", "LPAREN", PAREN), (")", "RPAREN", PAREN),
]
_OPTAB = {text: (text, tok, typ) for text, tok, typ in _OPS}


class _Test:
    def __init__(self, args: list[str]) -> None:
        self.wp = args + [None]     # t_wp walks this NULL-terminated vector
        self.i = 0
        self.op: tuple[str, str, int] | None = None   # t_wp_op

    def cur(self) -> str | None:
        return self.wp[self.i] if self.i < len(self.wp) else None

    async def syntax(self, op: str | None, msg: str) -> None:
        if op:
            await errx(2, f"{op}: {msg}")
        await errx(2, msg)

    def t_lex(self, s: str | None) -> str:
        if s is None:
            self.op = None
            return EOI
        op = _OPTAB.get(s)
        if op is not None:
            if not ((op[2] == UNOP and self.isoperand())
                    or (op[1] == "LPAREN" and self.i + 1 < len(self.wp)
                        and self.wp[self.i + 1] is None)):
                self.op = op
                return op[1]
        self.op = None
        return OPERAND

    def isoperand(self) -> bool:
        s = self.wp[self.i + 1] if self.i + 1 < len(self.wp) else None
        if s is None:
            return True
        t = self.wp[self.i + 2] if self.i + 2 < len(self.wp) else None
        if t is None:
            return False
        op = _OPTAB.get(s)
        if op is not None:
            return op[2] == BINOP and t != ")"
        return False

    def advance(self) -> str | None:
        self.i += 1
        return self.cur()

    async def oexpr(self, n: str) -> bool:
        res = await self.aexpr(n)
        if self.t_lex(self.advance()) == "BOR":
            return await self.oexpr(self.t_lex(self.advance())) or res
        self.i -= 1
        return res

    async def aexpr(self, n: str) -> bool:
        res = await self.nexpr(n)
        if self.t_lex(self.advance()) == "BAND":
            return await self.aexpr(self.t_lex(self.advance())) and res
        self.i -= 1
        return res

    async def nexpr(self, n: str) -> bool:
        if n == "UNOT":
            return not await self.nexpr(self.t_lex(self.advance()))
        return await self.primary(n)

    async def primary(self, n: str) -> bool:
        if n == EOI:
            return False                # missing expression
        if n == "LPAREN":
            nn = self.t_lex(self.advance())
            if nn == "RPAREN":
                return False            # missing expression
            res = await self.oexpr(nn)
            if self.t_lex(self.advance()) != "RPAREN":
                await self.syntax(None, "closing paren expected")
            return res
        if self.op is not None and self.op[2] == UNOP:
            # unary expression
            op = self.op
            arg = self.advance()
            if arg is None:
                await self.syntax(op[0], "argument expected")
                return False
            if n == "STREZ":
                return len(arg.encode()) == 0
            if n == "STRNZ":
                return len(arg.encode()) != 0
            if n == "FILTT":
                await self.getn(arg)
                return False            # no terminals in kemu
            return await self.filstat(arg, n)
        nxt = self.wp[self.i + 1] if self.i + 1 < len(self.wp) else None
        save = self.i
        self.i += 1
        self.t_lex(nxt)
        self.i = save
        if self.op is not None and self.op[2] == BINOP:
            return await self.binop()
        cur = self.cur()
        return bool(cur)

    async def binop(self) -> bool:
        opnd1 = self.cur() or ""
        self.t_lex(self.advance())
        op = self.op
        assert op is not None
        opnd2 = self.advance()
        if opnd2 is None:
            await self.syntax(op[0], "argument expected")
            return False
        t = op[1]
        if t == "STREQ":
            return opnd1 == opnd2
        if t == "STRNE":
            return opnd1 != opnd2
        if t == "STRLT":
            return opnd1.encode() < opnd2.encode()
        if t == "STRGT":
            return opnd1.encode() > opnd2.encode()
        if t.startswith("INT"):
            a, b = await self.getq(opnd1), await self.getq(opnd2)
            return {"INTEQ": a == b, "INTNE": a != b, "INTGE": a >= b, "INTGT": a > b,
                    "INTLE": a <= b, "INTLT": a < b}[t]
        s1 = await _stat(opnd1)
        s2 = await _stat(opnd2)
        if s1 is None or s2 is None:
            return False
        if t == "FILNT":
            return s1.st_mtimespec.tv_sec > s2.st_mtimespec.tv_sec
        if t == "FILOT":
            return s1.st_mtimespec.tv_sec < s2.st_mtimespec.tv_sec
        return s1.st_dev == s2.st_dev and s1.st_ino == s2.st_ino

    async def filstat(self, nm: str, mode: str) -> bool:
        try:
            s = await (libc.lstat(nm) if mode == "FILSYM" else libc.stat(nm))
        except SyscallError:
            return False
        if mode in ("FILRD", "FILWR", "FILEX", "FILEXIST"):
            amode = {"FILRD": libc.R_OK, "FILWR": libc.W_OK, "FILEX": libc.X_OK,
                     "FILEXIST": libc.F_OK}[mode]
            try:
                await libc.access(nm, amode)
            except SyscallError:
                return False
            if mode == "FILEX" and not S_ISDIR(s.st_mode):
                # access(2) says yes to root for any file: want an x bit
                return bool(s.st_mode & (S_IXUSR | S_IXGRP | S_IXOTH))
            return True
        m = s.st_mode
        return {"FILREG": S_ISREG(m), "FILDIR": S_ISDIR(m), "FILCDEV": S_ISCHR(m),
                "FILBDEV": S_ISBLK(m), "FILFIFO": S_ISFIFO(m), "FILSOCK": S_ISSOCK(m),
                "FILSYM": S_ISLNK(m), "FILSUID": bool(m & S_ISUID),
                "FILSGID": bool(m & S_ISGID), "FILSTCK": bool(m & S_ISVTX),
                "FILGZ": s.st_size > 0, "FILUID": s.st_uid == 0,
                "FILGID": s.st_gid == 0}.get(mode, True)

    async def getq(self, s: str) -> int:
        """getq(): strtoll(3), ERANGE "out of range"; after the number only
        white space, and not nothing at all ("bad number")."""
        c = strtoll(s, 10)
        if c.errno == ERANGE and c.value in (LLONG_MAX, LLONG_MIN):
            await errx(2, f"{s}: out of range")
        p = c.end
        while p < len(s) and s[p] in " \t\n\v\f\r":
            p += 1
        if p < len(s) or p == 0:
            await errx(2, f"{s}: bad number")
        return c.value

    async def getn(self, s: str) -> int:
        return await self.getq(s)       # test.c has one getn, getq's strtoll


async def _stat(path: str) -> libc.struct_stat | None:
    try:
        return await libc.stat(path)
    except SyscallError:
        return None


@command("test", "[", summary="condition evaluation utility")
async def test_main(argv: list[str]) -> int:
    args = argv[1:]
    if getprogname() == "[":
        if not args or args[-1] != "]":
            await errx(2, "missing ]")
        args = args[:-1]
    if not args:
        return 1
    t = _Test(args)
    res = not await t.oexpr(t.t_lex(t.cur()))
    cur = t.cur()
    if cur is not None:
        t.i += 1
        nxt = t.cur()
        if nxt is not None:
            await t.syntax(nxt, "unexpected operator")
    return int(res)
