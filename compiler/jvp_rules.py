"""Forward-mode (JVP) rules of the primitives that are not elementwise.

The convention (also at the top of compiler/diff/forward.py, which applies the rules):

- The `jvp` field of a primitive's record holds one rule per input (indexable, like
  `vjp`): `rule(t, ans, *inputs, **attrs) -> Value | None` gets the tangent `t` of input
  i (an SSA value of input i's shape; only float inputs that depend on a differentiated
  argument have one) and the primal output `ans`, emits ops through the current
  builder (`emit_op`, `Value` arithmetic) and returns input i's contribution to the
  output's tangent, in the output's shape or one that broadcasts to it (None: zero).
  Forward mode sums the contributions of the inputs that have tangents.
- A rule that needs every input's tangent at once (concatenate, set_index, a stack
  push) is a `Joint(rule)`: `rule(tangents, ans, *inputs, **attrs)`, `tangents` a list
  with None for an input without tangent, returns the output's tangent.
- Elementwise primitives need no `jvp`: their derivative is diagonal, so the JVP of
  input i is the VJP rule with the cotangent replaced by the tangent (`t * f'(x)`),
  and forward mode uses the VJP rule (`forward.jvp_rule`). Give one only where that
  does not hold.
- A primitive without `vjp` and `jvp` has a zero derivative (integer-valued,
  piecewise constant); adjoint helpers that are linear in an input (unbroadcast,
  zeros_with, take_add, ...) have rules here, because the JVP of an adjoint graph
  (forward-over-reverse: Hessians) goes through them.

A rule may refuse with an AdjointError whose location is None: forward mode places it
at the op's line. `custom_call` (a `custom_vjp` function) refuses as soon as a tangent
reaches it: its user rule is a VJP, and the tangent of its body could differ from it.

New primitives give their rule in their `prim(..., jvp=...)` call; this module fills
the records of the primitives defined before the convention existed (it replaces a
record's `jvp` only where it is None). It also gives the adjoint helpers VJP rules (the
gradient of a generated gradient: `grad(grad(f))`, a loss calling a `grad`-made
function), where their records have none: each is linear in its cotangent input, and
its VJP is the adjoint of that linear map (unbroadcast <-> broadcast_like, zeros_with
<-> getitem, take_add <-> take, row_scatter <-> row, fill_like <-> sum). The stacks of
backward loops have none: compiler/transforms.py refuses reverse mode over a gradient
that has them, at the loop (`hessian`/`hvp` handle loops by forward-over-reverse).
Formulas: standard calculus; matrix rules from
Giles, "An extended collection of matrix derivative results for forward and reverse
mode AD" (2008), sec. 2.2 (C = AB: dC = dA B + A dB).
"""
from __future__ import annotations

import dataclasses
import functools

from . import primitives_control  # noqa: F401  (registers the control-flow primitives)
from .errors import UnsupportedError
from .primitives import PRIMS, _axes, _expand, _sum_keep, emit_op, fit_shape


class Joint:
    """A JVP rule that takes every input's tangent at once: `rule(tangents, ans, *inputs,
    **attrs)`; tangents[i] is None where input i has no tangent."""

    joint = True

    def __init__(self, rule):
        self.rule = rule

    def __call__(self, tangents, ans, *inputs, **attrs):
        return self.rule(tangents, ans, *inputs, **attrs)


class _PerInput:
    """jvp for a variable number of inputs: rule(i, t, ans, *inputs, **attrs)."""

    def __init__(self, rule, first=0, last=None):
        self.rule, self.first, self.last = rule, first, last

    def __getitem__(self, i):
        if i < self.first or (self.last is not None and i > self.last):
            return None
        return functools.partial(self.rule, i)


def _zero_like(v):
    return 0.0 if v.type.rank == 0 else emit_op("zeros_like", v)


def _tangents_or_zeros(ts, xs):
    return [t if t is not None else _zero_like(x) for t, x in zip(ts, xs)]


# ---- reductions --------------------------------------------------------------------
def _sum_over(v, axis):
    """sum of v over `axis` (None, an int or a tuple), as the `sum` primitive spells it."""
    if axis is None:
        return emit_op("sum", v)
    for a in sorted(_axes(axis), reverse=True):
        v = emit_op("sum", v, axis=a)
    return v


def _sum_jvp(t, ans, x, axis=None):
    return t if x.type.rank == 0 else _sum_over(t, axis)


def _extreme_jvp(t, ans, x, axis=None):
    """Ties split evenly (the policy of the VJP): the tangent is the mean of the tied
    entries' tangents, sum(t * hit) / sum(hit) over the reduced axes."""
    if x.type.rank == 0:
        return t
    if axis is None:
        hit = emit_op("cast", emit_op("eq", x, ans))
        return emit_op("sum", t * hit) / emit_op("sum", hit)
    hit = emit_op("cast", emit_op("eq", x, _expand(ans, _axes(axis))))
    return _sum_over(t * hit, axis) / _sum_over(hit, axis)


