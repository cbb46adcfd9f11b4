"""sysctl: get or set kernel state, after NetBSD 8's sbin/sysctl/sysctl.c 1.157.

``sysctl [-dneq] [-x[x]|-r] variable ...``, ``sysctl [-ne] [-q] -w
variable=value ...``, ``sysctl [-dne] -a``, ``sysctl [-dne] -A``,
``sysctl [-ne] -M``, ``sysctl [-dne] [-q] -f file``.

Names are resolved with sysctlgetmibinfo(3) (CTL_QUERY walks of the
kernel's tree, children in number order); a node prints its whole subtree.
Values print as ``name = value`` (``name=value`` with -e, the value alone
with -n); -w sets ints, quads, bools and strings (``name: old -> new``),
``name?=value`` ignores an EPERM; -d prints descriptions (CTL_DESCRIBE);
-M the node metadata; -x/-xx hex; -r raw.  The special handlers of
sysctl.c are kept for the nodes kemu has: kern.clockrate, kern.boottime
(ctime), kern.proc*, kern.msgbuf, kern.lwp ("use 'ps' / 'dmesg'").
Messages are sysctl.c's ("second level name 'x' in 'kern.x' is invalid",
"Must specify -w to set variables", "the value is not available", ...).
Not implemented: //create, //destroy and //describe= requests (the kernel
refuses them anyway: it is built as with SYSCTL_DISALLOW_CREATE).
"""

from __future__ import annotations

import ctypes
import re
import struct

from kern.errno import (
    EINVAL,
    ENOENT,
    ENOPROTOOPT,
    ENOTDIR,
    EOPNOTSUPP,
    EPERM,
    EPROTONOSUPPORT,
    ERANGE,
    strerror,
)
from kern.exceptions import SyscallError
from kern.kern_sysctl import (
    CTL_DESCRIBE,
    CTLFLAG_ALIAS,
    CTLFLAG_HEX,
    CTLFLAG_HIDDEN,
    CTLFLAG_UNSIGNED,
    CTLTYPE_BOOL,
    CTLTYPE_INT,
    CTLTYPE_NODE,
    CTLTYPE_QUAD,
    CTLTYPE_STRING,
    CTLTYPE_STRUCT,
    SYSCTL_FLAGS,
    SYSCTL_TYPE,
    SYSCTL_VERSION,
    struct_sysctlnode,
    sysctldesc_hdr,
)
from tools.cmds import command
from tools.cmds._fsutil import ctime_fields
from tools.cmds._prog import (
    GetoptError,
    eprintf,
    errx,
    fopen,
    getopt,
    getprogname,
    printf,
    usage_exit,
)
from tools.lib import libc
from tools.lib.stdlib import ULONG_MAX, strtoull

LNAME = ["top", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
         "tenth", "eleventh", "twelfth"]

# (regular expression of the canonical /name, print handler, hint for printother)
HANDLERS = [
    (r"/kern/clockrate", "clockrate", None),
    (r"/kern/vnode", "other", "pstat"),
    (r"/kern/proc(2|_args)?", "other", "ps"),
    (r"/kern/lwp", "other", "ps"),
    (r"/kern/file2?", "other", "pstat"),
    (r"/kern/msgbuf", "other", "dmesg"),
    (r"/kern/boottime", "boottime", None),
    (r"/net/[^/]+", "other", None),
    (r"/debug", "other", None),
    (r"/ddb", "other", None),
    (r"/vendor", "other", None),
]

_FLAGNAMES = [("READWRITE", 0x70), ("ANYWRITE", 0x80), ("PRIVATE", 0x100),
              ("PERMANENT", 0x200), ("OWNDATA", 0x400), ("IMMEDIATE", 0x800), ("HEX", 0x1000),
              ("ROOT", 0x2000), ("ANYNUMBER", 0x4000), ("HIDDEN", 0x8000), ("ALIAS", 0x10000)]
_TYPENAMES = {CTLTYPE_NODE: "NODE", CTLTYPE_INT: "INT", CTLTYPE_STRING: "STRING",
              CTLTYPE_QUAD: "QUAD", CTLTYPE_STRUCT: "STRUCT", CTLTYPE_BOOL: "BOOL"}

USAGE = ("usage:\t{p} [-dneq] [-x[x]|-r] variable ...\n"
         "\t{p} [-ne] [-q] -w variable=value ...\n"
         "\t{p} [-dne] -a\n"
         "\t{p} [-dne] -A\n"
         "\t{p} [-ne] -M\n"
         "\t{p} [-dne] [-q] -f file")


