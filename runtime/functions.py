"""Numerically stable, differentiable functions for use in loss functions.

Each works on Python floats and float64 arrays of any shape, from plain Python and
inside Numba-compiled code, and adjoint knows its adjoint rule (compiler/primitives.py).
"Stable" means: no overflow, no NaN and no lost precision at extreme inputs, in the value
and in the gradient (Goodfellow, Bengio & Courville, Deep Learning, sec. 4.1; Blanchard,
Higham & Higham, "Accurately computing the log-sum-exp and softmax functions", 2021).

- sigmoid(x) = 1 / (1 + exp(-x)), as exp(x) / (1 + exp(x)) for x < 0 (sigmoid(-800) = 0
  exactly, derivative 0, no warning).
- log_sigmoid(x) = log sigmoid(x) = min(x, 0) - log1p(exp(-|x|)) (log_sigmoid(-1000) =
  -1000, derivative sigmoid(-x)).
- relu(x) = max(x, 0); relu'(0) = 0 by the project's kink policy.
- softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)).
- logsumexp(x, axis=None, keepdims=False) = log(sum(exp(x))) shifted by max(x).
- softmax(x, axis=-1) = exp(x - logsumexp(x, axis, keepdims=True)).
- log_softmax(x, axis=-1) = x - logsumexp(x, axis, keepdims=True).
- cross_entropy(logits, labels): mean over rows of -log_softmax(logits)[i, labels[i]].
"""
import math

import numpy as np

from .kernels import _drop, _split, lse_3, softmax_lines
from .numba_forms import overload, types, ufunc

__all__ = ["sigmoid", "log_sigmoid", "relu", "softplus", "logsumexp", "softmax",
           "log_softmax", "cross_entropy"]

_JIT = {"cache": True}


# Elementwise functions: compiled, a float64 ufunc of the scalar rule (numba.vectorize);
# from Python, the same formula on whole arrays (no branch overflows, so no warnings).
# Both accept floats and arrays; a scalar gives np.float64.
_UFUNC1 = ["float64(float64)"]


def _f64(x):
    return np.asarray(x, dtype=np.float64)


def _sigmoid(x):
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@ufunc(_UFUNC1, _sigmoid, cache=True)
def sigmoid(x):
    """Logistic function, elementwise. x: float or float64 array; returns the same shape."""
    x = _f64(x)
    z = np.exp(-np.abs(x))  # exp(-x) where x >= 0, exp(x) elsewhere: never overflows
    return np.where(x >= 0.0, 1.0 / (1.0 + z), z / (1.0 + z))[()]


def _log_sigmoid(x):
    return min(x, 0.0) - math.log1p(math.exp(-abs(x)))


@ufunc(_UFUNC1, _log_sigmoid, cache=True)
def log_sigmoid(x):
    """log(sigmoid(x)) = -softplus(-x), elementwise, finite for every finite x."""
    x = _f64(x)
    return (np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x))))[()]


def _relu(x):
    return x if x > 0.0 else 0.0


@ufunc(_UFUNC1, _relu, cache=True)
def relu(x):
    """max(x, 0), elementwise. x: float or float64 array; returns the same shape."""
    x = _f64(x)
    return np.where(x > 0.0, x, 0.0)[()]


def _softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@ufunc(_UFUNC1, _softplus, cache=True)
def softplus(x):
    """log(1 + exp(x)), elementwise and overflow-free."""
    x = _f64(x)
    return (np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x))))[()]


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over all elements (axis=None, returns a float) or along an int
    axis (returns an array without that axis, or with it as size 1 when keepdims).

    x: float64 array. Stable for large |x|: logsumexp([1000, 1000]) = 1000 + log 2; an
    all -inf line gives -inf. Raises ValueError for an empty array (as np.max)."""
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    out = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        out = np.squeeze(out, axis=axis)
    return np.float64(out) if out.ndim == 0 else out


@overload(logsumexp, jit_options=_JIT)
def _logsumexp_nb(x, axis=None, keepdims=False):
    if not (isinstance(keepdims, types.Omitted) or keepdims is False
            or (isinstance(keepdims, types.BooleanLiteral) and not keepdims.literal_value)):
        from numba.core.errors import TypingError
        raise TypingError("logsumexp(..., keepdims=True) in compiled code: "
                          "use np.expand_dims(logsumexp(x, axis), axis)")
    if axis is None or isinstance(axis, (types.NoneType, types.Omitted)) or x.ndim == 1:
        def impl_all(x, axis=None, keepdims=False):
            return lse_3(np.ascontiguousarray(x).reshape((1, x.size, 1)))[0, 0]
        return impl_all

    def impl(x, axis=None, keepdims=False):
        ax = axis % x.ndim
        pre, n, post = _split(x.shape, ax)
        return lse_3(np.ascontiguousarray(x).reshape((pre, n, post))).reshape(_drop(x.shape, ax))
    return impl


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis` (default: the last; None: all elements).
    x: float64 array of rank >= 1; returns an array of x's shape, each line summing to 1."""
    return softmax_lines(x, axis, False)


def log_softmax(x, axis=-1):
    """log(softmax(x, axis)) = x - logsumexp(x, axis, keepdims=True), computed without
    forming softmax (finite where softmax underflows to 0)."""
    return softmax_lines(x, axis, True)


@overload(softmax, jit_options=_JIT)
def _softmax_nb(x, axis=-1):
    return lambda x, axis=-1: softmax_lines(x, axis, False)


@overload(log_softmax, jit_options=_JIT)
def _log_softmax_nb(x, axis=-1):
    return lambda x, axis=-1: softmax_lines(x, axis, True)


def cross_entropy(logits, labels):
    """Mean cross-entropy of integer class labels under softmax(logits), from logits:
    logits (n, k) with labels (n,) in [0, k) give mean_i [logsumexp(logits[i]) -
    logits[i, labels[i]]]; logits (k,) with one int label give that single term.
    Returns a float. Raises IndexError for a label out of range."""
    lp = softmax_lines(logits, -1, True)
    if lp.ndim == 1:
        return np.float64(-lp[labels])
    labels = np.asarray(labels)
    return np.float64(-np.mean(lp[np.arange(lp.shape[0]), labels]))


@overload(cross_entropy, jit_options=_JIT)
def _cross_entropy_nb(logits, labels):
    if logits.ndim == 1:
        def impl1(logits, labels):
            lp = softmax_lines(logits, -1, True)
            k = lp.shape[0]
            j = labels + k if labels < 0 else labels
            if j < 0 or j >= k:
                raise IndexError("cross_entropy: label out of range")
            return -lp[j]
        return impl1

    def impl(logits, labels):
        lp = softmax_lines(logits, -1, True)
        n, k = lp.shape
        if labels.shape[0] != n:
            raise ValueError("cross_entropy: labels and logits have different lengths")
        total = 0.0
        for i in range(n):
            j = labels[i] + k if labels[i] < 0 else labels[i]
            if j < 0 or j >= k:
                raise IndexError("cross_entropy: label out of range")
            total -= lp[i, j]
        return total / n
    return impl
