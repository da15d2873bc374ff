"""Graphs built from forward and reverse mode: seeded gradients (VJP), Hessian-vector
products, and whole Jacobians and Hessians as loops over basis seeds.

- `vjp_graph(primal, wrt)`: reverse mode with a seed cotangent `ct` (the output's
  shape) instead of 1: the gradient of the scalar <f(x), ct> is J^T ct. Parameters: the
  primal's and `ct`; results: f(x), then J^T ct per `wrt` entry.
- `hvp_graph(primal, wrt)`: forward-over-reverse, the JVP of the adjoint graph seeded
  at `wrt`: parameters the primal's and one tangent `t_<name>` per `wrt` entry;
  results: the Hessian-vector product per `wrt` entry (the tangents of the gradients).
  Its cost is one tangent sweep of the forward and backward sweeps (about 2-4 times a
  gradient); the Hessian is never formed.
- `basis_graph(graph, n, like, outputs, templates)`: the Jacobian of `outputs` (values
  of `graph`, linear in its seed parameters `graph.params[n:]`) with respect to the
  seeds, one loop per seed over the basis vectors of its shape (`like[i]`); the ops that
  do not depend on the seeds (the primal and, for a Hessian, the gradient) are hoisted
  out of the loops and run once; each trip pushes its outputs onto a preallocated stack
  `(size, *shape)` (in place), reshaped after the loop. So a Hessian of w (n entries) is
  one forward and backward sweep plus n tangent sweeps, in one generated function.

Jacobian layout (as JAX): J[o][i] has shape `shape(output o) + shape(seed i)`; a
Hessian block H[i][k] has shape `shape(w_i) + shape(w_k)`.
"""
from __future__ import annotations

from ..ir.builder import _SCALARS, Builder
from ..ir.core import I64, Graph, Region, Type, Value
from ..ir.walk import free_values, walk
from ..passes.dce import dce
from ..passes.fold import fold
from . import forward
from .reverse import reverse


# ---- seeded reverse mode and forward-over-reverse --------------------------------------
def vjp_graph(primal: Graph, wrt: tuple) -> Graph:
    y = primal.results[0]
    ct = Value(Type("float64", y.type.rank), "ct")
    b = Builder(phase="primal")
    loc = primal.ops[-1].loc if primal.ops else None
    with b, b.at(loc):
        y_f = y if y.type.is_float else b.emit("cast", y)
        s = b.emit("mul", y_f, ct)
        if y.type.rank:
            s = b.emit("sum", s)
    seeded = primal.replace(params=primal.params + (ct,), ops=primal.ops + tuple(b.ops),
                            results=(s,), result_names=("loss",))
    adj = reverse(seeded, wrt)
    names = ("value",) + tuple("vjp_" + primal.params[i].hint for i in wrt)
    return adj.replace(results=(y,) + adj.results[1:], result_names=names)


def folded(adj: Graph) -> Graph:
    """adj with scalar arithmetic on constants folded (`2 * r ** (2 - 1)` reads `2 * r`),
    its constants known to the rules (`scalar_constant`), so that forward mode applies
    the rule of a constant power (`2 * t_r`) rather than the general one."""
    adj = fold(adj)
    for op in walk(adj.ops):
        if op.prim == "const" and isinstance(op.attr("value"), (int, float)):
            _SCALARS.setdefault(op.out, op.attr("value"))
    return adj


def hvp_graph(primal: Graph, wrt: tuple) -> Graph:
    adj = folded(reverse(primal, wrt))
    h = forward.jvp(adj, wrt)
    k = len(adj.results)
    t_grads = h.results[k + 1:]  # tangents of g_<wrt>: skip the loss and its tangent
    return h.replace(results=t_grads, result_names=h.result_names[k + 1:])


def jvp_graph(primal: Graph, wrt: tuple) -> Graph:
    return forward.jvp(primal, wrt, ("value",))


