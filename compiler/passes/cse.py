"""Common-subexpression elimination.

Before: any valid graph. After: no two ops have the same primitive, inputs, attributes
and output type; later duplicates are replaced by the first (the user-named one wins
when a duplicate carries a name and the first does not is not attempted: the first
definition keeps its name).
"""
from ..ir.core import Graph
from .subst import substitute


def cse(graph: Graph) -> Graph:
    seen = {}
    repl = {}
    ops = []
    for op in graph.ops:
        op = substitute(op, repl)
        attrs = tuple((k, type(v), v) for k, v in op.attrs)
        key = (op.prim, tuple(v.id for v in op.inputs), attrs, op.out.type)
        if key in seen:
            repl[op.out] = seen[key]
            continue
        seen[key] = op.out
        ops.append(op)
    return graph.replace(ops=tuple(ops), results=tuple(repl.get(r, r) for r in graph.results))
