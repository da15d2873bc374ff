"""The lecture's models (shared/seed/backpropagation-lecture.md), shared by the tests."""
import numpy as np

from runtime.functions import sigmoid


def squared(w, phi, y):
    """(w . phi(x) - y)^2: the lecture's backpropagation example."""
    return (w @ phi - y) ** 2


def composition(a):
    """b = a^2, c = b^2: dc/da = 4 a^3."""
    b = a ** 2
    c = b ** 2
    return c


def hinge(w, phi, y):
    """max{1 - (w . phi(x)) y, 0}."""
    return np.maximum(1 - (w @ phi) * y, 0.0)


def two_layer(x, y, V, w):
    h = sigmoid(V @ x)
    return (w @ h - y) ** 2


def four_layer(x, y, V1, V2, V3, w):
    h1 = sigmoid(V1 @ x)
    h2 = sigmoid(V2 @ h1)
    h3 = sigmoid(V3 @ h2)
    residual = w @ h3 - y
    return residual ** 2


# ---- loops: stacks, residuals and in-place accumulation (golden files) -----------------
def rnn(W, U, h, xs):
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
    return np.sum(h * h)


def row_loop(w, X):
    s = 0.0
    for row in X:
        s = s + np.sum(np.sin(row * w))
    return s


def newton_sqrt(a, tol):
    x = a
    k = 0
    while k < 50:
        x_new = 0.5 * (x + a / x)
        k = k + 1
        done = abs(x_new - x) < tol
        x = x_new
        if done:
            break
    return x


def layers_in_loop(X, W, b, Y):
    """Minibatch layers sharing W, in a loop: W's cotangent is a transposed product
    (H.T @ g).T inside the backward loop (passes/products.py)."""
    H = X
    for _ in range(2):
        H = np.tanh(H @ W.T + b)
    return np.sum((H @ W.T - Y) ** 2)
