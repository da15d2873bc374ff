"""The NumPy (and math/builtins) API as the frontend understands it: functions by
identity (`FUNCTIONS`), array methods (`METHODS`) and attributes (`ATTRIBUTES`).

Each handler is `handler(lw, node, args, kwargs) -> Value` (attributes:
`handler(lw, node, x)`), where `lw` is the lowering context (compiler/frontend/lower.py:
`lw.emit(node, prim, *inputs, **attrs)`, `lw.arity`, `lw.no_kwargs`, `lw.int_attr`),
`args` are lowered positional arguments and `kwargs` maps keyword names to *AST nodes*
(attributes such as `axis=` must be literals). Handlers lower a NumPy call to primitives
of compiler/primitives.py; adding a NumPy function is one handler and one table entry.
"""
import ast
import builtins
import math

import numpy as np

from ..errors import ShapeError, UnsupportedError
from ..ir.core import Value


def key(obj):
    try:
        hash(obj)
        return obj
    except TypeError:
        return None


# ---- NumPy and math functions, by identity ------------------------------------------
def _unary(prim):
    def h(lw, node, args, kwargs):
        lw.no_kwargs(node, kwargs)
        return lw.emit(node, prim, *lw.arity(node, args, 1))
    return h


def _binary(prim):
    def h(lw, node, args, kwargs):
        lw.no_kwargs(node, kwargs)
        return lw.emit(node, prim, *lw.arity(node, args, 2))
    return h


def _where(lw, node, args, kwargs):
    lw.no_kwargs(node, kwargs)
    return lw.emit(node, "where", *lw.arity(node, args, 3))


def _dot(lw, node, args, kwargs):
    lw.no_kwargs(node, kwargs)
    a, b = lw.arity(node, args, 2)
    if isinstance(a, Value) and isinstance(b, Value) and (a.type.rank == 0 or b.type.rank == 0):
        return lw.emit(node, "mul", a, b)
    return lw.emit(node, "matmul", a, b)


def _axis(lw, node, args, kwargs, x):
    if len(args) > 2:
        raise UnsupportedError("too many arguments", lw.fs.loc(node))
    ax_node = kwargs.pop("axis", None)
    if len(args) == 2:
        raise UnsupportedError("pass the axis as `axis=`", lw.fs.loc(node))
    if kwargs:
        raise UnsupportedError(f"keyword argument(s) {', '.join(kwargs)} are not supported yet",
                               lw.fs.loc(node))
    axis = lw.int_attr(node, ax_node, "axis")
    if axis is not None:
        r = x.type.rank
        if not -r <= axis < r:
            raise ShapeError(f"axis {axis} is out of bounds for an array of rank {r}",
                             lw.fs.loc(node))
        axis %= r
        if r == 1:
            axis = None
    return axis


def _sum(lw, node, args, kwargs):
    x = args[0]
    axis = _axis(lw, node, args, dict(kwargs), x)
    if x.type.rank == 0:
        return x
    return lw.emit(node, "sum", x, axis=axis)


def _mean(lw, node, args, kwargs):
    x = args[0]
    axis = _axis(lw, node, args, dict(kwargs), x)
    if x.type.rank == 0:
        return lw.emit(node, "cast", x) if x.type.dtype != "float64" else x
    total = lw.emit(node, "sum", x, axis=axis)
    n = lw.emit(node, "size", x) if axis is None else lw.emit(node, "dim", x, axis=axis)
    return lw.emit(node, "div", total, n)


def _transpose(lw, node, args, kwargs):
    lw.no_kwargs(node, kwargs)
    (x,) = lw.arity(node, args, 1)
    return x if x.type.rank < 2 else lw.emit(node, "transpose", x)


def _square(lw, node, args, kwargs):
    lw.no_kwargs(node, kwargs)
    (x,) = lw.arity(node, args, 1)
    return lw.emit(node, "mul", x, x)


def _float(lw, node, args, kwargs):
    lw.no_kwargs(node, kwargs)
    (x,) = lw.arity(node, args, 1)
    if x.type.rank:
        raise ShapeError("float() of an array", lw.fs.loc(node))
    return lw.emit(node, "cast", x)


def _max2(prim):
    def h(lw, node, args, kwargs):
        lw.no_kwargs(node, kwargs)
        if len(args) != 2:
            raise UnsupportedError(f"builtin `{ast.unparse(node.func)}` with other than two arguments",
                                   lw.fs.loc(node), f"use np.{prim}(a, b)")
        return lw.emit(node, prim, *args)
    return h


FUNCTIONS = {
    np.exp: _unary("exp"), np.log: _unary("log"), np.tanh: _unary("tanh"),
    np.sqrt: _unary("sqrt"), np.abs: _unary("abs"), np.sign: _unary("sign"),
    np.negative: _unary("neg"), np.square: _square,
    np.add: _binary("add"), np.subtract: _binary("sub"), np.multiply: _binary("mul"),
    np.divide: _binary("div"), np.power: _binary("pow"),
    np.maximum: _binary("maximum"), np.minimum: _binary("minimum"), np.where: _where,
    np.dot: _dot, np.matmul: _binary("matmul"), np.outer: _binary("outer"),
    np.transpose: _transpose, np.sum: _sum, np.mean: _mean,
    math.exp: _unary("exp"), math.log: _unary("log"), math.tanh: _unary("tanh"),
    math.sqrt: _unary("sqrt"), math.fabs: _unary("abs"),
    builtins.abs: _unary("abs"), builtins.float: _float,
    builtins.max: _max2("maximum"), builtins.min: _max2("minimum"),
}


METHODS = {
    "sum": _sum,
    "mean": _mean,
    "dot": _dot,
    "transpose": _transpose,
}


def _attr_T(lw, node, x):
    return x if x.type.rank < 2 else lw.emit(node, "transpose", x)


ATTRIBUTES = {"T": _attr_T}


def subscript_load(lw, node: ast.Subscript, x):
    """x[...] for a lowered x (a Value): ints, slices, None/np.newaxis, int/bool arrays."""
    raise UnsupportedError("indexing is not supported yet", lw.fs.loc(node))


def subscript_store(lw, target: ast.Subscript, old: Value, value) -> Value:
    """`x[...] = value` as a functional update: returns the new SSA value of x."""
    raise UnsupportedError("assignment to an element or slice is not supported yet",
                           lw.fs.loc(target))
