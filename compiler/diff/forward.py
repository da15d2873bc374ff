"""Forward mode: graph -> tangent graph (the JVP), primal and tangent side by side.

For each op, in order, the primal op is kept and the tangent of its output is emitted
right after it: the sum over its inputs that have tangents of the primitive's JVP rule,
t_out = sum_i JVP_i(t_i) (the chain rule, directional derivative along the seed). So
the generated source reads `h = np.sin(x)` then `t_h = t_x * np.cos(x)` under the same
`# file:line` comment. Control flow is mirrored:
- `if`: each branch computes its tangents too; the op gets one more output per result
  that has a tangent in some branch (a branch without one gives zeros).
- `for`/`while`: a carried value that depends on a seeded argument (activity analysis,
  compiler/diff/activity.py, shared with reverse mode: a fixpoint over the loop) gets a carried tangent beside it (its initial tangent is
  zeros when the initial value has none); the body computes both. Nothing is stored:
  forward mode needs no stacks, and its cost is one sweep (about 1.5-3x the primal).
The transform works on any graph the pipeline builds, the adjoint graph of reverse mode
included (forward-over-reverse: the JVP of a gradient is a Hessian-vector product), so
the adjoint helpers (unbroadcast, zeros_with, take_add, row_scatter, ...) and the loop
stacks (stack_alloc, stack_push, stack_read: a tangent stack beside each primal stack)
have JVP rules too.

The rule convention (the `jvp` field of a primitive's record; rules of the primitives
defined before it are in compiler/jvp_rules.py):
- one rule per input, indexable like `vjp`: `rule(t, ans, *inputs, **attrs) -> Value |
  None` gets the tangent `t` of input i (input i's shape; only float inputs that depend
  on a seeded argument have one) and the primal output `ans`, emits ops through the
  current builder (`emit_op`, `Value` arithmetic) and returns input i's contribution to
  the output's tangent, in the output's shape or one that broadcasts to it (None: zero).
  For an elementwise primitive whose tangent might be smaller than its output (an
  operand NumPy broadcast carries it alone), forward mode broadcasts the sum
  (`broadcast_like`); a tangent has its primal's shape (shape classes, diff/shapes.py).
- a rule that needs all tangents at once is a `jvp_rules.Joint`: `rule(tangents, ans,
  *inputs, **attrs)` with None for inputs without tangent, returns the output tangent.
- an *elementwise* primitive needs no `jvp`: its derivative is diagonal, so its VJP rule
  with the tangent in place of the cotangent is its JVP rule (`jvp_rule` below).
- a primitive without `jvp` and without `vjp` has a zero derivative (as in reverse mode).

A rule that refuses (a second derivative not implemented, forward mode through a
`custom_vjp` function: jvp_rules.CustomVJPForwardError) raises its AdjointError at the
line of the op it differentiates.

Guarantees: `jvp(graph, wrt)` returns a graph with the parameters of `graph` followed by
one tangent parameter `t_<name>` per `wrt` entry (float64, of its parameter's rank), and
the results of `graph` followed by the tangent of each result (zeros where a result
does not depend on a seeded argument). The primal ops are the originals (same values);
tangent ops carry the location and phase of the op they differentiate.
"""
from __future__ import annotations

from .. import jvp_rules  # noqa: F401  (fills the records' jvp fields)
from ..errors import AdjointError
from ..ir.builder import Builder
from ..ir.core import Graph, Region, Type, Value
from ..primitives import PRIMS
from .activity import activity
from .shapes import ShapeClasses


def jvp_rule(p):
    """The JVP rules of primitive record `p` (indexable per input, or a `Joint`), or None
    when its derivative is zero: its `jvp`, else, for an elementwise primitive, its VJP
    rules (diagonal derivative: the same formula with the tangent for the cotangent)."""
    if p.jvp is not None:
        return p.jvp
    if p.elementwise and p.vjp is not None:
        return p.vjp
    return None


def jvp(graph: Graph, wrt: tuple, result_names: tuple | None = None) -> Graph:
    """The tangent graph of `graph` seeded at the parameters `wrt` (indices), see the
    module docstring. `result_names`: names of graph's results (default: its own, or the
    values' hints); the tangents are named `t_<name>`."""
    seeds = [graph.params[i] for i in wrt]
    t_params = tuple(Value(Type("float64", p.type.rank), "t_" + (p.hint or "x")) for p in seeds)
    fw = _Forward(graph)
    for p, t in zip(seeds, t_params):
        if p.type.is_float:
            fw.tan[p] = t
            fw.active.add(p)
            fw.shapes.alias(t, p)
    activity(graph.ops, fw.active, lambda op: jvp_rule(PRIMS[op.prim]) is not None)
    b = Builder(phase="primal")
    with b:
        fw.block(graph.ops, b)
        last = graph.ops[-1] if graph.ops else None
        with b.at(last.loc if last else None, last.phase if last else "primal"):
            t_results = [fw.tan.get(r) if fw.tan.get(r) is not None else _zero(r)
                         for r in graph.results]
    names = tuple(result_names or graph.result_names or
                  tuple(r.hint or f"r{k}" for k, r in enumerate(graph.results)))
    return graph.replace(params=graph.params + t_params, ops=tuple(b.ops),
                         results=graph.results + tuple(t_results),
                         result_names=names + tuple("t_" + n for n in names))


