"""SSA and type checker for graphs; runs after every pass in tests.

Guarantees on success: each value is defined once (a parameter or one op output), every
use comes after its definition, results are defined, and each op's output type equals
its primitive's type rule applied to its input types.
"""
from __future__ import annotations

from .core import Graph


class VerifyError(AssertionError):
    pass


def verify(graph: Graph) -> Graph:
    from ..primitives import PRIMS
    defined = set()
    for p in graph.params:
        if p in defined:
            raise VerifyError(f"parameter {p!r} defined twice")
        defined.add(p)
    for op in graph.ops:
        if op.prim not in PRIMS:
            raise VerifyError(f"unknown primitive {op.prim!r}")
        for v in op.inputs:
            if v not in defined:
                raise VerifyError(f"{op.prim}: input {v!r} used before definition")
        if op.prim != "const":
            want = PRIMS[op.prim].type_rule(*(v.type for v in op.inputs), **dict(op.attrs))
            if want != op.out.type:
                raise VerifyError(f"{op.prim}: output type {op.out.type} but rule gives {want}")
        for v in op.outputs:
            if v in defined:
                raise VerifyError(f"{op.prim}: output {v!r} defined twice (not SSA)")
            defined.add(v)
    for r in graph.results:
        if r not in defined:
            raise VerifyError(f"result {r!r} is never defined")
    return graph
