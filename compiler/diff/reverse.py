"""Reverse mode: primal graph -> adjoint graph (the lecture's backpropagation).

Forward sweep: the primal ops, computing each f_i (leaves to root). Loops that carry
values the gradient depends on are *augmented*: on entry to each iteration they push
their carried values onto a stack (preallocated from the trip count for `for`, doubling
for `while`) and count their trips.

Backward sweep: ops in reverse order computing g_i = d loss / d f_i (root to leaves):
g_loss = 1; for each op, each active float input x gets the contribution VJP(g_out)
from the primitive table, summed back to x's shape where NumPy broadcast it
(unbroadcast), and added to what x already has (a value used twice gets its
cotangents summed). Control flow is mirrored:
- `if`: the condition is a residual; the backward branch taken is the mirror of the
  forward one: it recomputes the branch's primal values, then runs their adjoints.
- `for`/`while`: a backward loop runs the recorded trip count in reverse; iteration k
  reads the carried values of forward iteration k from the stacks, recomputes the body
  (nested loops augmented in turn) and runs its adjoint. Cotangents of values the body
  reads from outside are carried by the backward loop and summed over iterations.
Recomputing a body instead of storing every intermediate keeps one stack per carried
value (memory: trip count x carried size) and costs one extra forward pass of the body.

Guarantees: the result graph has the primal's parameters and results
`(loss, g_<wrt_1>, ..., g_<wrt_k>)`; each gradient has its parameter's shape (a zero of
that shape when the loss does not depend on it); the final cotangent of a user-named
value is named `g_<name>`. Only values that depend on a `wrt` parameter (activity
analysis, a fixpoint over loops) get cotangents, and only active loops keep stacks.
"""
from __future__ import annotations

from ..errors import ArgumentError, UnsupportedError
from ..ir.builder import Builder
from ..ir.core import I64, Graph, Op, Region, Type, Value
from ..ir.walk import free_values, substitute, walk
from ..primitives import PRIMS
from .activity import activity
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
    active = set(v for v in (graph.params[i] for i in wrt) if v.type.is_float)
    activity(graph.ops, active, lambda op: PRIMS[op.prim].vjp is not None)
    _check_rules(graph.ops, active)
    rv = _Reverse(ShapeClasses(graph), active, graph)
    fwd = Builder(phase="primal")
    with fwd:
        _, tapes = rv.augment(graph.ops, fwd, {}, copy=False)
    b = Builder(phase="adjoint")
    ct: dict = {}
    ret_loc = graph.ops[-1].loc if graph.ops else None
    with b, b.at(ret_loc, "adjoint"):
        if loss in active:
            ct[loss] = b.const(1.0)
        rv.adjoint(graph.ops, tapes, ct, b)
        grads = []
        for i in wrt:
            x = graph.params[i]
            if x in ct:
                rv.final.append((x, ct[x]))
                grads.append(ct[x])
            else:
                grads.append(_zeros(b, x))
    # fwd.ops, not forward_ops: storing residuals may have replaced augmented loops
    ops, repl = _name_cotangents(list(fwd.ops) + b.ops, rv.final)
    grads = [repl.get(v, v) for v in grads]
    if cotangents is not None:
        cotangents.extend((x, repl.get(c, c)) for x, c in rv.final if x in _top(graph))
    names = ("loss",) + tuple("g_" + graph.params[i].hint for i in wrt)
    return graph.replace(ops=tuple(ops), results=(loss, *grads), result_names=names)


