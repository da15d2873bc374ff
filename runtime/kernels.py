"""Kernels that generated code calls where NumPy and Numba differ: unbroadcast,
broadcast_like, tie_weight, axis reductions, indexing with copies and scatter-adds.

Each is a plain NumPy function when called from Python (jit=False) and has a Numba
implementation (an `overload`, or the same code through `register_jitable`, or a
`vectorize` ufunc) when called from compiled code, so one generated source runs both
ways. The Numba implementations are declared through runtime/numba_forms.py and
registered only when something is compiled: importing this module does not load Numba. Numba 0.68 lacks `keepdims`, `max/min/prod` with `axis`, `np.add.at`, 2-D boolean
masks and advanced indexing with two index arrays: the kernels below fill those gaps.

Axis kernels view an array as `(pre, n, post)` (the axis in the middle, C order), so
one loop nest serves every rank; `axis` is an int, negative counting from the end.
Results are float64 arrays (or Python floats for rank-0 results); integer index arrays
are int64, negative entries count from the end, out-of-range entries raise IndexError.
"""
import math

import os

import numpy as np

from .numba_forms import intrinsic_global, overload, register_jitable, types, ufunc

intrinsic_global(globals(), "tuple_setitem", "numba.cpython.unsafe.tuple:tuple_setitem")

__all__ = ["unbroadcast", "broadcast_like", "tie_weight", "pow_dbase", "pow_dexp",
           "sum_along", "max_along",
           "min_along", "prod_along", "prod_others", "reshape", "set_index", "add_at",
           "last_occurrence", "zeros_with", "take_add",
           "take_pairs", "take_pairs_add", "softmax_lines", "cross_entropy_grad", "int_matmul",
           "matmul", "outer", "checked_int"]

_JIT = {"cache": True}
# kernels that index with the user's index arrays are bounds-checked like the generated
# code that calls them (compiler/jit.py), unless ADJOINT_BOUNDSCHECK=0: an index out of
# range is an IndexError, not a write to stray memory
_BOUNDSCHECK = os.environ.get("ADJOINT_BOUNDSCHECK", "1") != "0"
_JIT_INDEXED = {"cache": True, "boundscheck": _BOUNDSCHECK}


# ---- elementwise -----------------------------------------------------------------------
# Compiled: a float64 ufunc of the scalar rule (numba.vectorize). From Python: the same
# rule on whole arrays, each branch computed only where it is taken (so NumPy warns, as
# the ufunc does, only for the entries that use it). Scalars give np.float64.
_UFUNC2 = (["float64(float64, float64)"],)


def _pair(a, b):
    a, b = np.broadcast_arrays(np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64))
    return a, b, np.zeros(a.shape)


def _tie_weight(a, b):
    if a > b:
        return 1.0
    if a == b:
        return 0.5
    return 0.0


