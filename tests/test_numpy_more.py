"""The rest of NumPy and SciPy a loss uses (issue 15 §1): each function's value against
NumPy/SciPy and its gradient against central differences and, where autograd has a rule,
autograd, over several shapes, as plain NumPy (jit=False); then the same functions
compiled by Numba (jit=True) in a few batched functions, against the NumPy tier. Policies
asserted by value: det's gradient on singular matrices (the cofactor matrix), cumprod's
at zeros, median's ties split evenly, eigh's degenerate eigenvalues, the integer helpers
(argmax, argsort, searchsorted, nonzero, unique) as indices."""
import warnings

import numpy as np
import pytest
import scipy.special as sp

from compiler import grad, value_and_grad
from compiler.errors import AdjointError, UnsupportedError
from oracles import autograd_grads
from runtime.check import numerical_grad


def rand(shape, seed, lo=-1.0, hi=1.0):
    v = np.random.default_rng(seed).uniform(lo, hi, size=shape)
    return float(v) if shape == () else v


def spd(n, seed):
    b = rand((n, n), seed)
    return b @ b.T + n * np.eye(n)


def check(fn, args, wrt=(0,), autograd=False, jit=False, rtol=1e-7, fd_tol=1e-6):
    """value as fn's (NumPy's), gradient vs central differences (and autograd)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v, gs = value_and_grad(fn, wrt=tuple(wrt), jit=jit)(*args)
    want = fn(*args)
    np.testing.assert_allclose(v, want, rtol=1e-12, atol=1e-13)
    for i, g in zip(wrt, gs):
        assert np.shape(g) == np.shape(args[i])
        fd = numerical_grad(fn, args, i)
        err = np.max(np.abs(np.asarray(g) - fd)) / max(1.0, float(np.max(np.abs(fd))))
        assert err < fd_tol, f"finite differences, arg {i}: {err:.2e}\n{g}\n{fd}"
    if autograd:
        for g, a in zip(gs, autograd_grads(fn, args, wrt)):
            np.testing.assert_allclose(g, a, rtol=rtol, atol=1e-10)
    return v, gs


# ---- scipy.special ---------------------------------------------------------------------
def special_sigmoids(x):
    return np.sum(sp.expit(x) * sp.log_expit(-x) + sp.logit(sp.expit(x) * 0.8 + 0.1))


def special_softmax(x):
    return (np.sum(sp.softmax(x) * x) + np.sum(sp.log_softmax(x, axis=-1) ** 2)
            + np.sum(sp.logsumexp(x, axis=0)) + sp.logsumexp(x))


def special_xlogy(x, y):
    return np.sum(sp.xlogy(x, y) + sp.xlog1py(x, y) + sp.entr(y) + sp.rel_entr(y, y * y + 0.5)
                  + sp.kl_div(y + 0.1, y * 0.5 + 1.0))


def special_gamma(x):
    return np.sum(sp.erf(x) * sp.erfc(x / 2) + sp.gammaln(x + 2.0) * sp.digamma(x + 3.0)
                  + sp.psi(x + 1.5) + sp.betaln(x + 2.0, x * x + 1.0))


@pytest.mark.parametrize("shape", [(), (3,), (2, 3)], ids=str)
def test_scipy_special(shape):
    x = rand(shape, 1)
    check(special_sigmoids, (x,))
    check(special_gamma, (x,))
    y = rand(shape, 2, 0.1, 1.5)
    check(special_xlogy, (x, y), wrt=(0, 1))
    if shape:
        check(special_softmax, (x,))


def test_scipy_special_at_zero_and_outside_the_domain():
    x = np.array([0.0, 0.0, 1.0, 2.0])
    y = np.array([0.0, 2.0, 0.0, 3.0])

    def f(x, y):
        return np.sum(sp.xlogy(x, y) * np.arange(1.0, 5.0))
    with np.errstate(divide="ignore"):  # 1 * log(0) = -inf, as SciPy, and its gradient in y
        v, (gx, gy) = value_and_grad(f, wrt=(0, 1), jit=False)(x, y)
    assert v == f(x, y) == -np.inf and gy[2] == np.inf
    # d/dx at x = 0: log(y) where y > 0 (smooth there), 0 at x = y = 0 (the policy)
    np.testing.assert_array_equal(gx[:2], [0.0, 2.0 * np.log(2.0)])
    assert gy[0] == 0.0 and gy[1] == 0.0 and gy[3] == 4.0 * 2.0 / 3.0

    def g(p):
        return np.sum(sp.entr(p) + sp.rel_entr(p, 0.5 + 0.0 * p))
    p = np.array([0.0, 0.25, 1.0])
    v, gp = value_and_grad(g, jit=False)(p)
    assert v == pytest.approx(g(p), rel=1e-15)
    assert gp[0] == 0.0  # the masked branch leaks no -inf
    np.testing.assert_allclose(gp[1:], -np.log(p[1:]) - 1 + np.log(p[1:] / 0.5) + 1, rtol=1e-14)
    np.testing.assert_array_equal(sp.entr(np.array([-1.0])), [-np.inf])


def test_special_values_match_scipy():
    from runtime import kernels
    x = np.concatenate([np.linspace(-7.5, 30.0, 301), [0.5, 1.0, 2.0, 1e-8, 150.0]])
    for ours, theirs in ((kernels.erf, sp.erf), (kernels.erfc, sp.erfc),
                         (kernels.gammaln, sp.gammaln)):
        np.testing.assert_allclose(ours(x), theirs(x), rtol=1e-13, atol=1e-15)
    xs = x[(x != np.round(x)) | (x > 0)]
    np.testing.assert_allclose(kernels.digamma(xs), sp.digamma(xs), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(kernels.trigamma(xs), sp.polygamma(1, xs), rtol=1e-12)
    assert np.isneginf(kernels.digamma(0.0)) and np.isnan(kernels.digamma(-2.0))
    # near the negative poles (the reflection's tan and sin from x - round(x)): was 5e-7
    near = np.array([-2.0000000001, -100.00000001, -7.000001, -50.5 + 1e-9])  # SciPy: 2e-16
    np.testing.assert_allclose(kernels.digamma(near), sp.digamma(near), rtol=1e-12)
    np.testing.assert_allclose(kernels.trigamma(near), sp.polygamma(1, near), rtol=1e-12)
    np.testing.assert_allclose(kernels.trigamma(-999999.999999), sp.polygamma(1, -999999.999999),
                               rtol=1e-12)


def erf_weighted(w, x):
    return np.sum(w * sp.erf(x))


def erfc_weighted(w, x):
    return np.sum(w * sp.erfc(x))


def gammaln_weighted(w, x):
    return np.sum(w * sp.gammaln(x))


def digamma_weighted(w, x):
    return np.sum(w * sp.digamma(x))


def digamma_sum(x):
    return np.sum(sp.digamma(x))


_EDGES = np.array([0.0, -0.0, 5e-324, -5e-324, 1e-310, -1e-310, 1e-170, -1e-170, 1e-300,
                   -1e-300, np.inf, -np.inf, np.nan, -1.0, -2.0, -1e308, 1e308, 2.6e305,
                   2.5e305, -2.5, 0.5, 1.0, 9.999999999999998, 10.0, -7.25, 3e5])


def test_special_functions_are_one_rule_in_both_tiers():
    """erf, erfc, gammaln, digamma and trigamma (digamma's derivative) give the same bits
    from the NumPy tier's kernels and from compiled code (gammaln: CPython's lgamma
    against libm's, to 1e-12), at the edges too (subnormals,
    poles, +-inf, NaN, where lgamma overflows and where 1 / x**2 underflows): the NumPy
    tier raised OverflowError at gammaln(-inf) and gammaln(1e308) and
    ZeroDivisionError at trigamma(1e-170), where compiled code gives inf."""
    from runtime import kernels
    x = np.concatenate([_EDGES, np.random.default_rng(5).normal(0.0, 20.0, 200)])
    pairs = [(erf_weighted, kernels.erf), (erfc_weighted, kernels.erfc),
             (gammaln_weighted, kernels.gammaln), (digamma_weighted, kernels.digamma)]
    lg = kernels.gammaln(x)
    assert np.isinf(lg[[10, 11, 15, 16, 17]]).all() and np.isnan(lg[12]) and np.isfinite(lg[18])
    with np.errstate(all="ignore"):
        for jit in (False, True):
            for loss, kernel in pairs:  # d/dw sum(w * f(x)) = f(x), bit for bit
                gw = grad(loss, wrt="w", jit=jit)(np.ones(x.size), x)
                if loss is gammaln_weighted and jit:  # libm's lgamma, not CPython's own
                    np.testing.assert_allclose(gw, kernel(x), rtol=1e-12, atol=0)
                else:
                    np.testing.assert_array_equal(gw, kernel(x), err_msg=loss.__name__)
            np.testing.assert_array_equal(grad(digamma_sum, jit=jit)(x), kernels.trigamma(x))
    # the NumPy forms of digamma and trigamma work on whole arrays: the scalar rules' bits
    more = np.concatenate([x, -np.arange(1.0, 60.0), np.random.default_rng(6).uniform(-3, 3, 500)])
    for kernel, rule in ((kernels.digamma, kernels._digamma), (kernels.trigamma, kernels._trigamma)):
        np.testing.assert_array_equal(kernel(more), [rule(v) for v in more.tolist()])
        assert np.array_equal(np.signbit(kernel(more)), np.signbit([rule(v) for v in more.tolist()]))
        for v in (0.5, -2.5, np.array(1.5), np.array([[1.5, -0.5]])):
            assert type(kernel(v)) is type(kernels.erf(v)) and np.shape(kernel(v)) == np.shape(v)
    assert kernels.trigamma(1e-170) == np.inf and kernels.trigamma(-1e-170) == np.inf


def test_scipy_special_against_autograd():
    import autograd.scipy.special as asp
    import oracles

    def f(x):
        return np.sum(sp.erf(x) + sp.gammaln(x + 2.0) + sp.expit(x) + sp.digamma(x + 3.0))
    x = rand((2, 3), 3)
    twin = oracles.autograd_twin(f)
    twin.__globals__["sp"] = asp
    import autograd
    np.testing.assert_allclose(grad(f, jit=False)(x), autograd.grad(twin)(x), rtol=1e-12)


# ---- shapes ------------------------------------------------------------------------------
def shapes_basic(x):
    w = np.arange(1.0, 1.0 + x.size).reshape(x.shape)
    t = np.sum(np.roll(x, 1) * w) + np.sum(np.atleast_2d(x) ** 3)
    if x.ndim >= 1:
        t = t + np.sum(np.diff(x, axis=0) ** 2) + np.sum(np.cumsum(x, axis=0) * w)
        t = t + np.sum(np.repeat(x, 2, axis=0) ** 2)
    return t + np.sum(np.atleast_1d(np.sum(x)) * 2.0) + np.sum(np.atleast_3d(x) ** 2)


@pytest.mark.parametrize("shape", [(4,), (3, 4), (2, 3, 2)], ids=str)
def test_shapes_against_autograd(shape):
    check(shapes_basic, (rand(shape, 4),), autograd=True)


def tiles(x):
    return np.sum(np.tile(x, (2, 3)) ** 3) + np.sum(np.tile(x, (2, 1, 2)) * 2.0)


def tile_short(x):  # autograd's tile rule fails here (rank > 1, reps shorter than it)
    return np.sum(np.tile(x, 2) ** 3) + np.sum(np.tile(x, (3, 1)) ** 2)


def test_tile():
    check(tiles, (rand((3, 2), 4),), autograd=True)
    check(tile_short, (rand((3, 2), 4),))
    check(tile_short, (rand((2, 3, 2), 4),))
    check(tile_short, (rand((3,), 4),), autograd=True)


def shapes_more(x):
    w = np.arange(1.0, 1.0 + x.size).reshape(x.shape)
    a, b = np.split(x, 2, axis=1)
    c, d, e = np.array_split(x, 3, axis=1)
    p = np.pad(x, ((1, 2), (0, 1)), mode="constant", constant_values=0.5)
    q = np.pad(x, 1, mode="edge")
    return (np.sum(a * b) + np.sum(c) * np.sum(d ** 2) + np.sum(e ** 3)
            + np.sum(p ** 2 * np.arange(p.shape[1])) + np.sum(q ** 3)
            + np.sum(np.swapaxes(x, 0, 1) * w.T) + np.sum(np.moveaxis(x, 0, -1) ** 2)
            + np.sum(np.roll(x, -3, axis=1) * w) + np.sum(np.roll(x, (1, 2), axis=(0, 1)) * w)
            + np.sum(np.fliplr(x) * w) + np.sum(np.flipud(x) * w) + np.sum(np.flip(x) * w)
            + np.sum(np.flip(x, axis=1) * w)
            + np.sum(np.broadcast_to(x[0], (3, x.shape[1])) * np.arange(3.0)[:, None])
            + np.sum(np.tile(x, (2, 1, 3)) ** 2) + np.sum(np.repeat(x, 3) ** 3))


def test_shapes_more():  # autograd has no rule for flip nor pad(mode='edge')
    check(shapes_more, (rand((3, 4), 5),))


def diagonals(x, v):
    return (np.sum(np.diag(x) ** 2) + np.sum(np.diag(x, 1) * 3.0) + np.sum(np.diag(x, -2) ** 3)
            + np.sum(np.diagonal(x, 1) ** 2) + np.sum(np.tril(x) ** 2) + np.sum(np.triu(x, 1) * 2.0)
            + np.sum(np.tril(x, -1) ** 3) + np.sum(np.diag(v) @ x[:3, :3])
            + np.sum(np.diag(v, 1) ** 2) + np.sum(np.diag(v, -1) * np.arange(16.0).reshape(4, 4)))


@pytest.mark.parametrize("shape", [(3, 3), (3, 5), (5, 3)], ids=str)
def test_diagonals(shape):
    x, v = rand(shape, 6), rand((3,), 7)
    check(diagonals, (x, v), wrt=(0, 1))  # autograd's diag takes offset 0 only

    def d0(x):
        return np.sum(np.diag(x) ** 2) + np.sum(np.tril(x) ** 2) + np.sum(np.triu(x, 1) * 2.0)
    check(d0, (x,), autograd=shape[0] == shape[1])  # autograd's tril: square matrices


def test_diagonal_of_a_stack_and_values():
    def f(x):
        return np.sum(np.diagonal(x, 0, 1, 2) ** 2) + np.sum(np.diagonal(x, -1, 0, 2) * 3.0)
    check(f, (rand((2, 3, 3), 8),))
    x = rand((4, 3), 9)
    for k in range(-5, 5):
        np.testing.assert_array_equal(grad(lambda_diag(k), jit=False)(x),
                                      np.eye(4, 3, k))


def lambda_diag(k):
    def f(x):
        return np.sum(np.diagonal(x, k))
    return f


def test_take_along_axis_and_sort():
    def f(x, i):
        return np.sum(np.take_along_axis(x, i, axis=1) ** 2 * np.arange(1.0, 3.0))

    x = rand((3, 4), 10)
    i = np.array([[0, 3], [1, 1], [-1, 2]])
    check(f, (x, i), wrt=(0,))

    def s(x):
        return (np.sum(np.sort(x, axis=0) * np.arange(12.0).reshape(3, 4))
                + np.sum(np.sort(x) ** 3 * np.arange(4.0)) + np.sum(np.sort(x, axis=None)[:5]))
    check(s, (x,))  # autograd sorts 1-D arrays only

    def s1(v):
        return np.sum(np.sort(v) ** 3 * np.arange(5.0))
    check(s1, (rand((5,), 11),), autograd=True)


def test_sort_gradient_follows_the_permutation():
    def f(x):
        return np.sum(np.sort(x) * np.arange(1.0, 5.0))
    g = grad(f, jit=False)(np.array([3.0, 1.0, 2.0, 0.0]))
    np.testing.assert_array_equal(g, [4.0, 2.0, 3.0, 1.0])


# ---- integer helpers -----------------------------------------------------------------------
def indexers(x, y):
    k = np.argmax(x)
    j = np.argmin(x, axis=1)
    order = np.argsort(y)
    pos = np.searchsorted(np.sort(y), np.array([0.0, 0.5]), side="right")
    nz = np.nonzero(x > 0.2)
    u = np.unique(np.round(x * 2.0) + np.floor(x) + np.ceil(x))
    return (x.ravel()[k] * 2.0 + np.sum(x[np.arange(x.shape[0]), j] ** 2) + np.sum(y[order] * np.arange(y.size))
            + np.sum(pos) + np.sum(x[nz[0], nz[1]] ** 2) + np.sum(u) + np.sum(y[np.flatnonzero(y > 0)])
            + x[np.argmax(x, axis=0)[0], 0])


def test_integer_helpers_as_indices():
    check(indexers, (rand((3, 4), 11), rand((5,), 12)), wrt=(0, 1))


def test_integer_helpers_values():
    x = np.array([[1.0, 3.0, 3.0], [0.0, -1.0, 5.0]])

    def f(x):
        return (np.argmax(x) * 1.0 + np.sum(np.argmax(x, axis=1)) * 10.0 + np.sum(np.argmin(x, axis=0)) * 100.0
                + np.sum(np.argsort(x, axis=0) * np.arange(3.0)) * 1000.0
                + np.sum(np.unique(np.floor(x * 2.0))) * 1e4
                + np.sum(np.nonzero(x)[1]) * 1e5 + np.searchsorted(np.array([0.0, 1.0, 3.0]), 3.0) * 1e6)
    assert value_and_grad(f, jit=False)(x)[0] == f(x)


def test_unique_values_of_a_differentiated_array_are_refused_not_zero():
    def f(x):
        return np.sum(np.unique(x) ** 2)
    with pytest.raises(UnsupportedError, match="no adjoint rule for `unique`"):
        grad(f, jit=False)(np.array([0.5, 1.2, 0.5]))


# ---- reductions and scans ----------------------------------------------------------------
def scans(x):
    return (np.sum(np.cumsum(x, axis=-1) ** 2) + np.sum(np.cumsum(x) * 0.5)
            + np.sum(np.cumprod(x, axis=0) * 2.0) + np.sum(np.cumprod(x) ** 2) + np.sum(np.diff(x, 2, axis=-1) ** 2))


@pytest.mark.parametrize("shape", [(5,), (3, 4)], ids=str)
def test_scans(shape):
    check(scans, (rand(shape, 13),))


def test_cumprod_exact_at_zeros():
    def f(x):
        return np.sum(np.cumprod(x) * np.arange(1.0, 5.0))
    for x in ([2.0, 0.0, 3.0, 4.0], [0.0, 0.0, 3.0, 4.0], [1.0, 2.0, 3.0, 0.0]):
        x = np.array(x)
        g = grad(f, jit=False)(x)
        np.testing.assert_allclose(g, numerical_grad(f, (x,), 0), rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(grad(f, jit=False)(np.array([2.0, 0.0, 3.0, 4.0])),
                                  [1.0, 2.0 * 2 + 3 * 2 * 3 + 4 * 2 * 3 * 4, 0.0, 0.0])


def cumprod_weighted(x, w):
    return np.sum(np.cumprod(x, axis=-1) * w)


@pytest.mark.parametrize("shape", [(400,), (3, 60), (60, 3), (2, 16), (4, 4), (30, 30)], ids=str)
def test_cumprod_adjoint_and_tangent_are_the_recurrence_in_both_tiers(shape):
    """cumprod's adjoint and tangent kernels run their recurrence line by line on Python
    floats when there are few long lines (11-22x faster for 10^4 entries), else on all
    lines at once: either way the bits of the element loop compiled code runs, zeros,
    -0.0, inf and NaN included (NaN signs aside, which NumPy leaves open)."""
    from runtime import kernels

    def reference(g, x, tangent):  # the loop along the last axis, one line at a time
        out = np.empty(x.shape)
        for line in np.ndindex(x.shape[:-1]):
            y, d, s = 1.0, 0.0, 0.0
            xs, gs = x[line].tolist(), g[line].tolist()
            n = len(xs)
            for k in range(n):
                if tangent:
                    d = d * xs[k] + y * gs[k]
                    y = y * xs[k]
                    out[line + (k,)] = d
                else:
                    i = n - 1 - k
                    s = gs[i] + (xs[i + 1] * s if i + 1 < n else 0.0)
                    out[line + (i,)] = s
        if not tangent:
            left = np.cumprod(np.concatenate([np.ones(x.shape[:-1] + (1,)), x[..., :-1]], -1), -1)
            out = out * left
        return out
    rng = np.random.default_rng(12)
    x, g = rng.uniform(0.5, 1.5, shape), rng.normal(size=shape)
    x.flat[::7], x.flat[3], x.flat[5], g.flat[2], g.flat[4] = 0.0, -0.0, np.inf, np.nan, -0.0
    with np.errstate(all="ignore"):
        for kernel, tangent in ((kernels.cumprod_grad, False), (kernels.cumprod_jvp, True)):
            got, want = kernel(g, x, -1), reference(g, x, tangent)
            np.testing.assert_array_equal(got, want)
            finite = ~np.isnan(want)
            np.testing.assert_array_equal(np.signbit(got[finite]), np.signbit(want[finite]))
        x = rng.uniform(0.5, 1.5, shape)
        w = rng.normal(size=shape)
        np.testing.assert_array_equal(grad(cumprod_weighted, jit=True)(x, w),
                                      grad(cumprod_weighted, jit=False)(x, w))


def order_stats(x):
    return (np.median(x) + np.sum(np.median(x, axis=0) ** 2) + np.percentile(x, 30.0)
            + np.sum(np.quantile(x, 0.75, axis=1, keepdims=True) * 3.0) + np.percentile(x, 100)
            + np.sum(np.median(x, axis=1, keepdims=True)))


def test_median_and_percentiles():
    check(order_stats, (rand((4, 5), 14),))
    check(order_stats, (rand((3, 3), 15),))


def test_median_ties_split_evenly():
    def f(x):
        return np.median(x)
    g = grad(f, jit=False)(np.array([1.0, 2.0, 2.0, 5.0, 2.0]))
    np.testing.assert_array_equal(g, [0.0, 1 / 3, 1 / 3, 0.0, 1 / 3])
    g = grad(f, jit=False)(np.array([1.0, 3.0, 2.0, 7.0]))
    np.testing.assert_array_equal(g, [0.0, 0.5, 0.5, 0.0])


def averages(x, w):
    return (np.average(x, weights=w) + np.sum(np.average(x, axis=1, weights=w[0]) ** 2)
            + np.average(x) + np.nansum(x * 2.0) + np.sum(np.nanmean(x, axis=0) ** 2))


def test_average_and_nan_reductions():
    check(averages, (rand((3, 4), 16), rand((3, 4), 17, 0.5, 1.5)), wrt=(0, 1))

    def f(x):
        return np.nansum(x ** 2) + np.nanmean(x) + np.sum(np.nan_to_num(x, nan=3.0) * 2.0)
    x = np.array([1.0, np.nan, 2.0, 5.0])
    v, g = value_and_grad(f, jit=False)(x)
    assert v == f(x)
    np.testing.assert_allclose(g, [2.0 + 1 / 3 + 2.0, 0.0, 4.0 + 1 / 3 + 2.0, 10.0 + 1 / 3 + 2.0], rtol=1e-15)

    def h(x):
        return (np.sum(np.nan_to_num(x, posinf=2.0, neginf=-1.0) * np.arange(1.0, 5.0))
                + np.sum(np.nan_to_num(x, nan=-1.0, posinf=7.0, neginf=-3.0)))
    x = np.array([1.0, np.nan, np.inf, -np.inf])
    v, g = value_and_grad(h, jit=False)(x)
    assert v == h(x)
    np.testing.assert_array_equal(g, [2.0, 0.0, 0.0, 0.0])


def norms(x):
    return (np.sum(np.linalg.norm(x, axis=1)) + np.sum(np.linalg.norm(x, ord=1, axis=0))
            + np.linalg.norm(x, "fro") + np.linalg.norm(x, 1) + np.linalg.norm(x, np.inf)
            + np.linalg.norm(x, -np.inf) + np.sum(np.linalg.norm(x, ord=3, axis=1, keepdims=True))
            + np.linalg.norm(x.ravel(), np.inf) + np.linalg.norm(x[0], ord=-np.inf)
            + np.linalg.norm(x.ravel(), 0))


def test_norms():
    x = rand((3, 4), 18)
    check(norms, (x,))  # autograd lacks ord=1, inf, 0 gradients

    def two(x):
        return np.sum(np.linalg.norm(x, axis=1)) + np.linalg.norm(x, "fro") + np.sum(np.linalg.norm(x, ord=3, axis=0))
    check(two, (x,), autograd=True)

    def f(x):
        return np.sum(np.linalg.norm(x, axis=1))
    g = grad(f, jit=False)(np.array([[0.0, 0.0], [3.0, 4.0]]))
    np.testing.assert_allclose(g, [[0.0, 0.0], [0.6, 0.8]], rtol=1e-15)  # norm'(0) = 0
    assert g[0, 0] == 0.0 and g[0, 1] == 0.0


# ---- linear algebra ---------------------------------------------------------------------
def einsum_repeated(a, b, v):  # autograd's einsum rule cannot take repeated indices
    return (np.einsum("ii", a @ b) + np.sum(np.einsum("ii->i", b @ a) * v)
            + np.sum(np.einsum("nd,nn->d", b.T, a @ b) ** 2))


def einsums(a, b, v):
    return (np.sum(np.einsum("ij,jk->ik", a, b) ** 2) + np.einsum("i,i", v, v) + np.sum(np.einsum("ij->ji", a) * a.T) + np.sum(np.einsum("ij,ij->i", a, a))
            + np.sum(np.einsum("ij,k->ijk", a, v) ** 2) + np.sum(np.einsum("ij,jk,kl->il", a, b, a) * 0.1)
            + np.sum(np.einsum("bi,bi,b->b", a, a, v[:3])) + np.sum(np.einsum("ij,kj", a, a) ** 2)
            + np.sum(np.tensordot(a, b, axes=1) ** 2) + np.tensordot(a, a, axes=2)
            + np.sum(np.tensordot(a, b, axes=([0], [1])) ** 2) + np.sum(np.kron(a, b) ** 2)
            + np.sum(np.kron(v, v[:2]) ** 3))


def test_einsum_tensordot_kron():
    args = (rand((3, 4), 19), rand((4, 3), 20), rand((4,), 21))
    check(einsums, args, wrt=(0, 1, 2), autograd=True, rtol=1e-9)
    check(einsum_repeated, args, wrt=(0, 1, 2))


def test_einsum_batched_and_repeated():
    def f(x, y):
        return (np.sum(np.einsum("bij,bjk->bik", x, y) ** 2) + np.sum(np.einsum("bii->b", np.einsum("bij,bjk->bik", x, y)) ** 2)
                + np.sum(np.einsum("iij->j", np.einsum("bij->ijb", x)[:2, :2]) ** 2))
    check(f, (rand((2, 3, 3), 22), rand((2, 3, 3), 23)), wrt=(0, 1))


def test_einsum_ellipsis():
    def f(x, y, v):
        return (np.sum(np.einsum("...ij,...jk->...ik", x, y) ** 2) + np.sum(np.einsum("...ij->...j", x) ** 3)
                + np.sum(np.einsum("...i,i", x, v) ** 2) + np.sum(np.einsum("ij...->...", y) * 2.0)
                + np.sum(np.einsum("...ii->...i", np.einsum("bij,bjk->bik", x, y)) ** 2))
    check(f, (rand((2, 3, 3), 22), rand((2, 3, 3), 23), rand((3,), 24)), wrt=(0, 1, 2))


def test_einsum_errors():
    def f(x):
        return np.sum(np.einsum("i..j->ij", x))

    def h(x):
        return np.sum(np.einsum("...ij->ij", x))

    def g(x):
        return np.sum(np.einsum("ijk->i", x))
    for fn, shape in ((f, (2, 2)), (g, (2, 2)), (h, (2, 2, 2))):
        with pytest.raises(AdjointError) as e:
            grad(fn, jit=False)(rand(shape, 1))
        assert "test_numpy_more.py" in str(e.value) and "einsum" in str(e.value)


def lin(a, b):
    s, logdet = np.linalg.slogdet(a)
    x = np.linalg.solve(a, b)
    return (np.linalg.det(a) + logdet * s + np.sum(np.linalg.inv(a) ** 2) + np.sum(x ** 2)
            + np.sum(np.linalg.solve(a, b[:, 0]) * 2.0))


def test_det_inv_solve_slogdet():
    check(lin, (spd(3, 24) + rand((3, 3), 25) * 0.3, rand((3, 2), 26)), wrt=(0, 1), autograd=True,
          rtol=1e-9)


def test_det_gradient_on_singular_matrices_is_the_cofactor_matrix():
    def f(a):
        return np.linalg.det(a)
    for a in (np.array([[1.0, 2.0], [2.0, 4.0]]), np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.0, 1.0, 5.0]]),
              np.zeros((3, 3)), np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 2.0]])):
        g = grad(f, jit=False)(a)
        n = a.shape[0]
        cof = np.array([[(-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1))
                         for j in range(n)] for i in range(n)])
        np.testing.assert_allclose(g, cof, atol=1e-12)
        assert np.all(np.isfinite(g))


def decompositions(b):
    a = b @ b.T + 3.0 * np.eye(b.shape[0])
    l = np.linalg.cholesky(a)
    w, v = np.linalg.eigh(a)
    return (np.sum(l ** 2 * np.arange(9.0).reshape(3, 3)) + np.sum(w ** 3) + np.sum(np.linalg.eigvalsh(a))
            + np.sum((v[:, 0] * v[0, 0]) ** 2 * np.arange(3.0)) + np.sum(np.abs(v[:, -1]) * 0.5))


def test_cholesky_eigh_against_autograd():
    check(decompositions, (rand((3, 3), 27),), rtol=1e-8)

    def auto(b):  # what autograd differentiates (it has no eigvalsh rule)
        a = b @ b.T + 3.0 * np.eye(b.shape[0])
        w, v = np.linalg.eigh(a)
        return np.sum(np.linalg.cholesky(a) ** 2 * np.arange(9.0).reshape(3, 3)) + np.sum(w ** 3) \
            + np.sum((v[:, 0] * v[0, 0]) ** 2 * np.arange(3.0))
    check(auto, (rand((3, 3), 27),), autograd=True, rtol=1e-8)


def test_cholesky_and_eigh_cotangents_are_on_the_lower_triangle():
    a = spd(3, 28)

    def f(a):
        return np.sum(np.linalg.cholesky(a) * np.arange(9.0).reshape(3, 3))

    def h(a):
        w, v = np.linalg.eigh(a)
        return np.sum(w ** 2) + np.sum(v[:, 2] * v[0, 2] * np.arange(3.0))
    for fn in (f, h):
        g = grad(fn, jit=False)(a)
        np.testing.assert_allclose(g, numerical_grad(fn, (a,), 0), rtol=1e-6, atol=1e-8)
        assert np.all(np.triu(g, 1) == 0.0)


def test_eigh_degenerate_eigenvalues():
    def projector(a):  # depends on the eigenspace of the double eigenvalue only
        w, v = np.linalg.eigh(a)
        p = v[:, :2] @ v[:, :2].T
        return np.sum(p * np.array([[1.0, 2.0, 0.0], [0.5, 1.0, 3.0], [0.0, 1.0, 2.0]]))
    a = np.diag([1.0, 1.0, 4.0])
    g = grad(projector, jit=False)(a)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, numerical_grad(projector, (a,), 0), atol=1e-6)


def test_eigh_gap_quotient_is_the_loop_it_replaced_in_both_tiers():
    """The NumPy tier's gap_quotient (vectorised: 13-18x faster at n = 256) gives the bits
    of the element loop compiled code runs, with degenerate pairs, a NaN eigenvalue and
    zeros; the eigh gradient then agrees between tiers."""
    from runtime import kernels

    def loop(m, w):
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
    rng = np.random.default_rng(8)
    for w in (np.sort(rng.normal(size=7)), np.array([1.0, 1.0, 1.0 + 1e-17, 2.0, 0.0]),
              np.array([np.nan, 1.0, 2.0, 2.0]), np.zeros(3), np.array([-3.0, 1e-300, 5.0])):
        m = rng.normal(size=(w.size, w.size))
        np.testing.assert_array_equal(kernels.gap_quotient(m, w), loop(m, w))

    def spectrum(a):
        w, v = np.linalg.eigh(a)
        return np.sum(w ** 3) + np.sum(v[:, 1] * v[0, 1] * np.arange(4.0))
    a = spd(4, 30)
    np.testing.assert_allclose(grad(spectrum, jit=True)(a), grad(spectrum, jit=False)(a),
                               rtol=1e-12, atol=1e-13)


def qrs(a):
    q, r = np.linalg.qr(a)
    return np.sum(q * np.arange(a.size).reshape(a.shape)) + np.sum(r ** 2 * 0.5)


@pytest.mark.parametrize("shape", [(3, 3), (5, 3)], ids=str)
def test_qr(shape):
    check(qrs, (rand(shape, 29),))


def test_linalg_refuses_stacks_at_the_line():
    def f(x):
        return np.linalg.det(x)
    with pytest.raises(AdjointError) as e:
        grad(f, jit=False)(rand((2, 3, 3), 1))
    assert "test_numpy_more.py" in str(e.value) and "2-D" in str(e.value)


def test_unsupported_options_are_refused_at_the_line():
    def f(x):
        return np.sum(np.pad(x, 1, mode="reflect"))

    def g(x):
        return np.sum(np.unique(x, return_counts=True)[1])

    def h(x):
        return np.linalg.norm(x, "nuc")
    for fn in (f, g, h):
        with pytest.raises(AdjointError) as e:
            grad(fn, jit=False)(rand((3, 3), 1))
        assert "test_numpy_more.py" in str(e.value)


# ---- forward mode (JVP rules) and Hessians -------------------------------------------------
def jvp_shapes_scans(x):
    w = np.arange(1.0, 1.0 + x.size).reshape(x.shape)
    return (np.sum(np.cumsum(x, axis=1) * w) + np.sum(np.sort(x, axis=1) ** 2 * w)
            + np.sum(np.broadcast_to(x[0], (2, x.shape[1])) ** 3) + np.sum(np.tile(x, (1, 2)) ** 2)
            + np.median(x) + np.sum(np.einsum("ij,kj->ik", x, x) ** 2) + np.sum(np.diag(x[:, :3]) ** 3)
            + np.sum(sp.erf(x) * sp.gammaln(x + 2.0)) + np.sum(np.linalg.norm(x, axis=0)))


def jvp_linalg(a, b):
    s, logdet = np.linalg.slogdet(a)
    return np.sum(np.linalg.inv(a) ** 2) + logdet + np.sum(np.linalg.solve(a, b) ** 2)


def jvp_first_order(a):
    s = a @ a.T + 3.0 * np.eye(3)
    w, v = np.linalg.eigh(s)
    q, r = np.linalg.qr(a)
    return (np.linalg.det(a) + np.sum(np.cumprod(a, axis=0) ** 2) + np.sum(np.linalg.cholesky(s) ** 2)
            + np.sum(w ** 2) + np.sum(v[:, 2] * v[0, 2] * np.arange(3.0)) + np.sum(q * np.arange(9.0).reshape(3, 3))
            + np.sum(r ** 2) + np.sum(sp.digamma(a + 2.0)))


def test_jvp_and_hessians():
    from test_forward import check_jvp
    check_jvp(jvp_shapes_scans, (rand((3, 4), 30),), (0,))
    check_jvp(jvp_linalg, (spd(3, 31) + rand((3, 3), 32) * 0.3, rand((3, 2), 33)), (0, 1))
    check_jvp(jvp_first_order, (rand((3, 3), 34) + 2.0 * np.eye(3),), (0,), second_order=False)


def test_hessian_through_det_is_refused_not_zero():
    from compiler import hvp

    def f(a):
        return np.linalg.det(a)
    with pytest.raises(AdjointError) as e:
        hvp(f, jit=False)(rand((3, 3), 1), rand((3, 3), 2))
    assert "det" in str(e.value)


# ---- compiled (jit=True): two batches cover every function above -----------------------------
def jit_shapes(x, v, i):
    w = np.arange(1.0, 1.0 + x.size).reshape(x.shape)
    a, b = np.split(x, 2, axis=1)
    c, d, e = np.array_split(x, 3, axis=1)
    order = np.argsort(v)
    nz = np.nonzero(x > 0.0)
    t = (np.sum(np.flip(x) * w) + np.sum(np.roll(x, 2, axis=1) * w) + np.sum(np.roll(v, -1) * v)
         + np.sum(np.tile(x, (2, 1)) ** 2) + np.sum(np.repeat(v, 3) ** 3) + np.sum(a * b) + np.sum(c * d[:, :1] * e[:, :1])
         + np.sum(np.pad(x, ((1, 0), (2, 1)), constant_values=0.5) ** 2) + np.sum(np.pad(x, 1, mode="edge") ** 3)
         + np.sum(np.diag(x[:, :3]) ** 2) + np.sum(np.diag(v, 1) ** 2) + np.sum(np.diagonal(x, -1) * 2.0)
         + np.sum(np.tril(x) ** 2) + np.sum(np.triu(x, 1) * 3.0) + np.sum(np.take_along_axis(x, i, axis=1) ** 2)
         + np.sum(np.sort(x, axis=0) * w) + np.sum(v[order] * np.arange(v.size)) + x.ravel()[np.argmax(x)]
         + np.sum(x[np.arange(x.shape[0]), np.argmin(x, axis=1)]) + np.sum(np.searchsorted(np.sort(v), v, side="right"))
         + np.sum(x[nz[0], nz[1]] ** 2) + np.sum(np.unique(np.floor(x * 3.0) + np.ceil(x) + np.round(x)))
         + np.sum(np.atleast_2d(v) ** 2) + np.sum(np.atleast_3d(x) * 0.5) + np.sum(np.broadcast_to(v, (2, v.size)) ** 2)
         + np.sum(np.moveaxis(x, 0, 1) * w.T) + np.sum(np.swapaxes(x, 0, 1) ** 3) + np.sum(np.sinc(x) * np.nan_to_num(x)))
    return (t + np.sum(np.cumsum(x, axis=1) * w) + np.sum(np.cumprod(x, axis=0) ** 2) + np.sum(np.cumsum(v) ** 2)
            + np.sum(np.diff(x, axis=1) ** 2) + np.median(x) + np.sum(np.median(x, axis=0) ** 2)
            + np.percentile(x, 30.0) + np.sum(np.quantile(x, 0.75, axis=1)) + np.average(x, axis=1, weights=v[:4]).sum()
            + np.nansum(x ** 2) + np.sum(np.nanmean(x, axis=0)) + np.sum(np.linalg.norm(x, axis=1))
            + np.linalg.norm(x, 1) + np.linalg.norm(x, np.inf) + np.sum(np.linalg.norm(x, ord=3, axis=0)))


def jit_linalg(a, b, v):
    s = a @ a.T + 3.0 * np.eye(3)
    sign, logdet = np.linalg.slogdet(s)
    w, u = np.linalg.eigh(s)
    q, r = np.linalg.qr(b)
    p = sp.expit(v)
    return (np.sum(np.einsum("ij,jk->ik", a, b.T) ** 2) + np.einsum("ii", a) + np.sum(np.einsum("nd,nn->d", b[:3], a) ** 2)
            + np.sum(np.einsum("ij,ij->i", a, a)) + np.sum(np.tensordot(a, b, axes=([1], [1])) ** 2)
            + np.sum(np.kron(a, a[:2, :2]) ** 2) + np.linalg.det(a) + sign * logdet
            + np.sum(np.linalg.inv(s) ** 2) + np.sum(np.linalg.solve(s, b.T) ** 2) + np.sum(np.linalg.solve(s, v) * 2.0)
            + np.sum(np.linalg.cholesky(s) ** 2 * np.arange(9.0).reshape(3, 3)) + np.sum(w ** 3)
            + np.sum(u[:, 2] * u[0, 2] * np.arange(3.0)) + np.sum(q * np.arange(12.0).reshape(4, 3)) + np.sum(r ** 2)
            + np.sum(sp.erf(v) + sp.erfc(v) * 2.0 + sp.gammaln(v + 2.0) + sp.digamma(v + 2.0)
                     + sp.logit(p) * p + sp.xlogy(p, v + 2.0) + sp.entr(p) + sp.rel_entr(p, 1.0 - p) + sp.softmax(v) * v)
            + sp.logsumexp(v))


def jit_extras(x, a, u, v):
    return extras(x, a, u, v) + ufunc_methods(a)


JIT_BATCHES = {
    "shapes": (jit_shapes, lambda: (rand((3, 4), 40), rand((4,), 41), np.array([[0, 3], [1, 1], [-1, 2]])), (0, 1)),
    "linalg": (jit_linalg, lambda: (rand((3, 3), 42) + 2.0 * np.eye(3), rand((4, 3), 43), rand((3,), 44)), (0, 1, 2)),
    "extras": (jit_extras, lambda: (np.array([1.0, np.nan, -np.inf, 2.0]), rand((3, 3), 60) + 2.0 * np.eye(3),
                                    rand((3,), 61), rand((3,), 62)), (1, 2, 3)),
}


@pytest.mark.parametrize("name", sorted(JIT_BATCHES))
def test_compiled_matches_numpy_tier_and_differences(name):
    fn, make, wrt = JIT_BATCHES[name]
    args = make()
    g = value_and_grad(fn, wrt=wrt, jit=True)
    from numba import NumbaPerformanceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a Numba failure would warn and run NumPy
        warnings.simplefilter("ignore", NumbaPerformanceWarning)  # `@` of a strided diagonal
        v, got = g(*args)
    assert g.compile_info["jit"] is True
    v0, plain = value_and_grad(fn, wrt=wrt, jit=False)(*args)
    assert v == pytest.approx(v0, rel=1e-12) and v == pytest.approx(fn(*args), rel=1e-12)
    for i, a, b in zip(wrt, got, plain):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
        fd = numerical_grad(fn, args, i)
        np.testing.assert_allclose(a, fd, rtol=1e-6, atol=1e-6)


def test_compiled_jvp():
    from compiler import jvp
    args = (rand((3, 3), 34) + 2.0 * np.eye(3),)
    t = (rand((3, 3), 35),)
    from numba import NumbaPerformanceWarning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        v, tj = jvp(jvp_first_order, args, t, jit=True)
    v0, t0 = jvp(jvp_first_order, args, t, jit=False)
    assert v == pytest.approx(v0, rel=1e-12)
    assert tj == pytest.approx(t0, rel=1e-10)


def legacy_random(w, x):
    mask = np.random.uniform(size=x.shape) < 0.5  # refused: NumPy's global state
    return np.sum(w * x * mask)


def unseeded(w, x):
    rng = np.random.default_rng()
    return np.sum(w * x * (rng.random(x.shape) < 0.5))


def drawn_in_a_loop(w, x, seed):
    rng = np.random.default_rng(seed)
    t = 0.0
    for k in range(3):
        t = t + np.sum(w * rng.random(x.shape))
    return t


def dropout(w, x, seed):
    rng = np.random.default_rng(seed)
    mask = rng.random(x.shape) < 0.5
    noise = rng.normal(0.0, 0.1, size=x.shape[0])
    u = rng.uniform(-1.0, w[0], size=(2, 3))  # differentiable in its bounds
    z = rng.standard_normal()
    again = np.random.default_rng(seed).random(x.shape)  # a second generator: the same draws
    return (np.sum((w * x * mask) ** 2) + np.sum(noise * w) + np.sum(u ** 2) + z * w[1]
            + np.sum(again * w) + rng.normal(w[2], 2.0) * w[3])


def test_random_draws_inside_a_loss_are_numpys_and_reproducible():
    w, x = rand((4,), 1), rand((4,), 2)
    for seed in (7, 8):
        v, g = value_and_grad(dropout, jit=False)(w, x, seed)
        assert v == dropout(w, x, seed)  # the very numbers NumPy draws
        np.testing.assert_allclose(g, numerical_grad(dropout, (w, x, seed), 0), rtol=1e-7, atol=1e-9)
    assert value_and_grad(dropout, jit=False)(w, x, 7)[0] != value_and_grad(dropout, jit=False)(w, x, 8)[0]


def test_random_draws_compiled():
    w, x = rand((4,), 1), rand((4,), 2)
    gf = value_and_grad(dropout, jit=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        v, g = gf(w, x, 7)
    assert gf.compile_info["jit"] is True
    v0, g0 = value_and_grad(dropout, jit=False)(w, x, 7)
    assert v == v0 == dropout(w, x, 7)
    np.testing.assert_array_equal(g, g0)
    assert gf(w, x, 3)[0] == dropout(w, x, 3)


def test_random_draws_refused_where_not_reproducible():
    w, x = rand((3,), 1), rand((3,), 2)
    cases = ((legacy_random, (w, x), "global random state"), (unseeded, (w, x), "needs an int seed"),
             (drawn_in_a_loop, (w, x, 3), "inside a loop or a branch"))
    for fn, args, what in cases:
        with pytest.raises(AdjointError) as e:
            grad(fn, jit=False)(*args)
        assert "test_numpy_more.py" in str(e.value) and what in str(e.value)


def dropout_outside(w, x, mask):
    return np.sum((w * x * mask) ** 2) / np.mean(mask)


def test_a_draw_passed_in_as_data():
    w, x = rand((3,), 1), rand((3,), 2)
    mask = np.random.default_rng(5).random(3) < 0.5
    mask[0] = True
    g = grad(dropout_outside, jit=False)(w, x, mask)
    np.testing.assert_allclose(g, numerical_grad(dropout_outside, (w, x, mask), 0), rtol=1e-7, atol=1e-9)


def ufunc_methods(x):
    return (np.logaddexp.reduce(x, axis=1).sum() + np.logaddexp.reduce(x.ravel()) + np.sum(np.add.reduce(x) ** 2)
            + np.multiply.reduce(x, axis=None) + np.sum(np.maximum.reduce(x, axis=1, keepdims=True) * 2.0)
            + np.sum(np.minimum.reduce(x) ** 3) + np.sum(np.add.accumulate(x, axis=1) ** 2)
            + np.sum(np.multiply.accumulate(x) * 0.5) + np.sum(np.logaddexp.reduce(x, axis=None, keepdims=True)))


def test_ufunc_reduce_and_accumulate():
    check(ufunc_methods, (rand((3, 4), 50),))


def extras(x, a, u, v):
    y = np.where(np.isfinite(x), x, 0.0) + np.where(np.isnan(x), 1.0, 0.0) + np.where(np.isinf(x), 2.0, 0.0)
    return (np.sum(y ** 2) + np.count_nonzero(x > 0.0) * 1.0 + np.ptp(a) + np.sum(np.ptp(a, axis=0) ** 2)
            + np.vdot(a, a) + np.sum(np.cross(u, v) ** 2) + np.sum(np.cross(a, v) * 0.5)
            + np.sum(np.linalg.matrix_power(a, 3) ** 2) + np.sum(np.linalg.matrix_power(a, -2))
            + np.sum(np.linalg.matrix_power(a, 0)) + np.sum(np.column_stack((u, a)) ** 2))


def test_extras():
    x = np.array([1.0, np.nan, -np.inf, 2.0])
    args = (x, rand((3, 3), 60) + 2.0 * np.eye(3), rand((3,), 61), rand((3,), 62))
    with np.errstate(invalid="ignore"):
        v, gs = value_and_grad(extras, wrt=(1, 2, 3), jit=False)(*args)
        assert v == pytest.approx(extras(*args), rel=1e-12)
    for i, g in zip((1, 2, 3), gs):
        np.testing.assert_allclose(g, numerical_grad(extras, args, i), rtol=1e-6, atol=1e-6)


def pairs_loss(z, y):
    return np.sum(z[np.arange(z.shape[0]), y] ** 2)


def pairs_3d_loss(z, a, b):
    return np.sum(np.sin(z[:, a, b]))


def mask_beside_slice_loss(z, m):
    return np.sum(z[1:, m] ** 2)


@pytest.mark.parametrize("jit", [False, True])
def test_index_arrays_broadcast_and_masks_are_checked_as_numpy_does(jit):
    """Two index arrays broadcast (one of length 1), a 1-D mask beside other indices
    becomes its True entries after a check of its length: NumPy's values, or NumPy's
    IndexError (a RunError at the line), in both tiers."""
    from compiler.errors import RunError
    z = rand((3, 4), 11)
    for y in (np.array([2]), np.array([0, 3, 1]), np.array([True, False, True, True]),
              np.array([False, False, False, True])):
        v, g = value_and_grad(pairs_loss, jit=jit)(z, y)
        assert v == pairs_loss(z, y)
        np.testing.assert_allclose(g, numerical_grad(pairs_loss, (z, y), 0), atol=1e-8)
    for y in (np.array([0, 1]), np.array([True, False]), np.array([True] * 5),
              np.array([False, True, False, True])):
        with pytest.raises(IndexError):
            pairs_loss(z, y)
        with pytest.raises(RunError, match="IndexError"):
            value_and_grad(pairs_loss, jit=jit)(z, y)
    z3 = rand((2, 3, 4), 12)
    for a, b in ((np.array([1]), np.array([0, 3, 2])), (np.array([2, 0]), np.array([1]))):
        v, g = value_and_grad(pairs_3d_loss, jit=jit)(z3, a, b)
        assert v == pytest.approx(pairs_3d_loss(z3, a, b), rel=1e-14)
        np.testing.assert_allclose(g, autograd_grads(pairs_3d_loss, (z3, a, b), (0,))[0],
                                   rtol=1e-12)
    m = np.array([True, False, True, True])
    v, g = value_and_grad(mask_beside_slice_loss, jit=jit)(z, m)
    assert v == pytest.approx(mask_beside_slice_loss(z, m), rel=1e-14)
    with pytest.raises(RunError, match="IndexError"):
        value_and_grad(mask_beside_slice_loss, jit=jit)(z, m[:3])


def full_mask_read(x, m):
    return np.sum(x[m] ** 2)


def full_mask_write(y, m):
    z = y * 1.0
    z[m] = 0.0
    return np.sum(z ** 2)


def full_mask_copy(y, m):
    z = y * 1.0
    z[m] = y[m] * 3.0
    return np.sum(z ** 2)


@pytest.mark.parametrize("jit", [False, True])
def test_a_mask_of_another_shape_is_an_index_error_as_in_numpy(jit):
    """A boolean mask indexing a whole array must have its shape (NumPy: IndexError; a
    short mask was read from the flattened array, and np.where broadcast a (1, n) mask
    over every row of a write)."""
    from compiler.errors import RunError
    for fn, x, m in [(full_mask_read, np.arange(8.0), np.ones(7, bool)),
                     (full_mask_read, np.ones((3, 4)), np.ones((3, 3), bool)),
                     (full_mask_write, np.ones((3, 4)), np.ones((1, 4), bool)),
                     (full_mask_copy, np.ones(8), np.ones(7, bool))]:
        with pytest.raises(IndexError):
            fn(x, m)
        with pytest.raises(RunError, match="IndexError"):
            value_and_grad(fn, jit=jit)(x, m)
    for fn, x, m in [(full_mask_read, np.arange(8.0), np.arange(8) % 2 == 0),
                     (full_mask_write, rand((3, 4), 3), np.eye(3, 4, dtype=bool)),
                     (full_mask_copy, np.arange(4.0), np.array([True, False, True, False]))]:
        v, g = value_and_grad(fn, jit=jit)(x, m)
        assert v == pytest.approx(fn(x, m), rel=1e-14)
        np.testing.assert_allclose(g, numerical_grad(fn, (x, m), 0), atol=1e-7)
