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
SVG and PNG are rendered by Graphviz's `dot` program; without it they raise
`GraphvizNotFound` with install instructions, and DOT still works.
"""
from __future__ import annotations

import html
import os
import shutil
import subprocess
from dataclasses import dataclass

import numpy as np

from .ir.core import ConstArray, Graph
from .ir.printer import unique_names
from .primitives import PRIMS

__all__ = ["GraphView", "GraphvizNotFound", "Node", "format_value", "graph_view", "render"]

INSTALL_HINT = ("install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), "
                "`brew install graphviz` (macOS) or `conda install graphviz`")
_FILL = {"wrt": "#ffe08a", "param": "#eeeeee", "const": "#f5f5f5", "primal": "#e8f1fb",
         "adjoint": "#fde8e8"}


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


@dataclass(frozen=True)
class Node:
    """One drawn value: `id` its unique name, `expr` how it is computed ('' for a
    parameter), `kind` 'wrt', 'param', 'const', 'primal' or 'adjoint', `f`/`g` the
    formatted forward/backward values (None when not known), `group` its user line."""

    id: str
    expr: str
    type: str
    kind: str
    f: str | None
    g: str | None
    group: str | None
    is_result: bool = False


class GraphView:
    """A computation graph annotated with values; see the module docstring.

    graph: a primal or adjoint `Graph`; values: {Value: value} or None (structure only);
    grads: {Value: g_i} or None; wrt: parameter Values to highlight; adjoint: label
    values as sweep values ('value =') rather than f/g."""

    def __init__(self, graph: Graph, values=None, grads=None, wrt=(), *, adjoint=False,
                 title=None, max_elements: int = 6):
        self.graph = graph
        self.adjoint = adjoint
        self.title = title or graph.name
        names = unique_names(graph)
        values = values or {}
        grads = grads or {}
        wrt = set(wrt)
        lits = {}  # scalar literals, written into their users' expressions
        for op in graph.ops:
            if op.prim == "const" and not isinstance(op.attr("value"), ConstArray):
                lits[op.out] = PRIMS["const"].emit(op)
        fmt = lambda d, v: (format_value(d[v], max_elements) if v in d else None)  # noqa: E731
        nodes, edges, groups = [], [], {}
        results = set(graph.results)
        for p in graph.params:
            nodes.append(Node(names[p], "", _type_text(p, values.get(p)),
                              "wrt" if p in wrt else "param", fmt(values, p), fmt(grads, p), None))
        for op in graph.ops:
            if op.out in lits:
                continue
            if op.prim == "const":
                expr, kind = f"constant array{list(op.attr('value').shape)}", "const"
            else:
                expr, kind = _expr(op, [lits.get(v) or names[v] for v in op.inputs]), op.phase
            group = None
            if op.loc is not None:
                where = f"{os.path.basename(op.loc.file)}:{op.loc.line}: {op.loc.text}"
                group = ("grad of " if op.phase == "adjoint" else "") + where
                groups.setdefault(group, []).append(names[op.out])
            for v in op.outputs:
                nodes.append(Node(names[v], expr, _type_text(v, values.get(v)), kind,
                                  fmt(values, v), fmt(grads, v), group, v in results))
            for v in op.inputs:
                if v not in lits:
                    edges.append((names[v], names[op.out], op.phase))
        self.nodes: list[Node] = nodes
        self.edges: list[tuple] = edges
        self.groups: dict = groups

    def node(self, name: str) -> Node:
        """The node drawn for the value named `name`; KeyError if there is none."""
        for n in self.nodes:
            if n.id == name:
                return n
        raise KeyError(f"no node {name!r}; nodes: {', '.join(n.id for n in self.nodes)}")

    # ---- DOT -------------------------------------------------------------------------
    def _label(self, n: Node) -> str:
        e = lambda s: html.escape(s, quote=False)  # noqa: E731
        head = f"<B>{e(n.id)}</B>" + (f" = {e(n.expr)}" if n.expr else "")
        rows = [head, f'<FONT POINT-SIZE="9" COLOR="#555555">{e(n.type)}'
                      f'{"  (wrt)" if n.kind == "wrt" else ""}</FONT>']
        if n.f is not None:
            key, color = ("value", "#b71c1c") if n.kind == "adjoint" else ("f", "#1b5e20")
            rows.append(f'<FONT COLOR="{color}">{key} = {e(n.f)}</FONT>')
        if n.g is not None and not self.adjoint:
            rows.append(f'<FONT COLOR="#b71c1c">g = {e(n.g)}</FONT>')
        cells = "".join(f"<TR><TD>{r}</TD></TR>" for r in rows)
        return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">{cells}</TABLE>>'

    def _node_line(self, n: Node) -> str:
        attrs = [f"label={self._label(n)}", f'fillcolor="{_FILL[n.kind]}"']
        if n.kind == "wrt":
            attrs.append("penwidth=2.5")
        if n.is_result:
            attrs.append("peripheries=2")
        return f'"{n.id}" [{", ".join(attrs)}];'

    @property
    def dot(self) -> str:
        """The graph as Graphviz DOT text (deterministic)."""
        q = lambda s: s.replace("\\", "\\\\").replace('"', '\\"')  # noqa: E731
        out = [f'digraph "{q(self.graph.name)}" {{',
               f'  graph [rankdir=BT, labelloc=t, fontname="Helvetica", fontsize=12, '
               f'nodesep=0.3, ranksep=0.35, label="{q(self.title)}"];',
               '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11, '
               'margin="0.08,0.04"];',
               '  edge [color="#666666", arrowsize=0.7];']
        by_id = {n.id: n for n in self.nodes}
        grouped = set()
        for k, (label, ids) in enumerate(self.groups.items()):
            adj = label.startswith("grad of ")
            out.append(f"  subgraph cluster_{k} {{")
            out.append(f'    label="{q(label)}"; labeljust=l; labelloc=b; fontsize=10; style="rounded,dashed"; '
                       f'color="{"#d08080" if adj else "#8aa4c8"}";')
            out.extend(f"    {self._node_line(by_id[i])}" for i in ids)
            out.append("  }")
            grouped.update(ids)
        out.extend(f"  {self._node_line(n)}" for n in self.nodes if n.id not in grouped)
        for a, b, phase in self.edges:
            style = ' [color="#c06060", style=dashed]' if phase == "adjoint" else ""
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


def graph_view(fn, *args, wrt=0, adjoint=False, max_elements: int = 6) -> GraphView:
    """The computation graph of `fn` on the arguments `args`, annotated with values.

    fn: a Python loss function (as for `compiler.grad`) or a `GradFunction` (its `wrt`
    is used); args: its arguments (numbers, lists or arrays, as for the gradient);
    wrt: argument name(s) or index(es) to differentiate and highlight (default: the
    first). adjoint=False draws the user's graph with f_i and g_i = d loss / d f_i;
    adjoint=True draws the generated forward + backward sweeps with each value.
    Raises the `AdjointError`s of `grad` (unsupported code, bad arguments) and
    `compiler.interp.EvaluationError` when NumPy rejects an op on these arguments."""
    from .api import GradFunction
    from .interp import evaluate, forward_backward
    g = fn if isinstance(fn, GradFunction) else GradFunction(fn, wrt, jit=False)
    normed, _ = g.normalize(args)
    spec = g.specialize(*args)
    wrt_params = [spec.primal.params[i] for i in g.wrt]
    sig = f"{g.fs.node.name}({', '.join(g.arg_names)}), wrt {', '.join(g.wrt_names)}"
    if adjoint:
        values = evaluate(spec.graph, normed)
        title = (f"{sig}: forward sweep (f_i, blue boxes), then backward sweep "
                 "(g_i = ∂loss/∂f_i, red boxes)")
        return GraphView(spec.graph, values, None, wrt_params, adjoint=True, title=title,
                         max_elements=max_elements)
    f, gr = forward_backward(spec.primal, normed, g.wrt)
    title = f"{sig}: forward values f_i, backward values g_i = ∂loss/∂f_i"
    return GraphView(spec.primal, f, gr, wrt_params, title=title, max_elements=max_elements)
