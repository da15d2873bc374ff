"""Losses over structured parameters (dicts, lists, tuples, namedtuples) and with
auxiliary outputs, for tests/test_structures.py."""
from collections import namedtuple

import numpy as np

from runtime.functions import sigmoid

Layer = namedtuple("Layer", "W b")


def dict_loss(p, X, y):
    h = np.tanh(X @ p["W1"] + p["b1"])
    return np.mean((h @ p["w2"] + p["b2"] - y) ** 2)


def separate_loss(W1, b1, w2, b2, X, y):
    h = np.tanh(X @ W1 + b1)
    return np.mean((h @ w2 + b2 - y) ** 2)


def layers_loss(layers, x):
    """A list of (W, b) tuples, unpacked in the loss."""
    (W1, b1), (W2, b2) = layers
    return np.sum(np.tanh(W2 @ np.tanh(W1 @ x + b1) + b2) ** 2)


def namedtuple_loss(layer, x):
    return np.sum(np.tanh(layer.W @ x + layer.b) ** 2)


def nested_loss(p, x):
    """A dict holding a dict, a list of arrays and a number."""
    a = p["enc"]["W"] @ x
    s = 0.0
    s = s + np.sum(p["mix"][0] * a) + np.sum(p["mix"][1] * a * a)
    return s * p["scale"] + np.sum(p["enc"]["b"] ** 2)


def mixed_loss(p, w, x):
    """A structured argument and a plain one, both differentiated."""
    return np.sum((p["A"] @ x) * w) + np.sum(p["c"] * w ** 2)


def int_leaf_loss(p, x):
    """An int leaf of an argument not differentiated stays an int (an index)."""
    return np.sum(x[p["k"]] * p["w"])


def aux_loss(w, X, y):
    pred = X @ w
    loss = np.mean((pred - y) ** 2)
    return loss, {"pred": pred, "mse": loss, "positive": np.sum(pred > 0.0)}


def aux_tuple_loss(p, x):
    h = np.tanh(p["W"] @ x)
    return np.sum(h ** 2), (h, np.max(h))


def not_a_pair(w):
    return np.sum(w ** 2)


def missing_key(p, x):
    return np.sum(p["W2"] @ x)


def four_layer(x, y, V1, V2, V3, w):
    h1 = sigmoid(V1 @ x)
    h2 = sigmoid(V2 @ h1)
    h3 = sigmoid(V3 @ h2)
    residual = w @ h3 - y
    return residual ** 2


def four_layer_dict(p, x, y):
    h1 = sigmoid(p["V1"] @ x)
    h2 = sigmoid(p["V2"] @ h1)
    h3 = sigmoid(p["V3"] @ h2)
    residual = p["w"] @ h3 - y
    return residual ** 2


def scalar_loss(a, x):
    return np.sum(np.sin(a * x)) * a


def fit_dict_loss(p, x, y):
    h = np.tanh(p["W"] @ x + p["b"])
    return (p["w"] @ h - y) ** 2


def fit_separate_loss(W, b, w, x, y):
    h = np.tanh(W @ x + b)
    return (w @ h - y) ** 2


def fit_default_loss(w, x, y, scale=2.0):
    return (scale * (w @ x) - y) ** 2


def fit_written_out_loss(w, x, y):
    return (2.0 * (w @ x) - y) ** 2
