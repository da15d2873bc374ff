"""Custom adjoint rules (compiler.custom_vjp / defvjp) and stop_gradient: the rule is
used instead of differentiating the body, in NumPy mode and compiled by Numba; errors
name the user's file and line."""
import math

import numpy as np
import pytest

from compiler import CustomVJP, custom_vjp, grad, stop_gradient, value_and_grad
from compiler.errors import ArgumentError, NameResolutionError, UnsupportedError
from runtime.functions import sigmoid


@custom_vjp
def clip_gradient(x):
    return x


@clip_gradient.defvjp
def clip_gradient_vjp(g, ans, x):
    return np.clip(g, -1.0, 1.0)


def uses_clip_gradient(x):
    return np.sum(clip_gradient(x) * np.array([0.5, 3.0, -7.0]))


@pytest.mark.parametrize("jit", [False, True])
def test_the_rule_replaces_the_derivative(jit):
    value, g = value_and_grad(uses_clip_gradient, jit=jit)(np.ones(3))
    assert value == 0.5 + 3.0 - 7.0
    np.testing.assert_array_equal(g, [0.5, 1.0, -1.0])


@custom_vjp
def naive_softplus(x):
    return np.log(1.0 + np.exp(x))


@naive_softplus.defvjp
def naive_softplus_vjp(g, ans, x):
    return g * sigmoid(x)


def loss_naive_softplus(x):
    return np.sum(naive_softplus(x))


def loss_uncorrected(x):
    return np.sum(np.log(1.0 + np.exp(x)))


def test_a_stable_rule_for_an_unstable_body():
    x = np.array([-1.0, 0.0, 800.0])
    with np.errstate(over="ignore", invalid="ignore"):
        plain = grad(loss_uncorrected, jit=False)(x)   # exp(800)/(1 + exp(800)) = inf/inf
        ours = grad(loss_naive_softplus, jit=False)(x)
    assert np.isnan(plain[2])
    np.testing.assert_allclose(ours, [1 / (1 + math.e), 0.5, 1.0], rtol=1e-15)


def weighted(a, b, w):
    return a * b * w


def weighted_vjp_a(g, ans, a, b, w):
    return g * b * w


def weighted_vjp_b(g, ans, a, b, w):
    return 2.0 * g * a * w       # deliberately twice the true derivative


weighted_cv = custom_vjp(weighted, vjp=(weighted_vjp_a, weighted_vjp_b, None))


def uses_weighted(a, b, w):
    return np.sum(weighted_cv(a, b, w) + weighted_cv(b, b=a, w=w))


def test_one_rule_per_argument_and_none_for_no_gradient():
    a, b, w = np.array([1.0, 2.0]), np.array([3.0, -1.0]), 0.5
    ga, gb, gw = grad(uses_weighted, wrt=(0, 1, 2), jit=False)(a, b, w)
    # first call: d/da = b w, d/db = 2 a w; second call swaps the roles of a and b
    np.testing.assert_allclose(ga, b * w + 2 * b * w, rtol=1e-15)
    np.testing.assert_allclose(gb, 2 * a * w + a * w, rtol=1e-15)
    assert gw == 0.0
    assert isinstance(weighted_cv, CustomVJP) and weighted_cv(2.0, 3.0, 0.5) == 3.0


@custom_vjp
def total(x):
    return np.sum(x)


@total.defvjp
def total_vjp(g, ans, x):
    return g * 3.0               # a scalar: broadcast to x's shape


@custom_vjp
def spread(s):
    return s * np.ones(3)


@spread.defvjp
def spread_vjp(g, ans, s):
    return g * 2.0               # an array: summed to the scalar s


def uses_shapes(x, s):
    return total(x) + np.sum(spread(s) * np.array([1.0, 2.0, 3.0]))


def test_rule_results_are_brought_to_the_argument_shape():
    gx, gs = grad(uses_shapes, wrt=(0, 1), jit=False)(np.ones((2, 2)), 1.5)
    np.testing.assert_array_equal(gx, np.full((2, 2), 3.0))
    assert gs == 2.0 * (1.0 + 2.0 + 3.0)


def test_rules_are_inlined_into_readable_source():
    g = grad(uses_clip_gradient, jit=False)
    g(np.ones(3))
    src = g.source
    assert "np.minimum(np.maximum(" in src and "# grad of test_custom.py:21: return np.clip" in src


def test_stop_gradient():
    def f(x):
        return np.sum(x * stop_gradient(x))

    def straight_through(x):
        q = x + stop_gradient(np.sign(x) - x)   # forward: sign(x); backward: identity
        return np.sum(q * np.array([1.0, 2.0]))
    np.testing.assert_array_equal(grad(f, jit=False)(np.array([2.0, -3.0])), [2.0, -3.0])
    v, g = value_and_grad(straight_through, jit=False)(np.array([0.3, -0.2]))
    assert v == 1.0 - 2.0
    np.testing.assert_array_equal(g, [1.0, 2.0])
    assert stop_gradient(4.0) == 4.0


# ---- errors ------------------------------------------------------------------------------
def no_rules_yet(x):
    return x


no_rules = custom_vjp(no_rules_yet)


def calls_no_rules(x):
    return no_rules(x) * 2.0   # line 151


exec_made = {}
exec("def made_by_exec(x):\n    return x\n", exec_made)
made_by_exec = exec_made["made_by_exec"]


def calls_made_by_exec(x):
    return made_by_exec(x) * 2.0   # line 160


def test_errors_name_the_file_line_and_fix():
    with pytest.raises(ArgumentError, match=r"one rule per argument, got 2") as e:
        clip_gradient.defvjp(clip_gradient_vjp, clip_gradient_vjp)
    assert "test_custom.py:15" in str(e.value)
    with pytest.raises(ArgumentError, match=r"a rule of .*weighted takes 5") as e:
        custom_vjp(weighted, vjp=(weighted_vjp_a, total_vjp, None))
    with pytest.raises(UnsupportedError, match=r"without rules") as e:
        grad(calls_no_rules)(1.0)
    assert "test_custom.py:151" in str(e.value) and "defvjp" in str(e.value)
    with pytest.raises(NameResolutionError) as e:
        grad(calls_made_by_exec)(1.0)
    msg = str(e.value)
    assert "test_custom.py:160" in msg and "made_by_exec" in msg and "source" in msg
    assert "custom_vjp" in msg and "defvjp" in msg


def helper_in_rule(x):
    return x * 2.0


@custom_vjp
def twice(x):
    return x * 2.0


@twice.defvjp
def twice_vjp(g, ans, x):
    return helper_in_rule(g) + twice(g) * 0.0   # rules may call functions, custom ones too


def nested(x):
    return np.sum(twice(twice(x)))


@pytest.mark.parametrize("jit", [False, True])
def test_nested_custom_calls_and_helpers_in_rules(jit):
    np.testing.assert_array_equal(grad(nested, jit=jit)(np.array([1.0, -2.0])), [4.0, 4.0])
