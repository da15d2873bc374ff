"""Pictures of the computation graph with forward values f_i and backward values g_i.

    from compiler.graphview import graph_view
    view = graph_view(loss, w, phi, y, wrt="w")   # the lecture's picture, for your code
    view.save("loss.svg")                         # .dot always; .svg/.png need Graphviz
    print(view.text())                            # the same nodes as a table
    view                                          # in a notebook: displays itself (SVG)

Guarantees: one node per SSA value of the graph (scalar literals are written into the
expression of the op that uses them instead), labelled with the user's name (or t<k>),
the op as the generated code spells it (`w @ phi`, `t2 ** 2`), the value's dtype and
concrete shape, its forward value f_i and, in the primal view, its backward value
g_i = d loss / d f_i (lecture: "Forward: f_i is value for subexpression rooted at i;
Backward: g_i is how f_i influences loss"). Values with at most `max_elements` elements
are printed in full (4 significant digits), larger ones as shape and 2-norm. Edges go
from each input to the op using it, so leaves sit at the bottom and the loss (double
border) at the top, as in the lecture. Ops from the same user line are boxed together
(the backward sweep's boxes say "grad of"); `wrt` parameters are highlighted. The DOT
text is deterministic (file base names only), so it can be kept as a golden file.

Control flow: a branch is a box labelled with its condition's value, holding both
sides; the side taken has its values, the other is greyed ("not run"). A loop is a box
labelled with its trip count holding its body once, with the values of one iteration
(`iteration`, default the last), its carried values as parameters ("enters as h") and
after the loop ("h after the loop"); `unroll=True` draws every iteration (at most
UNROLL_MAX) in its own box, node ids suffixed `@k`, the carried cotangent labelling
each edge from iteration k-1 to k. In the adjoint view each stack of reverse mode is
one tape node with its entries.

Calls: your functions are inlined, each op's `Loc.inlined_at` naming the call it came
from. `collapse=True` (or `depth=k`: calls up to k deep drawn op by op, deeper ones
folded) draws each call as one node named after its outputs (the values it defines that
are used outside it), labelled with the call as written (`h = layer(W1, x)`) and their
f and g; edges come from the values it reads from outside and go to the uses of its
outputs. In the adjoint view a call's backward ops fold into a "grad of" node. The
body of a `custom_vjp` function records no call site (compiler/custom.py does not pass
its call to `lower_body`), so it is drawn op by op.
SVG and PNG are rendered by Graphviz's `dot` program; without it they raise
`GraphvizNotFound` with install instructions, and DOT still works.
"""
from __future__ import annotations

import ast
import html
import linecache
import os
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from .interp import carried
from .ir.core import ConstArray, Graph
from .ir.printer import unique_names
from .ir.walk import walk
from .primitives import PRIMS

__all__ = ["GraphView", "GraphvizNotFound", "Node", "format_value", "graph_view", "render"]

INSTALL_HINT = ("install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), "
                "`brew install graphviz` (macOS) or `conda install graphviz`")
_FILL = {"wrt": "#ffe08a", "param": "#eeeeee", "const": "#f5f5f5", "primal": "#e8f1fb",
         "adjoint": "#fde8e8", "tape": "#fff3e0", "call": "#d7ecea", "adjoint_call": "#f8d4d4"}


class GraphvizNotFound(RuntimeError):
    """Graphviz's `dot` program is not on PATH (needed for SVG/PNG, not for DOT)."""


def dot_available() -> bool:
    return shutil.which("dot") is not None


def render(dot_source: str, fmt: str) -> bytes:
    """Render DOT text with Graphviz: fmt is 'svg' or 'png'; returns the file's bytes.

    Raises GraphvizNotFound without `dot`, RuntimeError if `dot` rejects the input."""
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFound(f"Graphviz's `dot` program is not installed, so no {fmt.upper()} "
                               f"can be drawn; {INSTALL_HINT}. DOT output works without it.")
    r = subprocess.run([exe, f"-T{fmt}"], input=dot_source.encode(), capture_output=True,
                       timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"dot -T{fmt} failed: {r.stderr.decode(errors='replace').strip()}")
    return r.stdout


def _num(x) -> str:
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return str(int(x))
    return format(float(x), ".4g")