def _check_rules(ops, active):
    """A primitive without a VJP rule that an active value reaches is refused (an adjoint
    helper in a gradient of a gradient, np.unique's values), unless its record says its
    derivative is zero (`zero_derivative`): never a silent zero."""
    for op in walk(ops):
        p = PRIMS[op.prim]
        if (p.vjp is None and not op.regions and not p.zero_derivative
                and any(o.type.is_float for o in op.outputs)
                and any(v in active and v.type.is_float for v in op.inputs)):
            helper = p.group.startswith("adjoint helpers")
            raise UnsupportedError(
                f"no adjoint rule for `{op.prim}`, which the differentiated value reaches "
                "here" + (" (in the gradient this loss differentiates)" if helper else ""),
                op.loc,
                "a gradient of a gradient through this function is not supported: use "
                "hessian/hvp (forward over reverse)" if helper else
                f"`{op.prim}` is differentiated only where its result is used as an index "
                "or a count; write the loss without it, or wrap it in a custom_vjp")


def _top(graph):
    return set(graph.params) | {v for op in graph.ops for v in op.outputs}


def _zeros(b, x):
    return b.const(0.0) if x.type.rank == 0 else b.emit("zeros_like", x)


class _Tape:
    """What an augmented loop records: its trip count and one stack per carried value."""

    def __init__(self, count, stacks):
        self.count, self.stacks = count, stacks


