"""Common-subexpression elimination.

Before: any valid graph. After: no two ops (outside control ops) have the same
primitive, inputs, attributes and output type where the first dominates the second;
later duplicates are replaced by the first. Arrays updated in place (stacks,
accumulated cotangents) are never merged. Inside a region, an op may be replaced by
an equal op of an enclosing region (which dominates it), never the other way.
"""
import math

from ..ir.core import ConstArray, Graph
from ..ir.walk import mutated_values, substitute


def _attr_key(v):
    """An attribute as a CSE key: equal keys only for the same constant. 0.0 == -0.0 in
    Python, but they are different constants (1 / -0.0 is -inf), so the sign is part of
    a float's key, also inside a constant array."""
    if isinstance(v, float):
        return v, math.copysign(1.0, v)
    if isinstance(v, ConstArray) and v.dtype == "float64":
        return v, tuple(math.copysign(1.0, x) for x in v.data)
    return v


def cse(graph: Graph) -> Graph:
    repl = {}
    ops = _cse(graph.ops, {}, repl, mutated_values(graph.ops))
    return graph.replace(ops=ops, results=tuple(repl.get(r, r) for r in graph.results))


def _cse(ops, seen, repl, mutated):
    out = []
    for op in ops:
        op = substitute(op, repl)
        if op.regions:
            regions = []
            for r in op.regions:
                inner = _cse(r.ops, dict(seen), repl, mutated)
                regions.append(r.replace(ops=inner, results=tuple(repl.get(v, v) for v in r.results)))
            out.append(op.with_(regions=tuple(regions)))
            continue
        if op.out in mutated:  # an array updated in place is never shared
            out.append(op)
            continue
        attrs = tuple((k, type(v), _attr_key(v)) for k, v in op.attrs)
        key = (op.prim, tuple(v.id for v in op.inputs), attrs, op.out.type)
        if key in seen:
            repl[op.out] = seen[key]
            continue
        seen[key] = op.out
        out.append(op)
    return tuple(out)