def _prod_jvp(t, ans, x, axis=None):
    if x.type.rank == 0:
        return t
    return _sum_over(t * emit_op("prod_others", x, axis=axis), axis)


def _lse_jvp(t, ans, x, axis=None):
    return _sum_over(t * emit_op("softmax", x, axis=axis), axis)


def _softmax_jvp(t, ans, x, axis=None):  # J = diag(s) - s s^T per row: J t = s (t - <s, t>)
    ax = tuple(range(x.type.rank)) if axis is None else (axis,)
    return ans * (t - _sum_keep(t * ans, ax, x.type.rank))


def _log_softmax_jvp(t, ans, x, axis=None):  # J = I - 1 s^T per row: J t = t - <s, t>
    ax = tuple(range(x.type.rank)) if axis is None else (axis,)
    return t - _sum_keep(t * emit_op("exp", ans), ax, x.type.rank)


def _cross_entropy_jvp(t, ans, z, y):  # a scalar: <d ce / d z, t>
    return emit_op("sum", t * emit_op("cross_entropy_grad", z, y))


def _norm_jvp(t, ans, x):  # <x, t> / |x|, 0 at x = 0 (norm'(0) = 0)
    return emit_op("sum", x * t) / emit_op("where", emit_op("gt", ans, 0.0), ans, 1.0)


# ---- linear algebra --------------------------------------------------------------------
def _matmul_jvp_a(t, ans, a, b):
    return t @ b


def _matmul_jvp_b(t, ans, a, b):
    return a @ t


# ---- shapes and indexing ---------------------------------------------------------------
def _concat_jvp(ts, ans, *xs, axis):
    return emit_op("concatenate", *_tangents_or_zeros(ts, xs), axis=axis)


def _stack_jvp(ts, ans, *xs, axis):
    return emit_op("stack", *_tangents_or_zeros(ts, xs), axis=axis)


def _pack_jvp(ts, ans, *xs):
    return emit_op("pack", *_tangents_or_zeros(ts, xs))


def _set_index_jvp(ts, ans, x, v, *vals, spec):
    tx = ts[0] if ts[0] is not None else emit_op("zeros_like", x)
    tv = ts[1] if ts[1] is not None else 0.0
    return emit_op("set_index", tx, tv, *vals, spec=spec)


def _add_at_jvp(ts, ans, x, v, *vals, spec):  # linear in (x, v): the same add of tangents
    tx = ts[0] if ts[0] is not None else emit_op("zeros_like", x)
    tv = ts[1] if ts[1] is not None else 0.0
    return emit_op("add_at", tx, tv, *vals, spec=spec)


# ---- adjoint helpers (forward-over-reverse) ----------------------------------------------
def _safe_ratio(num, den):
    """num / den, 0 where num == 0 or den == 0 (no division by zero is evaluated)."""
    zero = emit_op("logical_or", emit_op("eq", num, 0.0), emit_op("eq", den, 0.0))
    return emit_op("where", zero, 0.0, num / emit_op("where", emit_op("eq", den, 0.0), 1.0, den))


def _pow_dbase_jvp_a(t, ans, a, b):
    """d/da [b a^(b-1)] = b (b-1) a^(b-2): b * pow_dbase(a, b - 1), which is 0 at b = 0
    and b = 1 (where b a^(b-1) is constant in a)."""
    return t * b * emit_op("pow_dbase", a, b - 1.0)


def _pow_dbase_jvp_b(t, ans, a, b):
    """d/db [b a^(b-1)] = a^(b-1) + b a^(b-1) log a (the log term 0 at a = 0, as pow_dexp)."""
    u = a ** (b - 1.0)
    return t * (u + b * emit_op("pow_dexp", u, a))


def _pow_dexp_jvp_a(t, ans, u, a):  # d/du [u log a] = log a, 0 where a == 0 (pow_dexp's policy)
    return emit_op("pow_dexp", t, a)


def _pow_dexp_jvp_b(t, ans, u, a):  # d/da [u log a] = u / a, 0 where u == 0 or a == 0
    return t * _safe_ratio(u, a)


class CustomVJPForwardError(UnsupportedError):
    """Forward mode (jvp, jacfwd, hessian, hvp) through a `custom_vjp` function."""


