"""One policy at non-differentiable points, whatever the spelling (README, "Kinks and
NaN safety"): ties in max/maximum/min/minimum/clip split the cotangent evenly; `where`
and boolean masks send it to the selected entries only; abs'(0) = 0, relu'(0) = 0,
norm'(0) = 0, sign' = 0. And masked-out branches never leak NaN into the gradient:
d/dx where(x > 0, sqrt(x), 0) at x = 0 is 0 (autograd, JAX and PyTorch give NaN).
Every expected value is written out."""
import math
import warnings

import numpy as np
import pytest

from compiler import grad
from oracles import autograd_grads
from runtime.functions import relu


def g(fn, *args, wrt=0, jit=False):
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy mode computes masked NaNs
        return grad(fn, wrt=wrt, jit=jit)(*args)


# ---- ties split evenly --------------------------------------------------------------
def np_maximum(x):
    return np.sum(np.maximum(x, 0.0))


def np_minimum(x):
    return np.sum(np.minimum(x, 1.0))


def builtin_max(x):
    return max(x, 0.0) + min(x, 1.0)


def np_max(x):
    return np.max(x)


def method_min(x):
    return x.min()


def np_amax_axis(x):
    return np.sum(np.amax(x, axis=0))


def max_keepdims_tuple(x):
    return np.sum(np.max(x, axis=(0, 1), keepdims=True))


def clip(x):
    return np.sum(np.clip(x, 0.0, 1.0))


def method_clip(x):
    return np.sum(x.clip(min=0.0))


def maximum_of_two(a, b):
    return np.maximum(a, b)


@pytest.mark.parametrize("fn,x,want", [
    (np_maximum, [-1.0, 0.0, 2.0], [0.0, 0.5, 1.0]),
    (np_minimum, [0.0, 1.0, 2.0], [1.0, 0.5, 0.0]),
    (np_max, [1.0, 3.0, 3.0, 3.0], [0.0, 1 / 3, 1 / 3, 1 / 3]),
    (method_min, [2.0, -1.0, 5.0, -1.0], [0.0, 0.5, 0.0, 0.5]),
    (np_amax_axis, [[1.0, 3.0], [1.0, 2.0]], [[0.5, 1.0], [0.5, 0.0]]),
    (max_keepdims_tuple, [[2.0, 1.0], [2.0, 2.0]], [[1 / 3, 0.0], [1 / 3, 1 / 3]]),
    (clip, [0.0, 0.5, 1.0, 2.0], [0.5, 1.0, 0.5, 0.0]),
    (method_clip, [-1.0, 0.0, 1.0], [0.0, 0.5, 1.0]),
], ids=lambda v: getattr(v, "__name__", ""))
def test_ties_split_evenly(fn, x, want):
    np.testing.assert_allclose(g(fn, np.array(x)), want, rtol=1e-15)


def test_ties_between_two_arguments_and_builtins():
    assert g(maximum_of_two, 2.0, 2.0, wrt=(0, 1)) == (0.5, 0.5)
    assert g(maximum_of_two, 3.0, 2.0, wrt=(0, 1)) == (1.0, 0.0)
    assert g(builtin_max, 0.0) == 0.5 + 1.0
    assert g(builtin_max, 1.0) == 1.0 + 0.5


# ---- selections: where and masks ------------------------------------------------------
def where_gt(x):
    return np.sum(np.where(x > 0, x, 0.0))


def where_ge(x):
    return np.sum(np.where(x >= 0, x, 0.0))


def where_both_branches(x):
    return np.sum(np.where(x > 0, 2.0 * x, -3.0 * x))


def mask_read(x):
    return np.sum(x[x > 0])


def mask_write(x):
    y = x * 1.0
    y[x <= 0] = 0.0
    return np.sum(y)


@pytest.mark.parametrize("fn,want", [(where_gt, [0.0, 0.0, 1.0]), (where_ge, [0.0, 1.0, 1.0]),
                                     (where_both_branches, [-3.0, -3.0, 2.0]),
                                     (mask_read, [0.0, 0.0, 1.0]), (mask_write, [0.0, 0.0, 1.0])],
                         ids=lambda v: getattr(v, "__name__", ""))
def test_selection_sends_the_cotangent_to_the_selected_branch_only(fn, want):
    np.testing.assert_array_equal(g(fn, np.array([-1.0, 0.0, 2.0])), want)


# ---- abs, relu, norm, sign at 0 ---------------------------------------------------
def abs_spellings(x):
    return np.sum(np.abs(x)) + np.sum(np.absolute(x)) + np.sum(np.fabs(x)) + abs(x[0]) + math.fabs(x[1])


def relu_(x):
    return np.sum(relu(x))


def norm(x):
    return np.linalg.norm(x)


def sign(x):
    return np.sum(np.sign(x))


