"""The primitive table: each primitive once, with its type rule, its NumPy spelling and
its adjoint (VJP) rule, side by side.

A VJP rule for input i is `rule(g, ans, *inputs, **attrs) -> Value | None`: given the
cotangent `g` of the output `ans`, it returns input i's cotangent built from other
primitives (None means zero). Rules for primitives flagged `broadcasts` return the
cotangent in the output's shape; reverse mode sums it back to the input's shape
(unbroadcast). Formulas: the lecture's building blocks (sum, product, composition) and
standard calculus; matrix rules from Giles, "An extended collection of matrix derivative
results for forward and reverse mode AD" (2008).

Non-differentiable points, one policy: ties in maximum/minimum split the cotangent
evenly; `where` sends it to the selected branch only; abs'(0) = 0; relu'(0) = 0.

Adding a primitive is one `prim(...)` call. `emit` is a Python expression template
over `{0}`, `{1}`, ... (inputs) and `{name}` (attributes), or a function of the op that
returns one; codegen parses it, so it must be valid Python that Numba compiles.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .ir.builder import current
from .ir.core import I64, Type, promote


@dataclass(frozen=True)
class Primitive:
    name: str
    arity: int | None
    type_rule: Callable
    emit: object  # str template or callable(op) -> str
    vjp: tuple | None = None  # one rule per input; None: not differentiable (zero)
    broadcasts: bool = False  # elementwise with NumPy broadcasting: unbroadcast adjoints
    doc: str = ""


PRIMS: dict[str, Primitive] = {}


def prim(name, arity, type_rule, emit, vjp=None, broadcasts=False, doc=""):
    PRIMS[name] = Primitive(name, arity, type_rule, emit, vjp, broadcasts, doc)


def E(name, *inputs, **attrs):
    """Emit primitive `name` into the current builder (used inside rules)."""
    return current().emit(name, *inputs, **attrs)


# ---- type rules --------------------------------------------------------------------
def _rank(*ts):
    return max(t.rank for t in ts)


def t_arith(*ts, **_):  # + - * ** maximum minimum: NumPy promotion, bool counts as int
    d = promote(*ts)
    return Type("int64" if d == "bool" else d, _rank(*ts))


def t_float(*ts, **_):  # / and transcendental functions always give float64
    return Type("float64", _rank(*ts))


def t_same(t, *_, **__):
    return t


def t_bool(*ts, **_):
    return Type("bool", _rank(*ts))


def t_where(c, x, y, **_):
    return Type(promote(x, y), _rank(c, x, y))


def t_matmul(a, b, **_):
    if a.rank == 0 or b.rank == 0 or a.rank > 2 or b.rank > 2:
        raise TypeError(f"`@`/dot takes 1-D or 2-D operands, got ranks {a.rank} and {b.rank}"
                        " (use `*` for scalars)")
    d = promote(a, b)
    d = "int64" if d == "bool" else d
    return Type(d, {(1, 1): 0, (2, 1): 1, (1, 2): 1, (2, 2): 2}[(a.rank, b.rank)])


def t_outer(a, b, **_):
    return Type(t_arith(a, b).dtype, 2)


def t_reduce(x, axis=None, **_):
    if axis is None:
        return Type("int64" if x.dtype == "bool" else x.dtype, 0)
    if not 0 <= axis < x.rank:
        raise TypeError(f"axis {axis} is out of bounds for an array of rank {x.rank}")
    return Type("int64" if x.dtype == "bool" else x.dtype, x.rank - 1)


def t_expand(x, axis, **_):
    return Type(x.dtype, x.rank + 1)


def t_like(g, x, **_):  # result has x's shape, g's (float) dtype
    return Type("float64", x.rank)


def t_int(*_, **__):
    return I64


def t_const(**_):  # never called: Builder.const types constants itself
    raise AssertionError


def _emit_const(op):
    from .ir.core import ConstArray
    v = op.attr("value")
    if isinstance(v, ConstArray):
        raise AssertionError("array constants are emitted as module globals")
    if isinstance(v, float) and v != v:
        return "np.nan"
    if isinstance(v, float) and v in (float("inf"), float("-inf")):
        return "np.inf" if v > 0 else "(-np.inf)"
    return f"({v!r})" if v < 0 else repr(v)


def _emit_sum(op):
    ax = op.attr("axis")
    return "np.sum({0})" if ax is None else f"np.sum({{0}}, axis={ax})"


def _emit_where(op):
    return "np.where({0}, {1}, {2})" if op.out.type.rank else "({1} if {0} else {2})"


# ---- the table ---------------------------------------------------------------------
# constants and structure
prim("const", 0, t_const, _emit_const, doc="a literal scalar or captured constant array")
prim("size", 1, t_int, "{0}.size", doc="number of elements, an int (not differentiable)")
prim("dim", 1, t_int, "{0}.shape[{axis}]", doc="length of one axis, an int")

# elementwise arithmetic (the lecture's building blocks: a+b, a-b, a*b)
prim("add", 2, t_arith, "{0} + {1}", broadcasts=True,
     vjp=(lambda g, ans, a, b: g, lambda g, ans, a, b: g))
prim("sub", 2, t_arith, "{0} - {1}", broadcasts=True,
     vjp=(lambda g, ans, a, b: g, lambda g, ans, a, b: -g))
prim("mul", 2, t_arith, "{0} * {1}", broadcasts=True,
     vjp=(lambda g, ans, a, b: g * b, lambda g, ans, a, b: g * a))
prim("div", 2, t_float, "{0} / {1}", broadcasts=True,
     vjp=(lambda g, ans, a, b: g / b, lambda g, ans, a, b: -(g * ans / b)))
prim("pow", 2, t_arith, "{0} ** {1}", broadcasts=True,
     vjp=(lambda g, ans, a, b: g * b * a ** (b - 1),
          lambda g, ans, a, b: g * ans * E("log", a)))
prim("neg", 1, t_same, "-{0}", vjp=(lambda g, ans, a: -g,))
prim("maximum", 2, t_arith, "np.maximum({0}, {1})", broadcasts=True,
     vjp=(lambda g, ans, a, b: g * E("tie_weight", a, b),
          lambda g, ans, a, b: g * E("tie_weight", b, a)))
prim("minimum", 2, t_arith, "np.minimum({0}, {1})", broadcasts=True,
     vjp=(lambda g, ans, a, b: g * E("tie_weight", b, a),
          lambda g, ans, a, b: g * E("tie_weight", a, b)))
prim("where", 3, t_where, _emit_where, broadcasts=True,
     vjp=(None,
          lambda g, ans, c, x, y: E("where", c, g, 0.0),
          lambda g, ans, c, x, y: E("where", c, 0.0, g)))

# comparisons: boolean, not differentiable
for _name, _sym in (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="), ("eq", "=="),
                    ("ne", "!=")):
    prim(_name, 2, t_bool, "{0} %s {1}" % _sym)

# unary elementwise functions; `ans` is the primal output f_i
prim("exp", 1, t_float, "np.exp({0})", vjp=(lambda g, ans, x: g * ans,))
prim("log", 1, t_float, "np.log({0})", vjp=(lambda g, ans, x: g / x,))
prim("tanh", 1, t_float, "np.tanh({0})", vjp=(lambda g, ans, x: g * (1.0 - ans * ans),))
prim("sqrt", 1, t_float, "np.sqrt({0})", vjp=(lambda g, ans, x: g / (2.0 * ans),))
prim("abs", 1, t_same, "np.abs({0})", vjp=(lambda g, ans, x: g * E("sign", x),))
prim("sign", 1, t_same, "np.sign({0})")
prim("cast", 1, t_float, "np.float64({0})", vjp=(lambda g, ans, x: g,))
# stable runtime functions (runtime/functions.py)
prim("sigmoid", 1, t_float, "sigmoid({0})", vjp=(lambda g, ans, x: g * ans * (1.0 - ans),))
prim("relu", 1, t_float, "relu({0})", vjp=(lambda g, ans, x: E("where", E("gt", x, 0.0), g, 0.0),))
prim("softplus", 1, t_float, "softplus({0})", vjp=(lambda g, ans, x: g * E("sigmoid", x),))
prim("logsumexp", 1, lambda x, **_: Type("float64", 0), "logsumexp({0})",
     vjp=(lambda g, ans, x: g * E("exp", x - ans),))

# linear algebra (Giles 2008, sec. 2.2: C = AB gives A' = C' B^T, B' = A^T C')
def _matmul_vjp_a(g, ans, a, b):
    return {(1, 1): lambda: g * b, (2, 1): lambda: E("outer", g, b),
            (1, 2): lambda: b @ g, (2, 2): lambda: g @ b.T}[(a.type.rank, b.type.rank)]()


def _matmul_vjp_b(g, ans, a, b):
    return {(1, 1): lambda: g * a, (2, 1): lambda: a.T @ g,
            (1, 2): lambda: E("outer", a, g), (2, 2): lambda: a.T @ g}[(a.type.rank, b.type.rank)]()


prim("matmul", 2, t_matmul, "{0} @ {1}", vjp=(_matmul_vjp_a, _matmul_vjp_b))
prim("outer", 2, t_outer, "np.outer({0}, {1})",
     vjp=(lambda g, ans, a, b: g @ b, lambda g, ans, a, b: a @ g))
prim("transpose", 1, t_same, "{0}.T", vjp=(lambda g, ans, x: g.T,))


# reductions
def _sum_vjp(g, ans, x, axis=None):
    if x.type.rank == 0:
        return g
    if axis is None:
        return E("fill_like", x, g)
    return E("broadcast_like", E("expand_dims", g, axis=axis), x)


prim("sum", 1, t_reduce, _emit_sum, vjp=(_sum_vjp,))

# adjoint helpers: appear in generated backward sweeps (runtime/kernels.py)
prim("tie_weight", 2, t_float, "tie_weight({0}, {1})",
     doc="1 where a > b, 0.5 where a == b, 0 elsewhere: the tie policy of max/min")
prim("fill_like", 2, t_like, "np.full({0}.shape, {1})", doc="scalar {1} in the shape of {0}")
prim("expand_dims", 1, t_expand, "np.expand_dims({0}, {axis})")
prim("broadcast_like", 2, t_like, "broadcast_like({0}, {1})",
     doc="{0} broadcast to the shape of {1}, as a new C-contiguous array")
prim("unbroadcast", 2, t_like, "unbroadcast({0}, {1})",
     doc="sum {0} back to the shape of {1}: the adjoint of NumPy broadcasting")
prim("zeros_like", 1, lambda x, **_: Type("float64", x.rank), "np.zeros({0}.shape)")
