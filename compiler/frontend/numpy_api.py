"""The NumPy (and math/builtins/runtime.functions) API as the frontend understands it:
functions by identity (`FUNCTIONS`), array methods (`METHODS`) and attributes
(`ATTRIBUTES`). Subscripts are compiler/frontend/indexing.py.

Each handler is `handler(cx, node, args, kwargs) -> Value` (attributes:
`handler(cx, node, x)`), where `cx` is the lowering context (compiler/frontend/context.py:
`cx.emit(node, prim, *inputs, **attrs)`, `cx.expr`, `cx.b`, `cx.bind`), `args` are lowered
positional arguments and `kwargs` maps keyword names to *AST nodes*. Handlers lower a
call to primitives of compiler/primitives.py; adding a NumPy function is one handler
and one table entry. Arguments NumPy takes as Python values (`axis`, `keepdims`,
`ddof`, `dtype`, an index) must be constants here (literals, or globals); shapes may be
run-time ints (`x.shape[0]`, `len(x)`, int arguments).

A call to a callable with neither a handler nor readable source (a C function, a
Numba dispatcher, an exec-created function), or to a library function without a handler
(NumPy, SciPy, scikit-learn, ...: `_LIBRARIES`; adjoint does not inline their code),
raises `NameResolutionError` at the user's call, naming the function and saying what to
write instead (`_SPELLINGS`: `scipy.special.expit` -> `runtime.functions.sigmoid`) or
how to give it a rule (compiler.custom_vjp).
"""
import ast
import builtins
import inspect
import math
import sys
import types

import numpy as np

from ..errors import NameResolutionError, ShapeError, UnsupportedError
from ..ir.builder import ZERO_D
from ..ir.core import ConstArray, Value
from .binding import Signature
from . import views
from .captures import Static


# ---- argument helpers -----------------------------------------------------------------
def _callee(node):
    return ast.unparse(node.func)


def bind(cx, node, args, kwargs, *params):
    """Match arguments to `params` (names, or (name, default) pairs) as Python does
    (binding.bind); keyword values are lowered here (`None` stays None). Returns
    {name: value}."""
    return cx.bind(node, Signature.of(*params), args, kwargs)


_ABSENT = Static("an argument not given")  # a default that `None` cannot be


def literal(cx, node, v, what):
    """A constant argument's Python value: numbers, None, tuples of them, Python objects
    such as `float` (dtype). Raises UnsupportedError for a run-time value."""
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, tuple):
        return tuple(literal(cx, node, e, what) for e in v)
    if isinstance(v, Static):
        return v.obj
    c = cx.const_value(v)
    if c is None:
        raise UnsupportedError(f"`{what}` of `{_callee(node)}` must be a constant",
                               cx.fs.loc(node), f"write `{what}` as a literal")
    return c


def array(cx, node, v, what="argument"):
    if isinstance(v, tuple) and v and not hasattr(type(v), "_fields"):
        v = _nested(cx, node, v)  # a list or tuple of numbers or arrays, as NumPy reads it
    if not isinstance(v, Value):
        from .indexing import outside_hint
        raise UnsupportedError(f"{what} of `{_callee(node)}` is not an array or number",
                               cx.fs.loc(node), outside_hint(v))
    return v


def axes_arg(cx, node, x, v, extra=0):
    """`axis` as None or a sorted tuple of distinct non-negative ints below the rank
    (plus `extra`, for expand_dims)."""
    ax = literal(cx, node, v, "axis")
    if ax is None:
        return None
    r = x.type.rank + extra
    out = []
    for a in (ax if isinstance(ax, tuple) else (ax,)):
        if not isinstance(a, int) or isinstance(a, bool):
            raise UnsupportedError("`axis` must be an int, a tuple of ints or None", cx.fs.loc(node))
        if not -r <= a < r:
            raise ShapeError(f"axis {a} is out of bounds for an array of rank {r}", cx.fs.loc(node))
        out.append(a % r)
    if len(set(out)) != len(out):
        raise ShapeError(f"repeated axis in {ax}", cx.fs.loc(node))
    return tuple(sorted(out))


def _flag(cx, node, v, what):
    f = literal(cx, node, v, what)
    if not isinstance(f, (bool, int)):
        raise UnsupportedError(f"`{what}` must be True or False", cx.fs.loc(node))
    return bool(f)


def shape_arg(cx, node, v):
    """A shape (int, or tuple/list of ints, constant or run-time) as a list of int Values."""
    if isinstance(v, Static) and isinstance(v.obj, tuple):
        v = tuple(cx.b.const(int(d)) for d in v.obj)
    dims = list(v) if isinstance(v, tuple) else [v]
    for d in dims:
        if not isinstance(d, Value) or d.type.rank or d.type.dtype != "int64":
            raise ShapeError(f"`{_callee(node)}`: a shape is an int or a tuple of ints",
                             cx.fs.loc(node))
    return dims


def _dtype(cx, node, v):
    """dtype= as 'float64', 'int64', 'bool' or None."""
    d = literal(cx, node, v, "dtype")
    if d is None:
        return None
    try:
        kind = np.dtype(d).kind
    except TypeError:
        kind = None
    if kind not in ("f", "i", "u", "b"):
        raise UnsupportedError(f"dtype {d!r} is not supported", cx.fs.loc(node),
                               "use float, int or bool")
    if np.dtype(d) not in (np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_)):
        raise UnsupportedError(
            f"dtype {np.dtype(d).name}: adjoint computes in float64, int64 and bool, where "
            f"NumPy would {'round to' if kind == 'f' else 'wrap around in'} "
            f"{np.dtype(d).name}", cx.fs.loc(node), "use float, int or bool")
    return {"f": "float64", "i": "int64", "b": "bool"}[kind]


def convert(cx, node, x, dtype):
    if dtype is None or x.type.dtype == dtype:
        return x
    if dtype == "float64":
        return cx.emit(node, "cast", x)
    if dtype == "int64":
        return cx.emit(node, "to_int", x)
    return cx.emit(node, "ne", x, 0)


# ---- elementwise functions ----------------------------------------------------------
def _unary(prim):
    def h(cx, node, args, kwargs):
        cx.no_kwargs(node, kwargs)
        (x,) = cx.arity(node, args, 1)
        if prim == "sign" and isinstance(x, Value) and x.type.dtype == "bool":
            _no_booleans(cx, node, "sign")
        return cx.emit(node, prim, x)
    return h