@ufunc(*_UFUNC2, _tie_weight, cache=True)
def tie_weight(a, b):
    """Share of the cotangent of max(a, b) that goes to a: 1 if a > b, 1/2 on a tie, else 0."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return np.where(a > b, 1.0, np.where(a == b, 0.5, 0.0))[()]


def _pow_dbase(a, b):
    if b == 0.0:
        return 0.0
    return b * a ** (b - 1.0)


@ufunc(*_UFUNC2, _pow_dbase, cache=True)
def pow_dbase(a, b):
    """b * a ** (b - 1), and exactly 0 where b == 0: d/da a ** b, finite at 0 ** 0
    (a ** 0 = 1 for every a, as NumPy's 0.0 ** 0 = 1)."""
    a, b, out = _pair(a, b)
    k = b != 0.0
    out[k] = b[k] * a[k] ** (b[k] - 1.0)
    return out[()]


def _pow_dexp(ans, a):
    if ans == 0.0 or a == 0.0:
        return 0.0
    return ans * math.log(a)


@ufunc(*_UFUNC2, _pow_dexp, cache=True)
def pow_dexp(ans, a):
    """ans * log(a), and exactly 0 where ans == 0 or a == 0: d/db a ** b from ans = a ** b,
    0 at a = 0 by the kink policy (finite at 0 ** 0, where ans = 1 and log(a) = -inf)."""
    ans, a, out = _pair(ans, a)
    k = (ans != 0.0) & (a != 0.0)
    out[k] = ans[k] * np.log(a[k])
    return out[()]


# ---- shapes: (pre, n, post) views --------------------------------------------------------
@register_jitable
def _split(shape, axis):
    """(product of dims before axis, dim at axis, product of dims after axis)."""
    pre = 1
    for i in range(axis):
        pre *= shape[i]
    post = 1
    for i in range(axis + 1, len(shape)):
        post *= shape[i]
    return pre, shape[axis], post


@register_jitable
def _drop(shape, axis):
    """shape without its entry at axis (a tuple one shorter)."""
    out = shape[1:]
    for i in range(axis):
        out = tuple_setitem(out, i, shape[i])
    return out


@register_jitable
def _index(k, n):
    if k < 0:
        k += n
    if k < 0 or k >= n:
        raise IndexError("index out of bounds")
    return k


# ---- broadcasting --------------------------------------------------------------------
def unbroadcast(g, x):
    """Sum the cotangent g back to the shape of x: the adjoint of NumPy broadcasting.

    g: float64 array (or float) of the broadcast result's shape; x: the operand (array or
    scalar). Returns a float (x scalar) or a float64 array of x's shape."""
    if np.ndim(x) == 0:
        return np.float64(np.sum(g))
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


@overload(broadcast_like, jit_options=_JIT)
def _broadcast_like_nb(g, x):
    def impl(g, x):
        return np.broadcast_to(g, x.shape).copy()
    return impl


@register_jitable
def _sum_keep(g, ax):
    pre, n, post = _split(g.shape, ax)
    a = np.ascontiguousarray(g).reshape((pre, n, post))
    out = np.zeros((pre, 1, post))
    for i in range(pre):
        for k in range(n):
            for j in range(post):
                out[i, 0, j] += a[i, k, j]
    return out.reshape(tuple_setitem(g.shape, ax, 1))


@overload(unbroadcast, jit_options=_JIT)
def _unbroadcast_nb(g, x):
    xr = x.ndim if isinstance(x, types.Array) else 0
    gr = g.ndim if isinstance(g, types.Array) else 0
    if xr == 0:
        return lambda g, x: np.float64(np.sum(g))
    if gr < xr:
        raise NotImplementedError(f"unbroadcast from rank {gr} to rank {xr}")
    lead = gr - xr

    def impl(g, x):
        pre = 1
        for i in range(lead):
            pre *= g.shape[i]
        out = sum_along(np.ascontiguousarray(g).reshape((pre,) + g.shape[lead:]), 0)
        for ax in range(xr):
            if x.shape[ax] == 1 and out.shape[ax] != 1:
                out = _sum_keep(out, ax)
        return out

    def impl_same(g, x):
        out = np.ascontiguousarray(g)
        for ax in range(xr):
            if x.shape[ax] == 1 and out.shape[ax] != 1:
                out = _sum_keep(out, ax)
        return out
    return impl if lead else impl_same


# ---- reductions along one axis ------------------------------------------------------
def sum_along(x, axis):
    """np.sum(x, axis=axis) for an int axis (Numba's own takes seconds to compile)."""
    return np.sum(x, axis=axis)


def max_along(x, axis):
    """np.max(x, axis=axis) for an int axis (Numba has no axis argument for max)."""
    return np.max(x, axis=axis)


def min_along(x, axis):
    """np.min(x, axis=axis) for an int axis."""
    return np.min(x, axis=axis)


def prod_along(x, axis):
    """np.prod(x, axis=axis) for an int axis."""
    return np.prod(x, axis=axis)


def _reduce_nb(kind):
    def ov(x, axis):
        if kind in ("sum", "prod") and isinstance(x.dtype, types.Boolean):
            # NumPy adds and multiplies booleans as int64 (an accumulator of x's dtype
            # would stop counting at True)
            again = sum_along if kind == "sum" else prod_along
            return lambda x, axis: again(x.astype(np.int64), axis)
        if x.ndim == 1:
            if kind == "sum":
                return lambda x, axis: np.sum(x)
            if kind == "max":
                return lambda x, axis: np.max(x)
            if kind == "min":
                return lambda x, axis: np.min(x)
            return lambda x, axis: np.prod(x)

        def impl(x, axis):
            ax = axis % x.ndim
            pre, n, post = _split(x.shape, ax)
            if n == 0 and kind in ("max", "min"):
                raise ValueError("zero-size array to reduction operation which has no identity")
            a = np.ascontiguousarray(x).reshape((pre, n, post))
            out = np.zeros((pre, post), dtype=x.dtype) if kind == "sum" else \
                np.ones((pre, post), dtype=x.dtype)
            first = 1 if kind in ("max", "min") else 0
            for i in range(pre):
                if first:
                    for j in range(post):
                        out[i, j] = a[i, 0, j]
                for k in range(first, n):
                    for j in range(post):
                        v = a[i, k, j]
                        if kind == "sum":
                            out[i, j] += v
                        elif kind == "prod":
                            out[i, j] *= v
                        elif kind == "max":
                            if v > out[i, j] or v != v:
                                out[i, j] = v
                        elif v < out[i, j] or v != v:
                            out[i, j] = v
            return out.reshape(_drop(x.shape, ax))
        return impl
    return ov


overload(sum_along, jit_options=_JIT)(_reduce_nb("sum"))
overload(max_along, jit_options=_JIT)(_reduce_nb("max"))
overload(min_along, jit_options=_JIT)(_reduce_nb("min"))
overload(prod_along, jit_options=_JIT)(_reduce_nb("prod"))


def prod_others(x, axis=None):
    """For each element, the product of the *other* elements along `axis` (all elements
    when axis is None): the adjoint factor of np.prod, exact where x has zeros (no
    division). x: float64 array; returns a float64 array of x's shape."""
    x = np.asarray(x, dtype=np.float64)
    if axis is None:
        return prod_others(x.reshape(-1), 0).reshape(x.shape)
    a = np.moveaxis(x, axis, -1)
    if a.shape[-1] == 0:  # no elements along the axis: nothing to multiply
        return np.ones(x.shape)
    ones = np.ones(a.shape[:-1] + (1,))
    left = np.cumprod(np.concatenate([ones, a[..., :-1]], axis=-1), axis=-1)
    right = np.cumprod(np.concatenate([ones, a[..., :0:-1]], axis=-1), axis=-1)[..., ::-1]
    return np.moveaxis(left * right, -1, axis)


@register_jitable
def _prod_others_3(a):
    pre, n, post = a.shape
    out = np.empty((pre, n, post))
    for i in range(pre):
        for j in range(post):
            acc = 1.0
            for k in range(n):
                out[i, k, j] = acc
                acc *= a[i, k, j]
            acc = 1.0
            for k in range(n - 1, -1, -1):
                out[i, k, j] *= acc
                acc *= a[i, k, j]
    return out


@overload(prod_others, jit_options=_JIT)
def _prod_others_nb(x, axis=None):
    if axis is None or isinstance(axis, (types.NoneType, types.Omitted)):
        def impl_all(x, axis=None):
            a = np.ascontiguousarray(x).reshape((1, x.size, 1))
            return _prod_others_3(a).reshape(x.shape)
        return impl_all

    def impl(x, axis=None):
        pre, n, post = _split(x.shape, axis % x.ndim)
        a = np.ascontiguousarray(x).reshape((pre, n, post))
        return _prod_others_3(a).reshape(x.shape)
    return impl


# ---- shape and indexing --------------------------------------------------------------
def reshape(x, shape):
    """np.reshape(x, shape); in compiled code a non-contiguous x is copied first (Numba
    reshapes contiguous arrays only). shape: a tuple of ints, one of them may be -1."""
    return np.reshape(x, shape)


@overload(reshape, jit_options=_JIT)
def _reshape_nb(x, shape):
    def impl(x, shape):
        return np.ascontiguousarray(x).reshape(shape)
    return impl


@register_jitable(boundscheck=_BOUNDSCHECK)
def set_index(x, idx, v):
    """A copy of x with x[idx] = v: the functional form of an indexed assignment.
    idx: an int, slice, None, 1-D int array, or a tuple of them (one array at most). A
    repeated index in an index array is written once per occurrence, in order, so the
    last occurrence's value stays (what NumPy does in practice, and Numba's loop). The
    copy keeps x's memory layout (order 'K'), as NumPy's in-place write does: the layout
    decides the order np.sum adds in."""
    out = np.copy(x)
    out[idx] = v
    return out


def add_at(x, idx, v):
    """A copy of x with np.add.at(copy, idx, v): v added at idx, unbuffered (a repeated
    index adds once per occurrence). idx as for set_index; v broadcasts to x[idx]."""
    out = np.array(x, copy=True)
    np.add.at(out, idx, v)
    return out


@overload(add_at, jit_options=_JIT_INDEXED)
def _add_at_nb(x, idx, v):
    scalar = not isinstance(v, types.Array)

    def impl(x, idx, v):
        out = x.copy()
        pos = np.ascontiguousarray(np.arange(x.size).reshape(x.shape)[idx]).reshape(-1)
        flat = out.reshape(-1)
        if scalar:
            for k in range(pos.size):
                flat[pos[k]] += v
        else:
            shape = np.arange(x.size).reshape(x.shape)[idx].shape
            vb = np.ascontiguousarray(np.broadcast_to(v, shape)).reshape(-1)
            for k in range(pos.size):
                flat[pos[k]] += vb[k]
        return out
    return impl


def last_occurrence(a, n):
    """float64 array of a's shape: 1 where a[k] (an index into an axis of length n,
    negative counting from the end) does not occur again later in a (C order), else 0.
    The entries of a write x[a] = v whose value NumPy keeps."""
    flat = np.asarray(a).reshape(-1)
    flat = np.where(flat < 0, flat + n, flat)
    out = np.zeros(flat.size)
    _, first = np.unique(flat[::-1], return_index=True)
    out[flat.size - 1 - first] = 1.0
    return out.reshape(np.shape(a))


@overload(last_occurrence, jit_options=_JIT_INDEXED)
def _last_occurrence_nb(a, n):
    def impl(a, n):
        flat = np.ascontiguousarray(a).reshape(-1)
        out = np.zeros(flat.size)
        seen = np.zeros(n, dtype=np.bool_)
        for k in range(flat.size - 1, -1, -1):
            j = flat[k] + n if flat[k] < 0 else flat[k]
            if not seen[j]:
                seen[j] = True
                out[k] = 1.0
        return out.reshape(a.shape)
    return impl


@register_jitable(boundscheck=_BOUNDSCHECK)
def zeros_with(x, idx, g):
    """float64 zeros of x's shape with [idx] = g: the adjoint of reading x[idx] (basic
    indexing: ints, slices, None; no element is read twice, so assignment suffices)."""
    out = np.zeros(x.shape)
    out[idx] = g
    return out


def take_add(g, x, a, axis):
    """float64 zeros of x's shape plus g scattered at index array `a` along `axis`, with
    repeated indices summed (np.add.at): the adjoint of x[..., a, ...]."""
    out = np.zeros(np.shape(x))
    np.add.at(out, (slice(None),) * axis + (a,), g)
    return out


@overload(take_add, jit_options=_JIT_INDEXED)
def _take_add_nb(g, x, a, axis):
    def impl(g, x, a, axis):
        out = np.zeros(x.shape)
        pre, n, post = _split(x.shape, axis)
        o3 = out.reshape((pre, n, post))
        idx = np.ascontiguousarray(a).reshape(-1)
        m = idx.size
        g3 = np.ascontiguousarray(g).reshape((pre, m, post))
        for i in range(pre):
            for k in range(m):
                r = _index(idx[k], n)
                for j in range(post):
                    o3[i, r, j] += g3[i, k, j]
        return out
    return impl


def checked_mask(m, x):
    """The boolean mask m of x's full shape (x[m], x[m] = v), itself. Raises IndexError,
    as NumPy does, when the shapes differ: a mask is not broadcast (np.where would)."""
    for axis in range(m.ndim):
        if m.shape[axis] != x.shape[axis]:
            raise IndexError(f"boolean index did not match indexed array along axis {axis}; "
                             f"size of axis is {x.shape[axis]} but size of corresponding "
                             f"boolean axis is {m.shape[axis]}")
    return m


@overload(checked_mask, jit_options=_JIT_INDEXED)
def _checked_mask_nb(m, x):
    def impl(m, x):
        if m.shape != x.shape:
            raise IndexError("boolean index did not match indexed array along an axis")
        return m
    return impl


def mask_index(m, x, axis):
    """np.flatnonzero(m) for the 1-D boolean mask m indexing axis `axis` of x beside other
    indices (x[np.arange(n), m]). Raises IndexError, as NumPy does, when m's length is
    not that axis's (NumPy's flatnonzero alone would index with whatever it finds)."""
    if m.shape[0] != x.shape[axis]:
        raise IndexError(f"boolean index did not match indexed array along axis {axis}; size "
                         f"of axis is {x.shape[axis]} but size of corresponding boolean axis "
                         f"is {m.shape[0]}")
    return np.flatnonzero(m)


@overload(mask_index, jit_options=_JIT_INDEXED)
def _mask_index_nb(m, x, axis):
    def impl(m, x, axis):
        if m.shape[0] != x.shape[axis]:
            raise IndexError("boolean index did not match indexed array along an axis")
        return np.flatnonzero(m)
    return impl


def take_pairs(x, a, b, axis):
    """x[..., a, b, ...] with the 1-D int arrays a, b indexing axes axis and axis + 1
    (the pattern X[np.arange(n), y]; a and b broadcast: equal lengths, or one of length
    1); Numba allows one index array only."""
    return x[(slice(None),) * axis + (a, b)]


def take_pairs_add(g, x, a, b, axis):
    """Adjoint of take_pairs: zeros of x's shape with g added at the pairs (a[k], b[k])."""
    out = np.zeros(np.shape(x))
    np.add.at(out, (slice(None),) * axis + (a, b), g)
    return out


@register_jitable(boundscheck=_BOUNDSCHECK)
def _pairs_view(x, a, b, axis):
    """(pre, n1, n2, post, m, step of a, step of b): the index arrays broadcast as
    NumPy's do (equal lengths, or one of length 1) to m pairs."""
    la, lb = a.shape[0], b.shape[0]
    if la != lb and la != 1 and lb != 1:
        raise IndexError("shape mismatch: indexing arrays could not be broadcast together")
    m = lb if la == 1 else la
    pre = 1
    for i in range(axis):
        pre *= x.shape[i]
    post = 1
    for i in range(axis + 2, x.ndim):
        post *= x.shape[i]
    return pre, x.shape[axis], x.shape[axis + 1], post, m, int(la != 1), int(lb != 1)


@overload(take_pairs, jit_options=_JIT_INDEXED)
def _take_pairs_nb(x, a, b, axis):
    def impl(x, a, b, axis):
        pre, n1, n2, post, m, sa, sb = _pairs_view(x, a, b, axis)
        x4 = np.ascontiguousarray(x).reshape((pre, n1, n2, post))
        out = np.empty((pre, m, post), dtype=x.dtype)
        for i in range(pre):
            for k in range(m):
                r, c = _index(a[k * sa], n1), _index(b[k * sb], n2)
                for j in range(post):
                    out[i, k, j] = x4[i, r, c, j]
        shape = tuple_setitem(x.shape[1:], axis, m)
        for i in range(axis):
            shape = tuple_setitem(shape, i, x.shape[i])
        return out.reshape(shape)
    return impl


@overload(take_pairs_add, jit_options=_JIT_INDEXED)
def _take_pairs_add_nb(g, x, a, b, axis):
    def impl(g, x, a, b, axis):
        pre, n1, n2, post, m, sa, sb = _pairs_view(x, a, b, axis)
        out = np.zeros(x.shape)
        o4 = out.reshape((pre, n1, n2, post))
        g3 = np.ascontiguousarray(g).reshape((pre, m, post))
        for i in range(pre):
            for k in range(m):
                r, c = _index(a[k * sa], n1), _index(b[k * sb], n2)
                for j in range(post):
                    o4[i, r, c, j] += g3[i, k, j]
        return out
    return impl


# ---- softmax family (used by runtime.functions and by adjoints) ----------------------
def softmax_lines(x, axis, log):
    """softmax (log=False) or log-softmax (log=True) of float64 x along an int axis
    (all elements when axis is None), shifted by the maximum so that no exp overflows:
    e / sum(e) with e = exp(x - max), as scipy.special.softmax, one exp an entry;
    x - max - log(sum(e)) for log-softmax."""
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=axis, keepdims=True)
    if log:  # as scipy.special.log_softmax: a line whose max is not finite is not shifted
        m = np.where(np.isfinite(m), m, 0.0)
    z = x - m
    e = np.exp(z)
    s = np.sum(e, axis=axis, keepdims=True)
    return z - np.log(s) if log else e / s