def _custom_call_jvp(rule):
    """Refuse: the user's rule is a VJP; differentiating the function's body instead
    would give a derivative different from reverse mode's (a straight-through estimator
    is zero forward and the identity backward). JAX refuses too. Located by forward.py."""
    name = getattr(getattr(rule, "fn", None), "__name__", "a custom_vjp function")
    raise CustomVJPForwardError(
        f"forward mode through the custom_vjp function {name}: its rule gives reverse mode "
        "only, and differentiating its body instead could give a different derivative",
        None, "use grad, vjp or jacrev (reverse mode applies the rule); for jvp, jacfwd, "
              "hessian or hvp call a plain function (without custom_vjp) here")


def _prod_others_jvp(t, ans, x, axis=None):
    raise UnsupportedError("the second derivative of np.prod (forward mode over its adjoint, "
                           "prod_others) is not implemented", None,
                           "write the product as np.exp(np.sum(np.log(x))) for positive x")


def _cross_entropy_grad_jvp(t, ans, z, y):
    """d/dz (softmax(z) - onehot(y)) / n = the softmax JVP over the last axis, over n
    (rows of z, 1 for a vector)."""
    s = emit_op("softmax", z, axis=z.type.rank - 1)
    ts = _softmax_jvp(t, s, z, axis=z.type.rank - 1)
    return ts if z.type.rank == 1 else ts / emit_op("dim", z, axis=0)


def _stack_push_jvp(ts, ans, st, k, v, cap):
    """The tangent stack gets the tangent of the pushed value (zeros when it has none),
    at the same entry: the tangent stack is carried beside the primal one."""
    tst = ts[0] if ts[0] is not None else emit_op("zeros_like", st)
    tv = ts[2] if ts[2] is not None else _zero_like(v)
    return emit_op("stack_push", tst, k, tv, cap)


def _index_add_jvp(ts, ans, g, acc, *vals, spec):  # acc + g at index: linear in both
    out = ts[1]
    if ts[0] is not None:
        c = emit_op("zeros_with", ts[0], acc, *vals, spec=spec)
        out = c if out is None else out + c
    return out


def _row_add_jvp(ts, ans, acc, i, g):
    out = ts[0]
    if ts[2] is not None:
        c = emit_op("row_scatter", ts[2], acc, i)
        out = c if out is None else out + c
    return out


_RULES = {
    "cast": (lambda t, ans, x: t,),
    "logsumexp": (_lse_jvp,),
    "softmax": (_softmax_jvp,),
    "log_softmax": (_log_softmax_jvp,),
    "cross_entropy": (_cross_entropy_jvp, None),
    "sum": (_sum_jvp,),
    "max": (_extreme_jvp,),
    "min": (_extreme_jvp,),
    "prod": (_prod_jvp,),
    "norm": (_norm_jvp,),
    "matmul": (_matmul_jvp_a, _matmul_jvp_b),
    "outer": (lambda t, ans, a, b: emit_op("outer", t, b), lambda t, ans, a, b: emit_op("outer", a, t)),
    "trace": (lambda t, ans, x: emit_op("trace", t),),
    "transpose": (lambda t, ans, x: t.T,),
    "permute": (lambda t, ans, x, axes: emit_op("permute", t, axes=axes),),
    "reshape": _PerInput(lambda i, t, ans, x, *dims: emit_op("reshape", t, *dims), last=0),
    "reshape_like": (lambda t, ans, x, like: emit_op("reshape_like", t, like), None),
    "expand_dims": (lambda t, ans, x, axis: emit_op("expand_dims", t, axis=axis),),
    "concatenate": Joint(_concat_jvp),
    "stack": Joint(_stack_jvp),
    "pack": Joint(_pack_jvp),
    "getitem": _PerInput(lambda i, t, ans, x, *vals, spec: emit_op("getitem", t, *vals, spec=spec),
                         last=0),
    "take": (lambda t, ans, x, a, axis: emit_op("take", t, a, axis=axis), None),
    "take_pairs": (lambda t, ans, x, a, b, axis: emit_op("take_pairs", t, a, b, axis=axis), None, None),
    "set_index": Joint(_set_index_jvp),
    "add_at": Joint(_add_at_jvp),
    "full": _PerInput(lambda i, t, ans, v, *dims: emit_op("full", t, *dims), last=0),
    "full_like": (None, lambda t, ans, x, v: emit_op("full_like", x, t)),
    # a custom_vjp function has a rule for reverse mode only: forward mode refuses it as
    # soon as its body or an argument carries a tangent
    "custom_call": Joint(lambda ts, ans, r, *ins, rule: _custom_call_jvp(rule)),
    "copy": (lambda t, ans, x: t,),
    "draw_param": (lambda t, ans, v, check: t,),
    "row": (lambda t, ans, x, i: emit_op("row", t, i), None),
    # adjoint helpers: linear in their cotangent input
    "fill_like": (None, lambda t, ans, x, g: emit_op("fill_like", x, t)),
    "broadcast_like": (lambda t, ans, g, x: emit_op("broadcast_like", t, x), None),
    "unbroadcast": (lambda t, ans, g, x: emit_op("unbroadcast", t, x), None),
    "zeros_with": _PerInput(lambda i, t, ans, g, x, *vals, spec:
                            emit_op("zeros_with", t, x, *vals, spec=spec), last=0),
    "take_add": (lambda t, ans, g, x, a, axis: emit_op("take_add", t, x, a, axis=axis), None, None),
    "take_pairs_add": (lambda t, ans, g, x, a, b, axis:
                       emit_op("take_pairs_add", t, x, a, b, axis=axis), None, None, None),
    "pow_dbase": (_pow_dbase_jvp_a, _pow_dbase_jvp_b),
    "pow_dexp": (_pow_dexp_jvp_a, _pow_dexp_jvp_b),
    "prod_others": (_prod_others_jvp,),
    "cross_entropy_grad": (_cross_entropy_grad_jvp, None),
    # stacks of loops (reverse mode): the tangent stack beside the primal one
    "stack_alloc": (None, lambda t, ans, n, like: emit_op("stack_alloc", n, t)),
    "stack_push": Joint(_stack_push_jvp),
    "stack_read": (lambda t, ans, s, k: emit_op("stack_read", t, k), None),
    "row_scatter": (lambda t, ans, g, x, i: emit_op("row_scatter", t, x, i), None, None),
    # the in-place accumulations of compiler/passes/inplace.py, as functional sums
    "index_add": Joint(_index_add_jvp),
    "outer_add": (lambda t, ans, acc, a, b: t, lambda t, ans, acc, a, b: emit_op("outer", t, b),
                  lambda t, ans, acc, a, b: emit_op("outer", a, t)),
    "add_into": (lambda t, ans, acc, c: t, lambda t, ans, acc, c: t),
    "row_add": Joint(_row_add_jvp),
}

