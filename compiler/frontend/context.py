"""The lowering context: one `Lowerer` per function being lowered (the user's function,
an inlined callee, a custom rule), holding the builder, the environment of names and
the captures, and lowering statements and expressions with it.

Guarantees: `Lowerer(fs, builder, env).body()` lowers the parsed function's body into
`builder`, its parameters bound by `env` ({name: Value}), and returns the returned
value (a `Value`, or a tuple of them). Ops carry the user's source locations and
variable names (a reassigned name yields a new SSA value with the same hint). Names are
resolved statically: locals first, then the function's closure, globals and builtins;
every outside read is recorded as a `Capture` (captures.py). NumPy functions are
recognised by identity, whatever the module's import name. Calls to other user
functions are inlined, their arguments bound by Python's rules (binding.py), their
ops' Locs naming the call (`Loc.inlined_at`, a chain for nested calls). Numbers
and arrays found in globals or closures become constants. Writes into arrays (`x[i] =
v`, `x += v` on a shared array, `np.add.at`) are seen by every name that shares the
array, as in NumPy: views.py keeps which names are views of which. Anything else
raises an `AdjointError` at the user's line before any code is generated.

The context's parts are modules of functions taking it as their first argument `cx`:
control flow (control.py), NumPy calls, methods and attributes (numpy_api.py),
subscripts (indexing.py) and the messages for dropped statements (dropped.py). They
import only leaf modules (captures.py, binding.py), never this one: the frontend's
import graph is a DAG.
"""
from __future__ import annotations

import ast
import builtins
import dataclasses
import functools
import operator
import types

import numpy as np

from ..errors import AdjointError, NameResolutionError, ShapeError, UnsupportedError
from ..ir.builder import ZERO_D, Builder
from ..ir.core import ConstArray, Value
from . import control, indexing, numpy_api, structures, views
from .binding import Signature, bind
from .captures import (MISSING, Capture, Static, cell_reader, current_captures, trusted,
                       trusted_function)
from .dropped import explain
from .source import FunctionSource, parse_function

# arithmetic, where bool literals are Python's ints
_ARITH = {"add", "sub", "mul", "neg", "maximum", "minimum", "pow", "floordiv", "mod"}
_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
           ast.MatMult: "matmul", ast.Mod: "mod", ast.FloorDiv: "floordiv"}
_CMPOPS = {ast.Gt: "gt", ast.GtE: "ge", ast.Lt: "lt", ast.LtE: "le", ast.Eq: "eq",
           ast.NotEq: "ne"}
_MAX_CONST_ELEMENTS = 10_000
# integer constants (Context.wide_ints): Python's operators folded exactly, NumPy's float
# beside a float operand, int64's range for NumPy functions
_FOLD_INT = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
             "div": operator.truediv, "floordiv": operator.floordiv, "mod": operator.mod,
             "neg": operator.neg, "pow": lambda a, b: _int_power(a, b), "abs": abs}
# NumPy's float ufuncs whose loop for booleans is float16 (np.sqrt(m).dtype)
_FLOAT16_OF_BOOLS = frozenset({
    "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2", "arctanh", "cbrt", "cos",
    "cosh", "deg2rad", "exp", "exp2", "expm1", "heaviside", "hypot", "log", "log1p",
    "logaddexp", "rad2deg", "rint", "sin", "sinh", "sqrt", "tan", "tanh"})
# the syntax whose integers are Python's (a call, np.add(a, b) or abs(k), is int64's)
_PYTHON_OPERATORS = (ast.BinOp, ast.UnaryOp, ast.AugAssign)
_FLOAT_PEERS = {"add", "sub", "mul", "div", "pow", "floordiv", "mod", "maximum", "minimum",
                "gt", "ge", "lt", "le", "eq", "ne"}


def _int_power(a, b):
    """a ** b of Python ints for b >= 0 (a negative power is a float: power_operands); an
    OverflowError rather than computing a power of more than 2**16 bits."""
    if b < 0:
        return None
    if abs(a) > 1 and (abs(a).bit_length() - 1) * b > 2**16:
        raise OverflowError
    return a ** b


def _leaves(args):
    for a in args:
        if isinstance(a, tuple):
            yield from _leaves(a)
        else:
            yield a


def _fits_int64(c) -> bool:
    return not isinstance(c, int) or -2**63 <= c < 2**63