def format_value(x, max_elements: int = 6) -> str:
    """A number or array as short text: scalars and arrays of at most `max_elements`
    elements in full, 4 significant digits (`3`, `[6, 12]`, `[[1, 0.5], [-1, 2]]`);
    larger arrays as `shape (4, 3), norm 2.315` (Frobenius/2-norm of all elements)."""
    a = np.asarray(x)
    if a.ndim == 0:
        return _num(a.item())
    if a.size <= max_elements:
        def nested(b):
            return "[" + ", ".join(nested(r) if r.ndim else _num(r.item()) for r in b) + "]"
        return nested(a)
    return f"shape {a.shape}, norm {_num(np.linalg.norm(a.astype(np.float64).ravel()))}"


def _type_text(v, value) -> str:
    short = str(v.type).split("[")[0]
    if value is None:
        return str(v.type)
    shape = np.shape(value)
    return short if not shape else f"{short}[{','.join(map(str, shape))}]"


def _expr(op, args) -> str:
    """The op as generated code spells it, over the inputs' names: `w @ phi`."""
    p = PRIMS.get(op.prim)
    if p is not None and not getattr(op, "regions", ()):
        tmpl = p.emit(op) if callable(p.emit) else p.emit
        try:
            return tmpl.format(*args, **dict(op.attrs))
        except (IndexError, KeyError):
            pass
    return f"{op.prim}({', '.join(args)})"


def _call_text(loc) -> str:
    """The call at `loc` (its file, line and column) as written: `layer(W1, x)`; the
    whole line when it cannot be read back."""
    src = "".join(linecache.getline(loc.file, loc.line + k) for k in range(20))[loc.col:]
    for end in (i + 1 for i, c in enumerate(src) if c == ")"):
        try:
            node = ast.parse(src[:end], mode="eval").body
        except SyntaxError:
            continue
        if isinstance(node, ast.Call):
            return ast.unparse(node)
    return loc.text


@dataclass(frozen=True)
class Node:
    """One drawn value: `id` its unique name (`h_2@1`: the value of iteration 1 when a
    loop is unrolled), `expr` how it is computed ('' for a parameter), `kind` 'wrt',
    'param', 'const', 'primal', 'adjoint', 'tape' (a stack of reverse mode), 'call' or
    'adjoint_call' (a folded call: its id names its outputs, `f`/`g` list theirs), `f`/`g`
    the formatted forward/backward values (None when not known), `group` its user line,
    `cluster` the box it is drawn in, `greyed` True on the side of a branch not taken,
    `entries` a tape's entries (formatted)."""

    id: str
    expr: str
    type: str
    kind: str
    f: str | None
    g: str | None
    group: str | None
    is_result: bool = False
    cluster: str | None = None
    greyed: bool = False
    entries: tuple = ()


@dataclass(frozen=True)
class Cluster:
    """A box of the picture: `kind` 'line' (ops of one user line), 'loop', 'iteration',
    'branch', 'taken' or 'untaken' (the sides of a branch); `parent` the enclosing box."""

    id: str
    label: str
    kind: str
    parent: str | None
    adjoint: bool = False


UNROLL_MAX = 8  # unroll=True draws at most this many iterations of each loop
TAPE_MAX = 8  # entries of a tape drawn (then "...")


