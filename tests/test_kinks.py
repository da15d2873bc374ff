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
