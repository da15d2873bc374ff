"""Every primitive of compiler/primitives.py: its adjoint against autograd and central
differences (tests/oracles.py) for several shapes, broadcasting included, as plain
NumPy (jit=False); then each compiled by Numba (jit=True) in a few batched functions
whose primitives, together, must cover the table; the stable runtime functions at
extreme inputs; the README's generated list of primitives."""
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

from compiler import custom_vjp, grad, stop_gradient, value_and_grad
from compiler.primitive_list import BEGIN, END, table_markdown
from compiler.primitives import OTHERS, PRIMS
from oracles import assert_grads_match, autograd_grads
from runtime.check import numerical_grad
from runtime.functions import (cross_entropy, log_sigmoid, log_softmax, logsumexp, relu,
                               sigmoid, softmax, softplus)

BROADCAST = [((2, 3), (3,)), ((2, 3), ()), ((2, 3), (1, 3)), ((4, 1), (1, 5)), ((3,), (3,)),
             ((), (2, 3))]
UNARY = [(), (3,), (2, 3)]


def rand(shape, seed, lo=-1.0, hi=1.0):
    rng = np.random.default_rng(seed)
    v = rng.uniform(lo, hi, size=shape)
    return float(v) if shape == () else v


# ---- elementwise arithmetic, with broadcasting --------------------------------------
def add(a, b):
    return np.sum((a + b) ** 2)


def sub(a, b):
    return np.sum(np.sin(a - b))


def mul(a, b):
    return np.sum(np.sin(a * b))


def div(a, b):
    return np.sum(np.sin(a / b))


def pow_(a, b):
    return np.sum(a ** b)


def maximum(a, b):
    return np.sum(np.sin(np.maximum(a, b)))


def minimum(a, b):
    return np.sum(np.sin(np.minimum(a, b)))


def logaddexp(a, b):
    return np.sum(np.logaddexp(a, b) ** 2)


def where(a, b):
    return np.sum(np.sin(np.where(a > b, a * 2.0, b)))


def neg_spelled(a, b):
    return np.sum(np.sin(-a + np.negative(b) + np.subtract(a, b) * np.multiply(a, b)
                         + np.divide(a, b + 3.0) + np.add(a, b) + np.power(b + 3.0, a)))


def arctan2(a, b):
    return np.sum(np.arctan2(a, b) ** 2)


def hypot(a, b):
    return np.sum(np.sin(np.hypot(a, b)))


def fmax(a, b):
    return np.sum(np.sin(np.fmax(a, b)))


def fmin(a, b):
    return np.sum(np.sin(np.fmin(a, b)))


BINARY = {"add": add, "sub": sub, "mul": mul, "div": div, "pow": pow_, "maximum": maximum,
          "minimum": minimum, "logaddexp": logaddexp, "where": where, "neg": neg_spelled,
          "arctan2": arctan2, "hypot": hypot, "fmax": fmax, "fmin": fmin}
_POSITIVE = {"div": (None, 1), "pow": (0, None)}