class Lowerer:
    """Lowers one function body. fs: the parsed function; b: the builder ops go to; env:
    {parameter name: Value}; stack: the functions being inlined around this one (to
    refuse recursion); captures: where outside reads are recorded (default: the list of
    the enclosing `recording`)."""

    def __init__(self, fs: FunctionSource, b: Builder, env: dict, stack: tuple = (),
                 captures: list | None = None, outer: Lowerer | None = None):
        self.fs, self.b, self.env, self.stack = fs, b, env, stack + (fs.fn,)
        self.outer = outer  # for a local `def`/`lambda`: the function it is defined in
        self.maybe_undefined: set = set()
        self.mixed_names: dict = {}  # name -> Loc of a branch after which it is a boolean
        # on one path and a number on the other (control.lower_if): refused if read
        self.local_names = _local_names(fs.node)
        if fs.bound is not None and fs.bound[0] not in env:  # a bound method's `self`
            name, obj = fs.bound
            env[name] = Static(obj, ("bound", id(obj)))
        self.closure = {}
        self.cells = {}
        self.aliased: set = set()  # (unused: views.py keeps which names share arrays)
        self.param_values = set(v for v in env.values() if isinstance(v, Value))
        # arrays that share memory (views.py): a callee's array parameters are its
        # caller's arrays (writes into them refused); arrays known C-contiguous
        self.foreign: set = {n for n, v in env.items() if isinstance(v, Value) and
                             v.type.rank} if len(self.stack) > 1 else set()
        self.contiguous_values: set = set()
        self.captures: list = current_captures() if captures is None else captures
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
            for target in s.targets:  # a = b = v: left to right, one object under both names
                self.assign(target, value)
                if isinstance(target, ast.Name):
                    value = self.env[target.id]
        elif isinstance(s, ast.AnnAssign):  # h: float = 0.0; `h: float` alone binds nothing
            if s.value is not None:
                self.assign(s.target, self.expr(s.value))
        elif isinstance(s, ast.FunctionDef):  # a local helper, inlined where it is called
            self.note_view(s.name, structures.define(self, s))
        elif isinstance(s, ast.Assert):
            # dropped from the generated code, as `python -O` drops it; its condition is
            # lowered (so a mistake in it is still reported) and then unused
            self.expr(s.test)
        elif isinstance(s, ast.AugAssign):
            op = _BINOPS.get(type(s.op))
            if op is None:
                raise UnsupportedError(f"operator `{type(s.op).__name__}=`", self.fs.loc(s))
            if not isinstance(s.target, (ast.Name, ast.Subscript)):
                raise UnsupportedError("augmented assignment to anything but a name or an "
                                       "element", self.fs.loc(s.target))
            if isinstance(s.target, ast.Name) and self.env.get(s.target.id) in ZERO_D:
                raise UnsupportedError(
                    f"`{ast.unparse(s)}` updates the 0-d array `{s.target.id}` in place (NumPy "
                    "keeps its dtype, and every name for it sees the change), and adjoint's 0-d "
                    "arrays are numbers", self.fs.loc(s),
                    f"make it a number: `{s.target.id} = float(...)`, then `{ast.unparse(s)}`")
            if isinstance(s.target, ast.Name) and self._updates_in_place(s.target):
                return self._augment_in_place(s, op)
            load = ast.copy_location(
                type(s.target)(**{**{f: getattr(s.target, f) for f in s.target._fields},
                                  "ctx": ast.Load()}), s.target)
            old = self.expr(load)
            new = self.emit(s, op, old, self.expr(s.value))
            if isinstance(old, Value) and old.type.rank and isinstance(new, Value) \
                    and new.type.dtype != old.type.dtype:
                # an array updated in place keeps its dtype: `k += 0.5` of ints raises (a
                # scalar element, `k[0] += 0.5`, is Python's tmp + 0.5 written back)
                self._refuse_cast(s, ast.unparse(s.target), old, new)
            self.assign(s.target, new)
        elif isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant):  # docstring
                return
            if self._add_at(s.value):
                return
            message, hint = explain(s.value, self.expr)  # v.sort(), print(x), x == 3, ...
            raise UnsupportedError(message, self.fs.loc(s), hint)
        elif isinstance(s, ast.Pass):
            return
        else:  # pragma: no cover - the fence rejects everything else
            raise UnsupportedError(f"statement {type(s).__name__}", self.fs.loc(s))

    def assign(self, target, value):
        if isinstance(target, ast.Name):
            if isinstance(value, (tuple, dict, structures.LocalFunction)):
                # a container of values, or a local function: a compile-time binding
                self.note_view(target.id, value)
                return
            if isinstance(value, Static) and getattr(type(value.obj), "__adjoint_binding__", False):
                self.note_view(target.id, value)  # a lowering-time object: rng = default_rng(s)
                return
            if isinstance(value, Static):
                raise UnsupportedError(f"`{target.id}` would hold a Python object, not an array",
                                       self.fs.loc(target))
            if isinstance(value, Value) and not value.hint:
                old, value = value, self.b.name(value, target.id)
                for k in [k for k, w in self.env.items() if w is old and k.startswith(views.HELD)]:
                    self.env[k] = value  # a tuple's array being unpacked (views.hold)
            views.bind(self, target.id, value)  # `y = x`, `v = y[1:3]`: shares y's array
        elif isinstance(target, (ast.Tuple, ast.List)):
            if not isinstance(value, tuple) or len(value) != len(target.elts):
                n = len(value) if isinstance(value, tuple) else 1
                raise UnsupportedError(f"cannot unpack {n} value(s) into {len(target.elts)} names",
                                       self.fs.loc(target))
            held = views.hold(self, value)  # NumPy's tuple holds the arrays themselves:
            for t, v in zip(target.elts, held):  # `X[0], X[1] = X[1], X[0]` is no swap
                self.assign(t, views.take(self, v))
            views.release(self, held)
        elif isinstance(target, ast.Subscript):
            self.store(target, value)
        else:
            raise UnsupportedError(f"assignment to `{ast.unparse(target)}`",
                                   self.fs.loc(target), "assign to plain names")

    def store(self, target: ast.Subscript, value):
        """`a[idx] = value` as NumPy means it: a write into the array `a` names (or is a
        view of: `Y[i][j] = v`, `Y.T[0] = v`), seen by every name that shares it
        (views.py). The write is functional: the array's root becomes a new SSA value."""
        base = self.expr(target.value)
        name = self.written_name(target.value, base)
        parts = indexing.store_parts(self, target, base, value)
        views.write(self, target, name, lambda old: indexing.apply_store(self, target, old, parts),
                    index=None if parts[0] != "index" else ("set_index",) + parts[1:],
                    shown=ast.unparse(target.value))
        views.forget_temporary(self, name)

    def written_name(self, node, base) -> str:
        """The env key of the array a write into `node` (whose value is `base`) changes: a
        name, or for a view expression (`Y[i]`, `Y.T`) a temporary name bound to the
        view. Raises UnsupportedError for an array no name holds (the write would be
        lost, as in NumPy) or that is not an array."""
        if isinstance(node, ast.Name) and isinstance(self.env.get(node.id), Value):
            if base.type.rank == 0:
                raise UnsupportedError(f"`{node.id}` is not an array that can be written to",
                                       self.fs.loc(node))
            return node.id
        if not isinstance(base, Value) or base.type.rank == 0:
            raise UnsupportedError(f"`{ast.unparse(node)}` is not an array that can be "
                                   "written to", self.fs.loc(node))
        ref = views.source(self, base)
        holder = self.expr(node.value) if ref is None and isinstance(
            node, (ast.Subscript, ast.Attribute)) and isinstance(node.value, ast.Name) else None
        if isinstance(holder, (tuple, dict)):  # p["W"][1] = v: an entry of a container
            kind = "dict" if isinstance(holder, dict) else type(holder).__name__
            raise UnsupportedError(
                f"writing into `{ast.unparse(node)}`, an array the {kind} "
                f"`{ast.unparse(node.value)}` holds: NumPy would change that array in place, "
                "for every name and container holding it, and adjoint's lists, tuples and "
                "dicts hold values", self.fs.loc(node),
                f"copy it to a name first (`w = {ast.unparse(node)}.copy()`), write into the "
                "copy and use it")
        if ref is None:
            raise UnsupportedError(
                f"writing into `{ast.unparse(node)}`, a new array no name holds: the write "
                "would be lost (NumPy changes only that temporary)", self.fs.loc(node),
                "assign the array to a name first, write into it, and use the name")
        tmp = f"@view#{sum(1 for n in self.env if n.startswith('@view#'))}"
        self.env[tmp] = base
        views.set_ref(self, tmp, ref)
        return tmp

    def _updates_in_place(self, target: ast.Name) -> bool:
        """`x += v` on an array that another name, a view, a parameter of an inlined
        function or a global shares: NumPy updates it in place, so they see it."""
        v = self.env.get(target.id)
        return isinstance(v, Value) and v.type.rank > 0 and views.shared(self, target.id)

    def _augment_in_place(self, s: ast.AugAssign, op):
        name = s.target.id
        rhs = self.expr(s.value)

        def build(old):
            new = self.emit(s, op, old, rhs)
            if new.type.rank != old.type.rank:
                raise ShapeError(f"`{ast.unparse(s)}`: the result has rank {new.type.rank}, "
                                 f"`{name}` rank {old.type.rank} (NumPy: non-broadcastable "
                                 "output operand)", self.fs.loc(s))
            if new.type.dtype != old.type.dtype:
                if old.type.dtype != "float64":
                    self._refuse_cast(s, name, old, new)
                new = self.b.emit("cast", new)
            return new
        views.write(self, s.target, name, build)

    def _refuse_cast(self, s: ast.AugAssign, name: str, old: Value, new: Value):
        """`a op= b` of an array would change its dtype; NumPy's in-place ufunc refuses to
        cast its result (casting 'same_kind') when the array is int and the result float,
        or the array bool and the result int."""
        if old.type.dtype == "float64":
            return
        raise UnsupportedError(
            f"`{ast.unparse(s)}` updates the {old.type.dtype} array `{name}` in place with "
            f"{new.type.dtype} values (NumPy raises UFuncTypeError: cannot cast ufunc output "
            "with casting rule 'same_kind')", self.fs.loc(s),
            f"`{name} = {name}.astype(float)` first")

    def _add_at(self, node) -> bool:
        """`np.add.at(a, idx, v)` as a statement: `a` becomes `add_at(a, v, *idx)`, NumPy's
        unbuffered add (a repeated index adds every time), written through views as any
        write. False if `node` is not such a call."""
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "at"):
            return False
        try:
            f = self.expr(node.func)
        except AdjointError:
            return False
        if not (isinstance(f, Static) and getattr(f.obj, "__self__", None) is np.add):
            return False
        if len(node.args) != 3 or node.keywords:
            raise UnsupportedError("np.add.at takes three arguments here: np.add.at(a, idx, v)",
                                   self.fs.loc(node))
        a_node, idx_node, v_node = node.args
        base = self.expr(a_node)
        name = self.written_name(a_node, base)
        vals, spec = indexing.index_parts(self, node, base, idx_node)
        v = self.expr(v_node)
        if not isinstance(v, Value):
            raise UnsupportedError("the values added are not an array or number", self.fs.loc(v_node))
        if base.type.dtype != "float64" and v.type.dtype == "float64" or base.type.dtype == "bool":
            raise UnsupportedError(
                f"np.add.at into the {base.type.dtype} array `{ast.unparse(a_node)}` of "
                f"{v.type.dtype} values (NumPy casts each sum back to "
                f"{base.type.dtype}, truncating, which adjoint does not reproduce)",
                self.fs.loc(node), "add into a float array: `a = a.astype(float)` first")
        if base.type.dtype == "float64" and v.type.dtype != "float64":
            v = self.b.emit("cast", v)
        views.write(self, node, name,
                    lambda old: self.emit(node, "add_at", old, v, *vals, spec=spec),
                    index=("add_at", v, vals, spec), shown=ast.unparse(a_node))
        views.forget_temporary(self, name)
        return True

    def note_view(self, name, value):
        """Bind `name` to `value` (a compile-time binding: a tuple, dict, local function),
        forgetting any array it shared (views.bind)."""
        views.bind(self, name, value)

    # ---- expressions ---------------------------------------------------------------
    def emit(self, node, prim, *args, **attrs) -> Value:
        for a in args:
            if isinstance(a, (tuple, Static)):
                raise UnsupportedError(f"`{ast.unparse(node)}`: an operand is not an array or number",
                                       self.fs.loc(node))
        if prim == "matmul":
            args = self.matmul_operands(node, args)
            if not isinstance(args, tuple):  # booleans: NumPy's or of ands
                return args
        if prim == "pow":
            args = self.power_operands(node, *args)
        args, folded = self.wide_ints(node, prim, args)
        if folded is not None:
            return folded
        values = [a for a in args if isinstance(a, Value)]
        if prim in _FLOAT16_OF_BOOLS and values and all(a.type.dtype == "bool" for a in values):
            raise UnsupportedError(
                f"`{ast.unparse(node)}` of booleans: NumPy computes it in float16 (np.exp(True) "
                "is 2.719), adjoint in float64", self.fs.loc(node),
                "convert first: `m.astype(float)`")
        bools = prim in _ARITH and all(isinstance(a, Value) and a.type.dtype == "bool"
                                       for a in args)
        if bools and all(self.const_value(a) is not None for a in args):
            # Python's bools (`True + True` is 2), not NumPy's: the operands as ints
            args = tuple(self.b.const(int(self.const_value(a))) for a in args)
        elif prim in ("neg", "sub") and bools:
            raise UnsupportedError(
                f"`{ast.unparse(node)}`: adjoint's comparisons are NumPy booleans, and NumPy "
                "refuses `-` of booleans (TypeError: use the `~` operator or the "
                "logical_not function instead)", self.fs.loc(node),
                "for a mask's complement np.logical_not(m), for masks that differ "
                "np.logical_xor(a, b), for numbers m.astype(float)")
        try:
            return self.b.emit(prim, *args, **attrs)
        except TypeError as e:
            raise ShapeError(f"`{ast.unparse(node)}`: {e}", self.fs.loc(node)) from None

    def matmul_operands(self, node, args):
        """Operands of `a @ b` in NumPy's result dtype: a float operand makes both floats;
        else integers (booleans among ints are ints); booleans only are NumPy's boolean
        product (any(a[i, :] & b[:, j])), returned as the Value of the whole product."""
        dts = {a.type.dtype if isinstance(a, Value) else type(a).__name__ for a in args}
        if dts == {"bool"}:
            ints = [self.b.emit("to_int", a) for a in args]
            return self.b.emit("ne", self.b.emit("matmul", *ints), 0)
        want = "int64" if dts <= {"int64", "bool"} else "float64"
        return tuple(self.b.emit("cast" if want == "float64" else "to_int", a)
                     if isinstance(a, Value) and a.type.rank and a.type.dtype != want else a
                     for a in args)

    def wide_ints(self, node, prim, args):
        """Integer constants beyond int64 (`2**70`, `k + 2**63`, a captured `BIG = 2**64`),
        which compiled code would wrap around: (args, None), or (_, the folded Value).
        Python's operators on integer constants only are folded as Python computes them
        (exactly: `2 ** 64 // 2 ** 62` is 4); a NumPy function or `abs` of integer
        constants whose result leaves int64 is refused (NumPy's int64 wraps around). Beside
        a float operand (an arithmetic op, a comparison, np.maximum) such an int is the
        float NumPy takes it as (NEP 50: `x * 2**70` is `x * 1.1805916207174113e+21`);
        `float(c)` folds. Anywhere else it stays, and `refuse_wide_ints` refuses it."""
        consts = [self.const_value(a) if isinstance(a, Value) else a for a in args]
        ints = [isinstance(c, int) and not isinstance(c, bool) for c in consts]
        if prim in _FOLD_INT and args and all(ints):
            try:
                r = _FOLD_INT[prim](*consts)
            except ZeroDivisionError:  # raises at run time, as in Python
                r = None
            except OverflowError:  # a power too large for float64 too
                raise UnsupportedError(
                    f"`{ast.unparse(node)}`: an integer too large for int64 and float64",
                    self.fs.loc(node)) from None
            if isinstance(node, _PYTHON_OPERATORS) and r is not None:
                return args, self.b.const(r)
            if not all(map(_fits_int64, (*consts, r))):  # np.add(2**62, 2**62), abs(-2**63)
                raise UnsupportedError(
                    f"`{ast.unparse(node)}` of integer constants goes beyond int64: NumPy's "
                    "int64 arithmetic wraps around where Python's ints do not",
                    self.fs.loc(node), "write the constants as floats (`2.0 ** 62`)")
        wide = [i for i, (c, k) in enumerate(zip(consts, ints)) if k and not _fits_int64(c)]
        if not wide:
            return args, None
        floats = any(isinstance(a, Value) and a.type.dtype == "float64" or
                     isinstance(a, float) for i, a in enumerate(args) if i not in wide)
        if prim == "cast" or (floats and prim in _FLOAT_PEERS):
            out = list(args)
            for i in wide:
                try:
                    out[i] = self.b.const(float(consts[i]))
                except OverflowError:
                    raise UnsupportedError(
                        f"`{ast.unparse(node)}`: the integer {consts[i]} is too large for a "
                        "float64 (NumPy raises OverflowError: int too large to convert to "
                        "float)", self.fs.loc(node)) from None
            if prim == "cast":
                return args, out[0]
            return tuple(out), None
        return args, None

    def power_operands(self, node, base, exp):
        """Operands of `base ** exp`. An integer to a negative integer power is a float in
        Python (2 ** -1 == 0.5) and an error for NumPy integer arrays; Numba's int64 power
        would truncate it to 0. So an int scalar base is cast to float64 unless the
        exponent is a constant >= 0 (`k ** 2` stays an int; `0 ** -1` is then inf, as
        `np.float64(0) ** -1` is, in both tiers), and an integer array to a
        negative constant power is refused, as NumPy refuses it. A float to an int power
        (a constant, a run-time number or an int array) gets a float exponent: both tiers
        then call pow() as NumPy does."""
        if not (isinstance(base, Value) and isinstance(exp, Value)):
            return base, exp
        k = self.const_value(exp)
        if base.type.dtype == "float64" and exp.type.dtype in ("int64", "bool"):
            # a float to an int power: computed by pow() as NumPy does, not by Numba's
            # integer power (repeated products; ZeroDivisionError for 0.0 ** -1)
            return base, (self.b.const(float(k)) if isinstance(k, int) else
                          self.b.emit("cast", exp))
        if base.type.dtype not in ("int64", "bool") or exp.type.dtype not in ("int64", "bool"):
            return base, exp
        if isinstance(k, int) and k >= 0:
            return base, exp
        if base.type.rank:
            raise UnsupportedError(
                f"`{ast.unparse(node)}`: an integer array to a negative or run-time integer "
                "power (NumPy raises 'Integers to negative integer powers are not allowed')",
                self.fs.loc(node), "make the base a float array: `x.astype(float) ** k`")
        if exp.type.rank:
            raise UnsupportedError(
                f"`{ast.unparse(node)}`: an integer to an integer array power is NumPy's "
                "integer power (it raises for negative powers and wraps past 2**63), not "
                "Python's", self.fs.loc(node), "make the base a float: `3.0 ** k`")
        # then a float to an int power, as above: `0 ** -1` is inf in both tiers, as
        # `0.0 ** -1` is (Numba's integer power would raise ZeroDivisionError compiled)
        return self.power_operands(node, self.b.emit("cast", base), exp)

    def const_value(self, v):
        """The Python number of a scalar constant Value (a literal, a captured number, or a
        negated one: `-1` lowers to neg(1)), else None."""
        op = self.b.defining_op(v) if isinstance(v, Value) else None
        if op is not None and op.prim == "const" and not isinstance(op.attr("value"), ConstArray):
            return op.attr("value")
        if op is not None and op.prim == "neg":
            c = self.const_value(op.inputs[0])
            return None if c is None else -c
        return None

    def expr(self, node):
        if isinstance(node, ast.Constant):
            if isinstance(node.value, (bool, int, float)):
                return self.b.const(node.value)
            if isinstance(node.value, str):  # an einsum subscript, a mode, a side: a literal
                return Static(node.value)
            raise UnsupportedError(f"constant {node.value!r} is not a number", self.fs.loc(node))
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, (ast.Tuple, ast.List)):  # a list literal reads as a tuple
            return tuple(self.expr(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            return structures.dict_literal(self, node)
        if isinstance(node, ast.Lambda):
            return structures.define(self, node)
        if isinstance(node, ast.BinOp):
            op = _BINOPS.get(type(node.op))
            if op is None:
                raise UnsupportedError(f"operator `{ast.unparse(node)}`", self.fs.loc(node),
                                       "supported: + - * / ** @ // %")
            return self.emit(node, op, self.expr(node.left), self.expr(node.right))
        if isinstance(node, ast.IfExp):
            return control.lower_ifexp(self, node)
        if isinstance(node, ast.BoolOp):
            return self.bool_op(node)
        if isinstance(node, ast.UnaryOp):
            x = self.expr(node.operand)
            if isinstance(node.op, ast.Not):
                return self.emit(node, "not", control.truth(self, node.operand, x))
            if isinstance(node.op, ast.USub):
                return self.emit(node, "neg", x)
            if isinstance(node.op, ast.UAdd):  # +x of an array is a new array (np.positive)
                return self.b.emit("copy", x) if isinstance(x, Value) and x.type.rank else x
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
            if isinstance(base, (tuple, dict)):  # p.W1 of a namedtuple
                return structures.attribute(self, node, base)
            if isinstance(base, Static):
                try:
                    obj = getattr(base.obj, node.attr)
                except AttributeError:
                    raise NameResolutionError(f"`{ast.unparse(node)}` does not exist",
                                              self.fs.loc(node)) from None
                key = None
                if base.key is not None and not trusted(base.obj):  # cfg.scale, mod.act
                    key, parent = ("attr", base.key, node.attr), base.obj
                    self.capture(key, _attribute_reader(parent, node.attr, obj), obj)
                return self.static(obj, node, key)
            attributes = numpy_api.ATTRIBUTES
            if isinstance(base, Value) and node.attr in attributes:
                return attributes[node.attr](self, node, base)
            raise UnsupportedError(f"attribute `.{node.attr}`", self.fs.loc(node),
                                   f"supported on arrays: {', '.join('.' + a for a in sorted(attributes))}")
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Subscript):
            base = self.expr(node.value)
            if isinstance(base, (tuple, dict)):  # p["W1"], x[0] of a tuple or list
                return structures.item(self, node, base)
            return indexing.load(self, node, base)
        raise UnsupportedError(f"expression `{ast.unparse(node)}`", self.fs.loc(node))

    def bool_op(self, node: ast.BoolOp) -> Value:
        """`a and b`, `a or b` as Python means them: on bools, the logical operation; on
        numbers, one of the operands (`x or 1.0` is x when x is nonzero, else 1.0; `a and
        b` is a when a is zero, else b), so the cotangent goes to the operand selected.
        Both operands are evaluated (they are pure). Arrays have no truth value."""
        vals = [self.expr(v) for v in node.values]
        conds = [control.truth(self, n, v) for n, v in zip(node.values, vals)]
        is_and = isinstance(node.op, ast.And)
        if all(v.type.dtype == "bool" for v in vals):
            out = conds[0]
            for c in conds[1:]:
                out = self.emit(node, "and" if is_and else "or", out, c)
            return out
        out = vals[-1]  # the last operand is the value when no earlier one decides
        for v, c in zip(reversed(vals[:-1]), reversed(conds[:-1])):
            out = self.emit(node, "where", c, out, v) if is_and else \
                self.emit(node, "where", c, v, out)
        return out

    def name(self, node: ast.Name):
        if node.id in self.env:
            return self.env[node.id]
        # a name the function assigns anywhere is local (Python decides at compile time):
        # unbound here, it is an error, never the global of the same name
        if node.id in self.mixed_names:
            raise UnsupportedError(
                f"`{node.id}` is a boolean on one path of the branch at line "
                f"{self.mixed_names[node.id].line} and a number on the other (NumPy adds "
                "booleans as a logical or, numbers as numbers)", self.fs.loc(node),
                "make it a number where it is a boolean: `(x[0] > 0) * 1.0` or `.astype(float)`")
        if node.id in self.maybe_undefined:
            raise NameResolutionError(
                f"`{node.id}` is assigned only on some paths (in a branch, or a loop body "
                "that may not run)", self.fs.loc(node),
                f"assign `{node.id}` before the branch or loop")
        if node.id in self.local_names:
            raise NameResolutionError(
                f"`{node.id}` is used before it is assigned (a local variable of "
                f"{self.fs.node.name}: Python raises UnboundLocalError)", self.fs.loc(node))
        if self.outer is not None:  # a local function: the enclosing one's names, as now
            return self.outer.name(node)
        g, bi, name = self.fs.fn.__globals__, vars(builtins), node.id
        for scope in (self.closure, g, bi):
            if name in scope:
                obj = scope[name]
                if scope is self.closure:
                    cell = self.cells[name]
                    key, read = ("cell", id(cell), name), cell_reader(cell)
                else:  # a builtin is read through the globals, where it may be shadowed later
                    key = ("global", id(g), name)
                    read = functools.partial(g.get, name, MISSING) if scope is g else (
                        lambda: g.get(name, bi.get(name, MISSING)))  # (checked every call)
                self.capture(key, read, obj)
                return self.static(obj, node, key)

        raise NameResolutionError(f"name `{node.id}` is not defined", self.fs.loc(node))

    def capture(self, key, read, obj):
        self.captures.append(Capture(key, read, obj))

    def capture_function(self, fn):
        """Record what inlining `fn` bakes in: its code, its defaults' tuple and dict, and
        each default's value (an array default changed in place, a keyword-only default
        set in the dict: both are changes)."""
        for attr in ("__code__", "__defaults__", "__kwdefaults__"):
            self.capture((attr, id(fn)), lambda a=attr: getattr(fn, a), getattr(fn, attr))
        for i, d in enumerate(fn.__defaults__ or ()):
            self.capture(("default", id(fn), i), lambda i=i: (
                fn.__defaults__[i] if i < len(fn.__defaults__ or ()) else MISSING), d)
        for k, d in (fn.__kwdefaults__ or {}).items():
            self.capture(("kwdefault", id(fn), k),
                         lambda k=k: (fn.__kwdefaults__ or {}).get(k, MISSING), d)

    def static(self, obj, node, key=None):
        """A Python object found by name: numbers and arrays become constants."""
        if isinstance(obj, (bool, int, float, np.number, np.bool_)) and not isinstance(obj, complex):
            return self.b.const(obj.item() if isinstance(obj, np.generic) else obj)
        if isinstance(obj, np.ndarray):
            if type(obj) is not np.ndarray:
                from ..arguments import plain_array
                try:
                    obj = plain_array(obj)
                except TypeError as e:
                    raise UnsupportedError(f"`{ast.unparse(node)}`: {e}", self.fs.loc(node)) from None
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
        kwargs = {k.arg: k.value for k in node.keywords}
        if None in kwargs:
            raise UnsupportedError("`**kwargs` in a call", self.fs.loc(node))
        if isinstance(target, structures.LocalFunction):
            return self.inline_local(node, target, [self.expr(a) for a in node.args], kwargs)
        if not isinstance(target, Static):
            raise UnsupportedError(f"`{ast.unparse(func)}` is not callable", self.fs.loc(node))
        obj = target.obj
        handler = numpy_api.FUNCTIONS.get(obj) if _hashable(obj) else None
        # a NumPy function's positional `None` is None, as a keyword's is (np.clip(x, None, 1))
        args = [self.argument(a) if handler is not None else self.expr(a) for a in node.args]
        built = structures.build(self, node, obj, args, kwargs)
        if built is not None:  # dict(a=a, b=b), tuple(x)
            return built
        inline = getattr(type(obj), "__adjoint_inline__", None)
        if inline is not None:  # a function made by compiler.grad (compiler/transforms.py)
            return inline(obj, self, node, args, kwargs)
        if isinstance(obj, types.MethodType) and isinstance(obj.__func__, types.FunctionType) \
                and not trusted_function(obj.__func__):  # self.predict(x): inlined
            return self.inline_method(node, target, args, kwargs)
        if handler is not None:  # NumPy, math, builtins, runtime.functions, custom_vjp
            out = handler(self, node, args, kwargs)
            if obj not in numpy_api.VIEWING_FUNCTIONS:
                out = self._fresh(out, args)
            return out
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
        args = [self.argument(a) for a in node.args]  # x.clip(None, 1.0)
        kwargs = {k.arg: k.value for k in node.keywords}
        methods = numpy_api.METHODS
        handler = methods.get(name)
        if handler is None:
            raise UnsupportedError(f"array method `.{name}()`", self.fs.loc(node),
                                   f"supported: {', '.join('.' + m + '()' for m in sorted(methods))}")
        out = handler(self, node, [x] + args, kwargs)
        return out if name in numpy_api.VIEWING_METHODS else self._fresh(out, [x] + args)

    def _fresh(self, out, args):
        """`out`, or a copy where a handler handed back an argument's array unchanged
        (np.concatenate([y]), np.round of ints, np.sum(y, axis=())): NumPy's result is a
        new array, so writes into it must not reach the argument (views.py)."""
        if isinstance(out, Value) and out.type.rank and any(
                out is a for a in _leaves(args)):
            return self.b.emit("copy", out)
        return out

    def inline(self, node, fn, args, kwargs):
        """A call to the user function fn, lowered by lowering its body here."""
        bound = self.bind_function(node, fn, args, kwargs)
        try:
            fs = parse_function(fn)
        except AdjointError as e:  # fn's own source says nothing (a lambda, no source)
            if e.loc is not None:
                raise
            raise type(e)(f"`{ast.unparse(node.func)}`: {e.message}", self.fs.loc(node),
                          e.hint) from None
        return self.lower_body(fs, bound, call=node)

    def inline_local(self, node, fn: structures.LocalFunction, args, kwargs):
        """A call to a `def` or `lambda` of the function being lowered: its body lowered
        here, names it does not bind resolved in the function that defines it."""
        if fn.active:
            raise UnsupportedError(f"recursive call to `{fn.name}`", self.fs.loc(node),
                                   "rewrite the recursion as a loop")
        bound = self.bind(node, fn.signature(), args, kwargs)
        for n, v in bound.items():
            if not isinstance(v, (Value, tuple, dict, structures.LocalFunction)):
                raise UnsupportedError(f"argument `{n}` of `{ast.unparse(node.func)}` is not an "
                                       "array or number", self.fs.loc(node))
        fs = dataclasses.replace(fn.outer.fs, node=fn.node, bound=None,
                                 inlined_at=self.fs.loc(node))
        fn.active = True
        try:
            return Lowerer(fs, self.b, dict(bound), self.stack, self.captures, fn.outer).body()
        finally:
            fn.active = False

    def inline_method(self, node, target: Static, args, kwargs):
        """A call to a method of an object (`self.layer(x)`, `model.predict(x)`): its
        function inlined with the object bound to its first parameter."""
        method = target.obj
        fn = method.__func__
        sig = Signature.of_function(fn)
        if not sig.positional:
            raise UnsupportedError(f"`{ast.unparse(node.func)}` takes no `self`", self.fs.loc(node))
        sig = Signature(sig.positional[1:], sig.keyword_only,
                        {k: v for k, v in sig.defaults.items() if k != sig.positional[0]})
        if fn in self.stack:
            raise UnsupportedError(f"recursive call to `{fn.__name__}`", self.fs.loc(node),
                                   "rewrite the recursion as a loop")
        self.capture_function(fn)
        bound = self.bind(node, sig, args, kwargs, default=lambda d: self.static(d, node))
        fs = parse_function(method)  # binds `self` to the object (FunctionSource.bound)
        bound[fs.bound[0]] = Static(method.__self__, target.key)
        return self.lower_body(fs, bound, call=node)

    def bind_function(self, node, fn, args, kwargs) -> dict:
        """{parameter: Value} for a call to the user function fn (inlined, or a custom_vjp
        function), bound as Python binds it; defaults become constants. Records the
        function's code and defaults as captures. Raises UnsupportedError at the call for
        recursion, a bad argument list, or an argument that is not an array or number."""
        if fn in self.stack:
            raise UnsupportedError(f"recursive call to `{fn.__name__}`", self.fs.loc(node),
                                   "rewrite the recursion as a loop")
        if not trusted_function(fn):  # f.__code__ = ...
            self.capture_function(fn)
        bound = self.bind(node, Signature.of_function(fn), args, kwargs,
                          default=lambda d: self.static(d, node))
        for n, v in bound.items():
            if not isinstance(v, (Value, tuple, dict, structures.LocalFunction)):
                raise UnsupportedError(f"argument `{n}` of `{ast.unparse(node.func)}` is not an "
                                       "array or number", self.fs.loc(node))
        return bound

    def lower_body(self, fs: FunctionSource, env: dict, call: ast.Call | None = None):
        """Lower another function's body (a callee, a custom_vjp function) into this
        builder, its parameters bound by env; returns its result. With `call`, the AST
        node of the call, its ops' Locs record it as `inlined_at` (after this function's
        own call sites: a chain)."""
        if call is not None:
            fs = dataclasses.replace(fs, inlined_at=self.fs.loc(call))
        return Lowerer(fs, self.b, dict(env), self.stack, self.captures).body()

    # helpers for handlers
    def bind(self, node: ast.Call, sig: Signature, args, kwargs, default=lambda d: d) -> dict:
        """The call's arguments bound to sig (binding.bind): positional `args` already
        lowered, keyword values (`kwargs`: {name: AST node}) lowered here, a literal
        `None` kept as None."""
        return bind(sig, ast.unparse(node.func), args, kwargs, self.argument,
                    self.fs.loc(node), default)

    def argument(self, node: ast.expr):
        """A keyword argument's value: `None` as written, else the lowered expression."""
        return None if isinstance(node, ast.Constant) and node.value is None else self.expr(node)

    def arity(self, node, args, n):
        if len(args) != n:
            raise UnsupportedError(f"`{ast.unparse(node.func)}` takes {n} positional argument(s) here",
                                   self.fs.loc(node))
        return args

    def no_kwargs(self, node, kwargs):
        if kwargs:
            raise UnsupportedError(f"keyword argument(s) {', '.join(kwargs)} to "
                                   f"`{ast.unparse(node.func)}`", self.fs.loc(node))


def _hashable(obj) -> bool:
    try:
        hash(obj)
    except TypeError:
        return False
    return True


def _local_names(fn: ast.FunctionDef) -> set:
    """The names a function's body binds (its locals, as Python decides at compile time),
    not looking into local `def`s and lambdas (their own scopes) but counting their
    names."""
    out: set = set()
    todo = list(fn.body)
    while todo:
        n = todo.pop()
        if isinstance(n, ast.FunctionDef):
            out.add(n.name)
            todo.extend(n.args.defaults + [d for d in n.args.kw_defaults if d is not None])
            continue
        if isinstance(n, ast.Lambda):
            todo.extend(n.args.defaults)
            continue
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        todo.extend(ast.iter_child_nodes(n))
    return out


def _attribute_reader(parent, attr, obj):
    """read() of the capture of `parent.attr` (first `obj`): a bound method is a new
    object at every read, so one of the same function bound to the same object reads as
    `obj` itself (else a loss calling `model.predict` regenerated on every call)."""
    if not isinstance(obj, types.MethodType):
        return lambda: getattr(parent, attr, MISSING)

    def read():
        now = getattr(parent, attr, MISSING)
        if (isinstance(now, types.MethodType) and now.__func__ is obj.__func__
                and now.__self__ is obj.__self__):
            return obj
        return now
    return read
