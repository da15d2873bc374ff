"""Dead-code elimination.

Before: any valid graph. After: the same results; every op's output is used by a later
op (at any depth) or is a result (all primitives are pure, so nothing else is kept).
Inside regions, ops that no region result depends on are dropped; the carried values
of loops and the results of branches are all kept.
"""
from ..ir.core import Graph


def dce(graph: Graph) -> Graph:
    ops, _ = _dce(graph.ops, set(graph.results))
    return graph.replace(ops=ops)


def _dce(ops, live):
    """(kept ops, values they use from outside)"""
    live = set(live)
    kept = []
    for op in reversed(ops):
        if not any(v in live for v in op.outputs):
            continue
        if op.regions:
            op = op.with_(regions=tuple(_region(r, live) for r in op.regions))
        kept.append(op)
        live.update(op.inputs)
    return tuple(reversed(kept)), live


def _region(r, live_outer):
    ops, used = _dce(r.ops, set(r.results))
    live_outer.update(used)
    return r.replace(ops=ops)