def assert_matches_finite_differences(fn, args, wrt):
    got = grad(fn, wrt=tuple(wrt), jit=False)(*args)
    for i, g in zip(wrt, got):
        assert np.shape(g) == np.shape(args[i])
        np.testing.assert_allclose(g, numerical_grad(fn, args, i), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_primitive(name, shapes):
    pos = _POSITIVE.get(name, ())
    a = rand(shapes[0], 1, *((0.5, 1.5) if 0 in pos else ()))
    b = rand(shapes[1], 2, *((1.0, 2.0) if 1 in pos else ()))
    if name == "where" and shapes[0] != shapes[1]:
        # autograd's where does not sum a broadcast operand's cotangent back (it returns
        # the broadcast shape): central differences are the oracle here
        assert_matches_finite_differences(BINARY[name], (a, b), (0, 1))
    else:
        assert_grads_match(BINARY[name], (a, b), (0, 1), jit=False)


# ---- unary elementwise functions -----------------------------------------------------
def exp(x):
    return np.sum(np.exp(x) * np.exp(x))


def expm1(x):
    return np.sum(np.expm1(x) ** 2)


def log(x):
    return np.sum(np.log(x) ** 2)


def log1p(x):
    return np.sum(np.log1p(x) ** 2)


def sqrt(x):
    return np.sum(np.sqrt(x) ** 3)


def sin(x):
    return np.sum(np.sin(x) ** 2)


def cos(x):
    return np.sum(np.cos(x) ** 2 + np.cos(x))


def tan(x):
    return np.sum(np.tan(x) ** 2)


def tanh(x):
    return np.sum(np.tanh(x) ** 2)


def sinh(x):
    return np.sum(np.sinh(x) ** 2)


def cosh(x):
    return np.sum(np.cosh(x) ** 2)


def arctan(x):
    return np.sum(np.arctan(x) ** 2)


def arcsin(x):
    return np.sum(np.arcsin(x) ** 2)


def arccos(x):
    return np.sum(np.arccos(x) ** 2)


def arcsinh(x):
    return np.sum(np.arcsinh(x) ** 2)


def arccosh(x):
    return np.sum(np.arccosh(x) ** 2)


def arctanh(x):
    return np.sum(np.arctanh(x) ** 2)


def exp2(x):
    return np.sum(np.exp2(x) ** 2)


def deg2rad(x):
    return np.sum(np.sin(np.deg2rad(x * 50.0)) + np.radians(x) ** 2)


def rad2deg(x):
    return np.sum(np.rad2deg(x) ** 2 + np.degrees(x))


def abs_(x):
    return np.sum(np.abs(x) ** 3 + np.fabs(x))


def square(x):
    return np.sum(np.square(x) + np.reciprocal(x + 3.0) + np.log2(x + 3.0) + np.log10(x + 3.0))


def sign(x):  # sign has a zero derivative: d/dx sign(x) * x = sign(x)
    return np.sum(np.sign(x) * x)


def sigmoid_(x):
    return np.sum(sigmoid(x) ** 2)


def log_sigmoid_(x):
    return np.sum(log_sigmoid(x) ** 2)


def relu_(x):
    return np.sum(relu(x) ** 2)


def softplus_(x):
    return np.sum(softplus(x) ** 2)


UNARY_FNS = {"exp": exp, "expm1": expm1, "log": log, "log1p": log1p, "sqrt": sqrt, "sin": sin,
             "cos": cos, "tan": tan, "tanh": tanh, "sinh": sinh, "cosh": cosh, "arctan": arctan,
             "abs": abs_, "square": square, "sign": sign, "sigmoid": sigmoid_,
             "log_sigmoid": log_sigmoid_, "relu": relu_, "softplus": softplus_,
             "arcsin": arcsin, "arccos": arccos, "arcsinh": arcsinh, "arccosh": arccosh,
             "arctanh": arctanh, "exp2": exp2, "deg2rad": deg2rad, "rad2deg": rad2deg}
_DOMAIN = {"log": (0.2, 2.0), "sqrt": (0.2, 2.0), "log1p": (-0.5, 2.0), "arcsin": (-0.9, 0.9),
           "arccos": (-0.9, 0.9), "arctanh": (-0.9, 0.9), "arccosh": (1.1, 3.0)}


@pytest.mark.parametrize("shape", UNARY, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY_FNS))
def test_unary_primitive(name, shape):
    x = rand(shape, 3, *_DOMAIN.get(name, (-1.0, 1.0)))
    assert_grads_match(UNARY_FNS[name], (x,), (0,), jit=False)


def cbrt(x):  # both signs, away from 0 (where cbrt' is infinite)
    return np.sum(np.cbrt(x) ** 2 + np.cbrt(-2.0 * x))


@pytest.mark.parametrize("shape", UNARY, ids=str)
def test_cbrt_against_finite_differences(shape):  # autograd has no rule for cbrt
    assert_matches_finite_differences(cbrt, (rand(shape, 3, 0.3, 2.0),), (0,))


def fmax_nan(a, b):
    v = np.fmax(a, b)
    return np.sum(np.where(v != v, 1000.0, v) * np.arange(1.0, 6.0))


def fmin_nan(a, b):
    v = np.fmin(a, b)
    return np.sum(np.where(v != v, 1000.0, v) * np.arange(1.0, 6.0))


# a = [1, 2, nan, 3, nan], b = [1, 1, 2, nan, nan]: a tie, a > b, a NaN, b NaN, both NaN;
# each side's share of the cotangent (ties split evenly, a NaN side gets none)
FMAX_SHARES = {fmax_nan: ([0.5, 1.0, 0.0, 1.0, 0.0], [0.5, 0.0, 1.0, 0.0, 0.0]),
               fmin_nan: ([0.5, 0.0, 0.0, 1.0, 0.0], [0.5, 1.0, 1.0, 0.0, 0.0])}


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("fn", [fmax_nan, fmin_nan], ids=lambda f: f.__name__)
def test_fmax_fmin_split_ties_and_ignore_nan(fn, jit):
    a = np.array([1.0, 2.0, np.nan, 3.0, np.nan])
    b = np.array([1.0, 1.0, 2.0, np.nan, np.nan])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v, (ga, gb) = value_and_grad(fn, wrt=(0, 1), jit=jit)(a, b)
    assert v == fn(a, b)  # NumPy's values: NaN only where both are NaN
    w = np.arange(1.0, 6.0)
    np.testing.assert_array_equal(ga, w * np.array(FMAX_SHARES[fn][0]))
    np.testing.assert_array_equal(gb, w * np.array(FMAX_SHARES[fn][1]))
    # ties with a broadcast scalar: half to each side, the scalar's halves summed
    ga, gs = grad(fmax, wrt=(0, 1), jit=jit)(np.array([0.0, 0.0, -1.0]), 0.0)
    np.testing.assert_array_equal(ga, [0.5, 0.5, 0.0])
    assert gs == 0.5 + 0.5 + 1.0


