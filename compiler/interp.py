"""An IR interpreter: run a `Graph` op by op with NumPy and keep every value.

    f = evaluate(spec.primal, args)                  # {Value: forward value f_i}
    f, g = forward_backward(spec.primal, args, wrt)  # and g_i = d loss / d f_i
    run = execute(spec.primal, args, wrt)            # per block and per loop iteration

Guarantees: each op is evaluated with the same NumPy spelling that codegen emits (the
`emit` template of its primitive in compiler/primitives.py, evaluated with `eval` in a
namespace holding exactly the imports of a generated module), so the values are the
ones the generated code computes, op by op. Control flow runs as the generated code
runs it: `if` evaluates the region its condition selects, `for` iterates
`range(start, stop, step)` binding the index and the carried values to the body's
parameters, `while` evaluates its condition region before each trip. `execute`
records the values of each execution of a block in a `Run`: one per branch taken and
one per loop iteration, so the values of iteration k can be read after the loop has
moved on (arrays that ops update in place, such as cotangents accumulated by a
backward loop, are copied when recorded; stacks are not, they are read at the end as
the tape they are).

Backward values: `execute(..., wrt)` also records the *trace* of the run, the
straight-line graph of the primitive ops executed (each loop iteration's ops copied,
the taken side of each branch inlined, loop indices as constants; for straight-line
code the trace is the graph itself), runs reverse mode (compiler/diff/reverse.py, the
lecture's backpropagation) on it and evaluates the result. So every executed value
that depends on a `wrt` parameter has its final cotangent g_i, per iteration, computed
by the same VJP rules as the generated code; values that do not have none (a `wrt`
parameter the loss does not depend on gets a zero). Memory and
time grow with the number of ops executed (this is a view for inspection, not a way
to run a model). An op that fails (a NumPy shape mismatch, say) raises
`EvaluationError` at the user's line.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from .codegen.pyemit import MODULE_HEADER
from .errors import AdjointError
from .ir.core import ConstArray, Graph, Op, Value
from .ir.walk import mutated_values, walk
from .primitives import PRIMS

__all__ = ["EvaluationError", "Run", "evaluate", "execute", "forward_backward", "stack_groups"]

_DTYPES = {"float64": np.float64, "int64": np.int64, "bool": np.bool_}


class EvaluationError(AdjointError):
    """An op of the graph failed on the given arguments (message names the user line)."""


@dataclass
class Run:
    """The values of one execution of a block of ops: the graph itself, the taken side
    of a branch, or one loop iteration.

    values: {Value: value} for the block's parameters (a loop index, the carried values
    at the iteration's entry) and op outputs, as computed in this execution (a `while`
    iteration also holds its condition region's values); grads: {Value: g_i} for those
    that have a cotangent (only when `execute` was given `wrt`); loops: {loop Op: [Run
    per iteration]}; branches: {if Op: (index of the region taken, its Run)}; nodes:
    {Value: the Value standing for it in the trace} (internal)."""

    values: dict = field(default_factory=dict)
    grads: dict = field(default_factory=dict)
    loops: dict = field(default_factory=dict)
    branches: dict = field(default_factory=dict)
    nodes: dict = field(default_factory=dict)


def _namespace() -> dict:
    ns: dict = {}
    exec(MODULE_HEADER, ns)  # np and the runtime functions/kernels generated code calls
    return ns


_NS: dict | None = None
# ADJOINT_VERIFY=1 (the tests): every value NumPy computes has its IR type's rank and
# dtype kind, so the IR never believes, say, a bool mask to be an index array
_CHECK_TYPES = bool(os.environ.get("ADJOINT_VERIFY"))
_KINDS = {"float64": "f", "int64": "iu", "bool": "b"}


def _check_type(op, out):
    t = op.out.type
    a = np.asarray(out)
    if a.ndim != t.rank or a.dtype.kind not in _KINDS[t.dtype]:
        raise AssertionError(f"{op.prim} at {op.loc}: the IR says {t.dtype}[rank {t.rank}], "
                             f"NumPy computed {a.dtype}[rank {a.ndim}]")
_CODE: dict = {}


def _const(op):
    v = op.attr("value")
    if isinstance(v, ConstArray):
        return np.array(v.data, dtype=_DTYPES[v.dtype]).reshape(v.shape)
    return v


def carried(op: Op):
    """(initial values, body parameters, body results) of the carried values of a
    `for`/`while` op, in order; a `for` body's first parameter (the index) excluded."""
    return op.inits, op.carried(), op.body.results


