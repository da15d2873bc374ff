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
