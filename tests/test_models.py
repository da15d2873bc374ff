"""Whole losses written for NumPy, differentiated unchanged: softmax regression with
cross-entropy on a minibatch with integer labels (the runtime function, and spelled out
with X[np.arange(n), y]), logistic regression, a two-layer MLP with biases over a
minibatch, a Gaussian negative log-likelihood with learned mean and log-variance. Each
against autograd and central differences (several seeds, NumPy mode) and compiled by
Numba once."""
import numpy as np
import pytest

from compiler import grad, value_and_grad
from oracles import assert_grads_match
from runtime.functions import cross_entropy, log_sigmoid, relu


def softmax_regression(W, b, X, y):
    return cross_entropy(X @ W + b, y)


def softmax_regression_spelled_out(W, b, X, y):
    logits = X @ W + b[None, :]
    z = logits - np.max(logits, axis=1, keepdims=True)
    log_p = z - np.log(np.sum(np.exp(z), axis=1, keepdims=True))
    n = X.shape[0]
    return -np.mean(log_p[np.arange(n), y]) + 1e-3 * np.sum(W ** 2)


def logistic_regression(w, b, X, y):
    s = X @ w + b
    return -np.mean(y * log_sigmoid(s) + (1.0 - y) * log_sigmoid(-s))


def mlp(W1, b1, W2, b2, X, Y):
    h = np.tanh(X @ W1 + b1)
    out = relu(h @ W2 + b2)
    return np.mean((out - Y) ** 2)


def gaussian_nll(Wm, bm, Wv, bv, X, y):
    mu = X @ Wm + bm
    log_var = X @ Wv + bv
    return np.mean(0.5 * (log_var + (y - mu) ** 2 * np.exp(-log_var) + np.log(2 * np.pi)))


def _data(seed, n=6, d=4, k=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    labels = rng.integers(0, k, size=n)
    return rng, X, labels


MODELS = {
    "softmax_regression": (softmax_regression, lambda rng, X, lab: (
        rng.normal(size=(4, 3)), rng.normal(size=3), X, lab), (0, 1)),
    "softmax_regression_spelled_out": (softmax_regression_spelled_out, lambda rng, X, lab: (
        rng.normal(size=(4, 3)), rng.normal(size=3), X, lab), (0, 1)),
    "logistic_regression": (logistic_regression, lambda rng, X, lab: (
        rng.normal(size=4), 0.3, X, (lab > 0).astype(float)), (0, 1)),
    "mlp": (mlp, lambda rng, X, lab: (
        rng.normal(size=(4, 5)), rng.normal(size=5), rng.normal(size=(5, 2)), rng.normal(size=2),
        X, rng.normal(size=(6, 2))), (0, 1, 2, 3)),
    "gaussian_nll": (gaussian_nll, lambda rng, X, lab: (
        rng.normal(size=4), 0.1, rng.normal(size=4) * 0.3, -0.2, X, rng.normal(size=6)),
        (0, 1, 2, 3)),
}


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_gradients_match_autograd_and_finite_differences(name, seed):
    fn, make, wrt = MODELS[name]
    args = make(*_data(seed))
    assert_grads_match(fn, args, wrt, jit=False)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_compiled_by_numba_agrees(name):
    fn, make, wrt = MODELS[name]
    args = make(*_data(7))
    g = value_and_grad(fn, wrt=wrt, jit=True)
    v, got = g(*args)
    assert g.compile_info["jit"] is True
    v0, want = value_and_grad(fn, wrt=wrt, jit=False)(*args)
    assert v == pytest.approx(v0, rel=1e-13)
    assert v == pytest.approx(fn(*args), rel=1e-13)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_the_two_softmax_regressions_agree():
    rng, X, lab = _data(3)
    W, b = rng.normal(size=(4, 3)), rng.normal(size=3)
    g1 = grad(softmax_regression, wrt=(0, 1), jit=False)(W, b, X, lab)
    gW2, gb2 = grad(softmax_regression_spelled_out, wrt=(0, 1), jit=False)(W, b, X, lab)
    np.testing.assert_allclose(g1[0], gW2 - 2e-3 * W, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g1[1], gb2, rtol=1e-12, atol=1e-15)


def test_labels_stay_integers_and_cross_entropy_has_the_closed_form():
    rng, X, lab = _data(4)
    W, b = np.zeros((4, 3)), np.zeros(3)
    vg = value_and_grad(softmax_regression, wrt=("W", "b"), jit=False)
    v, (gW, gb) = vg(W, b, X, lab)
    assert v == pytest.approx(np.log(3.0), rel=1e-15)  # uniform prediction over 3 classes
    onehot = np.eye(3)[lab]
    np.testing.assert_allclose(gb, (1 / 3 - onehot).mean(axis=0), rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(gW, X.T @ (1 / 3 - onehot) / len(lab), rtol=1e-13, atol=1e-16)
    assert [t.dtype for t in next(iter(vg._specs))] == ["float64", "float64", "float64", "int64"]


def test_gradient_descent_fits_the_gaussian_likelihood():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(200, 2))
    y = X @ np.array([1.0, -2.0]) + 0.5 + np.exp(0.5 * (X[:, 0] * 0.4 - 1.0)) * rng.normal(size=200)
    vg = value_and_grad(gaussian_nll, wrt=(0, 1, 2, 3), jit=False)
    p = [np.zeros(2), 0.0, np.zeros(2), 0.0]
    first = vg(*p, X, y)[0]
    for _ in range(300):
        v, gs = vg(*p, X, y)
        p = [q - 0.1 * gq for q, gq in zip(p, gs)]
    assert v < first - 0.5
    np.testing.assert_allclose(p[0], [1.0, -2.0], atol=0.15)
    assert p[2][0] == pytest.approx(0.4, abs=0.2) and p[3] == pytest.approx(-1.0, abs=0.3)