def test_hypot_gradient_at_the_origin_is_zero():  # as norm'(0) = 0
    ga, gb = grad(hypot, wrt=(0, 1), jit=False)(np.array([0.0, 3.0]), np.array([0.0, 4.0]))
    np.testing.assert_allclose(ga, [0.0, 0.6 * math.cos(5.0)], rtol=1e-15)
    np.testing.assert_allclose(gb, [0.0, 0.8 * math.cos(5.0)], rtol=1e-15)


def heavisides(x, h, s):  # NaN where x is NaN: counted as 100
    v = np.heaviside(x, h)
    return np.sum(np.where(v != v, 100.0, v) * np.arange(1.0, 9.0).reshape(2, 4)) + np.heaviside(s, 0) * s


@pytest.mark.parametrize("jit", [False, True])
def test_heaviside_values_as_numpy_and_no_gradient(jit):
    x = np.array([[-1.0, 0.0, 2.0, np.nan], [0.0, -0.0, 3.0, -2.0]])
    for h, s in ((0.5, 0.0), (np.array([0.2, 0.3, 0.4, 0.6]), 2.0), (np.array([[0.7], [0.1]]), -1.0)):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            v, (gx, gh, gs) = value_and_grad(heavisides, wrt=(0, 1, 2), jit=jit)(x, h, s)
        assert v == pytest.approx(heavisides(x, h, s), rel=1e-15)  # NumPy's values
        np.testing.assert_array_equal(gx, np.zeros((2, 4)))  # heaviside' = 0
        np.testing.assert_array_equal(gh, np.zeros(np.shape(h)))
        assert gs == np.heaviside(s, 0)  # d/ds heaviside(s, 0) * s


def math_functions(x):
    return (math.exp(x) + math.log(x) + math.tanh(x) + math.sqrt(x) + math.fabs(x)
            + math.sin(x) + math.cos(x) + math.tan(x) + math.sinh(x) + math.cosh(x)
            + math.atan(x) + math.expm1(x) + math.log1p(x) + abs(-x) + float(x) * 2.0)


def test_math_module_functions_on_scalars():
    x = 0.7
    got = grad(math_functions, jit=False)(x)
    want = (math.exp(x) + 1 / x + 1 - math.tanh(x) ** 2 + 0.5 / math.sqrt(x) + 1 + math.cos(x)
            - math.sin(x) + 1 / math.cos(x) ** 2 + math.cosh(x) + math.sinh(x) + 1 / (1 + x * x)
            + math.exp(x) + 1 / (1 + x) + 1 + 2)
    assert got == pytest.approx(want, rel=1e-14)


def math_inverses(s, t):  # math's spellings of the inverse and degree functions
    return (math.asin(s) + math.acos(s) * t + math.atan2(s, t) + math.hypot(s, t) + math.asinh(s)
            + math.acosh(t + 1.5) + math.atanh(s) + math.degrees(s) + math.radians(t))


def math_inverses_311(s, t):  # math.cbrt and math.exp2 are new in Python 3.11
    return math_inverses(s, t) + math.cbrt(t) + math.exp2(s)


@pytest.mark.parametrize("jit", [False, True])
def test_math_inverse_functions_on_scalars(jit):
    fn = math_inverses_311 if hasattr(math, "cbrt") else math_inverses
    args = (0.3, 0.7)
    got = grad(fn, wrt=(0, 1), jit=jit)(*args)
    for i, g in enumerate(got):
        assert g == pytest.approx(numerical_grad(fn, args, i), rel=1e-8)


# ---- reductions ---------------------------------------------------------------------
def _sum(axis, keepdims):
    def f(x):
        return np.sum(np.sum(x, axis=axis, keepdims=keepdims) ** 2)
    return f


def _mean(axis, keepdims):
    def f(x):
        return np.sum(x.mean(axis=axis, keepdims=keepdims) ** 2)
    return f


def _max(axis, keepdims):
    def f(x):
        return np.sum(np.max(x, axis=axis, keepdims=keepdims) ** 2)
    return f


def _min(axis, keepdims):
    def f(x):
        return np.sum(x.min(axis=axis, keepdims=keepdims) ** 2)
    return f


def _prod(axis, keepdims):
    def f(x):
        return np.sum(np.prod(x, axis=axis, keepdims=keepdims) ** 2)
    return f


def _var(axis, keepdims):
    def f(x):
        return np.sum(np.var(x, axis=axis, keepdims=keepdims) ** 2)
    return f


def _std(axis, keepdims):
    def f(x):
        return np.sum(x.std(axis=axis, keepdims=keepdims) ** 2)
    return f


def _logsumexp(axis, keepdims):
    def f(x):
        return np.sum(logsumexp(x, axis=axis, keepdims=keepdims) ** 2)
    return f


REDUCTIONS = {"sum": _sum, "mean": _mean, "max": _max, "min": _min, "prod": _prod,
              "var": _var, "std": _std, "logsumexp": _logsumexp}