def stack_groups(graph: Graph) -> dict:
    """{Value: the Value that allocates its stack} for every value that is one of reverse
    mode's stacks (an allocation, a push's result, the loop parameters and loop outputs
    carrying it): one array under several SSA names, the tape of a loop."""
    parent: dict = {}

    def find(v):
        while parent.get(v, v) is not v:
            v = parent[v]
        return v

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra is not rb:
            if rb in roots:
                ra, rb = rb, ra
            parent[rb] = ra

    roots = {op.out for op in walk(graph.ops) if op.prim in ("stack_alloc", "stack_empty")}
    for op in walk(graph.ops):
        if op.prim == "stack_push":
            union(op.inputs[0], op.out)
        elif op.prim in ("for", "while"):
            inits, params, results = carried(op)
            for j, x in enumerate(inits):
                for v in (params[j], results[j], op.outputs[j]):
                    union(x, v)
                if op.prim == "while":
                    union(x, op.carried(op.cond_region)[j])
        elif op.prim == "if":
            for j, o in enumerate(op.outputs):
                for r in op.regions:
                    union(o, r.results[j])
    members = set(parent) | set(parent.values()) | roots
    return {v: find(v) for v in members if find(v) in roots}


class _Interp:
    def __init__(self, graph: Graph, trace: bool):
        self.stacks = stack_groups(graph)
        self.mutated = mutated_values(graph.ops) - set(self.stacks)
        self.env: dict = {}
        self.nodes: dict = {}  # Value -> its Value in the trace (current execution)
        self.trace: list | None = [] if trace else None
        self.depth = 0

    def record(self, run, v, x, node=None):
        self.env[v] = x
        run.values[v] = x.copy() if v in self.mutated and isinstance(x, np.ndarray) else x
        if self.trace is not None:
            self.nodes[v] = run.nodes[v] = v if node is None else node

    def block(self, ops, run):
        for op in ops:
            if op.prim == "if":
                self.branch(op, run)
            elif op.prim in ("for", "while"):
                self.loop(op, run)
            elif op.regions:  # pragma: no cover -- verify rejects other ops with regions
                raise EvaluationError(f"the interpreter cannot run `{op.prim}`", op.loc)
            else:
                self.op(op, run)

    def op(self, op, run):
        if op.prim == "const":
            out = _const(op)
        else:
            out = self.apply(op)
        node = None
        if self.trace is not None:
            ins = tuple(self.nodes[v] for v in op.inputs)
            if self.depth == 0 and ins == op.inputs:
                self.trace.append(op)  # straight-line code: the trace is the graph
            else:
                node = Value(op.out.type, op.out.hint)
                self.trace.append(op.with_(inputs=ins, outputs=(node,)))
        self.record(run, op.out, out, node)

    def apply(self, op):
        p = PRIMS.get(op.prim)
        if p is None or p.emit is None:
            raise EvaluationError(f"the interpreter cannot run `{op.prim}` (no NumPy "
                                  "template)", op.loc)
        tmpl = p.emit(op) if callable(p.emit) else p.emit
        text = tmpl.format(*(f"_{i}" for i in range(len(op.inputs))), **dict(op.attrs))
        code = _CODE.get(text)
        if code is None:
            code = _CODE[text] = compile(text, f"<{op.prim}>", "eval")
        local = {f"_{i}": self.env[v] for i, v in enumerate(op.inputs)}
        try:
            with np.errstate(all="ignore"):
                out = eval(code, _NS, local)  # noqa: S307 -- templates from our own table
        except Exception as e:  # NumPy's own message, placed at the user's line
            shapes = ", ".join(str(np.shape(self.env[v])) for v in op.inputs)
            raise EvaluationError(f"evaluating `{op.prim}` on shapes {shapes}: "
                                  f"{type(e).__name__}: {e}", op.loc) from None
        if len(op.outputs) != 1:  # pragma: no cover -- every primitive has one output today
            raise AssertionError(f"{op.prim}: ops with several outputs are not supported")
        if _CHECK_TYPES:
            _check_type(op, out)
        return out

    def bind(self, run, params, sources):
        """Region parameters take the values (and trace nodes) of `sources`."""
        for p, s in zip(params, sources):
            self.record(run, p, self.env[s], self.nodes.get(s) if self.trace is not None else None)

    def region(self, r, run):
        self.depth += 1
        try:
            self.block(r.ops, run)
        finally:
            self.depth -= 1

    def branch(self, op, run):
        k = 0 if bool(self.env[op.condition]) else 1
        sub = Run()
        run.branches[op] = (k, sub)
        r = op.regions[k]
        self.region(r, sub)
        self.bind(run, op.outputs, r.results)

    def index(self, run, p, i, loc):
        node = None
        if self.trace is not None:
            node = Value(p.type, p.hint)
            self.trace.append(Op("const", (), (node,), (("value", int(i)),), loc))
        self.record(run, p, int(i), node)

    def loop(self, op, run):
        inits, params, results = carried(op)
        trips = run.loops[op] = []
        body = op.body
        src = list(inits)
        if op.prim == "for":
            start, stop, step = (int(self.env[v]) for v in op.bounds)
            for i in range(start, stop, step):
                it = Run()
                trips.append(it)
                self.index(it, op.index, i, op.loc)
                self.bind(it, params, src)
                self.region(body, it)
                src = list(results)
        else:
            cond = op.cond_region
            while True:
                it = Run()
                self.bind(it, cond.params, src)
                self.region(cond, it)
                if not bool(self.env[cond.results[0]]):
                    break
                trips.append(it)
                self.bind(it, params, src)
                self.region(body, it)
                src = list(results)
        self.bind(run, op.outputs, src)


