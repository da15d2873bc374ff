"""Kernels for reverse mode of loops: trip counts, value stacks, row cotangents.

All are `register_jitable`: plain Python from Python (jit=False), compiled inside
Numba code. A stack is an array whose first axis indexes iterations.
"""
import numpy as np
from numba.extending import register_jitable

__all__ = ["trip_count", "push", "row_scatter", "row_add"]


@register_jitable
def trip_count(start, stop, step):
    """len(range(start, stop, step)) for ints; step != 0 (ValueError otherwise)."""
    if step == 0:
        raise ValueError("range() arg 3 must not be zero")
    if step > 0:
        return max(0, (stop - start + step - 1) // step)
    return max(0, (start - stop - step - 1) // (-step))


@register_jitable
def push(stack, k, value):
    """Set stack[k] = value in place and return the stack; when k is past the end,
    return a copy with twice the capacity (amortised O(1) pushes, for `while`)."""
    if k >= stack.shape[0]:
        bigger = np.empty((max(2 * stack.shape[0], k + 1),) + stack.shape[1:], dtype=stack.dtype)
        bigger[:stack.shape[0]] = stack
        stack = bigger
    stack[k] = value
    return stack


@register_jitable
def row_scatter(g, x, i):
    """Cotangent of x[i] as an array shaped like x: zeros with row i = g."""
    out = np.zeros(x.shape)
    out[i] = g
    return out


@register_jitable
def row_add(acc, i, g):
    """acc[i] += g in place; returns acc."""
    acc[i] += g
    return acc