AXES = [((3,), None), ((3,), 0), ((2, 3), None), ((2, 3), 0), ((2, 3), -1), ((2, 3), (0, 1)),
        ((2, 3, 4), 1), ((2, 3, 4), (0, 2)), ((2, 3, 4), (2, 1))]


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name,shape,axis", [
    (name, shape, axis) for name in sorted(REDUCTIONS) for shape, axis in AXES
    if not (name == "logsumexp" and isinstance(axis, tuple) and len(axis) < len(shape))], ids=str)
def test_reduction(name, shape, axis, keepdims):  # logsumexp: None or one axis (or all)
    x = rand(shape, 4, 0.5, 1.5)
    assert_grads_match(REDUCTIONS[name](axis, keepdims), (x,), (0,), jit=False)


def var_ddof(x):
    return np.var(x, ddof=1) + np.sum(np.std(x, axis=0, ddof=1))


def norms(x, v):
    return np.linalg.norm(x) ** 3 + np.linalg.norm(v) + np.linalg.norm(x, ord=None)


def test_ddof_and_norms():
    assert_grads_match(var_ddof, (rand((4, 3), 5),), (0,), jit=False)
    assert_grads_match(norms, (rand((2, 3), 6), rand((4,), 7)), (0, 1), jit=False)


def test_prod_gradient_is_exact_at_zeros():
    def f(x):
        return np.prod(x)
    np.testing.assert_array_equal(grad(f, jit=False)(np.array([2.0, 0.0, 3.0])), [0.0, 6.0, 0.0])
    np.testing.assert_array_equal(grad(f, jit=False)(np.array([2.0, 0.0, 0.0])), [0.0, 0.0, 0.0])


# ---- linear algebra ------------------------------------------------------------------
def matmul(a, b):
    return np.sum(np.sin(a @ b))


def dot(a, b):
    return np.sum(np.sin(np.dot(a, b)) + np.dot(a, b))


def inner(a, b):
    return np.sum(np.sin(np.inner(a, b)))


def outer(a, b):
    return np.sum(np.sin(np.outer(a, b)))


def trace(a, b):
    return np.trace(a @ b) ** 2


MATMUL = [((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4))]


@pytest.mark.parametrize("shapes", MATMUL, ids=str)
@pytest.mark.parametrize("fn", [matmul, dot], ids=lambda f: f.__name__)
def test_matmul_and_dot(fn, shapes):
    assert_grads_match(fn, (rand(shapes[0], 8), rand(shapes[1], 9)), (0, 1), jit=False)


@pytest.mark.parametrize("shapes", [((3,), (3,)), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 3), (4, 3)),
                                    ((), (2, 3))], ids=str)
def test_inner(shapes):
    assert_grads_match(inner, (rand(shapes[0], 10), rand(shapes[1], 11)), (0, 1), jit=False)


def test_outer_and_trace():
    assert_grads_match(outer, (rand((3,), 12), rand((4,), 13)), (0, 1), jit=False)
    assert_grads_match(trace, (rand((3, 4), 14), rand((4, 3), 15)), (0, 1), jit=False)
    assert_grads_match(trace, (rand((2, 4), 14), rand((4, 3), 15)), (0, 1), jit=False)


# ---- shapes --------------------------------------------------------------------------
def reshapes(x):
    n = x.shape[0]
    return (np.sum(np.sin(x.reshape(3, -1)) * np.arange(6.0).reshape((3, 2)))
            + np.sum(np.reshape(x, (-1,)) ** 3) + np.sum(x.ravel() * x.flatten())
            + np.sum(x.reshape(n * 3, 1) ** 2))


def transposes(x, y):
    return (np.sum(np.sin(x.T) * np.arange(6.0).reshape(3, 2)) + np.sum(np.transpose(x) ** 2)
            + np.sum(np.transpose(y, (1, 0, 2)) * np.arange(24.0).reshape(3, 2, 4))
            + np.sum(np.sin(y.T)) + np.sum(y.transpose((2, 0, 1)) ** 2))


def expand_squeeze(x):
    return (np.sum(np.expand_dims(x, 0) * np.arange(6.0).reshape(1, 2, 3))
            + np.sum(np.expand_dims(x, -1) ** 2) + np.sum(np.expand_dims(x, 2) ** 3)
            + np.sum(np.squeeze(x[:1], axis=0) ** 2) + np.sum(x[:, :1].squeeze(axis=1) ** 3)
            + np.sum(x[:, None, :] * x[None, :, :]))


def joins(a, b):
    return (np.sum(np.sin(np.concatenate((a, b), axis=0)))
            + np.sum(np.concatenate([a, b], axis=1) ** 2)
            + np.sum(np.sin(np.stack((a, b)))) + np.sum(np.stack([a, b], axis=-1) ** 2)
            + np.sum(np.hstack((a, b)) ** 3) + np.sum(np.vstack((a, b)) * 2.0)
            + np.sum(np.hstack((a[0], b[1])) ** 2) + np.sum(np.vstack((a[0], b[1])) ** 2)
            + np.sum(np.vstack((a[0], b)) ** 3))


