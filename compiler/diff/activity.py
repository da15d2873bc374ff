"""Activity analysis, shared by reverse mode (diff/reverse.py) and forward mode
(diff/forward.py): which values depend on the differentiated parameters.

Guarantees: `activity(ops, active, differentiable)` adds to `active` every float value
that depends on a value already in it through ops with a nonzero derivative
(`differentiable(op)`: the op's primitive has a VJP rule for reverse mode, a JVP rule
for forward mode; the two tables cover the same primitives,
tests/test_forward.py checks it), at any depth: an `if`'s output is active when a
branch's result is; a loop's carried value is active when its initial value or the
body's result for it is (a fixpoint over the body), and so are a `while` condition's
parameters for an active carried value, and the loop's output. Integer and boolean
values are never active (no derivative).
"""
from __future__ import annotations


def activity(ops, active: set, differentiable) -> None:
    """Add the values of `ops` that depend on `active` ones to `active` (see the module
    docstring). differentiable: op -> bool."""
    for op in ops:
        if op.prim == "if":
            for r in op.regions:
                activity(r.ops, active, differentiable)
            for j, out in enumerate(op.outputs):
                if out.type.is_float and any(r.results[j] in active for r in op.regions):
                    active.add(out)
        elif op.prim in ("for", "while"):
            _loop(op, active, differentiable)
        elif differentiable(op) and any(v in active for v in op.inputs):
            active.update(v for v in op.outputs if v.type.is_float)


def _loop(op, active: set, differentiable) -> None:
    body, params = op.body, op.carried()
    for p, x in zip(params, op.inits):
        if x in active and p.type.is_float:
            active.add(p)
    while True:  # a fixpoint: a carried value becomes active through the body
        before = len(active)
        activity(body.ops, active, differentiable)
        for p, r in zip(params, body.results):
            if r in active and p.type.is_float:
                active.add(p)
        if len(active) == before:
            break
    if op.prim == "while":
        for p, q in zip(op.carried(op.cond_region), params):
            if q in active:
                active.add(p)
    for out, p in zip(op.outputs, params):
        if p in active:
            active.add(out)