# ---- Jacobians as loops over basis seeds -----------------------------------------------
def clone_ops(ops, subst: dict) -> list:
    """Copies of `ops` with fresh values throughout (SSA: each value defined once), uses
    renamed by `subst` (which receives the copies' values)."""
    out = []
    for op in ops:
        regions = tuple(_clone_region(r, subst) for r in op.regions)
        outs = tuple(Value(v.type, v.hint) for v in op.outputs)
        if op.prim == "const" and isinstance(op.attr("value"), (int, float)):
            _SCALARS[outs[0]] = op.attr("value")  # rules read scalar constants (d/da a ** 2)
        ins = tuple(subst.get(v, v) for v in op.inputs)
        subst.update(zip(op.outputs, outs))
        out.append(op.with_(inputs=ins, outputs=outs, regions=regions))
    return out


def _clone_region(r: Region, subst: dict) -> Region:
    params = tuple(Value(p.type, p.hint) for p in r.params)
    subst.update(zip(r.params, params))
    ops = clone_ops(r.ops, subst)
    return Region(params, tuple(ops), tuple(subst.get(v, v) for v in r.results))


def split_invariant(ops, variant: set) -> tuple[list, list]:
    """(ops that do not depend on `variant` values, at any depth; the others, which
    `variant` receives the outputs of), each in their order."""
    inv, var = [], []
    for op in ops:
        uses = set(op.inputs)
        for r in op.regions:
            uses.update(free_values(r))
        if uses & variant:
            var.append(op)
            variant.update(op.outputs)
        else:
            inv.append(op)
    return inv, var


def _dims(b, v):
    return [b.emit("dim", v, axis=a) for a in range(v.type.rank)]


def _zero(b, v):
    return b.const(0.0) if v.type.rank == 0 else b.emit("zeros_like", v)


def basis_graph(base: Graph, seeded: list, like: list, templates: list, columns: bool,
                names: tuple) -> Graph:
    """The Jacobian blocks of linear functions of seeds (see the module docstring).

    base: the graph whose values are computed once, first (the primal, or the adjoint
    graph for a Hessian). seeded: one (graph, outputs) per seed: a graph with base's
    parameters and the seed as its last parameter, holding base's ops (the same values:
    forward mode keeps the primal ops) and ops linear in the seed, and the values whose
    derivative with respect to the seed is wanted. like[i]: a value of seed i's shape
    defined in base; templates[o]: one of output o's shape, defined in base. `columns`:
    the seeds are the Jacobian's columns (forward mode: block shape output + seed), else
    its rows (reverse mode and Hessians: block shape seed + output). Returns a graph with
    base's parameters and one result per (output, seed) block, output-major.

    Each seeded graph is pruned first: its base values stay live, so a loop whose
    tangent nobody reads is base's loop again and runs once; ops that do not depend on
    the seed run once, before the loops."""
    keep = [v for op in base.ops for v in op.outputs]
    # the loops' own ops (basis vectors, stacks) belong to no user line: no comment, and
    # the phase of base's last op (no new sweep heading in the generated source)
    b = Builder(phase=base.ops[-1].phase if base.ops else "primal")
    defined = set(base.params) | set(keep)
    blocks = {}
    with b:
        b.ops.extend(base.ops)
        for i, ((graph, outputs), lv) in enumerate(zip(seeded, like)):
            seed = graph.params[-1]
            live = [v for v in list(outputs) + keep if v not in graph.params]
            graph = dce(graph.replace(results=tuple(live)))
            inv, var = split_invariant(graph.ops, {seed})
            moved = {}  # outputs of base's ops that the seeded graph's copies add
            for op in inv:
                if all(v in defined for v in op.outputs):
                    continue
                if any(v in defined for v in op.outputs):
                    # base's loop carrying a tangent that does not depend on the seed (a
                    # linear function's): a copy of the loop computes it, fresh throughout
                    (copy,) = clone_ops([op], dict(moved))
                    moved.update((v, w) for v, w in zip(op.outputs, copy.outputs)
                                 if v not in defined)
                    op = copy
                else:
                    (op,) = clone_ops([op], dict(moved)) if moved else (op,)
                b.ops.append(op)
                defined.update(op.outputs)
            if lv.type.rank == 0:  # one basis vector: no loop
                subst = {**moved, seed: b.const(1.0)}
                b.ops.extend(clone_ops(var, subst))
                for o, out in enumerate(outputs):
                    blocks[o, i] = subst.get(out, out)
                continue
            blocks.update(_basis_loop(b, i, seed, lv, var, outputs, templates, columns, moved))
    n_out = len(seeded[0][1])
    results = tuple(blocks[o, i] for o in range(n_out) for i in range(len(seeded)))
    return Graph(base.name, base.params, tuple(b.ops), results, names)


