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


def basis_graph(graph: Graph, n: int, like: list, outputs: list, templates: list,
                columns: bool, names: tuple, prefix=()) -> Graph:
    """The Jacobian of `outputs` with respect to the seeds `graph.params[n:]` (see the
    module docstring). like[i]: a value of seed i's shape defined without the seeds;
    templates[o]: one of output o's shape (its primal), also seed-free. `columns`: the
    seeds are the Jacobian's columns (forward mode: block shape output + seed), else its
    rows (reverse mode and Hessians: block shape seed + output, which for a Hessian is
    the same). `prefix`: ops to run first (the primal graph's, when a template is one
    of its values that forward mode recomputes in a loop beside its tangent; those of
    its ops that `graph` holds too run once). Returns a graph with the parameters `graph.params[:n]` and one result per
    (output, seed) block, output-major."""
    seeds = graph.params[n:]
    # drop what the outputs do not need first: a loop whose tangent nobody reads is
    # primal again, and so runs once, outside the basis loops
    live = [v for v in list(outputs) + list(templates) + list(like) if v not in graph.params]
    graph = dce(graph.replace(results=tuple(live)))
    inv, var = split_invariant(graph.ops, set(seeds))
    b = Builder(phase="primal")
    loc = graph.ops[-1].loc if graph.ops else None
    blocks = {}
    first = {id(op) for op in prefix}
    with b, b.at(loc):
        b.ops.extend(prefix)
        b.ops.extend(op for op in inv if id(op) not in first)
        zeros = [_zero(b, v) for v in like]
        for i, (s, lv) in enumerate(zip(seeds, like)):
            others = {seeds[k]: zeros[k] for k in range(len(seeds)) if k != i}
            if lv.type.rank == 0:  # one basis vector: no loop
                subst = dict(others)
                subst[s] = b.const(1.0)
                b.ops.extend(clone_ops(var, subst))
                for o, out in enumerate(outputs):
                    blocks[o, i] = subst.get(out, out)
                continue
            blocks.update(_basis_loop(b, i, s, lv, others, var, outputs, templates, columns))
    results = tuple(blocks[o, i] for o in range(len(outputs)) for i in range(len(seeds)))
    return Graph(graph.name, graph.params[:n], tuple(b.ops), results, names)


def _basis_loop(b, i, seed, lv, others, var, outputs, templates, columns):
    size = b.emit("size", lv)
    eye = b.emit("eye", size)
    stacks0 = [b.emit("stack_alloc", size, tpl) for tpl in templates]
    j = Value(I64, "j")
    st_params = [Value(st.type, "jac") for st in stacks0]
    body = b.child()
    with body:
        subst = dict(others)
        subst[seed] = body.emit("reshape_like", body.emit("getitem", eye, j, spec=("i",)), lv)
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
    """Blocks H[i][k] = d^2 f / d w_i d w_k, i-major (forward-over-reverse)."""
    adj = folded(reverse(primal, wrt))
    h = forward.jvp(adj, wrt)
    k = len(adj.results)
    n = len(primal.params)
    t_grads = h.results[k + 1:]
    like = [primal.params[i] for i in wrt]
    names = tuple(f"H_{a.hint}_{c.hint}" for a in like for c in like)
    # templates: each gradient has its argument's shape (a gradient that a loop computes
    # beside its tangent is recomputed per basis vector, so it is not one)
    g = basis_graph(h, n, like, list(t_grads), like, columns=False, names=names)
    # basis_graph is output-major: H[o][i] = d t_g_o / d seed_i = H[i][o] (symmetric)
    return g


def jacfwd_graph(primal: Graph, wrt: tuple) -> Graph:
    f = forward.jvp(primal, wrt)
    y, t_y = f.results[0], f.results[1]
    like = [primal.params[i] for i in wrt]
    names = tuple("J_" + p.hint for p in like)
    return basis_graph(f, len(primal.params), like, [t_y], [y], columns=True, names=names,
                       prefix=primal.ops)


def jacrev_graph(primal: Graph, wrt: tuple) -> Graph:
    v = vjp_graph(primal, wrt)  # params: primal's + ct; results: y, J^T ct per wrt
    y = v.results[0]
    grads = list(v.results[1:])
    like_seed = y
    templates = [primal.params[i] for i in wrt]
    # rows: J[:, i] blocks have shape y + x_i, seed (ct) is the row
    g = basis_graph(v, len(primal.params), [like_seed], grads, templates, columns=False,
                    names=tuple("J_" + p.hint for p in templates))
    return g
