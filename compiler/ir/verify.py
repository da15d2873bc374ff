"""SSA and type checker for graphs; runs after every pass in tests.

Guarantees on success: each value is defined once in the whole graph (a parameter, a
region parameter or one op output), every use comes after its definition in the same
or an enclosing region, results are defined, each op's output type equals its
primitive's type rule applied to its input types, and control-flow ops have regions
whose parameter and result types match their carried values.
"""
from __future__ import annotations

from .core import BOOL, Graph
from .registry import PRIMS


class VerifyError(AssertionError):
    pass


def verify(graph: Graph) -> Graph:
    everywhere: set = set()  # SSA: each value defined once in the whole graph
    visible = set()
    for p in graph.params:
        if p in everywhere:
            raise VerifyError(f"parameter {p!r} defined twice")
        everywhere.add(p)
        visible.add(p)
    _block(graph.ops, graph.results, visible, everywhere)
    return graph


def _define(v, op_name, visible, everywhere):
    if v in everywhere:
        raise VerifyError(f"{op_name}: {v!r} defined twice (not SSA)")
    everywhere.add(v)
    visible.add(v)


def _block(ops, results, visible, everywhere):
    for op in ops:
        if op.prim not in PRIMS:
            raise VerifyError(f"unknown primitive {op.prim!r}")
        for v in op.inputs:
            if v not in visible:
                raise VerifyError(f"{op.prim}: input {v!r} used before definition")
        if op.regions:
            _control(op, visible, everywhere)
        elif op.prim != "const":
            want = PRIMS[op.prim].type_rule(*(v.type for v in op.inputs), **dict(op.attrs))
            if want != op.out.type:
                raise VerifyError(f"{op.prim}: output type {op.out.type} but rule gives {want}")
        for v in op.outputs:
            _define(v, op.prim, visible, everywhere)
    for r in results:
        if r not in visible:
            raise VerifyError(f"result {r!r} is never defined")


def _control(op, visible, everywhere):
    """if: regions (then, else) -> outputs; for: inputs (start, stop, step, *init), body
    params (i, *carried); while: inputs init, regions (cond -> bool, body)."""
    types = tuple(v.type for v in op.outputs)
    if op.prim == "if":
        want_params = [()] * 2
        want_results = [types, types]
    elif op.prim == "for":
        carried = tuple(v.type for v in op.inits)
        want_params = [(op.bounds[0].type,) + carried]
        want_results = [carried]
        if carried != types:
            raise VerifyError(f"for: carried types {carried} but outputs {types}")
    elif op.prim == "while":
        carried = tuple(v.type for v in op.inits)
        want_params = [carried, carried]
        want_results = [(BOOL,), carried]
        if carried != types:
            raise VerifyError(f"while: carried types {carried} but outputs {types}")
    else:
        raise VerifyError(f"{op.prim} must not have regions")
    if len(op.regions) != len(want_params):
        raise VerifyError(f"{op.prim}: expected {len(want_params)} regions")
    for r, wp, wr in zip(op.regions, want_params, want_results):
        got_p = tuple(v.type for v in r.params)
        got_r = tuple(v.type for v in r.results)
        if got_p != tuple(wp) or got_r != tuple(wr):
            raise VerifyError(f"{op.prim}: region params {got_p} results {got_r}, "
                              f"expected {tuple(wp)} and {tuple(wr)}")
        inner = set(visible)
        for p in r.params:
            _define(p, op.prim, inner, everywhere)
        _block(r.ops, r.results, inner, everywhere)
