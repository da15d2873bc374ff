"""The per-example models of the benchmarks, each written once per implementation.

- `four_layer(width)`: the lecture's four-layer sigmoid regression on scikit-learn's
  diabetes data (examples/four_layer_regression.py: 353 training rows, 11 features with
  the bias, its Glorot initialisation), SGD lr = 0.003.
- `hinge()`: the lecture's hinge-loss linear classifier on the breast-cancer data
  (examples/hinge_classifier.py: 455 training rows, 31 features), SGD lr = 0.01.

Hand-written gradients follow the lecture's formulas (sigma' = sigma (1 - sigma); the
hinge's subgradient -y x where the margin is below 1, half of it at exactly 1, the
project's tie policy). Hand-written NumPy and Numba share one Python source (the
Numba version is `njit` of the same function) and the runtime's stable sigmoid.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

from four_layer_regression import init_params, load_data  # noqa: E402
from four_layer_regression import loss as four_layer_loss  # noqa: E402
from hinge_classifier import hinge_loss  # noqa: E402

from benchmarks.per_example import Model  # noqa: E402
from benchmarks.train_overhead import hand_epoch, hand_epoch_fused  # noqa: E402
from runtime.functions import sigmoid  # noqa: E402


# ---- four-layer regression -------------------------------------------------------------
def four_layer_grad(x, y, V1, V2, V3, w):
    """(loss, g_V1, g_V2, g_V3, g_w): the lecture's backpropagation, written out."""
    h1 = sigmoid(V1 @ x)
    h2 = sigmoid(V2 @ h1)
    h3 = sigmoid(V3 @ h2)
    r = w @ h3 - y
    g_r = 2.0 * r
    g_w = g_r * h3
    d3 = g_r * w * h3 * (1.0 - h3)
    d2 = (V3.T @ d3) * h2 * (1.0 - h2)
    d1 = (V2.T @ d2) * h1 * (1.0 - h1)
    return r * r, np.outer(d1, x), np.outer(d2, h1), np.outer(d3, h2), g_w


four_layer_grad_numba = njit(cache=True)(four_layer_grad)


def _ag_four_layer(x, y, V1, V2, V3, w):
    import autograd.numpy as anp
    s = lambda a: 0.5 * (anp.tanh(0.5 * a) + 1.0)  # noqa: E731 - sigmoid, traceable
    h3 = s(V3 @ s(V2 @ s(V1 @ x)))
    return (w @ h3 - y) ** 2


def _torch_four_layer(t, x, y, V1, V2, V3, w):
    h3 = t.sigmoid(V3 @ t.sigmoid(V2 @ t.sigmoid(V1 @ x)))
    return (w @ h3 - y) ** 2


def _jax_four_layer(jnp, x, y, V1, V2, V3, w):
    import jax
    s = jax.nn.sigmoid
    h3 = s(V3 @ s(V2 @ s(V1 @ x)))
    return (w @ h3 - y) ** 2


def four_layer(width: int, rows: int | None = None) -> Model:
    """The model at `width`; `rows` keeps only the first rows (tests use a few)."""
    X, y, _, _ = load_data(0)
    X, y = X[:rows], y[:rows]
    return Model(
        f"Four-layer regression, width {width} (diabetes)", f"four_layer_{width}",
        four_layer_loss, ("V1", "V2", "V3", "w"), X, y, init_params(X.shape[1], width, 0),
        0.003, four_layer_grad, four_layer_grad_numba, hand_epoch, _ag_four_layer,
        _torch_four_layer, _jax_four_layer,
        more_epochs=[("hand-written Numba, fused updates", hand_epoch_fused)],
        notes=[f"per example: x of shape ({X.shape[1]},), V1 ({width}, {X.shape[1]}), "
               f"V2 and V3 ({width}, {width}), w ({width},); float64"])


# ---- hinge-loss classifier -------------------------------------------------------------
def hinge_grad(x, y, w):
    """(loss, g_w) of max(1 - (w . x) y, 0); at the kink the subgradient is halved."""
    slack = 1.0 - (w @ x) * y
    if slack > 0.0:
        return slack, -y * x
    if slack == 0.0:
        return 0.0, -0.5 * y * x
    return 0.0, 0.0 * x


hinge_grad_numba = njit(cache=True)(hinge_grad)


@njit(cache=True)
def hinge_epoch(X, y, w, lr, order):
    total = 0.0
    for k in range(order.shape[0]):
        i = order[k]
        x = X[i]
        slack = 1.0 - (w @ x) * y[i]
        if slack >= 0.0:
            total += slack
            s = -lr * (-y[i] if slack > 0.0 else -0.5 * y[i])
            for j in range(w.shape[0]):
                w[j] += s * x[j]
    return total / order.shape[0]


def _ag_hinge(x, y, w):
    import autograd.numpy as anp
    return anp.maximum(1 - (w @ x) * y, 0.0)


def _torch_hinge(t, x, y, w):
    return t.clamp(1 - (w @ x) * y, min=0.0)


def _jax_hinge(jnp, x, y, w):
    return jnp.maximum(1 - (w @ x) * y, 0.0)


def hinge_data(seed=0):
    """The breast-cancer training set as in examples/hinge_classifier.py."""
    from sklearn.datasets import load_breast_cancer
    from sklearn.model_selection import train_test_split
    X, y = load_breast_cancer(return_X_y=True)
    y = np.where(y == 1, 1.0, -1.0)
    Xtr, _, ytr, _ = train_test_split(X, y, test_size=0.2, random_state=seed)
    mu, sd = Xtr.mean(0), Xtr.std(0)
    return np.hstack([(Xtr - mu) / sd, np.ones((len(Xtr), 1))]), ytr


def hinge(rows: int | None = None) -> Model:
    X, y = hinge_data()
    X, y = X[:rows], y[:rows]
    w0 = np.random.default_rng(0).normal(0.0, 0.1, X.shape[1])
    return Model("Hinge-loss linear classifier (breast cancer)", "hinge", hinge_loss, ("w",),
                 X, y, {"w": w0}, 0.01, hinge_grad, hinge_grad_numba, hinge_epoch, _ag_hinge,
                 _torch_hinge, _jax_hinge,
                 notes=[f"per example: x and w of shape ({X.shape[1]},); float64"])
