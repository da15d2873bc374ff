"""The lecture's computation graphs, drawn for real code with forward and backward values.

    squared loss:  Loss(x, y, w) = (w . phi(x) - y)^2,  w = [3, 1], phi(x) = [1, 2], y = 2
                   forward: w . phi(x) = 5, residual = 3, loss = 9
                   backward: g_residual = 2 residual = 6, grad_w = g_residual phi(x) = [6, 12]
    two layers:    Loss(x, y, V, w) = (w . sigma(V phi(x)) - y)^2
                   grad_w = 2 residual h, grad_V = 2 residual (w o h o (1 - h)) phi(x)^T
    an RNN:        h_{t+1} = tanh(W h_t + U x_t) over 3 steps, Loss = sum(h_3^2), drawn
                   unrolled: each step's f_i and g_i, the cotangent g_h carried back
                   from step to step (backpropagation through time)

Each node shows its op, name, shape, forward value f_i and backward value
g_i = d loss / d f_i, as on the lecture's slides. Writes docs/<name>.png (and the
backward-sweep picture docs/<name>_adjoint.png; the RNN as docs/rnn_unrolled.png)
when Graphviz's `dot` is installed, otherwise the .dot files and a note. Run: python examples/computation_graph.py
[--out-dir DIR]. The same pictures from the command line:
python -m compiler graph examples/computation_graph.py:squared_loss --example -o sq.png
python -m compiler graph examples/computation_graph.py:rnn --example --unroll -o rnn.png
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


def rnn(W, U, h, xs):
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
    return np.sum(h * h)


# Argument values by name, read by `python -m compiler graph/check ... --example`.
EXAMPLES = {
    "squared_loss": dict(w=[3.0, 1.0], phi=[1.0, 2.0], y=2.0),
    "two_layer": dict(phi=[1.0, 2.0], y=1.0, V=[[0.5, -1.0], [1.0, 0.5], [-0.5, 1.0]],
                      w=[1.0, -1.0, 0.5]),
    "rnn": dict(W=[[0.5, -0.3], [0.2, 0.8]], U=[[1.0, 0.5], [-0.5, 1.0]], h=[0.1, -0.2],
                xs=[[1.0, 0.0], [0.0, 1.0], [0.5, -0.5]]),
}
WRT = {"squared_loss": ("w",), "two_layer": ("V", "w"), "rnn": ("W", "U", "h")}


def views():
    """{picture name: GraphView}: both lecture examples, primal and adjoint, and the RNN
    unrolled over its 3 steps."""
    out = {}
    for fn in (squared_loss, two_layer):
        ex = EXAMPLES[fn.__name__]
        args = [ex[k] for k in fn.__code__.co_varnames[:fn.__code__.co_argcount]]
        out[fn.__name__] = graph_view(fn, *args, wrt=WRT[fn.__name__])
        out[fn.__name__ + "_adjoint"] = graph_view(fn, *args, wrt=WRT[fn.__name__],
                                                   adjoint=True)
    ex = EXAMPLES["rnn"]
    out["rnn_unrolled"] = graph_view(rnn, *ex.values(), wrt=WRT["rnn"], unroll=True)
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