def _fabs(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    (x,) = cx.arity(node, args, 1)
    if isinstance(x, Value) and x.type.dtype == "bool":  # its loop for booleans: float16
        raise UnsupportedError(f"`{ast.unparse(node)}` of booleans: NumPy computes it in "
                               "float16, adjoint in float64", cx.fs.loc(node),
                               "convert first: `m.astype(float)`")
    return cx.emit(node, "abs", x)


def _no_booleans(cx, node, what):
    """NumPy has no boolean loop for `what` (UFuncTypeError, or TypeError for a subtract)."""
    raise UnsupportedError(f"`{ast.unparse(node)}`: NumPy's {what} has no boolean form "
                           "(it raises TypeError)", cx.fs.loc(node),
                           "for numbers cast first: `m.astype(float)` or `m.astype(int)`")


def _math(prim, n=1):  # math.* functions: scalars only, as in Python
    def h(cx, node, args, kwargs):
        cx.no_kwargs(node, kwargs)
        xs = cx.arity(node, args, n)
        if any(isinstance(x, Value) and x.type.rank for x in xs):
            raise ShapeError(f"`{_callee(node)}` of an array", cx.fs.loc(node),
                             f"use np.{prim} for arrays")
        return cx.emit(node, prim, *xs)
    return h


def _binary(prim):
    def h(cx, node, args, kwargs):
        cx.no_kwargs(node, kwargs)
        return cx.emit(node, prim, *cx.arity(node, args, 2))
    return h


def _np_power(cx, node, args, kwargs):
    """np.power: NumPy's integer power for two integers (int64 results that wrap past
    2**63, ValueError for a negative power), so those are refused unless the power is a
    constant >= 0; `**` of Python ints gives a float for negative powers instead."""
    cx.no_kwargs(node, kwargs)
    base, exp = cx.arity(node, args, 2)
    ints = all(isinstance(a, Value) and a.type.dtype in ("int64", "bool") for a in (base, exp))
    k = cx.const_value(exp) if isinstance(exp, Value) else None
    if ints and not (isinstance(k, int) and k >= 0):
        raise UnsupportedError(
            f"`{ast.unparse(node)}`: np.power of integers is NumPy's integer power (it "
            "raises for negative powers and wraps past 2**63)", cx.fs.loc(node),
            "use np.float_power (float64 throughout) or a float base")
    return cx.emit(node, "pow", base, exp)


def _float_power(cx, node, args, kwargs):
    """np.float_power: both operands as float64, then the power (NumPy's definition)."""
    cx.no_kwargs(node, kwargs)
    base, exp = (cx.b.emit("cast", a) if isinstance(a, Value) and a.type.dtype != "float64"
                 else float(a) if isinstance(a, (int, bool)) else a
                 for a in cx.arity(node, args, 2))
    return cx.emit(node, "pow", base, exp)


def _log_base(base):
    def h(cx, node, args, kwargs):
        cx.no_kwargs(node, kwargs)
        (x,) = cx.arity(node, args, 1)
        return cx.emit(node, "div", cx.emit(node, "log", x), math.log(base))
    return h


def _where(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    if len(args) != 3:
        raise UnsupportedError("np.where with one argument (indices) is not supported",
                               cx.fs.loc(node), "use np.where(condition, x, y)")
    return cx.emit(node, "where", *args)


def _square(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    (x,) = cx.arity(node, args, 1)
    if isinstance(x, Value) and x.type.dtype == "bool":  # x * x would be a logical and
        raise UnsupportedError(f"`{ast.unparse(node)}` of booleans is NumPy's int8 (its sums "
                               "count, and wrap past 127)", cx.fs.loc(node),
                               "convert first: `m.astype(float)` or `m.astype(int)`")
    return cx.emit(node, "mul", x, x)


def _reciprocal(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    (x,) = cx.arity(node, args, 1)
    if isinstance(x, Value) and x.type.dtype != "float64":
        raise UnsupportedError(
            f"`{ast.unparse(node)}` of {x.type.dtype} values is NumPy's integer reciprocal "
            "(1 // k: 0 for |k| > 1)", cx.fs.loc(node), "for the float reciprocal write `1.0 / k`")
    return cx.emit(node, "div", 1.0, x)


def _clip_method(cx, node, args, kwargs):
    """x.clip(min=None, max=None): either bound alone, positional or by keyword."""
    a = bind(cx, node, args, kwargs, "a", ("min", None), ("max", None))
    return _clip(cx, node, [a["a"]], {}, bounds=(a["min"], a["max"]))


def _clip(cx, node, args, kwargs, bounds=None):
    if bounds is not None:
        return _clipped(cx, node, array(cx, node, args[0]), *bounds)
    names = ("min", "max") if "min" in kwargs or "max" in kwargs else ("a_min", "a_max")
    if names[0] == "min" and (len(args) > 1 or "a_min" in kwargs or "a_max" in kwargs):
        raise UnsupportedError(  # NumPy: TypeError (a_max missing) or ValueError
            f"`{ast.unparse(node)}`: NumPy's clip takes its bounds as a_min and a_max or as "
            "min= and max=, not both", cx.fs.loc(node), "np.clip(x, lo, hi) or np.clip(x, min=lo)")
    a = bind(cx, node, args, kwargs, "a", (names[0], _ABSENT), (names[1], _ABSENT))
    if names[0] == "a_min" and (a["a_min"] is _ABSENT) != (a["a_max"] is _ABSENT):
        missing = "a_max" if a["a_max"] is _ABSENT else "a_min"
        raise UnsupportedError(  # NumPy: TypeError, clip() missing ... argument
            f"`{ast.unparse(node)}`: NumPy's clip takes both a_min and a_max (`None` for "
            f"no bound); {missing} is missing", cx.fs.loc(node),
            "np.clip(x, lo, None), np.clip(x, None, hi) or np.clip(x, min=lo)")
    lo, hi = (None if a[n] is _ABSENT else a[n] for n in names)
    return _clipped(cx, node, array(cx, node, a["a"]), lo, hi)


def _clipped(cx, node, x, lo, hi):
    if lo is None and hi is None:
        raise UnsupportedError("np.clip needs a lower or an upper bound", cx.fs.loc(node))
    if lo is not None:
        x = cx.emit(node, "maximum", x, lo)
    if hi is not None:
        x = cx.emit(node, "minimum", x, hi)
    return x


def _float(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    (x,) = cx.arity(node, args, 1)
    if isinstance(x, Value) and x.type.rank:
        raise ShapeError("float() of an array", cx.fs.loc(node), "use np.sum(x) or x[i]")
    return cx.emit(node, "cast", x)


def _int(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    (x,) = cx.arity(node, args, 1)
    if isinstance(x, Value) and x.type.rank:
        raise ShapeError("int() of an array", cx.fs.loc(node), "use x.astype(int)")
    return x if x.type.dtype == "int64" else cx.emit(node, "to_int", x)


def _np_float(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    (x,) = cx.arity(node, args, 1)
    if isinstance(x, Value) and x.type.rank and x.type.dtype == "float64":
        # NumPy: np.float64(a) of a float64 array is `a` itself, of a float32 one a copy:
        # for an argument (its caller's dtype) a maybe-view, as np.asarray(a, dtype=float)
        return _maybe_argument_view(cx, x, "np.float64 of an argument")
    return cx.emit(node, "cast", x)


def _len(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    (x,) = cx.arity(node, args, 1)
    if isinstance(x, tuple):
        return cx.b.const(len(x))
    if not isinstance(x, Value) or x.type.rank == 0:
        raise ShapeError("len() of a scalar", cx.fs.loc(node))
    return cx.emit(node, "dim", x, axis=0)


def _max2(prim):
    def h(cx, node, args, kwargs):
        cx.no_kwargs(node, kwargs)
        if len(args) != 2:
            raise UnsupportedError(f"builtin `{_callee(node)}` with other than two arguments",
                                   cx.fs.loc(node), f"use np.{prim}(a, b) or np.{prim[:3]}(x)")
        return cx.emit(node, prim, *args)
    return h


def _logical(prim, n):
    def h(cx, node, args, kwargs):
        cx.no_kwargs(node, kwargs)
        return cx.emit(node, prim, *cx.arity(node, args, n))
    return h


# ---- reductions -------------------------------------------------------------------------
def count(cx, node, x, axes):
    """Number of elements over `axes` (None: all) as an int Value."""
    if axes is None or len(axes) == x.type.rank:
        return cx.emit(node, "size", x)
    n = None
    for a in axes:
        d = cx.emit(node, "dim", x, axis=a)
        n = d if n is None else cx.emit(node, "mul", n, d)
    return n


def reduce(cx, node, kind, x, axes, keepdims=False):
    """sum/mean/max/min/prod of x over axes (None: all), keeping them as size-1 axes."""
    r = x.type.rank
    if r == 0:
        return cx.emit(node, "cast", x) if kind == "mean" and x.type.dtype != "float64" else x
    full = axes is None or len(axes) == r
    if kind in ("sum", "prod", "mean"):
        prim = "prod" if kind == "prod" else "sum"
        if full:
            out = cx.emit(node, prim, x)
        else:
            out = x
            for a in sorted(axes, reverse=True):
                out = cx.emit(node, prim, out, axis=a)
        if kind == "mean":
            out = cx.emit(node, "div", out, count(cx, node, x, axes))
    else:
        out = cx.emit(node, kind, x, axis=None if full else axes)
    if keepdims:
        for a in (range(r) if full else axes):
            out = cx.emit(node, "expand_dims", out, axis=a)
    return out


def _reduction(kind):
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "a", ("axis", None), ("keepdims", False))
        x = array(cx, node, a["a"])
        return reduce(cx, node, kind, x, axes_arg(cx, node, x, a["axis"]),
                      _flag(cx, node, a["keepdims"], "keepdims"))
    return h


def _variance(std):
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "a", ("axis", None), ("ddof", 0), ("keepdims", False))
        x = array(cx, node, a["a"])
        if x.type.rank == 0:
            return cx.b.const(0.0)
        axes = axes_arg(cx, node, x, a["axis"])
        keep = _flag(cx, node, a["keepdims"], "keepdims")
        ddof = literal(cx, node, a["ddof"], "ddof")
        d = cx.emit(node, "sub", x, reduce(cx, node, "mean", x, axes, keepdims=True))
        s = reduce(cx, node, "sum", cx.emit(node, "mul", d, d), axes, keep)
        n = count(cx, node, x, axes)
        if ddof:
            n = cx.emit(node, "sub", n, ddof)
        v = cx.emit(node, "div", s, n)
        return cx.emit(node, "sqrt_var", v) if std else v  # std'(0) = 0, as norm'(0) = 0
    return h


# ---- linear algebra -------------------------------------------------------------------
def _dot(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    a, b = cx.arity(node, args, 2)
    if isinstance(a, Value) and isinstance(b, Value) and (a.type.rank == 0 or b.type.rank == 0):
        return cx.emit(node, "mul", a, b)
    return cx.emit(node, "matmul", a, b)


def _inner(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    a, b = (array(cx, node, v) for v in cx.arity(node, args, 2))
    if a.type.rank == 0 or b.type.rank == 0:
        return cx.emit(node, "mul", a, b)
    if a.type.rank == 1 or b.type.rank == 1:
        return cx.emit(node, "matmul", b, a) if a.type.rank == 1 and b.type.rank == 2 else \
            cx.emit(node, "matmul", a, b)
    return cx.emit(node, "matmul", a, cx.emit(node, "transpose", b))


def _outer(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    a, b = (array(cx, node, v) for v in cx.arity(node, args, 2))
    if a.type.rank != 1 or b.type.rank != 1:
        raise ShapeError("np.outer of arrays that are not 1-D", cx.fs.loc(node),
                         "use np.outer(a.ravel(), b.ravel())")
    return cx.emit(node, "outer", a, b)


def _trace(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    (x,) = cx.arity(node, args, 1)
    if array(cx, node, x).type.rank != 2:
        raise ShapeError("np.trace of an array that is not 2-D", cx.fs.loc(node))
    return cx.emit(node, "trace", x)


# ---- shapes ------------------------------------------------------------------------------
def _transpose(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("axes", None))
    return transpose(cx, node, array(cx, node, a["a"]), literal(cx, node, a["axes"], "axes"))


def transpose(cx, node, x, axes):
    r = x.type.rank
    if axes is None or tuple(axes) == tuple(range(r - 1, -1, -1)):
        return x if r < 2 else cx.emit(node, "transpose", x)
    axes = tuple(a % r if isinstance(a, int) and -r <= a < r else -1 for a in axes)
    if sorted(axes) != list(range(r)):
        raise ShapeError(f"axes {axes} are not a permutation of range({r})", cx.fs.loc(node))
    return x if axes == tuple(range(r)) else cx.emit(node, "permute", x, axes=axes)


def reshape(cx, node, x, dims):
    if x.type.rank == 0:
        raise ShapeError("reshape of a scalar", cx.fs.loc(node), "use np.array([x]) or np.full")
    if not dims:
        raise ShapeError("reshape to a scalar", cx.fs.loc(node), "use x[0] or np.sum(x)")
    if sum(cx.const_value(d) == -1 for d in dims) > 1:
        raise ShapeError("reshape with more than one -1", cx.fs.loc(node))
    if len(dims) == 1 and x.type.rank == 1 and cx.const_value(dims[0]) == -1:
        return x
    return cx.emit(node, "reshape", x, *dims)


def _reshape(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", "newshape")
    return reshape(cx, node, array(cx, node, a["a"]), shape_arg(cx, node, a["newshape"]))


def _ravel(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    (x,) = cx.arity(node, args, 1)
    return reshape(cx, node, array(cx, node, x), [cx.b.const(-1)])


def _flatten(cx, node, args, kwargs):  # a copy, unlike ravel (writes do not reach x)
    return cx.b.emit("copy", _ravel(cx, node, args, kwargs))


def _expand_dims(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", "axis")
    x = array(cx, node, a["a"])
    ax = literal(cx, node, a["axis"], "axis")
    axes = axes_arg(cx, node, x, a["axis"], extra=len(ax) if isinstance(ax, tuple) else 1)
    for k in axes:
        x = cx.emit(node, "expand_dims", x, axis=k)
    return x


def squeeze(cx, node, x, axis_v):
    if axis_v is None:
        raise UnsupportedError("np.squeeze without `axis`: the result's rank would depend on "
                               "the run-time shape", cx.fs.loc(node), "pass axis=")
    axes = axes_arg(cx, node, x, axis_v)
    keep = [k for k in range(x.type.rank) if k not in axes]
    if not keep:
        return cx.emit(node, "getitem", x, *[cx.b.const(0)] * x.type.rank,
                       spec=("i",) * x.type.rank)
    return cx.emit(node, "reshape", x, *[cx.emit(node, "dim", x, axis=k) for k in keep])


def _squeeze(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("axis", None))
    return squeeze(cx, node, array(cx, node, a["a"]), a["axis"])


def _seq(cx, node, v):
    if isinstance(v, Value):
        raise UnsupportedError(f"`{_callee(node)}` of one array", cx.fs.loc(node),
                               "pass a tuple or list of arrays: np.concatenate((a, b))")
    if not isinstance(v, tuple) or not v or not all(isinstance(e, Value) for e in v):
        raise UnsupportedError(f"`{_callee(node)}` takes a tuple or list of arrays",
                               cx.fs.loc(node))
    d = "float64" if any(e.type.dtype == "float64" for e in v) else None
    return [convert(cx, node, e, d) for e in v]


def concatenate(cx, node, xs, axis):
    if len({x.type.rank for x in xs}) != 1 or xs[0].type.rank == 0:
        raise ShapeError("concatenate needs arrays of one rank >= 1", cx.fs.loc(node))
    ax = axes_arg(cx, node, xs[0], cx.b.const(axis))[0]
    # one array: NumPy's result is a new array (np.column_stack([y]) is no view of y)
    return cx.b.emit("copy", xs[0]) if len(xs) == 1 else cx.emit(node, "concatenate", *xs, axis=ax)


def stack(cx, node, xs, axis):
    if len({x.type.rank for x in xs}) != 1:
        raise ShapeError("stack needs arrays of one rank", cx.fs.loc(node))
    if xs[0].type.rank == 0 and axis in (0, -1):
        return cx.emit(node, "pack", *xs)
    ax = axes_arg(cx, node, xs[0], cx.b.const(axis), extra=1)[0]
    return cx.emit(node, "stack", *xs, axis=ax)


def _concatenate(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "arrays", ("axis", 0))
    axis = literal(cx, node, a["axis"], "axis")
    if axis is None:
        raise UnsupportedError("concatenate with axis=None", cx.fs.loc(node),
                               "ravel the arrays first")
    return concatenate(cx, node, _seq(cx, node, a["arrays"]), axis)


def _stack(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "arrays", ("axis", 0))
    return stack(cx, node, _seq(cx, node, a["arrays"]), literal(cx, node, a["axis"], "axis"))


def _hstack(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    xs = _seq(cx, node, cx.arity(node, args, 1)[0])
    ranks = {x.type.rank for x in xs}
    if ranks == {0}:
        return cx.emit(node, "pack", *xs)
    if len(ranks) != 1:
        raise ShapeError("np.hstack of arrays of different ranks", cx.fs.loc(node))
    return concatenate(cx, node, xs, 0 if ranks == {1} else 1)


def _vstack(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    xs = _seq(cx, node, cx.arity(node, args, 1)[0])
    if any(x.type.rank > 2 for x in xs) or any(x.type.rank == 0 for x in xs):
        raise ShapeError("np.vstack takes 1-D and 2-D arrays here", cx.fs.loc(node))
    if all(x.type.rank == 1 for x in xs):
        return cx.emit(node, "stack", *xs, axis=0)
    xs = [cx.emit(node, "expand_dims", x, axis=0) if x.type.rank == 1 else x for x in xs]
    return concatenate(cx, node, xs, 0)


# ---- constructors -----------------------------------------------------------------------
def _filled(prim):
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "shape", ("dtype", None))
        dims = shape_arg(cx, node, a["shape"])
        if not dims:
            raise ShapeError(f"`{_callee(node)}` of shape ()", cx.fs.loc(node), "use a number")
        d = _dtype(cx, node, a["dtype"]) or "float64"
        return cx.emit(node, prim, *dims, **({} if d == "float64" else {"dtype": d}))
    return h


def _full(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "shape", "fill_value", ("dtype", None))
    dims = shape_arg(cx, node, a["shape"])
    v = array(cx, node, a["fill_value"])
    if not dims or v.type.rank:
        raise ShapeError("np.full takes a non-empty shape and a scalar", cx.fs.loc(node))
    return cx.emit(node, "full", convert(cx, node, v, _dtype(cx, node, a["dtype"])), *dims)


def _full_like_of(value):
    def h(cx, node, args, kwargs):
        params = ("a",) + (("fill_value",) if value is None else ()) + (("dtype", None),)
        a = bind(cx, node, args, kwargs, *params)
        x = array(cx, node, a["a"])
        d = _dtype(cx, node, a["dtype"]) or x.type.dtype
        v = (array(cx, node, a["fill_value"]) if value is None else
             cx.b.const({"float64": float, "int64": int, "bool": bool}[d](value)))
        if v.type.rank:
            raise ShapeError("the fill value must be a scalar", cx.fs.loc(node))
        if x.type.rank == 0:
            return convert(cx, node, v, d)
        if d == "float64" and value == 0:
            return cx.emit(node, "zeros_like", x)
        return cx.emit(node, "full_like", x, convert(cx, node, v, d))
    return h


def _eye(cx, node, args, kwargs):
    """np.eye(N, M=None, dtype=float) and np.identity(n, dtype=float): dtype float, int or
    bool (the float identity converted, as NumPy's values are)."""
    a = bind(cx, node, args, kwargs, "N", ("M", None), ("dtype", None))
    dims = [a["N"]] + ([] if a["M"] is None else [a["M"]])
    eye = cx.emit(node, "eye", *shape_arg(cx, node, tuple(dims)))
    return convert(cx, node, eye, _dtype(cx, node, a["dtype"]))


def _arange(cx, node, args, kwargs):
    """np.arange(stop), (start, stop), (start, stop, step), with `dtype=`: float (the
    values converted), or int where start and step are ints (NumPy computes an int
    arange from float bounds by its own rule: refused). bool is refused too (NumPy
    raises for more than two entries)."""
    dtype = kwargs.pop("dtype", None)
    cx.no_kwargs(node, kwargs)
    if not 1 <= len(args) <= 3 or not all(isinstance(v, Value) and not v.type.rank for v in args):
        raise UnsupportedError("np.arange takes 1 to 3 numbers", cx.fs.loc(node))
    out = cx.emit(node, "arange", *args)
    d = _dtype(cx, node, cx.expr(dtype)) if dtype is not None else None
    if d == "bool" or d == "int64" and out.type.dtype != "int64":
        raise UnsupportedError(
            f"`{_callee(node)}` with dtype {d}" + ("" if d == "bool" else " and float bounds"),
            cx.fs.loc(node), "write np.arange(...) of ints, or `np.arange(...).astype(int)` "
            "for the truncated float values")
    return convert(cx, node, out, d)


def _array(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "object", ("dtype", None))
    d = _dtype(cx, node, a["dtype"])
    obj = a["object"]
    if isinstance(obj, tuple):
        obj = _nested(cx, node, obj)
    return convert(cx, node, array(cx, node, obj), d)


def _asarray(cx, node, args, kwargs):
    """np.asarray(x, dtype=d): x itself when x has dtype d, else a converted copy. An
    argument's dtype is its caller's (int32 and float32 arguments are computed as int64
    and float64), so for an argument (or a view of one) adjoint cannot tell which: the
    result may be a view of it, and writes through it or into the argument are refused."""
    out = _array(cx, node, args, kwargs)
    a = bind(cx, node, args, kwargs, "object", ("dtype", None))
    if a["dtype"] is not None and out is a["object"]:
        return _maybe_argument_view(cx, out, "np.asarray with a dtype of an argument")
    return out


def _maybe_argument_view(cx, x, what):
    """x, or for an argument (or a view of one) a value that may be a view of it: NumPy
    returns the argument itself or a converted copy by the caller's dtype (float32 and
    int32 arguments are computed as float64 and int64), so writes through it, or into
    the argument while it is bound, are refused."""
    ref = views.source(cx, x)
    if ref is None or not (ref.root is None or cx.env.get(ref.root) in cx.param_values):
        return x
    out = cx.b.emit("copy", x)
    views.mark_maybe_view(cx, out, [ref], f"it is {what}, which NumPy returns as it is or "
                          "converts, by the caller's dtype")
    return out


def _copied(cx, x, out):
    """NumPy's x.astype(...) and np.array(x) are new arrays even when nothing converts:
    a copy, so that writes into them do not reach x (frontend/views.py)."""
    return cx.b.emit("copy", out) if out is x and isinstance(x, Value) and x.type.rank else out


def _array_copy(cx, node, args, kwargs):  # np.array(x) copies; np.asarray(x) is x
    out = _array(cx, node, args, kwargs)
    return _copied(cx, args[0] if args else None, out)


def _zero_d(h):
    """A handler whose rank-0 results are NumPy 0-d arrays (np.array(2.0)): a fresh value
    marked so (ZERO_D), which in-place updates refuse."""
    def z(cx, node, args, kwargs):
        out = h(cx, node, args, kwargs)
        if isinstance(out, Value) and out.type.rank == 0:
            if out.type.dtype != "bool" and any(v is out for v in cx.env.values()):
                out = cx.emit(node, "mul", out, 1)  # a value of its own (folded away later)
            ZERO_D.add(out)
        return out
    return z


def _nested(cx, node, items):
    consts = [cx.const_value(e) for e in items]
    if items and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in consts):
        return cx.b.const(ConstArray.of(np.array(consts)))  # a constant array: a global
    xs = [_nested(cx, node, e) if isinstance(e, tuple) else array(cx, node, e) for e in items]
    if not xs:
        raise ShapeError("np.array of an empty list", cx.fs.loc(node))
    d = "float64" if any(x.type.dtype == "float64" for x in xs) else None
    return stack(cx, node, [convert(cx, node, x, d) for x in xs], 0)


# ---- runtime.functions ------------------------------------------------------------------
def _runtime_axis(prim, default):
    def h(cx, node, args, kwargs):
        params = ("x", ("axis", default)) + ((("keepdims", False),) if prim == "logsumexp" else ())
        a = bind(cx, node, args, kwargs, *params)
        x = convert(cx, node, array(cx, node, a["x"]), "float64")
        if x.type.rank == 0:
            if prim == "logsumexp":
                return x
            raise ShapeError(f"`{_callee(node)}` of a scalar", cx.fs.loc(node))
        axes = axes_arg(cx, node, x, a["axis"])
        full = axes is None or len(axes) == x.type.rank
        if prim != "logsumexp":
            if axes is not None and len(axes) > 1 and not full:
                raise UnsupportedError(f"`{_callee(node)}` over several axes", cx.fs.loc(node))
            return cx.emit(node, prim, x, axis=None if full else axes[0])
        if axes is not None and len(axes) > 1 and not full:
            raise UnsupportedError("logsumexp over several (but not all) axes", cx.fs.loc(node),
                                   "reshape first")
        out = cx.emit(node, prim, x, axis=None if full else axes[0])
        if _flag(cx, node, a.get("keepdims", False), "keepdims"):
            for k in (range(x.type.rank) if full else axes):
                out = cx.emit(node, "expand_dims", out, axis=k)
        return out
    return h


def _cross_entropy(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "logits", "labels")
    z = convert(cx, node, array(cx, node, a["logits"]), "float64")
    y = array(cx, node, a["labels"])
    if y.type.dtype != "int64":
        raise ShapeError("cross_entropy labels must be integers (class indices)", cx.fs.loc(node),
                         "pass an int array; for soft targets write -np.sum(p * log_softmax(z))")
    if (z.type.rank, y.type.rank) not in ((2, 1), (1, 0)):
        raise ShapeError("cross_entropy takes logits (n, k) with labels (n,), or logits (k,) "
                         "with one label", cx.fs.loc(node))
    return cx.emit(node, "cross_entropy", z, y)


def _runtime_handlers():
    from runtime import functions as rf  # on first use: it imports Numba (seconds)
    return {rf.sigmoid: _unary("sigmoid"), rf.relu: _unary("relu"),
            rf.softplus: _unary("softplus"), rf.log_sigmoid: _unary("log_sigmoid"),
            rf.logsumexp: _runtime_axis("logsumexp", None),
            rf.softmax: _runtime_axis("softmax", -1),
            rf.log_softmax: _runtime_axis("log_softmax", -1),
            rf.cross_entropy: _cross_entropy}


# ---- the tables ------------------------------------------------------------------------
_BASE = {
    np.exp: _unary("exp"), np.expm1: _unary("expm1"), np.log: _unary("log"),
    np.log1p: _unary("log1p"), np.log2: _log_base(2.0), np.log10: _log_base(10.0),
    np.sqrt: _unary("sqrt"), np.sin: _unary("sin"), np.cos: _unary("cos"),
    np.tan: _unary("tan"), np.tanh: _unary("tanh"), np.sinh: _unary("sinh"),
    np.cosh: _unary("cosh"), np.arctan: _unary("arctan"), np.abs: _unary("abs"),
    np.arcsin: _unary("arcsin"), np.arccos: _unary("arccos"), np.arcsinh: _unary("arcsinh"),
    np.arccosh: _unary("arccosh"), np.arctanh: _unary("arctanh"), np.exp2: _unary("exp2"),
    np.cbrt: _unary("cbrt"), np.deg2rad: _unary("deg2rad"), np.radians: _unary("deg2rad"),
    np.rad2deg: _unary("rad2deg"), np.degrees: _unary("rad2deg"),
    np.arctan2: _binary("arctan2"), np.hypot: _binary("hypot"), np.fmax: _binary("fmax"),
    np.fmin: _binary("fmin"), np.heaviside: _binary("heaviside"),
    np.fabs: _fabs, np.sign: _unary("sign"), np.negative: _unary("neg"),
    np.square: _square, np.reciprocal: _reciprocal,
    np.add: _binary("add"), np.subtract: _binary("sub"), np.multiply: _binary("mul"),
    np.divide: _binary("div"), np.power: _np_power, np.float_power: _float_power,
    np.maximum: _binary("maximum"), np.minimum: _binary("minimum"),
    np.logaddexp: _binary("logaddexp"), np.where: _where, np.clip: _clip,
    np.greater: _binary("gt"), np.greater_equal: _binary("ge"), np.less: _binary("lt"),
    np.less_equal: _binary("le"), np.equal: _binary("eq"), np.not_equal: _binary("ne"),
    np.logical_and: _logical("logical_and", 2), np.logical_or: _logical("logical_or", 2),
    np.logical_not: _logical("logical_not", 1),
    np.sum: _reduction("sum"), np.mean: _reduction("mean"), np.max: _reduction("max"),
    np.min: _reduction("min"), np.amax: _reduction("max"), np.amin: _reduction("min"),
    np.prod: _reduction("prod"), np.var: _variance(False), np.std: _variance(True),
    np.dot: _dot, np.matmul: _binary("matmul"), np.outer: _outer, np.inner: _inner,
    np.trace: _trace,
    np.transpose: _transpose, np.reshape: _reshape, np.ravel: _ravel,
    np.expand_dims: _expand_dims, np.squeeze: _squeeze, np.concatenate: _concatenate,
    np.stack: _stack, np.hstack: _hstack, np.vstack: _vstack,
    np.zeros: _filled("zeros"), np.ones: _filled("ones"), np.full: _full,
    np.zeros_like: _full_like_of(0), np.ones_like: _full_like_of(1),
    np.full_like: _full_like_of(None), np.eye: _eye, np.identity: _eye, np.arange: _arange,
    np.array: _zero_d(_array_copy), np.asarray: _zero_d(_asarray), np.float64: _np_float,
    math.exp: _math("exp"), math.log: _math("log"), math.tanh: _math("tanh"),
    math.sqrt: _math("sqrt"), math.fabs: _math("abs"), math.sin: _math("sin"),
    math.cos: _math("cos"), math.tan: _math("tan"), math.sinh: _math("sinh"),
    math.cosh: _math("cosh"), math.atan: _math("arctan"), math.expm1: _math("expm1"),
    math.log1p: _math("log1p"), math.asin: _math("arcsin"), math.acos: _math("arccos"),
    math.atan2: _math("arctan2", 2), math.hypot: _math("hypot", 2), math.asinh: _math("arcsinh"),
    math.acosh: _math("arccosh"), math.atanh: _math("arctanh"), math.radians: _math("deg2rad"),
    math.degrees: _math("rad2deg"),
    builtins.abs: _unary("abs"), builtins.float: _float, builtins.int: _int,
    builtins.max: _max2("maximum"), builtins.min: _max2("minimum"), builtins.len: _len,
}


_BASE.update({getattr(math, n): _math(p) for n, p in (("cbrt", "cbrt"), ("exp2", "exp2"))
              if hasattr(math, n)})  # Python 3.11


class _Functions(dict):
    """Handlers by identity. `get` also answers for callables adjoint cannot lower (no
    handler and no readable source) with a handler that raises the missing-rule error
    at the call, so that message lives next to the table it is about."""

    def __init__(self, base):
        super().__init__(base)
        self._runtime = self._scipy = False

    def register(self, obj, handler):
        self[obj] = handler

    def get(self, obj, default=None):
        if not self._runtime:
            self._runtime = True
            for k, v in _runtime_handlers().items():
                self.setdefault(k, v)
        if not self._scipy and "scipy.special" in sys.modules:  # the user's code imported it
            self._scipy = True
            for k, v in _scipy_handlers().items():
                self.setdefault(k, v)
        try:
            h = super().get(obj)
        except TypeError:  # unhashable (a list, a dict): no handler
            return default
        if h is not None or obj is None:
            return h if h is not None else default
        library = (getattr(obj, "__module__", None) or "").partition(".")[0] in _LIBRARIES
        if isinstance(obj, types.FunctionType) and not library:
            try:
                inspect.getsourcelines(obj)
                return default
            except (OSError, TypeError):
                return _missing_rule(obj, "its source cannot be read")
        if isinstance(obj, types.FunctionType):  # its body is no loss: report the user's call
            return _missing_rule(obj, "adjoint has no rule for it and does not read library code")
        if callable(obj):
            return _missing_rule(obj, "adjoint has no rule for it")
        return default


# Libraries whose functions adjoint does not inline (their code is written for NumPy's C
# core: `with np.errstate`, `try`, `**kwargs`): a call without a handler is refused at
# the user's line, naming the function and, from _SPELLINGS, what to write instead.
_LIBRARIES = frozenset({"numpy", "scipy", "sklearn", "pandas", "torch", "jax", "autograd",
                        "statsmodels"})
_SPELLINGS = {  # library functions without a rule that have a supported spelling
    "scipy.special.gamma": "np.exp(scipy.special.gammaln(x)) (for x > 0)",
    "scipy.special.beta": "np.exp(scipy.special.betaln(a, b)) (for a, b > 0)",
    "scipy.special.ndtr": "0.5 * scipy.special.erfc(-x / np.sqrt(2.0))",
    "scipy.special.polygamma": "scipy.special.digamma(x) for n = 0",
    "sklearn.metrics.mean_squared_error": "np.mean((y_true - y_pred) ** 2)",
    "sklearn.metrics.log_loss": "runtime.functions.cross_entropy(logits, labels) on logits",
}


def _public_name(obj):
    """('scipy.special.expit', spelling) for a function of _SPELLINGS (looked up by
    identity in modules already imported), else (None, None)."""
    for path, spelling in _SPELLINGS.items():
        mod, _, attr = path.rpartition(".")
        if mod in sys.modules and getattr(sys.modules[mod], attr, None) is obj:
            return path, spelling
    return None, None


def _missing_rule(obj, why):
    mod = getattr(obj, "__module__", None)
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or type(obj).__name__
    public, spelling = _public_name(obj)
    full = public or (f"{mod}.{name}" if mod and mod != "builtins" else name)

    if (mod or "").startswith("numpy.random") or isinstance(
            getattr(obj, "__self__", None), (np.random.RandomState, np.random.Generator)):
        spelling = None
        why = ("NumPy's global random state is not used inside a loss (the NumPy and compiled "
               "tiers would draw different numbers)")

    def h(cx, node, args, kwargs):
        if why.startswith("NumPy's global random"):
            raise NameResolutionError(
                f"call to `{_callee(node)}` ({full}): {why}", cx.fs.loc(node),
                "use a seeded generator: `rng = np.random.default_rng(seed)` with the seed an "
                "argument, then rng.random/standard_normal/normal/uniform(..., size=...); or "
                "draw outside the loss and pass the draw as an argument (not in wrt)")
        hint = (f"write `{spelling}` instead, which adjoint differentiates" if spelling else
                "use the supported NumPy functions (README), or give your own function a rule: "
                "`f = compiler.custom_vjp(f)` then `@f.defvjp` on `def f_vjp(g, ans, x): ...` "
                "(the rule and f are inlined, so both must use supported functions)")
        raise NameResolutionError(f"call to `{_callee(node)}` ({full}): {why}", cx.fs.loc(node),
                                  hint)
    return h


FUNCTIONS = _Functions(_BASE)


def _m_reshape(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    x, rest = args[0], args[1:]
    if len(rest) == 1 and isinstance(rest[0], tuple):
        rest = rest[0]
    return reshape(cx, node, x, shape_arg(cx, node, tuple(rest)))


def _m_transpose(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    x, rest = args[0], args[1:]
    if len(rest) == 1 and isinstance(rest[0], tuple):
        rest = rest[0]
    axes = literal(cx, node, tuple(rest), "axes") if rest else None
    return transpose(cx, node, x, axes)


def _m_astype(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "x", "dtype")
    return _copied(cx, a["x"], convert(cx, node, a["x"], _dtype(cx, node, a["dtype"])))


METHODS = {
    "sum": _reduction("sum"), "mean": _reduction("mean"), "max": _reduction("max"),
    "min": _reduction("min"), "prod": _reduction("prod"), "var": _variance(False),
    "std": _variance(True), "dot": _dot, "transpose": _m_transpose, "reshape": _m_reshape,
    "ravel": _ravel, "flatten": _flatten, "squeeze": _squeeze, "clip": _clip_method,
    "astype": _m_astype,
    "copy": lambda cx, node, args, kwargs: _copy(cx, node, args, kwargs),  # a new value: writes
    # to the copy must not count as writes through another name (see lower.check_unaliased)
}


def _attr_T(cx, node, x):
    return x if x.type.rank < 2 else cx.emit(node, "transpose", x)


def _attr_shape(cx, node, x):
    return tuple(cx.emit(node, "dim", x, axis=k) for k in range(x.type.rank))


# NumPy functions and methods whose result may be their argument itself or a view of it;
# any other handler that hands back an argument's array is given a copy (Context.call)
VIEWING_FUNCTIONS = frozenset({
    np.asarray, np.asanyarray, np.float64, np.atleast_1d, np.atleast_2d, np.atleast_3d,
    np.squeeze, np.reshape, np.ravel, np.transpose, np.swapaxes, np.moveaxis, np.expand_dims,
    np.broadcast_to, np.flip, np.fliplr, np.flipud, np.diagonal, np.real,
    np.linalg.matrix_power, np.diff, np.einsum})  # matrix_power(a, 1), diff(a, n=0): a
VIEWING_METHODS = frozenset({"reshape", "ravel", "squeeze", "transpose", "swapaxes",
                             "diagonal"})

ATTRIBUTES = {
    "T": _attr_T,
    "shape": _attr_shape,
    "ndim": lambda cx, node, x: cx.b.const(x.type.rank),
    "size": lambda cx, node, x: cx.emit(node, "size", x) if x.type.rank else cx.b.const(1),
}


def _copy(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    (x,) = cx.arity(node, args, 1)
    return cx.emit(node, "copy", x) if x.type.rank else x


def _np_copy(cx, node, args, kwargs):  # order 'K': keeps x's layout (x.copy() is 'C')
    out = _copy(cx, node, args, kwargs)
    if out is not args[0]:  # named now: an assignment keeps this Value (frontend/views.py)
        out = cx.b.name(out, f"{args[0].hint}_copy" if args[0].hint else "copy")
        cx.__dict__.setdefault("_keeps_layout", set()).add(out)
    return out


FUNCTIONS[np.copy] = _np_copy



# ---- more of NumPy and SciPy (issue 15 §1) ----------------------------------------------
# Each function is lowered to primitives: where an exact composition of existing ones
# exists (flip, atleast_*, diff, tril/triu, tile, repeat, roll, pad, split, diagonal,
# einsum, tensordot, kron, median, scipy.special compositions), to that, so its JVP and
# VJP come from theirs; otherwise to a primitive of its own (compiler/primitives.py,
# "more of NumPy and SciPy"). Arguments NumPy takes as Python values (axes, orders,
# `reps`, `pad_width`, subscripts, q) must be constants.
from ..primitives import FULL as _FULL, slice_entry as _slice_entry  # noqa: E402


def _ival(cx, v):
    """An int Value for a Python int or an int Value."""
    return cx.b.const(v) if isinstance(v, int) else v


def _one_axis(cx, node, x, v, what="axis"):
    """A single constant axis of x, non-negative."""
    ax = literal(cx, node, v, what)
    if not isinstance(ax, int) or isinstance(ax, bool):
        raise UnsupportedError(f"`{what}` of `{_callee(node)}` must be an int", cx.fs.loc(node))
    return axes_arg(cx, node, x, ax)[0]


def _const_int(cx, node, v, what):
    c = literal(cx, node, v, what)
    if not isinstance(c, int) or isinstance(c, bool):
        raise UnsupportedError(f"`{what}` of `{_callee(node)}` must be a constant int",
                               cx.fs.loc(node))
    return c


def _slice_along(cx, node, x, axis, start=None, stop=None, step=None):
    """x[..., start:stop:step, ...] at `axis` (bounds: None, ints or int Values)."""
    vals = [_ival(cx, v) for v in (start, stop, step) if v is not None]
    entry = _slice_entry(start is not None, stop is not None, step is not None)
    return cx.emit(node, "getitem", x, *vals, spec=(_FULL,) * axis + (entry,))


def _at(cx, node, x, axis, k):
    """x[..., k, ...] at `axis` (k an int or int Value): one axis fewer."""
    return cx.emit(node, "getitem", x, _ival(cx, k), spec=(_FULL,) * axis + ("i",))


def _dims(cx, node, x):
    return [cx.emit(node, "dim", x, axis=k) for k in range(x.type.rank)]


def _prod_ints(cx, node, vs):
    out = cx.b.const(1)
    for v in vs:
        out = cx.emit(node, "mul", out, v)
    return out


def _ravel_value(cx, node, x):
    return reshape(cx, node, x, [cx.b.const(-1)]) if x.type.rank != 1 else x


def _as_float(cx, node, x):
    return convert(cx, node, array(cx, node, x), "float64")


def _need_rank(cx, node, x, lo, what=None):
    if x.type.rank < lo:
        raise ShapeError(f"`{_callee(node)}` needs an array of rank >= {lo}"
                         + (f" ({what})" if what else ""), cx.fs.loc(node))


# -- elementwise --------------------------------------------------------------------------
def _nan_to_num(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "x", ("copy", True), ("nan", 0.0), ("posinf", None),
             ("neginf", None))
    copy = literal(cx, node, a["copy"], "copy")
    if not isinstance(copy, bool):
        raise UnsupportedError("`copy` of np.nan_to_num is True or False", cx.fs.loc(node),
                               "the replacement for NaN is the third argument, `nan=`")
    if not copy:
        raise UnsupportedError("np.nan_to_num(x, copy=False) replaces x's entries in place",
                               cx.fs.loc(node), "write `x = np.nan_to_num(x)`")
    x = array(cx, node, a["x"])
    if x.type.dtype != "float64":
        return x
    big = float(np.finfo(np.float64).max)
    posinf = big if a["posinf"] is None else a["posinf"]
    neginf = -big if a["neginf"] is None else a["neginf"]
    out = cx.emit(node, "where", cx.emit(node, "eq", x, -math.inf), neginf, x)
    out = cx.emit(node, "where", cx.emit(node, "eq", x, math.inf), posinf, out)
    return cx.emit(node, "where", cx.emit(node, "ne", x, x), a["nan"], out)


def _round(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("decimals", 0))
    if literal(cx, node, a["decimals"], "decimals") != 0:
        raise UnsupportedError("np.round with decimals", cx.fs.loc(node),
                               "scale first: np.round(x * 100.0) / 100.0")
    x = array(cx, node, a["a"])
    return x if x.type.dtype != "float64" else cx.emit(node, "rint", x)  # half to even, as NumPy


# -- shapes -------------------------------------------------------------------------------
def _atleast(n):
    new_axes = {1: {0: (0,)}, 2: {0: (0, 1), 1: (0,)}, 3: {0: (0, 1, 2), 1: (0, 2), 2: (2,)}}[n]

    def one(cx, node, x):
        x = array(cx, node, x)
        for k in new_axes.get(x.type.rank, ()):
            x = cx.emit(node, "expand_dims", x, axis=k)
        return x

    def h(cx, node, args, kwargs):
        cx.no_kwargs(node, kwargs)
        if not args:
            raise UnsupportedError(f"`{_callee(node)}` of nothing", cx.fs.loc(node))
        out = tuple(one(cx, node, x) for x in args)
        return out[0] if len(out) == 1 else out
    return h


def broadcast_to(cx, node, x, dims):
    if len(dims) < x.type.rank:
        raise ShapeError(f"`{_callee(node)}`: cannot broadcast an array of rank {x.type.rank} "
                         f"to rank {len(dims)}", cx.fs.loc(node))
    return cx.emit(node, "broadcast_to", x, *dims)


def _broadcast_to(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "array", "shape")
    return broadcast_to(cx, node, array(cx, node, a["array"]), shape_arg(cx, node, a["shape"]))


def _tile(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "A", "reps")
    x = array(cx, node, a["A"])
    reps = literal(cx, node, a["reps"], "reps")
    reps = reps if isinstance(reps, tuple) else (reps,)
    if not reps or not all(isinstance(r, int) and r >= 0 for r in reps):
        raise UnsupportedError("`reps` of np.tile must be constant non-negative ints",
                               cx.fs.loc(node))
    d = max(len(reps), x.type.rank)
    reps = (1,) * (d - len(reps)) + tuple(reps)
    if x.type.rank == 0:
        x = cx.emit(node, "expand_dims", x, axis=0)
    if x.type.rank < d:
        x = cx.emit(node, "reshape", x, *([cx.b.const(1)] * (d - x.type.rank) + _dims(cx, node, x)))
    if all(r == 1 for r in reps):
        return cx.b.emit("copy", x)
    dims = _dims(cx, node, x)
    y = x
    for k in range(d):  # (1, s0, 1, s1, ...) broadcast to (r0, s0, r1, s1, ...)
        y = cx.emit(node, "expand_dims", y, axis=2 * k)
    full = [v for r, s in zip(reps, dims) for v in (cx.b.const(r), s)]
    y = cx.emit(node, "broadcast_to", y, *full)
    return cx.emit(node, "reshape", y, *[cx.emit(node, "mul", r, s) for r, s in
                                         zip(full[::2], full[1::2])])


def _repeat(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", "repeats", ("axis", None))
    x = array(cx, node, a["a"])
    r = literal(cx, node, a["repeats"], "repeats")
    if not isinstance(r, int) or isinstance(r, bool) or r < 0:
        raise UnsupportedError("np.repeat with other than a constant non-negative int `repeats`",
                               cx.fs.loc(node), "for per-element counts, index with "
                               "np.repeat(np.arange(n), counts) computed outside the loss")
    if a["axis"] is None or x.type.rank == 0:
        x = _ravel_value(cx, node, x) if x.type.rank else cx.emit(node, "expand_dims", x, axis=0)
        axis = 0
    else:
        axis = _one_axis(cx, node, x, a["axis"])
    dims = _dims(cx, node, x)
    y = cx.emit(node, "expand_dims", x, axis=axis + 1)
    y = cx.emit(node, "broadcast_to", y, *(dims[:axis + 1] + [cx.b.const(r)] + dims[axis + 1:]))
    return cx.emit(node, "reshape", y, *(dims[:axis] + [cx.emit(node, "mul", dims[axis], r)]
                                         + dims[axis + 1:]))


def flip(cx, node, x, axes):
    axes = range(x.type.rank) if axes is None else axes
    if not axes:
        return x
    spec = tuple("::_" if k in axes else _FULL for k in range(max(axes) + 1))
    return cx.emit(node, "getitem", x, *[cx.b.const(-1)] * len(axes), spec=spec)


def _flip(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "m", ("axis", None))
    x = array(cx, node, a["m"])
    return flip(cx, node, x, axes_arg(cx, node, x, a["axis"]))


def _flip_fixed(axis, rank):
    def h(cx, node, args, kwargs):
        cx.no_kwargs(node, kwargs)
        x = array(cx, node, cx.arity(node, args, 1)[0])
        _need_rank(cx, node, x, rank)
        return flip(cx, node, x, (axis,))
    return h


def _roll(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", "shift", ("axis", None))
    x = array(cx, node, a["a"])
    if a["axis"] is None:
        if x.type.rank == 0:
            return x
        flat = _roll_axis(cx, node, _ravel_value(cx, node, x), a["shift"], 0)
        return flat if x.type.rank == 1 else cx.emit(node, "reshape_like", flat, x)
    axes = literal(cx, node, a["axis"], "axis")
    shifts = a["shift"]
    axes = axes if isinstance(axes, tuple) else (axes,)
    shifts = shifts if isinstance(shifts, tuple) else (shifts,) * len(axes)
    if len(shifts) != len(axes):
        raise ShapeError("np.roll: `shift` and `axis` of different lengths", cx.fs.loc(node))
    for s, ax in zip(shifts, axes):
        x = _roll_axis(cx, node, x, s, axes_arg(cx, node, x, ax)[0])
    return x


def _roll_axis(cx, node, x, shift, axis):
    if not isinstance(shift, Value) or shift.type.rank or shift.type.dtype != "int64":
        raise ShapeError("np.roll: `shift` must be an int", cx.fs.loc(node))
    n = cx.emit(node, "dim", x, axis=axis)
    cut = cx.emit(node, "sub", n, cx.emit(node, "mod", shift, n))  # x[cut:] comes first
    return cx.emit(node, "concatenate", _slice_along(cx, node, x, axis, start=cut),
                   _slice_along(cx, node, x, axis, stop=cut), axis=axis)


def _pad_widths(cx, node, w, rank):
    w = literal(cx, node, w, "pad_width")
    if isinstance(w, int):
        w = ((w, w),) * rank
    elif isinstance(w, tuple) and len(w) == 2 and all(isinstance(v, int) for v in w):
        w = (w,) * rank
    elif isinstance(w, tuple) and len(w) == 1 and isinstance(w[0], tuple):
        w = tuple(w[0]) * rank if len(w[0]) == 1 else (tuple(w[0]),) * rank
    if not (isinstance(w, tuple) and len(w) == rank and all(
            isinstance(p, tuple) and len(p) == 2 and all(isinstance(v, int) and v >= 0 for v in p)
            for p in w)):
        raise UnsupportedError("`pad_width` of np.pad must be constant non-negative ints: n, "
                               "(before, after) or one pair per axis", cx.fs.loc(node))
    return w


def _pad(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "array", "pad_width", ("mode", "constant"),
             ("constant_values", 0))
    x = array(cx, node, a["array"])
    _need_rank(cx, node, x, 1)
    mode = literal(cx, node, a["mode"], "mode")
    if mode not in ("constant", "edge"):
        raise UnsupportedError(f"np.pad with mode={mode!r}", cx.fs.loc(node),
                               "supported modes: 'constant' (a scalar constant_values) and 'edge'")
    v = a["constant_values"]
    if mode == "constant" and not (isinstance(v, Value) and v.type.rank == 0):
        raise UnsupportedError("np.pad: `constant_values` must be a scalar", cx.fs.loc(node))
    for axis, (before, after) in enumerate(_pad_widths(cx, node, a["pad_width"], x.type.rank)):
        parts = []
        for width, at_end in ((before, False), (after, True)):
            if not width:
                continue
            dims = _dims(cx, node, x)
            dims[axis] = cx.b.const(width)
            if mode == "constant":
                parts.append(cx.emit(node, "full", convert(cx, node, v, x.type.dtype), *dims))
            else:
                n = cx.emit(node, "dim", x, axis=axis)
                edge = _slice_along(cx, node, x, axis, start=cx.emit(node, "sub", n, 1)) if at_end \
                    else _slice_along(cx, node, x, axis, stop=1)
                parts.append(cx.emit(node, "broadcast_to", edge, *dims))
        if parts:
            parts.insert(1 if before else 0, x)
            x = cx.emit(node, "concatenate", *parts, axis=axis)
    return x


def _split(equal):
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "ary", "indices_or_sections", ("axis", 0))
        x = array(cx, node, a["ary"])
        _need_rank(cx, node, x, 1)
        return split(cx, node, x, a["indices_or_sections"], _one_axis(cx, node, x, a["axis"]), equal)
    return h


def split(cx, node, x, sections, axis, equal):
    """np.split (equal=True) / np.array_split of x along `axis` into a tuple of views."""
    s = literal(cx, node, sections, "indices_or_sections")
    if isinstance(s, tuple):
        if not all(isinstance(i, int) for i in s):
            raise UnsupportedError("split indices must be constant ints", cx.fs.loc(node))
        bounds = [None] + list(s) + [None]
        return tuple(_slice_along(cx, node, x, axis, start=lo, stop=hi)
                     for lo, hi in zip(bounds[:-1], bounds[1:]))
    if not isinstance(s, int) or s <= 0:
        raise UnsupportedError("the number of sections must be a constant int > 0",
                               cx.fs.loc(node))
    dims = _dims(cx, node, x)
    if equal:  # a reshape to (..., s, n / s, ...): raises at run time unless s divides n
        y = cx.emit(node, "reshape", x, *(dims[:axis] + [cx.b.const(s), cx.b.const(-1)]
                                         + dims[axis + 1:]))
        return tuple(_at(cx, node, y, axis, k) for k in range(s))
    n = dims[axis]
    q, r = cx.emit(node, "floordiv", n, s), cx.emit(node, "mod", n, s)
    starts = [cx.emit(node, "add", cx.emit(node, "mul", q, k), cx.emit(node, "minimum", r, k))
              for k in range(s)] + [n]
    return tuple(_slice_along(cx, node, x, axis, start=lo, stop=hi)
                 for lo, hi in zip(starts[:-1], starts[1:]))


def _split_fixed(axis):
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "ary", "indices_or_sections")
        x = array(cx, node, a["ary"])
        _need_rank(cx, node, x, 1 if axis == "h" else 2)
        ax = (1 if x.type.rank > 1 else 0) if axis == "h" else axis
        return split(cx, node, x, a["indices_or_sections"], ax, True)
    return h


def _swapaxes(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", "axis1", "axis2")
    x = array(cx, node, a["a"])
    i, j = _one_axis(cx, node, x, a["axis1"]), _one_axis(cx, node, x, a["axis2"])
    order = list(range(x.type.rank))
    order[i], order[j] = order[j], order[i]
    return transpose(cx, node, x, tuple(order))


def _moveaxis(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", "source", "destination")
    x = array(cx, node, a["a"])
    src = literal(cx, node, a["source"], "source")
    dst = literal(cx, node, a["destination"], "destination")
    src, dst = (src if isinstance(src, tuple) else (src,)), (dst if isinstance(dst, tuple) else (dst,))
    if len(src) != len(dst):
        raise ShapeError("np.moveaxis: `source` and `destination` of different lengths",
                         cx.fs.loc(node))
    src = [axes_arg(cx, node, x, s)[0] for s in src]
    dst = [axes_arg(cx, node, x, d)[0] for d in dst]
    order = [k for k in range(x.type.rank) if k not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(cx, node, x, tuple(order))


def diagonal(cx, node, x, offset, axis1, axis2):
    """The diagonal at `offset` of the (axis1, axis2) planes of x, as the last axis: the
    planes flattened and read with step n + 1 from the first diagonal entry."""
    r = x.type.rank
    if (axis1, axis2) != (r - 2, r - 1):
        x = transpose(cx, node, x, tuple(k for k in range(r) if k not in (axis1, axis2))
                      + (axis1, axis2))
    dims = _dims(cx, node, x)
    m, n = dims[-2], dims[-1]
    flat = cx.emit(node, "reshape", x, *(dims[:-2] + [cx.emit(node, "mul", m, n)]))
    if offset >= 0:
        length = cx.emit(node, "minimum", m, cx.emit(node, "sub", n, offset))
        start = cx.b.const(offset)
    else:
        length = cx.emit(node, "minimum", cx.emit(node, "add", m, offset), n)
        start = cx.emit(node, "mul", n, -offset)
    length = cx.emit(node, "maximum", length, 0)
    step = cx.emit(node, "add", n, 1)
    stop = cx.emit(node, "add", start, cx.emit(node, "mul", length, step))
    return _slice_along(cx, node, flat, r - 2, start=start, stop=stop, step=step)


def _diagonal(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("offset", 0), ("axis1", 0), ("axis2", 1))
    x = array(cx, node, a["a"])
    _need_rank(cx, node, x, 2)
    i, j = _one_axis(cx, node, x, a["axis1"]), _one_axis(cx, node, x, a["axis2"])
    if i == j:
        raise ShapeError("np.diagonal: axis1 and axis2 are the same", cx.fs.loc(node))
    return diagonal(cx, node, x, _const_int(cx, node, a["offset"], "offset"), i, j)


def _diag(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "v", ("k", 0))
    x = array(cx, node, a["v"])
    k = _const_int(cx, node, a["k"], "k")
    if x.type.rank == 2:
        return diagonal(cx, node, x, k, 0, 1)
    if x.type.rank != 1:
        raise ShapeError("np.diag takes a 1-D or 2-D array", cx.fs.loc(node))
    m = cx.emit(node, "dim", x, axis=0)
    n = cx.emit(node, "add", m, abs(k))
    z = cx.emit(node, "zeros", cx.emit(node, "mul", n, n),
                **({} if x.type.dtype == "float64" else {"dtype": x.type.dtype}))
    start = cx.b.const(k) if k >= 0 else cx.emit(node, "mul", n, -k)
    step = cx.emit(node, "add", n, 1)
    stop = cx.emit(node, "add", start, cx.emit(node, "mul", m, step))
    z = cx.emit(node, "set_index", z, x, start, stop, step, spec=(_slice_entry(True, True, True),))
    return cx.emit(node, "reshape", z, n, n)


def _tri(lower):
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "m", ("k", 0))
        x = array(cx, node, a["m"])
        _need_rank(cx, node, x, 2)
        k = _const_int(cx, node, a["k"], "k")
        r = x.type.rank
        rows = cx.emit(node, "arange", cx.emit(node, "dim", x, axis=r - 2))
        cols = cx.emit(node, "arange", cx.emit(node, "dim", x, axis=r - 1))
        rows = cx.emit(node, "add", cx.emit(node, "expand_dims", rows, axis=1), k)
        keep = cx.emit(node, "ge" if lower else "le", rows, cx.emit(node, "expand_dims", cols, axis=0))
        zero = cx.b.const(0.0 if x.type.dtype == "float64" else 0)
        return cx.emit(node, "where", keep, x, zero)
    return h


def _take_along_axis(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "arr", "indices", "axis")
    x, idx = array(cx, node, a["arr"]), array(cx, node, a["indices"])
    if a["axis"] is None:
        x, idx = _ravel_value(cx, node, x), _ravel_value(cx, node, idx)
        axis = 0
    else:
        axis = _one_axis(cx, node, x, a["axis"])
    return cx.emit(node, "take_along_axis", x, idx, axis=axis)


# -- integer-valued helpers --------------------------------------------------------------
def _arg_extreme(prim):
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "a", ("axis", None))
        x = array(cx, node, a["a"])
        _need_rank(cx, node, x, 1)
        axis = None if a["axis"] is None else _one_axis(cx, node, x, a["axis"])
        if axis is not None and x.type.rank == 1:
            axis = None
        return cx.emit(node, prim, x, axis=axis)
    return h


def argsort(cx, node, x, axis_v):
    if axis_v is None:
        return cx.emit(node, "argsort", _ravel_value(cx, node, x), axis=0)
    _need_rank(cx, node, x, 1)
    return cx.emit(node, "argsort", x, axis=_one_axis(cx, node, x, axis_v))


def _argsort(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("axis", -1), ("kind", None), ("order", None))
    return argsort(cx, node, array(cx, node, a["a"]), a["axis"])


def _sort(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("axis", -1), ("kind", None), ("order", None))
    x = array(cx, node, a["a"])
    if a["axis"] is None:
        x, axis = _ravel_value(cx, node, x), 0
    else:
        _need_rank(cx, node, x, 1)
        axis = _one_axis(cx, node, x, a["axis"])
    return cx.emit(node, "take_along_axis", x, cx.emit(node, "argsort", x, axis=axis), axis=axis)


def _searchsorted(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", "v", ("side", "left"), ("sorter", None))
    s, v = array(cx, node, a["a"]), array(cx, node, a["v"])
    side = literal(cx, node, a["side"], "side")
    if side not in ("left", "right") or a["sorter"] is not None:
        raise UnsupportedError("np.searchsorted with side other than 'left'/'right' or a sorter",
                               cx.fs.loc(node))
    if s.type.rank != 1:
        raise ShapeError("np.searchsorted: `a` must be 1-D", cx.fs.loc(node))
    d = "float64" if "float64" in (s.type.dtype, v.type.dtype) else None
    return cx.emit(node, "searchsorted", convert(cx, node, s, d), convert(cx, node, v, d), side=side)


def _nonzero(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    x = array(cx, node, cx.arity(node, args, 1)[0])
    _need_rank(cx, node, x, 1, "np.nonzero of a scalar is deprecated")
    return tuple(cx.emit(node, "nonzero", x, axis=k) for k in range(x.type.rank))


def _flatnonzero(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    x = array(cx, node, cx.arity(node, args, 1)[0])
    return cx.emit(node, "nonzero", _ravel_value(cx, node, x), axis=0)


def _unique(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "ar", ("return_index", False), ("return_inverse", False),
             ("return_counts", False), ("axis", None))
    if any(_flag(cx, node, a[k], k) for k in ("return_index", "return_inverse", "return_counts")) \
            or a["axis"] is not None:
        raise UnsupportedError("np.unique with return_index/return_inverse/return_counts or axis",
                               cx.fs.loc(node), "np.unique(x) (the sorted distinct values) is "
                               "supported")
    x = array(cx, node, a["ar"])
    _need_rank(cx, node, x, 1)
    return cx.emit(node, "unique", _ravel_value(cx, node, x))


# -- scans and order statistics ------------------------------------------------------------
def _scan(prim):
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "a", ("axis", None), ("dtype", None))
        x = convert(cx, node, array(cx, node, a["a"]), _dtype(cx, node, a["dtype"]))
        if x.type.dtype == "bool":
            x = convert(cx, node, x, "int64")
        if a["axis"] is None:
            x = _ravel_value(cx, node, x) if x.type.rank else cx.emit(node, "expand_dims", x, axis=0)
            return cx.emit(node, prim, x, axis=0)
        _need_rank(cx, node, x, 1)
        return cx.emit(node, prim, x, axis=_one_axis(cx, node, x, a["axis"]))
    return h


def _diff(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("n", 1), ("axis", -1), ("prepend", None),
             ("append", None))
    if a["prepend"] is not None or a["append"] is not None:
        raise UnsupportedError("np.diff with prepend/append", cx.fs.loc(node),
                               "concatenate first: np.diff(np.concatenate((p, x)))")
    x = array(cx, node, a["a"])
    _need_rank(cx, node, x, 1)
    axis = _one_axis(cx, node, x, a["axis"])
    n = _const_int(cx, node, a["n"], "n")
    if x.type.dtype == "bool":
        raise UnsupportedError("np.diff of a boolean array", cx.fs.loc(node), "cast to int first")
    for _ in range(n):
        x = cx.emit(node, "sub", _slice_along(cx, node, x, axis, start=1),
                    _slice_along(cx, node, x, axis, stop=-1))
    return x


def _nan_term(cx, node, x, axis):
    """A term to add to an order statistic of x's lines along `axis`: 0 with gradient 0
    (exact zeros, whatever x holds, inf included) for a line without NaN; NaN with a NaN
    gradient in every entry for a line with one. NumPy's median/percentile/quantile of
    such a line is NaN; its gradient is NaN too (as `max`'s is: NaN propagates), not the
    cotangent of the finite order statistics. The term: `sum(where(line_nan, x, 0)) *
    where(line_nan, nan, 0)`, the second factor without gradient (comparisons)."""
    nans = reduce(cx, node, "sum", cx.emit(node, "cast", cx.emit(node, "ne", x, x)), (axis,))
    line_nan = cx.emit(node, "gt", nans, 0.0)
    picked = cx.emit(node, "where", cx.emit(node, "expand_dims", line_nan, axis=axis), x, 0.0)
    return cx.emit(node, "mul", reduce(cx, node, "sum", picked, (axis,)),
                   cx.emit(node, "where", line_nan, math.nan, 0.0))


def _order_statistic(cx, node, x, s, axis, k):
    """s[..., k, ...] (s: x sorted along axis, k an int Value) whose cotangent is split
    evenly among the entries of x equal to it (the tie policy of max/min): the value
    stop_gradient(s_k) + (t - stop_gradient(t)), t the mean of those entries."""
    v = cx.b.emit("stop_gradient", _at(cx, node, s, axis, k))
    eq = cx.emit(node, "eq", x, cx.emit(node, "expand_dims", v, axis=axis))
    # where, not x * hit: an infinite entry that is not the statistic would give inf * 0
    t = cx.emit(node, "div", reduce(cx, node, "sum", cx.emit(node, "where", eq, x, 0.0), (axis,)),
                reduce(cx, node, "sum", cx.emit(node, "cast", eq), (axis,)))
    inner = cx.emit(node, "add", v, cx.emit(node, "sub", t, cx.b.emit("stop_gradient", t)))
    # at an infinite statistic t - stop_gradient(t) is inf - inf, NaN where NumPy's value is
    # the infinity: there the max (min) of the entries equal to it, with 0 elsewhere, is
    # the infinity with max's tie split of the cotangent among those entries
    tied = cx.emit(node, "where", eq, x, 0.0)
    top, bottom = (reduce(cx, node, k, tied, (axis,)) for k in ("max", "min"))
    infinite = cx.emit(node, "eq", cx.emit(node, "abs", v), math.inf)
    return cx.emit(node, "where", infinite,
                   cx.emit(node, "where", cx.emit(node, "gt", v, 0.0), top, bottom), inner)


def _sorted_along(cx, node, x, axis_v):
    x = _as_float(cx, node, x)
    if axis_v is None:
        x, axis = _ravel_value(cx, node, x) if x.type.rank else cx.emit(node, "expand_dims", x, axis=0), 0
    else:
        _need_rank(cx, node, x, 1)
        axis = _one_axis(cx, node, x, axis_v)
    s = cx.emit(node, "take_along_axis", x, cx.emit(node, "argsort", x, axis=axis), axis=axis)
    return x, s, axis


def _keep(cx, node, out, x_rank, axis_v, axis, keepdims):
    if not keepdims:
        return out
    for k in (range(x_rank) if axis_v is None else (axis,)):
        out = cx.emit(node, "expand_dims", out, axis=k)
    return out


def _median(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("axis", None), ("keepdims", False))
    x0 = array(cx, node, a["a"])
    x, s, axis = _sorted_along(cx, node, x0, a["axis"])
    n = cx.emit(node, "dim", x, axis=axis)
    lo = _order_statistic(cx, node, x, s, axis, cx.emit(node, "floordiv", cx.emit(node, "sub", n, 1), 2))
    hi = _order_statistic(cx, node, x, s, axis, cx.emit(node, "floordiv", n, 2))
    out = cx.emit(node, "add", cx.emit(node, "mul", cx.emit(node, "add", lo, hi), 0.5),
                  _nan_term(cx, node, x, axis))
    return _keep(cx, node, out, x0.type.rank, a["axis"], axis, _flag(cx, node, a["keepdims"], "keepdims"))


def _quantile(scale):
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "a", "q", ("axis", None), ("method", "linear"),
                 ("keepdims", False))
        q = literal(cx, node, a["q"], "q")
        if not isinstance(q, (int, float)) or isinstance(q, bool) or not 0 <= q <= scale:
            raise UnsupportedError(f"`q` of `{_callee(node)}` must be a constant number in "
                                   f"[0, {scale:g}]", cx.fs.loc(node), "call it once per q")
        if literal(cx, node, a["method"], "method") != "linear":
            raise UnsupportedError("only method='linear' (the default)", cx.fs.loc(node))
        x0 = array(cx, node, a["a"])
        if x0.type.dtype == "bool":  # its linear interpolation subtracts booleans
            _no_booleans(cx, node, "percentile/quantile")
        x, s, axis = _sorted_along(cx, node, x0, a["axis"])
        q = float(np.true_divide(q, scale))
        n = cx.emit(node, "cast", cx.emit(node, "dim", x, axis=axis))
        # NumPy's virtual index for 'linear' (_QuantileMethods: (n - 1) q, as it rounds)
        virtual = cx.emit(node, "mul", cx.emit(node, "sub", n, 1.0), q)
        below = cx.emit(node, "to_int", virtual)
        above = cx.emit(node, "minimum", cx.emit(node, "add", below, 1),
                        cx.emit(node, "sub", cx.emit(node, "dim", x, axis=axis), 1))
        t = cx.emit(node, "sub", virtual, cx.emit(node, "cast", below))
        lo = _order_statistic(cx, node, x, s, axis, below)
        hi = _order_statistic(cx, node, x, s, axis, above)
        d = cx.emit(node, "sub", hi, lo)  # NumPy's _lerp, exact at t = 0 and t = 1
        out = cx.emit(node, "where", cx.emit(node, "ge", t, 0.5),
                      cx.emit(node, "sub", hi, cx.emit(node, "mul", d, cx.emit(node, "sub", 1.0, t))),
                      cx.emit(node, "add", lo, cx.emit(node, "mul", d, t)))
        out = cx.emit(node, "add", out, _nan_term(cx, node, x, axis))
        return _keep(cx, node, out, x0.type.rank, a["axis"], axis, _flag(cx, node, a["keepdims"], "keepdims"))
    return h


def _average(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("axis", None), ("weights", None), ("returned", False),
             ("keepdims", False))
    x = array(cx, node, a["a"])
    axes = axes_arg(cx, node, x, a["axis"])
    keep = _flag(cx, node, a["keepdims"], "keepdims")
    if _flag(cx, node, a["returned"], "returned"):
        raise UnsupportedError("np.average with returned=True", cx.fs.loc(node),
                               "compute the weight sum with np.sum(w)")
    if a["weights"] is None:
        return reduce(cx, node, "mean", x, axes, keep)
    w = array(cx, node, a["weights"])
    if w.type.rank != x.type.rank:
        if w.type.rank != 1 or axes is None or len(axes) != 1:
            raise ShapeError("np.average: 1-D weights need an int axis; otherwise weights of "
                             "the array's shape", cx.fs.loc(node))
        for k in range(x.type.rank):
            if k != axes[0]:
                w = cx.emit(node, "expand_dims", w, axis=k)
        w = cx.emit(node, "broadcast_to", w, *_dims(cx, node, x))
    num = reduce(cx, node, "sum", cx.emit(node, "mul", x, w), axes, keep)
    return cx.emit(node, "div", num, reduce(cx, node, "sum", w, axes, keep))


def _nan_reduction(kind):
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "a", ("axis", None), ("keepdims", False))
        x = array(cx, node, a["a"])
        axes = axes_arg(cx, node, x, a["axis"])
        keep = _flag(cx, node, a["keepdims"], "keepdims")
        if x.type.dtype != "float64":
            return reduce(cx, node, kind, x, axes, keep)
        ok = cx.emit(node, "eq", x, x)
        s = reduce(cx, node, "sum", cx.emit(node, "where", ok, x, 0.0), axes, keep)
        if kind == "sum":
            return s
        return cx.emit(node, "div", s, reduce(cx, node, "sum", cx.emit(node, "cast", ok), axes, keep))
    return h


def _norm(cx, node, args, kwargs):
    """np.linalg.norm: vector norms (ord None/2, 1, inf, -inf, 0, other p) of x or along an
    int axis; matrix norms ('fro', 1, -1, inf, -inf) of 2-D x or over two axes. norm'(0) = 0
    (sqrt_var); abs'(0) = 0; max/min ties split evenly."""
    a = bind(cx, node, args, kwargs, "x", ("ord", None), ("axis", None), ("keepdims", False))
    x = _as_float(cx, node, a["x"])
    ord_ = literal(cx, node, a["ord"], "ord")
    keep = _flag(cx, node, a["keepdims"], "keepdims")
    if x.type.rank == 0:
        raise ShapeError("np.linalg.norm of a scalar", cx.fs.loc(node), "use abs(x)")
    axes = axes_arg(cx, node, x, a["axis"])
    if axes is None:
        if ord_ is None:
            if not keep:
                return cx.emit(node, "norm", x if x.type.rank <= 2 else _ravel_value(cx, node, x))
            return _keep(cx, node, cx.emit(node, "norm", _ravel_value(cx, node, x)), x.type.rank,
                         None, None, True)
        if x.type.rank > 2:
            raise ShapeError("np.linalg.norm with `ord` of an array of rank > 2", cx.fs.loc(node),
                             "pass axis=")
        axes = tuple(range(x.type.rank))
    if len(axes) == 1:
        out = _vector_norm(cx, node, x, ord_, axes)
    elif len(axes) == 2:
        given = literal(cx, node, a["axis"], "axis")  # (row axis, column axis), in order:
        if isinstance(given, tuple):  # axis=(1, 0) is the norm of the transpose
            axes = tuple(k % x.type.rank for k in given)
        out = _matrix_norm(cx, node, x, ord_, axes)
        axes = tuple(sorted(axes))
    else:
        raise ShapeError("np.linalg.norm over more than two axes", cx.fs.loc(node))
    if keep:
        for k in axes:
            out = cx.emit(node, "expand_dims", out, axis=k)
    return out


def _vector_norm(cx, node, x, ord_, axes):
    ab = cx.emit(node, "abs", x)
    if ord_ in (None, 2):
        return cx.emit(node, "sqrt_var", reduce(cx, node, "sum", cx.emit(node, "mul", x, x), axes))
    if ord_ == math.inf:
        return reduce(cx, node, "max", ab, axes)
    if ord_ == -math.inf:
        return reduce(cx, node, "min", ab, axes)
    if ord_ == 1:
        return reduce(cx, node, "sum", ab, axes)
    if ord_ == 0:
        return cx.emit(node, "cast", reduce(cx, node, "sum", cx.emit(node, "ne", x, 0.0), axes))
    if isinstance(ord_, (int, float)) and not isinstance(ord_, bool):
        p = float(ord_)
        return cx.emit(node, "pow", reduce(cx, node, "sum", cx.emit(node, "pow", ab, p), axes), 1.0 / p)
    raise UnsupportedError(f"np.linalg.norm of a vector with ord={ord_!r}", cx.fs.loc(node))


def _matrix_norm(cx, node, x, ord_, axes):
    r0, c0 = axes
    if ord_ in (None, "fro"):
        return cx.emit(node, "sqrt_var", reduce(cx, node, "sum", cx.emit(node, "mul", x, x), axes))
    ab = cx.emit(node, "abs", x)
    if ord_ in (1, -1):  # max/min over columns of the column sums
        sums, other = reduce(cx, node, "sum", ab, (r0,)), c0 - (c0 > r0)
    elif ord_ in (math.inf, -math.inf):
        sums, other = reduce(cx, node, "sum", ab, (c0,)), r0 - (r0 > c0)
    else:
        raise UnsupportedError(f"np.linalg.norm of a matrix with ord={ord_!r}", cx.fs.loc(node),
                               "supported: 'fro', 1, -1, inf, -inf (2, -2 and 'nuc' need "
                               "singular values)")
    return reduce(cx, node, "max" if ord_ in (1, math.inf) else "min", sums, (other,))


# -- linear algebra -----------------------------------------------------------------------
def _matrix(cx, node, x, what):
    x = _as_float(cx, node, x)
    if x.type.rank != 2:
        raise ShapeError(f"`{_callee(node)}` takes a 2-D matrix ({what}), not an array of rank "
                         f"{x.type.rank}", cx.fs.loc(node), "stacks of matrices are not supported: "
                         "loop over them")
    return x


def _linalg1(prim, what="square"):
    def h(cx, node, args, kwargs):
        cx.no_kwargs(node, kwargs)
        return cx.emit(node, prim, _matrix(cx, node, cx.arity(node, args, 1)[0], what))
    return h


def _slogdet(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    x = _matrix(cx, node, cx.arity(node, args, 1)[0], "square")
    return cx.emit(node, "slogdet_sign", x), cx.emit(node, "logabsdet", x)


def _solve(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    a, b = cx.arity(node, args, 2)
    return cx.emit(node, "solve", _matrix(cx, node, a, "square"), _as_float(cx, node, b))


def _eigh(values_only):
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "a", ("UPLO", "L"))
        if literal(cx, node, a["UPLO"], "UPLO") != "L":
            raise UnsupportedError("np.linalg.eigh with UPLO='U'", cx.fs.loc(node),
                                   "pass a.T (the lower triangle is read)")
        x = _matrix(cx, node, a["a"], "symmetric")
        w = cx.emit(node, "eigh_values", x)
        return w if values_only else (w, cx.emit(node, "eigh_vectors", x))
    return h


def _qr(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("mode", "reduced"))
    if literal(cx, node, a["mode"], "mode") != "reduced":
        raise UnsupportedError("np.linalg.qr with a mode other than 'reduced'", cx.fs.loc(node))
    x = _matrix(cx, node, a["a"], "m x n, m >= n")
    return cx.emit(node, "qr_q", x), cx.emit(node, "qr_r", x)


def _kron(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    a, b = (array(cx, node, v) for v in cx.arity(node, args, 2))
    if a.type.rank == 0 or b.type.rank == 0:
        return cx.emit(node, "mul", a, b)
    r = max(a.type.rank, b.type.rank)
    a = a if a.type.rank == r else cx.emit(node, "reshape", a, *([cx.b.const(1)] * (r - a.type.rank) + _dims(cx, node, a)))
    b = b if b.type.rank == r else cx.emit(node, "reshape", b, *([cx.b.const(1)] * (r - b.type.rank) + _dims(cx, node, b)))
    da, db = _dims(cx, node, a), _dims(cx, node, b)
    for k in range(r):  # a[:, None, :, None] * b[None, :, None, :]
        a = cx.emit(node, "expand_dims", a, axis=2 * k + 1)
        b = cx.emit(node, "expand_dims", b, axis=2 * k)
    return cx.emit(node, "reshape", cx.emit(node, "mul", a, b),
                   *[cx.emit(node, "mul", p, q) for p, q in zip(da, db)])


def _einsum_call(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    if not args or not isinstance(args[0], Static) or not isinstance(args[0].obj, str):
        raise UnsupportedError("np.einsum takes a constant subscript string first",
                               cx.fs.loc(node), "np.einsum('ij,jk->ik', a, b)")
    ops = [array(cx, node, v) for v in args[1:]]
    return einsum(cx, node, args[0].obj, ops)


def einsum(cx, node, subscripts, ops):
    """np.einsum; of booleans only, NumPy's boolean arithmetic (sums are or, products and:
    `np.einsum('i->', m)` is m.any()), computed on ints and compared with 0."""
    if ops and all(x.type.dtype == "bool" for x in ops):
        ints = [cx.emit(node, "to_int", x) for x in ops]
        return cx.emit(node, "ne", _einsum(cx, node, subscripts, ints), 0)
    return _einsum(cx, node, subscripts, ops)


def _einsum(cx, node, subscripts, ops):
    """Lower np.einsum: repeated indices of one operand become a diagonal, indices only one
    operand has and the output lacks are summed, operands are contracted left to right
    (a matrix product where no index is shared with the output, else a broadcast product
    and a sum), and the result is permuted to the output's order."""
    spec = subscripts.replace(" ", "")
    ins, arrow, out = spec.partition("->")
    terms = ins.split(",")
    if not arrow:
        letters = "".join(terms).replace(".", "")
        out = ("..." if "..." in ins else "") + \
            "".join(sorted(c for c in set(letters) if letters.count(c) == 1))
    if "." in spec:
        terms, out = _einsum_ellipsis(cx, node, terms, out, ops)
    if len(terms) != len(ops) or not all(t.isalpha() or t == "" for t in terms + [out]) \
            or len(set(out)) != len(out):
        raise UnsupportedError(f"np.einsum subscripts {subscripts!r} do not match the "
                               f"{len(ops)} operand(s)", cx.fs.loc(node))
    for t, x in zip(terms, ops):
        if len(t) != x.type.rank:
            raise ShapeError(f"np.einsum: subscripts {t!r} for an operand of rank {x.type.rank}",
                             cx.fs.loc(node))
    if set(out) - set("".join(terms)):
        raise ShapeError(f"np.einsum: output index not in the inputs: {subscripts!r}", cx.fs.loc(node))
    items = [_einsum_diagonals(cx, node, x, t) for x, t in zip(ops, terms)]
    while len(items) > 1:
        later = set(out).union(*(t for _, t in items[2:]))
        (a, ta), (b, tb) = items[0], items[1]
        a, ta = _einsum_sum_free(cx, node, a, ta, later | set(tb))
        b, tb = _einsum_sum_free(cx, node, b, tb, later | set(ta))
        items[:2] = [_einsum_pair(cx, node, a, ta, b, tb, later)]
    x, t = _einsum_sum_free(cx, node, *items[0], set(out))
    return transpose(cx, node, x, tuple(t.index(c) for c in out)) if t != out else x


def _einsum_ellipsis(cx, node, terms, out, ops):
    """'...' replaced by letters the subscripts do not use, right-aligned as NumPy
    broadcasts them (the axes it stands for must have equal lengths where two operands
    share one: the matrix-product path does not broadcast a length 1)."""
    if len(terms) != len(ops) or any(t.count(".") not in (0, 3) or t.count(".") == 3 and "..." not in t
                                     for t in terms + [out]):
        raise UnsupportedError(f"np.einsum subscripts {'...'!r} misplaced", cx.fs.loc(node))
    counts = [x.type.rank - (len(t) - 3) if "..." in t else 0 for t, x in zip(terms, ops)]
    if any(c < 0 for c in counts):
        raise ShapeError("np.einsum: more subscripts than axes", cx.fs.loc(node))
    m = max(counts)
    if m and "..." not in out:
        raise ShapeError("np.einsum: the output drops the axes of '...' (NumPy refuses it too)",
                         cx.fs.loc(node), "write '...' in the output, or sum afterwards")
    used = set("".join(terms) + out)
    fresh = "".join(c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in used)[:m]
    terms = [t.replace("...", fresh[m - c:]) for t, c in zip(terms, counts)]
    return terms, out.replace("...", fresh)


def _einsum_diagonals(cx, node, x, t):
    while len(set(t)) != len(t):
        c = next(c for c in t if t.count(c) > 1)
        i = t.index(c)
        j = t.index(c, i + 1)
        x = diagonal(cx, node, x, 0, i, j)
        t = "".join(e for k, e in enumerate(t) if k not in (i, j)) + c
    return x, t


def _einsum_sum_free(cx, node, x, t, needed):
    axes = tuple(k for k, c in enumerate(t) if c not in needed)
    if not axes:
        return x, t
    return reduce(cx, node, "sum", x, axes), "".join(c for c in t if c in needed)


def _einsum_pair(cx, node, a, ta, b, tb, later):
    shared = [c for c in ta if c in tb]
    batch = [c for c in shared if c in later]
    contract = [c for c in shared if c not in later]
    la, lb = [c for c in ta if c not in tb], [c for c in tb if c not in ta]
    if not batch and contract:  # a matrix product: (la, contract) @ (contract, lb)
        a2 = transpose(cx, node, a, tuple(ta.index(c) for c in la + contract))
        b2 = transpose(cx, node, b, tuple(tb.index(c) for c in contract + lb))
        da, db = _dims(cx, node, a2), _dims(cx, node, b2)
        k = _prod_ints(cx, node, db[:len(contract)])
        left = _prod_ints(cx, node, da[:len(la)])
        right = _prod_ints(cx, node, db[len(contract):])
        a2 = cx.emit(node, "reshape", a2, left, k) if la else \
            (a2 if len(contract) == 1 else cx.emit(node, "reshape", a2, k))
        b2 = cx.emit(node, "reshape", b2, k, right) if lb else \
            (b2 if len(contract) == 1 else cx.emit(node, "reshape", b2, k))
        y = cx.emit(node, "matmul", a2, b2)
        if len(la) > 1 or len(lb) > 1:  # y is (left, right): back to the separate axes
            y = cx.emit(node, "reshape", y, *(da[:len(la)] + db[len(contract):]))
        return y, "".join(la + lb)
    full = batch + la + lb + contract  # a broadcast product, summed over `contract`
    a2 = _einsum_place(cx, node, a, ta, full)
    b2 = _einsum_place(cx, node, b, tb, full)
    y = cx.emit(node, "mul", a2, b2)
    n = len(full) - len(contract)
    if contract:
        y = reduce(cx, node, "sum", y, tuple(range(n, len(full))))
    return y, "".join(full[:n])


def _einsum_place(cx, node, x, t, full):
    """x (indices t) permuted to the order of `full` with size-1 axes where it lacks one."""
    present = [c for c in full if c in t]
    x = transpose(cx, node, x, tuple(t.index(c) for c in present))
    for k, c in enumerate(full):
        if c not in t:
            x = cx.emit(node, "expand_dims", x, axis=k)
    return x


def _tensordot(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", "b", ("axes", 2))
    x, y = array(cx, node, a["a"]), array(cx, node, a["b"])
    axes = literal(cx, node, a["axes"], "axes")
    if isinstance(axes, int):
        ax_a = tuple(range(x.type.rank - axes, x.type.rank))
        ax_b = tuple(range(axes))
    elif isinstance(axes, tuple) and len(axes) == 2:
        ax_a, ax_b = ((v,) if isinstance(v, int) else tuple(v) for v in axes)
        ax_a = tuple(k % x.type.rank for k in ax_a)
        ax_b = tuple(k % y.type.rank for k in ax_b)
    else:
        raise UnsupportedError("`axes` of np.tensordot: an int or a pair of sequences",
                               cx.fs.loc(node))
    if len(ax_a) != len(ax_b) or len(ax_a) > min(x.type.rank, y.type.rank):
        raise ShapeError("np.tensordot: the axes do not pair up", cx.fs.loc(node))
    letters = iter("abcdefghijklmnopqrstuvwxyz")
    ta = [next(letters) for _ in range(x.type.rank)]
    tb = [next(letters) for _ in range(y.type.rank)]
    for i, j in zip(ax_a, ax_b):
        tb[j] = ta[i]
    out = [c for k, c in enumerate(ta) if k not in ax_a] + [c for k, c in enumerate(tb) if k not in ax_b]
    return einsum(cx, node, "".join(ta) + "," + "".join(tb) + "->" + "".join(out), [x, y])


# -- scipy.special ------------------------------------------------------------------------
def _xlogy(shift):
    """x * log(y) (shift: log1p(y)), 0 where x = 0 and y = 0 (y = -1): the log's argument is
    replaced by 1 (0) there, so the value is 0 and both cotangents are finite (0)."""
    def h(cx, node, args, kwargs):
        cx.no_kwargs(node, kwargs)
        x, y = (_as_float(cx, node, v) for v in cx.arity(node, args, 2))
        edge = cx.emit(node, "logical_and", cx.emit(node, "eq", x, 0.0),
                       cx.emit(node, "eq", y, -1.0 if shift else 0.0))
        safe = cx.emit(node, "where", edge, 0.0 if shift else 1.0, y)
        return cx.emit(node, "mul", x, cx.emit(node, "log1p" if shift else "log", safe))
    return h


def _entr(cx, node, args, kwargs):  # -x log x for x > 0, 0 at 0, -inf below (scipy.special.entr)
    cx.no_kwargs(node, kwargs)
    x = _as_float(cx, node, cx.arity(node, args, 1)[0])
    pos = cx.emit(node, "gt", x, 0.0)
    v = cx.emit(node, "neg", cx.emit(node, "mul", x, cx.emit(node, "log", cx.emit(node, "where", pos, x, 1.0))))
    return cx.emit(node, "where", pos, v, cx.emit(node, "where", cx.emit(node, "eq", x, 0.0), 0.0, -math.inf))


def _rel_entr(kl):
    """rel_entr: x log(x / y) for x, y > 0, 0 at x = 0 and y >= 0, inf otherwise; kl_div adds
    y - x (scipy.special.rel_entr, kl_div)."""
    def h(cx, node, args, kwargs):
        cx.no_kwargs(node, kwargs)
        x, y = (_as_float(cx, node, v) for v in cx.arity(node, args, 2))
        both = cx.emit(node, "logical_and", cx.emit(node, "gt", x, 0.0), cx.emit(node, "gt", y, 0.0))
        xs = cx.emit(node, "where", both, x, 1.0)
        ys = cx.emit(node, "where", both, y, 1.0)
        v = cx.emit(node, "mul", x, cx.emit(node, "log", cx.emit(node, "div", xs, ys)))
        if kl:
            v = cx.emit(node, "add", cx.emit(node, "sub", v, x), y)
        zero = cx.emit(node, "logical_and", cx.emit(node, "eq", x, 0.0), cx.emit(node, "ge", y, 0.0))
        return cx.emit(node, "where", both, v,
                       cx.emit(node, "where", zero, y if kl else 0.0, math.inf))
    return h


def _logit(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    p = _as_float(cx, node, cx.arity(node, args, 1)[0])
    return cx.emit(node, "log", cx.emit(node, "div", p, cx.emit(node, "sub", 1.0, p)))


def _betaln(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    a, b = (_as_float(cx, node, v) for v in cx.arity(node, args, 2))
    return cx.emit(node, "sub", cx.emit(node, "add", cx.emit(node, "gammaln", a), cx.emit(node, "gammaln", b)),
                   cx.emit(node, "gammaln", cx.emit(node, "add", a, b)))


def _scipy_logsumexp(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("axis", None), ("b", None), ("keepdims", False),
             ("return_sign", False))
    if a["b"] is not None or _flag(cx, node, a["return_sign"], "return_sign"):
        raise UnsupportedError("scipy.special.logsumexp with `b` or return_sign", cx.fs.loc(node),
                               "for weights b > 0 write logsumexp(a + np.log(b))")
    kw = {k: v for k, v in kwargs.items() if k in ("axis", "keepdims")}
    return _runtime_axis("logsumexp", None)(cx, node, list(args[:2]), kw)


def _scipy_handlers():
    """Handlers of scipy.special's functions (those this SciPy has: log_expit is 1.8+)."""
    import scipy.special as sp
    table = {"expit": _unary("sigmoid"), "log_expit": _unary("log_sigmoid"), "logit": _logit,
             "logsumexp": _scipy_logsumexp, "softmax": _runtime_axis("softmax", None),
             "log_softmax": _runtime_axis("log_softmax", None), "xlogy": _xlogy(False),
             "xlog1py": _xlogy(True), "entr": _entr, "rel_entr": _rel_entr(False),
             "kl_div": _rel_entr(True), "erf": _unary("erf"), "erfc": _unary("erfc"),
             "gammaln": _unary("gammaln"), "digamma": _unary("digamma"), "psi": _unary("digamma"),
             "betaln": _betaln, "expm1": _unary("expm1"), "log1p": _unary("log1p")}
    return {getattr(sp, name): h for name, h in table.items() if hasattr(sp, name)}


_MORE = {
    np.sinc: _unary("sinc"), np.nan_to_num: _nan_to_num, np.floor: _unary("floor"),
    np.ceil: _unary("ceil"), np.rint: _unary("rint"), np.round: _round, np.around: _round,
    np.atleast_1d: _atleast(1), np.atleast_2d: _atleast(2), np.atleast_3d: _atleast(3),
    np.broadcast_to: _broadcast_to, np.tile: _tile, np.repeat: _repeat, np.flip: _flip,
    np.fliplr: _flip_fixed(1, 2), np.flipud: _flip_fixed(0, 1), np.roll: _roll, np.pad: _pad,
    np.split: _split(True), np.array_split: _split(False), np.hsplit: _split_fixed("h"),
    np.vsplit: _split_fixed(0), np.swapaxes: _swapaxes, np.moveaxis: _moveaxis,
    np.diag: _diag, np.diagonal: _diagonal, np.tril: _tri(True), np.triu: _tri(False),
    np.take_along_axis: _take_along_axis,
    np.argmax: _arg_extreme("argmax"), np.argmin: _arg_extreme("argmin"), np.argsort: _argsort,
    np.sort: _sort, np.searchsorted: _searchsorted, np.nonzero: _nonzero,
    np.flatnonzero: _flatnonzero, np.unique: _unique,
    np.cumsum: _scan("cumsum"), np.cumprod: _scan("cumprod"), np.diff: _diff,
    np.median: _median, np.percentile: _quantile(100.0), np.quantile: _quantile(1.0),
    np.average: _average, np.nansum: _nan_reduction("sum"), np.nanmean: _nan_reduction("mean"),
    np.linalg.norm: _norm,
    np.einsum: _einsum_call, np.tensordot: _tensordot, np.kron: _kron,
    np.linalg.det: _linalg1("det"), np.linalg.slogdet: _slogdet, np.linalg.inv: _linalg1("inv"),
    np.linalg.solve: _solve, np.linalg.cholesky: _linalg1("cholesky", "symmetric positive definite"),
    np.linalg.eigh: _eigh(False), np.linalg.eigvalsh: _eigh(True), np.linalg.qr: _qr,
    math.erf: _math("erf"), math.erfc: _math("erfc"), math.lgamma: _math("gammaln"),
}
FUNCTIONS.update(_MORE)


def _is_value(kind):
    """np.isnan / isinf / isfinite (booleans, no gradient) from comparisons: x != x is NaN,
    |x| == inf is infinite."""
    def h(cx, node, args, kwargs):
        cx.no_kwargs(node, kwargs)
        x = array(cx, node, cx.arity(node, args, 1)[0])
        if x.type.dtype != "float64":  # integers and booleans: all finite, none NaN or inf
            return cx.emit(node, "eq" if kind == "isfinite" else "ne", cx.emit(node, "mul", x, 0), 0)
        nan = cx.emit(node, "ne", x, x)
        inf = cx.emit(node, "eq", cx.emit(node, "abs", x), math.inf)
        if kind == "isnan":
            return nan
        if kind == "isinf":
            return inf
        return cx.emit(node, "logical_not", cx.emit(node, "logical_or", nan, inf))
    return h


def _count_nonzero(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("axis", None), ("keepdims", False))
    x = array(cx, node, a["a"])
    return reduce(cx, node, "sum", convert(cx, node, cx.emit(node, "ne", x, 0), "int64"),
                  axes_arg(cx, node, x, a["axis"]), _flag(cx, node, a["keepdims"], "keepdims"))


def _ptp(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, "a", ("axis", None), ("keepdims", False))
    x = array(cx, node, a["a"])
    if x.type.dtype == "bool":
        _no_booleans(cx, node, "ptp (max - min)")
    axes, keep = axes_arg(cx, node, x, a["axis"]), _flag(cx, node, a["keepdims"], "keepdims")
    return cx.emit(node, "sub", reduce(cx, node, "max", x, axes, keep), reduce(cx, node, "min", x, axes, keep))


def _vdot(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    a, b = (array(cx, node, v) for v in cx.arity(node, args, 2))
    return cx.emit(node, "matmul", _ravel_value(cx, node, a), _ravel_value(cx, node, b))


def _cross(cx, node, args, kwargs):
    """np.cross of 3-vectors along the last axis (broadcasting over the others)."""
    cx.no_kwargs(node, kwargs)
    if any(isinstance(v, Value) and v.type.dtype == "bool" for v in args):
        _no_booleans(cx, node, "cross (it subtracts products)")
    a, b = (_as_float(cx, node, v) for v in cx.arity(node, args, 2))
    if a.type.rank == 0 or b.type.rank == 0:
        raise ShapeError("np.cross of a scalar", cx.fs.loc(node))
    # 3-vectors only: another last axis fails to reshape at run time (NumPy raises for
    # lengths other than 2 and 3; the 2-D cross product is not supported)
    a, b = (cx.emit(node, "reshape", v, *_dims(cx, node, v)[:-1], cx.b.const(3)) for v in (a, b))
    ra, rb = a.type.rank - 1, b.type.rank - 1
    c = [(_at(cx, node, a, ra, i), _at(cx, node, b, rb, i)) for i in range(3)]

    def term(i, j):
        return cx.emit(node, "sub", cx.emit(node, "mul", c[i][0], c[j][1]), cx.emit(node, "mul", c[j][0], c[i][1]))
    parts = [term(1, 2), term(2, 0), term(0, 1)]
    r = max(p.type.rank for p in parts)
    if r == 0:
        return cx.emit(node, "pack", *parts)
    return cx.emit(node, "stack", *[p if p.type.rank == r else cx.emit(node, "add", p, cx.emit(
        node, "zeros_like", next(q for q in parts if q.type.rank == r))) for p in parts], axis=r)


def _matrix_power(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    x, n = cx.arity(node, args, 2)
    if isinstance(x, Value) and x.type.dtype == "bool":
        raise UnsupportedError("np.linalg.matrix_power of a boolean matrix is NumPy's boolean "
                               "product (an or of ands)", cx.fs.loc(node),
                               "`M @ M` of booleans computes it")
    x = _matrix(cx, node, x, "square")
    n = _const_int(cx, node, n, "n")
    if n < 0:
        x, n = cx.emit(node, "inv", x), -n
    if n == 0:
        return cx.emit(node, "eye_like", x)
    out, base = None, x  # binary powering, as NumPy
    while n:
        if n & 1:
            out = base if out is None else cx.emit(node, "matmul", out, base)
        n >>= 1
        if n:
            base = cx.emit(node, "matmul", base, base)
    return out


def _column_stack(cx, node, args, kwargs):
    cx.no_kwargs(node, kwargs)
    xs = _seq(cx, node, cx.arity(node, args, 1)[0])
    if any(x.type.rank not in (1, 2) for x in xs):
        raise ShapeError("np.column_stack takes 1-D and 2-D arrays", cx.fs.loc(node))
    xs = [cx.emit(node, "expand_dims", x, axis=1) if x.type.rank == 1 else x for x in xs]
    return concatenate(cx, node, xs, 1)


FUNCTIONS.update({np.isnan: _is_value("isnan"), np.isinf: _is_value("isinf"),
                  np.isfinite: _is_value("isfinite"), np.count_nonzero: _count_nonzero,
                  np.ptp: _ptp, np.vdot: _vdot, np.cross: _cross,
                  np.linalg.matrix_power: _matrix_power, np.column_stack: _column_stack})
METHODS.update({"ptp": _ptp})


# -- np.random.default_rng(seed) inside a loss ----------------------------------------------
class _Generator:
    """`np.random.default_rng(seed)` while lowering: the seed's Value, the builder it was
    made in and the draws emitted so far ((kind, element count) each). Each draw is a
    `rng_draw` op: data, with no gradient, made once by the forward sweep and read by the
    backward sweep; the k-th draw replays the k before it from the seed, so it is the array
    NumPy's k-th call gives (runtime.kernels.rng_draw), in both tiers."""

    __adjoint_binding__ = True  # a name may hold it (compiler/frontend/context.py, assign)
    KINDS = {"random": 0, "standard_normal": 1, "uniform": 0, "normal": 1}

    def __init__(self, seed, builder):
        self.seed, self.builder, self.plan = seed, builder, []

    def __getattr__(self, name):
        if name in _Generator.KINDS:
            return _Draw(self, name)
        if not name.startswith("_") and hasattr(np.random.Generator, name):
            return _UnsupportedDraw(name)  # rng.integers: refused when called, with the list
        raise AttributeError(name)


class _UnsupportedDraw:
    """A `numpy.random.Generator` method adjoint does not lower (`rng.integers`,
    `rng.permutation`, ...): calling it raises UnsupportedError naming what is supported."""

    def __init__(self, name):
        self.name = name

    def __adjoint_inline__(self, cx, node, args, kwargs):
        raise UnsupportedError(
            f"`{_callee(node)}`: the generator method `{self.name}` is not supported in a loss",
            cx.fs.loc(node),
            "a seeded generator in a loss draws with rng.random(size), "
            "rng.standard_normal(size), rng.normal(loc, scale, size) and "
            "rng.uniform(low, high, size); draw integers or permutations outside the loss "
            "and pass them in as arguments")


class _Draw:
    """`rng.random(size)`, `rng.standard_normal(size)`, `rng.normal(loc, scale, size)`,
    `rng.uniform(low, high, size)`; normal and uniform are NumPy's own compositions
    (loc + scale * z, low + (high - low) * u), so they are exact and differentiable in their
    scalar parameters (the reparameterisation)."""

    def __init__(self, gen, kind):
        self.gen, self.kind = gen, kind

    def __adjoint_inline__(self, cx, node, args, kwargs):
        params = {"random": (("size", None),), "standard_normal": (("size", None),),
                  "normal": (("loc", 0.0), ("scale", 1.0), ("size", None)),
                  "uniform": (("low", 0.0), ("high", 1.0), ("size", None))}[self.kind]
        a = bind(cx, node, args, kwargs, *params)
        if cx.b is not self.gen.builder:
            raise UnsupportedError(f"`{_callee(node)}` inside a loop or a branch: the number of "
                                   "draws would depend on the run", cx.fs.loc(node),
                                   "draw all the numbers once before the loop (size=(steps, n))")
        dims = [] if a["size"] is None else shape_arg(cx, node, a["size"])
        count = _prod_ints(cx, node, dims) if dims else cx.b.const(1)
        code = _Generator.KINDS[self.kind]
        plan = [v for k, n in self.gen.plan for v in (cx.b.const(k), n)] or [cx.b.const(0)] * 2
        out = cx.emit(node, "rng_draw", self.gen.seed, cx.emit(node, "pack", *plan), *dims, kind=code)
        self.gen.plan.append((code, count))
        names = [p for p, _ in params if p != "size"]
        if not names:
            return out
        shift, scale = (array(cx, node, a[p]) for p in names)
        if shift.type.rank or scale.type.rank:
            raise UnsupportedError(f"`{_callee(node)}` with array parameters", cx.fs.loc(node),
                                   "draw standard values and scale them: loc + scale * rng.standard_normal(size)")
        if self.kind == "uniform":
            scale = cx.emit(node, "sub", scale, shift)  # NumPy's low + (high - low) * u
        if cx.const_value(shift) == 0 and cx.const_value(scale) == 1:
            return out
        c = cx.const_value(scale)
        if c is None or math.copysign(1.0, c) < 0:  # NumPy's checks (-0.0 included)
            scale = cx.emit(node, "draw_param", convert(cx, node, scale, "float64"),
                            check=2 if self.kind == "uniform" else 1)
        return cx.emit(node, "add", shift, cx.emit(node, "mul", scale, out))


def _default_rng(cx, node, args, kwargs):
    a = bind(cx, node, args, kwargs, ("seed", None))
    seed = a["seed"]
    if not (isinstance(seed, Value) and seed.type.rank == 0 and seed.type.dtype == "int64"):
        raise UnsupportedError("np.random.default_rng inside a loss needs an int seed",
                               cx.fs.loc(node), "pass the seed as an argument: "
                               "def loss(w, x, seed): rng = np.random.default_rng(seed)")
    return Static(_Generator(seed, cx.b))


FUNCTIONS[np.random.default_rng] = _default_rng


def _ufunc_reduce(kind):
    """ufunc.reduce(array, axis=0, keepdims=False) (axis 0 by default, as NumPy's)."""
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "array", ("axis", 0), ("keepdims", False))
        x = array(cx, node, a["array"])
        if x.type.rank == 0:
            raise ShapeError(f"`{_callee(node)}` of a scalar", cx.fs.loc(node))
        axes = axes_arg(cx, node, x, a["axis"])
        keep = _flag(cx, node, a["keepdims"], "keepdims")
        if kind != "logsumexp":
            return reduce(cx, node, kind, x, axes, keep)
        x = _as_float(cx, node, x)
        full = axes is None or len(axes) == x.type.rank
        if not full and len(axes) > 1:
            raise UnsupportedError("np.logaddexp.reduce over several (but not all) axes",
                                   cx.fs.loc(node), "reshape first")
        out = cx.emit(node, "logsumexp", x, axis=None if full else axes[0])
        return _keep(cx, node, out, x.type.rank, None if full else a["axis"],
                     None if full else axes[0], keep)
    return h


def _ufunc_accumulate(prim):
    def h(cx, node, args, kwargs):
        a = bind(cx, node, args, kwargs, "array", ("axis", 0))
        return _scan(prim)(cx, node, [a["array"], a["axis"]], {})
    return h


FUNCTIONS.update({np.add.reduce: _ufunc_reduce("sum"), np.multiply.reduce: _ufunc_reduce("prod"),
                  np.maximum.reduce: _ufunc_reduce("max"), np.minimum.reduce: _ufunc_reduce("min"),
                  np.logaddexp.reduce: _ufunc_reduce("logsumexp"),
                  np.add.accumulate: _ufunc_accumulate("cumsum"),
                  np.multiply.accumulate: _ufunc_accumulate("cumprod")})
METHODS.update({
    "argmax": _arg_extreme("argmax"), "argmin": _arg_extreme("argmin"), "argsort": _argsort,
    "cumsum": _scan("cumsum"), "cumprod": _scan("cumprod"), "diagonal": _diagonal,
    "nonzero": _nonzero, "repeat": _repeat, "swapaxes": _swapaxes,
})