def arrays_of_scalars(x):
    v = np.array([x[0, 0], x[1, 2] * 2.0, 3.0])
    m = np.array([[x[0, 1], 1.0], [x[1, 0], x[0, 0]]])
    return np.sum(v ** 2) + np.sum(m @ m) + np.sum(np.array(x) * x)


def method_spellings(x, y):  # spellings autograd's ArrayBox lacks: central differences only
    return (np.sum(x.dot(y) ** 2) + np.sum(x.transpose(1, 0) ** 3) + np.sum(x.reshape((3, 2)) ** 3)
            + np.sum(x.clip(-0.5, 0.5) ** 2) + np.sum(x.copy() ** 2) + x.prod() + x.var(ddof=1)
            + np.sum(np.asarray(x, dtype=float) ** 2) + np.sum(np.expand_dims(x, (0, 2)) ** 3)
            + np.sum(x.astype(np.float64) ** 2))


def test_method_spellings():
    assert_matches_finite_differences(method_spellings, (rand((2, 3), 40), rand((3,), 41)), (0, 1))


def test_shape_primitives():
    assert_grads_match(reshapes, (rand((2, 3), 16),), (0,), jit=False)
    assert_grads_match(transposes, (rand((2, 3), 17), rand((2, 3, 4), 18)), (0, 1), jit=False)
    assert_grads_match(expand_squeeze, (rand((2, 3), 19),), (0,), jit=False)
    assert_grads_match(joins, (rand((2, 3), 20), rand((2, 3), 21)), (0, 1), jit=False)
    assert_grads_match(arrays_of_scalars, (rand((2, 3), 22),), (0,), jit=False)


# ---- indexing ------------------------------------------------------------------------
def basic_reads(x):
    n = len(x)
    return (np.sum(x[1] ** 2) + x[-1, 0] * x[0, 2] + np.sum(np.sin(x[1:3])) + np.sum(x[::2] ** 3)
            + np.sum(x[::-1, 1:] * x[:, :2]) + np.sum(x[1, ::2] ** 2) + np.sum(x[:, None, 1] ** 2)
            + np.sum(x[..., 0] ** 3) + np.sum(x[: n - 1] ** 2) + np.sum(x[np.newaxis] ** 2))


def array_reads(x, idx, rows, cols):
    return (np.sum(x[idx] ** 2) + np.sum(np.sin(x[:, idx])) + np.sum(x[idx, 1:] ** 3)
            + np.sum(x[rows, cols] ** 2) + np.sum(x[1, idx] * 2.0)
            + np.sum(x[np.arange(len(rows)), cols] ** 3))


def mask_reads(x):
    return (np.sum(x[x > 0.0] ** 2) + np.sum(x[x[:, 0] > 0.0] ** 3) + np.sum(x[:, x[0] < 0.5]))


@pytest.mark.parametrize("seed", [0, 1])
def test_index_reads(seed):
    x = rand((4, 3), 23 + seed)
    assert_grads_match(basic_reads, (x,), (0,), jit=False)
    idx = np.array([2, 0, 2, -1])  # a repeated index: its cotangents add up
    rows, cols = np.array([0, 1, 3, 3]), np.array([2, 2, 0, -1])
    assert_grads_match(array_reads, (x, idx, rows, cols), (0,), jit=False)
    assert_grads_match(mask_reads, (x,), (0,), jit=False)


def writes(x, v):
    y = x * 1.0
    y[0] = v[0] * 3.0              # an int: a row, v[0] broadcast along it
    y[1, 1:] = v[1:] ** 2          # int and slice
    y[2] += v * x[2]               # augmented
    y[::2, 0] = np.sin(v[:2])      # a step
    y[y > 1.5] = 0.0               # a full mask with a scalar: np.where
    y[np.array([3, 1])] = v[2]     # an index array
    z = np.zeros(3)
    z[1] = np.sum(y)
    return np.sum(y ** 2) + np.sum(z * z)


def test_index_writes_against_finite_differences():
    x, v = rand((4, 3), 25, -0.5, 2.0), rand((3,), 26, 0.2, 1.2)
    gx, gv = grad(writes, wrt=("x", "v"), jit=False)(x, v)
    np.testing.assert_allclose(gx, numerical_grad(writes, (x, v), 0), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gv, numerical_grad(writes, (x, v), 1), rtol=1e-6, atol=1e-8)
    assert value_and_grad(writes, wrt="x", jit=False)(x, v)[0] == pytest.approx(writes(x, v.copy()))


def test_a_write_the_value_then_overwritten_gets_no_gradient():
    def f(x, v):
        y = x * 1.0
        y[0] = v            # written, then overwritten: v does not reach the loss
        y[:2] = 5.0
        return np.sum(y * y)
    gx, gv = grad(f, wrt=(0, 1), jit=False)(np.ones(3), 2.0)
    np.testing.assert_array_equal(gx, [0.0, 0.0, 2.0])
    assert gv == 0.0


