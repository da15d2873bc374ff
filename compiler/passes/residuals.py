"""Store instead of recompute: residuals of loops.

Before: an adjoint graph from reverse mode, in which each backward loop (an
adjoint-phase `for`) recomputes, from the carried values its forward loop pushed onto
stacks, the primal values of the forward body that the adjoint needs. After: each such
value that is expensive to recompute (its primitive's record is not `cheap`: a matmul,
a transcendental function, ...) or that reads part of a carried array (an element or a
row of an array the loop writes: the array's stack would hold all of it every trip), and
that the adjoint ops use, directly or through cheap ops such as indexing, is pushed onto a stack of its own by the forward loop and read
back by the backward loop; its recomputation is left dead (DCE removes it). Values
are matched by value numbering across the two loops: a backward op with the same
primitive, attributes and (matched) inputs as a forward op recomputes its value.

The forward loop of a backward loop is the one whose stacks it reads. A forward loop
gets one more carried value per stored residual: an empty stack (`stack_empty`, it
grows on its first push), pushed at the end of each trip at the trip counter of the
loop's other pushes.
"""
from ..ir.builder import Builder
from ..ir.core import Graph, Op, Region, Type, Value
from ..ir.walk import free_values, substitute, walk
from ..ir.registry import PRIMS


def store_residuals(graph: Graph) -> Graph:
    done = set()  # backward loops handled, by their index parameter
    while True:  # one pair of loops at a time: each rewrite may change the loops inside
        defs = {v: op for op in walk(graph.ops) for v in op.outputs}
        bwd = next((op for op in walk(graph.ops) if op.prim == "for" and
                    op.phase == "adjoint" and op.index not in done), None)
        if bwd is None:
            return graph
        done.add(bwd.index)
        plans = {}  # id of the forward and backward loop op -> (ops before it, new op)
        _plan(bwd, defs, PRIMS, plans)
        if plans:
            graph = graph.replace(ops=_rebuild(graph.ops, plans))


def _plan(bwd, defs, prims, plans):
    body, kk = bwd.body, bwd.index
    reads = {}  # stack (an output of the forward loop) -> its read in the backward body
    for op in body.ops:
        if op.prim == "stack_read" and op.inputs[1] is kk:
            reads.setdefault(op.inputs[0], op.out)
    fwd = next((defs[s] for s in reads if s in defs and defs[s].prim in ("for", "while")),
               None)
    if fwd is None:
        return
    fbody = fwd.body
    pushes = [o for o in fbody.ops if o.prim == "stack_push"]
    if not pushes:
        return
    k, cap = pushes[0].inputs[1], pushes[0].inputs[3]
    # forward body value -> the backward body value that recomputes it
    match = {}
    stack_of = {o.out: o.inputs[2] for o in pushes}  # push result -> the value pushed
    for j, res in enumerate(fbody.results):
        if res in stack_of and fwd.outputs[j] in reads:
            match[stack_of[res]] = reads[fwd.outputs[j]]
    if fwd.prim == "for":
        lo, _, step = fwd.bounds
        for o in body.ops:  # the index, recomputed as lo + kk * step
            m = defs.get(o.inputs[1]) if o.prim == "add" and o.inputs[0] is lo else None
            if m is not None and m.prim == "mul" and m.inputs == (kk, step):
                match[fwd.index] = o.out
    keyed = {}
    for o in body.ops:
        if o.phase == "primal" and len(o.outputs) == 1 and not o.regions:
            keyed.setdefault((o.prim, o.attrs, o.inputs), o)
    recomputed = {}  # backward value -> (forward value, backward op)
    for o in fbody.ops:
        if len(o.outputs) != 1 or o.regions:
            continue
        b = keyed.get((o.prim, o.attrs, tuple(match.get(v, v) for v in o.inputs)))
        if b is not None:
            match[o.out] = b.out
            recomputed[b.out] = (o.out, b)
    consumers = [o for o in body.ops if not (len(o.outputs) == 1 and o.out in recomputed)]
    used = set(body.results)
    for o in consumers:
        used.update(o.inputs)
        for r in o.regions:
            used.update(free_values(r))
    carried = set(reads.values())  # the carried values, read back whole from stacks
    store, seen, work = [], set(), [v for v in used if v in recomputed]
    while work:
        v = work.pop()
        if v in seen:
            continue
        seen.add(v)
        _, bop = recomputed[v]
        if prims[bop.prim].cheap and not _part_of_carried(v, bop, carried):
            work.extend(x for x in bop.inputs if x in recomputed)
        else:
            store.append(v)
    if not store:
        return
    store.sort(key=lambda v: v.id)
    inits, params, outs, pb = [], [], [], Builder(phase="primal")
    with pb, pb.at(fwd.loc):
        for v in store:
            u = recomputed[v][0]
            t = Type(v.type.dtype, v.type.rank + 1)
            name = "stack_" + (u.hint or "t")
            inits.append(Op("stack_empty", (), (Value(t, name),),
                            (("dtype", v.type.dtype), ("rank", t.rank)), fwd.loc, "primal"))
            params.append(Value(t, name))
            pb.emit("stack_push", params[-1], k, u, cap)
            outs.append(Value(t, name))
    new_body = Region(fbody.params + tuple(params), _after_definitions(fbody.ops, pb.ops),
                      fbody.results + tuple(o.out for o in pb.ops))
    regions = (new_body,)
    if fwd.prim == "while":
        cond = fwd.cond_region
        regions = (cond.replace(params=cond.params + tuple(Value(p.type, p.hint)
                                                         for p in params)), new_body)
    plans[id(fwd)] = (inits, fwd.with_(inputs=fwd.inputs + tuple(i.out for i in inits),
                                   outputs=fwd.outputs + tuple(outs), regions=regions))
    rb = Builder(phase="adjoint")
    with rb:
        got = {v: rb.emit("stack_read", st, kk) for v, st in zip(store, outs)}
    new_ops = tuple(rb.ops) + tuple(substitute(o, got) for o in body.ops)
    plans[id(bwd)] = ([], bwd.with_(regions=(body.replace(
        ops=new_ops, results=tuple(got.get(v, v) for v in body.results)),)))


def _after_definitions(ops, pushes) -> tuple:
    """The body's ops with each push right after the op that defines the value it pushes
    (a row `H[t]` is copied onto its stack before a later `H[t + 1] = ...` can write H in
    place: passes/stores.py)."""
    after: dict = {}
    for p in pushes:
        after.setdefault(p.inputs[2], []).append(p)
    out = [p for p in pushes if all(p.inputs[2] not in o.outputs for o in ops)]
    for o in ops:
        out.append(o)
        for v in o.outputs:  # under the defining op's line, in the generated comments
            out.extend(p.with_(loc=o.loc) for p in after.pop(v, ()))
    return tuple(out)


def _part_of_carried(v, bop, carried) -> bool:
    """v reads part of a carried array (an element, a row, a slice of lower rank): stored
    itself, so the backward loop needs no copy of the whole array per trip (the loop
    `y[i] = f(y[i - 1])` keeps one number a trip, not the n-vector y)."""
    return any(x in carried and x.type.rank > v.type.rank for x in bop.inputs)


def _rebuild(ops, plans):
    out = []
    for op in ops:
        before, op = plans.get(id(op), ((), op))
        out.extend(before)
        if op.regions:
            op = op.with_(regions=tuple(r.replace(ops=tuple(_rebuild(r.ops, plans)))
                                        for r in op.regions))
        out.append(op)
    return tuple(out)
