"""The Python a loss really contains (issue 14): local `def`/`lambda` (inlined, closures
late-bound), chained assignment, list/tuple/dict literals as values and as indices,
bound methods, keyword-only parameters, annotated assignments, `assert` (dropped, as
`python -O` does), and the errors of a bad call. Gradients against autograd and
central differences, with `jit` on and off."""
import numpy as np
import pytest

import construct_code as cc
from compiler import grad, value_and_grad
from compiler.errors import ArgumentError, UnsupportedError
from oracles import assert_grads_match
from runtime.check import numerical_grad

JITS = [False, True]
RNG = np.random.default_rng(0)
X3 = RNG.standard_normal(3)


@pytest.mark.parametrize("jit", JITS)
@pytest.mark.parametrize("fn, args", [
    (cc.local_def, (X3, 0.7)),
    (cc.local_def_late_binding, (X3,)),
    (cc.local_def_calls_local_def, (X3,)),
    (cc.local_lambda, (X3, 0.7)),
    (cc.local_def_in_loop, (X3,)),
    (cc.chained, (X3,)),
    (cc.list_of_arrays, (X3,)),
    (cc.list_index, (X3,)),
], ids=lambda v: getattr(v, "__name__", ""))
def test_constructs_against_autograd_and_differences(fn, args, jit):
    wrt = tuple(i for i, a in enumerate(args) if not isinstance(a, int))
    assert_grads_match(fn, args, wrt, jit)


@pytest.mark.parametrize("jit", JITS)
def test_scalar_constructs(jit):
    """Functions of scalars (autograd's np.sum of a list of boxes differs, so central
    differences and the closed forms)."""
    a = 1.3
    g = grad(cc.chained_scalar, jit=jit)(a)
    assert g == pytest.approx(2 * a + 3 * a * a, rel=1e-12)  # u + v*a = a^2 + a^3
    g = grad(cc.list_values, jit=jit)(a)
    # 1 + a^2 + 2 + 1*a + 3a + a*2a + 2a  ->  2a + 1 + 3 + 4a + 2
    assert g == pytest.approx(2 * a + 1 + 3 + 4 * a + 2, rel=1e-12)
    assert g == pytest.approx(numerical_grad(cc.list_values, (a,), 0), rel=1e-7)
    for i in range(3):
        ga, gb, gc = grad(cc.runtime_index_into_tuple, wrt=(0, 1, 2), jit=jit)(1.0, 2.0, 3.0, i)
        np.testing.assert_allclose([ga, gb, gc], np.eye(3)[i] * 2 * (i + 1.0))
    ga, gb = grad(cc.dict_literal, wrt=(0, 1), jit=jit)(1.5, -0.5)
    assert (ga, gb) == (pytest.approx(2 * -0.5 + -0.5), pytest.approx(2 * 1.5 + 1.5))
    g = grad(cc.dict_to_helper, jit=jit)((1.5, -0.5, 2.0))
    assert isinstance(g, tuple) and g == pytest.approx((-0.5, 1.5, 1.0))


def test_local_functions_read_as_python_means_them():
    """Late binding: the closure sees c = 3.0, the value when it is called."""
    x = X3
    g = grad(cc.local_def_late_binding, jit=False)(x)
    np.testing.assert_allclose(g, 2 * 9.0 * x)
    with pytest.raises(UnsupportedError, match="recursive call to `f`") as e:
        grad(cc.local_recursion, jit=False)(x)
    assert "construct_code.py:" in str(e.value)


@pytest.mark.parametrize("jit", JITS)
def test_bound_methods(jit):
    W = RNG.standard_normal((2, 3))
    m = cc.Model(W)
    w, x = RNG.standard_normal(2), RNG.standard_normal(3)
    gw, gx = grad(m.loss, wrt=(0, 1), jit=jit)(w, x)
    np.testing.assert_allclose(gw, numerical_grad(m.loss, (w, x), 0), rtol=1e-6)
    np.testing.assert_allclose(gx, numerical_grad(m.loss, (w, x), 1), rtol=1e-6)
    g = grad(m.loss_kw, jit=jit)
    np.testing.assert_allclose(g(x, scale=2.0), 2.0 * g(x), rtol=1e-12)
    # `self`'s arrays are read as constants and re-checked each call, like globals
    dl = grad(m.loss, jit=jit)
    before = dl(w, x)
    m.W = W * 2.0
    np.testing.assert_allclose(dl(w, x), numerical_grad(m.loss, (w, x), 0), rtol=1e-6)
    assert not np.allclose(before, dl(w, x))


@pytest.mark.parametrize("jit", JITS)
def test_keyword_only_annotations_and_assert(jit):
    x = X3
    g = grad(cc.kwonly, jit=jit)
    np.testing.assert_allclose(g(x, shift=1.0), np.full(3, 2.0))
    np.testing.assert_allclose(g(x, k=3.0, shift=1.0), np.full(3, 3.0))
    v, _ = value_and_grad(cc.kwonly, jit=jit)(x, k=3.0, shift=1.5)
    assert v == pytest.approx(cc.kwonly(x, k=3.0, shift=1.5))
    dk = grad(cc.kwonly, wrt="k", jit=jit)(x, k=3.0, shift=1.5)
    assert dk == pytest.approx(np.sum(x))
    # assert is dropped from the generated code (as python -O does): no check at run time
    np.testing.assert_allclose(grad(cc.with_assert, jit=jit)(np.arange(4.0)), 2 * np.arange(4.0))


def test_call_errors_name_the_keyword_and_the_def_line():
    g = grad(cc.kwonly, jit=False)
    with pytest.raises(ArgumentError, match="unexpected keyword argument 'shfit'") as e:
        g(X3, shfit=1.0)
    assert "construct_code.py:" in str(e.value) and "x, k, shift" in str(e.value)
    with pytest.raises(ArgumentError, match="too many positional arguments") as e:
        g(X3, 2.0, 1.0)  # k and shift are keyword-only
    assert "construct_code.py:" in str(e.value)
    with pytest.raises(ArgumentError, match="missing a required argument: 'shift'"):
        g(X3)
    h = grad(cc.with_default, jit=False)
    with pytest.raises(ArgumentError, match="too many positional arguments") as e:
        h(X3, X3, 2.0, 1.0)
    assert "construct_code.py:" in str(e.value)
    np.testing.assert_allclose(h(X3, X3), 2 * (2 * X3 - X3) * 2)


@pytest.mark.parametrize("jit", JITS)
def test_loops_over_tuples_and_lists(jit):
    from tangent_corpus import central_differences
    rng = np.random.default_rng(3)
    layers = [(rng.standard_normal((4, 3)), rng.standard_normal(4)),
              (rng.standard_normal((2, 4)), rng.standard_normal(2))]
    x = rng.standard_normal(3)
    g = grad(cc.loop_over_layers, jit=jit)(layers, x)
    ref = central_differences(cc.loop_over_layers, (layers, x), 0)
    for (gW, gb), (rW, rb) in zip(g, ref):
        np.testing.assert_allclose(gW, rW, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(gb, rb, rtol=1e-6, atol=1e-8)
    assert grad(cc.loop_over_literal, jit=jit)(1.5) == pytest.approx(3.0 + 2 * 1.5)
    # a loop over a dict's keys is unrolled too (Python's order: insertion)
    g = grad(cc.loop_over_dict, jit=jit)({"b": 1.0, "a": 2.0})
    assert g == {"b": 1.0, "a": 1.0} and list(g) == ["b", "a"]