def test_non_wrt_integers_stay_integers_and_index():
    def f(x, i, labels):
        return x[i] * 2.0 + np.sum(x[labels]) + x.shape[0] + x.ndim
    g = grad(f, jit=False)
    np.testing.assert_array_equal(g(np.zeros(4), 1, np.array([3, 3])), [0.0, 2.0, 0.0, 2.0])
    # an np.int32 index and a list of ints give the same specialisation and gradient
    np.testing.assert_array_equal(g(np.zeros(4), np.int32(1), [3, 3]), [0.0, 2.0, 0.0, 2.0])
    assert [t.dtype for t in next(iter(g._specs))] == ["float64", "int64", "int64"]


# ---- constructors and casts ----------------------------------------------------------
def constructors(x, s):
    n = x.shape[0]
    return (np.sum(x * np.ones(n)) + np.sum(np.zeros((2, n)) + x) + np.sum(np.full((n,), s) * x)
            + np.sum(np.full(x.shape, 2.0) * x ** 2) + np.sum(np.zeros_like(x) + x ** 3)
            + np.sum(np.ones_like(x) * np.sin(x)) + np.sum(np.eye(n) @ x) + np.sum(np.eye(n, 2).T @ x)
            + np.sum(np.arange(n) * x) + np.sum(np.arange(1.0, 2.0, 0.5) * s) + np.sum(np.identity(n) * s)
            + np.sum(np.ones((n, 2), dtype=int) * s) + float(int(3.7)) * s
            + np.sum(np.full_like(x, 3.0) * x) + np.sum((x > 0).astype(float) * x))


def test_constructors_and_casts():
    assert_grads_match(constructors, (rand((3,), 27), 0.7), (0, 1), jit=False)


def test_non_differentiable_values_give_zero_gradients_of_the_right_shape():
    def f(a, b, c):
        unused = np.sum(b * 2.0) + np.mean(c)   # dead: removed, not a None gradient
        n = b.shape[0] + c.size
        return np.sum(a * a) + n + np.sum(np.sign(b)) + np.sum(c > 0)
    ga, gb, gc = grad(f, wrt=(0, 1, 2), jit=False)(np.ones(2), np.ones((2, 3)), np.ones(4))
    np.testing.assert_array_equal(ga, [2.0, 2.0])
    np.testing.assert_array_equal(gb, np.zeros((2, 3)))
    np.testing.assert_array_equal(gc, np.zeros(4))


# ---- stable runtime functions -----------------------------------------------------------
def softmaxes(x):
    return (np.sum(softmax(x) * np.arange(12.0).reshape(4, 3))
            + np.sum(log_softmax(x, axis=0) * np.arange(12.0).reshape(4, 3))
            + np.sum(softmax(x, axis=None) ** 2) + np.sum(log_softmax(x[0]) ** 2))


def ce(z, y):
    return cross_entropy(z, y)


def ce1(z, label):
    return cross_entropy(z, label) * 2.0


def test_softmax_family_and_cross_entropy():
    x = rand((4, 3), 28, -2.0, 2.0)
    assert_grads_match(softmaxes, (x,), (0,), jit=False)
    assert_grads_match(ce, (x, np.array([0, 2, 1, 2])), (0,), jit=False)
    assert_grads_match(ce1, (x[0], 2), (0,), jit=False)


def stable(x):
    return (np.sum(sigmoid(x)) + np.sum(log_sigmoid(x)) + np.sum(softplus(x)) + logsumexp(x)
            + np.sum(softmax(x) * np.arange(4.0)) + np.sum(log_softmax(x) * np.arange(4.0)))


@pytest.mark.parametrize("jit", [False, True])
def test_stable_functions_at_extreme_inputs(jit):
    x = np.array([-1000.0, -800.0, 800.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert log_sigmoid(-1000.0) == -1000.0 and log_sigmoid(1000.0) == 0.0
        assert logsumexp(np.array([1000.0, 1000.0])) == pytest.approx(1000 + math.log(2))
        np.testing.assert_allclose(softmax(np.array([1000.0, 1000.0])), [0.5, 0.5])
        np.testing.assert_allclose(log_softmax(np.array([0.0, -1000.0])), [0.0, -1000.0])
        assert cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1])) == 2000.0
        np.testing.assert_allclose(logsumexp(np.array([[1000.0, 1000.0], [-1e300, 0.0]]), axis=1),
                                   [1000 + math.log(2), 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow, no NaN, no fallback to NumPy
        v, g = value_and_grad(stable, jit=jit)(x)
    # sigmoid' = [0, 0, 0, 0] (underflow), log_sigmoid' = sigmoid(-x) = [1, 1, 0, 0],
    # softplus' = sigmoid(x) = [0, 0, 1, 1], logsumexp' = softmax(x) = [0, 0, 0, 1],
    # softmax' . w: s_i (w_i - s . w) = 0; log_softmax' . w: w - softmax * sum(w), w = arange
    np.testing.assert_allclose(g, [1.0, 1.0 + 1.0, 1.0 + 2.0, 1.0 + 1.0 + 3.0 - 6.0], atol=1e-12)
    assert np.isfinite(v)


def ce_extreme(z, y):
    return cross_entropy(z, y)


@pytest.mark.parametrize("jit", [False, True])
def test_cross_entropy_gradient_is_finite_at_extreme_logits(jit):
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, 1000.0]])
    g = grad(ce_extreme, jit=jit)(z, np.array([1, 2]))
    np.testing.assert_allclose(g, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]], atol=1e-12)


