"""Cotangent accumulation in place.

Before: an adjoint graph from reverse mode, whose backward sweep sums cotangents with
`add(acc, c)` (acc: what the value had so far). After: where `acc` is an array that
nothing else reads (it is *owned*, below), the sum updates it in place:
- `add(acc, zeros_with(g, x, idx))` -> `index_add(g, acc, idx)` and
  `add(acc, row_scatter(g, x, i))` -> `row_add(acc, i, g)`: the adjoint of reading
  `x[idx]` or a row costs O(size of g), not O(size of x);
- inside a backward loop, `add(acc, outer(a, b))` -> `outer_add(acc, a, b)` and
  `add(acc, c)` -> `add_into(acc, c)`: a gradient summed over the trip count is one
  array, not a new one per iteration (at the top level a new array costs only once).

`acc` is owned at its use when that use is its only one (no later read sees it
changed), it is defined in the same block (a value from outside a loop body would be
updated on every trip), and it is a new array: the output of a primitive whose record
says `fresh`, or a loop-carried parameter whose initial value is owned in turn and whose
next value (the body's result) is a new array each trip (or the output of such a loop). The
rewritten ops are marked by their primitives' `writes` field, so later passes neither
merge (CSE) nor alias (folding) them. Only adjoint-phase ops are rewritten.
"""
from ..ir.core import Graph, Op, Region
from ..ir.registry import PRIMS


def accumulate_in_place(graph: Graph) -> Graph:
    uses: dict = {}
    _count(graph.ops, graph.results, uses)
    rw = _Rewriter(uses, PRIMS)
    return graph.replace(ops=rw.block(graph.ops, graph.params, set(), False))


def _count(ops, results, uses):
    for op in ops:
        for v in op.inputs:
            uses[v] = uses.get(v, 0) + 1
        for r in op.regions:
            _count(r.ops, r.results, uses)
    for v in results:
        uses[v] = uses.get(v, 0) + 1


class _Rewriter:
    def __init__(self, uses, prims):
        self.uses, self.prims = uses, prims
        self.owned_outputs: set = set()  # outputs of backward loops for owned carried slots

    def block(self, ops, params, carried_owned, in_loop):
        """Rewrite one block (its params: `params`, those of them that are owned
        loop-carried values: `carried_owned`; `in_loop`: the body of a backward loop)."""
        local, defs, out = set(params), {}, []
        for op in ops:
            if op.regions:
                op = self.control(op, local, defs, carried_owned, in_loop)
            else:
                op = self.rewrite(op, local, defs, carried_owned, in_loop) or op
            for v in op.outputs:
                local.add(v)
                defs[v] = op
            out.append(op)
        return tuple(out)

    def control(self, op, local, defs, carried_owned, in_loop=False):
        loop = op.prim == "for" and op.phase == "adjoint"
        if op.prim == "if" and op.phase == "adjoint":
            return self.branch(op, local, defs, carried_owned, in_loop)
        if not loop:
            regions = tuple(Region(r.params, self.block(r.ops, r.params, set(), False), r.results)
                            for r in op.regions)
            return op.with_(regions=regions)
        # an owned initial value (the enclosing loop's owned accumulators included), while
        # the body's result for it is a new array too (a fixed point: a carried value whose
        # next value may be a view of something else is not owned on the next trip)
        slots = {j for j, x in enumerate(op.inits) if self.owned(x, local, defs, carried_owned)}
        r = op.body
        while True:
            owned = {r.params[1 + j] for j in slots}
            ops = self.block(r.ops, r.params, owned, True)
            body_defs = {v: o for o in ops for v in o.outputs}
            keep = {j for j in slots if self.renewed(r.results[j], owned, body_defs)}
            if keep == slots:
                self.owned_outputs.update(op.outputs[j] for j in slots)
                return op.with_(regions=(Region(r.params, ops, r.results),))
            slots = keep

    def branch(self, op, local, defs, carried_owned, in_loop):
        """A backward `if`: an owned array that only this `if` reads (at most once in each
        branch) is lent to the branches, which may update it in place (one branch runs);
        an output every branch gives as a new or lent array, no other output's, is owned
        after the `if`."""
        inside: dict = {}
        for r in op.regions:
            _count(r.ops, r.results, inside)
        lent = {v for v in local if v.type.rank > 0 and inside.get(v, 0) == self.uses.get(v, 0)
                and self.owned_base(v, defs, carried_owned)}
        regions, slots = [], set(range(len(op.outputs)))
        for r in op.regions:
            mine: dict = {}
            _count(r.ops, r.results, mine)
            lent_r = {v for v in lent if mine.get(v, 0) <= 1}
            ops = self.block(r.ops, r.params, lent_r, in_loop)
            body_defs = {v: o for o in ops for v in o.outputs}
            for j, res in enumerate(r.results):
                if (r.results.count(res) > 1 or res.type.rank == 0
                        or not self.renewed(res, lent_r, body_defs)):
                    slots.discard(j)
            regions.append(Region(r.params, ops, r.results))
        self.owned_outputs.update(op.outputs[j] for j in slots)
        return op.with_(regions=tuple(regions))

    def owned_base(self, v, defs, carried_owned) -> bool:
        """v is a new array of this block, an owned carried value or an owned output."""
        if v in carried_owned or v in self.owned_outputs:
            return True
        d = defs.get(v)
        return d is not None and not d.regions and self.prims[d.prim].fresh and d.prim != "const"

    def renewed(self, v, owned_params, defs) -> bool:
        """v, a loop body's result, is a new array each trip (or the owned parameter)."""
        if v in owned_params:
            return True
        d = defs.get(v)
        return d is not None and (v in self.owned_outputs or
                                  (not d.regions and self.prims[d.prim].fresh
                                   and d.prim != "const"))

    def owned(self, v, local, defs, carried_owned) -> bool:
        if v.type.rank > 0 and v in carried_owned and v not in local:
            return True  # lent to this branch by its `if` (branch)
        if v.type.rank == 0 or self.uses.get(v, 0) != 1 or v not in local:
            return False
        if v in carried_owned or v in self.owned_outputs:
            return True
        d = defs.get(v)
        return d is not None and not d.regions and self.prims[d.prim].fresh and d.prim != "const"

    def rewrite(self, op, local, defs, carried_owned, in_loop):
        if op.prim != "add" or op.phase != "adjoint":
            return None
        acc, c = op.inputs
        if acc.type != op.out.type or not self.owned(acc, local, defs, carried_owned):
            return None
        src = defs.get(c) if self.uses.get(c, 0) == 1 else None
        new = None
        if src is not None and src.prim == "zeros_with":
            g, _, *idx = src.inputs
            new = ("index_add", (g, acc, *idx), src.attrs)
        elif src is not None and src.prim == "row_scatter":
            g, _, i = src.inputs
            new = ("row_add", (acc, i, g), ())
        elif in_loop and src is not None and src.prim == "outer" and acc.type.rank == 2:
            new = ("outer_add", (acc, *src.inputs), ())
        elif in_loop and c.type == acc.type:
            new = ("add_into", (acc, c), ())
        if new is None:
            return None
        prim, ins, attrs = new
        return Op(prim, tuple(ins), op.outputs, attrs, op.loc, op.phase)
