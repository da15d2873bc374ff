"""AST -> SSA graph: the frontend's entry points.

Guarantees: `lower(fs, arg_types)` returns a `Graph` whose parameters are the user's
arguments (typed as given), whose ops carry the user's source locations and variable
names, and whose single result is the returned value, named `loss`; `lower_into(fs,
builder, env)` lowers a function's body into an existing builder (reverse mode inlines
custom rules with it). The lowering itself is the `Lowerer` (context.py). Inside
`recording(captures)` (captures.py, re-exported here), every global, closure variable,
attribute and function code read is appended to `captures`.
"""
from __future__ import annotations

from ..errors import UnsupportedError
from ..ir.builder import Builder
from ..ir.core import Graph, Value
from ..ir.walk import walk
from .captures import Capture, recording
from .context import Lowerer
from .source import FunctionSource
from ..pytree import Fixed
from .structures import flatten_result, parameters

__all__ = ["Capture", "lower", "lower_into", "lower_with_aux", "recording"]


def lower(fs: FunctionSource, arg_types) -> Graph:
    """Lower the parsed function for arguments of the given `Type`s (a `TreeType` for a
    structured argument: one parameter per leaf, compiler/frontend/structures.py).
    Raises an `AdjointError` at the user's line for anything unsupported, and
    UnsupportedError for a function that returns a tuple."""
    return lower_with_aux(fs, arg_types, False)[0]


def lower_with_aux(fs: FunctionSource, arg_types, has_aux: bool):
    """(graph, aux TreeDef or None). With `has_aux`, the function returns `(loss, aux)`:
    the graph's results are the loss and then aux's leaves (named `aux`, `aux_1`, ...),
    and the TreeDef rebuilds aux from them."""
    b = Builder()
    params, env = parameters(fs, arg_types)
    with b:
        env.update((n, b.const(v.value)) for n, v in env.items() if isinstance(v, Fixed))
        result = Lowerer(fs, b, env).body()
    where = fs.loc(fs.node.body[-1])
    aux, tree = [], None
    if has_aux:
        if not (isinstance(result, tuple) and len(result) == 2):
            raise UnsupportedError(f"{fs.node.name} must return `(loss, aux)` with has_aux=True",
                                   where, "return a pair: the scalar loss and the auxiliary data")
        result, aux_value = result
        aux, tree = flatten_result(where, aux_value)
    if isinstance(result, Value):
        result = b.name(result, "loss")
    if isinstance(result, (tuple, dict)):
        raise UnsupportedError(f"{fs.node.name} returns a {type(result).__name__}; a loss must "
                               "be one scalar", where,
                               "return only the loss, or `(loss, aux)` with grad(..., has_aux=True)")
    if not isinstance(result, Value):
        raise UnsupportedError(f"{fs.node.name} does not return an array or number", where)
    names = ("loss",) + tuple("aux" if i == 0 else f"aux_{i}" for i in range(len(aux)))
    graph = Graph(fs.node.name, params, tuple(b.ops), (result, *aux), names)
    refuse_wide_ints(graph)
    return graph, tree


def refuse_wide_ints(graph: Graph) -> None:
    """Raise UnsupportedError at the user's line for an integer constant beyond int64 that
    some op uses (Context.wide_ints turned those beside floats into floats): compiled
    code would wrap it around, where NumPy raises OverflowError beside int64 values and
    Python computes with unbounded ints."""
    used = set(graph.results)
    for op in walk(graph.ops):
        used.update(op.inputs)
        for r in op.regions:
            used.update(r.results)
    for op in walk(graph.ops):
        c = op.attr("value") if op.prim == "const" else None
        if (isinstance(c, int) and not isinstance(c, bool) and not -2**63 <= c < 2**63
                and op.out in used):
            raise UnsupportedError(
                f"the integer {c} does not fit int64, the integers compiled code computes "
                "with (it would wrap around; beside an int64 value NumPy raises "
                "OverflowError)", op.loc,
                "beside floats write it as a float (`2.0 ** 63`, `float(2 ** 63)`)")


def lower_into(fs: FunctionSource, builder: Builder, env: dict):
    """Lower fs's body into `builder` (appending ops), its parameters bound by env
    ({name: Value}); returns the returned Value (or tuple of them)."""
    return Lowerer(fs, builder, dict(env)).body()
