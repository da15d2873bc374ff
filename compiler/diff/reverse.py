"""Reverse mode: primal graph -> adjoint graph (the lecture's backpropagation).

Forward sweep: the primal ops, unchanged, computing each f_i (leaves to root).
Backward sweep: ops appended in reverse order computing g_i = d loss / d f_i (root to
leaves): g_loss = 1; for each op, each active float input x gets the contribution
VJP(g_out) from the primitive table, summed back to x's shape when NumPy broadcast it
(unbroadcast), and added to what x already has (a value used twice gets its
cotangents summed).

Guarantees: the result graph has the primal's parameters and results
`(loss, g_<wrt_1>, ..., g_<wrt_k>)`; each gradient has its parameter's shape (a zero of
that shape when the loss does not depend on it); the final cotangent of a user-named
value is named `g_<name>`. Only values that depend on a `wrt` parameter (activity
analysis) get cotangents.
"""
from __future__ import annotations

from ..errors import ArgumentError
from ..ir.builder import Builder
from ..ir.core import Graph, Op, Value
from ..primitives import PRIMS
from .shapes import ShapeClasses


def reverse(graph: Graph, wrt: tuple[int, ...], cotangents: list | None = None) -> Graph:
    """`cotangents`, if given, receives (primal value, its final cotangent) pairs, root
    first, for every value that has one (used by compiler/interp.py for g_i)."""
    loss = graph.results[0]
    if loss.type.rank != 0:
        raise ArgumentError(f"{graph.name} returns an array of rank {loss.type.rank}; "
                            "a gradient needs a scalar loss",
                            graph.ops[-1].loc if graph.ops else None,
                            "reduce it first, e.g. np.sum(...) or np.mean(...)")
    shapes = ShapeClasses(graph)
    active = _activity(graph, {graph.params[i] for i in wrt})
    b = Builder(phase="adjoint")
    ct: dict = {}
    final: list = []  # (primal value, its final cotangent), root first

    def accumulate(x, c):
        ct[x] = c if x not in ct else ct[x] + c

    ret_loc = graph.ops[-1].loc if graph.ops else None
    with b, b.at(ret_loc, "adjoint"):
        if loss in active:
            ct[loss] = b.const(1.0)
        for op in reversed(graph.ops):
            g = ct.get(op.out)
            if g is None:
                continue
            final.append((op.out, g))
            p = PRIMS[op.prim]
            if p.vjp is None:
                continue
            with b.at(op.loc, "adjoint"):
                for i, x in enumerate(op.inputs):
                    rule = p.vjp[i]
                    if rule is None or x not in active:
                        continue
                    c = rule(g, op.out, *op.inputs, **dict(op.attrs))
                    if c is None:
                        continue
                    if p.broadcasts and not shapes.same(x, op.out):
                        c = (b.emit("sum", c) if x.type.rank == 0
                             else b.emit("unbroadcast", c, x))
                    accumulate(x, c)
        grads = []
        for i in wrt:
            x = graph.params[i]
            if x in ct:
                final.append((x, ct[x]))
                grads.append(ct[x])
            else:
                grads.append(b.const(0.0) if x.type.rank == 0 else b.emit("zeros_like", x))
    ops, repl = _name_cotangents(b.ops, final)
    grads = [repl.get(v, v) for v in grads]
    if cotangents is not None:
        cotangents.extend((x, repl.get(c, c)) for x, c in final)
    names = ("loss",) + tuple("g_" + graph.params[i].hint for i in wrt)
    return graph.replace(ops=graph.ops + tuple(ops), results=(loss, *grads), result_names=names)


def _activity(graph: Graph, seeds: set) -> set:
    """Values that depend on a seed through differentiable, float-valued ops."""
    active = set(v for v in seeds if v.type.is_float)
    for op in graph.ops:
        p = PRIMS[op.prim]
        if p.vjp is None:
            continue
        if any(v in active for v in op.inputs):
            active.update(v for v in op.outputs if v.type.is_float)
    return active


def _name_cotangents(ops, final):
    """Rename each final cotangent of a named value x to g_x (first, root-most wins)."""
    defined = {op.out: op for op in ops}
    hints = {}
    for x, c in final:
        if x.hint and c in defined and not c.hint and c not in hints:
            hints[c] = "g_" + x.hint
    repl = {}
    out = []
    for op in ops:
        ins = tuple(repl.get(v, v) for v in op.inputs)
        outs = op.outputs
        if op.out in hints:
            new = Value(op.out.type, hints[op.out])
            repl[op.out] = new
            outs = (new,)
        out.append(Op(op.prim, ins, outs, op.attrs, op.loc, op.phase))
    return out, repl
