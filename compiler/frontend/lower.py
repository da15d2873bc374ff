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
from .captures import Capture, recording
from .context import Lowerer
from .source import FunctionSource

__all__ = ["Capture", "lower", "lower_into", "recording"]


def lower(fs: FunctionSource, arg_types) -> Graph:
    """Lower the parsed function for arguments of the given `Type`s. Raises an
    `AdjointError` at the user's line for anything unsupported, and UnsupportedError for
    a function that returns a tuple."""
    b = Builder()
    params = tuple(Value(t, name) for name, t in zip(fs.params, arg_types))
    with b:
        result = Lowerer(fs, b, dict(zip(fs.params, params))).body()
    if isinstance(result, Value):
        result = b.name(result, "loss")
    if isinstance(result, tuple):
        raise UnsupportedError(f"{fs.node.name} returns a tuple; a loss must be one scalar",
                               fs.loc(fs.node.body[-1]), "return only the loss")
    return Graph(fs.node.name, params, tuple(b.ops), (result,), ("loss",))


def lower_into(fs: FunctionSource, builder: Builder, env: dict):
    """Lower fs's body into `builder` (appending ops), its parameters bound by env
    ({name: Value}); returns the returned Value (or tuple of them)."""
    return Lowerer(fs, builder, dict(env)).body()