def test_abs_relu_norm_sign_at_zero():
    np.testing.assert_array_equal(g(abs_spellings, np.array([0.0, 0.0, -2.0])), [0.0, 0.0, -3.0])
    np.testing.assert_array_equal(g(relu_, np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 1.0])
    np.testing.assert_array_equal(g(norm, np.zeros(3)), [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(g(norm, np.zeros((2, 2))), np.zeros((2, 2)))
    np.testing.assert_allclose(g(norm, np.array([3.0, 4.0])), [0.6, 0.8], rtol=1e-15)
    np.testing.assert_array_equal(g(sign, np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 0.0])


# ---- NaN safety: masked branches do not leak ---------------------------------------------
def where_sqrt(x):
    return np.sum(np.where(x > 0, np.sqrt(x), 0.0))


def where_xlogx(x):
    return np.sum(np.where(x > 0, x * np.log(x), 0.0))


def where_sqrt_1mx(x):
    return np.sum(np.where(x < 1, np.sqrt(1.0 - x), 0.0))


def sinc(x):
    return np.sum(np.where(x != 0, np.sin(x) / x, 1.0))


def where_pow(x):
    return np.sum(np.where(x > 0, x ** 0.5, 0.0))


def nested_where(x):
    return np.sum(np.where(x > 0, np.where(x < 4, np.sqrt(x) * np.log(x), 0.0), 0.0))


def relu_log(x):
    return np.sum(relu(np.log(x)))


def mask_write_sqrt(x):
    y = np.sqrt(x)
    y[x <= 0] = 0.0
    return np.sum(y)


def where_times_weight(x, w):
    return np.sum(np.where(x > 0, np.log(x) * w, 0.0))


@pytest.mark.parametrize("fn,x,want", [
    (where_sqrt, [0.0, -1.0, 4.0], [0.0, 0.0, 0.25]),
    (where_xlogx, [0.0, -1.0, 1.0], [0.0, 0.0, 1.0]),          # d/dx x log x = log x + 1
    (where_sqrt_1mx, [1.0, 2.0, 0.75], [0.0, 0.0, -1.0]),      # -1 / (2 sqrt(1 - x))
    (sinc, [0.0, math.pi], [0.0, -1 / math.pi]),                # (x cos x - sin x) / x^2
    (where_pow, [0.0, -4.0, 4.0], [0.0, 0.0, 0.25]),
    (nested_where, [0.0, 5.0, 1.0], [0.0, 0.0, 1.0]),           # sqrt(x) log x: 0 + 1 at 1
    (relu_log, [0.0, -1.0, 1.0, math.e], [0.0, 0.0, 0.0, 1 / math.e]),
    (mask_write_sqrt, [0.0, -1.0, 4.0], [0.0, 0.0, 0.25]),
], ids=lambda v: getattr(v, "__name__", ""))
def test_masked_branches_do_not_leak_nan(fn, x, want):
    got = g(fn, np.array(x))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)


def test_masked_nan_does_not_reach_another_argument():
    # log(x) * w is NaN or -inf where x <= 0; the mask keeps it from both gradients
    gx, gw = g(where_times_weight, np.array([-1.0, 0.0, math.e]), 5.0, wrt=(0, 1))
    np.testing.assert_allclose(gx, [0.0, 0.0, 5.0 / math.e], rtol=1e-15)
    assert gw == 1.0


def test_autograd_gives_nan_where_we_give_zero():
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        theirs = autograd_grads(where_sqrt, (np.array([0.0, 4.0]),), (0,))[0]
    assert np.isnan(theirs[0]) and theirs[1] == 0.25
    np.testing.assert_array_equal(g(where_sqrt, np.array([0.0, 4.0])), [0.0, 0.25])


def zero_base_power(x, y):
    return np.sum(x ** y)


def test_power_with_a_zero_base_has_a_zero_exponent_gradient():
    # d/dy 0 ** y = 0 ** y log 0 -> 0 (y > 0), not 0 * -inf
    np.testing.assert_array_equal(g(zero_base_power, np.array([0.0, 2.0]), np.array([2.0, 3.0]),
                                    wrt=1), [0.0, 8.0 * math.log(2.0)])


# ---- the same policy compiled by Numba -------------------------------------------------
def all_kinks(x):
    return (np.sum(np.maximum(x, 0.0)) + np.max(x) + np.sum(np.clip(x, 0.0, 1.0))
            + np.sum(np.where(x > 0, np.sqrt(x), 0.0)) + np.sum(np.abs(x)) + np.sum(relu(x))
            + np.sum(np.where(x != 0, np.sin(x) / x, 1.0)) + np.linalg.norm(x * 0.0 + x[1]))


def test_the_policy_compiled_by_numba():
    x = np.array([0.0, 0.0, 1.0, 1.0, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback to NumPy
        got = grad(all_kinks, jit=True)(x)
    # maximum(x, 0): [.5, .5, 1, 1, 0]; max: ties at 1 -> [0, 0, .5, .5, 0];
    # clip(x, 0, 1): [.5, .5, .5, .5, 0]; where-sqrt: [0, 0, .5, .5, 0]; abs: [0, 0, 1, 1, -1];
    # relu: [0, 0, 1, 1, 0]; sinc: [0, 0, cos 1 - sin 1, same, -(cos 1 - sin 1)];
    # norm of a zero vector (x[1] = 0): 0
    s = math.cos(1.0) - math.sin(1.0)
    want = [1.0, 1.0, 4.5 + s, 4.5 + s, -1.0 - s]
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(got, g(all_kinks, x), rtol=1e-14, atol=1e-15)


# ---- x ** 0 and std over equal values (issue 15, sec. 2) ---------------------------------
def pow_zero(x):
    return np.sum(x ** 0)


def pow_n(x, n):
    return np.sum(x ** n)


def np_power(x, y):
    return np.sum(np.power(x, y))


def std_all(x):
    return np.std(x)


def std_rows(x):
    return np.sum(np.std(x, axis=1) * np.array([1.0, 2.0]))


def method_std_ddof_keepdims(x):
    return np.sum(x.std(axis=(0, 1), ddof=1, keepdims=True))


def var_rows(x):
    return np.sum(x.var(axis=-1))


def values_and_grads(fn, args, wrt, jit):
    from compiler import value_and_grad
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # no 0 * inf computed on the way
        return value_and_grad(fn, wrt=wrt, jit=jit)(*args)


@pytest.mark.parametrize("jit", [False, True])
def test_power_zero_at_zero_has_zero_gradient(jit):
    x = np.array([0.0, 1.0, -2.0])
    v, gx = values_and_grads(pow_zero, (x,), 0, jit)
    assert v == 3.0                                     # 0.0 ** 0 = 1, as NumPy
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0])
    v, gx = values_and_grads(pow_n, (x, 0), 0, jit)    # a run-time int exponent
    assert v == 3.0
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0])
    v, (gx, gn) = values_and_grads(pow_n, (np.array([0.0, 1.0, 2.0]), 0.0), (0, 1), jit)
    assert v == 3.0
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0])
    assert gn == math.log(2.0)                          # 0 from the base 0, 0 from log 1
    v, gx = values_and_grads(pow_n, (np.array([0.0, 2.0]), 3), 0, jit)
    assert v == 8.0
    np.testing.assert_array_equal(gx, [0.0, 12.0])     # 3 x ** 2
    # array exponents: d/dx = y x ** (y - 1), 0 where y == 0; d/dy = x ** y log x, 0 at x = 0
    v, (gx, gy) = values_and_grads(np_power, (np.array([0.0, 3.0, 0.0, 2.0]),
                                              np.array([0.0, 0.0, 2.0, 3.0])), (0, 1), jit)
    assert v == 1.0 + 1.0 + 0.0 + 8.0
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0, 12.0])
    np.testing.assert_allclose(gy, [0.0, math.log(3.0), 0.0, 8.0 * math.log(2.0)], rtol=1e-15)