def _zero(v):
    b = _current()
    return b.const(0.0) if v.type.rank == 0 else b.emit("zeros_like", v)


def _current():
    from ..ir.builder import current
    return current()


class _Forward:
    def __init__(self, graph: Graph):
        self.shapes = ShapeClasses(graph)
        self.active: set = set()
        self.tan: dict = {}  # primal value -> its tangent

    def block(self, ops, b: Builder):
        """Append `ops` to b, each followed by its tangent ops (control ops rebuilt)."""
        for op in ops:
            with b.at(op.loc, op.phase):
                if op.prim == "if":
                    self._if(op, b)
                elif op.prim in ("for", "while"):
                    self._loop(op, b)
                else:
                    b.ops.append(op)
                    self._tangent(op, b)

    def _tangent(self, op, b):
        ts = [self.tan.get(v) for v in op.inputs]
        if all(t is None for t in ts) or len(op.outputs) != 1 or not op.out.type.is_float:
            return
        p = PRIMS[op.prim]
        rules = jvp_rule(p)
        if rules is None:
            return
        out = op.out
        start = len(b.ops)
        try:
            t = self._apply(rules, ts, op, b)
        except AdjointError as e:  # a rule's refusal, placed at the op's user line
            if e.loc is not None or op.loc is None:
                raise
            raise type(e)(e.message, op.loc, e.hint) from None
        if t is None:
            return
        t = b.as_value(t)
        for o in b.ops[start:]:  # shape classes of the tangent ops: is t out-shaped?
            if not o.regions and len(o.outputs) == 1:
                self.shapes._op(o)
        if p.elementwise and out.type.rank and not self.shapes.same(t, out):
            t = b.emit("broadcast_like", t, out)
        if t.type.rank != out.type.rank:  # a scalar rule result of an array output
            t = b.emit("fill_like", out, t) if t.type.rank == 0 else t
        if out.hint:
            t = b.name(t, "t_" + out.hint)
        self.shapes.alias(t, out)  # a tangent has its primal's shape (checked above)
        self.tan[out] = t

    @staticmethod
    def _apply(rules, ts, op, b):
        """The output tangent of `op` from its inputs' tangents `ts` (None: zero)."""
        out, attrs = op.out, dict(op.attrs)
        if getattr(rules, "joint", False):
            return rules(ts, out, *op.inputs, **attrs)
        t = None
        for i, tx in enumerate(ts):
            rule = rules[i] if tx is not None else None
            c = rule(tx, out, *op.inputs, **attrs) if rule is not None else None
            if c is not None:
                t = c if t is None else b.emit("add", t, c)
        return t

    def _region(self, r: Region, b: Builder, params=(), results_of=()):
        """(child builder with r's ops and tangents, tangents of r's results at indices
        `results_of`: zeros where a result has none)."""
        child = b.child()
        with child:
            self.block(r.ops, child)
            with child.at(b.loc, b.phase):
                ts = [self._tan_or_zero(r.results[j]) for j in results_of]
        return child, ts

    def _tan_or_zero(self, v):
        t = self.tan.get(v)
        return t if t is not None else _zero(v)

    def _if(self, op, b):
        children = []
        for r in op.regions:
            child = b.child()
            with child:
                self.block(r.ops, child)
            children.append(child)
        act = [j for j, o in enumerate(op.outputs)
               if o.type.is_float and any(self.tan.get(r.results[j]) is not None for r in op.regions)]
        regions = []
        for r, child in zip(op.regions, children):
            with child, child.at(op.loc, op.phase):
                ts = [self._tan_or_zero(r.results[j]) for j in act]
            regions.append(Region(r.params, tuple(child.ops), r.results + tuple(ts)))
        t_outs = self._new_outputs(op, act)
        b.ops.append(op.with_(outputs=op.outputs + t_outs, regions=tuple(regions)))

    def _new_outputs(self, op, act):
        outs = []
        for j in act:
            o = op.outputs[j]
            t = Value(Type("float64", o.type.rank), "t_" + o.hint if o.hint else "")
            self.tan[o] = t
            self.shapes.alias(t, o)
            outs.append(t)
        return tuple(outs)

    def _loop(self, op, b):
        params, body = op.carried(), op.body
        act = [j for j, p in enumerate(params) if p in self.active]
        if not act:
            b.ops.append(op)
            return
        t_inits = tuple(self._tan_or_zero(op.inits[j]) for j in act)
        t_params = []
        for j in act:
            p = params[j]
            t = Value(Type("float64", p.type.rank), "t_" + p.hint if p.hint else "")
            self.tan[p] = t
            self.shapes.alias(t, p)
            t_params.append(t)
        child, t_res = self._region(body, b, results_of=act)
        new_body = Region(body.params + tuple(t_params), tuple(child.ops), body.results + tuple(t_res))
        if op.prim == "while":
            cond = op.cond_region
            extra = tuple(Value(t.type, t.hint) for t in t_params)  # the condition ignores them
            regions = (cond.replace(params=cond.params + extra), new_body)
        else:
            regions = (new_body,)
        t_outs = self._new_outputs(op, act)
        b.ops.append(op.with_(inputs=op.inputs + t_inits, outputs=op.outputs + t_outs,
                              regions=regions))
