"""Kernels that generated adjoint code calls: unbroadcast, broadcast_like, tie_weight.

Each is a plain NumPy function when called from Python (jit=False) and has a Numba
implementation, selected by argument ranks, when called from compiled code.
"""
import numpy as np
from numba import types, vectorize
from numba.extending import overload

__all__ = ["unbroadcast", "broadcast_like", "tie_weight"]


@vectorize(["float64(float64, float64)"], cache=True)
def tie_weight(a, b):
    """Share of the cotangent of max(a, b) that goes to a: 1 if a > b, 1/2 on a tie, else 0."""
    if a > b:
        return 1.0
    if a == b:
        return 0.5
    return 0.0


def unbroadcast(g, x):
    """Sum the cotangent g back to the shape of x: the adjoint of NumPy broadcasting.

    g: float64 array (or float) of the broadcast result's shape; x: the operand (array or
    scalar). Returns a float (x scalar) or a float64 array of x's shape."""
    if np.ndim(x) == 0:
        return float(np.sum(g))
    g = np.asarray(g, dtype=np.float64)
    while g.ndim > x.ndim:
        g = g.sum(axis=0)
    for ax in range(x.ndim):
        if x.shape[ax] == 1 and g.shape[ax] != 1:
            g = g.sum(axis=ax, keepdims=True)
    return g


def broadcast_like(g, x):
    """g broadcast to x's shape, as a new C-contiguous float64 array."""
    return np.ascontiguousarray(np.broadcast_to(g, np.shape(x)), dtype=np.float64)


@overload(broadcast_like, jit_options={"cache": True})
def _broadcast_like_nb(g, x):
    def impl(g, x):
        return np.broadcast_to(g, x.shape).copy()
    return impl


@overload(unbroadcast, jit_options={"cache": True})
def _unbroadcast_nb(g, x):
    xr = x.ndim if isinstance(x, types.Array) else 0
    gr = g.ndim if isinstance(g, types.Array) else 0
    if xr == 0:
        return lambda g, x: np.float64(np.sum(g))
    if gr == xr == 1:
        def impl1(g, x):
            if x.shape[0] == 1 and g.shape[0] != 1:
                return np.full(1, np.sum(g))
            return np.ascontiguousarray(g)
        return impl1
    if gr == 2 and xr == 1:
        def impl21(g, x):
            s = np.sum(g, axis=0)
            if x.shape[0] == 1 and s.shape[0] != 1:
                return np.full(1, np.sum(s))
            return s
        return impl21
    if gr == xr == 2:
        def impl2(g, x):
            out = np.ascontiguousarray(g)
            if x.shape[0] == 1 and out.shape[0] != 1:
                out = np.sum(out, axis=0).reshape((1, out.shape[1]))
            if x.shape[1] == 1 and out.shape[1] != 1:
                out = np.sum(out, axis=1).reshape((out.shape[0], 1))
            return out
        return impl2
    raise NotImplementedError(f"unbroadcast from rank {gr} to rank {xr} in compiled code")
