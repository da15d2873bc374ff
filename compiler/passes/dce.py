"""Dead-code elimination.

Before: any valid graph. After: the same results; every op's output is used by a later
op (at any depth) or is a result (all primitives are pure: an in-place update writes
only an array that nothing else reads, see passes/inplace.py, so nothing else is kept).
Inside regions, ops that no region result depends on are dropped; a loop-carried value
is dropped when nothing after the loop reads it and the loop reads it only to compute
it again (a stack of the forward sweep that the backward sweep never reads, a counter
of iterations nobody asks for): its initial value, block parameter, update and output
go together. The results of branches are all kept.
"""
from ..ir.core import Graph, Region


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
        if op.prim in ("for", "while"):
            op = _loop(op, live)
        elif op.regions:
            op = op.with_(regions=tuple(_region(r, live) for r in op.regions))
        kept.append(op)
        live.update(op.inputs)
    return tuple(reversed(kept)), live


def _region(r, live_outer):
    ops, used = _dce(r.ops, set(r.results))
    live_outer.update(used)
    return r.replace(ops=ops)


def _loop(op, live_outer):
    """op with only its live carried values: those read after the loop, and those the
    live ones (or the condition of a `while`) are computed from (a fixed point)."""
    body = op.body
    slots = {j for j, o in enumerate(op.outputs) if o in live_outer}
    while True:
        _, used = _dce(body.ops, {body.results[j] for j in slots})
        needed = {j for j, p in enumerate(op.carried()) if p in used}
        if op.prim == "while":
            _, cused = _dce(op.cond_region.ops, set(op.cond_region.results))
            needed |= {j for j, p in enumerate(op.carried(op.cond_region)) if p in cused}
        if needed <= slots:
            break
        slots |= needed
    keep = sorted(slots)
    pick = lambda seq: tuple(seq[j] for j in keep)  # noqa: E731
    head = op.bounds if op.prim == "for" else ()
    regions = []
    for r in op.regions:
        params = ((r.params[0],) if op.prim == "for" else ()) + pick(op.carried(r))
        results = pick(r.results) if r is body else r.results
        regions.append(_region(Region(params, r.ops, results), live_outer))
    return op.with_(inputs=head + pick(op.inits), outputs=pick(op.outputs),
                    regions=tuple(regions))