def _basis_loop(b, i, seed, lv, var, outputs, templates, columns, moved):
    size = b.emit("size", lv)
    zeros = b.emit("zeros", size)  # basis vector j: a copy with entry j set (O(size) a trip)
    stacks0 = [b.emit("stack_alloc", size, tpl) for tpl in templates]
    j = Value(I64, "j")
    st_params = [Value(st.type, "jac") for st in stacks0]
    body = b.child()
    with body:
        e_j = body.emit("set_index", zeros, 1.0, j, spec=("i",))
        subst = {**moved, seed: body.emit("reshape_like", e_j, lv)}
        body.ops.extend(clone_ops(var, subst))
        pushed = []
        for st, out, tpl in zip(st_params, outputs, templates):
            v = subst.get(out, out)
            pushed.append(body.emit("stack_push", st, j, v, size))
    region = Region((j, *st_params), tuple(body.ops), tuple(pushed))
    stacks = b.emit_control("for", [b.const(0), size, b.const(1), *stacks0], [region],
                            [st.type for st in stacks0], ["jac" for _ in stacks0])
    blocks = {}
    for o, (st, tpl) in enumerate(zip(stacks, templates)):
        if not columns:
            dims = _dims(b, lv) + _dims(b, tpl)
            blocks[o, i] = b.emit("reshape", st, *dims)
        elif tpl.type.rank == 0:
            blocks[o, i] = b.emit("reshape_like", st, lv)
        else:
            m = b.emit("size", tpl)
            cols = b.emit("reshape", st, size, m).T
            blocks[o, i] = b.emit("reshape", cols, *(_dims(b, tpl) + _dims(b, lv)))
    return blocks


def hessian_graph(primal: Graph, wrt: tuple) -> Graph:
    """Blocks H[i][k] = d^2 f / d w_i d w_k, i-major (forward-over-reverse: one JVP of
    the adjoint graph per argument, seeded at it alone)."""
    adj = folded(reverse(primal, wrt))
    k = len(adj.results)
    seeded = []
    for i in wrt:
        h = forward.jvp(adj, (i,))
        seeded.append((h, list(h.results[k + 1:])))  # the tangents of the gradients
    like = [primal.params[i] for i in wrt]
    names = tuple(f"H_{a.hint}_{c.hint}" for a in like for c in like)
    # templates: each gradient has its argument's shape. basis_graph is output-major:
    # block (o, i) = d g_o / d w_i = H[i][o] (the caller arranges it)
    return basis_graph(adj, seeded, like, like, columns=False, names=names)


def _float_valued(primal: Graph):
    """Raise UnsupportedError at the return line unless the function's value is float:
    a boolean or integer value has no derivative (its Jacobian is not an array of bools)."""
    y = primal.results[0]
    if not y.type.is_float:
        from ..errors import UnsupportedError
        loc = primal.ops[-1].loc if primal.ops else None
        raise UnsupportedError(f"the Jacobian of a function whose value is {y.type.dtype}: "
                               "it has no derivative", loc,
                               "return a float value (x.astype(float) is piecewise constant: "
                               "its Jacobian is zero)")


def jacfwd_graph(primal: Graph, wrt: tuple) -> Graph:
    _float_valued(primal)
    seeded = []
    for i in wrt:
        f = forward.jvp(primal, (i,))
        seeded.append((f, [f.results[1]]))
    like = [primal.params[i] for i in wrt]
    return basis_graph(primal, seeded, like, [primal.results[0]], columns=True,
                       names=tuple("J_" + p.hint for p in like))


def jacrev_graph(primal: Graph, wrt: tuple) -> Graph:
    """Rows: the seed is the cotangent `ct` of the value y; block i has shape y + x_i."""
    _float_valued(primal)
    v = vjp_graph(primal, wrt)  # params: primal's + ct; results: y, J^T ct per wrt
    fwd, _ = split_invariant(v.ops, {v.params[-1]})
    base = primal.replace(ops=tuple(fwd))
    templates = [primal.params[i] for i in wrt]
    return basis_graph(base, [(v, list(v.results[1:]))], [v.results[0]], templates,
                       columns=False, names=tuple("J_" + p.hint for p in templates))
