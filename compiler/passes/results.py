"""Results that own their memory.

Before: any valid graph. After: the same values are returned, and no array result can
share memory with a parameter, a constant array (a module global of the generated code)
or another result. Where one might, the result is returned as a `copy`:
- a result that is a parameter, or a view of one (`x.T`, `x[1:]`, a reshape): folding
  `1.0 * v` to `v` makes the gradient of `w @ v` with respect to `w` the caller's `v`;
- the same array returned twice (the cotangents of two arguments that are one value);
- a constant array, which later calls would see changed.

So a caller may update gradients in place (`w -= lr * gw; v -= lr * gv`, `g *= 0`)
without changing its own data, another gradient or the next call's result.

Which op outputs may share memory with which inputs is the `aliases` field of each
primitive (compiler/primitives.py); an op without it returns a new array. Loop-carried
and branch-merged values may share memory with every value that flows into them.
"""
from ..ir.core import ConstArray, Graph, Op, Value
from ..ir.registry import PRIMS


def copy_aliased_results(graph: Graph) -> Graph:
    roots = {p: frozenset((p,)) for p in graph.params}
    external = set(graph.params)
    _scan(graph.ops, roots, external, PRIMS)
    seen, results, copies = set(), [], []
    names = graph.result_names or (None,) * len(graph.results)
    for r, name in zip(graph.results, names):
        share = roots.get(r, frozenset((r,)))
        if r.type.rank and (share & external or share & seen):
            c = Value(r.type, name or r.hint)
            copies.append(Op("copy", (r,), (c,), (), None, "adjoint"))
            r, share = c, frozenset((c,))
        seen |= share
        results.append(r)
    if not copies:
        return graph
    return graph.replace(ops=graph.ops + tuple(copies), results=tuple(results))


def _scan(ops, roots, external, prims):
    """roots[v]: the values whose memory v may share (v itself for a new array)."""
    get = lambda v: roots.get(v, frozenset((v,)))  # noqa: E731
    for op in ops:
        if op.prim == "const" and isinstance(op.attr("value"), ConstArray):
            external.add(op.out)
        if op.regions:
            _scan_control(op, roots, external, prims, get)
            continue
        share = frozenset().union(*(get(op.inputs[i]) for i in prims[op.prim].aliases))
        for o in op.outputs:
            roots[o] = share | {o}


def _scan_control(op, roots, external, prims, get):
    if op.prim == "if":
        for r in op.regions:
            _scan(r.ops, roots, external, prims)
        for j, o in enumerate(op.outputs):
            roots[o] = frozenset((o,)).union(*(get(r.results[j]) for r in op.regions))
        return
    # for/while: a carried value may be its initial value or any body result, from any
    # earlier trip: iterate to a fixed point (each round can only grow the sets)
    body = op.body
    carried = [op.carried(r) for r in op.regions]
    share = [get(x) for x in op.inits]
    while True:
        for params in carried:
            for j, p in enumerate(params):
                roots[p] = share[j] | {p}
        for r in op.regions:
            _scan(r.ops, roots, external, prims)
        new = [share[j] | get(body.results[j]) for j in range(len(share))]
        if new == share:
            break
        share = new
    for j, o in enumerate(op.outputs):
        roots[o] = share[j] | {o}