@register_jitable
def _lse_at(a, i, j):
    """logsumexp of a[i, :, j], shifted by its max (0 when that is not finite)."""
    m = -np.inf
    for k in range(a.shape[1]):
        if a[i, k, j] > m:
            m = a[i, k, j]
    if not np.isfinite(m):
        m = 0.0
    s = 0.0
    for k in range(a.shape[1]):
        s += np.exp(a[i, k, j] - m)
    return np.log(s) + m


@register_jitable
def lse_3(a):
    """logsumexp over the middle axis of a (pre, n, post) array: a (pre, post) array."""
    pre, n, post = a.shape
    out = np.empty((pre, post))
    for i in range(pre):
        for j in range(post):
            out[i, j] = _lse_at(a, i, j)
    return out


@register_jitable
def _softmax_3(a, log):
    pre, n, post = a.shape
    out = np.empty((pre, n, post))
    for i in range(pre):
        for j in range(post):
            m = -np.inf
            for k in range(n):
                if a[i, k, j] > m:
                    m = a[i, k, j]
            if log and not np.isfinite(m):
                m = 0.0
            s = 0.0
            for k in range(n):
                e = np.exp(a[i, k, j] - m)
                out[i, k, j] = e
                s += e
            if log:
                ls = np.log(s)
                for k in range(n):
                    out[i, k, j] = (a[i, k, j] - m) - ls
            else:
                for k in range(n):
                    out[i, k, j] /= s
    return out


