"""Kernels for reverse mode of loops: trip counts, value stacks, row cotangents.

All are `register_jitable` (runtime/numba_forms.py): plain Python from Python
(jit=False), compiled inside Numba code; `outer_add` has a NumPy form for Python and its
loops for compiled code (an `overload`). A stack is an array whose first axis indexes
iterations.
"""
import os

import numpy as np

from .numba_forms import overload, register_jitable

_BOUNDSCHECK = os.environ.get("ADJOINT_BOUNDSCHECK", "1") != "0"  # as kernels.py

__all__ = ["trip_count", "tape_entries", "push", "store", "row_scatter", "row_add", "index_add", "outer_add", "add_into"]


def _max_tape_bytes() -> int:
    raw = os.environ.get("ADJOINT_MAX_TAPE_BYTES", "")
    try:
        return int(float(raw)) if raw.strip() else 2 ** 30
    except ValueError:
        raise ValueError(f"ADJOINT_MAX_TAPE_BYTES={raw!r} is not a number of bytes") from None


# The most bytes one stack of a loop's tape may hold (8 bytes an entry), read when this
# module is imported; generated modules carry it in their hash (codegen/pyemit.py), so
# compiled code never keeps an old value.
MAX_TAPE_BYTES = _max_tape_bytes()
TAPE_ERROR = ("a loop's tape (the values its backward sweep reads back) would pass "
              "ADJOINT_MAX_TAPE_BYTES")


SHAPE_ERROR = ("a value this loop keeps for its backward sweep (a carried array, or one "
               "computed from it) changes shape from one iteration to the next; reverse "
               "mode keeps it on a stack of equal entries, so its shape must stay the same "
               "(pad it, or write the loop with a fixed-shape array)")


@register_jitable
def tape_entries(n, like):
    """n, after checking that a stack of n entries shaped like `like` fits
    MAX_TAPE_BYTES (MemoryError otherwise: a loop that runs away stops here)."""
    if n * np.asarray(like).size * 8 > MAX_TAPE_BYTES:
        raise MemoryError(TAPE_ERROR)
    return n


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
    O(1) pushes). A stack may start empty, `np.empty((0,) * rank)`. MemoryError when
    it would pass MAX_TAPE_BYTES (`tape_entries`); ValueError (SHAPE_ERROR) when value's
    shape differs from the entries' (a carried array that changes shape)."""
    if stack.shape[0] > 0 and np.shape(value) != stack.shape[1:]:
        raise ValueError(SHAPE_ERROR)
    if k >= stack.shape[0]:
        n = max(capacity, 2 * stack.shape[0], k + 1)
        per = np.asarray(value).size * 8
        if n * per > MAX_TAPE_BYTES and (k + 1) * per <= MAX_TAPE_BYTES:
            n = MAX_TAPE_BYTES // per  # doubling would pass the bound; what is needed fits
        n = tape_entries(n, value)
        bigger = np.empty((n,) + np.shape(value), dtype=stack.dtype)
        if stack.shape[0] > 0:
            bigger[:stack.shape[0]] = stack
        stack = bigger
    stack[k] = value
    return stack


@register_jitable(boundscheck=_BOUNDSCHECK)  # a user's index
def row_scatter(g, x, i):
    """Cotangent of x[i] as an array shaped like x: zeros with row i = g."""
    out = np.zeros(x.shape)
    out[i] = g
    return out


@register_jitable(boundscheck=_BOUNDSCHECK)  # a user's index
def row_add(acc, i, g):
    """acc[i] += g in place; returns acc."""
    acc[i] += g
    return acc


@register_jitable(boundscheck=_BOUNDSCHECK)  # a user's index
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


@register_jitable
def store(x, idx, v):
    """x[idx] = v in place; returns x (an indexed write into an array nothing else
    reads: compiler/passes/stores.py). Codegen writes it as the statement itself."""
    x[idx] = v
    return x
