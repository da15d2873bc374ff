"""The lecture's computation graphs, drawn for real code with forward and backward values.

    squared loss:  Loss(x, y, w) = (w . phi(x) - y)^2,  w = [3, 1], phi(x) = [1, 2], y = 2
                   forward: w . phi(x) = 5, residual = 3, loss = 9
                   backward: g_residual = 2 residual = 6, grad_w = g_residual phi(x) = [6, 12]
    two layers:    Loss(x, y, V, w) = (w . sigma(V phi(x)) - y)^2
                   grad_w = 2 residual h, grad_V = 2 residual (w o h o (1 - h)) phi(x)^T

Each node shows its op, name, shape, forward value f_i and backward value
g_i = d loss / d f_i, as on the lecture's slides. Writes docs/<name>.png (and the
backward-sweep picture docs/<name>_adjoint.png) when Graphviz's `dot` is installed,
otherwise the .dot files and a note. Run: python examples/computation_graph.py
[--out-dir DIR]. The same pictures from the command line:
python -m compiler graph examples/computation_graph.py:squared_loss --example -o sq.png
"""
import argparse
import os
import sys

import numpy as np

from compiler.graphview import INSTALL_HINT, dot_available, graph_view
from runtime.functions import sigmoid


def squared_loss(w, phi, y):
    residual = w @ phi - y
    return residual ** 2


def two_layer(phi, y, V, w):
    h = sigmoid(V @ phi)
    residual = w @ h - y
    return residual ** 2


# Argument values by name, read by `python -m compiler graph/check ... --example`.
EXAMPLES = {
    "squared_loss": dict(w=[3.0, 1.0], phi=[1.0, 2.0], y=2.0),
    "two_layer": dict(phi=[1.0, 2.0], y=1.0, V=[[0.5, -1.0], [1.0, 0.5], [-0.5, 1.0]],
                      w=[1.0, -1.0, 0.5]),
}
WRT = {"squared_loss": ("w",), "two_layer": ("V", "w")}


def views():
    """{picture name: GraphView} for both examples, primal and adjoint."""
    out = {}
    for fn in (squared_loss, two_layer):
        ex = EXAMPLES[fn.__name__]
        args = [ex[k] for k in fn.__code__.co_varnames[:fn.__code__.co_argcount]]
        out[fn.__name__] = graph_view(fn, *args, wrt=WRT[fn.__name__])
        out[fn.__name__ + "_adjoint"] = graph_view(fn, *args, wrt=WRT[fn.__name__],
                                                   adjoint=True)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out-dir", default=os.path.join(os.path.dirname(__file__), "..", "docs"),
                   help="where the pictures go (default: docs/)")
    a = p.parse_args(argv)
    os.makedirs(a.out_dir, exist_ok=True)
    ext = ".png" if dot_available() else ".dot"
    written = []
    for name, view in views().items():
        if not name.endswith("_adjoint"):
            print(f"{view.title}\n{view.text()}")
        written.append(view.save(os.path.join(a.out_dir, name + ext)))
    print("wrote " + ", ".join(os.path.normpath(w) for w in written))
    if ext == ".dot":
        print(f"Graphviz's `dot` is not installed, so only DOT files were written; "
              f"{INSTALL_HINT}", file=sys.stderr)
    return written


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