def _sf(f: int) -> str:
    """The flag names sysctl -M prints."""
    out = []
    if (f & 0x70) == 0:
        out.append("READONLY")
    for name, bit in _FLAGNAMES:
        if (f & bit) == bit:
            out.append(name)
            f &= ~bit
    f &= ~0x70
    if f:
        out.append(f"{f:x}")
    return ",".join(out)


class _Sysctl:
    def __init__(self, flags: dict[str, int]) -> None:
        self.f = flags
        self.eq = "=" if flags.get("e") else " = "
        self.req = False
        self.errs = 0
        self.fn: str | None = None
        self.nr = 0

    async def perror(self, msg: str) -> None:
        """sysctlperror: ``sysctl: msg`` on stderr (stdout with -A)."""
        prefix = f"{getprogname()}: "
        if self.fn:
            prefix += f"{self.fn}#{self.nr}: "
        await (printf if self.f.get("A") else eprintf)(prefix + msg)
        self.errs += 1

    async def sysctlerror(self, e: SyscallError, soft: bool, gsname: str) -> None:
        if soft and e.errno in (ENOENT, ENOPROTOOPT, ENOTDIR, EINVAL, EOPNOTSUPP,
                                EPROTONOSUPPORT):
            if self.f.get("A") or self.req:
                await self.perror(f"{gsname}: the value is not available "
                                  f"({strerror(e.errno)})\n")
            return
        if self.f.get("A") or self.req:
            await self.perror(f"{gsname}: {strerror(e.errno)}\n")
        if not soft:
            raise _Exit(1)

    @staticmethod
    def handler(canon: str) -> tuple[str, str | None] | None:
        for rx, kind, hint in HANDLERS:
            if re.fullmatch(rx, canon):
                return kind, hint
        return None

    async def print_tree(self, name: list[int], gsname: str, node: struct_sysctlnode | None,
                         ntype: int) -> None:
        f = self.f
        gdname = ".".join(str(n) for n in name)
        if f.get("M") and node is not None:
            line = (f"{gdname}: " if f.get("n") else f"{gsname} ({gdname}): ") + \
                f"CTLTYPE_{_TYPENAMES.get(ntype, '???')}"
            if ntype == CTLTYPE_NODE:
                if SYSCTL_FLAGS(node.sysctl_flags) & CTLFLAG_ALIAS:
                    line += f", alias {node.sysctl_alias}"
                else:
                    line += f", children {node.sysctl_clen}/{node.sysctl_csize}"
            line += f", size {node.sysctl_size}"
            flags = SYSCTL_FLAGS(node.sysctl_flags)
            line += f", flags {flags:#x}<{_sf(flags)}>"
            if node.sysctl_func:
                line += f", func={node.sysctl_func:#x}"
            line += f", ver={node.sysctl_ver}\n"
            await printf(line)
            if ntype != CTLTYPE_NODE:
                return
        if f.get("d") and node is not None:
            if f.get("A") or ntype != CTLTYPE_NODE:
                desc = await self.getdesc1(name)
                if f.get("A") or desc is not None or not name:
                    if not f.get("n"):
                        await printf(f"{gsname}: ")
                    await printf(f"{desc if desc else '(no description)'}\n")
            if ntype != CTLTYPE_NODE:
                return
        canon = "/" + gsname.replace(".", "/").lstrip("/")
        h = self.handler(canon)
        if ntype != CTLTYPE_NODE and h is not None:
            await self.special(h, name, gsname, node, ntype)
            return
        if ntype == CTLTYPE_NODE:
            try:
                children = await libc.sysctl_query(name)
            except SyscallError as e:
                await self.sysctlerror(e, True, gsname)
                return
            children.sort(key=lambda c: c.sysctl_num)
            if not children:
                if f.get("d"):
                    pass
                elif h is not None:
                    await self.special(h, name, gsname, node, ntype)
                elif (f.get("A") or self.req) and not f.get("M"):
                    await printf(f"{gsname}: no children\n")
                return
            req, self.req = self.req, False
            for c in children:
                if c.sysctl_flags & CTLFLAG_HIDDEN and not (f.get("A") or req):
                    continue
                if SYSCTL_FLAGS(c.sysctl_flags) & CTLFLAG_ALIAS:
                    continue
                cname = c.sysctl_name.decode()
                await self.print_tree(name + [c.sysctl_num],
                                      f"{gsname}.{cname}" if gsname else cname, c,
                                      SYSCTL_TYPE(c.sysctl_flags))
            return
        try:
            if ntype == CTLTYPE_STRING:
                data = await libc.asysctl(name)
            else:
                size = node.sysctl_size if node is not None and node.sysctl_size else 0
                if not size:
                    size = await libc.sysctl_oldlen(name)
                    if size == 0:
                        if self.f.get("A") or self.req:
                            await printf(f"{gsname}: node contains no data\n")
                        return
                data = await libc.sysctl(name, size)
        except SyscallError as e:
            await self.sysctlerror(e, True, gsname)
            return
        if ntype in (CTLTYPE_INT, CTLTYPE_QUAD, CTLTYPE_BOOL):
            await self.display_number(node, gsname, data, "value")
        elif ntype == CTLTYPE_STRING:
            await self.display_string(node, gsname, data, "value")
        else:
            await self.display_struct(gsname, data, "value")

    async def getdesc1(self, name: list[int]) -> str | None:
        if not name:
            return None
        q = struct_sysctlnode()
        q.sysctl_flags = SYSCTL_VERSION
        q.sysctl_num = name[-1]
        try:
            raw = await libc.sysctl(name[:-1] + [CTL_DESCRIBE], 1024, bytes(q))
        except SyscallError:
            return None
        hdr = sysctldesc_hdr.from_buffer_copy(raw)
        if hdr.descr_len <= 1 or hdr.descr_num != name[-1]:
            return None
        off = ctypes.sizeof(hdr)
        return raw[off:off + hdr.descr_len - 1].decode("utf-8", "replace")

    async def special(self, h: tuple[str, str | None], name: list[int], gsname: str,
                      node: struct_sysctlnode | None, ntype: int) -> None:
        kind, hint = h
        f = self.f
        if kind == "other":
            if not (f.get("A") or self.req) or f.get("M"):
                return
            if ntype != CTLTYPE_NODE and (f.get("x") or f.get("r")):
                try:
                    data = await libc.asysctl(name)
                    await self.display_struct(gsname, data, "value")
                    return
                except SyscallError:
                    pass
            if hint is not None:
                await self.perror(f"{gsname}: use '{hint}' to view this information\n")
            elif name and name[0] == 5:
                await self.perror(f"{gsname}: missing 'options DEBUG' from kernel?\n")
            elif name and name[0] == 9:
                await self.perror(f"{gsname}: missing 'options DDB' from kernel?\n")
            elif name and name[0] == 11:
                await self.perror(f"{gsname}: no vendor extensions installed\n")
            elif name and name[0] == 4:
                await self.perror(f"{gsname}: use 'netstat' to view this information\n")
            return
        try:
            data = await libc.sysctl(name, 64)
        except SyscallError as e:
            await self.sysctlerror(e, True, gsname)
            return
        if kind == "clockrate":
            if f.get("x") or f.get("r"):
                await self.display_struct(gsname, data, "value")
                return
            hz, tick, tickadj, stathz, profhz = struct.unpack("<5i", data[:20])
            prefix = "" if f.get("n") else f"{gsname}: "
            await printf(f"{prefix}tick = {tick}, tickadj = {tickadj}, hz = {hz}, "
                         f"profhz = {profhz}, stathz = {stathz}\n")
        elif kind == "boottime":
            sec, usec = struct.unpack("<qi", data[:12])
            if f.get("x") or f.get("r"):
                await self.display_struct(gsname, data, "value")
            elif not f.get("n"):
                await printf(f"{gsname}{self.eq}{ctime_fields(sec)}\n")
            elif f["n"] == 1:
                await printf(f"{sec}\n")
            else:
                await printf(f"{sec}.{usec:06d}\n")

    async def _prefix(self, gsname: str, which: str) -> None:
        if not self.f.get("n"):
            if which == "value":
                await printf(f"{gsname}{self.eq}")
            elif which == "old":
                await printf(f"{gsname}: ")

    async def _tail(self, which: str) -> None:
        await printf(" -> " if which == "old" else "\n")

    async def display_number(self, node: struct_sysctlnode | None, gsname: str, data: bytes,
                             which: str) -> None:
        f = self.f
        if f.get("q"):
            return
        if (f.get("n") or f.get("r")) and which == "old":
            return
        if f.get("r") and which != "old":
            await printf(data)
            return
        await self._prefix(gsname, which)
        t = SYSCTL_TYPE(node.sysctl_flags) if node is not None else CTLTYPE_INT
        flags = node.sysctl_flags if node is not None else 0
        if f.get("x", 0) > 1:
            if which != "new":
                await printf("\n")
            await printf(_hex_dump(data))
            return
        if t == CTLTYPE_INT:
            v = int.from_bytes(data[:4], "little", signed=True)
            if f.get("x"):
                out = f"0x{v & 0xffffffff:0{len(data[:4]) * 2}x}"
            elif flags & CTLFLAG_HEX:
                out = f"{v & 0xffffffff:#x}"
            elif flags & CTLFLAG_UNSIGNED:
                out = str(v & 0xffffffff)
            else:
                out = str(v)
        elif t == CTLTYPE_BOOL:
            v = data[0] if data else 0
            out = f"0x{v:02x}" if f.get("x") else (f"{v:#x}" if flags & CTLFLAG_HEX else str(v))
        else:
            v = int.from_bytes(data[:8], "little")
            out = f"0x{v:016x}" if f.get("x") else (f"{v:#x}" if flags & CTLFLAG_HEX
                                                     else str(v))
        await printf(out)
        await self._tail(which)

    async def display_string(self, node: struct_sysctlnode | None, gsname: str, data: bytes,
                             which: str) -> None:
        f = self.f
        if f.get("q"):
            return
        if (f.get("n") or f.get("r")) and which == "old":
            return
        if f.get("r") and which != "old":
            await printf(data)
            return
        await self._prefix(gsname, which)
        if f.get("x", 0) > 1:
            if which != "new":
                await printf("\n")
            await printf(_hex_dump(data))
            return
        s = data.split(b"\0", 1)[0]
        flags = node.sysctl_flags if node is not None else 0
        if f.get("x") or flags & CTLFLAG_HEX:
            out = ""
            for b in data:
                if f.get("x"):
                    out += f"{b:02x}"
                if b == 0:
                    break
                if not f.get("x"):
                    out += f"\\x{b:02x}"
            await printf(out)
        else:
            await printf(s)
        await self._tail(which)

    async def display_struct(self, gsname: str, data: bytes, which: str) -> None:
        f = self.f
        if f.get("q"):
            return
        if not (f.get("x") or f.get("r")):
            if f.get("A") or self.req:
                await self.perror(f"{gsname}: this type is unknown to this program\n")
            return
        if (f.get("n") or f.get("r")) and which == "old":
            return
        if f.get("r") and which != "old":
            await printf(data)
            return
        await self._prefix(gsname, which)
        if f.get("x", 0) > 1:
            if which != "new":
                await printf("\n")
            await printf(_hex_dump(data))
            return
        more = len(data) - 16 if len(data) > 16 else 0
        out = data[:16].hex()
        if more:
            out += f"...({more} more bytes)"
        await printf(out + "\n")

    async def parse(self, line: str) -> None:
        f = self.f
        self.req = True
        key, value, optional = line, None, False
        if "=" in line:
            key, value = line.split("=", 1)
            if key.endswith("?"):
                key, optional = key[:-1], True
        if key.startswith("//") or key.startswith(".."):
            await self.perror(f"unable to parse '{key}'\n")
            return
        try:
            name, gsname, node = await libc.sysctlgetmibinfo(key)
        except libc.SysctlNameError as e:
            if optional:
                return
            if f.get("q"):
                self.errs += 1
                return
            await self.perror(f"{LNAME[min(e.namelen, len(LNAME) - 1)]} level name "
                              f"'{e.token}' in '{line}' is invalid\n")
            if self.fn is None:
                raise _Exit(1) from None
            return
        ntype = SYSCTL_TYPE(node.sysctl_flags)
        if value is None:
            await self.print_tree(name, gsname, node, ntype)
            return
        if not f.get("w"):
            await self.perror("Must specify -w to set variables\n")
            raise _Exit(1)
        canon = "/" + gsname.replace(".", "/")
        h = self.handler(canon)
        if ntype != CTLTYPE_NODE and h is not None:
            await self.perror(f"Cannot write `{gsname}': {strerror(EOPNOTSUPP)}\n")
            raise _Exit(1)
        if ntype in (CTLTYPE_INT, CTLTYPE_BOOL, CTLTYPE_QUAD):
            await self.write_number(name, gsname, node, value, optional)
        elif ntype == CTLTYPE_STRING:
            await self.write_string(name, gsname, node, value, optional)
        else:
            await self.print_tree(name, gsname, node, ntype)

    async def write_number(self, name: list[int], gsname: str, node: struct_sysctlnode,
                           value: str, optional: bool) -> None:
        if self.fn:
            value = value.strip()
        c = strtoull(value, 0)                 # strtouq(value, &t, 0)
        qi = c.value
        if qi == ULONG_MAX and c.errno == ERANGE:
            await self.perror(f"{value}: {strerror(ERANGE)}\n")
            if self.fn is None:                 # EXIT(): -f files go on
                raise _Exit(1)
            return
        if c.end == 0 or c.rest(value):
            await self.perror(f"{value}: not a number\n")
            if self.fn is None:
                raise _Exit(1)
            return
        t = SYSCTL_TYPE(node.sysctl_flags)
        if t == CTLTYPE_INT:
            if (qi >> 32) not in (0, 0xffffffff):
                await self.perror(f"{value}: {strerror(ERANGE)}\n")
                raise _Exit(1)
            new = (qi & 0xffffffff).to_bytes(4, "little")
        elif t == CTLTYPE_BOOL:
            new = bytes([1 if qi else 0])
        else:
            new = qi.to_bytes(8, "little")
        try:
            old = await libc.sysctl(name, len(new), new)
        except SyscallError as e:
            if not optional or e.errno != EPERM:
                await self.sysctlerror(e, False, gsname)
            return
        await self.display_number(node, gsname, old, "old")
        await self.display_number(node, gsname, new, "new")

    async def write_string(self, name: list[int], gsname: str, node: struct_sysctlnode,
                           value: str, optional: bool) -> None:
        new = value.encode() + b"\0"
        so = node.sysctl_size
        if so and len(new) > so:
            await self.perror(f"{value}: string too long\n")
            if self.fn is None:
                raise _Exit(1)
            return
        try:
            old = await libc.sysctl(name, so or 1024, new)
        except SyscallError as e:
            if not optional or e.errno != EPERM:
                await self.sysctlerror(e, False, gsname)
            return
        await self.display_string(node, gsname, old, "old")
        await self.display_string(node, gsname, new, "new")


