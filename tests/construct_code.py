"""Python a loss really contains (issue 14): local `def` and `lambda`, chained
assignment, list/tuple/dict literals as values and indices, bound methods, keyword-only
parameters, annotated assignments, `assert`. For tests/test_python_constructs.py."""
import numpy as np


def local_def(x, w):
    def layer(h, scale=2.0):  # a closure over the argument w
        return np.tanh(h * w) * scale
    return np.sum(layer(layer(x), scale=0.5))


def local_def_late_binding(x):
    c = 2.0

    def f(t):
        return t * c  # c as it is when f is called (Python's closures)
    c = 3.0
    return np.sum(f(x) ** 2)


def local_def_calls_local_def(x):
    def sq(t):
        return t * t

    def quad(t):
        return sq(sq(t))
    return np.sum(quad(x))


def local_lambda(x, w):
    f = lambda t: np.sin(t * w)  # noqa: E731
    g = lambda t, k=3.0: t ** k  # noqa: E731
    return np.sum(g(f(x))) + np.sum((lambda t: t * 2.0)(x))


def local_def_in_loop(x):
    s = 0.0
    for i in range(3):
        def term(t):
            return t * (i + 1.0)
        s = s + np.sum(term(x) ** 2)
    return s


def local_recursion(x):
    def f(t):
        return f(t)
    return np.sum(f(x))


def chained(x):
    a = b = x * 2.0
    return np.sum(a * b)


def chained_scalar(a):
    u = v = a * a
    return u + v * a


def list_values(a):
    b = [1.0, a * a, 2.0]
    x = [1.0, a, 3.0]
    t = (a, 2.0 * a)
    return np.sum(b) + x[0] * x[1] + x[-1] * a + np.prod(t) + t[1:][0]


def list_of_arrays(x):
    parts = [x, x * x]
    return np.sum(np.array(parts)) + np.sum(parts[1]) + np.mean([x, 2.0 * x])


def list_index(x):
    return np.sum(x[[0, 0, 2]] * np.array([1.0, 2.0, 3.0]))


def runtime_index_into_tuple(a, b, c, i):
    x = a, b, c
    return x[i] * x[i]


def dict_literal(a, b):
    d = {"a": a, "b": b * 2.0}
    e = dict(d, c=a * b)
    return e["a"] * e["b"] + e["c"]


def _saxpy(val):
    return val["a"] * val["b"] + val["c"]


def dict_to_helper(packed):
    a, b, c = packed
    return _saxpy(dict(a=a, b=b, c=c))


def kwonly(x, *, k=2.0, shift):
    h: float = 0.0
    h += shift
    total: float
    return np.sum(x * k) + h


def with_assert(x):
    assert x.shape[0] == 3, "three entries"  # dropped from the generated code
    return np.sum(x ** 2)


def with_default(x, y, scale=2.0):
    return np.sum((x * scale - y) ** 2)


class Model:
    """`self` holds arrays; the methods are differentiated as bound methods."""

    def __init__(self, W):
        self.W = W
        self.bias = 0.5

    def predict(self, x):
        return np.tanh(self.W @ x + self.bias)

    def loss(self, w, x):
        return np.sum(self.predict(x) * w) ** 2

    def loss_kw(self, x, *, scale=1.0):
        return np.sum(self.predict(x)) * scale


def loop_over_layers(layers, x):
    """A Python loop over a list of (W, b) pairs: lowered once per entry."""
    h = x
    for W, b in layers:
        h = np.tanh(W @ h + b)
    return np.sum(h ** 2)


def loop_over_literal(a):
    s = 0.0
    for c in [1.0, 2.0, a]:
        s = s + c * a
    return s


def loop_over_dict(p):
    s = 0.0
    for k in p:
        s = s + p[k]
    return s