# piecewise constant in every input, or constant (their records' `zero_derivative`): no
# tangent rule, and the coverage test tells "zero by design" from "rule missing"
ZERO_DERIVATIVE = frozenset(n for n, p in PRIMS.items() if p.zero_derivative)


# ---- VJP rules of the adjoint helpers (reverse over reverse: grad of a gradient) --------
def _fitted(rule, i):
    """A VJP rule whose result is brought to input i's shape (summed where broadcast)."""
    def fitted(g, ans, *inputs, **attrs):
        c = rule(g, ans, *inputs, **attrs)
        return fit_shape(c, inputs[i]) if c is not None else None
    return fitted


def _diagonal(jvp_rules):
    """An elementwise primitive's VJP rules from its JVP rules (a diagonal derivative is
    its own transpose), each fitted to its input's shape."""
    return tuple(None if r is None else _fitted(r, i) for i, r in enumerate(jvp_rules))


_SECOND_ORDER_VJP = {
    "fill_like": (None, lambda g, ans, x, c: emit_op("sum", g)),
    "broadcast_like": (lambda g, ans, c, x: fit_shape(g, c), None),
    "unbroadcast": (lambda g, ans, c, x: fit_shape(g, c), None),
    "zeros_with": _PerInput(lambda i, g, ans, c, x, *vals, spec:
                            emit_op("getitem", g, *vals, spec=spec), last=0),
    "take_add": (lambda g, ans, c, x, a, axis: emit_op("take", g, a, axis=axis), None, None),
    "take_pairs_add": (lambda g, ans, c, x, a, b, axis:
                       emit_op("take_pairs", g, a, b, axis=axis), None, None, None),
    "row_scatter": (lambda g, ans, c, x, i: emit_op("row", g, i), None, None),
    "pow_dbase": _diagonal(_RULES["pow_dbase"]),
    "pow_dexp": _diagonal(_RULES["pow_dexp"]),
    "prod_others": (_prod_others_jvp,),
    # d/dz of (softmax(z) - onehot(y)) / n is symmetric (softmax's Jacobian): VJP = JVP
    "cross_entropy_grad": (_cross_entropy_grad_jvp, None),
}


def register():
    """Fill the `jvp` field of the records above, and the `vjp` field of the adjoint
    helpers (where it is None). Idempotent."""
    for name, rules in _RULES.items():
        p = PRIMS.get(name)
        if p is not None and p.jvp is None:
            PRIMS[name] = dataclasses.replace(p, jvp=rules)
    for name, rules in _SECOND_ORDER_VJP.items():
        p = PRIMS.get(name)
        if p is not None and p.vjp is None:
            PRIMS[name] = dataclasses.replace(p, vjp=rules)


register()
__all__ = ["Joint", "ZERO_DERIVATIVE", "register"]
