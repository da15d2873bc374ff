"""Primitives of structured control flow and of the stacks reverse mode keeps for loops.

The control ops themselves ('if', 'for', 'while') have regions and are typed by
`compiler/ir/verify.py`, emitted by `compiler/codegen/pyemit.py` and differentiated by
`compiler/diff/reverse.py`; they are registered here so the table knows every name.

Stacks (reverse mode of loops, DESIGN sec. 2): a `for` over `range` knows its trip
count at entry, so the carried values the backward sweep needs go into a preallocated
array `(n, *shape)` (`stack_alloc`); a `while` starts small and doubles
(`runtime.stacks.push`). The backward loop reads them back in reverse (`stack_read`).
"""
from __future__ import annotations

from .ir.core import BOOL, I64, Type
from .primitives import _index_parts as index_parts, emit_op, index_tuple, prim, t_arith


def _no_rule(*_, **__):
    raise AssertionError("control ops are typed by verify, not by a type rule")


for _name in ("if", "for", "while"):  # an output may be a value from before the op (a
    # branch that passes one through, a loop that runs no trip): not a new array
    prim(_name, None, _no_rule, None, doc="structured control flow with regions", fresh=False)


def _emit_alloc(op):
    like = op.inputs[1].type
    dt = {"float64": "np.float64", "int64": "np.int64", "bool": "np.bool_"}[like.dtype]
    if like.rank == 0:
        return f"np.empty(tape_entries({{0}}, {{1}}), dtype={dt})"
    return f"np.empty((tape_entries({{0}}, {{1}}),) + {{1}}.shape, dtype={dt})"


prim("trip_count", 3, lambda *_, **__: I64, "trip_count({0}, {1}, {2})",
     doc="len(range(start, stop, step))", runtime=("runtime.stacks.trip_count",))
prim("stack_alloc", 2, lambda n, like, **_: Type(like.dtype, like.rank + 1), _emit_alloc,
     doc="an empty stack of {0} entries shaped like {1} (MemoryError past the tape bound)",
     runtime=("runtime.stacks.tape_entries",))
prim("stack_push", 4, lambda s, k, v, cap, **_: s, "push({0}, {1}, {2}, {3})", aliases=(0,),
     doc="stack {0} with entry {1} set to {2} (in place; grows to max({3}, 2x) if full)", writes=0, runtime=("runtime.stacks.push",))


def _emit_empty(op):
    t = op.out.type
    dt = {"float64": "np.float64", "int64": "np.int64", "bool": "np.bool_"}[t.dtype]
    return f"np.empty(({'0, ' * t.rank}), dtype={dt})"


prim("stack_empty", 0, lambda dtype, rank, **_: Type(dtype, rank), _emit_empty,
     doc="an empty stack of the given dtype and rank (it grows on its first push)")
prim("stack_read", 2, lambda s, k, **_: Type(s.dtype, s.rank - 1), "{0}[{1}]", aliases=(0,),
     doc="entry {1} of stack {0}", cheap=True)
def _numba_floordiv(op):
    """Numba's int64 `-2**63 // -1` is 0; NumPy's wraps to -2**63 (the one quotient that
    overflows): there the quotient is computed as a * b, which wraps as NumPy's does
    (`-a` would not do: a literal operand `-9223372036854775808` would read `--...`, a
    Python int 2**63). Floats and every other quotient are Numba's, which are NumPy's
    (0 for a division by zero, as NumPy gives with a warning)."""
    if op.out.type.dtype != "int64":
        return "{0} // {1}"
    if op.out.type.rank == 0:
        return "({0} // {1} if {1} != -1 else {0} * {1})"
    low = "(-9223372036854775807 - 1)"
    return f"({{0}} // {{1}} + (({{0}} == {low}) & ({{1}} == -1)) * {low})"


# integer arithmetic for indices and counters (also defined for floats, as in NumPy)
prim("floordiv", 2, t_arith, "{0} // {1}", broadcasts=True, vjp=(lambda g, ans, a, b: None,
                                                                  lambda g, ans, a, b: None),
     doc="a // b: piecewise constant, zero gradient", cheap=True, zero_derivative=True,
     numba=_numba_floordiv)
prim("mod", 2, t_arith, "{0} % {1}", broadcasts=True,
     vjp=(lambda g, ans, a, b: g, lambda g, ans, a, b: -(g * emit_op("floordiv", a, b))),
     doc="a % b = a - b * floor(a / b)", cheap=True)
prim("copy", 1, lambda x, **_: x, "{0}.copy()", vjp=(lambda g, ans, x: g,), shape="same",
     doc="x.copy(): a new array (writes to it do not reach x)")
prim("not", 1, lambda x, **_: BOOL, "not {0}", cheap=True)
prim("and", 2, lambda a, b, **_: BOOL, "{0} and {1}", cheap=True)
prim("or", 2, lambda a, b, **_: BOOL, "{0} or {1}", cheap=True)
prim("row", 2, lambda x, i, **_: Type(x.dtype, x.rank - 1), "{0}[{1}]", aliases=(0,),
     vjp=(lambda g, ans, x, i: emit_op("row_scatter", g, x, i), None),
     doc="row {1} of array {0} (for row in X)", cheap=True)
prim("row_scatter", 3, lambda g, x, i, **_: Type("float64", x.rank),
     "row_scatter({0}, {1}, {2})", doc="zeros shaped like {1} with row {2} set to {0}", runtime=("runtime.stacks.row_scatter",), shape_operand=1)
def _emit_index_add(op):
    return "index_add({1}, " + index_tuple(op.attr("spec"), 2) + ", {0})"


prim("index_add", None, lambda g, acc, *vals, spec: acc, _emit_index_add, aliases=(1,),
     doc="{1} with {0} added at an index, in place (an exclusively owned cotangent)", writes=1, runtime=("runtime.stacks.index_add",))
prim("outer_add", 3, lambda acc, a, b, **_: acc, "outer_add({0}, {1}, {2})", aliases=(0,),
     doc="{0} + outer({1}, {2}), in place (a cotangent accumulated by a backward loop)", writes=0, runtime=("runtime.stacks.outer_add",))
prim("add_into", 2, lambda acc, c, **_: acc, "add_into({0}, {1})", aliases=(0,),
     doc="{0} + {1}, in place (a cotangent accumulated by a backward loop)", writes=0, runtime=("runtime.stacks.add_into",))
def _emit_store(op):
    return "store({0}, " + index_tuple(op.attr("spec"), 2) + ", {1})"


def store_statement(op) -> str:
    """`{0}[index] = {1}`: how codegen spells a `store` (a statement; its output is {0})."""
    return "{0}[" + ", ".join(index_parts(op.attr("spec"), 2)[0]) + "] = {1}"


prim("store", None, lambda x, v, *vals, spec: x, _emit_store, aliases=(0,), writes=0,
     doc="x with x[index] = v, in place (an owned array: compiler/passes/stores.py)",
     shape="same", runtime=("runtime.stacks.store",))
prim("row_add", 3, lambda acc, i, g, **_: acc, "row_add({0}, {1}, {2})", aliases=(0,),
     doc="{0} with {2} added to row {1}, in place (an exclusively owned cotangent)", writes=0, runtime=("runtime.stacks.row_add",))
