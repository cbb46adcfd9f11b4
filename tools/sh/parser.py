"""The shell's parser: NetBSD sh's grammar (bin/sh/parser.c, nodetypes, mktokens).

Checked against parser.c 1.153 (2018): list, andor, pipeline, command,
simplecmd, parsefname, the here-document functions (readheredocs,
slurp_heredoc, checkend) and readtoken1's ARISYNTAX keep its order and its
messages; the tokenizer works on the whole text with one token of push back
instead of sh's input stack (pgetc/pungetc), which is kemu's.

The structure is sh's: a tokenizer (``readtoken``, with one token of push
back and ``checkkwd`` deciding where reserved words count) under a
recursive-descent parser whose functions are parser.c's: ``list``,
``andor``, ``pipeline``, ``command``, ``simplecmd``.  It builds the node
types of bin/sh/nodetypes (NSEMI, NAND, NOR, NPIPE, NCMD, NREDIR,
NSUBSHELL, NBACKGND, NIF, NWHILE, NUNTIL, NFOR, NCASE, NDEFUN, NNOT) and
reports errors with sh's words: ``Syntax error: "|" unexpected``,
``Syntax error: Word "fi" unexpected (expecting "then")``,
``Syntax error: Unterminated quoted string``, ``Bad substitution``...

A word is kept as its parts instead of sh's string with CTL bytes in it:
literal text (quoted or not), parameter expansions (``$x``, ``${x}``,
``${x:-word}`` and the other forms, ``${#x}``), and command substitutions
(``$(...)`` and backquotes), each knowing whether it stood in double
quotes.  That is what expansion needs to decide field splitting,
pathname expansion and quote removal.

Here-documents are parser.c's: after ``<<`` (or ``<<-``) and its end
marker, the document is read at the next newline (readheredocs,
slurp_heredoc, checkend); an unquoted marker makes its text expand as in
double quotes, except that a ``"`` is an ordinary character.

``$((...))`` is read as readtoken1's ARISYNTAX reads it: up to the ``))``
that closes it, parentheses balanced inside, with its own ``$``
substitutions and backquotes, quotes removed; a ``)`` that closes more
than was opened and is not followed by another is ``Missing '))'``.

Not in this shell: aliases and ``case`` fall-through (``;&``); each is a
syntax error naming itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

# ------------------------------------------------------------------ tokens (mktokens)

TEOF, TNL, TSEMI, TBACKGND, TAND, TOR, TPIPE, TLP, TRP, TENDCASE, TCASEFALL, TENDBQUOTE, \
    TREDIR, TWORD, TIF, TTHEN, TDO, TDONE, TELIF, TELSE, TFI, TWHILE, TUNTIL, TFOR, TCASE, \
    TESAC, TNOT, TBEGIN, TEND = range(29)

# (ends a list?, name in messages)
_TOKENS = {
    TEOF: (True, "end of file"), TNL: (False, "newline"), TSEMI: (False, '";"'),
    TBACKGND: (False, '"&"'), TAND: (False, '"&&"'), TOR: (False, '"||"'),
    TPIPE: (False, '"|"'), TLP: (False, '"("'), TRP: (True, '")"'),
    TENDCASE: (True, '";;"'), TCASEFALL: (True, '";&"'), TENDBQUOTE: (True, '"`"'),
    TREDIR: (False, "redirection"), TWORD: (False, "word"), TIF: (False, '"if"'),
    TTHEN: (True, '"then"'), TDO: (True, '"do"'), TDONE: (True, '"done"'),
    TELIF: (True, '"elif"'), TELSE: (True, '"else"'), TFI: (True, '"fi"'),
    TWHILE: (False, '"while"'), TUNTIL: (False, '"until"'), TFOR: (False, '"for"'),
    TCASE: (False, '"case"'), TESAC: (True, '"esac"'), TNOT: (False, '"!"'),
    TBEGIN: (False, '"{"'), TEND: (True, '"}"'),
}
tokendlist = {t: v[0] for t, v in _TOKENS.items()}
tokname = {t: v[1] for t, v in _TOKENS.items()}

parsekwd = {"!": TNOT, "case": TCASE, "do": TDO, "done": TDONE, "elif": TELIF, "else": TELSE,
            "esac": TESAC, "fi": TFI, "for": TFOR, "if": TIF, "then": TTHEN, "until": TUNTIL,
            "while": TWHILE, "{": TBEGIN, "}": TEND}

# ------------------------------------------------------------------ words

# parameter expansion subtypes (bin/sh/parser.h)
VSNORMAL = 1        # ${var}
VSMINUS = 2         # ${var-text}
VSPLUS = 3          # ${var+text}
VSQUESTION = 4      # ${var?message}
VSASSIGN = 5        # ${var=text}
VSTRIMLEFT = 6      # ${var#pattern}
VSTRIMLEFTMAX = 7   # ${var##pattern}
VSTRIMRIGHT = 8     # ${var%pattern}
VSTRIMRIGHTMAX = 9  # ${var%%pattern}
VSLENGTH = 10       # ${#var}

SPECIAL_PARAMS = "@*#?-$!0123456789"


@dataclass
class Lit:
    """Literal text; ``quoted`` when it came from quotes or a backslash."""

    text: str
    quoted: bool = False


@dataclass
class Param:
    """A parameter expansion: ``$name``, ``${name}``, ``${name<op>word}``, ``${#name}``."""

    name: str
    subtype: int = VSNORMAL
    colon: bool = False          # ${x:-y}: an empty value counts as unset
    arg: Word | None = None
    dq: bool = False             # inside double quotes


@dataclass
class CmdSub:
    """``$(list)`` or a backquoted command: its output, trailing newlines removed."""

    tree: Node | None
    dq: bool = False


@dataclass
class Arith:
    """``$((expression))``: the expression as a word (its own expansions in it)."""

    expr: Word
    dq: bool = False


Part = Lit | Param | CmdSub | Arith


@dataclass
class Word:
    parts: list[Part] = field(default_factory=list)
    text: str = ""               # the source text, for messages and tracing

    def literal(self) -> str | None:
        """The word's text when nothing in it expands (quotes removed), else None."""
        out = []
        for p in self.parts:
            if not isinstance(p, Lit):
                return None
            out.append(p.text)
        return "".join(out)

    def quoted(self) -> bool:
        return any(isinstance(p, Lit) and p.quoted for p in self.parts) or \
            any(not isinstance(p, Lit) and p.dq for p in self.parts)


# ------------------------------------------------------------------ nodes (nodetypes)

NSEMI, NCMD, NPIPE, NREDIR, NBACKGND, NSUBSHELL, NAND, NOR, NIF, NWHILE, NUNTIL, NFOR, \
    NCASE, NDEFUN, NNOT = range(15)

# redirection types
NTO = ">"           # fd > fname
NCLOBBER = ">|"     # fd >| fname
NFROM = "<"         # fd < fname
NFROMTO = "<>"      # fd <> fname
NAPPEND = ">>"      # fd >> fname
NTOFD = ">&"        # fd >& dupfd
NFROMFD = "<&"      # fd <& dupfd
NHERE = "<<"        # fd << fname, the end marker quoted: the document as it is
NXHERE = "<<$"      # fd << fname, unquoted: the document expanded


@dataclass
class Redir:
    type: str
    fd: int
    fname: Word
    doc: Word | None = None       # a here-document's text (NHERE, NXHERE)
    striptabs: bool = False       # <<-: leading tabs stripped


EOFHERE = "EOF reading here (<<) document"


@dataclass
class Node:
    type: int
    lineno: int = 0


@dataclass
class NCmdNode(Node):
    assigns: list[Word] = field(default_factory=list)
    args: list[Word] = field(default_factory=list)
    redirect: list[Redir] = field(default_factory=list)
    text: str = ""


@dataclass
class NPipeNode(Node):
    cmdlist: list[Node] = field(default_factory=list)


@dataclass
class NBinaryNode(Node):
    ch1: Node | None = None
    ch2: Node | None = None


@dataclass
class NRedirNode(Node):
    n: Node | None = None
    redirect: list[Redir] = field(default_factory=list)


@dataclass
class NIfNode(Node):
    test: Node | None = None
    ifpart: Node | None = None
    elsepart: Node | None = None


@dataclass
class NForNode(Node):
    var: str = ""
    args: list[Word] | None = None    # None: "$@"
    body: Node | None = None


@dataclass
class NCaseItem:
    patterns: list[Word]
    body: Node | None


@dataclass
class NCaseNode(Node):
    expr: Word | None = None
    cases: list[NCaseItem] = field(default_factory=list)


@dataclass
class NDefunNode(Node):
    name: str = ""
    body: Node | None = None


@dataclass
class NNotNode(Node):
    com: Node | None = None
    double: bool = False


# ------------------------------------------------------------------ errors

class ShellSyntaxError(Exception):
    """sh's synerror(): the message after ``Syntax error: ``.

    ``incomplete`` is true when the input ended inside a construct, so an
    interactive shell may read another line (PS2) and try again.
    """

    def __init__(self, msg: str, lineno: int = 0, incomplete: bool = False) -> None:
        super().__init__(msg)
        self.msg = msg
        self.lineno = lineno
        self.incomplete = incomplete


def is_name_start(c: str) -> bool:
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z")


def is_in_name(c: str) -> bool:
    return is_name_start(c) or ("0" <= c <= "9")


def goodname(name: str) -> bool:
    """A legal variable name: a letter or underscore, then letters, digits, underscores."""
    return bool(name) and is_name_start(name[0]) and all(is_in_name(c) for c in name[1:])


def assignment_name(w: Word) -> str | None:
    """The NAME of a ``NAME=value`` word (the name unquoted), else None."""
    if not w.parts or not isinstance(w.parts[0], Lit) or w.parts[0].quoted:
        return None
    head = w.parts[0].text
    eq = head.find("=")
    if eq <= 0 or not goodname(head[:eq]):
        return None
    return head[:eq]


# ------------------------------------------------------------------ the parser

_BLANKS = " \t"
_OPCHARS = ";&|()<>\n"


class Parser:
    """Parse sh text.  ``parsecmd()`` returns the next complete command (a list
    ended by a newline), None for a blank line, or ``NEOF`` at the end."""

    def __init__(self, text: str, lineno: int = 1) -> None:
        self.text = text
        self.pos = 0
        self.plinno = lineno
        self.startlinno = lineno
        self.tokpushback = False
        self.checkkwd = 0
        self.lasttoken = TEOF
        self.wordtext = ""
        self.quoteflag = False
        self.word: Word | None = None
        self.redirnode: Redir | None = None
        self.heredoclist: list[tuple[Redir, str, int]] = []   # (node, eofmark, line)
        self.last_text = ""          # the source of the last complete command

    # -------------------------------------------------------------- errors

    def synerror(self, msg: str) -> ShellSyntaxError:
        return ShellSyntaxError(msg, self.startlinno, incomplete=self.pos >= len(self.text))

    def synexpect(self, token: int, text: str | None = None) -> ShellSyntaxError:
        """sh's synexpect: what was found, and what was expected if one thing was."""
        if self.lasttoken == TWORD:
            wt = self.wordtext
            msg = f'Word "{wt}" unexpected' if len(wt) <= 13 else f'Word "{wt[:10]}..." unexpected'
        else:
            msg = f"{tokname[self.lasttoken]} unexpected"
        if text:
            msg += f' (expecting "{text[:10]}")'
        elif token >= 0:
            msg += f" (expecting {tokname[token]})"
        e = self.synerror(msg)
        e.incomplete = e.incomplete and self.lasttoken == TEOF
        return e

    # -------------------------------------------------------------- grammar

    def parsecmd(self) -> Node | None | str:
        """The next complete command; None for an empty line; NEOF at end of input."""
        self.tokpushback = False
        self.checkkwd = 0
        start = self.pos
        t = self.readtoken()
        if t == TEOF:
            return NEOF
        if t == TNL:
            return None
        self.tokpushback = True
        try:
            n = self.list(True)
        except RecursionError:
            # The C recurses on its own stack; this parser on Python's, which
            # is smaller: a command nested past it is refused, not a traceback.
            raise ShellSyntaxError("Nesting too deep", self.startlinno) from None
        if self.heredoclist:
            # The input ended before the line with the << did (sh's error();
            # here a syntax error, so an interactive shell reads on).
            _, mark, line = self.heredoclist[0]
            raise ShellSyntaxError(f"{line}: Here document (<<{mark}) expected but not "
                                   "present", line, incomplete=True)
        self.last_text = self.text[start:self.pos].strip()
        return n

    def list(self, nlflag: bool) -> Node | None:
        self.checkkwd = 2
        if not nlflag and tokendlist[self.peektoken()]:
            return None
        ntop: Node | None = None
        while True:
            n2 = self.andor()
            tok = self.readtoken()
            if tok == TBACKGND:
                n2 = NRedirNode(NBACKGND, n2.lineno, n2, [])
            ntop = n2 if ntop is None else NBinaryNode(NSEMI, ntop.lineno, ntop, n2)
            if tok in (TBACKGND, TSEMI):
                tok = self.readtoken()
                if tok == TNL:
                    if nlflag:
                        return ntop
                elif tok == TEOF and nlflag:
                    return ntop
                else:
                    self.tokpushback = True
                self.checkkwd = 2
                if not nlflag and tokendlist[self.peektoken()]:
                    return ntop
            elif tok == TNL:
                if nlflag:
                    return ntop
                self.checkkwd = 2
                if tokendlist[self.peektoken()]:
                    return ntop
            elif tok == TEOF:
                self.tokpushback = True
                return ntop
            else:
                if nlflag:
                    raise self.synexpect(-1)
                self.tokpushback = True
                return ntop

    def andor(self) -> Node:
        n1 = self.pipeline()
        while True:
            t = self.readtoken()
            if t == TAND:
                typ = NAND
            elif t == TOR:
                typ = NOR
            else:
                self.tokpushback = True
                return n1
            n2 = self.pipeline()
            n1 = NBinaryNode(typ, n1.lineno, n1, n2)

    def pipeline(self) -> Node:
        negate = 0
        self.checkkwd = 2
        while self.readtoken() == TNOT:
            negate += 1
            self.checkkwd = 2
        self.tokpushback = True
        n1 = self.command()
        if self.readtoken() == TPIPE:
            cmds = [n1]
            while True:
                cmds.append(self.command())
                if self.readtoken() != TPIPE:
                    break
            n1 = NPipeNode(NPIPE, n1.lineno, cmds)
        self.tokpushback = True
        if negate:
            return NNotNode(NNOT, n1.lineno, n1, double=not negate & 1)
        return n1

    def command(self) -> Node:
        self.checkkwd = 2
        redir: list[Redir] = []
        lineno = self.plinno
        # redirections before a compound command
        while self.readtoken() == TREDIR:
            redir.append(self.parsefname())
        self.tokpushback = True

        t = self.readtoken()
        lineno = self.startlinno
        n1: Node
        if t == TIF:
            top = NIfNode(NIF, lineno, self.list(False))
            self.consumetoken(TTHEN)
            top.ifpart = self.list(False)
            n2 = top
            while self.readtoken() == TELIF:
                nxt = NIfNode(NIF, self.startlinno, self.list(False))
                self.consumetoken(TTHEN)
                nxt.ifpart = self.list(False)
                n2.elsepart = nxt
                n2 = nxt
            if self.lasttoken == TELSE:
                n2.elsepart = self.list(False)
            else:
                self.tokpushback = True
            self.consumetoken(TFI)
            self.checkkwd = 1
            n1 = top
        elif t in (TWHILE, TUNTIL):
            typ = NWHILE if t == TWHILE else NUNTIL
            cond = self.list(False)
            self.consumetoken(TDO)
            body = self.list(False)
            self.consumetoken(TDONE)
            self.checkkwd = 1
            n1 = NBinaryNode(typ, lineno, cond, body)
        elif t == TFOR:
            if self.readtoken() != TWORD or self.quoteflag or not goodname(self.wordtext):
                raise self.synerror("Bad for loop variable")
            nf = NForNode(NFOR, lineno, self.wordtext)
            self.linebreak()
            if self.lasttoken == TWORD and not self.quoteflag and self.wordtext == "in":
                args = []
                while self.readtoken() == TWORD:
                    assert self.word is not None
                    args.append(self.word)
                nf.args = args
                if self.lasttoken not in (TNL, TSEMI):
                    raise self.synexpect(TSEMI)
            else:
                nf.args = None
                if self.lasttoken not in (TNL, TSEMI):
                    self.tokpushback = True
            self.checkkwd = 2
            t2 = self.readtoken()
            if t2 == TDO:
                end = TDONE
            elif t2 == TBEGIN:
                end = TEND
            else:
                raise self.synexpect(TDO)
            nf.body = self.list(False)
            self.consumetoken(end)
            self.checkkwd = 1
            n1 = nf
        elif t == TCASE:
            n1 = self.casecmd(lineno)
        elif t == TLP:
            sub = self.list(False)
            if sub is None:
                raise self.synexpect(-1)
            self.consumetoken(TRP)
            self.checkkwd = 1
            n1 = NRedirNode(NSUBSHELL, lineno, sub, [])
        elif t == TBEGIN:
            sub = self.list(False)
            self.consumetoken(TEND)
            self.checkkwd = 1
            if sub is None:
                raise self.synexpect(-1)
            n1 = sub
        elif t in (TBACKGND, TSEMI, TAND, TOR, TPIPE, TNL, TEOF, TRP, TENDCASE, TCASEFALL):
            # A simple command needs a word or a redirection.
            if not redir:
                raise self.synexpect(-1)
            self.tokpushback = True
            return self.simplecmd(redir, lineno)
        elif t == TWORD:
            self.tokpushback = True
            return self.simplecmd(redir, lineno)
        else:
            raise self.synexpect(-1)

        # redirections after a compound command
        while self.readtoken() == TREDIR:
            redir.append(self.parsefname())
        self.tokpushback = True
        if redir:
            if isinstance(n1, NRedirNode) and n1.type == NSUBSHELL:
                n1.redirect = redir
            else:
                n1 = NRedirNode(NREDIR, lineno, n1, redir)
        return n1

    def casecmd(self, lineno: int) -> Node:
        self.consumetoken(TWORD)
        assert self.word is not None
        nc = NCaseNode(NCASE, lineno, self.word)
        self.linebreak()
        if self.lasttoken != TWORD or self.wordtext != "in":
            raise self.synexpect(-1, "in")
        self.checkkwd = 2
        self.readtoken()
        while self.lasttoken != TESAC:
            pats = []
            if self.lasttoken == TLP:
                self.readtoken()
            while True:
                if self.lasttoken != TWORD:
                    raise self.synexpect(TWORD)
                assert self.word is not None
                pats.append(self.word)
                self.checkkwd = 2
                if self.readtoken() != TPIPE:
                    break
                self.readtoken()
            if self.lasttoken != TRP:
                raise self.synexpect(TRP)
            body = self.list(False)
            nc.cases.append(NCaseItem(pats, body))
            self.checkkwd = 2
            t = self.readtoken()
            if t != TESAC:
                if t == TCASEFALL:
                    raise self.synerror('";&" in case is not supported by kemu\'s sh')
                if t != TENDCASE:
                    raise self.synexpect(TENDCASE)
                self.checkkwd = 2
                self.readtoken()
        self.checkkwd = 1
        return nc

    def simplecmd(self, redir: list[Redir], lineno: int) -> Node:
        args: list[Word] = []
        assigns: list[Word] = []
        while True:
            t = self.readtoken()
            if t == TWORD:
                assert self.word is not None
                if not args and assignment_name(self.word) is not None:
                    assigns.append(self.word)
                else:
                    args.append(self.word)
            elif t == TREDIR:
                redir.append(self.parsefname())
            elif t == TLP and len(args) == 1 and not assigns and not redir:
                # a function definition: name () command
                self.consumetoken(TRP)
                name = args[0].literal()
                if name is None or "/" in name:
                    raise self.synerror("Bad function name")
                body = self.command()
                return NDefunNode(NDEFUN, lineno, name, body)
            else:
                self.tokpushback = True
                break
        text = " ".join([w.text for w in assigns + args] +
                        [f"{r.fd}{r.type}{r.fname.text}" for r in redir])
        return NCmdNode(NCMD, lineno, assigns, args, redir, text)

    def parsefname(self) -> Redir:
        r = self.redirnode
        assert r is not None
        if self.readtoken() != TWORD:
            raise self.synexpect(-1)
        assert self.word is not None
        r.fname = self.word
        if r.type == NHERE:
            if not self.quoteflag:
                r.type = NXHERE
            # The marker is taken literally, quotes removed: nothing in it expands.
            mark = self.word.literal()
            if mark is None:
                raise self.synerror("Illegal eof marker for << redirection")
            if r.striptabs:
                mark = mark.lstrip("\t")
            self.heredoclist.append((r, mark, self.startlinno))
        return r

    def readheredocs(self) -> None:
        """After a newline: the bodies of the here-documents its line started,
        in order; an unquoted one's text parsed as its expansions."""
        while self.heredoclist:
            r, mark, _line = self.heredoclist.pop(0)
            line = self.plinno
            body = self.slurp_heredoc(mark, r.striptabs, r.type == NHERE)
            if r.type == NHERE:
                r.doc = Word([Lit(body, True)], body)
            else:
                r.doc = Parser(body, line).read_heredoc_text()

    def checkend(self, eofmark: str, striptabs: bool) -> bool:
        """At the start of a line of a here-document: is it the end marker?  (Its
        leading tabs, with <<-, are skipped either way.)  True consumes the line."""
        text = self.text
        n = len(text)
        if striptabs:
            while self.pos < n and text[self.pos] == "\t":
                self.pos += 1
        if self.pos >= n:
            if eofmark == "":
                return True
            raise self.synerror(EOFHERE)
        end = text.find("\n", self.pos)
        line = text[self.pos:end if end >= 0 else n]
        if line != eofmark:
            return False
        if end >= 0:
            self.pos = end + 1
            self.plinno += 1
        else:
            self.pos = n
        return True

    def slurp_heredoc(self, eofmark: str, striptabs: bool, sq: bool) -> str:
        """The lines of a here-document up to its end marker.  With an unquoted
        marker a backslash-newline joins lines (so the next cannot end it); the
        backslashes themselves are left for the expansion."""
        text = self.text
        n = len(text)
        if self.pos >= n and eofmark != "":
            raise self.synerror(EOFHERE)
        out: list[str] = []
        while not self.checkend(eofmark, striptabs):
            while True:
                if self.pos >= n:
                    raise self.synerror(EOFHERE)
                c = text[self.pos]
                self.pos += 1
                if not sq and c == "\\":
                    out.append(c)
                    if self.pos >= n:
                        raise self.synerror(EOFHERE)
                    c = text[self.pos]
                    self.pos += 1
                    if c == "\n":
                        out.append(c)
                        self.plinno += 1
                        continue
                out.append(c)
                if c == "\n":
                    self.plinno += 1
                    break
            # A line was read; the input may not end before the marker.
            if self.pos >= n:
                raise self.synerror(EOFHERE)
        return "".join(out)

    def read_heredoc_text(self) -> Word:
        """An unquoted here-document's text as a word (readtoken1 in DQSYNTAX with
        magicq): ``$`` and backquote substitutions, a backslash quoting ``$``,
        backquote, backslash and newline; a ``"`` is itself."""
        parts: list[Part] = []
        self.read_dquoted(parts, heredoc=True)
        return Word(parts, self.text)

    def linebreak(self) -> None:
        while self.readtoken() == TNL:
            pass

    def consumetoken(self, token: int) -> None:
        if self.readtoken() != token:
            raise self.synexpect(token)

    def peektoken(self) -> int:
        t = self.readtoken()
        self.tokpushback = True
        return t

    # -------------------------------------------------------------- tokens

    def readtoken(self) -> int:
        if self.tokpushback:
            self.tokpushback = False
            t = self.lasttoken
            if self.checkkwd:
                t = self._checkkwd(t)
            return t
        t = self.xxreadtoken()
        if self.checkkwd:
            t = self._checkkwd(t)
        return t

    def _checkkwd(self, t: int) -> int:
        if self.checkkwd == 2:
            self.checkkwd = 0
            while t == TNL:
                t = self.xxreadtoken()
        else:
            self.checkkwd = 0
        if t == TWORD and not self.quoteflag and self.wordtext in parsekwd:
            t = parsekwd[self.wordtext]
            self.lasttoken = t
        return t

    def xxreadtoken(self) -> int:
        text = self.text
        n = len(text)
        while True:
            while self.pos < n and text[self.pos] in _BLANKS:
                self.pos += 1
            if self.pos < n and text.startswith("\\\n", self.pos):
                self.pos += 2
                self.plinno += 1
                continue
            break
        self.startlinno = self.plinno
        if self.pos >= n:
            return self._tok(TEOF)
        c = text[self.pos]
        if c == "#":
            while self.pos < n and text[self.pos] != "\n":
                self.pos += 1
            return self.xxreadtoken()
        if c == "\n":
            self.pos += 1
            self.plinno += 1
            # The here-documents of the line that ended come next.
            self.readheredocs()
            return self._tok(TNL)
        two = text[self.pos:self.pos + 2]
        if two == "&&":
            self.pos += 2
            return self._tok(TAND)
        if two == "||":
            self.pos += 2
            return self._tok(TOR)
        if two == ";;":
            self.pos += 2
            return self._tok(TENDCASE)
        if two == ";&":
            self.pos += 2
            return self._tok(TCASEFALL)
        simple = {";": TSEMI, "&": TBACKGND, "|": TPIPE, "(": TLP, ")": TRP}
        if c in simple:
            self.pos += 1
            return self._tok(simple[c])
        return self.readtoken1()

    def _tok(self, t: int) -> int:
        self.lasttoken = t
        return t

    # -------------------------------------------------------------- words

    def readtoken1(self) -> int:
        """A word, or a redirection operator with its optional fd number."""
        text = self.text
        n = len(text)
        start = self.pos
        parts: list[Part] = []
        lit: list[str] = []
        quotef = False

        def flush(quoted: bool = False) -> None:
            if lit:
                parts.append(Lit("".join(lit), quoted))
                lit.clear()

        while self.pos < n:
            c = text[self.pos]
            if c in _BLANKS or c in _OPCHARS:
                break
            if c == "\\":
                if self.pos + 1 >= n:
                    lit.append("\\")
                    self.pos += 1
                    continue
                nxt = text[self.pos + 1]
                self.pos += 2
                if nxt == "\n":
                    self.plinno += 1
                    continue
                flush()
                parts.append(Lit(nxt, True))
                quotef = True
                continue
            if c == "'":
                end = text.find("'", self.pos + 1)
                if end < 0:
                    self.pos = n
                    raise self.synerror("Unterminated quoted string")
                flush()
                s = text[self.pos + 1:end]
                self.plinno += s.count("\n")
                parts.append(Lit(s, True))
                quotef = True
                self.pos = end + 1
                continue
            if c == '"':
                flush()
                self.pos += 1
                self.read_dquoted(parts)
                quotef = True
                continue
            if self.substitution(c, False, lit, parts, flush):
                continue
            lit.append(c)
            self.pos += 1
        flush()

        # A redirection operator, with the unquoted digits before it as the fd.
        if self.pos < n and text[self.pos] in "<>" and not quotef:
            word = "".join(p.text for p in parts if isinstance(p, Lit))
            if (not parts) or (len(parts) == 1 and isinstance(parts[0], Lit) and word.isdigit()):
                return self.parseredir(int(word) if parts else -1)
        if not parts and self.pos == start:
            # a lone operator character we do not know ('<' handled above)
            self.pos += 1
            raise self.synerror(f'"{text[start]}" unexpected')
        self.word = Word(parts, text[start:self.pos])
        self.wordtext = self.word.text
        self.quoteflag = quotef
        return self._tok(TWORD)

    def read_dquoted(self, parts: list[Part], heredoc: bool = False) -> None:
        """The inside of "...", up to the closing quote (self.pos is after the
        opening one); with ``heredoc``, a here-document's text to its end, where
        a ``"`` is an ordinary character (readtoken1's magicq)."""
        text = self.text
        n = len(text)
        lit: list[str] = []
        escapes = '\\$`' if heredoc else '\\"$`'

        def flush() -> None:
            # Even "" is a (quoted, empty) part: it makes a word.
            parts.append(Lit("".join(lit), True))
            lit.clear()

        while True:
            if self.pos >= n:
                if heredoc:
                    flush()
                    return
                raise self.synerror("Unterminated quoted string")
            c = text[self.pos]
            if c == '"' and not heredoc:
                self.pos += 1
                flush()
                return
            if c == "\\" and self.pos + 1 < n:
                nxt = text[self.pos + 1]
                if nxt in escapes:
                    lit.append(nxt)
                    self.pos += 2
                    continue
                if nxt == "\n":
                    self.pos += 2
                    self.plinno += 1
                    continue
                lit.append("\\")
                self.pos += 1
                continue
            if self.substitution(c, True, lit, parts, flush):
                continue
            if c == "\n":
                self.plinno += 1
            lit.append(c)
            self.pos += 1

    def substitution(self, c: str, dq: bool, lit: list[str], parts: list[Part],
                     flush: Callable[[], None]) -> bool:
        """At a '$' or a '`': the substitution it starts joins ``parts`` (a '$' that
        starts none is literal text).  False for any other character."""
        if c == "$":
            sub = self.parsesub(dq)
            if sub is None:
                lit.append("$")
            else:
                flush()
                parts.append(sub)
            return True
        if c == "`":
            flush()
            parts.append(self.parsebackq(dq))
            return True
        return False

    def parsesub(self, dq: bool) -> Part | None:
        """After a '$': a parameter or command substitution; None if '$' is literal."""
        text = self.text
        n = len(text)
        p = self.pos + 1
        c = text[p] if p < n else ""
        if c == "(":
            if text.startswith("((", p):
                self.pos = p + 2
                return self.parse_arith(dq)
            self.pos = p + 1
            return CmdSub(self.parse_cmdsubst(), dq)
        if c == "{":
            return self.parse_braced(p + 1, dq)
        if c and is_name_start(c):
            q = p
            while q < n and is_in_name(text[q]):
                q += 1
            self.pos = q
            return Param(text[p:q], dq=dq)
        if c and c in SPECIAL_PARAMS:
            self.pos = p + 1
            return Param(c, dq=dq)
        self.pos = p
        return None

    def parse_braced(self, p: int, dq: bool) -> Part:
        """``${...}``: p is after the brace."""
        text = self.text
        n = len(text)
        subtype = 0
        if p < n and text[p] == "#" and p + 1 < n and text[p + 1] != "}":
            subtype = VSLENGTH
            p += 1
        q = p
        if q < n and is_name_start(text[q]):
            while q < n and is_in_name(text[q]):
                q += 1
        elif q < n and text[q].isdigit():
            while q < n and text[q].isdigit():
                q += 1
        elif q < n and text[q] in SPECIAL_PARAMS:
            q += 1
        else:
            self.pos = n if q >= n else q
            if q >= n:
                raise self.synerror("Missing '}'")
            raise self.synerror("Bad substitution")
        name = text[p:q]
        if q >= n:
            self.pos = n
            raise self.synerror("Missing '}'")
        if subtype == VSLENGTH:
            if text[q] != "}":
                self.pos = q
                raise self.synerror("no modifiers allowed with ${#var}")
            self.pos = q + 1
            return Param(name, VSLENGTH, dq=dq)
        if text[q] == "}":
            self.pos = q + 1
            return Param(name, VSNORMAL, dq=dq)
        colon = False
        c = text[q]
        if c == ":":
            colon = True
            q += 1
            c = text[q] if q < n else ""
        ops = {"-": VSMINUS, "+": VSPLUS, "?": VSQUESTION, "=": VSASSIGN}
        if c in ops:
            subtype = ops[c]
            q += 1
        elif c in ("#", "%") and not colon:
            subtype = VSTRIMLEFT if c == "#" else VSTRIMRIGHT
            q += 1
            if q < n and text[q] == c:
                subtype += 1
                q += 1
        else:
            self.pos = q
            if q >= n:
                raise self.synerror("Missing '}'")
            raise self.synerror("Bad substitution")
        self.pos = q
        arg = self.read_subst_word(dq)
        return Param(name, subtype, colon, arg, dq)

    def read_subst_word(self, dq: bool) -> Word:
        """The word inside ``${x-word}``, up to the matching '}'."""
        text = self.text
        n = len(text)
        start = self.pos
        parts: list[Part] = []
        lit: list[str] = []

        def flush(quoted: bool) -> None:
            if lit:
                parts.append(Lit("".join(lit), quoted))
                lit.clear()

        while True:
            if self.pos >= n:
                raise self.synerror("Missing '}'")
            c = text[self.pos]
            if c == "}":
                flush(dq)
                self.pos += 1
                return Word(parts, text[start:self.pos - 1])
            if c == "\\" and self.pos + 1 < n:
                flush(dq)
                parts.append(Lit(text[self.pos + 1], True))
                self.pos += 2
                continue
            if c == "'" and not dq:
                end = text.find("'", self.pos + 1)
                if end < 0:
                    self.pos = n
                    raise self.synerror("Unterminated quoted string")
                flush(dq)
                parts.append(Lit(text[self.pos + 1:end], True))
                self.pos = end + 1
                continue
            if c == '"':
                flush(dq)
                self.pos += 1
                self.read_dquoted(parts)
                continue
            if self.substitution(c, dq, lit, parts, lambda: flush(dq)):
                continue
            lit.append(c)
            self.pos += 1

    def parse_arith(self, dq: bool) -> Arith:
        """``$((...))``: self.pos is after the two '('; up to the matching '))'."""
        text = self.text
        n = len(text)
        start = self.pos
        parts: list[Part] = []
        lit: list[str] = []
        parenlevel = 0
        inquote = False

        def flush() -> None:
            if lit:
                parts.append(Lit("".join(lit), True))
                lit.clear()

        while True:
            if self.pos >= n:
                raise self.synerror("Missing '))'")
            c = text[self.pos]
            if c == "\\" and self.pos + 1 < n:
                nxt = text[self.pos + 1]
                self.pos += 2
                if nxt == "\n":
                    self.plinno += 1
                    continue
                lit.append(nxt)
                continue
            if c == '"':
                inquote = not inquote
                self.pos += 1
                continue
            if c == "'" and not inquote:
                end = text.find("'", self.pos + 1)
                if end < 0:
                    self.pos = n
                    raise self.synerror("Unterminated quoted string")
                lit.append(text[self.pos + 1:end])
                self.pos = end + 1
                continue
            if self.substitution(c, True, lit, parts, flush):
                continue
            if c == "(":
                parenlevel += 1
            elif c == ")":
                if parenlevel > 0:
                    parenlevel -= 1
                elif text.startswith("))", self.pos):
                    expr_text = text[start:self.pos]
                    self.pos += 2
                    flush()
                    return Arith(Word(parts, expr_text), dq)
                else:
                    self.pos += 1
                    raise self.synerror("Missing '))'")
            elif c == "\n":
                self.plinno += 1
            lit.append(c)
            self.pos += 1

    def parse_cmdsubst(self) -> Node | None:
        """``$(list)``: self.pos is after the '('; parse up to the matching ')'."""
        saved = (self.tokpushback, self.checkkwd, self.lasttoken, self.wordtext,
                 self.quoteflag, self.word, self.redirnode)
        self.tokpushback = False
        tree = self.list(False)
        if self.readtoken() != TRP:
            raise self.synexpect(TRP)
        (self.tokpushback, self.checkkwd, self.lasttoken, self.wordtext, self.quoteflag,
         self.word, self.redirnode) = saved
        return tree

    def parsebackq(self, dq: bool) -> CmdSub:
        """A backquoted command: its text (with \\\\, \\` and \\$ unescaped) parsed apart."""
        text = self.text
        n = len(text)
        p = self.pos + 1
        out = []
        while True:
            if p >= n:
                self.pos = n
                raise self.synerror('EOF in backquote substitution')
            c = text[p]
            if c == "`":
                break
            if c == "\\" and p + 1 < n and text[p + 1] in "\\`$" + ('"' if dq else ""):
                out.append(text[p + 1])
                p += 2
                continue
            out.append(c)
            p += 1
        sub = Parser("".join(out), self.plinno)
        tree = sub.list(False)
        if sub.readtoken() != TEOF:
            raise sub.synexpect(-1)
        self.plinno += text.count("\n", self.pos, p)
        self.pos = p + 1
        return CmdSub(tree, dq)

    def parseredir(self, fd: int) -> int:
        """A redirection operator at self.pos; ``fd`` given before it, or -1."""
        text = self.text
        c = text[self.pos]
        nxt = text[self.pos + 1] if self.pos + 1 < len(text) else ""
        if c == ">":
            if nxt == ">":
                typ, ln = NAPPEND, 2
            elif nxt == "&":
                typ, ln = NTOFD, 2
            elif nxt == "|":
                typ, ln = NCLOBBER, 2
            else:
                typ, ln = NTO, 1
            dflt = 1
        else:
            if nxt == "<":
                striptabs = text[self.pos + 2:self.pos + 3] == "-"
                self.pos += 3 if striptabs else 2
                self.redirnode = Redir(NHERE, 0 if fd < 0 else fd, Word(),
                                       striptabs=striptabs)
                return self._tok(TREDIR)
            if nxt == "&":
                typ, ln = NFROMFD, 2
            elif nxt == ">":
                typ, ln = NFROMTO, 2
            else:
                typ, ln = NFROM, 1
            dflt = 0
        self.pos += ln
        self.redirnode = Redir(typ, dflt if fd < 0 else fd, Word())
        return self._tok(TREDIR)


NEOF = "<EOF>"


def parse(text: str) -> list[Node]:
    """Every complete command of ``text`` (blank lines dropped); raises ShellSyntaxError."""
    p = Parser(text)
    out: list[Node] = []
    while True:
        n = p.parsecmd()
        if n is NEOF:
            return out
        if n is not None:
            assert isinstance(n, Node)
            out.append(n)
