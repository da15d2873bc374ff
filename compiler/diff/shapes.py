"""Symbolic shape classes: which values provably have the same shape.

Each axis of each value gets a dimension symbol; symbols are merged (union-find) when
NumPy semantics force equality: the contracted axes of `@`, an elementwise op's output
axis where all operands share the symbol, unary functions. Reverse mode asks
`same(x, out)` to skip `unbroadcast` where no broadcast can happen, so the lecture's
models get no unbroadcast calls. Unknown cases get fresh symbols (the safe answer:
emit the unbroadcast).
"""
from __future__ import annotations

import itertools

from ..primitives import PRIMS

_SAME_SHAPE = {"neg", "exp", "log", "tanh", "sqrt", "abs", "sign", "cast", "sigmoid",
               "relu", "softplus", "transpose"}
_ELEMENTWISE = {"gt", "ge", "lt", "le", "eq", "ne", "where", "tie_weight"}


class ShapeClasses:
    def __init__(self, graph):
        self._parent = {}
        self._fresh = itertools.count()
        self._dims = {}
        for _ in range(2):  # a second sweep sees equalities found later in the graph
            for p in graph.params:
                self._dims.setdefault(p, self._new(p.type.rank))
            for op in graph.ops:
                self._op(op)

    def _new(self, rank):
        return tuple(next(self._fresh) for _ in range(rank))

    def _find(self, d):
        while self._parent.get(d, d) != d:
            d = self._parent[d]
        return d

    def _union(self, a, b):
        a, b = self._find(a), self._find(b)
        if a != b:
            self._parent[max(a, b)] = min(a, b)

    def dims(self, v):
        return tuple(self._find(d) for d in self._dims.get(v, self._new(v.type.rank)))

    def same(self, a, b) -> bool:
        return a.type.rank == b.type.rank and self.dims(a) == self.dims(b)

    def _op(self, op):
        out, ins, p = op.out, op.inputs, op.prim
        r = out.type.rank
        if p in _SAME_SHAPE:
            d = self.dims(ins[0])
            res = d[::-1] if p == "transpose" else d
        elif PRIMS[p].broadcasts or p in _ELEMENTWISE:
            res = []
            for k in range(r):
                cands = {self.dims(v)[k - (r - v.type.rank)] for v in ins
                         if v.type.rank >= r - k}
                res.append(cands.pop() if len(cands) == 1 else next(self._fresh))
            res = tuple(res)
        elif p == "matmul":
            a, b = self.dims(ins[0]), self.dims(ins[1])
            self._union(a[-1], b[0])
            res = a[:-1] + b[1:]
        elif p == "outer":
            res = (self.dims(ins[0])[0], self.dims(ins[1])[0])
        elif p == "sum":
            ax = op.attr("axis")
            d = self.dims(ins[0])
            res = () if ax is None else d[:ax] + d[ax + 1:]
        elif p in ("fill_like", "broadcast_like", "unbroadcast"):
            res = self.dims(ins[1])
        elif p == "zeros_like":
            res = self.dims(ins[0])
        else:
            res = self._dims.get(out) or self._new(r)
        self._dims[out] = tuple(res)
