"""Kernels for reverse mode of loops: trip counts, value stacks, row cotangents.

All are `register_jitable` (runtime/numba_forms.py): plain Python from Python
(jit=False), compiled inside Numba code; `outer_add` has a NumPy form for Python and its
loops for compiled code (an `overload`). A stack is an array whose first axis indexes
iterations.
"""
import numpy as np

from .numba_forms import overload, register_jitable

__all__ = ["trip_count", "push", "row_scatter", "row_add", "index_add", "outer_add", "add_into"]


@register_jitable
def trip_count(start, stop, step):
    """len(range(start, stop, step)) for ints; step != 0 (ValueError otherwise)."""
    if step == 0:
        raise ValueError("range() arg 3 must not be zero")
    if step > 0:
        return max(0, (stop - start + step - 1) // step)
    return max(0, (start - stop - step - 1) // (-step))


@register_jitable
def push(stack, k, value, capacity):
    """Set stack[k] = value in place and return the stack. When k is past the end, return
    a copy with room for max(capacity, twice the old size) entries shaped like value:
    a `for` passes its trip count (one allocation), a `while` 0 (doubling, amortised
    O(1) pushes). A stack may start empty, `np.empty((0,) * rank)`."""
    if k >= stack.shape[0]:
        n = max(capacity, 2 * stack.shape[0], k + 1)
        bigger = np.empty((n,) + np.shape(value), dtype=stack.dtype)
        if stack.shape[0] > 0:
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


@register_jitable
def index_add(acc, idx, g):
    """acc[idx] += g in place (basic indexing: ints, slices, None); returns acc. The
    in-place form of adding zeros_with(acc, idx, g), for an exclusively owned cotangent."""
    acc[idx] += g
    return acc


def outer_add(acc, a, b):
    """acc += np.outer(a, b) in place; returns acc. From Python (the NumPy tier) NumPy's
    outer product and in-place add; in compiled code the loops below, without the
    (m, n) temporary."""
    acc += np.outer(a, b)
    return acc


@overload(outer_add)
def _outer_add_loops(acc, a, b):
    def impl(acc, a, b):
        for i in range(a.shape[0]):
            ai = a[i]
            for j in range(b.shape[0]):
                acc[i, j] += ai * b[j]
        return acc
    return impl


@register_jitable
def add_into(acc, c):
    """acc += c in place (c has acc's shape); returns acc."""
    acc += c
    return acc
