"""Functions for tests/test_transform_arguments.py (read by adjoint from this file)."""
from collections import namedtuple

import numpy as np

from compiler import custom_vjp

Layer = namedtuple("Layer", "W b")


def mul(a, x):
    return a * x


def dict_loss(p, x):
    h = np.tanh(p["W"] @ x + p["b"])
    return np.sum(h ** 2) * p["s"]


def layer_loss(layer, x):
    return np.sum(np.sin(layer.W @ x + layer.b) ** 2)


def dict_vec(p, x):
    return np.tanh(p["W"] @ x + p["b"])


def kw_loss(x, *, k=2.0):
    return np.sum(np.sin(x) ** 2) * k


def dflt_vec(x, k=2.0):
    return np.sin(x) * k


def lin(x, W):
    return W @ x


def cubic(x):
    return np.sum(x ** 3)


def positive(x):
    return x > 0.5


def odd_keys(p, x):
    return np.sum(p["a-b"] * x) + np.sum(p["fc1.weight"] ** 2) + p["class"] * 2.0 + np.sum(p[-1] * x)


def ordered(p, x):
    return np.sum(p["a"] * x) + 2.0 * np.sum(p["b"] * x) + 3.0 * np.sum(p["c"] * x)


@custom_vjp
def ste_round(x):
    return np.round(x)


@ste_round.defvjp
def ste_round_vjp(g, ans, x):
    return g  # straight-through: the identity backward


def ste_vec(x):
    return ste_round(x) * 2.0


def ste_loss(x, w):
    return np.sum(w * ste_round(x) ** 2)


def det_loss(A):
    return np.linalg.det(A) * 2.0


# ---- loops over parameter structures (unrolled) ----------------------------------------------
def layers_by_index(layers, x):
    h = x
    for i in range(len(layers)):
        W, b = layers[i]
        h = np.tanh(W @ h + b)
    return np.sum(h)


def layers_zipped(Ws, bs, x):
    h = x
    for W, b in zip(Ws, bs):
        h = np.tanh(W @ h + b)
    return np.sum(h)


def layers_enumerated(layers, x):
    h = x
    for i, (W, b) in enumerate(layers):
        h = np.tanh(W @ h + b) * (i + 1.0)
    return np.sum(h)


def dict_values(p, x):
    s = 0.0
    for v in p.values():
        s = s + np.sum(v * x)
    return s


def dict_items(p, x):
    s = 0.0
    for k, v in p.items():
        s = s + np.sum(v * x) * np.sum(p[k])
    for k in p:
        s = s + np.sum(p[k] ** 2)
    return s


def break_in_container_loop(layers, x):
    for W, b in layers:
        if np.sum(W) > 0:
            break
        x = W @ x + b
    return np.sum(x)


Stats = namedtuple("Stats", "pred err scale", defaults=(1.0,))


def aux_namedtuple(w, X, y):
    pred = X @ w
    stats = Stats(pred, err=pred - y)
    return np.mean(stats.err ** 2) * stats.scale, stats


def write_into_dict_entry(p, x):
    p["W"][1] = x[0] * 2.0
    return np.sum(p["W"] ** 2 * x)


def write_into_namedtuple_field(layer, x):
    layer.W[0] = x[0]
    return np.sum(layer.W * x)