class GraphView:
    """A computation graph annotated with values; see the module docstring.

    graph: a primal or adjoint `Graph`; values: {Value: value} or None (structure only);
    grads: {Value: g_i} or None; run: a `compiler.interp.Run` of `graph` (values per loop
    iteration and branch; replaces values/grads); wrt: parameter Values to highlight;
    adjoint: label values as sweep values ('value =') rather than f/g; iteration: the
    loop iteration whose values are drawn (an index as in Python, -1 the last; every
    loop drawn); unroll: draw every iteration instead (each loop must have run at most
    UNROLL_MAX = 8 times); depth: fold calls of user functions nested more than `depth`
    calls deep into one node each (None: every op drawn); collapse=True: depth=0.
    Raises ValueError for an iteration a loop did not run, a loop too long to unroll or
    a negative depth."""

    def __init__(self, graph: Graph, values=None, grads=None, wrt=(), *, adjoint=False,
                 title=None, max_elements: int = 6, run=None, iteration: int = -1,
                 unroll: bool = False, collapse: bool = False, depth: int | None = None):
        from .interp import Run, stack_groups
        self.graph = graph
        self.adjoint = adjoint
        self.title = title or graph.name
        self.iteration, self.unroll, self.max_elements = iteration, unroll, max_elements
        self.names = unique_names(graph)
        self.wrt = set(wrt)
        self.lits = {}  # scalar literals, written into their users' expressions
        for op in walk(graph.ops):
            if op.prim == "const" and not isinstance(op.attr("value"), ConstArray):
                self.lits[op.out] = PRIMS["const"].emit(op)
        self.stacks = stack_groups(graph)
        self.results = set(graph.results)
        self.nodes: list[Node] = []
        self.edges: list[tuple] = []  # (from id, to id, phase, extra DOT attributes)
        self.groups: dict = {}  # user line -> ids of its nodes
        self.clusters: dict = {}  # id -> Cluster, in drawing order
        self.placeholders: dict = {}  # cluster id -> text of an empty region
        self._id: dict = {}  # Value -> id of the node standing for it now
        self._f: dict = {}  # Value -> formatted value of that node
        self._lines: dict = {}  # (container, line label) -> cluster id
        self._alias: dict = {}  # a while condition's parameter -> the body's parameter
        self.depth = 0 if collapse and depth is None else depth
        if self.depth is not None and self.depth < 0:
            raise ValueError(f"depth={depth}: calls are folded below depth 0 or more")
        self._calls: dict = {}  # folded call -> (its ops at any depth, the values they define)
        self._drawn: dict = {}  # (folded call, id suffix) -> id of its node
        self._call_ids: set = set()
        self._seen_edges: set = set()  # edges to or from call nodes, drawn once
        if self.depth is not None:
            self._scan_calls(graph)
        if run is None:
            run = Run(values=dict(values or {}), grads=dict(grads or {}))
            if values is None:
                run = None
        for p in graph.params:
            self._add(p, "", "wrt" if p in self.wrt else "param", run, None, "", None)
        self._block(graph.ops, run, None, "", False)

    # ---- building ------------------------------------------------------------------
    def _fmt(self, x):
        return None if x is None else format_value(x, self.max_elements)

    def _name(self, v) -> str:
        v = self._alias.get(v, v)
        if v in self.lits:
            return self.lits[v]
        return self.names[self.stacks[v]] if v in self.stacks else self.names[v]

    def _add(self, v, expr, kind, run, group, sfx, cluster, greyed=False) -> str:
        nid = self.names[v] + sfx
        value = run.values.get(v) if run is not None else None
        g = run.grads.get(v) if run is not None else None
        node = Node(nid, expr, _type_text(v, value), kind, self._fmt(value), self._fmt(g),
                    group, v in self.results, cluster, greyed)
        self.nodes.append(node)
        self._id[v], self._f[v] = nid, node.f
        if group is not None:
            self.groups.setdefault(group, []).append(nid)
        return nid

    def _cluster(self, label, kind, parent, adjoint=False) -> str:
        cid = f"cluster_{len(self.clusters)}"
        self.clusters[cid] = Cluster(cid, label, kind, parent, adjoint)
        return cid

    def _edge(self, v, to, phase, attrs=""):
        if v in self.lits:
            return
        src = self._id[v]
        if src in self._call_ids or to in self._call_ids:
            if (src, to) in self._seen_edges:
                return
            self._seen_edges.add((src, to))
        self.edges.append((src, to, phase, attrs))

    @staticmethod
    def _where(op) -> str:
        if op.loc is None:
            return ""
        return f"{os.path.basename(op.loc.file)}:{op.loc.line}: {op.loc.text}"

    def _block(self, ops, run, container, sfx, greyed):
        for op in ops:
            if self._call_of(op, ops) is not None:
                self._folded(op, ops, run, container, sfx, greyed)
            elif op.regions:
                (self._branch if op.prim == "if" else self._loop)(op, run, container, sfx, greyed)
            elif op.out in self.lits:
                continue
            elif op.prim in ("stack_alloc", "stack_empty"):
                self._tape(op, ops, run, container)
            elif op.prim == "stack_push":  # an edge into the tape, not a node
                self._id[op.out] = self._id[self.stacks[op.out]]
                self._edge(op.inputs[2], self._id[op.out], op.phase,
                           '[color="#e65100", style=bold, label="push", fontsize=9, '
                           'fontcolor="#e65100"]')
            else:
                self._op(op, run, container, sfx, greyed)

    def _line(self, loc, phase, container):
        """(user line label, id of its box in `container`) for ops at `loc`."""
        if loc is None:
            return None, None
        group = ("grad of " if phase == "adjoint" else "") + \
            f"{os.path.basename(loc.file)}:{loc.line}: {loc.text}"
        key = (container, group)
        if key not in self._lines:
            self._lines[key] = self._cluster(group, "line", container, phase == "adjoint")
        return group, self._lines[key]

    def _op(self, op, run, container, sfx, greyed):
        if op.prim == "const":
            expr, kind = f"constant array{list(op.attr('value').shape)}", "const"
        else:
            expr, kind = _expr(op, [self._name(v) for v in op.inputs]), op.phase
        group, cluster = self._line(op.loc, op.phase, container)
        nid = self._add(op.out, expr, kind, run, group, sfx, cluster or container, greyed)
        for v in op.inputs:
            self._edge(v, nid, op.phase, '[color="#bbbbbb", style=dotted]' if greyed else "")

    # ---- folded calls ------------------------------------------------------------------
    def _call_of(self, op, block):
        """The folded call `op` (one of the ops `block`) belongs to: (phase, its call
        sites outermost first, cut `depth` + 1 deep, the block), or None when op is drawn
        itself. (A call's ops share a block; reverse mode may recompute some in another,
        the backward loop, drawn as a node of their own.)"""
        if self.depth is None or op.loc is None:
            return None
        chain = op.loc.call_chain()
        return (op.phase, chain[:self.depth + 1], id(block)) if len(chain) > self.depth \
            else None

    def _scan_calls(self, graph):
        """Each folded call's ops and the values they define; its outputs: those of its
        values that something outside it uses (an op, a region's results, the graph)."""
        uses: dict = {}

        def scan(ops, region_key):
            for op in ops:  # an op in a region of a folded op is part of that call
                key = region_key if region_key is not None else self._call_of(op, ops)
                for v in op.inputs:
                    uses.setdefault(v, set()).add(key)
                if key is not None:
                    ops_, defined = self._calls.setdefault(key, ([], set()))
                    ops_.append(op)
                    defined.update(op.outputs)
                    for r in op.regions:
                        defined.update(r.params)
                for r in op.regions:
                    scan(r.ops, key)
                    for v in r.results:
                        uses.setdefault(v, set()).add(key)

        scan(graph.ops, None)
        for v in graph.results:
            uses.setdefault(v, set()).add("result")
        self._outputs = {}
        for key, (ops, defined) in self._calls.items():
            self._outputs[key] = [o for op in ops for o in op.outputs
                                  if o not in self.lits and uses.get(o, set()) - {key}]

    def _folded(self, op, block, run, container, sfx, greyed):
        """Draw `op`, an op of a folded call, as part of that call's node."""
        key = self._call_of(op, block)
        nid = self._drawn.get((key, sfx))
        outs = self._outputs[key]
        if nid is None:
            phase, chain, _ = key
            fmt = lambda d: [self._fmt(d.get(o)) if d is not None else None  # noqa: E731
                             for o in outs]
            fs = fmt(run.values if run is not None else None)
            gs = fmt(run.grads if run is not None else None)
            named = lambda xs: (xs[0] if len(xs) == 1 else "; ".join(  # noqa: E731
                f"{self.names[o]}: {x}" for o, x in zip(outs, xs)) if any(
                x is not None for x in xs) else None)
            types = ", ".join(_type_text(o, run.values.get(o) if run is not None else None)
                              for o in outs)
            base = ", ".join(self.names[o] for o in outs) or f"call at line {chain[-1].line}"
            nid = base + sfx
            while nid in self._call_ids:
                nid += "'"
            expr = ("grad of " if phase == "adjoint" else "") + _call_text(chain[-1])
            group, cluster = self._line(chain[-1], phase, container)
            self.nodes.append(Node(nid, expr, types, "adjoint_call" if phase == "adjoint"
                                   else "call", named(fs), named(gs), group,
                                   any(o in self.results for o in outs),
                                   cluster or container, greyed))
            self.groups.setdefault(group, []).append(nid)
            self._drawn[(key, sfx)], self._call_ids = nid, self._call_ids | {nid}
            for o, f in zip(outs, fs):
                self._f[o] = f
        defined = self._calls[key][1]
        for inner in walk([op]):
            for v in inner.inputs:
                if v not in defined:
                    self._edge(v, nid, op.phase,
                               '[color="#bbbbbb", style=dotted]' if greyed else "")
        for o in op.outputs:
            self._id[o] = nid

    def _tape(self, op, ops, run, container):
        """A stack of reverse mode, drawn once as the tape it is: its entries after the
        loop that pushes them (one per trip, as the backward loop reads them)."""
        value, count = None, None
        for user in ops:
            if user.prim in ("for", "while") and op.out in user.inputs:
                j = list(carried(user)[0]).index(op.out)
                if run is not None and user in run.loops:
                    value, count = run.values.get(user.outputs[j]), len(run.loops[user])
        nid = self.names[op.out]
        entries, f = (), None
        if value is not None:
            value = np.asarray(value)[:count]
            entries = tuple(f"[{k}] {self._fmt(e)}" for k, e in enumerate(value[:TAPE_MAX]))
            if count > TAPE_MAX:
                entries += (f"... {count - TAPE_MAX} more",)
            f = f"{count} entries"
        t = op.out.type
        node = Node(nid, "tape: one entry per trip of its loop", f"{str(t).split('[')[0]}"
                    + (f"[{count},...]" if count is not None and t.rank > 1 else ""),
                    "tape", f, None, None, False, container, False, entries)
        self.nodes.append(node)
        self._id[op.out], self._f[op.out] = nid, f

    def _param(self, p, source_name, run, box, sfx, phase, greyed, what):
        if p in self.stacks:
            self._id[p] = self._id[self.stacks[p]]
            return None
        return self._add(p, f"{what} {source_name}", phase, run, None, sfx, box, greyed)

    def _loop(self, op, run, container, sfx, greyed):
        inits, params, results = carried(op)
        body = op.body
        its = run.loops.get(op) if run is not None else None
        n = None if its is None else len(its)
        head = f"{op.prim} loop, {self._where(op)}"
        if n is None or n == 0:
            shown = [(None, None)]
            label = head + ("" if n is None else "\ntrip count 0: the body never ran")
        elif self.unroll:
            if n > UNROLL_MAX:
                raise ValueError(f"unroll=True draws every iteration, and the loop at "
                                 f"{op.loc or op.prim} ran {n} times (at most {UNROLL_MAX} "
                                 "are drawn); draw one iteration with iteration=k instead")
            shown = list(enumerate(its))
            label = head + f"\ntrip count {n}, every iteration drawn"
        else:
            k = self.iteration
            if not -n <= k < n:
                raise ValueError(f"iteration={k}, but the loop at {op.loc or op.prim} ran "
                                 f"{n} times (iterations 0..{n - 1}, or -1 for the last)")
            k %= n
            shown = [(k, its[k])]
            label = head + f"\ntrip count {n}; values of iteration {k} (counting from 0)"
        phase = op.phase
        cl = self._cluster(label, "loop", container, phase == "adjoint")
        prev = None
        carried_g = '[color="#b71c1c", style=bold, label="g = {}", fontsize=9, fontcolor="#b71c1c"]'
        for k, it in shown:
            s2 = sfx + (f"@{k}" if self.unroll and k is not None else "")
            box = cl
            if self.unroll and k is not None:
                idx = f" ({self.names[op.index]} = {it.values[op.index]})" \
                    if op.prim == "for" else ""
                box = self._cluster(f"iteration {k}{idx}", "iteration", cl, phase == "adjoint")
            if op.prim == "for":
                self._add(op.index, "loop index", phase, it, None, s2, box, greyed)
            pids = []
            for j, p in enumerate(params):
                pid = self._param(p, self._name(inits[j]), it, box, s2, phase, greyed,
                                  "carried: enters as")
                pids.append(pid)
                if pid is None:
                    continue
                if prev is None or prev[j] is None:
                    self._edge(inits[j], pid, phase, '[style=dotted, label="enters", fontsize=9]')
                else:  # unrolled: the chain through time, with the carried cotangent
                    g = it.grads.get(p) if it is not None else None
                    attrs = carried_g.format(self._fmt(g)) if g is not None and not self.adjoint \
                        else '[style=bold]'
                    self.edges.append((prev[j], pid, phase, attrs))
            if op.prim == "while":
                for cp, p in zip(op.carried(op.cond_region), params):
                    self._id[cp], self._alias[cp] = self._id[p], p
                self._block(op.cond_region.ops, it, box, s2, greyed)
            self._block(body.ops, it, box, s2, greyed)
            if not self.unroll or k is None:  # one iteration drawn: the back edges
                for j, (r, pid) in enumerate(zip(results, pids)):
                    if pid is not None and r not in self.lits:
                        self.edges.append((self._id[r], pid, phase, '[style=dashed, '
                                           'constraint=false, label="next iteration", fontsize=9]'))
            prev = [None if r in self.lits else self._id[r] for r in results]
        for j, out in enumerate(op.outputs):
            if out in self.stacks:
                self._id[out] = self._id[self.stacks[out]]
                continue
            src = inits[j] if n == 0 else results[j]
            nid = self._add(out, f"{params[j].hint or self._name(params[j])} after the loop", phase, run, None,
                            sfx, container, greyed)
            self._edge(src, nid, phase, '[style=dotted, label="leaves", fontsize=9]')

    def _branch(self, op, run, container, sfx, greyed):
        cond = op.condition
        taken = run.branches.get(op) if run is not None else None
        label = f"if, {self._where(op)}"
        if taken is not None:
            label += (f"\ncondition {self._name(cond)} = {self._f.get(cond) or self.lits.get(cond)}:"
                      f" {'then' if taken[0] == 0 else 'else'} side taken")
        cl = self._cluster(label, "branch", container, op.phase == "adjoint")
        for k, r in enumerate(op.regions):
            side = "then" if k == 0 else "else"
            off = taken is not None and taken[0] != k
            kind = "untaken" if off else "taken" if taken is not None else "branch"
            box = self._cluster(f"{side}" + (" (not taken)" if off else " (taken)" if taken else ""),
                                kind, cl, op.phase == "adjoint")
            before = len(self.nodes)
            self._block(r.ops, None if off or taken is None else taken[1], box, sfx,
                        greyed or off)
            if len(self.nodes) == before:
                self.placeholders[box] = "no ops"
        for j, out in enumerate(op.outputs):
            if out in self.stacks:
                self._id[out] = self._id[self.stacks[out]]
                continue
            a, b = (self._name(r.results[j]) for r in op.regions)
            nid = self._add(out, f"{a} if {self._name(cond)} else {b}", op.phase, run, None,
                            sfx, container, greyed)
            for k, r in enumerate(op.regions):
                off = taken is not None and taken[0] != k
                self._edge(r.results[j], nid, op.phase,
                           '[style=dotted, color="#bbbbbb"]' if off else "")
            self._edge(cond, nid, op.phase, '[style=dotted, label="selects", fontsize=9]')

    def node(self, name: str) -> Node:
        """The node drawn for the value named `name`; KeyError if there is none."""
        for n in self.nodes:
            if n.id == name:
                return n
        raise KeyError(f"no node {name!r}; nodes: {', '.join(n.id for n in self.nodes)}")

    # ---- DOT -------------------------------------------------------------------------
    def _label(self, n: Node) -> str:
        e = lambda s: html.escape(s, quote=False)  # noqa: E731
        if n.kind == "tape":
            cells = "".join(f"<TD>{e(x)}</TD>" for x in n.entries) or "<TD>(empty)</TD>"
            span = max(len(n.entries), 1)
            return (f'<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
                    f'<TR><TD COLSPAN="{span}"><B>{e(n.id)}</B> = {e(n.expr)}'
                    f'{" (" + e(n.f) + ")" if n.f else ""}</TD></TR><TR>{cells}</TR></TABLE>>')
        head = f"<B>{e(n.id)}</B>" + (f" = {e(n.expr)}" if n.expr else "")
        rows = [head, f'<FONT POINT-SIZE="9" COLOR="#555555">{e(n.type)}'
                      f'{"  (wrt)" if n.kind == "wrt" else ""}</FONT>']
        if n.f is not None:
            key, color = ("value", "#b71c1c") if n.kind in ("adjoint", "adjoint_call") \
                else ("f", "#1b5e20")
            rows.append(f'<FONT COLOR="{color}">{key} = {e(n.f)}</FONT>')
        if n.g is not None and not self.adjoint:
            rows.append(f'<FONT COLOR="#b71c1c">g = {e(n.g)}</FONT>')
        if n.greyed:
            rows = [f'<FONT COLOR="#9e9e9e">{r}</FONT>' for r in rows[:1]] + [
                '<FONT POINT-SIZE="9" COLOR="#9e9e9e">not run</FONT>']
        cells = "".join(f"<TR><TD>{r}</TD></TR>" for r in rows)
        return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{cells}</TABLE>>'

    def _node_line(self, n: Node) -> str:
        fill = "#f4f4f4" if n.greyed else _FILL[n.kind]
        attrs = [f"label={self._label(n)}", f'fillcolor="{fill}"']
        if n.greyed:
            attrs.append('color="#bbbbbb"')
        if n.kind == "tape":
            attrs.append('shape=plain, style=filled')
        if n.kind == "wrt":
            attrs.append("penwidth=2.5")
        if n.kind in ("call", "adjoint_call"):
            border = "#b71c1c" if n.kind == "adjoint_call" else "#00695c"
            attrs.append(f'penwidth=2, color="{border}"')
        if n.is_result:
            attrs.append("peripheries=2")
        return f'"{n.id}" [{", ".join(attrs)}];'

    _BOX = {  # cluster kind -> DOT attributes (the label is added in front)
        "line": 'labeljust=l; labelloc=b; fontsize=10; style="rounded,dashed"; color="{line}";',
        "loop": 'labeljust=l; labelloc=b; fontsize=11; style="rounded,bold"; color="#6a1b9a"; '
                'bgcolor="#fbf7fd";',
        "iteration": 'labeljust=l; labelloc=b; fontsize=10; style="rounded,dotted"; '
                     'color="#9575cd"; bgcolor="#ffffff";',
        "branch": 'labeljust=l; labelloc=b; fontsize=11; style="rounded,bold"; color="#00695c"; '
                  'bgcolor="#f6fbfa";',
        "taken": 'labeljust=l; labelloc=b; fontsize=10; style="rounded"; color="#26a69a"; '
                 'bgcolor="#ffffff";',
        "untaken": 'labeljust=l; labelloc=b; fontsize=10; style="rounded,dashed"; '
                   'color="#bdbdbd"; fontcolor="#9e9e9e"; bgcolor="#fafafa";',
    }
    _BOX["branch_side"] = _BOX["taken"]

    @property
    def dot(self) -> str:
        """The graph as Graphviz DOT text (deterministic)."""
        q = lambda s: s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")  # noqa: E731
        out = [f'digraph "{q(self.graph.name)}" {{',
               f'  graph [rankdir=BT, labelloc=t, fontname="Helvetica", fontsize=12, '
               f'nodesep=0.3, ranksep=0.35, label="{q(self.title)}"];',
               '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, '
               'margin="0.08,0.04"];',
               '  edge [color="#666666", arrowsize=0.7];']
        members: dict = {}
        for n in self.nodes:
            members.setdefault(n.cluster, []).append(n)
        children: dict = {}
        for c in self.clusters.values():
            children.setdefault(c.parent, []).append(c)

        def emit(cid, pad):
            for c in children.get(cid, ()):
                style = self._BOX.get(c.kind, self._BOX["taken"]).format(
                    line="#d08080" if c.adjoint else "#8aa4c8")
                out.append(f"{pad}subgraph {c.id} {{")
                out.append(f'{pad}  label="{q(c.label)}"; {style}')
                emit(c.id, pad + "  ")
                if c.id in self.placeholders:
                    out.append(f'{pad}  "{c.id}_empty" [label="{self.placeholders[c.id]}", '
                               'shape=plaintext, style="", fontcolor="#9e9e9e", fontsize=9];')
                out.append(f"{pad}}}")
            out.extend(f"{pad}{self._node_line(n)}" for n in members.get(cid, ()))

        emit(None, "  ")
        for a, b, phase, attrs in self.edges:
            parts = [attrs[1:-1]] if attrs else []
            if phase == "adjoint":
                if "color=" not in attrs:
                    parts.insert(0, 'color="#c06060"')
                if "style=" not in attrs:
                    parts.insert(1, "style=dashed")
            style = f" [{', '.join(parts)}]" if parts else ""
            out.append(f'  "{a}" -> "{b}"{style};')
        out.append("}")
        return "\n".join(out) + "\n"

    # ---- other formats ---------------------------------------------------------------
    def svg(self) -> str:
        """SVG text drawn by Graphviz (raises GraphvizNotFound without `dot`)."""
        return render(self.dot, "svg").decode()

    def png(self) -> bytes:
        """PNG bytes drawn by Graphviz (raises GraphvizNotFound without `dot`)."""
        return render(self.dot, "png")

    def save(self, path) -> str:
        """Write `path` in the format its suffix names (.dot/.gv, .svg, .png); returns
        the path. Raises ValueError for another suffix, GraphvizNotFound as above."""
        path = os.fspath(path)
        ext = os.path.splitext(path)[1].lower()
        if ext in (".dot", ".gv"):
            data = self.dot.encode()
        elif ext in (".svg", ".png"):
            data = render(self.dot, ext[1:])
        else:
            raise ValueError(f"{path}: unknown picture format {ext or '(no suffix)'!r}; "
                             "use .dot, .svg or .png")
        with open(path, "wb") as fh:
            fh.write(data)
        return path

    def text(self) -> str:
        """The nodes as a plain-text table (name, op, type, f, g)."""
        fk, gk = ("value", "") if self.adjoint else ("f", "g")
        rows = [("node", "op", "type", fk, gk)]
        for n in self.nodes:
            op = n.expr or ("parameter (wrt)" if n.kind == "wrt" else "parameter")
            rows.append((n.id, op, n.type, n.f or "", "" if self.adjoint else (n.g or "")))
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip()
                         for r in rows) + "\n"

    def _repr_svg_(self):
        """Notebook display: the SVG, or None (text repr) when Graphviz is missing."""
        return self.svg() if dot_available() else None

    def __repr__(self):
        kind = "adjoint graph" if self.adjoint else "computation graph"
        extra = "" if dot_available() else f"; {INSTALL_HINT} to see it drawn"
        return f"<{kind} of {self.graph.name}: {len(self.nodes)} nodes{extra}>"