def _interp(graph, args, trace):
    global _NS
    from .errors import ArgumentError
    if len(args) != len(graph.params):
        raise ArgumentError(f"{graph.name} takes {len(graph.params)} arguments, got {len(args)}")
    if _NS is None:
        _NS = _namespace()
    it = _Interp(graph, trace)
    run = Run()
    for p, a in zip(graph.params, args):
        it.record(run, p, a)
    it.block(graph.ops, run)
    return it, run


def evaluate(graph: Graph, args) -> dict:
    """Run `graph` on `args` and return {Value: value} for its parameters and every op
    output (floats/ints/bools for rank 0, NumPy arrays otherwise); a value inside a loop
    has the value of the last iteration that computed it.

    args: one value per graph parameter, already normalised the way
    `GradFunction.normalize` does (float64 scalars, float64/int64/bool arrays).
    Raises `ArgumentError` for the wrong number of arguments and `EvaluationError`
    (with the op's user line) when NumPy rejects an op."""
    it, _ = _interp(graph, args, trace=False)
    return it.env


def execute(graph: Graph, args, wrt=None) -> Run:
    """Run `graph` on `args`, recording each block execution (see `Run`).

    graph: a primal or adjoint graph; args: normalised arguments (as for `evaluate`);
    wrt: None, or indices of the parameters to differentiate (then `graph` must be a
    primal graph with a scalar first result, and each Run's `grads` holds g_i = d loss /
    d f_i of its values, from reverse mode on the trace). Raises what `evaluate` and
    `compiler.diff.reverse` raise."""
    it, run = _interp(graph, args, trace=wrt is not None)
    if wrt is None:
        return run
    from .diff import reverse
    trace = graph.replace(ops=tuple(it.trace),
                          results=tuple(it.nodes[v] for v in graph.results))
    pairs: list = []
    adjoint = reverse(trace, tuple(wrt), cotangents=pairs)
    env = _interp(adjoint, args, trace=False)[0].env
    g = {x: env[c] for x, c in pairs}
    g.update((graph.params[i], env[r]) for i, r in zip(wrt, adjoint.results[1:]))  # zero too

    def fill(r):
        r.grads.update((v, g[n]) for v, n in r.nodes.items() if n in g)
        for trips in r.loops.values():
            for t in trips:
                fill(t)
        for _, sub in r.branches.values():
            fill(sub)
    fill(run)
    return run


def forward_backward(primal: Graph, args, wrt) -> tuple[dict, dict]:
    """Forward values f_i and backward values g_i = d loss / d f_i of a primal graph.

    primal: the user's computation graph (`Specialization.primal`); args: normalised
    arguments; wrt: indices of the parameters to differentiate. Returns (f, g): dicts
    keyed by the primal graph's Values of the top-level block (parameters and op
    outputs, loop and branch results included; see `execute` for values inside
    regions); g holds the values that depend on a `wrt` parameter (the loss has g = 1).
    Raises what `execute` raises."""
    run = execute(primal, args, wrt)
    return dict(run.values), dict(run.grads)
