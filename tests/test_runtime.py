"""runtime: stable functions, kernels, SGD, check_grad and the compiled training loop."""
import numpy as np
import pytest

from compiler import grad, value_and_grad
from models import four_layer, hinge, squared
from runtime.check import check_grad, numerical_grad
from runtime.functions import logsumexp, relu, sigmoid, softplus
from runtime.kernels import broadcast_like, tie_weight, unbroadcast
from runtime.optim import SGD, sgd_update
from runtime.train import fit


def test_sigmoid_is_stable_at_extremes():
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        assert sigmoid(-800.0) == 0.0 and sigmoid(800.0) == 1.0
        np.testing.assert_allclose(sigmoid(np.array([-1.0, 0.0, 2.0])),
                                   1 / (1 + np.exp(-np.array([-1.0, 0.0, 2.0]))), rtol=1e-15)
    def f(x):
        return sigmoid(x)
    assert grad(f)(-800.0) == 0.0  # finite, no NaN


def test_softplus_relu_logsumexp_values():
    assert softplus(1000.0) == 1000.0 and softplus(-1000.0) == 0.0
    assert softplus(0.0) == pytest.approx(np.log(2.0), rel=1e-15)
    np.testing.assert_array_equal(relu(np.array([-1.0, 0.0, 2.0])), [0.0, 0.0, 2.0])
    assert logsumexp(np.array([1000.0, 1000.0])) == pytest.approx(1000 + np.log(2), rel=1e-15)


def lse(x):
    return logsumexp(x)


def sp(x):
    return np.sum(softplus(x) + relu(x))


@pytest.mark.parametrize("jit", [True, False])
def test_logsumexp_gradient_is_softmax_even_at_1000(jit):
    np.testing.assert_allclose(grad(lse, jit=jit)(np.array([1000.0, 1000.0])), [0.5, 0.5])


def test_softplus_and_relu_gradients():
    x = np.array([-2.0, 0.0, 3.0])
    np.testing.assert_allclose(grad(sp, jit=False)(x), sigmoid(x) + np.array([0.0, 0.0, 1.0]))


def test_kernels():
    np.testing.assert_array_equal(tie_weight(np.array([1.0, 2.0, 3.0]), 2.0), [0.0, 0.5, 1.0])
    g = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(unbroadcast(g, np.ones(3)), [3.0, 5.0, 7.0])
    np.testing.assert_array_equal(unbroadcast(g, np.ones((2, 1))), [[3.0], [12.0]])
    assert unbroadcast(g, 1.0) == 15.0
    np.testing.assert_array_equal(broadcast_like(np.array([1.0, 2.0]), np.ones((3, 2))),
                                  [[1.0, 2.0]] * 3)


def test_sgd_update_follows_the_lecture():
    p, g = np.array([1.0, 2.0]), np.array([0.5, -1.0])
    sgd_update(p, g, np.zeros((0, 2)), np.array([0.1]), 0)
    np.testing.assert_allclose(p, [0.95, 2.1], rtol=1e-15)
    with pytest.raises(ValueError, match="positive"):
        SGD(-0.1)


def test_check_grad_reports_tiny_errors_for_adjoint_and_large_for_a_wrong_gradient():
    args = (np.array([3.0, 1.0]), np.array([1.0, 2.0]), 2.0)
    assert check_grad(squared, args, wrt="w")["w"] < 1e-8
    wrong = lambda w, phi, y: 2 * w  # noqa: E731
    assert check_grad(squared, args, wrt="w", grad_fn=wrong)["w"] > 0.5
    np.testing.assert_allclose(numerical_grad(squared, args, 0), [6.0, 12.0], rtol=1e-8)


def _data(n=64, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, np.tanh(X @ np.array([1.0, -2.0, 0.5]))


def _params(d=3, k=4, seed=1):
    rng = np.random.default_rng(seed)
    return dict(V1=rng.normal(size=(k, d)), V2=rng.normal(size=(k, k)) * 0.5,
                V3=rng.normal(size=(k, k)) * 0.5, w=rng.normal(size=k))


def test_compiled_and_plain_training_agree_to_1e12():
    X, y = _data()
    a = fit(value_and_grad(four_layer, wrt=("V1", "V2", "V3", "w")), _params(), (X, y),
            SGD(0.05), epochs=1, seed=3, verbose=False)
    b = fit(value_and_grad(four_layer, wrt=("V1", "V2", "V3", "w"), jit=False), _params(),
            (X, y), SGD(0.05), epochs=1, seed=3, verbose=False)
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=0, atol=1e-12)
    assert a.loss == pytest.approx(b.loss, rel=1e-12)


def test_training_matches_a_python_loop_of_sgd_steps():
    X, y = _data(n=16)
    p0 = _params()
    got = fit(value_and_grad(four_layer, wrt=("V1", "V2", "V3", "w")), p0, (X, y), SGD(0.1),
              epochs=2, shuffle=False, verbose=False).params
    g = grad(four_layer, wrt=("V1", "V2", "V3", "w"), jit=False)
    p = {k: v.copy() for k, v in p0.items()}
    for _ in range(2):
        for i in range(len(y)):
            for k, gk in zip(p, g(X[i], y[i], *p.values())):
                p[k] -= 0.1 * gk
    for k in p:
        np.testing.assert_allclose(got[k], p[k], rtol=1e-12)


def test_training_reduces_the_loss():
    X, y = _data(n=200)
    r = fit(value_and_grad(four_layer, wrt=("V1", "V2", "V3", "w")), _params(), (X, y),
            SGD(0.05), epochs=30, verbose=False)
    assert r.loss[-1] < 0.1 * r.loss[0]
    assert r.compile_seconds > 0 and len(r.epoch_seconds) == 30


def test_fit_rejects_bad_input():
    X, y = _data()
    vg = value_and_grad(four_layer, wrt=("V1", "V2", "V3", "w"))
    with pytest.raises(ValueError, match="examples"):
        fit(vg, _params(), (X, y[:-1]), verbose=False)
    with pytest.raises(ValueError, match="do not match"):
        fit(vg, {"V1": 1}, (X, y), verbose=False)
    Xn = X.copy()
    Xn[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        fit(vg, _params(), (Xn, y), verbose=False)
    with pytest.raises(ValueError, match="data argument"):
        fit(vg, _params(), (X,), verbose=False)
    with pytest.raises(ValueError, match="scalar"):
        fit(value_and_grad(hinge, wrt="y"), {"y": 1.0}, (X, X), verbose=False)
