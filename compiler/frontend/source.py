"""Reads a user function's source and rejects what adjoint cannot differentiate.

Guarantees: `parse_function(f)` returns the function's `ast.FunctionDef` with every
node's line and column mapped back to the user's file, or raises an `AdjointError`
naming the file, line and construct. After it succeeds, the body contains only the
statements and expressions in `ALLOWED` (the "fence", after google/tangent).
"""
from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import dataclass

from ..errors import UnsupportedError
from ..ir.core import Loc


@dataclass(frozen=True)
class FunctionSource:
    fn: object  # the Python function
    node: ast.FunctionDef
    file: str
    first_line: int  # line of `def` in the file
    indent: int  # columns removed by dedent

    def loc(self, node) -> Loc:
        line = self.first_line + getattr(node, "lineno", 1) - 1
        col = getattr(node, "col_offset", 0) + self.indent
        import linecache
        text = linecache.getline(self.file, line).strip()
        return Loc(self.file, line, col, text)

    @property
    def params(self) -> list[str]:
        return [a.arg for a in self.node.args.args]


_STATEMENT_HINTS = {
    ast.If: "`if` statements are not supported yet (control flow is a later feature)",
    ast.For: "`for` loops are not supported yet (control flow is a later feature)",
    ast.While: "`while` loops are not supported yet (control flow is a later feature)",
    ast.With: "`with` statements cannot be differentiated; move the block out of the loss",
    ast.Try: "`try` statements cannot be differentiated; validate inputs before the call",
    ast.Raise: "`raise` cannot appear in a differentiated function",
    ast.Global: "`global` cannot appear in a differentiated function",
    ast.Nonlocal: "`nonlocal` cannot appear in a differentiated function",
    ast.FunctionDef: "nested `def` is not supported; define the helper at module level",
    ast.ClassDef: "classes cannot be defined inside a differentiated function",
    ast.Import: "imports inside a differentiated function are not supported; import at module level",
    ast.ImportFrom: "imports inside a differentiated function are not supported; import at module level",
    ast.Delete: "`del` is not supported",
    ast.Assert: "`assert` is not supported inside a differentiated function",
}
_EXPR_HINTS = {
    ast.Lambda: "`lambda` is not supported; define a module-level function instead",
    ast.ListComp: "list comprehensions are not supported; use NumPy array operations",
    ast.GeneratorExp: "generator expressions are not supported; use NumPy array operations",
    ast.DictComp: "dict comprehensions are not supported",
    ast.SetComp: "set comprehensions are not supported",
    ast.Yield: "generators cannot be differentiated",
    ast.YieldFrom: "generators cannot be differentiated",
    ast.Await: "`await` cannot be differentiated",
    ast.Dict: "dicts are not supported; pass arrays",
    ast.Set: "sets are not supported",
    ast.List: "lists are not supported inside a differentiated function; use np.array or arguments",
    ast.JoinedStr: "f-strings are not supported",
    ast.NamedExpr: "`:=` is not supported",
    ast.Starred: "`*args` unpacking is not supported",
    ast.IfExp: "conditional expressions are not supported yet (control flow is a later feature)",
    ast.BoolOp: "`and`/`or` are not supported; use np.logical_and / np.where",
    ast.Subscript: "indexing is not supported yet (a later feature)",
    ast.Slice: "slices are not supported yet (a later feature)",
}
_STATEMENTS = (ast.Assign, ast.AugAssign, ast.Return, ast.Expr, ast.Pass)


def construct_name(node) -> str:
    return {ast.If: "if", ast.For: "for", ast.While: "while", ast.With: "with",
            ast.Try: "try", ast.Lambda: "lambda"}.get(type(node), type(node).__name__)


def parse_function(fn) -> FunctionSource:
    """Parse `fn` and check it against the fence. Raises UnsupportedError."""
    name = getattr(fn, "__qualname__", repr(fn))
    try:
        file = inspect.getsourcefile(fn) or "<unknown>"
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError) as e:
        raise UnsupportedError(
            f"cannot read the source of {name}: {e}",
            hint="adjoint reads a function's source with inspect; define it in a .py file "
                 "(functions typed at the interactive prompt or built with exec have none)") from None
    src = "".join(lines)
    dedented = textwrap.dedent(src)
    indent = len(lines[0]) - len(lines[0].lstrip()) if lines else 0
    tree = ast.parse(dedented)
    node = tree.body[0]
    if isinstance(node, ast.AsyncFunctionDef) or not isinstance(node, ast.FunctionDef):
        raise UnsupportedError(f"{name} is not a plain `def` function",
                               hint="adjoint differentiates functions defined with `def`")
    # decorators sit above `def`; inspect's first line is the first decorator
    fs = FunctionSource(fn, node, file, first, indent)
    _fence(fs)
    return fs


def _fence(fs: FunctionSource):
    a = fs.node.args
    for bad, what in ((a.vararg, "*args"), (a.kwarg, "**kwargs")):
        if bad is not None:
            raise UnsupportedError(f"{what} in the signature of {fs.node.name} is not supported",
                                   fs.loc(bad), "list each argument by name")
    if a.kwonlyargs or a.posonlyargs:
        raise UnsupportedError("keyword-only and positional-only parameters are not supported",
                               fs.loc(fs.node), "use plain positional parameters")
    for stmt in fs.node.body:
        if not isinstance(stmt, _STATEMENTS):
            hint = _STATEMENT_HINTS.get(type(stmt), "rewrite it with assignments and NumPy calls")
            raise UnsupportedError(f"unsupported construct `{construct_name(stmt)}`",
                                   fs.loc(stmt), hint)
        for sub in ast.walk(stmt):
            if type(sub) in _EXPR_HINTS:
                raise UnsupportedError(f"unsupported construct `{construct_name(sub)}`",
                                       fs.loc(sub), _EXPR_HINTS[type(sub)])
    last = fs.node.body[-1]
    for stmt in fs.node.body[:-1]:
        if isinstance(stmt, ast.Return):
            raise UnsupportedError("early `return` is not supported yet", fs.loc(stmt),
                                   "return once, at the end of the function")
    if not isinstance(last, ast.Return) or last.value is None:
        raise UnsupportedError(f"{fs.node.name} must end with `return <loss>`", fs.loc(last),
                               "return the scalar loss on the last line")
