"""An IR interpreter: run a `Graph` op by op with NumPy and keep every value.

    f = evaluate(spec.primal, args)                  # {Value: forward value f_i}
    f, g = forward_backward(spec.primal, args, wrt)  # and g_i = d loss / d f_i

Guarantees: each op is evaluated with the same NumPy spelling that codegen emits (the
`emit` template of its primitive in compiler/primitives.py, evaluated with `eval` in a
namespace holding exactly the imports of a generated module), so the values are the
ones the generated code computes, op by op. `forward_backward` runs reverse mode
(compiler/diff/reverse.py, the lecture's backpropagation) on the primal graph without
the later passes, so every primal value that depends on a `wrt` parameter has its
final cotangent g_i; values that do not (constants, other parameters) have none. An op
that fails (a NumPy shape mismatch, say) raises `EvaluationError` at the user's line.
"""
from __future__ import annotations

import numpy as np

from .codegen.pyemit import MODULE_HEADER
from .errors import AdjointError
from .ir.core import ConstArray, Graph
from .primitives import PRIMS

__all__ = ["EvaluationError", "evaluate", "forward_backward"]

_DTYPES = {"float64": np.float64, "int64": np.int64, "bool": np.bool_}


class EvaluationError(AdjointError):
    """An op of the graph failed on the given arguments (message names the user line)."""


def _namespace() -> dict:
    ns: dict = {}
    exec(MODULE_HEADER, ns)  # np and the runtime functions/kernels generated code calls
    return ns


_NS: dict | None = None
_CODE: dict = {}


def _const(op):
    v = op.attr("value")
    if isinstance(v, ConstArray):
        return np.array(v.data, dtype=_DTYPES[v.dtype]).reshape(v.shape)
    return v


def evaluate(graph: Graph, args) -> dict:
    """Run `graph` on `args` and return {Value: value} for its parameters and every op
    output (floats/ints/bools for rank 0, NumPy arrays otherwise).

    args: one value per graph parameter, already normalised the way
    `GradFunction.normalize` does (float64 scalars, float64/int64/bool arrays).
    Raises `ArgumentError` for the wrong number of arguments and `EvaluationError`
    (with the op's user line) when NumPy rejects an op."""
    global _NS
    from .errors import ArgumentError
    if len(args) != len(graph.params):
        raise ArgumentError(f"{graph.name} takes {len(graph.params)} arguments, got {len(args)}")
    if _NS is None:
        _NS = _namespace()
    env = dict(zip(graph.params, args))
    for op in graph.ops:
        if op.prim == "const":
            env[op.out] = _const(op)
            continue
        p = PRIMS.get(op.prim)
        if p is None or getattr(op, "regions", ()):
            raise EvaluationError(f"the interpreter cannot run `{op.prim}` (control flow and "
                                  "ops without a NumPy template are not supported yet)", op.loc)
        tmpl = p.emit(op) if callable(p.emit) else p.emit
        text = tmpl.format(*(f"_{i}" for i in range(len(op.inputs))), **dict(op.attrs))
        code = _CODE.get(text)
        if code is None:
            code = _CODE[text] = compile(text, f"<{op.prim}>", "eval")
        local = {f"_{i}": env[v] for i, v in enumerate(op.inputs)}
        try:
            with np.errstate(all="ignore"):
                out = eval(code, _NS, local)  # noqa: S307 -- templates from our own table
        except Exception as e:  # NumPy's own message, placed at the user's line
            shapes = ", ".join(str(np.shape(env[v])) for v in op.inputs)
            raise EvaluationError(f"evaluating `{op.prim}` on shapes {shapes}: "
                                  f"{type(e).__name__}: {e}", op.loc) from None
        if len(op.outputs) != 1:  # pragma: no cover -- every primitive has one output today
            raise AssertionError(f"{op.prim}: ops with several outputs are not supported")
        env[op.out] = out
    return env


def forward_backward(primal: Graph, args, wrt) -> tuple[dict, dict]:
    """Forward values f_i and backward values g_i = d loss / d f_i of a primal graph.

    primal: the user's computation graph (`Specialization.primal`); args: normalised
    arguments; wrt: indices of the parameters to differentiate. Returns (f, g): dicts
    keyed by the primal graph's Values; g holds the values that depend on a `wrt`
    parameter (the loss has g = 1). Method: reverse mode (compiler/diff/reverse.py) on
    `primal`, evaluated by `evaluate`; raises what `reverse` and `evaluate` raise."""
    from .diff import reverse
    pairs: list = []
    adjoint = reverse(primal, tuple(wrt), cotangents=pairs)
    env = evaluate(adjoint, args)
    f = {v: env[v] for v in primal.params}
    f.update((v, env[v]) for op in primal.ops for v in op.outputs)
    g = {x: env[c] for x, c in pairs}
    return f, g