@overload(softmax_lines, jit_options=_JIT)
def _softmax_lines_nb(x, axis, log):
    if axis is None or isinstance(axis, types.NoneType):
        def impl_all(x, axis, log):
            return _softmax_3(np.ascontiguousarray(x).reshape((1, x.size, 1)), log).reshape(x.shape)
        return impl_all

    def impl(x, axis, log):
        pre, n, post = _split(x.shape, axis % x.ndim)
        return _softmax_3(np.ascontiguousarray(x).reshape((pre, n, post)), log).reshape(x.shape)
    return impl


def cross_entropy_grad(logits, labels):
    """d cross_entropy / d logits = (softmax(logits) - onehot(labels)) / n for logits of
    shape (n, k) and int labels (n,); softmax - onehot for logits (k,) and an int label."""
    p = softmax_lines(logits, -1, False)
    if p.ndim == 1:
        p[labels] -= 1.0
        return p
    p[np.arange(p.shape[0]), labels] -= 1.0
    return p / p.shape[0]


@overload(cross_entropy_grad, jit_options=_JIT_INDEXED)
def _cross_entropy_grad_nb(logits, labels):
    if logits.ndim == 1:
        def impl1(logits, labels):
            p = softmax_lines(logits, -1, False)
            p[_index(labels, p.shape[0])] -= 1.0
            return p
        return impl1

    def impl(logits, labels):
        p = softmax_lines(logits, -1, False)
        n, k = p.shape
        if labels.shape[0] != n:
            raise ValueError("cross_entropy: labels and logits have different lengths")
        for i in range(n):
            p[i, _index(labels[i], k)] -= 1.0
        return p / n
    return impl


# ---- integer matrix products -------------------------------------------------------------
def int_matmul(a, b):
    """a @ b for int64 operands (1-D or 2-D), an int64 result as in NumPy. Numba's `@` is
    BLAS-backed and takes floats only; a float product would round past 2**53."""
    return a @ b


@register_jitable
def _int_mm(a, b):
    """(n, k) @ (k, m) -> (n, m), int64."""
    if a.shape[1] != b.shape[0]:
        raise ValueError("matmul: mismatch in its core dimension")
    out = np.zeros((a.shape[0], b.shape[1]), dtype=np.int64)
    for i in range(a.shape[0]):
        for k in range(a.shape[1]):
            aik = a[i, k]
            for j in range(b.shape[1]):
                out[i, j] += aik * b[k, j]
    return out


@overload(int_matmul, jit_options=_JIT)
def _int_matmul_nb(a, b):
    ranks = (a.ndim, b.ndim)
    if ranks == (1, 1):
        return lambda a, b: _int_mm(a.reshape((1, a.shape[0])), b.reshape((b.shape[0], 1)))[0, 0]
    if ranks == (2, 1):
        return lambda a, b: _int_mm(a, b.reshape((b.shape[0], 1)))[:, 0].copy()
    if ranks == (1, 2):
        return lambda a, b: _int_mm(a.reshape((1, a.shape[0])), b)[0].copy()
    return lambda a, b: _int_mm(a, b)


# ---- float matrix products, compiled once per installation ---------------------------------
# Compiled code (the `numba` spelling of the matmul and outer primitives) calls these
# instead of `@` and np.outer: Numba's generic implementations are typed, lowered and
# optimised again inside every new gradient (60 % of a cold four-layer compile, profile.md
# sec. 5); a kernel is compiled once per signature and cached on disk, and a gradient
# only links it. The bodies are the same NumPy calls, so results and speed are unchanged.
def matmul(a, b):
    """a @ b for float64 operands of rank 1 or 2 (the NumPy tier spells it `a @ b`)."""
    return a @ b


@overload(matmul, jit_options=_JIT)
def _matmul_nb(a, b):
    return lambda a, b: a @ b


def outer(a, b):
    """np.outer(a, b) for float64 vectors."""
    return np.outer(a, b)


@overload(outer, jit_options=_JIT)
def _outer_nb(a, b):
    return lambda a, b: np.outer(a, b)


# ---- np.linalg.norm -----------------------------------------------------------------------
def norm2(x):
    """np.linalg.norm(x) of a float64 vector or matrix: the 2-norm or Frobenius norm,
    sqrt(x.ravel() @ x.ravel()) as NumPy computes it (it overflows to inf for entries
    near 1e155, where BLAS's scaled nrm2, Numba's np.linalg.norm, does not)."""
    return np.linalg.norm(x)


@overload(norm2, jit_options=_JIT)
def _norm2_nb(x):
    def impl(x):
        f = np.ravel(x)
        return np.sqrt(np.dot(f, f))
    return impl


# ---- np.where ----------------------------------------------------------------------------
def select(cond, a, b):
    """np.where(cond, a, b) for arrays (bool, int64 or float64) and numbers.

    Compiled code (the `numba` spelling of the where primitive) calls this: Numba's own
    np.where takes the broadcasting path element by element even when the shapes agree,
    113 against 14 us for a 256 x 256 float64 array and a scalar (relu's VJP in
    benchmarks/mlp.py). Here C-contiguous arrays of cond's shape, and numbers, are
    selected in one flat loop; other layouts or shapes go to np.where, as does the NumPy
    tier. Values, dtype (np.result_type of a and b) and shape are np.where's."""
    return np.where(cond, a, b)


def _flat_or_number(x):
    return x


@overload(_flat_or_number, jit_options=_JIT)
def _flat_or_number_nb(x):
    if isinstance(x, types.Array):
        return lambda x: x.ravel()
    return lambda x: x


def _entry(x, i):
    return x


@overload(_entry, jit_options=_JIT)
def _entry_nb(x, i):
    if isinstance(x, types.Array):
        return lambda x, i: x[i]
    return lambda x, i: x


@overload(select, jit_options=_JIT)
def _select_nb(cond, a, b):
    from numba.np.numpy_support import as_dtype, from_dtype
    ops = (cond, a, b)
    if not isinstance(cond, types.Array) or cond.layout != "C" or any(
            isinstance(t, types.Array) and (t.layout != "C" or t.ndim != cond.ndim)
            for t in (a, b)) or not all(isinstance(t, (types.Array, types.Number,
                                                       types.Boolean)) for t in ops):
        return lambda cond, a, b: np.where(cond, a, b)
    dtype = from_dtype(np.result_type(*(as_dtype(getattr(t, "dtype", t)) for t in (a, b))))
    a_arr, b_arr = isinstance(a, types.Array), isinstance(b, types.Array)

    def impl(cond, a, b):
        if (a_arr and np.shape(a) != cond.shape) or (b_arr and np.shape(b) != cond.shape):
            return np.where(cond, a, b)  # broadcasting
        out = np.empty(cond.shape, dtype)
        c, x, y, o = cond.ravel(), _flat_or_number(a), _flat_or_number(b), out.ravel()
        for i in range(o.shape[0]):
            o[i] = _entry(x, i) if c[i] else _entry(y, i)
        return out
    return impl