class _Reverse:
    def __init__(self, shapes: ShapeClasses, active: set, graph: Graph):
        self.shapes, self.active = shapes, active
        self.final: list = []  # (primal value, final cotangent), root first
        # a value of the top level (in scope in the whole backward sweep) for each shape
        # class: a zero cotangent or an unbroadcast inside a backward loop reads its shape
        # there, not from a recomputed value that would keep a stack alive for its shape
        self.witness: dict = {}
        for v in list(graph.params) + [o for op in graph.ops for o in op.outputs]:
            if v.type.rank > 0:
                self.witness.setdefault(shapes.dims(v), v)

    def shape_of(self, x):
        """A value with x's shape that the backward sweep can read anywhere (x itself if
        none is known)."""
        return self.witness.get(self.shapes.dims(x), x) if x.type.rank > 0 else x

    def zeros(self, b, x):
        return _zeros(b, self.shape_of(x))

    # ---- forward sweep: copy ops, augmenting active loops ---------------------------
    def augment(self, ops, b: Builder, subst: dict, copy: bool = True):
        """Emit `ops` into b: copies with fresh values recorded in `subst` (copy=True,
        for recomputation), or the original ops themselves (copy=False, the top-level
        forward sweep). Active loops are augmented. Returns (the emitted ops, {original
        loop op: _Tape})."""
        tapes = {}
        start = len(b.ops)
        for op in ops:
            with b.at(op.loc, b.phase):
                if op.prim in ("for", "while") and any(v in self.active for v in op.outputs):
                    tapes[op] = self._augment_loop(op, b, subst, copy)
                elif copy:
                    self._copy(op, b, subst)
                else:
                    b.ops.append(op)
        return b.ops[start:], tapes

    def _copy(self, op, b, subst):
        """Append a copy of op with fresh outputs (recorded in subst)."""
        new_outs = tuple(Value(v.type, v.hint) for v in op.outputs)
        for o, n in zip(op.outputs, new_outs):
            self.shapes.alias(n, o)
            if o in self.active:
                self.active.add(n)
        copied = substitute(op, subst).with_(outputs=new_outs)
        if op.regions:
            copied = copied.with_(regions=tuple(self._fresh_region(r, subst) for r in op.regions))
        subst.update(zip(op.outputs, new_outs))
        b.ops.append(copied)

    def _fresh_region(self, r: Region, subst: dict) -> Region:
        """A copy of region r with fresh values throughout (SSA: each defined once)."""
        child = Builder(phase="primal")
        params = tuple(Value(p.type, p.hint) for p in r.params)
        subst.update(zip(r.params, params))
        for p, n in zip(r.params, params):
            if p in self.active:
                self.active.add(n)
        for op in r.ops:
            self._copy(op, child, subst)
        return Region(params, tuple(child.ops), tuple(subst.get(v, v) for v in r.results))

    def _augment_loop(self, op, b, subst, copy) -> _Tape:
        s = lambda v: subst.get(v, v)  # noqa: E731
        params, inits, body = op.carried(), op.inits, op.body
        if op.prim == "for":
            n = b.emit("trip_count", *(s(v) for v in op.bounds))
        else:
            n = b.const(16)
        cap = n if op.prim == "for" else b.const(0)
        stacks0 = [b.name(b.emit("stack_alloc", n, s(x)), "stack_" + (p.hint or "t"))
                   for p, x in zip(params, inits)]
        k0 = b.const(0)
        # new body: push carried values, then the body, then count
        inner = Builder(phase="primal")
        new_params = [Value(p.type, p.hint) for p in body.params]
        k = Value(I64, "k")
        st_params = [Value(st.type, st.hint) for st in stacks0]
        bsub = dict(subst)
        bsub.update(zip(body.params, new_params))
        for p, q in zip(body.params, new_params):
            if p in self.active:
                self.active.add(q)
        with inner, inner.at(op.loc):
            carried_new = new_params[1:] if op.prim == "for" else new_params  # (index, *carried)
            pushed = [inner.emit("stack_push", st, k, c, cap)
                      for st, c in zip(st_params, carried_new)]
        for bop in body.ops:  # nested loops run plainly here; recomputation augments them
            with inner.at(bop.loc):
                self._copy(bop, inner, bsub)
        with inner, inner.at(op.loc):
            k1 = inner.emit("add", k, 1)
        results = [bsub.get(v, v) for v in body.results] + [k1] + pushed
        new_body = Region(tuple(new_params) + (k,) + tuple(st_params), tuple(inner.ops),
                          tuple(results))
        regions = (new_body,)
        if op.prim == "while":
            cond = op.cond_region
            csub = dict(subst)
            cparams = [Value(p.type, p.hint) for p in cond.params]
            csub.update(zip(cond.params, cparams))
            cb = Builder(phase="primal")
            for cop in cond.ops:
                self._copy(cop, cb, csub)
            extra = [Value(I64, "k")] + [Value(st.type, st.hint) for st in stacks0]
            regions = (Region(tuple(cparams) + tuple(extra), tuple(cb.ops),
                              tuple(csub.get(v, v) for v in cond.results)), new_body)
        outs = tuple(Value(o.type, o.hint) for o in op.outputs) if copy else op.outputs
        if copy:
            subst.update(zip(op.outputs, outs))
            for o, n2 in zip(op.outputs, outs):
                if o in self.active:
                    self.active.add(n2)
        extra_outs = (Value(I64, "trips"),) + tuple(Value(st.type, st.hint) for st in stacks0)
        ins = tuple(s(v) for v in op.inputs) + (k0,) + tuple(stacks0)
        aug = Op(op.prim, ins, outs + extra_outs, op.attrs, op.loc, b.phase, regions)
        b.ops.append(aug)
        # a `for` (no `break`: the frontend lowers that to a `while`) runs its trip count;
        # counting in the loop would keep a recomputed loop alive just to count (DCE)
        return _Tape(n if op.prim == "for" else extra_outs[0], list(extra_outs[1:]))

    # ---- backward sweep ------------------------------------------------------------
    def adjoint(self, ops, tapes, ct, b: Builder, subst=None):
        """Emit the adjoints of `ops` (originals; `subst` maps them to the values of their
        recomputed copies) in reverse order, accumulating into ct (keyed by emitted value)."""
        subst = subst if subst is not None else {}
        s = lambda v: subst.get(v, v)  # noqa: E731
        for op in reversed(ops):
            outs = [s(v) for v in op.outputs]
            if not any(o in ct for o in outs):
                continue
            for o in outs:
                if o in ct:
                    self.final.append((o, ct[o]))
            with b.at(op.loc, "adjoint"):
                if op.prim == "if":
                    self._adjoint_if(op, ct, b, subst)
                elif op.prim in ("for", "while"):
                    self._adjoint_loop(op, tapes[op], ct, b, subst)
                else:
                    self._adjoint_op(op, ct, b, s)

    def _accumulate(self, ct, x, c, b):
        """ct[x] += c: a value used twice gets its cotangents summed (as new arrays here;
        compiler/passes/inplace.py updates the arrays nothing else reads in place)."""
        ct[x] = b.emit("add", ct[x], c) if x in ct else c

    def _adjoint_op(self, op, ct, b, s):
        p = PRIMS[op.prim]
        if p.vjp is None:
            return
        g = ct[s(op.out)]
        ins = [s(v) for v in op.inputs]
        # x[idx] = v: v's cotangent (a read of g) first, then x's (g with [idx] = 0), so
        # the read happens before the write and the write can be in place (passes/stores)
        order = (1, 0, *range(2, len(ins))) if op.prim == "set_index" else range(len(ins))
        for i in order:
            x = ins[i]
            rule = p.vjp[i]
            if rule is None or x not in self.active or not x.type.is_float:
                continue
            start = len(b.ops)
            c = rule(g, s(op.out), *ins, **dict(op.attrs))
            self._shapes_from_witnesses(b, start)
            if c is None:
                continue
            if p.broadcasts and not self.shapes.same(x, s(op.out)):
                c = b.emit("sum", c) if x.type.rank == 0 else b.emit("unbroadcast", c,
                                                                      self.shape_of(x))
            self._accumulate(ct, x, c, b)

    def _free_active(self, regions, s):
        seen = {}
        for r in regions:
            for v in free_values(r):
                v = s(v)
                if v in self.active and v.type.is_float:
                    seen.setdefault(v, None)
        return list(seen)

    def _adjoint_if(self, op, ct, b, subst):
        s = lambda v: subst.get(v, v)  # noqa: E731
        free = self._free_active(op.regions, s)
        if not free:
            return
        seeds = [ct.get(s(o)) for o in op.outputs]
        # what the outside values have goes through the branches (no zeros in a branch that
        # does not touch them; passes/inplace.py lends them to the branches to update)
        seeded = {v for v in free if v in ct}
        branches = []
        for r in op.regions:
            child = b.child()
            with child:
                base = dict(subst)
                _, tapes = self.augment(r.ops, child, base)
                local = {v: ct[v] for v in free if v in seeded}
                for res, g in zip(r.results, seeds):
                    res = base.get(res, res)
                    if g is not None and res in self.active and res.type.is_float:
                        self._accumulate(local, res, g, child)
                self.adjoint(r.ops, tapes, local, child, base)
                results = [local[v] if v in local else self.zeros(child, v) for v in free]
            branches.append(Region((), tuple(child.ops), tuple(results)))
        outs = b.emit_control("if", [s(op.condition)], branches, [v.type for v in free],
                              ["" for _ in free])
        for v, g in zip(free, outs):
            if v in seeded:
                ct[v] = g
            else:
                self._accumulate(ct, v, g, b)

    def _shapes_from_witnesses(self, b, start):
        """In the ops a rule just emitted, an operand read only for its shape (`zeros_with`'s
        template, `unbroadcast`'s target, ...) becomes a top-level value of its shape
        class: inside a backward loop the recomputed value would keep a stack of whole
        arrays alive for their shapes (a loop that reads y[i - 1] and writes y[i])."""
        for k in range(start, len(b.ops)):
            o = b.ops[k]
            j = PRIMS[o.prim].shape_operand
            if j is not None and j < len(o.inputs):
                w = self.shape_of(o.inputs[j])
                if w is not o.inputs[j]:
                    b.ops[k] = o.with_(inputs=o.inputs[:j] + (w,) + o.inputs[j + 1:])

    @staticmethod
    def _owned_start(b, c):
        """c, or a copy of it where it may be a view (an unbroadcast, a transpose, a branch's
        output): the backward loop accumulates into its start in place
        (passes/inplace.py), which a view would forbid, every trip. None from
        `defining_op`: an enclosing loop's accumulator, which is owned."""
        d = b.defining_op(c)
        if c.type.rank == 0 or d is None or (not d.regions and PRIMS[d.prim].fresh
                                              and d.prim != "const"):
            return c
        return b.emit("copy", c)

    def _adjoint_loop(self, op, tape, ct, b, subst):
        s = lambda v: subst.get(v, v)  # noqa: E731
        params, inits, body = op.carried(), op.inits, op.body
        act = [j for j, p in enumerate(params) if p in self.active]
        free = self._free_active([body], s)
        g_carry0 = [ct[s(op.outputs[j])] if s(op.outputs[j]) in ct else self.zeros(b, s(op.outputs[j]))
                    for j in act]
        # cotangents of outside values start from what they have: a nested backward loop
        # accumulates into its enclosing loop's arrays, no new zeros per outer trip
        g_free0 = [self._owned_start(b, ct[v]) if v in ct else self.zeros(b, v) for v in free]
        start = b.emit("sub", tape.count, 1)
        k_back = Value(I64, "k")
        g_carried = [Value(Type("float64", params[j].type.rank), "g_" + (params[j].hint or "t"))
                     for j in act]
        g_free = [Value(Type("float64", v.type.rank), "g_" + (v.hint or "t")) for v in free]
        child = b.child()
        with child:
            base = dict(subst)
            vals = [child.emit("stack_read", st, k_back) for st in tape.stacks]
            for p, v in zip(params, vals):
                base[p] = v
                self.shapes.alias(v, p)
                if p in self.active:
                    self.active.add(v)
            if op.prim == "for":
                lo, _, step = (s(v) for v in op.bounds)
                base[op.index] = child.name(child.emit("add", lo, child.emit("mul", k_back, step)),
                                            op.index.hint or "i")
            _, tapes = self.augment(body.ops, child, base)
            local = dict(zip(free, g_free))
            for j, g in zip(act, g_carried):
                res = base.get(body.results[j], body.results[j])
                if res in self.active:
                    self._accumulate(local, res, g, child)
            self.adjoint(body.ops, tapes, local, child, base)
            g_carried_next = [local[vals[j]] if vals[j] in local else self.zeros(child, vals[j])
                              for j in act]
            g_free_next = [local[v] for v in free]
        body_ops, g_carried_next, g_free_next = child.ops, tuple(g_carried_next), tuple(g_free_next)
        region = Region((k_back,) + tuple(g_carried) + tuple(g_free), tuple(body_ops),
                        g_carried_next + g_free_next)
        outs = b.emit_control("for", [start, b.const(-1), b.const(-1), *g_carry0, *g_free0],
                              [region], [v.type for v in g_carried + g_free],
                              [v.hint for v in g_carried + g_free])
        for v, g in zip(free, outs[len(act):]):  # what they had, plus the loop's
            ct[v] = g
        for j, g in zip(act, outs[:len(act)]):
            x = s(inits[j])
            if x in self.active and x.type.is_float:
                self._accumulate(ct, x, g, b)


def _name_cotangents(ops, final):
    """Rename each final cotangent of a named value x to g_x (first, root-most wins),
    at any depth."""
    hints = {}
    defined = {v for op in walk(ops) for v in op.outputs}
    for x, c in final:
        if x.hint and c in defined and not c.hint and c not in hints:
            hints[c] = "g_" + x.hint
    repl = {c: Value(c.type, h) for c, h in hints.items()}
    return _rebuild(ops, repl), repl


def _rebuild(ops, repl):
    out = []
    for op in ops:
        ins = tuple(repl.get(v, v) for v in op.inputs)
        outs = tuple(repl.get(v, v) for v in op.outputs)
        regions = tuple(Region(r.params, tuple(_rebuild(r.ops, repl)),
                               tuple(repl.get(v, v) for v in r.results)) for r in op.regions)
        out.append(op.with_(inputs=ins, outputs=outs, regions=regions))
    return out