def graph_view(fn, *args, wrt=0, adjoint=False, max_elements: int = 6, iteration: int = -1,
               unroll: bool = False, collapse: bool = False,
               depth: int | None = None) -> GraphView:
    """The computation graph of `fn` on the arguments `args`, annotated with values.

    fn: a Python loss function (as for `compiler.grad`) or a `GradFunction` (its `wrt`
    is used); args: its arguments (numbers, lists or arrays, as for the gradient);
    wrt: argument name(s) or index(es) to differentiate and highlight (default: the
    first). adjoint=False draws the user's graph with f_i and g_i = d loss / d f_i;
    adjoint=True draws the generated forward + backward sweeps with each value (the
    stacks of loops as tapes). Loops: `iteration` (int, as a Python index: -1 the last
    iteration) chooses the iteration whose values every loop box shows;
    `unroll=True` draws every iteration instead (at most UNROLL_MAX = 8 per loop), with
    the carried cotangent on each edge from one iteration to the next. Calls of your
    own functions: `collapse=True` draws each as one node (its outputs' f and g, edges
    from what it reads), `depth=k` draws calls up to k deep op by op and folds deeper
    ones (default: every op drawn). Arrays with more than `max_elements` elements
    print as shape and norm.
    Raises the `AdjointError`s of `grad` (unsupported code, bad arguments),
    `compiler.interp.EvaluationError` when NumPy rejects an op on these arguments, and
    ValueError for an `iteration` a loop did not run or a loop too long to unroll."""
    from .api import GradFunction
    from .interp import execute
    g = fn if isinstance(fn, GradFunction) else GradFunction(fn, wrt, jit=False)
    normed, _ = g.normalize(args)
    spec = g.specialize(*args)
    wrt_params = [spec.primal.params[i] for i in g.wrt]
    sig = f"{g.fs.node.name}({', '.join(g.arg_names)}), wrt {', '.join(g.wrt_names)}"
    opts = dict(max_elements=max_elements, iteration=iteration, unroll=unroll,
                collapse=collapse, depth=depth)
    if adjoint:
        title = (f"{sig}: forward sweep (f_i, blue boxes), then backward sweep "
                 "(g_i = ∂loss/∂f_i, red boxes)")
        return GraphView(spec.graph, wrt=wrt_params, adjoint=True, title=title,
                         run=execute(spec.graph, normed), **opts)
    title = f"{sig}: forward values f_i, backward values g_i = ∂loss/∂f_i"
    return GraphView(spec.primal, wrt=wrt_params, title=title,
                     run=execute(spec.primal, normed, g.wrt), **opts)