class _Exit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


def _hex_dump(buf: bytes) -> str:
    out = []
    for off in range(0, len(buf), 16):
        chunk = buf[off:off + 16]
        line = [" "] * 78
        line[0:7] = f"{off:07x}"
        for j, b in enumerate(chunk):
            line[9 + j * 3:11 + j * 3] = f"{b:02x}"
            line[60 + j] = chr(b) if 32 <= b < 127 else "."
        line[58] = "|"
        line[77] = "|"
        out.append("".join(line))
    return "".join(s + "\n" for s in out) + f"{len(buf):07d} bytes\n"


@command("sysctl", summary="get or set kernel state")
async def sysctl_main(argv: list[str]) -> int:
    usage = USAGE.format(p=getprogname())
    try:
        opts, args = getopt(argv, "Aabdef:Mnqrwx")
    except GetoptError as e:
        await eprintf(e.msg + "\n")
        await usage_exit(usage)
    flags: dict[str, int] = {}
    fn = None
    for o, a in opts:
        if o == "f":
            fn = a
            flags["w"] = flags.get("w", 0) + 1
        elif o == "b":
            flags["r"] = flags.get("r", 0) + 1
        else:
            flags[o] = flags.get(o, 0) + 1
    if flags.get("x") and flags.get("r"):
        await usage_exit(usage)
    if (flags.get("a") or flags.get("A")) and flags.get("q"):
        await usage_exit(usage)
    if (flags.get("A") or flags.get("M") or flags.get("d")) and not args and fn is None:
        flags["a"] = 1
    s = _Sysctl(flags)
    try:
        if flags.get("a"):
            await s.print_tree([], "", None, CTLTYPE_NODE)
            return 0
        if fn is not None:
            s.fn = fn
            try:
                fp = await fopen(fn)
            except SyscallError as e:
                await errx(1, f"{fn}: {strerror(e.errno)}")
            text = (await fp.read()).decode("utf-8", "surrogateescape")
            await fp.close()
            for s.nr, line in enumerate(text.split("\n"), 1):
                line = line.split("#", 1)[0].strip()
                if line:
                    await s.parse(line)
            return 1 if s.errs else 0
        if not args:
            await usage_exit(usage)
        for a in args:
            await s.parse(a)
    except _Exit as e:
        return e.status
    return 1 if s.errs else 0

