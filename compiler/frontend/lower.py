"""AST -> SSA graph for straight-line code.

Guarantees: `lower(fs, arg_types)` returns a `Graph` whose parameters are the user's
arguments (typed as given), whose ops carry the user's source locations and variable
names (a reassigned name yields a new SSA value with the same hint), and whose single
result is the returned value. Names are resolved statically: locals first, then the
function's closure, globals and builtins. NumPy functions are recognised by identity,
whatever the module's import name. Calls to other user functions are inlined. Numbers
and arrays found in globals or closures become constants. Anything else raises an
`AdjointError` at the user's line before any code is generated.
"""
from __future__ import annotations

import ast
import builtins
import contextlib
import contextvars
import types
from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..errors import NameResolutionError, ShapeError, UnsupportedError
from ..ir.builder import Builder
from ..ir.core import ConstArray, Graph, Value
from . import control
from .source import FunctionSource, parse_function

_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
           ast.MatMult: "matmul", ast.Mod: "mod", ast.FloorDiv: "floordiv"}
_CMPOPS = {ast.Gt: "gt", ast.GtE: "ge", ast.Lt: "lt", ast.LtE: "le", ast.Eq: "eq",
           ast.NotEq: "ne"}
_MAX_CONST_ELEMENTS = 10_000


MISSING = object()


class Static:
    """A compile-time Python object (a module, a function) met while resolving names.
    `key`: how it was found (see `Capture`), None for an object that cannot change."""

    def __init__(self, obj, key=None):
        self.obj, self.key = obj, key


# Everything the generated code bakes in comes from reading a name, an attribute or a
# function's code: each read is recorded as a Capture, and every call re-reads them
# (compiler/api.py) and regenerates the gradient when one gives another object or an
# array changed in place. Not recorded: attributes of NumPy, math, SciPy and adjoint's
# own modules (their functions are resolved by identity and taken as fixed).
_TRUSTED = frozenset({"numpy", "math", "scipy", "runtime", "compiler", "builtins"})
_RECORDING: contextvars.ContextVar = contextvars.ContextVar("adjoint_captures", default=None)


@dataclass(frozen=True)
class Capture:
    """key: a hashable description of the read (('global', id(globals), name),
    ('cell', id(cell)), ('attr', base key, name), ('code', id(fn)), ...); read(): what it
    gives now (`MISSING` when it no longer exists); value: what it gave when lowering."""

    key: tuple
    read: Callable
    value: object


@contextlib.contextmanager
def recording(captures: list):
    """Lowering (and inlining of custom rules in reverse mode) inside appends a `Capture`
    to `captures` for every outside object the graph depends on."""
    token = _RECORDING.set(captures)
    try:
        yield captures
    finally:
        _RECORDING.reset(token)


def _trusted(obj) -> bool:
    return isinstance(obj, types.ModuleType) and obj.__name__.partition(".")[0] in _TRUSTED


def _cell_reader(cell):
    def read():
        try:
            return cell.cell_contents
        except ValueError:  # the cell was emptied (`del` of the variable)
            return MISSING
    return read


def _runtime_functions():
    from runtime import functions as rf
    return {rf.sigmoid: "sigmoid", rf.relu: "relu", rf.softplus: "softplus",
            rf.logsumexp: "logsumexp"}


def lower(fs: FunctionSource, arg_types) -> Graph:
    """Lower the parsed function for arguments of the given `Type`s. Inside
    `recording(captures)`, every global, closure variable, attribute and function code
    read is appended to `captures` (see `Capture`)."""
    b = Builder()
    params = tuple(Value(t, name) for name, t in zip(fs.params, arg_types))
    with b:
        lw = _Lowerer(fs, b, dict(zip(fs.params, params)), ())
        result = lw.body()
    if isinstance(result, Value):
        result = b.name(result, "loss")
    if isinstance(result, tuple):
        raise UnsupportedError(f"{fs.node.name} returns a tuple; a loss must be one scalar",
                               fs.loc(fs.node.body[-1]), "return only the loss")
    return Graph(fs.node.name, params, tuple(b.ops), (result,), ("loss",))


