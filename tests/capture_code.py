"""Losses for tests/test_no_silent_errors.py that read globals, attributes, helper
functions and custom rules (which the tests then change under them)."""
import types

import numpy as np

from compiler import custom_vjp

CFG = types.SimpleNamespace(scale=2.0)
A = np.array([1.0, 2.0, 3.0, 4.0])
C = np.array([1.0, np.inf, -np.inf, np.nan, -0.0, 5e-324, -5e-324, 1.7976931348623157e308])
BOTH = np.array([1.0, -2.0])


def act(x):
    return np.tanh(x)


def uses_helper(x):
    return np.sum(act(x))


this_module = types.ModuleType("helpers")  # an object whose attribute is a function
this_module.act = act


def uses_module_attribute(x):
    return np.sum(this_module.act(x))


def uses_namespace(x):
    return np.sum(CFG.scale * x)


def uses_array_shape(x):
    return np.sum(A * x)


def scaled(x, k=3.0):
    return x * k


def uses_defaults(x):
    return np.sum(scaled(x))


def uses_builtin(x):
    return abs(x[0]) + x[1]


@custom_vjp
def square(x):
    return x * x


@square.defvjp
def square_vjp(g, ans, x):
    return 2.0 * g * x


def uses_custom(x):
    return np.sum(square(x))


def bilinear(w, v, x):
    return w @ v + np.sum(x)


def same_cotangent(a, b):
    return np.sum(BOTH * (a + b))  # both gradients are the constant BOTH


def transposed(W, v):
    return np.sum(W.T * v)


def reshaped(w, v):
    return np.sum(w.reshape(2, 2) @ v)


def passthrough_loop(w, v, n):
    u = v
    for i in range(n):
        u = w
    return np.sum(u * v)


def constants(x):
    return np.sum(x * C[:2]) + C[4] * x[0] + np.sum(C[5:7]) * x[1] + C[7] * 0.5 * x[0]


def constants_finite(x):
    return np.sum(C[4:] * x)


def branch_passes_cotangent(x, w, c):
    s = np.sum(x[0:2] ** 2)  # an indexed read: its adjoint is accumulated in place
    if c > 0:
        y = 2.0 * x
    else:
        y = x  # this branch passes the cotangent of y through
    z = y + w
    return np.sum(z * z) + s


def loop_passes_cotangent(x, w, n):
    s = np.sum(x[0:2] ** 2)
    y = x
    for i in range(n):  # no trip when n == 0: y is x itself
        y = y * 1.5
    z = y + w
    return np.sum(z * z) + s


def while_passes_cotangent(x, w, n):
    s = np.sum(x[1:] ** 2)
    y = x
    k = 0
    while k < n:
        y = np.sin(y)
        k = k + 1
    z = y + w
    return np.sum(z * z) + s


class Sub(np.ndarray):
    """An ndarray subclass captured as a constant."""


SUB = np.array([1.0, 2.0]).view(Sub)


def uses_subclass(x):
    return np.sum(x * SUB)


class Fresh:
    """An attribute that is a new (equal) float object on every read."""

    z = 0.5

    @property
    def scale(self):
        return 3.0 + self.z


FRESH = Fresh()


def uses_property(x):
    return np.sum(FRESH.scale * x)


def var_over_n_minus_1(x):
    return np.sum(x * x) / (len(x) - 1)


def var_ddof1(x):
    return np.var(x, ddof=1)


DEFAULT_ARRAY = np.array([1.0, 2.0])


def weighted_helper(v, w=DEFAULT_ARRAY, *, k=2.0):
    return k * np.sum(w * v)


def uses_helper_defaults(x):
    return weighted_helper(x)


MATRIX = np.matrix([[1.0, 2.0], [3.0, 4.0]])
MASKED = np.ma.masked_array([1.0, 2.0], mask=[False, True])


def uses_matrix(x):
    return np.sum(MATRIX * x)


def uses_masked(x):
    return np.sum(MASKED * x)


class Scaler:
    def __init__(self):
        self.scale = 2.0

    def apply(self, x):
        return self.scale * np.sum(x * x)

    def apply_cubed(self, x):
        return self.scale * np.sum(x * x * x)


SCALER = Scaler()


def uses_method(x):
    return SCALER.apply(x)