@pytest.mark.parametrize("jit", [False, True])
def test_std_over_equal_values_has_zero_gradient(jit):
    v, gx = values_and_grads(std_all, (np.full(3, 2.0),), 0, jit)
    assert v == 0.0
    np.testing.assert_array_equal(gx, [0.0, 0.0, 0.0])
    # a row of equal values beside a row that is not: d std / dx = (x - mean) / (n std)
    x = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]])
    v, gx = values_and_grads(std_rows, (x,), 0, jit)
    s = math.sqrt(2.0 / 3.0)
    assert v == pytest.approx(2.0 * s, rel=1e-15)
    np.testing.assert_allclose(gx, [[0.0, 0.0, 0.0], [-2.0 / (3 * s), 0.0, 2.0 / (3 * s)]],
                               rtol=1e-15)
    assert np.all(gx[0] == 0.0)
    v, gx = values_and_grads(method_std_ddof_keepdims, (np.full((2, 2), -1.5),), 0, jit)
    assert v == 0.0
    np.testing.assert_array_equal(gx, np.zeros((2, 2)))
    v, gx = values_and_grads(var_rows, (x,), 0, jit)   # var'(x) = 2 (x - mean) / n: 0 here
    assert v == pytest.approx(2.0 / 3.0, rel=1e-15)
    np.testing.assert_allclose(gx, [[0.0, 0.0, 0.0], [-2 / 3, 0.0, 2 / 3]], rtol=1e-15)


@pytest.mark.parametrize("jit", [False, True])
def test_power_and_std_match_finite_differences_away_from_the_kink(jit):
    from runtime.check import check_grad
    rng = np.random.default_rng(7)
    x = rng.uniform(0.5, 2.0, size=4)
    cases = [(pow_n, (x, 2.5), (0, 1)), (pow_n, (x, 0.0), (0, 1)), (pow_n, (x, -1.5), (0, 1)),
             (np_power, (x, rng.uniform(-1.0, 3.0, size=4)), (0, 1)),
             (std_all, (x,), 0), (std_rows, (rng.normal(size=(2, 5)),), 0),
             (method_std_ddof_keepdims, (rng.normal(size=(3, 2)),), 0)]
    for fn, args, wrt in cases:
        from compiler import grad as grad_
        errors = check_grad(fn, args, wrt, grad_fn=grad_(fn, wrt=wrt, jit=jit))
        assert max(errors.values()) < 1e-6, (fn.__name__, args, errors)
