"""Indexed writes in place: `x[idx] = v` costs O(size of v), not O(size of x).

Before: any graph. Writes are functional: `set_index(x, v, *index)` is a new array, a
copy of x with `[idx] = v`, so a loop that writes one element per trip costs O(n) a
trip, O(n^2) in all (and its backward loop, which clears the element's cotangent with
`set_index(g, 0.0, i)`, too). After: where x is *owned* at the write, the write updates
x in place (`store`, a statement `x[idx] = v` in the generated code) and returns it.

Ownership (uniqueness, as Futhark's in-place updates): x is owned at an op W of a block
when
- x is a new array: the output of a primitive whose record says `fresh` (not a
  constant, a parameter of the function or a view), of an owned in-place write, or an
  owned loop-carried value (below);
- nothing reads x, or any array that may share its memory, after W: no later op of the
  block, no region of a later op, no result of the block (values that may share memory
  follow each primitive's `aliases` field; a branch or loop that reads x may return it);
- W's other inputs do not share x's memory (NumPy buffers an overlapping `x[1:] = x[:-1]`,
  a loop over elements would not).
A loop-carried value is owned in the loop's body when its initial value is owned at the
loop (the loop is its last reader, and reads it only as that initial value) and the
body's result for it is owned at the body's end with nothing else the body returns
sharing its memory (a fixed point over the loop's carried values). The loop's output
is then owned after the loop. A carried array the body writes (itself, in a branch or
in a nested loop) whose initial value is not owned (an argument: `y = x * 1.0` folds to
x) is copied once before the loop instead of at every write. An `if` lends its branches
the arrays owned at it (one branch runs, and nothing reads them after the `if`); an
output that every branch gives as an owned array, shared with no other output, is
owned after it. 

Guarantees: the same values as before, every read of an overwritten array happens
before its write, and the caller's arrays, constants and views are never written.
"""
from __future__ import annotations

from ..ir.core import Graph, Op, Value
from ..ir.registry import PRIMS
from ..ir.walk import free_values, walk

LOOPS = ("for", "while")


def store_in_place(graph: Graph) -> Graph:
    ops, _ = _Block(graph.ops, graph.results, frozenset()).rewrite()
    return graph.replace(ops=ops)


def _reads(op) -> list:
    """Every value op reads: its inputs, and what its regions use from outside."""
    out = list(op.inputs)
    for r in op.regions:
        out.extend(free_values(r))
    return out


def _reads_first(ops) -> tuple:
    """ops with each read of an array that a later `set_index` writes moved above the
    write where it can be: reverse mode emits the adjoint of `x[i] = v` as the cotangent
    of the old x (`g` with `[i] = 0`) before the cotangent of v (`g[i]`), which would
    otherwise keep the write from being in place. Moved: ops without regions or writes
    whose inputs are all defined above the write and whose output is a new array or a
    number (a view taken after the write would see it)."""
    ops = list(ops)
    k = 0
    while k < len(ops):
        w = ops[k]
        if w.prim == "set_index":
            x = w.inputs[0]
            defined_after = set(w.outputs)
            for j in range(k + 1, len(ops)):
                r = ops[j]
                p = PRIMS[r.prim]
                if (x in r.inputs and not r.regions and p.writes is None
                        and not any(r.inputs[i] is x for i in p.aliases if r.out.type.rank > 0)
                        and not defined_after & set(r.inputs)):
                    ops.insert(k, ops.pop(j))
                    k += 1
                else:
                    defined_after.update(r.outputs)
        k += 1
    return tuple(ops)


