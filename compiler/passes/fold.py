"""Constant folding and algebraic canonicalisation that never changes a value.

Before: any valid graph. After: arithmetic on scalar constants is folded as the
generated code would compute it (Python ints for integers, IEEE float64 as NumPy for
floats: 1.0 / 0.0 folds to inf; an int ** negative int never reaches here, the lowering
makes its base a float); x*1, 1*x, x/1, x-0, x**1, --x and (x.T).T are replaced by x
when that keeps the value's type, as each is exact in IEEE arithmetic, NaN, inf and
-0.0 included (so `2 * residual ** (2 - 1)` from the rule for `**` reads
`2 * residual`). x+0 and 0+x are folded only for integers and for cotangents (the
adjoint sweep): for x = -0.0 they give +0.0. Nothing is reassociated:
`c1 * (c2 * x)` is not `(c1 * c2) * x` in floating point (1e-200 * (1e-200 * 1e300)).
Boolean `not`/`and`/`or` with constant operands fold, and an `if` whose condition is
a constant is replaced by the ops of the branch taken (flags of early return make many);
an `if` whose branches yield the same outer values is replaced by them.
An array updated in place later is never replaced by another value.
"""
import operator

import numpy as np

from ..ir.core import Graph, Op, Value
from ..ir.walk import mutated_values
from ..ir.walk import substitute

_ARITH = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
          "div": operator.truediv, "pow": operator.pow}


def _fold_arith(p, a, b, t):
    """a <p> b for Python scalar constants, typed `t` by the primitive's type rule, or
    None to leave the op to run time. Integers: Python arithmetic (no folding past int64,
    or of a division by zero, which raises at run time). Floats: NumPy float64 arithmetic,
    as the generated code computes it (inf and NaN, no exception)."""
    if t.dtype == "float64":
        with np.errstate(all="ignore"):
            r = _ARITH[p](np.float64(a), np.float64(b))
        return float(r)
    if t.dtype != "int64" or isinstance(a, float) or isinstance(b, float):
        return None
    try:
        r = _ARITH[p](a, b)
    except ZeroDivisionError:
        return None
    if not isinstance(r, int) or not -2**63 <= r < 2**63:
        return None
    return r


def fold(graph: Graph) -> Graph:
    repl = {}
    ops = _fold(graph.ops, {}, {}, repl, mutated_values(graph.ops))
    return graph.replace(ops=ops, results=tuple(repl.get(r, r) for r in graph.results))


def _fold(ops_in, consts, defs, repl, mutated):
    """consts: Value -> python scalar; defs: Value -> defining op (enclosing scopes too)."""
    ops = []
    for op in ops_in:
        op = substitute(op, repl)
        if op.prim == "if" and isinstance(consts.get(op.condition), bool):
            taken = op.regions[0 if consts[op.condition] else 1]
            inner = _fold(taken.ops, consts, defs, repl, mutated)  # inline the branch taken
            ops.extend(inner)
            for out, res in zip(op.outputs, taken.results):
                repl[out] = repl.get(res, res)
            continue
        if op.regions:
            regions = []
            for r in op.regions:
                inner = _fold(r.ops, dict(consts), dict(defs), repl, mutated)
                regions.append(r.replace(ops=inner, results=tuple(repl.get(v, v) for v in r.results)))
            if op.prim == "if" and regions[0].results == regions[1].results and all(
                    not _defined_in(v, regions) for v in regions[0].results):
                # both branches yield the same outer values: the if is those values
                repl.update(zip(op.outputs, regions[0].results))
                continue
            ops.append(op.with_(regions=tuple(regions)))
            continue
        new = op if op.out in mutated else _fold_op(op, consts, defs)
        if isinstance(new, Value):
            repl[op.out] = new
            continue
        for op in (new if isinstance(new, list) else [new]):
            if op.prim == "const" and isinstance(op.attr("value"), (bool, int, float)):
                consts[op.out] = op.attr("value")
            defs[op.out] = op
            ops.append(op)
    return tuple(ops)


def _defined_in(v, regions):
    return any(v in op.outputs for r in regions for op in r.ops) or any(
        v in r.params for r in regions)


def _const_op(op, value):
    return Op("const", (), (op.out,), (("value", value),), op.loc, op.phase)


def _fold_op(op, consts, defs):
    """Return a replacement Value, a list of new ops, or op itself."""
    p, ins = op.prim, op.inputs
    t = op.out.type
    if p in _ARITH and all(v in consts for v in ins):
        r = _fold_arith(p, *(consts[v] for v in ins), t)
        return op if r is None else _const_op(op, r)
    if p == "cast" and ins[0] in consts and t.rank == 0:
        return _const_op(op, float(consts[ins[0]]))
    if p == "neg" and ins[0] in consts:
        return _const_op(op, -consts[ins[0]])
    if p == "not" and ins[0] in consts:
        return _const_op(op, not consts[ins[0]])
    if p in ("and", "or"):
        a, b = (consts.get(v) for v in ins)
        absorbing, neutral = (False, True) if p == "and" else (True, False)
        if absorbing in (a, b) and (a is absorbing or b is absorbing):
            return _const_op(op, absorbing)
        if a is neutral:
            return ins[1]
        if b is neutral:
            return ins[0]
    c = [consts.get(v) for v in ins]
    same = lambda v: v.type == t  # noqa: E731
    if p == "mul":
        if c[1] == 1 and same(ins[0]):
            return ins[0]
        if c[0] == 1 and same(ins[1]):
            return ins[1]
    if p == "div" and c[1] == 1 and same(ins[0]):
        return ins[0]
    if p == "add" and (t.dtype != "float64" or op.phase == "adjoint"):  # -0.0 + 0 is +0.0
        if c[1] == 0 and same(ins[0]):
            return ins[0]
        if c[0] == 0 and same(ins[1]):
            return ins[1]
    if p == "sub" and c[1] == 0 and same(ins[0]):
        return ins[0]
    if p == "pow" and c[1] == 1 and same(ins[0]):
        return ins[0]
    if p == "neg":
        d = defs.get(ins[0])
        if d is not None and d.prim == "neg" and same(d.inputs[0]):
            return d.inputs[0]
    if p == "transpose":
        d = defs.get(ins[0])
        if d is not None and d.prim == "transpose":
            return d.inputs[0]
    return op
