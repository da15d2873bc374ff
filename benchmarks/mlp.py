"""Workload 3: the gradient of a minibatch softmax MLP, batch 256, hidden width 256.

The model of examples/digits_mlp.py (64-256-10, ReLU, mean softmax cross-entropy with
`logsumexp(Z, axis=1)`; the loss is `benchmarks.losses.mlp_loss`) on scikit-learn's
digits (pixels / 16, the example's stratified 80 % training split): five batches of
256 images, cycled. He initialisation for W1, Glorot for W2, zero biases.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from benchmarks.calls import CallSpec
from benchmarks.losses import mlp_loss
from runtime import init

BATCH, WIDTH, CLASSES = 256, 256, 10


def mlp_grad(X, Y, W1, b1, W2, b2):
    """(loss, g_W1, g_b1, g_W2, g_b2), backpropagation written out in NumPy."""
    b = X.shape[0]
    A = X @ W1.T + b1
    H = np.maximum(A, 0.0)
    Z = H @ W2.T + b2
    m = Z.max(axis=1, keepdims=True)
    E = np.exp(Z - m)
    s = E.sum(axis=1, keepdims=True)
    value = np.mean(np.log(s[:, 0]) + m[:, 0] - np.sum(Y * Z, axis=1))
    dZ = (E / s - Y) / b  # softmax minus one-hot, over the batch
    dA = (dZ @ W2) * (A > 0.0)
    return value, dA.T @ X, dA.sum(axis=0), dZ.T @ H, dZ.sum(axis=0)


@njit(cache=True)
def mlp_grad_numba(X, Y, W1, b1, W2, b2):
    """The same in Numba (row loops for the softmax: Numba has no max with axis)."""
    b = X.shape[0]
    A = X @ W1.T + b1
    H = np.maximum(A, 0.0)
    Z = H @ W2.T + b2
    dZ = np.empty_like(Z)
    total = 0.0
    for i in range(b):
        m = Z[i].max()
        s = 0.0
        for j in range(Z.shape[1]):
            dZ[i, j] = np.exp(Z[i, j] - m)
            s += dZ[i, j]
        total += np.log(s) + m
        for j in range(Z.shape[1]):
            total -= Y[i, j] * Z[i, j]
            dZ[i, j] = (dZ[i, j] / s - Y[i, j]) / b
    dA = (dZ @ W2) * (A > 0.0)
    return total / b, dA.T @ X, dA.sum(axis=0), dZ.T @ H, dZ.sum(axis=0)


def _ag_loss(X, Y, W1, b1, W2, b2):
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp
    Z = anp.maximum(X @ W1.T + b1, 0.0) @ W2.T + b2
    return anp.mean(logsumexp(Z, axis=1) - anp.sum(Y * Z, axis=1))


def _torch_loss(t, X, Y, W1, b1, W2, b2):
    Z = t.relu(X @ W1.T + b1) @ W2.T + b2
    return t.mean(t.logsumexp(Z, dim=1) - (Y * Z).sum(dim=1))


def _jax_loss(jnp, X, Y, W1, b1, W2, b2):
    from jax.nn import logsumexp
    Z = jnp.maximum(X @ W1.T + b1, 0.0) @ W2.T + b2
    return jnp.mean(logsumexp(Z, axis=1) - jnp.sum(Y * Z, axis=1))


def load(seed: int = 0):
    """The digits training split of examples/digits_mlp.py: (X (n, 64), one-hot Y)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    X, y = load_digits(return_X_y=True)
    Xtr, _, ytr, _ = train_test_split(X / 16.0, y, test_size=0.2, random_state=seed, stratify=y)
    return Xtr, np.eye(CLASSES)[ytr]


def spec(batches: int = 5, batch: int = BATCH, width: int = WIDTH) -> CallSpec:
    """`batches` batches of `batch` images, hidden width `width` (tests use small ones)."""
    X, Y = load()
    d = X.shape[1]
    p = init.init_params({"W1": (width, d), "b1": (width,), "W2": (CLASSES, width),
                          "b2": (CLASSES,)},
                         {"W1": "he_normal", "b1": "zeros", "W2": "glorot_normal",
                          "b2": "zeros"}, rng=0)
    ps = [p[k] for k in ("W1", "b1", "W2", "b2")]
    argsets = [(np.ascontiguousarray(X[k * batch:(k + 1) * batch]),
                np.ascontiguousarray(Y[k * batch:(k + 1) * batch]), *ps) for k in range(batches)]
    return CallSpec(f"Minibatch softmax MLP, batch {batch}, width {width} (digits)", "mlp",
                    mlp_loss, ("W1", "b1", "W2", "b2"), argsets, mlp_grad, mlp_grad_numba,
                    _ag_loss, _torch_loss, _jax_loss,
                    notes=[f"X ({batch}, {d}), one-hot Y ({batch}, {CLASSES}), W1 ({width}, {d}), "
                           f"W2 ({CLASSES}, {width}); float64; {batches} batches cycled; "
                           "loss mean(logsumexp(Z, axis=1) - sum(Y * Z, axis=1))"])