# ---- int() of a float scalar -----------------------------------------------------------------
def checked_int(x):
    """int(x) of a float scalar as an int64, as Python computes it: ValueError for NaN,
    OverflowError for inf and for a value beyond int64 (which Python's int would hold and
    compiled code cannot; both tiers refuse it). Compiled code spells `int(x)` this way
    too: Numba's int() of NaN is garbage."""
    if x == x and -9.223372036854776e18 <= x < 9.223372036854776e18:
        return int(x)
    if x != x:
        raise ValueError("cannot convert float NaN to integer")
    raise OverflowError("cannot convert float infinity or a float beyond int64 to integer")


@overload(checked_int, jit_options=_JIT)
def _checked_int_nb(x):
    def impl(x):
        if x != x:
            raise ValueError("cannot convert float NaN to integer")
        if not -9.223372036854776e18 <= x < 9.223372036854776e18:
            raise OverflowError("cannot convert float infinity or a float beyond int64 to integer")
        return int(x)
    return impl


# ---- scans, sorting and gathers along an axis (issue 15) ------------------------------------
# Numba's np.cumsum/np.cumprod take no axis, its np.argsort sorts 1-D arrays only and it has
# no scatter-add for np.take_along_axis: these loop over the (pre, n, post) view.
def cumsum_along(x, axis):
    """np.cumsum(x, axis=axis) for an int axis (x: an array of rank >= 1)."""
    return np.cumsum(x, axis=axis)


def cumprod_along(x, axis):
    """np.cumprod(x, axis=axis) for an int axis."""
    return np.cumprod(x, axis=axis)


def _scan_nb(kind):
    def ov(x, axis):
        def impl(x, axis):
            pre, n, post = _split(x.shape, axis % x.ndim)
            a = np.ascontiguousarray(x).reshape((pre, n, post))
            out = np.empty((pre, n, post), dtype=x.dtype)
            for i in range(pre):
                for j in range(post):
                    if n == 0:
                        continue
                    acc = a[i, 0, j]
                    out[i, 0, j] = acc
                    for k in range(1, n):
                        if kind == "sum":
                            acc = acc + a[i, k, j]
                        else:
                            acc = acc * a[i, k, j]
                        out[i, k, j] = acc
            return out.reshape(x.shape)
        return impl
    return ov


overload(cumsum_along, jit_options=_JIT)(_scan_nb("sum"))
overload(cumprod_along, jit_options=_JIT)(_scan_nb("prod"))


def _few_lines(x):
    """True when x (lines along its last axis) has at most 8 lines, and lines of at least
    16: a recurrence along them then runs faster on Python floats line by line (about
    0.1 µs a step) than on NumPy arrays of all lines (about 1.5 µs a step), with the
    same IEEE operations in the same order, so the same bits."""
    n = x.shape[-1]
    return n >= 16 and x.size <= 8 * n


def _suffix_line(g, x):
    """cumprod_grad's s_i = g_i + x_{i+1} s_{i+1} along one line (lists of floats)."""
    n = len(x)
    out = [0.0] * n
    s = 0.0
    for i in range(n - 1, -1, -1):
        s = g[i] + (x[i + 1] * s if i + 1 < n else 0.0)
        out[i] = s
    return out


def _tangent_line(t, x):
    """cumprod_jvp's dy along one line (lists of floats)."""
    out = [0.0] * len(x)
    y, d = 1.0, 0.0
    for k in range(len(x)):
        d = d * x[k] + y * t[k]
        y = y * x[k]
        out[k] = d
    return out


