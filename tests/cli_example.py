"""Functions the command-line tests (tests/test_cli.py) run `python -m compiler` on."""
import numpy as np

from runtime.functions import relu, sigmoid


def squared_loss(w, phi, y):
    residual = w @ phi - y
    return residual ** 2


def two_layer(phi, y, V, w):
    h = sigmoid(V @ phi)
    residual = w @ h - y
    return residual ** 2


def relu_kink(x):
    """relu'(0) = 0 by the kink policy; central differences see 1/2 there."""
    return np.sum(relu(x))


EXAMPLES = {
    "squared_loss": dict(w=[3.0, 1.0], phi=[1.0, 2.0], y=2.0),
    "two_layer": lambda: dict(phi=[1.0, 2.0], y=1.0, V=[[0.5, -1.0], [1.0, 0.5], [-0.5, 1.0]],
                              w=[1.0, -1.0, 0.5]),
    "relu_kink": ([0.0, 1.0],),
}
