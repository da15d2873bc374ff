"""Symbolic shape classes: which values provably have the same shape.

Each axis of each value gets a dimension symbol; symbols are merged (union-find) when
NumPy semantics force equality: the contracted axes of `@`, an elementwise op's output
axis where all operands share the symbol, unary functions. An axis produced by
broadcasting operands with different symbols is the *set* of those symbols (its length
is the broadcast of theirs); broadcasting is idempotent and associative, so two axes
with the same set are equal: `(a + b) - (a * b)` has the shape of `a + b`. Reverse mode
asks `same(x, out)` to skip `unbroadcast` where no broadcast can happen, so the
lecture's models get no unbroadcast calls, and broadcasting code gets one where an
operand meets a broadcast. Unknown cases get fresh symbols (the safe answer: emit the
unbroadcast).
"""
from __future__ import annotations

import itertools

from ..primitives import PRIMS

class ShapeClasses:
    def __init__(self, graph):
        self._parent = {}
        self._fresh = itertools.count()
        self._dims = {}
        for _ in range(2):  # a second sweep sees equalities found later in the graph
            for p in graph.params:
                self._dims.setdefault(p, self._new(p.type.rank))
            self._ops(graph.ops)

    def _ops(self, ops):
        for op in ops:
            for r in op.regions:  # carried values may change shape: fresh symbols
                for p in r.params:
                    self._dims.setdefault(p, self._new(p.type.rank))
                self._ops(r.ops)
            if op.regions:
                for v in op.outputs:
                    self._dims.setdefault(v, self._new(v.type.rank))
                if op.prim in ("for", "while"):
                    self._loop(op)
                elif op.prim == "if":  # an output all branches give one shape has it
                    for j, out in enumerate(op.outputs):
                        first = op.regions[0].results[j]
                        if all(self.same(r.results[j], first) for r in op.regions[1:]):
                            for a, b in zip(self.dims(out), self.dims(first)):
                                self._union(a, b)
            else:
                self._op(op)

    def _loop(self, op):
        """A carried value whose next value has its shape keeps its initial value's shape
        (the parameter, the condition's parameter and the output all get it)."""
        body = op.body
        for j, (p, res) in enumerate(zip(op.carried(body), body.results)):
            if not self.same(res, p):
                continue
            same = [p, op.inits[j], op.outputs[j]]
            if op.prim == "while":
                same.append(op.carried(op.cond_region)[j])
            for v in same[1:]:
                for a, b in zip(self.dims(same[0]), self.dims(v)):
                    self._union(a, b)

    def alias(self, new, old):
        """`new` (a recomputed copy of `old`) has old's shape."""
        self._dims[new] = self.dims(old)

    def _new(self, rank):
        return tuple(frozenset((next(self._fresh),)) for _ in range(rank))

    def _find(self, d):
        while self._parent.get(d, d) != d:
            d = self._parent[d]
        return d

    def _union(self, a, b):
        """Axes a and b (symbol sets) are equal: merge them when both are plain symbols."""
        if len(a) != 1 or len(b) != 1:
            return
        a, b = self._find(next(iter(a))), self._find(next(iter(b)))
        if a != b:
            self._parent[max(a, b)] = min(a, b)

    def dims(self, v):
        if v not in self._dims:
            self._dims[v] = self._new(v.type.rank)
        return tuple(frozenset(self._find(s) for s in d) for d in self._dims[v])

    def same(self, a, b) -> bool:
        return a.type.rank == b.type.rank and self.dims(a) == self.dims(b)

    def _op(self, op):
        """Dimension symbols of op's output from its primitive's shape rule (the `shape`
        field of its record in compiler/primitives.py)."""
        out, ins = op.out, op.inputs
        r = out.type.rank
        kind = PRIMS[op.prim].shape
        d = self.dims(ins[0]) if ins else ()
        if kind == "same":
            res = d
        elif kind == "reversed":
            res = d[::-1]
        elif kind == "broadcast":
            res = []
            for k in range(r):
                cands = {self.dims(v)[k - (r - v.type.rank)] for v in ins
                         if v.type.rank >= r - k}
                res.append(frozenset().union(*cands) if cands else frozenset((next(self._fresh),)))
        elif kind == "like_second":
            res = self.dims(ins[1])
        elif kind == "equal":  # checked at run time to have the second input's shape
            for a, b in zip(d, self.dims(ins[1])):
                self._union(a, b)
            res = self.dims(ins[0])
        elif kind == "reduce":
            ax = op.attr("axis")
            gone = range(len(d)) if ax is None else (ax,) if isinstance(ax, int) else ax
            res = tuple(s for k, s in enumerate(d) if k not in gone)
        elif kind == "matmul":
            b = self.dims(ins[1])
            self._union(d[-1], b[0])
            res = d[:-1] + b[1:]
        elif kind == "outer":
            res = (d[0], self.dims(ins[1])[0])
        elif kind == "permute":
            res = tuple(d[a] for a in op.attr("axes"))
        elif kind == "expand_dims":
            ax = op.attr("axis")
            res = d[:ax] + self._new(1) + d[ax:]
        elif kind in ("take", "take_pairs"):
            ax = op.attr("axis")
            res = d[:ax] + self.dims(ins[1]) + d[ax + (1 if kind == "take" else 2):]
        else:
            res = self._dims.get(out) or self._new(r)
        self._dims[out] = tuple(res)