def cumprod_grad(g, x, axis):
    """The cotangent of x for y = cumprod(x, axis) and y's cotangent g, exact where x has
    zeros (no division): along each line, x_i's cotangent is
    (x_0 ... x_{i-1}) * s_i with s_i = g_i + x_{i+1} s_{i+1} (s_{n-1} = g_{n-1}), since
    dy_j/dx_i = prod_{k <= j, k != i} x_k. g, x: float64 arrays of one shape."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    g = np.moveaxis(np.asarray(g, dtype=np.float64), axis, -1)
    n = x.shape[-1]
    if _few_lines(x):  # long lines: the recurrence on Python floats, line by line
        out = np.array([_suffix_line(gl, xl) for gl, xl in
                        zip(g.reshape(-1, n).tolist(), x.reshape(-1, n).tolist())]).reshape(x.shape)
    else:  # many lines: the recurrence on all of them at once, one step of the axis at a time
        out = np.empty(x.shape)
        s = np.zeros(x.shape[:-1])
        for i in range(n - 1, -1, -1):
            s = g[..., i] + (x[..., i + 1] * s if i + 1 < n else 0.0)
            out[..., i] = s
    left = np.cumprod(np.concatenate([np.ones(x.shape[:-1] + (1,)), x[..., :-1]], axis=-1), axis=-1)
    return np.moveaxis(out * left, -1, axis)


@overload(cumprod_grad, jit_options=_JIT)
def _cumprod_grad_nb(g, x, axis):
    def impl(g, x, axis):
        pre, n, post = _split(x.shape, axis % x.ndim)
        a = np.ascontiguousarray(x).reshape((pre, n, post))
        b = np.ascontiguousarray(g).reshape((pre, n, post))
        out = np.empty((pre, n, post))
        for i in range(pre):
            for j in range(post):
                s = 0.0
                for k in range(n - 1, -1, -1):
                    s = b[i, k, j] + (a[i, k + 1, j] * s if k + 1 < n else 0.0)
                    out[i, k, j] = s
                left = 1.0
                for k in range(n):
                    out[i, k, j] *= left
                    left *= a[i, k, j]
        return out.reshape(x.shape)
    return impl


def argsort_along(x, axis):
    """np.argsort(x, axis=axis, kind='stable'): int64 indices that sort each line, ties
    in their original order (both tiers give the same permutation)."""
    return np.argsort(x, axis=axis, kind="stable")


@overload(argsort_along, jit_options=_JIT)
def _argsort_along_nb(x, axis):
    def impl(x, axis):
        pre, n, post = _split(x.shape, axis % x.ndim)
        a = np.ascontiguousarray(x).reshape((pre, n, post))
        out = np.empty((pre, n, post), dtype=np.int64)
        line = np.empty(n, dtype=a.dtype)
        for i in range(pre):
            for j in range(post):
                for k in range(n):
                    line[k] = a[i, k, j]
                p = np.argsort(line, kind="mergesort")
                for k in range(n):
                    out[i, k, j] = p[k]
        return out.reshape(x.shape)
    return impl


@register_jitable(boundscheck=_BOUNDSCHECK)
def _along_view(x, idx, axis):
    """(pre, n, m, post) of x and an index array idx of x's rank that agree on every axis
    but `axis` (where x has n entries and idx m)."""
    if idx.ndim != x.ndim:
        raise ValueError("take_along_axis: the indices need the array's rank")
    for d in range(x.ndim):
        if d != axis and idx.shape[d] != x.shape[d]:
            raise ValueError("take_along_axis: the indices' shape differs from the array's "
                             "off the axis (adjoint does not broadcast them)")
    pre, n, post = _split(x.shape, axis)
    return pre, n, idx.shape[axis], post


def take_along(x, idx, axis):
    """np.take_along_axis(x, idx, axis) for an int64 idx of x's shape except at `axis`
    (no broadcasting of idx; negative entries count from the end; out of range raises)."""
    _along_view(x, idx, axis)
    n = x.shape[axis]
    if np.any((idx < -n) | (idx >= n)):
        raise IndexError("index out of bounds")
    return np.take_along_axis(x, idx, axis)


def take_along_add(g, x, idx, axis):
    """Adjoint of take_along: zeros of x's shape with g added at idx along `axis`
    (repeated indices summed)."""
    out = np.zeros(np.shape(x))
    n = x.shape[axis]
    pos = np.moveaxis(np.asarray(idx) % n, axis, -1)
    gm = np.moveaxis(np.asarray(g, dtype=np.float64), axis, -1)
    om = np.moveaxis(out, axis, -1)
    lead = np.indices(pos.shape[:-1])
    np.add.at(om, tuple(l[..., None] for l in lead) + (pos,), gm)
    return out


@overload(take_along, jit_options=_JIT_INDEXED)
def _take_along_nb(x, idx, axis):
    def impl(x, idx, axis):
        pre, n, m, post = _along_view(x, idx, axis)
        a = np.ascontiguousarray(x).reshape((pre, n, post))
        ix = np.ascontiguousarray(idx).reshape((pre, m, post))
        out = np.empty((pre, m, post), dtype=x.dtype)
        for i in range(pre):
            for k in range(m):
                for j in range(post):
                    out[i, k, j] = a[i, _index(ix[i, k, j], n), j]
        return out.reshape(idx.shape)
    return impl


@overload(take_along_add, jit_options=_JIT_INDEXED)
def _take_along_add_nb(g, x, idx, axis):
    def impl(g, x, idx, axis):
        pre, n, m, post = _along_view(x, idx, axis)
        out = np.zeros(x.shape)
        o = out.reshape((pre, n, post))
        ix = np.ascontiguousarray(idx).reshape((pre, m, post))
        b = np.ascontiguousarray(g).reshape((pre, m, post))
        for i in range(pre):
            for k in range(m):
                for j in range(post):
                    o[i, _index(ix[i, k, j], n), j] += b[i, k, j]
        return out
    return impl


# ---- linear algebra adjoints (issue 15) ------------------------------------------------------
# Plain NumPy that Numba also compiles (register_jitable): one body for both tiers. Square
# float64 matrices; formulas from Giles (2008) sec. 2.2-2.3, Murray (2016) "Differentiation
# of the Cholesky decomposition" and Liao et al. (2019) "Differentiable programming tensor
# networks" (QR). NumPy's cholesky and eigh read only the lower triangle of A, so their
# cotangents are with respect to it: the symmetric cotangent S becomes
# tril(S + S.T, -1) + diag(S) (what central differences see; for a symmetric A built as
# B @ B.T the gradient of B is the same as under the symmetric convention).
@register_jitable(cache=True)
def det_cofactor(a):
    """The cofactor matrix of a square a (adj(a).T, the gradient of det(a)), finite and
    exact on singular matrices: from the SVD a = U diag(s) Vt, adj(a).T =
    det(U) det(Vt) U diag(prod_{j != i} s_j) Vt (no division by det(a) or by s)."""
    u, s, vt = np.linalg.svd(a)
    n = s.shape[0]
    others = np.ones(n)
    for i in range(n):
        for j in range(n):
            if j != i:
                others[i] *= s[j]
    sign = np.linalg.det(u) * np.linalg.det(vt)
    return sign * ((u * others) @ vt)


@register_jitable(cache=True)
def _lower_cotangent(s):
    """tril(s + s.T, -1) + diag(s): a symmetric cotangent as one on the lower triangle."""
    return np.tril(s + s.T, -1) + np.diag(np.diag(s))


@register_jitable(cache=True)
def cholesky_grad(l, g):
    """Cotangent of A (its lower triangle, which np.linalg.cholesky reads) for L =
    cholesky(A) and L's cotangent g: S = L^-T phi(L^T g) L^-1 with phi the lower triangle,
    diagonal halved (Murray 2016, eq. 10), symmetrised, then on the lower triangle."""
    p = np.tril(l.T @ g)
    for i in range(p.shape[0]):
        p[i, i] *= 0.5
    y = np.linalg.solve(l.T, p)
    s = np.linalg.solve(l.T, y.T).T
    return _lower_cotangent(0.5 * (s + s.T))


def gap_quotient(m, w):
    """F * m with F_ij = 1 / (w_j - w_i) off the diagonal, 0 on it and where w_i and w_j
    agree to n * eps * max|w| (NaN entries of w skipped in the max): the degenerate
    policy of eigh_grad and eigh_vectors_jvp. m: (n, n), w: (n,), float64."""
    n = w.shape[0]
    tol = n * 2.220446049250313e-16 * np.fmax.reduce(np.abs(w), initial=0.0)
    d = w[None, :] - w[:, None]
    out = np.zeros((n, n))
    np.divide(m, d, out=out, where=(np.abs(d) > tol) & ~np.eye(n, dtype=bool))
    return out


@overload(gap_quotient, jit_options=_JIT)
def _gap_quotient_nb(m, w):
    def impl(m, w):
        n = w.shape[0]
        scale = 0.0
        for i in range(n):
            scale = max(scale, abs(w[i]))
        tol = n * 2.220446049250313e-16 * scale
        out = np.zeros((n, n))
        for i in range(n):
            for j in range(n):
                d = w[j] - w[i]
                if i != j and abs(d) > tol:
                    out[i, j] = m[i, j] / d
        return out
    return impl


@register_jitable(cache=True)
def eigh_grad(w, v, gw, gv):
    """Cotangent of A (its lower triangle, which np.linalg.eigh reads) for w, V = eigh(A)
    with cotangents gw (of w) and gv (of V): V (diag(gw) + F * (V^T gv)) V^T with
    F_ij = 1 / (w_j - w_i) (Giles 2008, sec. 3.1). Degenerate policy: F_ij = 0 where w_i and
    w_j agree to n * eps * max|w| (the basis of a repeated eigenvalue's eigenspace is
    arbitrary: a loss that depends on it has no gradient there; one that depends on the
    eigenspace only, such as its projector, gets the right one)."""
    inner = gap_quotient(v.T @ gv, w)
    for i in range(w.shape[0]):
        inner[i, i] = gw[i]
    return _lower_cotangent(v @ inner @ v.T)


@register_jitable(cache=True)
def qr_grad(q, r, gq, gr):
    """Cotangent of A (m x n, m >= n) for the reduced Q, R = qr(A) and cotangents gq, gr:
    M = R gr^T - gq^T Q, A' = (gq + Q copyltu(M)) R^-T with copyltu(M) the symmetric
    matrix of M's lower triangle (Liao et al. 2019, eq. 4)."""
    if q.shape[0] < r.shape[1]:
        raise ValueError("the gradient of np.linalg.qr needs a matrix with at least as many "
                         "rows as columns")
    m = r @ gr.T - gq.T @ q
    sym = np.tril(m, -1)
    sym = sym + sym.T + np.diag(np.diag(m))
    b = gq + q @ sym
    return np.linalg.solve(r, b.T).T