def lse_pair(x):
    return logsumexp(x)


def test_logsumexp_gradient_at_1000_is_one_half_each():
    np.testing.assert_array_equal(grad(lse_pair, jit=False)(np.array([1000.0, 1000.0])), [0.5, 0.5])


# ---- every primitive compiled by Numba ------------------------------------------------
def jit_elementwise(a, b, c):
    m = np.logical_and(a > -0.5, np.logical_or(b < 0.5, np.logical_not(a >= b)))
    k = np.where(a != b, 1.0, 0.0) * np.where(a <= b, 2.0, 1.0) + np.where(a == b, 1.0, 0.0)
    t = (a + b - a * b / (b + 3.0) + (b + 3.0) ** a - a + np.maximum(a, b) + np.minimum(a, b)
         + np.logaddexp(a, b) + np.where(m, a, b) + np.sign(a) * a + k)
    u = (np.exp(a) + np.expm1(b) + np.log(c) + np.log1p(c) + np.sqrt(c) + np.sin(a) + np.cos(b)
         + np.tan(a) + np.tanh(b) + np.sinh(a) + np.cosh(b) + np.arctan(a) + np.abs(b)
         + sigmoid(a) + log_sigmoid(b) + relu(a) + softplus(b) + 2.0 ** a + np.cbrt(c)
         + np.heaviside(a, b) * a)
    return np.sum(t * u) + np.sum(np.where(a > 0, np.sqrt(np.abs(a)), 0.0))


def jit_functions(a, b, c):  # a, b in (-0.9, 0.9), c > 1.1
    return np.sum(np.arcsin(a) * np.arccos(b) + np.arctan2(a, b) + np.sin(np.hypot(a, c))
                  + np.arcsinh(a) * np.arccosh(c) + np.arctanh(b) + np.exp2(a)
                  + np.deg2rad(b) * np.rad2deg(a) + np.fmax(a, b) + np.fmin(b, a) ** 2)


def jit_reductions(x, y):
    return (np.sum(np.sum(x, axis=1, keepdims=True) ** 2) + np.sum(np.max(x, axis=(0, 2)) ** 2)
            + np.sum(x.min(axis=1) * 2.0) + np.min(y) + np.max(y) + np.sum(np.prod(x, axis=0) ** 2)
            + np.prod(y) + np.linalg.norm(y) + np.sum(np.mean(x, axis=(0, 1)) ** 2) + np.var(y)
            + np.sum(np.std(x, axis=2) ** 2) + np.sum(logsumexp(x, axis=1) ** 2) + logsumexp(y)
            + np.sum(softmax(y) ** 2) + np.sum(log_softmax(y, axis=0) ** 2))


def jit_linalg_shapes(a, b, v):
    m = a @ b
    w = np.concatenate((v, a[0]))
    return (np.sum(np.sin(m)) + np.sum(a @ v[:3]) + v[:3] @ a.T @ v[:2] + np.sum(np.outer(v, v))
            + np.trace(b @ a) + np.sum(np.transpose(np.stack((a, a * 2.0), axis=1), (2, 0, 1)) ** 2)
            + np.sum(np.reshape(m, (-1,)) ** 2) + np.sum(np.expand_dims(m, 1) ** 3)
            + np.sum(np.array([v[0], v[1] * 2.0, 1.0]) ** 2) + np.sum(w ** 2)
            + np.sum(np.inner(a, a)) + np.sum(m[:1].squeeze(axis=0) ** 2))


def jit_indexing(x, labels, idx, s):
    n = x.shape[0]
    y = x * 1.0
    y[0] = s
    y[1, 1:] = x[2, :2] ** 2
    y[y > 1.2] = 0.5
    y[idx] = s * 2.0
    z = x[:, :2] * 1.0
    z[z < 0.0] = x[0, 0] * np.ones(2)[0]
    q = np.sqrt(x * x + 1.0)
    q[x[:, 0] < 0.0] = stop_gradient(q[0] * 3.0)
    return (np.sum(y ** 2) + np.sum(z ** 3) + np.sum(x[np.arange(n), labels] ** 2)
            + np.sum(x[idx] * 2.0) + np.sum(x[:, idx] ** 2) + np.sum(x[x > 0.5] ** 2)
            + np.sum(x[1:, ::2] ** 2) + np.sum(np.zeros((n, 3)) + x) + np.sum(np.ones(3) * s)
            + np.sum(np.full((2,), s) ** 2) + np.sum(np.full_like(x, 2.0) * x)
            + np.sum(np.zeros_like(x) + x) + np.sum(np.eye(3) @ x[0]) + np.sum(np.arange(3) * x[1])
            + float(int(n)) * s + int(s * 10.0 + 0.5) + x.size * s + cross_entropy(x, labels) + np.sum(q)
            + logistic(x[0, 0]) + np.sum(relu(x[1])))


