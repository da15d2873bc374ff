"""Numerically stable, differentiable functions for use in loss functions.

Each works on Python floats and on float64 arrays of any shape, from plain Python and
inside Numba-compiled code, and adjoint knows its adjoint rule (compiler/primitives.py).

- sigmoid(x) = 1 / (1 + exp(-x)), evaluated as exp(x) / (1 + exp(x)) for x < 0 so that
  neither branch overflows (sigmoid(-800) = 0.0 exactly, with derivative 0.0, no warning).
- relu(x) = max(x, 0); relu'(0) = 0 by the project's kink policy.
- softplus(x) = log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)).
- logsumexp(x) = log(sum(exp(x))) over all elements, shifted by max(x)
  (Goodfellow, Bengio & Courville, Deep Learning, sec. 4.1).
"""
import math

import numpy as np
from numba import vectorize
from numba.extending import register_jitable

__all__ = ["sigmoid", "relu", "softplus", "logsumexp"]


@vectorize(["float64(float64)"], cache=True)
def sigmoid(x):
    """Logistic function, elementwise. x: float or float64 array; returns the same shape."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


@vectorize(["float64(float64)"], cache=True)
def relu(x):
    """max(x, 0), elementwise. x: float or float64 array; returns the same shape."""
    return x if x > 0.0 else 0.0


@vectorize(["float64(float64)"], cache=True)
def softplus(x):
    """log(1 + exp(x)), elementwise and overflow-free."""
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


@register_jitable
def logsumexp(x):
    """log(sum(exp(x))) over all elements of the float64 array x; returns a float.

    Stable for large |x|: logsumexp([1000, 1000]) = 1000 + log 2.
    Raises ValueError (NumPy) for an empty array."""
    m = np.max(x)
    if not np.isfinite(m):
        return m
    return m + np.log(np.sum(np.exp(x - m)))