# ---- special functions (scipy.special's erf, erfc, gammaln, digamma) ------------------------
# Scalar rules compiled as float64 ufuncs; from Python the same scalar rules entry by
# entry, so both tiers compute the same numbers. erf and erfc are libm's (math);
# gammaln is CPython's own lgamma from Python, libm's compiled (they agree to 1e-13);
# digamma and trigamma (its derivative) use the recurrence psi(x) = psi(x + 1) - 1/x
# up to x >= 10, the asymptotic series to x^-12 there (error < 1e-15), and the reflection
# psi(1 - x) - psi(x) = pi / tan(pi x) for x < 0 (Abramowitz & Stegun 6.3.5-6.3.18, 6.4.7-12).
_UFUNC1 = (["float64(float64)"],)


def _erf(x):
    return math.erf(x)


def _erfc(x):
    return math.erfc(x)


def _gammaln(x):
    if x <= 0.0 and (x == -math.inf or x == math.floor(x)):
        return math.inf
    return math.lgamma(x)


def _gammaln_py(x):  # Python's lgamma raises where C's (compiled code) gives inf
    try:
        return _gammaln(x)
    except OverflowError:
        return math.inf


def _digamma(x):
    if x != x or x == -math.inf:
        return math.nan
    if x == math.inf:
        return math.inf
    r = 0.0
    if x <= 0.0:
        if x == math.floor(x):
            return -math.inf if x == 0.0 else math.nan
        # tan has period pi: from x - round(x) (exact), pi * x's rounding is not
        # magnified near a pole (x = -2 + 1e-10: 5e-7 -> 1e-16 relative)
        r = -math.pi / math.tan(math.pi * (x - math.floor(x + 0.5)))
        x = 1.0 - x
    while x < 10.0:
        r -= 1.0 / x
        x += 1.0
    f = 1.0 / (x * x)
    t = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132 - f * (691.0 / 32760))))))
    return r + math.log(x) - 0.5 / x - t


def _trigamma(x):
    if x != x or x == -math.inf:
        return math.nan
    if x == math.inf:
        return 0.0
    if x <= 0.0:
        if x == math.floor(x):
            return math.inf
        s = math.sin(math.pi * (x - math.floor(x + 0.5)))  # sin(pi x)^2: as in _digamma
        q = s * s  # 0 where it underflows (|x| < 1e-162): inf, as compiled code divides
        return (math.pi * math.pi / q if q != 0.0 else math.inf) - _trigamma_pos(1.0 - x)
    return _trigamma_pos(x)


def _trigamma_pos(x):
    r = 0.0
    while x < 10.0:
        q = x * x
        r += 1.0 / q if q != 0.0 else math.inf
        x += 1.0
    f = 1.0 / (x * x)
    t = (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * (5.0 / 66 - f * (691.0 / 2730 - f * (7.0 / 6)))))))
    return r + 1.0 / x + 0.5 * f + t * f / x


register_jitable(_trigamma_pos)


def _entrywise(scalar, x):
    """scalar (a float -> float rule) on every entry of x as float64, the shape of x (a
    float for a number): one Python call an entry, about twice as fast as np.vectorize
    (mapped over a list: no per-entry NumPy scalar)."""
    a = np.asarray(x, dtype=np.float64)
    return np.fromiter(map(scalar, a.ravel().tolist()), np.float64, a.size).reshape(a.shape)[()]


@ufunc(*_UFUNC1, _erf, cache=True)
def erf(x):
    """The error function 2/sqrt(pi) int_0^x exp(-t^2) dt, elementwise (float64)."""
    return _entrywise(math.erf, x)


@ufunc(*_UFUNC1, _erfc, cache=True)
def erfc(x):
    """1 - erf(x), accurate where erf(x) is near 1."""
    return _entrywise(math.erfc, x)


@ufunc(*_UFUNC1, _gammaln, cache=True)
def gammaln(x):
    """log |Gamma(x)|; inf at 0, the negative integers, -inf, and where it overflows (as
    scipy.special.gammaln)."""
    return _entrywise(_gammaln_py, x)


def _special_cases(x):
    """(NaN or -inf, +inf, pole (0 or a negative integer), x < 0 otherwise) masks."""
    bad = np.isnan(x) | (x == -np.inf)
    pole = (x <= 0.0) & (x == np.floor(x))
    return bad, x == np.inf, pole, (x <= 0.0) & ~pole & ~bad


def _upward(y, r, step):
    """The recurrence of _digamma and _trigamma_pos on arrays, entry by entry in the scalar
    rules' order: r = step(r, y), y += 1 while y < 10 (at most 10 steps for y > 0)."""
    m = y < 10.0
    while m.any():
        r = np.where(m, step(r, y), r)
        y = np.where(m, y + 1.0, y)
        m = y < 10.0
    return y, r


@ufunc(*_UFUNC1, _digamma, cache=True)
def digamma(x):
    """psi(x) = d/dx log Gamma(x); -inf at 0, NaN at the negative integers (as SciPy).
    From Python: _digamma's arithmetic on whole arrays (tan and log through math, as
    there), the same bits 2-3x faster than entry by entry."""
    shape = np.shape(x)
    x = np.asarray(x, dtype=np.float64).ravel()  # (0-d arithmetic gives scalars)
    with np.errstate(all="ignore"):
        bad, pinf, pole, refl = _special_cases(x)
        r = np.zeros(x.shape)
        if refl.any():
            xr = x[refl]
            r[refl] = -math.pi / _entrywise(math.tan, math.pi * (xr - np.floor(xr + 0.5)))
        y = np.where(bad | pinf | pole, 10.0, np.where(refl, 1.0 - x, x))
        y, r = _upward(y, r, lambda r, y: r - 1.0 / y)
        f = 1.0 / (y * y)
        t = f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f * (1.0 / 132 - f * (691.0 / 32760))))))
        out = r + _entrywise(math.log, y) - 0.5 / y - t
    out = np.where(pole, np.where(x == 0.0, -np.inf, np.nan), out)
    return np.where(pinf, np.inf, np.where(bad, np.nan, out)).reshape(shape)[()]


@ufunc(*_UFUNC1, _trigamma, cache=True)
def trigamma(x):
    """psi'(x) = d/dx digamma(x); inf at 0 and the negative integers. From Python:
    _trigamma's arithmetic on whole arrays (sin through math), the same bits."""
    shape = np.shape(x)
    x = np.asarray(x, dtype=np.float64).ravel()
    with np.errstate(all="ignore"):
        bad, pinf, pole, refl = _special_cases(x)
        y = np.where(bad | pinf | pole, 10.0, np.where(refl, 1.0 - x, x))
        y, r = _upward(y, np.zeros(x.shape), lambda r, y: r + 1.0 / (y * y))
        f = 1.0 / (y * y)
        t = (1.0 / 6 - f * (1.0 / 30 - f * (1.0 / 42 - f * (1.0 / 30 - f * (5.0 / 66 - f * (691.0 / 2730 - f * (7.0 / 6)))))))
        out = r + 1.0 / y + 0.5 * f + t * f / y
        if refl.any():
            xr = x[refl]
            s = _entrywise(math.sin, math.pi * (xr - np.floor(xr + 0.5)))
            out[refl] = math.pi * math.pi / (s * s) - out[refl]
    out = np.where(pole, np.inf, out)
    return np.where(pinf, 0.0, np.where(bad, np.nan, out)).reshape(shape)[()]