BATCHES = {
    "elementwise": (jit_elementwise, lambda: (rand((2, 3), 30), rand((3,), 31), rand((2, 3), 32, 0.2, 1.0)), (0, 1, 2)),
    "functions": (jit_functions, lambda: (rand((2, 3), 42, -0.9, 0.9), rand((3,), 43, -0.9, 0.9),
                                          rand((1, 3), 44, 1.1, 2.0)), (0, 1, 2)),
    "reductions": (jit_reductions, lambda: (rand((2, 3, 4), 33, 0.5, 1.5), rand((4,), 34)), (0, 1)),
    "linalg_shapes": (jit_linalg_shapes, lambda: (rand((2, 3), 35), rand((3, 2), 36), rand((3,), 37)), (0, 1, 2)),
    "indexing": (jit_indexing, lambda: (rand((4, 3), 38, -1.0, 2.0), np.array([0, 2, 1, 2]),
                                        np.array([2, 1]), 0.3), (0, 3)),
}


@custom_vjp
def logistic(t):
    return 1.0 / (1.0 + np.exp(-t))


@logistic.defvjp
def logistic_vjp(g, ans, t):
    return g * ans * (1.0 - ans)


@pytest.fixture(scope="module")
def compiled():
    """Each batch compiled once with Numba; {name: (grads, specialisation)}."""
    out = {}
    for name, (fn, make, wrt) in BATCHES.items():
        args = make()
        g = grad(fn, wrt=wrt, jit=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a Numba failure would warn and run NumPy
            got = g(*args)
        assert g.compile_info["jit"] is True
        print(f"{name}: compiled in {g.compile_info['compile_seconds']:.1f} s")
        out[name] = (args, got, g._last)
    return out


@pytest.mark.parametrize("name", sorted(BATCHES))
def test_compiled_batch_matches_numpy_mode_and_oracles(name, compiled):
    fn, _, wrt = BATCHES[name]
    args, got, _ = compiled[name]
    plain = grad(fn, wrt=wrt, jit=False)(*args)
    for i, g, p in zip(wrt, got, plain):
        np.testing.assert_allclose(g, p, rtol=1e-12, atol=1e-12)
        fd = numerical_grad(fn, args, i)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7)
    if name in ("functions", "reductions", "linalg_shapes"):  # autograd cannot differentiate index
        # assignment, nor a `where` whose operand is broadcast (it does not sum it back)
        for g, a in zip(got, autograd_grads(fn, args, wrt)):
            np.testing.assert_allclose(g, a, rtol=1e-9, atol=1e-12)


def _prims(ops):
    out = set()
    for op in ops:
        out.add(op.prim)
        for r in getattr(op, "regions", ()):
            out |= _prims(r.ops)
    return out


def _compiled_elsewhere() -> set:
    """Primitives of the functions other modules compile with Numba (jit=True), read from
    their graphs: test_numpy_more's batches, its tangent (jvp) and random-draw tests, and
    test_views' np.add.at cases."""
    import test_numpy_more as more
    import view_code as vc
    out = set()
    fns = [(fn, make(), wrt) for fn, make, wrt in more.JIT_BATCHES.values()]
    fns += [(more.dropout, (more.rand((4,), 1), more.rand((4,), 2), 7), (0,)),
            (vc.add_at, (np.ones(5), np.ones(5)), (0, 1))]
    for fn, args, wrt in fns:
        g = grad(fn, wrt=wrt, jit=False)
        g(*args)
        out |= _prims(g._last.graph.ops)
    from compiler.transforms import jvp_function
    jf = jvp_function(more.jvp_first_order, jit=False)
    jf((more.rand((3, 3), 34) + 2.0 * np.eye(3),), (more.rand((3, 3), 35),))
    out |= _prims(jf._last.graph.ops)
    return out


def test_every_primitive_of_the_table_is_compiled_by_numba(compiled):
    used = _compiled_elsewhere()
    for _, _, spec in compiled.values():
        used |= _prims(spec.graph.ops)
    ours = {n for n, p in PRIMS.items() if p.group != OTHERS}  # control flow: its own tests
    assert ours - used == set()


# ---- the README's list ------------------------------------------------------------
def test_readme_lists_exactly_the_table():
    text = (Path(__file__).parent.parent / "README.md").read_text()
    assert BEGIN in text and END in text
    block = text[text.index(BEGIN):text.index(END) + len(END)]
    assert block == table_markdown(), "run `python -m compiler.primitive_list --readme`"
    for name in PRIMS:
        assert f"`{name}`" in block
