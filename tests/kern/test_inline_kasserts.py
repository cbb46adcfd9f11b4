"""KASSERTs tested in line (``if not cond: KASSERT(cond)``, a speed change of the
hot paths): each ``if`` is the assertion's exact negation, and the panic names the
asserted expression as the plain KASSERT did."""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from types import SimpleNamespace

import pytest

import kern
from kern.subr_lockdebug import first_arg_text

ROOT = Path(__file__).resolve().parents[2]
_INVERSE = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt,
            ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
            ast.In: ast.NotIn, ast.NotIn: ast.In}


class _Truth(ast.NodeTransformer):
    """``len(x) > 0`` as ``x`` (the same truth for the sequences asserted on)."""

    def visit_Compare(self, node: ast.Compare) -> ast.expr:
        node = self.generic_visit(node)
        if (isinstance(node.left, ast.Call) and getattr(node.left.func, "id", "") == "len"
                and len(node.left.args) == 1 and len(node.ops) == 1
                and isinstance(node.ops[0], ast.Gt)
                and isinstance(node.comparators[0], ast.Constant)
                and node.comparators[0].value == 0):
            return node.left.args[0]
        return node


def _negated(e: ast.expr) -> ast.expr:
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.Not):
        return e.operand
    if isinstance(e, ast.Compare) and len(e.ops) == 1 and type(e.ops[0]) in _INVERSE:
        return ast.Compare(e.left, [_INVERSE[type(e.ops[0])]()], e.comparators)
    return ast.UnaryOp(ast.Not(), e)


def _demorgan(e: ast.expr) -> ast.expr:
    """not (a and b) as (not a) or (not b), and the other way round."""
    if isinstance(e, ast.BoolOp):
        op = ast.Or() if isinstance(e.op, ast.And) else ast.And()
        return ast.BoolOp(op, [_negated(v) for v in e.values])
    return _negated(e)


def _may_have_inline_kassert(src: str) -> bool:
    """Whether a KASSERT statement may be the body of an ``if`` in ``src``: a line
    that starts with one after a line with a colon (comment and blank lines between
    skipped), or an ``if``/``elif`` line that holds one.  Loose on purpose (a
    ``for``'s or ``def``'s body passes too): only the files it rejects, most of
    them, are not parsed, which is most of the scan's cost (it runs when each
    pytest worker collects this module)."""
    prev = ""
    for line in src.splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.startswith(("KASSERT(", "KASSERTMSG(")) and ":" in prev:
            return True
        if s.startswith(("if ", "if(", "elif ", "elif(")) and "KASSERT" in s:
            return True
        prev = s
    return False


@functools.cache
def _inline_kasserts() -> list[tuple[Path, ast.If, ast.Call, str]]:
    out = []
    for sub in ("kern", "vfs", "dev", "fs"):
        for p in sorted((ROOT / sub).rglob("*.py")):
            src = p.read_text(encoding="utf-8")
            if "KASSERT" in src and _may_have_inline_kassert(src):
                out += [(p, node, node.body[0].value, src) for node in _ifs_kasserting(src, p)]
    return out


def _ifs_kasserting(src: str, path: Path | str = "<src>") -> list[ast.If]:
    """The ``if``s of ``src`` whose whole body is a KASSERT (an inline one)."""
    return [node for node in ast.walk(ast.parse(src, str(path)))
            if (isinstance(node, ast.If) and len(node.body) == 1 and not node.orelse
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Call)
                and getattr(node.body[0].value.func, "id", "") in ("KASSERT", "KASSERTMSG")
                and not any(isinstance(n, ast.Await)
                            for n in ast.walk(node.body[0].value.args[0])))]


@pytest.mark.parametrize("src", [
    "if not x:\n    KASSERT(x)\n",
    "if (a and\n        b):  # why\n\n    # the check\n    KASSERTMSG(a, 'm')\n",
    "if not x: KASSERT(x)\n",
    "if y:\n    pass\nelif not x:\n    KASSERT(x)\n",
    "if y:\n    pass\nelif not x: KASSERT(x)\n",
    "if not x: \\\n    KASSERT(x)\n",
])
def test_the_prefilter_keeps_every_inline_kassert(src):
    """A source with an inline KASSERT (as the scan finds them) is never skipped."""
    assert _ifs_kasserting(src) and _may_have_inline_kassert(src)
    assert not _may_have_inline_kassert("KASSERT(x)\nif x:\n    y = 1\n    KASSERT(x)\n")


def test_there_are_inline_kasserts_to_check():
    names = {p.name for p, *_ in _inline_kasserts()}
    assert {"vnode.py", "mount.py", "vfs_bio.py", "kern_sysctl.py",
            "subr_autoconf.py", "kern_physio.py", "kern_descrip.py"} <= names


@pytest.mark.parametrize("case", _inline_kasserts(),
                         ids=lambda c: f"{c[0].relative_to(ROOT)}:{c[1].lineno}")
def test_inline_kassert_tests_the_negation_and_names_its_expression(case):
    path, node, call, src = case
    arg = _Truth().visit(ast.parse(ast.get_source_segment(src, call.args[0]), mode="eval").body)
    test = node.test
    want = {ast.dump(_negated(arg)), ast.dump(_demorgan(arg))}
    assert ast.dump(test) in want or ast.dump(_negated(test)) == ast.dump(arg), \
        f"if {ast.unparse(test)}: {call.func.id}({ast.unparse(arg)})"
    assert first_arg_text(str(path), call.lineno, call.func.id) == \
        ast.get_source_segment(src, call.args[0])


def test_vref_of_an_unreferenced_vnode_panics_with_its_message():
    from vfs.vnode import vref

    vp = SimpleNamespace(v_usecount=0)
    with pytest.raises(kern.KernelPanic, match=r'assertion "vp.v_usecount != 0" failed: '
                       r'file "vfs/vnode.py", line \d+ vref: .* has no references'):
        vref(vp)
    assert vp.v_usecount == 0
    vp.v_usecount = 2
    vref(vp)
    assert vp.v_usecount == 3


def test_vtryrele_of_an_unreferenced_vnode_panics_with_its_message():
    from vfs.vnode import vtryrele

    vp = SimpleNamespace(v_usecount=0)
    with pytest.raises(kern.KernelPanic, match=r'assertion "use > 1" failed: .* vtryrele: '
                       r'.* has no references'):
        vtryrele(vp)
    vp.v_usecount = 1
    assert vtryrele(vp) is False and vp.v_usecount == 1
    vp.v_usecount = 3
    assert vtryrele(vp) is True and vp.v_usecount == 2


def test_vfs_unbusy_of_an_unreferenced_mount_panics():
    from vfs.mount import vfs_unbusy

    with pytest.raises(kern.KernelPanic, match=r'assertion "mp.mnt_refcnt > 0" failed: '
                       r'file "vfs/mount.py"'):
        vfs_unbusy(SimpleNamespace(mnt_refcnt=0))
