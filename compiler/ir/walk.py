"""Traversals of ops with nested regions (structured control flow).

Guarantees: `substitute` replaces uses (inputs and region results) at every depth and
never definitions; `walk` yields every op at every depth, outer before inner;
`free_values` lists the values a region uses but does not define, in first-use order.
"""
from __future__ import annotations

from .core import Op, Region
from .registry import PRIMS


def substitute(op: Op, repl: dict) -> Op:
    """`op` with every use of a key of `repl` replaced by its value, at every depth."""
    if not repl:
        return op
    ins = tuple(repl.get(v, v) for v in op.inputs)
    regions = tuple(substitute_region(r, repl) for r in op.regions)
    if ins == op.inputs and all(a is b for a, b in zip(regions, op.regions)):
        return op
    return op.with_(inputs=ins, regions=regions)


def substitute_region(r: Region, repl: dict) -> Region:
    ops = tuple(substitute(o, repl) for o in r.ops)
    res = tuple(repl.get(v, v) for v in r.results)
    if res == r.results and all(a is b for a, b in zip(ops, r.ops)):
        return r
    return r.replace(ops=ops, results=res)


def walk(ops):
    for op in ops:
        yield op
        for r in op.regions:
            yield from walk(r.ops)


def free_values(region: Region) -> list:
    """Values used inside `region` (at any depth) that it does not define."""
    defined = set(region.params)
    free: dict = {}

    def visit(ops, defined):
        for op in ops:
            for v in op.inputs:
                if v not in defined:
                    free.setdefault(v, None)
            for r in op.regions:
                inner = set(defined) | set(r.params)
                visit(r.ops, inner)
                for v in r.results:
                    if v not in inner and v not in _defs(r.ops):
                        free.setdefault(v, None)
            defined.update(op.outputs)

    visit(region.ops, defined)
    for v in region.results:
        if v not in defined and v not in _defs(region.ops):
            free.setdefault(v, None)
    return list(free)


def _defs(ops) -> set:
    return {v for op in ops for v in op.outputs}




def mutated_values(ops) -> set:
    """Values some op updates in place, and the values those ops return (the same
    arrays). Passes must neither merge (CSE) nor alias (folding) them."""
    out = set()
    for op in walk(ops):
        k = PRIMS[op.prim].writes
        if k is not None:
            out.add(op.inputs[k])
            out.add(op.out)
    # a loop-carried or branch-merged array is one array under several SSA names
    groups = []
    for op in walk(ops):
        if op.prim in ("for", "while"):
            for j, init in enumerate(op.inits):
                g = {init, op.outputs[j]}
                for r in op.regions:
                    g.add(op.carried(r)[j])
                g.add(op.regions[-1].results[j])
                groups.append(g)
        elif op.prim == "if":
            for j, o in enumerate(op.outputs):
                groups.append({o} | {r.results[j] for r in op.regions})
    changed = True
    while changed:
        changed = False
        for g in groups:
            if g & out and not g <= out:
                out |= g
                changed = True
    return out
