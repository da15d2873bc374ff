"""Reads a user function's source and rejects what adjoint cannot differentiate.

Guarantees: `parse_function(f)` returns the function's `ast.FunctionDef` with every
node's line and column mapped back to the user's file, or raises an `AdjointError`
naming the file, line and construct. After it succeeds, the body contains only the
statements and expressions in `ALLOWED` (the "fence", after google/tangent).
"""
from __future__ import annotations

import __future__
import ast
import dataclasses
import dis
import functools
import inspect
import linecache
import os
import textwrap
import types
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
    inlined_at: Loc | None = None  # the call this body is being inlined at (Loc.inlined_at)
    bound: tuple | None = None  # a bound method's (first parameter's name, its object)

    def loc(self, node) -> Loc:
        line = self.first_line + getattr(node, "lineno", 1) - 1
        col = getattr(node, "col_offset", 0) + self.indent
        import linecache
        text = linecache.getline(self.file, line).strip()
        return Loc(self.file, line, col, text, self.inlined_at)

    @property
    def params(self) -> list[str]:
        """The parameters a caller passes: positional ones, then keyword-only ones; a
        bound method's first parameter (`self`) is bound already."""
        a = self.node.args
        names = [p.arg for p in a.args + a.kwonlyargs]
        return names[1:] if self.bound is not None else names


_STATEMENT_HINTS = {
    ast.With: "`with` statements cannot be differentiated; move the block out of the loss",
    ast.Try: "`try` statements cannot be differentiated; validate inputs before the call",
    ast.Raise: "`raise` cannot appear in a differentiated function",
    ast.Global: "`global` cannot appear in a differentiated function",
    ast.Nonlocal: "`nonlocal` cannot appear in a differentiated function",
    ast.ClassDef: "classes cannot be defined inside a differentiated function",
    ast.Import: "imports inside a differentiated function are not supported; import at module level",
    ast.ImportFrom: "imports inside a differentiated function are not supported; import at module level",
    ast.Delete: "`del` is not supported",
}
_EXPR_HINTS = {
    ast.ListComp: "list comprehensions are not supported; use NumPy array operations",
    ast.GeneratorExp: "generator expressions are not supported; use NumPy array operations",
    ast.DictComp: "dict comprehensions are not supported",
    ast.SetComp: "set comprehensions are not supported",
    ast.Yield: "generators cannot be differentiated",
    ast.YieldFrom: "generators cannot be differentiated",
    ast.Await: "`await` cannot be differentiated",
    ast.Set: "sets are not supported",
    ast.JoinedStr: "f-strings are not supported",
    ast.NamedExpr: "`:=` is not supported",
    ast.Starred: "`*args` unpacking is not supported",
}
_STATEMENTS = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Return, ast.Expr, ast.Pass, ast.If,
               ast.For, ast.While, ast.Break, ast.Continue, ast.Assert, ast.FunctionDef)


def construct_name(node) -> str:
    return {ast.If: "if", ast.For: "for", ast.While: "while", ast.With: "with",
            ast.Try: "try", ast.Lambda: "lambda"}.get(type(node), type(node).__name__)


def parse_function(fn) -> FunctionSource:
    """Parse `fn` (a function, or a bound method: its object is bound to its first
    parameter) and check it against the fence. Raises UnsupportedError."""
    bound = None
    if inspect.ismethod(fn) and inspect.isfunction(fn.__func__):
        bound, fn = fn.__self__, fn.__func__
    name = getattr(fn, "__qualname__", repr(fn))
    inner = inspect.unwrap(fn) if inspect.isfunction(fn) else fn
    if inner is not fn and getattr(inner, "__code__", None) is not fn.__code__:
        raise UnsupportedError(
            f"{name} is a decorator's wrapper (functools.wraps set its __wrapped__ to the "
            f"function {inner.__qualname__} it calls): adjoint reads the source of that "
            "function, so what the wrapper does would be left out",
            hint="differentiate the undecorated function, and write what the decorator "
                 "adds (a scale, a change of the arguments) in the loss itself")
    try:
        file = inspect.getsourcefile(fn) or "<unknown>"
        lines, first = inspect.getsourcelines(fn)
    except (OSError, TypeError) as e:
        raise UnsupportedError(
            f"cannot read the source of {name}: {e}",
            hint="adjoint reads a function's source with inspect; define it in a .py file "
                 "(functions typed at the interactive prompt or built with exec have none)") from None
    if not _source_is_the_code(fn, file):  # (before parsing what inspect found there)
        raise UnsupportedError(
            f"the source of {name} in {file} is not the code Python runs for it: the file "
            f"changed after it was imported, or {name}.__code__ was replaced, and adjoint "
            "would differentiate the text rather than the function",
            Loc(file, fn.__code__.co_firstlineno, 0,
                linecache.getline(file, fn.__code__.co_firstlineno).strip()),
            "reload its module (importlib.reload) or restart Python")
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
    if bound is not None:
        if not node.args.args:
            raise UnsupportedError(f"the method {name} takes no `self` parameter", fs.loc(node))
        fs = dataclasses.replace(fs, bound=(node.args.args[0].arg, bound))
    _fence(fs)
    return fs


_FUTURE = 0  # the compiler flags of `from __future__ import ...`
for _name in __future__.all_feature_names:
    _FUTURE |= getattr(__future__, _name).compiler_flag