class _Lowerer:
    def __init__(self, fs: FunctionSource, b: Builder, env: dict, stack: tuple):
        self.fs, self.b, self.env, self.stack = fs, b, env, stack + (fs.fn,)
        self.maybe_undefined: set = set()
        self.closure = {}
        self.cells = {}
        self.aliased: set = set()
        self.param_values = set(v for v in env.values() if isinstance(v, Value))
        self.captures: list = _RECORDING.get()
        if self.captures is None:
            self.captures = []
        fn = fs.fn
        if getattr(fn, "__closure__", None):
            for name, cell in zip(fn.__code__.co_freevars, fn.__closure__):
                self.cells[name] = cell
                try:
                    self.closure[name] = cell.cell_contents
                except ValueError:  # empty cell
                    pass

    # ---- statements ----------------------------------------------------------------
    def body(self):
        stmts = self.fs.node.body
        if control.has_early_return(stmts):
            self.env[control.RET] = self.b.const(False)
            self.env[control.RETVAL] = self.b.const(0.0)
            control.block(self, stmts)
            return self.env[control.RETVAL]
        control.block(self, stmts[:-1])
        with self.b.at(self.fs.loc(stmts[-1])):
            return self.expr(stmts[-1].value)

    def stmt(self, s):
        if control.lower_stmt(self, s):
            return
        if isinstance(s, ast.Assign):
            value = self.expr(s.value)
            for target in s.targets:
                self.assign(target, value)
        elif isinstance(s, ast.AugAssign):
            op = _BINOPS.get(type(s.op))
            if op is None:
                raise UnsupportedError(f"operator `{type(s.op).__name__}=`", self.fs.loc(s))
            if not isinstance(s.target, (ast.Name, ast.Subscript)):
                raise UnsupportedError("augmented assignment to anything but a name or an "
                                       "element", self.fs.loc(s.target))
            if isinstance(s.target, ast.Name):
                self.check_unaliased(s.target, self.env.get(s.target.id), "updating in place")
            load = ast.copy_location(
                type(s.target)(**{**{f: getattr(s.target, f) for f in s.target._fields},
                                  "ctx": ast.Load()}), s.target)
            old = self.expr(load)
            self.assign(s.target, self.emit(s, op, old, self.expr(s.value)))
        elif isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant):  # docstring
                return
            from .dropped import explain  # v.sort(), print(x), np.add.at(...), x == 3
            message, hint = explain(s.value, self.expr)
            raise UnsupportedError(message, self.fs.loc(s), hint)
        elif isinstance(s, ast.Pass):
            return
        else:  # pragma: no cover - the fence rejects everything else
            raise UnsupportedError(f"statement {type(s).__name__}", self.fs.loc(s))

    def assign(self, target, value):
        if isinstance(target, ast.Name):
            if isinstance(value, tuple):
                raise UnsupportedError("assigning a tuple to one name", self.fs.loc(target),
                                       "unpack it: `a, b = ...`")
            if isinstance(value, Static):
                raise UnsupportedError(f"`{target.id}` would hold a Python object, not an array",
                                       self.fs.loc(target))
            shared = isinstance(value, Value) and value.type.rank > 0 and (
                value in self.param_values or any(v is value for v in self.env.values()))
            self.env[target.id] = self.b.name(value, target.id)
            if shared:  # `y = x`: one array under two names, as in Python
                self.aliased.add(target.id)
                self.aliased.update(n for n, v in self.env.items() if v is value)
            else:
                self.aliased.discard(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            if not isinstance(value, tuple) or len(value) != len(target.elts):
                n = len(value) if isinstance(value, tuple) else 1
                raise UnsupportedError(f"cannot unpack {n} value(s) into {len(target.elts)} names",
                                       self.fs.loc(target))
            for t, v in zip(target.elts, value):
                self.assign(t, v)
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Name):
            # x[i] = v is a functional update: x becomes a new SSA value
            from .numpy_api import subscript_store
            old = self.name(target.value)
            self.check_unaliased(target.value, old, "writing into")
            self.env[target.value.id] = subscript_store(self, target, old, value)
        else:
            raise UnsupportedError(f"assignment to `{ast.unparse(target)}`",
                                   self.fs.loc(target), "assign to plain names")

    def check_unaliased(self, node: ast.Name, old, what):
        """In Python, writing into an array (x[i] = v, x += v) changes it under every name
        and in the caller; adjoint's updates are functional. Refuse where that differs."""
        if not isinstance(old, Value) or old.type.rank == 0:
            return
        if old in self.param_values or node.id in self.aliased:
            whose = "an argument of the function" if old in self.param_values else \
                "an array that another name also refers to"
            raise UnsupportedError(
                f"{what} `{node.id}`, {whose}: in Python that would change it everywhere",
                self.fs.loc(node), f"copy it first: `{node.id} = {node.id}.copy()`")

    # ---- expressions ---------------------------------------------------------------
    def emit(self, node, prim, *args, **attrs) -> Value:
        for a in args:
            if isinstance(a, (tuple, Static)):
                raise UnsupportedError(f"`{ast.unparse(node)}`: an operand is not an array or number",
                                       self.fs.loc(node))
        if prim == "matmul" and not all(isinstance(a, Value) and a.type.dtype == "int64"
                                        for a in args):  # int @ int stays int, as in NumPy
            args = tuple(self.b.emit("cast", a) if isinstance(a, Value) and a.type.rank and
                         a.type.dtype != "float64" else a for a in args)
        if prim == "pow":
            args = self.int_power(node, *args)
        try:
            return self.b.emit(prim, *args, **attrs)
        except TypeError as e:
            raise ShapeError(f"`{ast.unparse(node)}`: {e}", self.fs.loc(node)) from None

    def int_power(self, node, base, exp):
        """Operands of `base ** exp`. An integer to a negative integer power is a float in
        Python (2 ** -1 == 0.5) and an error for NumPy integer arrays; Numba's int64 power
        would truncate it to 0. So an int scalar base is cast to float64 unless the
        exponent is a constant >= 0 (`k ** 2` stays an int), and an integer array to a
        negative constant power is refused, as NumPy refuses it."""
        if not (isinstance(base, Value) and isinstance(exp, Value) and
                base.type.dtype in ("int64", "bool") and exp.type.dtype in ("int64", "bool")):
            return base, exp
        k = self.const_value(exp)
        if isinstance(k, int) and k >= 0:
            return base, exp
        if base.type.rank:
            raise UnsupportedError(
                f"`{ast.unparse(node)}`: an integer array to a negative or run-time integer "
                "power (NumPy raises 'Integers to negative integer powers are not allowed')",
                self.fs.loc(node), "make the base a float array: `x.astype(float) ** k`")
        return self.b.emit("cast", base), exp

    def const_value(self, v):
        """The Python number a `const` op gave `v`, or None."""
        for op in reversed(self.b.ops):
            if op.outputs == (v,):
                return op.attr("value") if op.prim == "const" else None
        return None

    def expr(self, node):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (bool, int, float)):
                return self.b.const(node.value)
            raise UnsupportedError(f"constant {node.value!r} is not a number", self.fs.loc(node))
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, (ast.Tuple, ast.List)):  # a list literal reads as a tuple
            return tuple(self.expr(e) for e in node.elts)
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise UnsupportedError(f"operator `{ast.unparse(node)}`", self.fs.loc(node),
                                       "supported: + - * / ** @ // %")
            return self.emit(node, op, self.expr(node.left), self.expr(node.right))
        if isinstance(node, ast.IfExp):
            return control.lower_ifexp(self, node)
        if isinstance(node, ast.BoolOp):
            vals = [control.truth(self, v, self.expr(v)) for v in node.values]
            out = vals[0]
            for v in vals[1:]:
                out = self.emit(node, "and" if isinstance(node.op, ast.And) else "or", out, v)
            return out
        if isinstance(node, ast.UnaryOp):
            x = self.expr(node.operand)
            if isinstance(node.op, ast.Not):
                return self.emit(node, "not", control.truth(self, node.operand, x))
            if isinstance(node.op, ast.USub):
                return self.emit(node, "neg", x)
            if isinstance(node.op, ast.UAdd):
                return x
            raise UnsupportedError(f"operator `{ast.unparse(node)}`", self.fs.loc(node),
                                   "use np.logical_not / np.where")
        if isinstance(node, ast.Compare):
            if len(node.ops) != 1:  # a < b < c is `a < b and b < c`, b evaluated once
                terms = [node.left] + node.comparators
                parts = [ast.unparse(ast.Compare(a, [o], [b]))
                         for a, o, b in zip(terms, node.ops, terms[1:])]
                raise UnsupportedError(
                    f"chained comparison `{ast.unparse(node)}`", self.fs.loc(node),
                    f"for scalars write `{' and '.join(parts)}`; for arrays (in np.where, a "
                    f"mask) `np.logical_and({', '.join(parts)})`"
                    if len(parts) == 2 else f"for scalars write `{' and '.join(parts)}`; for "
                    "arrays combine them with np.logical_and, two at a time")
            op = _CMPOPS.get(type(node.ops[0]))
            if op is None:
                raise UnsupportedError(f"comparison `{ast.unparse(node)}`", self.fs.loc(node))
            return self.emit(node, op, self.expr(node.left), self.expr(node.comparators[0]))
        if isinstance(node, ast.Attribute):
            base = self.expr(node.value)
            if isinstance(base, Static):
                try:
                    obj = getattr(base.obj, node.attr)
                except AttributeError:
                    raise NameResolutionError(f"`{ast.unparse(node)}` does not exist",
                                              self.fs.loc(node)) from None
                key = None
                if base.key is not None and not _trusted(base.obj):  # cfg.scale, mod.act
                    key, parent = ("attr", base.key, node.attr), base.obj
                    self.capture(key, lambda: getattr(parent, node.attr, MISSING), obj)
                return self.static(obj, node, key)
            from .numpy_api import ATTRIBUTES
            if isinstance(base, Value) and node.attr in ATTRIBUTES:
                return ATTRIBUTES[node.attr](self, node, base)
            raise UnsupportedError(f"attribute `.{node.attr}`", self.fs.loc(node),
                                   f"supported on arrays: {', '.join('.' + a for a in sorted(ATTRIBUTES))}")
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Subscript):
            from .numpy_api import subscript_load
            return subscript_load(self, node, self.expr(node.value))
        raise UnsupportedError(f"expression `{ast.unparse(node)}`", self.fs.loc(node))

    def name(self, node: ast.Name):
        if node.id in self.env:
            return self.env[node.id]
        g, bi, name = self.fs.fn.__globals__, vars(builtins), node.id
        for scope in (self.closure, g, bi):
            if name in scope:
                obj = scope[name]
                if scope is self.closure:
                    cell = self.cells[name]
                    key, read = ("cell", id(cell)), _cell_reader(cell)
                else:  # a builtin is read through the globals, where it may be shadowed later
                    key = ("global", id(g), name)
                    read = (lambda: g.get(name, MISSING)) if scope is g else (
                        lambda: g.get(name, bi.get(name, MISSING)))
                self.capture(key, read, obj)
                return self.static(obj, node, key)
        if node.id in self.maybe_undefined:
            raise NameResolutionError(
                f"`{node.id}` is assigned only on some paths (in a branch or loop body)",
                self.fs.loc(node), f"assign `{node.id}` before the branch or loop")
        raise NameResolutionError(f"name `{node.id}` is not defined", self.fs.loc(node))

    def capture(self, key, read, obj):
        self.captures.append(Capture(key, read, obj))

    def static(self, obj, node, key=None):
        """A Python object found by name: numbers and arrays become constants."""
        if isinstance(obj, (bool, int, float, np.number, np.bool_)) and not isinstance(obj, complex):
            return self.b.const(obj.item() if isinstance(obj, np.generic) else obj)
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind not in "biuf":
                raise UnsupportedError(f"constant array `{ast.unparse(node)}` of dtype {obj.dtype}",
                                       self.fs.loc(node))
            if obj.size > _MAX_CONST_ELEMENTS:
                raise UnsupportedError(
                    f"global array `{ast.unparse(node)}` has {obj.size} elements",
                    self.fs.loc(node), "pass large arrays as arguments instead of globals")
            return self.b.const(ConstArray.of(obj)) if obj.ndim else self.b.const(obj.item())
        return Static(obj, key)

    # ---- calls ---------------------------------------------------------------------
    def call(self, node: ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute):
            base = self.expr(func.value)
            if isinstance(base, Value):
                return self.method(node, base, func.attr)
            target = self.expr(func)
        else:
            target = self.expr(func)
        if not isinstance(target, Static):
            raise UnsupportedError(f"`{ast.unparse(func)}` is not callable", self.fs.loc(node))
        obj = target.obj
        args = [self.expr(a) for a in node.args]
        kwargs = {k.arg: k.value for k in node.keywords}
        if None in kwargs:
            raise UnsupportedError("`**kwargs` in a call", self.fs.loc(node))
        from .numpy_api import FUNCTIONS, key
        rt = _runtime_functions()
        handler = FUNCTIONS.get(key(obj))
        if handler is not None:
            return handler(self, node, args, kwargs)
        if key(obj) in rt:
            self.no_kwargs(node, kwargs)
            return self.emit(node, rt[key(obj)], *self.arity(node, args, 1))
        if isinstance(obj, types.FunctionType):
            return self.inline(node, obj, args, kwargs)
        what = getattr(obj, "__qualname__", None) or type(obj).__name__
        mod = getattr(obj, "__module__", None)
        raise NameResolutionError(
            f"call to unsupported function `{ast.unparse(func)}` ({mod + '.' if mod else ''}{what})",
            self.fs.loc(node),
            "use a supported NumPy function, a runtime.functions function, or a plain Python "
            "function whose source adjoint can read")

    def method(self, node, x: Value, name):
        from .numpy_api import METHODS
        args = [self.expr(a) for a in node.args]
        kwargs = {k.arg: k.value for k in node.keywords}
        handler = METHODS.get(name)
        if handler is None:
            raise UnsupportedError(f"array method `.{name}()`", self.fs.loc(node),
                                   f"supported: {', '.join('.' + m + '()' for m in sorted(METHODS))}")
        return handler(self, node, [x] + args, kwargs)

    def inline(self, node, fn, args, kwargs):
        if fn in self.stack:
            raise UnsupportedError(f"recursive call to `{fn.__name__}`", self.fs.loc(node),
                                   "rewrite the recursion as a loop")
        callee = parse_function(fn)
        if (fn.__module__ or "").partition(".")[0] not in _TRUSTED:  # f.__code__ = ...
            for attr in ("__code__", "__defaults__", "__kwdefaults__"):
                self.capture((attr, id(fn)), lambda a=attr: getattr(fn, a), getattr(fn, attr))
        names = callee.params
        defaults = fn.__defaults__ or ()
        bound = dict(zip(names, args))
        for k, v in kwargs.items():
            if k not in names or k in bound:
                raise UnsupportedError(f"bad keyword argument `{k}` for `{fn.__name__}`",
                                       self.fs.loc(node))
            bound[k] = self.expr(v)
        for name, d in zip(names[len(names) - len(defaults):], defaults):
            if name not in bound:
                bound[name] = self.static(d, node)
        missing = [n for n in names if n not in bound]
        if missing or len(args) > len(names):
            raise UnsupportedError(f"`{fn.__name__}` takes {len(names)} arguments", self.fs.loc(node))
        for n, v in bound.items():
            if not isinstance(v, Value):
                raise UnsupportedError(f"argument `{n}` of `{fn.__name__}` is not an array or number",
                                       self.fs.loc(node))
        sub = _Lowerer(callee, self.b, dict(bound), self.stack)
        sub.captures = self.captures
        return sub.body()

    # helpers for handlers
    def arity(self, node, args, n):
        if len(args) != n:
            raise UnsupportedError(f"`{ast.unparse(node.func)}` takes {n} positional argument(s) here",
                                   self.fs.loc(node))
        return args

    def no_kwargs(self, node, kwargs):
        if kwargs:
            raise UnsupportedError(f"keyword argument(s) {', '.join(kwargs)} to "
                                   f"`{ast.unparse(node.func)}`", self.fs.loc(node))

    def int_attr(self, node, expr_node, what):
        if expr_node is None or (isinstance(expr_node, ast.Constant) and expr_node.value is None):
            return None
        try:
            v = ast.literal_eval(expr_node)
        except ValueError:
            v = None
        if not isinstance(v, int) or isinstance(v, bool):
            raise UnsupportedError(f"`{what}` must be an integer literal or None",
                                   self.fs.loc(expr_node))
        return v