class _Block:
    """Ownership in one block of ops: `owned_params` are its parameters that are owned
    on entry (owned loop-carried values)."""

    def __init__(self, ops, results, owned_params):
        ops = _reads_first(ops)
        self.ops, self.results, self.owned_params = tuple(ops), tuple(results), owned_params
        self.pos = {}  # value -> position of its defining op (-1: a parameter or outer)
        self.last = {}  # value -> position of its last reader (len(ops): a result)
        for k, op in enumerate(self.ops):
            for v in _reads(op):
                self.last[v] = k
            for v in op.outputs:
                self.pos[v] = k
        for v in self.results:
            self.last[v] = len(self.ops)
        self._sharers: dict = {}

    def sharers(self, x) -> set:
        """x and the values of this block that may share its memory."""
        got = self._sharers.get(x)
        if got is not None:
            return got
        out = {x}
        for op in self.ops[self.pos.get(x, -1) + 1:]:
            p = PRIMS[op.prim]
            if op.regions:
                hit = any(v in out for v in _reads(op))
            else:
                hit = any(op.inputs[i] in out for i in p.aliases) or (
                    p.writes is not None and op.inputs[p.writes] in out)
            if hit:
                out.update(v for v in op.outputs if v.type.rank > 0)
        self._sharers[x] = out
        return out

    def unread_after(self, x, k) -> bool:
        """Nothing reads x, or a value defined before position k that may share its
        memory, after position k. (What op k defines from x takes its memory over: the
        written array, a loop's carried value; a later value is computed from a read.)"""
        return all(self.last.get(v, -1) <= k for v in self.sharers(x)
                   if self.pos.get(v, -1) < k)

    def rewrite(self):
        """(the block's ops with owned writes in place, the owned values it defines)"""
        owned = set(self.owned_params)
        out = []
        for k, op in enumerate(self.ops):
            if op.prim in LOOPS:
                pre, op, slots = self.loop(op, k, owned)
                out.extend(pre)
                owned.update(op.outputs[j] for j in slots)
            elif op.regions:
                op, outs = self.branch(op, k, owned)
                owned.update(outs)
            elif op.prim == "set_index" and self.owned_at(op, k, owned):
                op = op.with_(prim="store")
                owned.add(op.out)
            elif PRIMS[op.prim].fresh and op.prim != "const" and op.out is not None:
                owned.update(v for v in op.outputs if v.type.rank > 0)
            out.append(op)
        return tuple(out), owned

    def owned_at(self, op, k, owned) -> bool:
        x = op.inputs[0]
        return (x.type.rank > 0 and x in owned and self.unread_after(x, k)
                and not self.sharers(x) & set(op.inputs[1:]))

    def loop(self, op, k, owned):
        """(ops to put before the loop, the loop with its body's owned writes in place,
        its owned carried slots). A carried array the body writes whose initial value is
        not owned (an argument, a value read later) is copied once before the loop, so
        the writes need not copy it every trip."""
        pre, op = self.copy_before(op, k, owned)
        reads = _reads(op)
        cand = set()
        for j, x in enumerate(op.inits):
            if (x.type.rank > 0 and x in owned and self.unread_after(x, k)
                    and sum(v is x for v in reads) == 1
                    and not (self.sharers(x) - {x}) & set(reads)):
                cand.add(j)
        while True:
            regions, ok = [], set(cand)
            for r in op.regions:  # a `while` condition only reads: it owns nothing
                params = set(op.carried(r)[j] for j in cand) if r is op.body else ()
                block = _Block(r.ops, r.results, frozenset(params))
                ops, inner = block.rewrite()
                if r is op.body:
                    for j in cand:
                        res = r.results[j]
                        rest = set(r.results[:j] + r.results[j + 1:])
                        if res not in inner or block.sharers(res) & rest:
                            ok.discard(j)
                regions.append(r.replace(ops=ops))
            if ok == cand:
                return pre, op.with_(regions=tuple(regions)), cand
            cand = ok

    def branch(self, op, k, owned):
        """An `if` whose branches may write, in place, arrays owned at the `if` (nothing
        reads them after it: one branch runs); (the op, its outputs owned after it)."""
        reads = set(_reads(op))
        free = frozenset(x for x in reads if x.type.rank > 0 and x in owned
                         and self.unread_after(x, k) and not (self.sharers(x) - {x}) & reads)
        regions, slots = [], set(range(len(op.outputs)))
        for r in op.regions:
            block = _Block(r.ops, r.results, free)
            ops, inner = block.rewrite()
            for j, res in enumerate(r.results):
                rest = set(r.results[:j] + r.results[j + 1:])
                if res.type.rank == 0 or res not in inner or block.sharers(res) & rest:
                    slots.discard(j)
            regions.append(r.replace(ops=ops))
        return op.with_(regions=tuple(regions)), {op.outputs[j] for j in slots}

    def copy_before(self, op, k, owned):
        reads = _reads(op)
        inits, pre = list(op.inits), []
        for j, (x, p) in enumerate(zip(op.inits, op.carried())):
            if x.type.rank == 0 or not written_in(p, op.body.ops):
                continue
            if (x in owned and self.unread_after(x, k) and sum(v is x for v in reads) == 1
                    and not (self.sharers(x) - {x}) & set(reads)):
                continue  # owned already
            c = Op("copy", (x,), (Value(x.type, p.hint or x.hint),), (), op.loc, op.phase)
            pre.append(c)
            owned.add(c.out)
            inits[j] = c.out
        if pre:
            head = op.inputs[:len(op.inputs) - len(op.inits)]
            op = op.with_(inputs=tuple(head) + tuple(inits))
        return pre, op


def written_in(p, ops) -> bool:
    """Does some `set_index` of ops write p: directly, in a branch, or as the initial
    value of a nested loop's carried value that its body writes?"""
    for o in ops:
        if o.prim == "set_index" and o.inputs[0] is p:
            return True
        if o.prim in LOOPS:
            if any(x is p and written_in(q, o.body.ops) for x, q in zip(o.inits, o.carried())):
                return True
        elif o.regions and any(written_in(p, r.ops) for r in o.regions):
            return True
    return False


def writes_into(p, ops) -> bool:
    """Does the graph write (`set_index`, `add_at`) into p or into a view of it, at any
    depth? (dispatch refuses a call that passes p's memory as another argument too.)"""
    shared = {p}
    for _ in range(2):  # a second sweep sees loop-carried values that became views of p
        for o in walk(ops):
            if o.prim in ("set_index", "add_at") and o.inputs[0] in shared:
                return True
            if o.prim in LOOPS:
                for x, q in zip(o.inits, o.carried()):
                    if x in shared:
                        shared.add(q)
            elif not o.regions and any(o.inputs[i] in shared for i in PRIMS[o.prim].aliases):
                shared.update(v for v in o.outputs if v.type.rank > 0)
    return False
