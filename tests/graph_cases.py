"""Functions with loops and branches drawn by the graph view (tests/test_graphview.py).
Kept in their own file: golden DOT files name these lines."""
import numpy as np


def branch(x, a):
    if np.sum(x) > 0:
        y = x * a
    else:
        y = -x
    return np.sum(y ** 2)


def carried(x, w):
    s = 1.0
    for i in range(3):
        s = s * (w @ x) + x[i]
    return s ** 2


def halve(x, w):
    n = 0
    while n < 10:
        x = x * w
        if np.sum(x) < 0.5:
            break
        n = n + 1
    return np.sum(x)


def rnn(W, U, h, xs):
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
    return np.sum(h * h)


def layer(W, x):
    return np.tanh(W @ x)


def two_layers(W1, W2, x):
    h = layer(W2, layer(W1, x))
    return np.sum(h ** 2)


def two_layers_tail(h1, W2):  # two_layers after its inner call: d loss / d h1
    h = layer(W2, h1)
    return np.sum(h ** 2)


def block(W1, W2, x):
    return layer(W2, layer(W1, x))


def nested(W1, W2, x):
    return np.sum(block(W1, W2, x) ** 2)


def cell(W, U, h, x):
    return np.tanh(W @ h + U @ x)


def rnn_cell(W, U, h, xs):
    for t in range(xs.shape[0]):
        h = cell(W, U, h, xs[t])
    return np.sum(h * h)
