"""Workload 3: the gradient of a minibatch softmax MLP, batch 256, hidden width 256.

The model and loss are examples/digits_mlp.py's (64-256-10, ReLU, mean softmax
cross-entropy written with `@ ONES` row sums), on scikit-learn's digits: five batches
of 256 training images, cycled. Initialisation as in the example (He for W1, Glorot
for W2, zero biases).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from digits_mlp import MEAN, ONES, load_data, loss, one_hot  # noqa: E402

from benchmarks.calls import CallSpec  # noqa: E402
from runtime import init  # noqa: E402

BATCH, WIDTH = 256, 256


def mlp_grad(X, Y, W1, b1, W2, b2):
    """(loss, g_W1, g_b1, g_W2, g_b2), backpropagation written out."""
    b = X.shape[0]
    A = X @ W1.T + b1
    H = np.maximum(A, 0.0)
    Z = H @ W2.T + b2
    Zc = Z - np.outer(Z @ MEAN, ONES)
    E = np.exp(Zc)
    s = E @ ONES
    value = np.mean(np.log(s) - (Y * Zc) @ ONES)
    dZc = (E / s.reshape((b, 1)) - Y) / b  # softmax minus one-hot, over the batch
    dZ = dZc - np.outer(dZc @ ONES, MEAN)  # through the centring (zero up to rounding)
    dA = (dZ @ W2) * (A > 0.0)
    return value, dA.T @ X, dA.sum(axis=0), dZ.T @ H, dZ.sum(axis=0)


mlp_grad_numba = njit(cache=True)(mlp_grad)


def _ag_loss(X, Y, W1, b1, W2, b2):
    import autograd.numpy as anp
    H = anp.maximum(X @ W1.T + b1, 0.0)
    Z = H @ W2.T + b2
    Zc = Z - anp.outer(Z @ MEAN, ONES)
    return anp.mean(anp.log(anp.exp(Zc) @ ONES) - (Y * Zc) @ ONES)


def _torch_loss(t, X, Y, W1, b1, W2, b2):
    H = t.relu(X @ W1.T + b1)
    Z = H @ W2.T + b2
    Zc = Z - Z.mean(dim=1, keepdim=True)
    return t.mean(t.log(t.exp(Zc).sum(dim=1)) - (Y * Zc).sum(dim=1))


def _jax_loss(jnp, X, Y, W1, b1, W2, b2):
    H = jnp.maximum(X @ W1.T + b1, 0.0)
    Z = H @ W2.T + b2
    Zc = Z - jnp.outer(Z @ MEAN, ONES)
    return jnp.mean(jnp.log(jnp.exp(Zc) @ ONES) - (Y * Zc) @ ONES)


def spec(batches: int = 5, batch: int = BATCH, width: int = WIDTH) -> CallSpec:
    """`batches` batches of `batch` images, hidden width `width` (tests use small ones)."""
    BATCH, WIDTH = batch, width  # noqa: N806
    Xtr, ytr, *_ = load_data(0)
    d = Xtr.shape[1]
    p = init.init_params({"W1": (WIDTH, d), "b1": (WIDTH,), "W2": (10, WIDTH), "b2": (10,)},
                         {"W1": "he_normal", "b1": "zeros", "W2": "glorot_normal",
                          "b2": "zeros"}, rng=0)
    ps = [p[k] for k in ("W1", "b1", "W2", "b2")]
    Y = one_hot(ytr)
    argsets = [(np.ascontiguousarray(Xtr[k * BATCH:(k + 1) * BATCH]),
                np.ascontiguousarray(Y[k * BATCH:(k + 1) * BATCH]), *ps) for k in range(batches)]
    return CallSpec(f"Minibatch softmax MLP, batch {BATCH}, width {WIDTH} (digits)", "mlp",
                    loss, ("W1", "b1", "W2", "b2"), argsets, mlp_grad, mlp_grad_numba,
                    _ag_loss, _torch_loss, _jax_loss,
                    notes=[f"X ({BATCH}, {d}), one-hot Y ({BATCH}, 10), W1 ({WIDTH}, {d}), "
                           f"W2 (10, {WIDTH}); float64; {batches} batches cycled"])
