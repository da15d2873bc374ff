"""Text form of a graph, in the style of a jaxpr.

    { lambda x:f64[?] y:f64 w:f64[?] .
      let t1:f64 = matmul w x                  # loss.py:3
          residual:f64 = sub t1 y              # loss.py:3
      in (loss) }

Guarantees: every value prints under one unique name (the user's name where there is
one, with a numeric suffix for reassignments; t1, t2, ... for temporaries).
"""
from __future__ import annotations

import os


def unique_names(graph, reserved=()) -> dict:
    """Value -> unique identifier: params keep their names; others use their hint."""
    taken = set(reserved)
    names = {}
    counter = {"t": 0}

    def fresh(base):
        if base and base not in taken:
            taken.add(base)
            return base
        stem = base or "t"
        while True:
            counter[stem] = counter.get(stem, 0) + 1
            cand = f"{stem}_{counter[stem]}" if base else f"t{counter[stem]}"
            if cand not in taken:
                taken.add(cand)
                return cand

    for p in graph.params:
        names[p] = fresh(p.hint)

    def visit(ops):
        for op in ops:
            for r in op.regions:
                for p in r.params:
                    names[p] = fresh(p.hint)
                visit(r.ops)
            for v in op.outputs:
                names[v] = fresh(v.hint)
    visit(graph.ops)
    return names


def format_graph(graph) -> str:
    names = unique_names(graph)
    params = " ".join(f"{names[p]}:{p.type}" for p in graph.params)
    lines = [f"{{ lambda {params} ."]
    body = []
    _format_ops(graph.ops, names, body, 0)
    width = max((len(a) for a, _ in body), default=0)
    for i, (a, c) in enumerate(body):
        lines.append(("  let " if i == 0 else "      ") + a.ljust(width) + c)
    lines.append(f"  in ({', '.join(names[v] for v in graph.results)}) }}")
    return "\n".join(lines)


def _format_ops(ops, names, body, depth):
    pad = "  " * depth
    for op in ops:
        outs = " ".join(f"{names[v]}:{v.type}" for v in op.outputs)
        args = " ".join(names[v] for v in op.inputs)
        attrs = " ".join(f"{k}={v}" for k, v in op.attrs)
        rhs = " ".join(s for s in (op.prim, attrs, args) if s)
        loc = f"  # {os.path.basename(op.loc.file)}:{op.loc.line}" if op.loc else ""
        tag = "" if op.phase == "primal" else " [adj]"
        lhs = f"{outs} = " if outs else ""
        body.append((f"{pad}{lhs}{rhs}" + (" {" if op.regions else ""), f"{loc}{tag}"))
        for k, r in enumerate(op.regions):
            if k:
                body.append((f"{pad}}} {{", ""))
            ps = " ".join(f"{names[p]}:{p.type}" for p in r.params)
            body.append((f"{pad}  ({ps}) ->" if ps else f"{pad}  () ->", ""))
            _format_ops(r.ops, names, body, depth + 2)
            body.append((f"{pad}    yield ({', '.join(names[v] for v in r.results)})", ""))
        if op.regions:
            body.append((f"{pad}}}", ""))