def _source_is_the_code(fn, file: str) -> bool:
    """Is fn's code what its file's text compiles to now? inspect reads the file as it
    is now (linecache); Python runs what it compiled at import. The text is compiled
    with fn's `__future__` flags and the code objects of fn's name compared with fn's
    code by `_shape`, which is the same however the text was cut into compile units (a
    module, a notebook cell, one statement of it, a doctest example). False (refused)
    when none matches, and, for a file on disk, when the text no longer compiles or no
    longer defines the name. True when it cannot tell: text that is not a file (a cell,
    exec'd text) and does not compile, a module pytest rewrote (its asserts are not the
    text's)."""
    code = getattr(fn, "__code__", None)
    if code is None or "@py_builtins" in getattr(fn, "__globals__", {}):
        return True
    found = _compiled_functions(file, "".join(linecache.getlines(file)), code.co_flags & _FUTURE)
    if found is None:
        return not os.path.isfile(file)
    candidates = found.get(getattr(code, "co_qualname", code.co_name))
    if not candidates:
        return not os.path.isfile(file)
    return _shape(code) in candidates


@functools.lru_cache(maxsize=32)
def _compiled_functions(file: str, text: str, flags: int) -> dict | None:
    """{qualified name (the name before Python 3.11): [_shape of each code object]} of
    the functions `text` defines; None if it does not compile."""
    try:
        module = compile(text, file, "exec", flags=flags | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                         dont_inherit=True)
    except (SyntaxError, ValueError):
        return None
    out, todo = {}, [module]
    while todo:
        for c in todo.pop().co_consts:
            if isinstance(c, types.CodeType):
                out.setdefault(getattr(c, "co_qualname", c.co_name), []).append(_shape(c))
                todo.append(c)
    return out


def _shape(code) -> tuple:
    """What a code object computes, without what depends on the compile unit: its
    instructions (names, constants by repr, jump targets as instruction indices, nested
    code objects by their shape) and lines. A name bound by an `import` in the same
    unit makes CPython call its attributes with LOAD_ATTR instead of LOAD_METHOD (and
    other cache sizes, so other offsets): both read as LOAD_ATTR here."""
    ins = list(dis.get_instructions(code))
    index = {i.offset: k for k, i in enumerate(ins)}
    jumps = set(dis.hasjrel) | set(dis.hasjabs)
    ops = []
    for i in ins:
        if isinstance(i.argval, types.CodeType):
            arg = _shape(i.argval)
        elif i.opcode in jumps:
            arg = index.get(i.argval, i.argval)
        elif isinstance(i.argval, (float, complex, tuple, frozenset)):
            arg = repr(i.argval)
        else:
            arg = i.argval
        ops.append(("LOAD_ATTR" if i.opname == "LOAD_METHOD" else i.opname, arg))
    return (code.co_argcount, code.co_kwonlyargcount, code.co_varnames, tuple(ops),
            tuple(sorted({line for _, _, line in code.co_lines() if line is not None})))


def _fence(fs: FunctionSource):
    a = fs.node.args
    for bad, what in ((a.vararg, "*args"), (a.kwarg, "**kwargs")):
        if bad is not None:
            raise UnsupportedError(f"{what} in the signature of {fs.node.name} is not supported",
                                   fs.loc(bad), "list each argument by name")
    if a.posonlyargs:
        raise UnsupportedError("positional-only parameters are not supported",
                               fs.loc(fs.node), "use plain positional parameters")
    _fence_function(fs, fs.node)


def _fence_function(fs, node):
    """The fence for a function's body (the user's, or a local `def` in it)."""
    _fence_block(fs, node.body)
    if not _always_returns(node.body):
        last = node.body[-1]
        raise UnsupportedError(f"{node.name} can end without returning a value", fs.loc(last),
                               "end the function with `return <loss>`")


def _fence_block(fs, stmts):
    for stmt in stmts:
        if not isinstance(stmt, _STATEMENTS):
            hint = _STATEMENT_HINTS.get(type(stmt), "rewrite it with assignments and NumPy calls")
            raise UnsupportedError(f"unsupported construct `{construct_name(stmt)}`",
                                   fs.loc(stmt), hint)
        if isinstance(stmt, (ast.If, ast.For, ast.While)):
            header = stmt.test if not isinstance(stmt, ast.For) else stmt.iter
            for sub in ast.walk(header):
                _fence_expr(fs, sub)
            if isinstance(stmt, ast.For):
                for sub in ast.walk(stmt.target):
                    _fence_expr(fs, sub)
            _fence_block(fs, stmt.body)
            _fence_block(fs, stmt.orelse)
            continue
        if isinstance(stmt, ast.FunctionDef):  # a local helper: inlined where it is called
            for sub in stmt.args.defaults + [d for d in stmt.args.kw_defaults if d is not None]:
                for e in ast.walk(sub):
                    _fence_expr(fs, e)
            _fence_function(fs, stmt)
            continue
        if isinstance(stmt, ast.Return) and stmt.value is None:
            raise UnsupportedError("`return` without a value", fs.loc(stmt),
                                   "return the loss")
        for sub in ast.walk(stmt):
            _fence_expr(fs, sub)


def _fence_expr(fs, sub):
    if type(sub) in _EXPR_HINTS:
        raise UnsupportedError(f"unsupported construct `{construct_name(sub)}`",
                               fs.loc(sub), _EXPR_HINTS[type(sub)])


def _always_returns(stmts) -> bool:
    if not stmts:
        return False
    last = stmts[-1]
    if isinstance(last, ast.Return):
        return True
    if isinstance(last, ast.If):
        return _always_returns(last.body) and _always_returns(last.orelse)
    return False
