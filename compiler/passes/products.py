"""Transposed products of cotangents, computed C-ordered.

Before and after: any valid graph. Reverse mode gives the cotangent of `W` in
`X @ W.T` as `(A.T @ B).T` (the matmul rule, then the transpose rule): an F-ordered
view of a fresh product, which the update of a training step then copies into a flat
C-ordered array. Where the adjoint sweep transposes a rank-2 product of two rank-2
operands that nothing else reads, this pass computes `B.T @ A.T` in its place (the
same sums of the same products; BLAS may add them in another order, as for any
product), named as the transpose was, at the product's position (so it reads its
operands when the product did). The operands' transposes are views, and the fold
pass that follows turns `(A.T).T` back into `A`. Primal ops are never changed: the
user's `(A @ B).T` is what NumPy computes. (profile.md §6; issue 16.)
"""
from collections import Counter

from ..ir.core import Graph, Op, Value
from ..ir.walk import walk


def transposed_products(graph: Graph) -> Graph:
    uses = Counter(v for op in walk(graph.ops) for v in op.inputs)
    uses.update(graph.results)
    for op in walk(graph.ops):
        for r in op.regions:
            uses.update(r.results)
    return graph.replace(ops=_rewrite(graph.ops, uses))


def _rewrite(ops, uses):
    defs = {op.out: op for op in ops if len(op.outputs) == 1}
    swap = {}  # id of the product op -> the transpose op that reads it
    for op in ops:
        d = defs.get(op.inputs[0]) if op.prim == "transpose" and not op.attrs else None
        if (d is not None and d.prim == "matmul" and op.phase == d.phase == "adjoint"
                and uses[d.out] == 1 and d.out.type.rank == 2 and d.out.type.dtype == "float64"
                and all(v.type.rank == 2 for v in d.inputs)):
            swap[id(d)] = op
    dropped = {id(t) for t in swap.values()}
    out = []
    for op in ops:
        if op.regions:
            op = op.with_(regions=tuple(r.replace(ops=_rewrite(r.ops, uses)) for r in op.regions))
        t = swap.get(id(op))
        if t is not None:
            a, b = op.inputs
            bt, at = Value(b.type), Value(a.type)
            out += [Op("transpose", (b,), (bt,), (), op.loc, op.phase),
                    Op("transpose", (a,), (at,), (), op.loc, op.phase),
                    Op("matmul", (bt, at), (t.out,), (), op.loc, op.phase)]
        elif id(op) not in dropped:
            out.append(op)
    return tuple(out)
