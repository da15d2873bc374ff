"""Replace values in ops (a helper for passes, not a pass)."""
from ..ir.core import Op


def substitute(op: Op, repl: dict) -> Op:
    if not any(v in repl for v in op.inputs):
        return op
    ins = tuple(repl.get(v, v) for v in op.inputs)
    return Op(op.prim, ins, op.outputs, op.attrs, op.loc, op.phase)