# ---- tangents (forward mode) of the scans and decompositions ----------------------------------
def cumprod_jvp(t, x, axis):
    """The tangent of y = cumprod(x, axis) for x's tangent t, exact at zeros (no division):
    along each line dy_0 = t_0, dy_k = dy_{k-1} x_k + y_{k-1} t_k."""
    x = np.moveaxis(np.asarray(x, dtype=np.float64), axis, -1)
    t = np.moveaxis(np.asarray(t, dtype=np.float64), axis, -1)
    n = x.shape[-1]
    if _few_lines(x):  # as in cumprod_grad
        return np.moveaxis(np.array([_tangent_line(tl, xl) for tl, xl in zip(
            t.reshape(-1, n).tolist(), x.reshape(-1, n).tolist())]).reshape(x.shape), -1, axis)
    out = np.empty(x.shape)
    y = np.ones(x.shape[:-1])
    d = np.zeros(x.shape[:-1])
    for k in range(n):
        d = d * x[..., k] + y * t[..., k]
        y = y * x[..., k]
        out[..., k] = d
    return np.moveaxis(out, -1, axis)


@overload(cumprod_jvp, jit_options=_JIT)
def _cumprod_jvp_nb(t, x, axis):
    def impl(t, x, axis):
        pre, n, post = _split(x.shape, axis % x.ndim)
        a = np.ascontiguousarray(x).reshape((pre, n, post))
        b = np.ascontiguousarray(t).reshape((pre, n, post))
        out = np.empty((pre, n, post))
        for i in range(pre):
            for j in range(post):
                y, d = 1.0, 0.0
                for k in range(n):
                    d = d * a[i, k, j] + y * b[i, k, j]
                    y *= a[i, k, j]
                    out[i, k, j] = d
        return out.reshape(x.shape)
    return impl


@register_jitable(cache=True)
def _symmetric_from_lower(t):
    """The symmetric matrix whose lower triangle is t's (the perturbation that
    np.linalg.cholesky and eigh see when their argument moves by t)."""
    low = np.tril(t, -1)
    return low + low.T + np.diag(np.diag(t))


@register_jitable(cache=True)
def cholesky_jvp(l, t):
    """dL for L = cholesky(A) and A's tangent t (its lower triangle): L phi(L^-1 E L^-T),
    E the symmetric perturbation, phi the lower triangle with the diagonal halved
    (Murray 2016, eq. 8)."""
    e = _symmetric_from_lower(t)
    m = np.linalg.solve(l, np.linalg.solve(l, e).T).T
    p = np.tril(m)
    for i in range(p.shape[0]):
        p[i, i] *= 0.5
    return l @ p


@register_jitable(cache=True)
def eigh_values_jvp(v, t):
    """dw_i = v_i^T E v_i for w, V = eigh(A), E the symmetric perturbation from t."""
    return np.diag(v.T @ _symmetric_from_lower(t) @ v).copy()


@register_jitable(cache=True)
def eigh_vectors_jvp(w, v, t):
    """dV = V (F * (V^T E V)), F_ij = 1 / (w_j - w_i) off the diagonal, 0 on it and where
    w_i, w_j agree to n * eps * max|w| (the degenerate policy of eigh_grad)."""
    return v @ gap_quotient(v.T @ _symmetric_from_lower(t) @ v, w)


@register_jitable(cache=True)
def _qr_tangent_parts(q, r, t):
    if q.shape[0] < r.shape[1]:
        raise ValueError("the derivative of np.linalg.qr needs a matrix with at least as "
                         "many rows as columns")
    dx_rinv = np.linalg.solve(r.T, t.T).T  # t R^-1
    c = q.T @ dx_rinv
    low = np.tril(c, -1)
    return dx_rinv, c, low - low.T


@register_jitable(cache=True)
def qr_q_jvp(q, r, t):
    """dQ = Q (O - Q^T t R^-1) + t R^-1 with O the skew part of tril(Q^T t R^-1, -1) (the
    JVP of the reduced QR for m >= n, as JAX's qr_jvp_rule)."""
    dx_rinv, c, o = _qr_tangent_parts(q, r, t)
    return q @ (o - c) + dx_rinv


@register_jitable(cache=True)
def qr_r_jvp(q, r, t):
    """dR = (Q^T t R^-1 - O) R."""
    dx_rinv, c, o = _qr_tangent_parts(q, r, t)
    return (c - o) @ r


# ---- random draws inside a loss (np.random.default_rng(seed)) -------------------------------
# A draw is data: the forward sweep makes it once and the backward sweep reads the stored
# value. The k-th draw of a generator replays the draws before it (their kinds and element
# counts, `plan`) from a fresh np.random.default_rng(seed), so it is exactly the array NumPy
# gives the k-th call on that generator, in both tiers (compiled code calls NumPy through
# Numba's object mode: the generator's bit stream is NumPy's).
_DRAW_KINDS = ("random", "standard_normal")


def _draw_py(seed, plan, kind, shape):
    rng = np.random.default_rng(seed)
    for i in range(0, len(plan), 2):
        getattr(rng, _DRAW_KINDS[plan[i]])(int(plan[i + 1]))
    out = getattr(rng, _DRAW_KINDS[kind])(shape if len(shape) else None)
    return np.ascontiguousarray(out, dtype=np.float64) if len(shape) else float(out)


@register_jitable(cache=True)
def draw_param(v, check):
    """v, a draw's scalar parameter, checked as NumPy's Generator checks it: check 1, a
    normal's scale (ValueError "scale < 0"); check 2, a uniform's high - low
    (OverflowError when not finite, ValueError below 0). One body for both tiers."""
    negative = math.copysign(1.0, v) < 0.0  # NumPy's test: -0.0 is refused too
    if check == 1 and negative:
        raise ValueError("scale < 0")
    if check == 2 and not -np.inf < v < np.inf:
        raise OverflowError("high - low range exceeds valid bounds")
    if check == 2 and negative:
        raise ValueError("high - low < 0")
    return v


def rng_draw(seed, plan, kind, shape):
    """The next draw of np.random.default_rng(seed) after the draws in `plan` (an int64
    array of (kind, element count) pairs): `random` (kind 0, uniform in [0, 1)) or
    `standard_normal` (kind 1), of `shape` (a tuple of ints; () for one float)."""
    return _draw_py(int(seed), np.asarray(plan, dtype=np.int64), kind, tuple(shape))


@overload(rng_draw, jit_options={"cache": False})
def _rng_draw_nb(seed, plan, kind, shape):
    import numba
    rank = len(shape)
    out_t = types.float64 if rank == 0 else types.Array(types.float64, rank, "C")

    def impl(seed, plan, kind, shape):
        with numba.objmode(out=out_t):
            out = _draw_py(int(seed), np.asarray(plan), kind, tuple(shape))
        return out
    return impl
