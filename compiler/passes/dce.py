"""Dead-code elimination.

Before: any valid graph. After: the same results; every op's output is used by a later
op or is a result (all primitives are pure, so nothing else is kept).
"""
from ..ir.core import Graph


def dce(graph: Graph) -> Graph:
    live = set(graph.results)
    kept = []
    for op in reversed(graph.ops):
        if any(v in live for v in op.outputs):
            kept.append(op)
            live.update(op.inputs)
    return graph.replace(ops=tuple(reversed(kept)))
