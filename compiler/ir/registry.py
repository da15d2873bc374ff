"""The registry of primitives: what the IR knows about an op's primitive.

The IR (builder, verify, walk) and the passes look primitives up here by name;
compiler/primitives.py and compiler/primitives_control.py fill the registry with one `Primitive`
record each when `compiler` is imported. So the IR depends on this module only, never
on the table that depends on the IR.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

OTHERS = "registered by other modules (compiler/primitives_control.py: control flow)"


@dataclass(frozen=True)
class Primitive:
    """Everything the compiler knows about one primitive (no other table is keyed by
    primitive names): its type rule, spellings, adjoint rule and the facts that passes
    need about it."""

    name: str
    arity: int | None  # number of inputs; None: variable
    type_rule: Callable  # input Types (and attrs) -> output Type; raises TypeError
    emit: object  # the NumPy spelling: str template or callable(op) -> str
    vjp: object = None  # one rule per input (indexable); None: not differentiable (zero)
    broadcasts: bool = False  # elementwise with NumPy broadcasting: unbroadcast adjoints
    doc: str = ""
    elementwise: bool = False  # output has the (broadcast) shape of the inputs
    group: str = OTHERS
    # inputs whose memory the output may share (a view, or the input itself, as
    # `x.T`, `x[1:]`, `reshape`, a kernel that returns its argument, an in-place update);
    # compiler/passes/results.py copies a result that could share memory with an argument
    aliases: tuple = ()
    # the output's shape, for compiler/diff/shapes.py: "broadcast" (elementwise ops),
    # "same" (input 0's), "like_second" (input 1's), "reversed" (input 0's axes reversed),
    # "reduce" (input 0's without `axis`), "matmul", "outer", "permute", "expand_dims",
    # "take", "take_pairs", "equal" (input 0's, checked at run time to equal input 1's:
    # their axes are merged); None: unknown (fresh symbols, the safe answer)
    shape: str | None = None
    writes: int | None = None  # the input it updates in place (and returns)
    cheap: bool = False  # a backward loop recomputes it rather than storing it on a stack
    fresh: bool = True  # its output is a new array that nothing else holds
    runtime: tuple = ()  # "module.name" of each runtime function its spellings call
    numba: object = None  # the spelling in compiled code where it differs from `emit`
    jvp: object = None  # forward-mode (tangent) rule, one per input: not written yet
    # the input read only for its shape (zeros_with's template, unbroadcast's target):
    # reverse mode may give it any value of that shape (compiler/diff/reverse.py)
    shape_operand: int | None = None
    # no derivative rule is needed: zero where it exists (sign, floor, a draw, ...)
    zero_derivative: bool = False


PRIMS: dict[str, Primitive] = {}
