"""runtime.train.fit and its companions: compiled epochs (per example and minibatch)
against plain-Python loops of the same steps, history, gradient-health warnings, bad
input, initialisation, saving and plots.

Compile budget: two compiled models (the lecture's four-layer network per example, a
linear model per minibatch); every optimiser shares one compiled update kernel, so
switching optimisers recompiles nothing, except between plain SGD, whose compiled loop
writes its step out, and the others. Other cases run with jit=False.
"""
import time
import warnings

import numpy as np
import pytest
from numba.extending import register_jitable

from compiler import grad, value_and_grad
from compiler.codegen.epoch import epoch_source
from models import four_layer, hinge
from runtime import init
from runtime.checkpoint import load_params, save_params
from runtime.functions import sigmoid
from runtime.health import (ExplodingGradientWarning, GradientHealth, GradientWarning,
                            VanishingGradientWarning)
from runtime.optim import SGD, AdaGrad, Adam, Momentum, RMSProp, loop_kernel
from runtime.train import fit

WRT = ("V1", "V2", "V3", "w")
VG = value_and_grad(four_layer, wrt=WRT, jit=True)  # shared: one compile for the file
VG_PY = value_and_grad(four_layer, wrt=WRT, jit=False)


def _data(n=64, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    return X, np.tanh(X @ np.array([1.0, -2.0, 0.5]))


def _params(d=3, k=4, seed=1):
    rng = np.random.default_rng(seed)
    return dict(V1=rng.normal(size=(k, d)), V2=rng.normal(size=(k, k)) * 0.5,
                V3=rng.normal(size=(k, k)) * 0.5, w=rng.normal(size=k))


def lin_batch(X, y, w, b):
    """Mean squared error of a linear model over a minibatch X (b, d), y (b,)."""
    return np.mean((X @ w + b - y) ** 2)


def deep(x, y, W1, W2, W3, W4, W5, W6, w):
    """A deep sigmoid stack: six sigmoid layers, then a linear read-out."""
    h = sigmoid(W1 @ x)
    h = sigmoid(W2 @ h)
    h = sigmoid(W3 @ h)
    h = sigmoid(W4 @ h)
    h = sigmoid(W5 @ h)
    h = sigmoid(W6 @ h)
    return (w @ h - y) ** 2


def _gradient_warnings(record):
    return [w for w in record if issubclass(w.category, GradientWarning)]


# ---- compiled = plain Python = a hand-written loop of the same steps --------------------

OPTS = [SGD(0.05), Momentum(0.05, 0.9, nesterov=True), AdaGrad(0.1), RMSProp(0.005),
        Adam(0.01, clip_norm=0.5, weight_decay=1e-3)]


@pytest.mark.parametrize("opt", OPTS, ids=repr)
def test_compiled_and_plain_training_agree_to_1e12(opt):
    X, y = _data()
    a = fit(VG, _params(), (X, y), opt, epochs=1, seed=3, verbose=False)
    b = fit(VG_PY, _params(), (X, y), opt, epochs=1, seed=3, verbose=False)
    for k in a.params:
        np.testing.assert_allclose(a.params[k], b.params[k], rtol=0, atol=1e-12)
        assert not np.array_equal(a.params[k], _params()[k])  # it trained
    assert a.loss == pytest.approx(b.loss, rel=1e-12)
    assert a.grad_norm["V1"] == pytest.approx(b.grad_norm["V1"], rel=1e-12)


def test_training_matches_a_python_loop_of_sgd_steps():
    X, y = _data(n=16)
    p0 = _params()
    got = fit(VG, p0, (X, y), SGD(0.1), epochs=2, shuffle=False, verbose=False).params
    g = grad(four_layer, wrt=WRT, jit=False)
    p = {k: v.copy() for k, v in p0.items()}
    for _ in range(2):
        for i in range(len(y)):
            for k, gk in zip(p, g(X[i], y[i], *p.values())):
                p[k] -= 0.1 * gk
    for k in p:
        np.testing.assert_allclose(got[k], p[k], rtol=1e-12)


def test_clipped_adam_and_the_gradient_norm_history_match_a_python_loop():
    X, y = _data(n=24)
    p0 = _params()
    opt = Adam(0.02, clip_norm=0.3)
    r = fit(VG, p0, (X, y), opt, epochs=2, seed=5, verbose=False)
    vg = value_and_grad(four_layer, wrt=WRT, jit=False)
    p = [v.copy() for v in p0.values()]
    s = [opt.init_state(v) for v in p]
    rng, t, clipped = np.random.default_rng(5), 0, 0
    for epoch in range(2):
        sq = np.zeros(4)
        peak = np.zeros(4)
        for i in rng.permutation(len(y)):
            _, g = vg(X[i], y[i], *p)
            n2 = np.array([np.sum(gk ** 2) for gk in g])
            sq += n2
            peak = np.maximum(peak, n2)
            clipped += opt.step(p, list(g), s, t) > 0.3
            t += 1
        for j, k in enumerate(WRT):
            assert r.grad_norm[k][epoch] == pytest.approx(np.sqrt(sq[j] / len(y)), rel=1e-12)
            assert r.grad_norm_max[k][epoch] == pytest.approx(np.sqrt(peak[j]), rel=1e-12)
        assert r.global_grad_norm[epoch] == pytest.approx(np.sqrt(sq.sum() / len(y)), rel=1e-12)
    assert clipped > 10  # the threshold really clipped most steps
    for k, v in zip(WRT, p):
        np.testing.assert_allclose(r.params[k], v, rtol=1e-11, atol=1e-14)
    assert r.steps == 48 and r.states["V1"].shape == (2, 4, 3)


def test_training_reduces_the_loss_below_a_threshold_without_warnings():
    X, y = _data(n=200)
    Xv, yv = _data(n=50, seed=5)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        r = fit(VG, _params(), (X, y), SGD(0.05), epochs=30, verbose=False, val_data=(Xv, yv))
    assert r.loss[-1] < 0.1 * r.loss[0]
    assert r.loss[-1] < 0.01 and r.val_loss[-1] < 0.01  # from 0.68: the net fits tanh(x.a)
    assert r.compile_seconds > 0 and len(r.epoch_seconds) == 30
    assert _gradient_warnings(record) == [] and r.warnings == [] and r.stopped is None
    # the validation loss is the mean loss over the validation rows at the final params
    mean = np.mean([four_layer(Xv[i], yv[i], *r.params.values()) for i in range(len(yv))])
    assert r.val_loss[-1] == pytest.approx(mean, rel=1e-12)
    assert len(r.val_loss) == len(r.grad_norm["w"]) == len(r.global_grad_norm) == 30


# ---- minibatches ---------------------------------------------------------------------

def test_minibatch_training_matches_a_python_loop_and_plain_mode():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([0.5, -1.0, 2.0]) + 0.3
    p0 = {"w": np.zeros(3), "b": np.zeros(1)}
    vg = value_and_grad(lin_batch, wrt=("w", "b"), jit=True)
    r = fit(vg, p0, (X, y), SGD(0.1, momentum=0.5), epochs=3, batch_size=8, seed=4,
            verbose=False)
    rp = fit(value_and_grad(lin_batch, wrt=("w", "b"), jit=False), p0, (X, y),
             SGD(0.1, momentum=0.5), epochs=3, batch_size=8, seed=4, verbose=False)
    # by hand: batches of 8 rows in the shuffled order, the last one of 2 rows
    w, b, vw, vb = np.zeros(3), np.zeros(1), np.zeros(3), np.zeros(1)
    order_rng = np.random.default_rng(4)
    losses = []
    for _ in range(3):
        order, total = order_rng.permutation(50), 0.0
        for lo in range(0, 50, 8):
            idx = order[lo:lo + 8]
            res = X[idx] @ w + b - y[idx]
            total += np.mean(res ** 2) * len(idx)
            gw, gb = 2 * X[idx].T @ res / len(idx), np.array([2 * np.mean(res)])
            vw, vb = 0.5 * vw + gw, 0.5 * vb + gb
            w, b = w - 0.1 * vw, b - 0.1 * vb
        losses.append(total / 50)
    np.testing.assert_allclose(r.params["w"], w, rtol=1e-12)
    np.testing.assert_allclose(r.params["b"], b, rtol=1e-12)
    assert r.loss == pytest.approx(losses, rel=1e-12) and r.steps == 3 * 7
    for k in ("w", "b"):
        np.testing.assert_allclose(r.params[k], rp.params[k], rtol=0, atol=1e-12)
    # more epochs reach the exact linear fit (noise-free data): loss below 1e-8
    r = fit(vg, p0, (X, y), Adam(0.05), epochs=300, batch_size=10, verbose=False,
            val_data=(X[:7], y[:7]))
    assert r.loss[-1] < 1e-8 and r.val_loss[-1] < 1e-8
    np.testing.assert_allclose(r.params["w"], [0.5, -1.0, 2.0], atol=1e-4)


def test_huge_step_size_warns_exploding_and_stops_before_nan():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(50, 3))
    y = X @ np.array([0.5, -1.0, 2.0])
    vg = value_and_grad(lin_batch, wrt=("w", "b"))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        r = fit(vg, {"w": np.zeros(3), "b": np.zeros(1)}, (X, y), SGD(50.0), epochs=20,
                batch_size=5, verbose=False)
    assert r.stopped.startswith("diverged") and r.epochs < 20
    assert all(np.all(np.isfinite(v)) for v in r.params.values())
    msgs = [str(w.message) for w in _gradient_warnings(record)]
    assert all(w.category is ExplodingGradientWarning for w in _gradient_warnings(record))
    assert any(m.startswith("exploding gradient: the gradient of 'w' became NaN or infinite")
               for m in msgs)
    assert all("lower the step size" in m and "(lr=50)" in m for m in msgs)
    assert r.warnings == msgs
    # full-batch GD with lr 1.4 > 2 / (largest Hessian eigenvalue 2.35): the gradient
    # grows up to 2.3x per step, past 1000x its first-epoch norm, still finite
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        r = fit(vg, {"w": np.zeros(3), "b": np.zeros(1)}, (X, y), SGD(1.4), epochs=20,
                batch_size=50, shuffle=False, verbose=False)
    msgs = [str(w.message) for w in _gradient_warnings(record)]
    assert any("times its first-epoch RMS norm" in m and "'w'" in m for m in msgs)
    assert any("'b' reached 160 in epoch 9, 1.07e+03 times" in m for m in msgs)
    assert r.stopped is None and np.isfinite(r.loss[-1]) and r.loss[-1] > 1e3 * r.loss[0]


def test_deep_sigmoid_stack_with_tiny_weights_warns_vanishing():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(32, 4))
    y = np.sin(X[:, 0])
    tiny = {f"W{k}": init.normal((4, 4), std=0.01, rng=rng) for k in range(1, 7)}
    tiny["w"] = init.normal(4, std=0.01, rng=rng)
    vg = value_and_grad(deep, wrt=tuple(tiny), jit=False)
    with pytest.warns(VanishingGradientWarning) as record:
        r = fit(vg, tiny, (X, y), SGD(0.1), epochs=4, verbose=False)
    msgs = [str(w.message) for w in _gradient_warnings(record)]
    assert any(m.startswith("vanishing gradient: the RMS gradient norm of 'W1'") for m in msgs)
    assert not any("'w'" in m for m in msgs)  # the read-out layer still learns
    assert "initialise carefully" in msgs[0] and "Adam" in msgs[0]
    assert r.grad_norm["W1"][-1] < 1e-9 * r.grad_norm["w"][-1]
    # the same stack initialised with Glorot's scale does not warn
    good = init.init_params({**{f"W{k}": (4, 4) for k in range(1, 7)}, "w": (4,)}, rng=0)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        fit(vg, good, (X, y), SGD(0.1), epochs=4, verbose=False)
    assert _gradient_warnings(record) == []
    with pytest.raises(ValueError, match="patience"):
        GradientHealth(patience=0)


@register_jitable
def sign_update(p, g, state, hyper, t):
    """signSGD (Bernstein et al. 2018): p <- p - lr sign(g); state[0] counts the steps."""
    for j in range(p.shape[0]):
        p[j] -= hyper[0] * np.sign(g[j])
        state[0, j] += 1.0


class SignSGD:
    """A user-defined optimiser: the protocol of runtime.optim, no base class."""
    update = "test_train:sign_update"
    clip_norm = None

    def init_state(self, p):
        return np.zeros((1,) + p.shape)

    def hyper(self):
        return np.array([0.01])


def test_a_user_defined_optimiser_follows_the_protocol():
    X, y = _data(n=8)
    r = fit(VG_PY, _params(), (X, y), SignSGD(), epochs=2, shuffle=False, verbose=False)
    g = grad(four_layer, wrt=WRT, jit=False)
    p = {k: v.copy() for k, v in _params().items()}
    for _ in range(2):
        for i in range(8):
            for k, gk in zip(p, g(X[i], y[i], *p.values())):
                p[k] -= 0.01 * np.sign(gk)
    for k in p:
        np.testing.assert_allclose(r.params[k], p[k], rtol=1e-14)
        assert np.all(r.states[k] == 16.0)  # (1, *shape) state seen as flat views


# ---- bad input -----------------------------------------------------------------------

def test_fit_rejects_bad_input():
    X, y = _data()
    vg = VG
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
    with pytest.raises(ValueError, match="NaN or inf"):  # a scalar parameter is checked too
        fit(value_and_grad(hinge, wrt="y"), {"y": np.nan}, (X, X), verbose=False)


def test_fit_error_messages_name_the_problem():
    X, y = _data()
    with pytest.raises(ValueError, match=r"data argument 'y' has 63 examples, 'x' has 64"):
        fit(VG, _params(), (X, y[:-1]), verbose=False)
    p = _params()
    p["W"] = p.pop("V1")
    with pytest.raises(ValueError, match=r"'W' is not an argument of the loss \(x, y, V1, V2, V3, w\)"):
        fit(VG, p, (X, y), verbose=False)
    with pytest.raises(ValueError, match="expected 4 parameters"):
        fit(VG, list(_params().values())[:3], (X, y), verbose=False)
    with pytest.raises(ValueError, match=r"contains NaN or inf \(first at index \(3, 1\)\)"):
        Xn = X.copy()
        Xn[3, 1] = np.inf
        fit(VG, _params(), (Xn, y), verbose=False)
    with pytest.raises(ValueError, match="val_data: data argument 'y' contains NaN"):
        fit(VG, _params(), (X, y), val_data=(X[:3], np.array([0.0, np.nan, 1.0])), verbose=False)
    with pytest.raises(ValueError, match="step size lr must be a positive"):
        fit(VG, _params(), (X, y), SGD(-0.1), verbose=False)
    with pytest.raises(ValueError, match="batch_size must be None"):
        fit(VG, _params(), (X, y), batch_size=0, verbose=False)
    with pytest.raises(ValueError, match="epochs must be a non-negative int"):
        fit(VG, _params(), (X, y), epochs=-1, verbose=False)
    for seed in (-1, 1.5, None):
        with pytest.raises(ValueError, match="seed must be a non-negative int"):
            fit(VG, _params(), (X, y), seed=seed, verbose=False)
    with pytest.raises(TypeError, match="optimizer must be an optimiser"):
        fit(VG, _params(), (X, y), "adam", verbose=False)
    with pytest.raises(ValueError, match="no examples"):
        fit(VG, _params(), (X[:0], y[:0]), verbose=False)


# ---- history, callbacks, saving --------------------------------------------------------

def test_callbacks_history_and_save_load(tmp_path):
    X, y = _data(n=32)
    seen = []
    r = fit(VG, _params(), (X, y), AdaGrad(0.05), epochs=10, verbose=False,
            callbacks=[lambda e, res: seen.append((e, res.loss[-1])) or e == 3])
    assert [e for e, _ in seen] == [1, 2, 3] and r.epochs == 3
    assert r.stopped == "stopped by a callback after epoch 3" and r.steps == 96
    assert seen[-1][1] == r.loss[-1]
    h = r.history()
    assert set(h) == {"loss", "val_loss", "grad_norm", "grad_norm_max", "global_grad_norm"}
    assert all(len(v) == 3 for v in h["grad_norm"].values()) and h["val_loss"] == []
    r.save(tmp_path / "params.npz")
    back = load_params(tmp_path / "params.npz")
    assert list(back) == list(WRT)
    for k in WRT:
        np.testing.assert_array_equal(back[k], r.params[k])
    # the loaded parameters continue training where they stopped
    assert fit(VG, back, (X, y), AdaGrad(0.05), epochs=1, verbose=False).loss[0] < r.loss[0]
    with pytest.raises(ValueError, match="not a Python identifier"):
        save_params(tmp_path / "bad.npz", {"a b": np.ones(2)})
    with pytest.raises(ValueError, match="cannot load parameters"):
        (tmp_path / "junk.npz").write_text("junk")
        load_params(tmp_path / "junk.npz")


def test_progress_bar_shows_the_loss(capsys):
    pytest.importorskip("tqdm")
    X, y = _data(n=16)
    fit(VG, _params(), (X, y), epochs=2, verbose=True, desc="demo run")
    err = capsys.readouterr().err
    assert "demo run" in err and "loss=" in err
    fit(VG, _params(), (X, y), epochs=2, verbose=False)
    assert capsys.readouterr().err == ""


def test_plots_are_png_files(tmp_path):
    pytest.importorskip("matplotlib")
    from runtime.plot import plot_comparison, plot_history
    X, y = _data(n=16)
    r = fit(VG, _params(), (X, y), epochs=3, verbose=False, val_data=(X, y))
    out = plot_history(r, tmp_path / "sub" / "h.png", title="four-layer")
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    out = plot_comparison({"SGD": r, "SGD again": r.history()}, tmp_path / "c.png")
    assert open(out, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(TypeError, match="history"):
        plot_history([1, 2], tmp_path / "x.png")


# ---- the generated loop's names; initialisation --------------------------------------

def test_epoch_source_renames_arguments_that_would_shadow_its_names():
    src, ep, ev = epoch_source("f", "f_value_and_grad", ("max", "_order", "w"), ("w",),
                               "runtime.optim:update", batched=True)
    compile(src, "<epoch>", "exec")
    assert "def f_epoch(max_, order_arg, w, _state_w, _hyper, _order," in src
    assert "f_value_and_grad(max_[_idx], order_arg[_idx], w)" in src
    assert (ep, ev) == ("f_epoch", "f_evaluate")
    assert "py_func" in epoch_source("f", "g", ("x", "w"), ("w",), "m:u", jit=False)[0]


def test_initialisers_have_the_published_scales():
    big = (400, 600)  # fan_out 400, fan_in 600
    assert init.fans(big) == (600, 400) and init.fans((7,)) == (7, 1)
    assert init.fans((3, 4, 5)) == (20, 3)
    for f, std in [(init.glorot_normal, np.sqrt(2 / 1000)), (init.he_normal, np.sqrt(2 / 600)),
                   (init.glorot_uniform, np.sqrt(6 / 1000) / np.sqrt(3)),
                   (init.he_uniform, np.sqrt(6 / 600) / np.sqrt(3))]:
        a = f(big, rng=0)
        assert a.shape == big and a.dtype == np.float64
        assert abs(a.mean()) < 0.01 * std * 10 and np.std(a) == pytest.approx(std, rel=0.01)
    assert np.max(np.abs(init.glorot_uniform(big, rng=1))) <= np.sqrt(6 / 1000)
    np.testing.assert_array_equal(init.he_normal((3, 2), rng=5), init.he_normal((3, 2), rng=5))
    g = np.random.default_rng(5)
    assert not np.array_equal(init.normal(3, rng=g), init.normal(3, rng=g))  # one stream
    p = init.init_params({"W": (4, 3), "b": (4,)}, {"W": "he_uniform", "b": "zeros"}, rng=0)
    assert np.all(p["b"] == 0) and np.max(np.abs(p["W"])) <= np.sqrt(6 / 3)
    with pytest.raises(ValueError, match="unknown initialisation scheme 'lecun'"):
        init.init_params({"W": (2, 2)}, "lecun")
    with pytest.raises(ValueError, match="positive ints"):
        init.he_normal((3, 0))
    with pytest.raises(TypeError, match="Generator"):
        init.he_normal((3, 2), rng="seed")


# ---- the examples ----------------------------------------------------------------------

def _examples():
    import sys
    from pathlib import Path
    path = str(Path(__file__).resolve().parents[1] / "examples")
    if path not in sys.path:
        sys.path.insert(0, path)


def test_example_optimizer_comparison(tmp_path, capsys):
    _examples()
    import optimizer_comparison as ex
    table = ex.main(["--quiet", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert "epochs to train MSE <= 0.5" in out and "AdaGrad" in out
    assert (tmp_path / "optimizer_comparison.png").read_bytes()[:4] == b"\x89PNG"
    assert set(table) >= {"SGD", "AdaGrad", "Adam"}
    assert all(row["test_mse"] < 0.7 for row in table.values())  # predicting the mean: 0.84
    # the adaptive step sizes reach the training target in fewer epochs than plain SGD
    assert table["Adam"]["epochs_to_target"] < table["AdaGrad"]["epochs_to_target"] \
        < table["SGD"]["epochs_to_target"] <= 40


def test_example_digits_mlp_reaches_95_percent(tmp_path, capsys):
    _examples()
    import digits_mlp as ex
    assert ex.main(["--quiet", "--out", str(tmp_path)]) >= 0.95
    assert "accuracy: train" in capsys.readouterr().out
    assert (tmp_path / "digits_mlp.png").read_bytes()[:4] == b"\x89PNG"
    assert set(load_params(tmp_path / "digits_mlp.npz")) == {"W1", "b1", "W2", "b2"}


# ---- factored gradients: rank-1 and scaled updates fused into the loop (issue 16) ------

FUSED_OPTS = [SGD(0.05), SGD(0.05, clip_norm=0.3), Momentum(0.05, 0.9, nesterov=True),
              Adam(0.01, clip_norm=0.5, weight_decay=1e-3), RMSProp(0.005, clip_norm=0.2)]


def _unfused(monkeypatch, fn, wrt, jit):
    """A gradient whose training loops materialise every gradient (the path before the
    factored forms, and the one a user-defined update kernel gets)."""
    import runtime.optim as optim_mod
    monkeypatch.setattr(optim_mod, "BUILTIN_UPDATE", "no built-in kernel")
    monkeypatch.setattr(optim_mod, "SGD_UPDATE", "no built-in kernel")
    return value_and_grad(fn, wrt=wrt, jit=jit)


@pytest.mark.parametrize("jit", [False, True], ids=["numpy", "compiled"])
def test_factored_updates_give_the_unfused_parameters_to_1e12(monkeypatch, jit):
    """The four-layer gradients reach the update as factors (three np.outer(a, b), one
    s * h3) and no gradient array is formed; parameters, states and the norm history
    equal those of the loop that materialises the gradients, to 1e-12."""
    X, y = _data(n=40)
    fused = VG if jit else VG_PY
    for opt in FUSED_OPTS:
        r = fit(fused, _params(), (X, y), opt, epochs=3, seed=2, verbose=False,
                grad_health=False)
        with monkeypatch.context() as mp:
            plain = _unfused(mp, four_layer, WRT, jit)
            r0 = fit(plain, _params(), (X, y), opt, epochs=3, seed=2, verbose=False,
                     grad_health=False)
        assert "four_layer_value_and_factors" in r.epoch_source
        if jit and loop_kernel(opt, opt.hyper()) == "runtime.optim:update_sgd":  # written out
            assert "_sgd_outer(V1, _a_V1, _b_V1, _c, _lr)" in r.epoch_source
            assert "_sgd_rows(_p_w, _NO_ROWS, _sc_w, _flat(_v_w), _c, _lr)" in r.epoch_source
            assert "_update" not in r.epoch_source.split("def four_layer_epoch")[1]
        else:
            assert "_update_outer(_p_V1, _a_V1, _b_V1" in r.epoch_source
            assert "_update_scaled(_p_w, _sc_w, _v_w" in r.epoch_source
        assert "np.outer" not in r.epoch_source.split("def four_layer_epoch")[0]
        assert "_value_and_factors" not in r0.epoch_source
        for k in WRT:
            assert np.max(np.abs(r.params[k] - _params()[k])) > 1e-4, (opt, k)
            np.testing.assert_allclose(r.params[k], r0.params[k], rtol=1e-12, atol=1e-14,
                                       err_msg=f"{opt} {k}")
            np.testing.assert_allclose(r.states[k], r0.states[k], rtol=1e-12, atol=1e-14)
            np.testing.assert_allclose(r.grad_norm[k], r0.grad_norm[k], rtol=1e-12)
        np.testing.assert_allclose(r.loss, r0.loss, rtol=1e-12)


def test_hinge_scaled_gradient_matches_a_python_loop_with_zero_steps():
    """The hinge's subgradient -y phi is a scaled form; outside the margin it is zero and
    the SGD loop skips the row: the parameters still equal a Python loop of SGD steps."""
    rng = np.random.default_rng(5)
    Phi = rng.normal(size=(30, 4))
    y = np.where(Phi @ np.array([1.0, -1.0, 0.5, 0.2]) > 0, 1.0, -1.0)
    w0 = rng.normal(size=4) * 0.1
    vg = value_and_grad(hinge, wrt="w", jit=False)
    r = fit(vg, {"w": w0}, (Phi, y), SGD(0.1), epochs=4, shuffle=False, verbose=False,
            grad_health=False)
    assert "_update_scaled(_p_w, _sc_w, _v_w" in r.epoch_source
    g = grad(hinge, wrt="w", jit=False)
    w, zero = w0.copy(), 0
    for _ in range(4):
        for i in range(30):
            gw = g(w, Phi[i], y[i])
            zero += not np.any(gw)
            w -= 0.1 * gw
    assert zero > 30  # the skipped rows were exercised
    np.testing.assert_allclose(r.params["w"], w, rtol=1e-13, atol=1e-15)


def shared_factor(x, y, w1, w2):
    """The gradient of w1 is (x[0] y) w2, a scaled form whose vector is a trained parameter."""
    return (w1 @ w2) * x[0] * y


def test_a_factor_that_is_a_trained_parameter_is_not_fused():
    """g_w1 = s * w2 and g_w2 = s * w1: updating w1 in place from w2's factor and then w2
    from the updated w1 would be wrong; these gradients stay arrays, formed before any
    update, and training equals simultaneous SGD steps."""
    from compiler.codegen.epoch import gradient_forms
    X, y = np.array([[2.0], [0.5], [-1.0]]), np.array([1.0, -2.0, 0.5])
    w1, w2 = np.array([1.0, 2.0]), np.array([3.0, -4.0])
    vg = value_and_grad(shared_factor, wrt=("w1", "w2"), jit=False)
    spec = vg.specialize(X[0], y[0], w1, w2)
    graph, forms = gradient_forms(spec.graph, vg.arg_names, vg.wrt_names)
    assert graph is None and [f.kind for f in forms] == ["dense", "dense"]
    r = fit(vg, {"w1": w1, "w2": w2}, (X, y), SGD(0.1), epochs=2, shuffle=False,
            verbose=False, grad_health=False)
    a, b = w1.copy(), w2.copy()
    for _ in range(2):
        for i in range(3):
            s = X[i, 0] * y[i]
            a, b = a - 0.1 * s * b, b - 0.1 * s * a
    np.testing.assert_allclose(r.params["w1"], a, rtol=1e-14)
    np.testing.assert_allclose(r.params["w2"], b, rtol=1e-14)


def test_gradient_forms_names_the_factors():
    from compiler.codegen.epoch import gradient_forms
    rng = np.random.default_rng(0)
    p = _params()
    spec = VG_PY.specialize(rng.normal(size=3), 0.5, *p.values())
    graph, forms = gradient_forms(spec.graph, VG_PY.arg_names, VG_PY.wrt_names)
    assert [f.kind for f in forms] == ["outer", "outer", "outer", "scaled"]
    assert len(graph.results) == 1 + 2 * 4
    assert not any(op.prim == "outer" for op in graph.ops)


def scaled_residual(x, y, w, scale=2.0):
    return (scale * (w @ x) - y) ** 2


def test_fit_reads_a_rebound_default_again():
    """fit reads each loss's signature once (its per-call work); rebinding the defaults
    afterwards is noticed: the next fit trains with the new default."""
    rng = np.random.default_rng(3)
    X, y, w = rng.normal(size=(12, 3)), rng.normal(size=12), rng.normal(size=3)
    kw = dict(epochs=2, shuffle=False, verbose=False, grad_health=False)

    def python_sgd(scale):
        p = w.copy()
        for _ in range(2):
            for i in range(12):
                p -= 0.01 * 2.0 * (scale * (p @ X[i]) - y[i]) * scale * X[i]
        return p

    vg = value_and_grad(scaled_residual, wrt="w", jit=False)
    try:
        r2 = fit(vg, {"w": w}, (X, y), SGD(0.01), **kw)
        scaled_residual.__defaults__ = (3.0,)
        vg3 = value_and_grad(scaled_residual, wrt="w", jit=False)
        r3 = fit(vg3, {"w": w}, (X, y), SGD(0.01), **kw)
    finally:
        scaled_residual.__defaults__ = (2.0,)
    np.testing.assert_allclose(r2.params["w"], python_sgd(2.0), rtol=1e-12)
    np.testing.assert_allclose(r3.params["w"], python_sgd(3.0), rtol=1e-12)


def biased_layer(x, y, W, b, v):
    h = sigmoid(W @ x + b)
    return (v @ h - y) ** 2


@pytest.mark.parametrize("opt", [SGD(0.1, clip_norm=0.3), Adam(0.01, clip_norm=0.2)], ids=repr)
def test_dense_and_factored_gradients_in_one_clipped_step(monkeypatch, opt):
    """W's gradient np.outer(t, x) is factored, b's is the array t itself (also W's
    factor), v's a scaled form; clipped together they give the unfused parameters."""
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(30, 4)), rng.normal(size=30)
    p = {"W": rng.normal(size=(5, 4)), "b": rng.normal(size=5), "v": rng.normal(size=5)}
    kw = dict(epochs=3, verbose=False, grad_health=False)
    r = fit(value_and_grad(biased_layer, wrt=("W", "b", "v"), jit=False), p, (X, y), opt, **kw)
    for line in ("_update_outer(_p_W", "_update(_p_b", "_update_scaled(_p_v"):
        assert line in r.epoch_source
    with monkeypatch.context() as mp:
        r0 = fit(_unfused(mp, biased_layer, ("W", "b", "v"), False), p, (X, y), opt, **kw)
    assert max(r.global_grad_norm) > 0.3  # clipping happened
    for k in p:
        np.testing.assert_allclose(r.params[k], r0.params[k], rtol=1e-12, atol=1e-14)


def _affine_with_bias(w, b, x, y):
    return (w @ x + b - y) ** 2


def _affine_in_a_dict(p, x, y):
    return (p["w"] @ x + p["b"] - y) ** 2


@pytest.mark.parametrize("jit", [False, True])
def test_fit_trains_scalar_parameters(jit):
    # a number as a parameter ({"b": 0.0}, also inside a structure): trained in place and
    # returned as a float; the same steps as SGD written out by hand
    from runtime.optim import SGD
    from runtime.train import fit
    rng = np.random.default_rng(4)
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    w, b = np.zeros(3), 0.25
    for _ in range(2):
        for i in range(20):
            r = w @ X[i] + b - y[i]
            w, b = w - 0.05 * 2 * r * X[i], b - 0.05 * 2 * r
    res = fit(value_and_grad(_affine_with_bias, wrt=("w", "b"), jit=jit),
              {"w": np.zeros(3), "b": 0.25}, (X, y), SGD(0.05), epochs=2, shuffle=False,
              verbose=False)
    assert isinstance(res.params["b"], float)
    np.testing.assert_allclose(res.params["w"], w, rtol=1e-12)
    assert res.params["b"] == pytest.approx(b, rel=1e-12)
    res = fit(value_and_grad(_affine_in_a_dict, wrt="p", jit=jit),
              {"p": {"w": np.zeros(3), "b": 0.25}}, (X, y), SGD(0.05), epochs=2,
              shuffle=False, verbose=False)
    np.testing.assert_allclose(res.params["p"]["w"], w, rtol=1e-12)
    assert res.params["p"]["b"] == pytest.approx(b, rel=1e-12)


class ScheduledDecaySGD(SGD):
    """An optimiser that sets weight decay through hyper() only (as a schedule would):
    its kind and weight_decay attributes say plain SGD, its hyper-parameters do not."""

    def __init__(self, lr, wd):
        super().__init__(lr)
        self.wd = wd

    def hyper(self):
        h = super().hyper()
        h[2] = self.wd
        return h


def test_the_loops_follow_the_hyper_parameters_not_the_attributes():
    """Plain SGD's compiled loop writes its step out (runtime.optim.loop_kernel names it
    `update_sgd`); whether it is used is decided from the hyper-parameter vector, the
    one the kernel dispatches on, so a subclass that sets weight decay in hyper() trains
    alike in both tiers and as a Python loop of the same steps. Loops compiled for plain
    SGD raise ValueError when called with other hyper-parameters."""
    assert loop_kernel(SGD(0.1), SGD(0.1).hyper()) == "runtime.optim:update_sgd"
    assert loop_kernel(SGD(0.1, clip_norm=1.0), SGD(0.1).hyper()) == "runtime.optim:update_sgd"
    for opt in (SGD(0.1, weight_decay=0.01), SGD(0.1, momentum=0.5), Adam(0.1),
                RMSProp(0.1), Momentum(0.1), ScheduledDecaySGD(0.1, 0.5)):
        assert loop_kernel(opt, opt.hyper()) == "runtime.optim:update", opt
    X, y = _data(n=12)
    runs = []
    for vg in (VG, VG_PY):
        r = fit(vg, _params(), (X, y), ScheduledDecaySGD(0.05, 0.5), epochs=2, shuffle=False,
                verbose=False, grad_health=False)
        assert r.stopped is None
        runs.append(r.params)
    P = {k: v.copy() for k, v in _params().items()}
    g = value_and_grad(four_layer, wrt=WRT, jit=False)
    for _ in range(2):
        for i in range(12):
            _, grads = g(X[i], y[i], *[P[k] for k in WRT])
            for k, gk in zip(WRT, grads):
                P[k] -= 0.05 * (gk + 0.5 * P[k])
    for k in WRT:
        assert np.max(np.abs(P[k] - _params()[k])) > 1e-3
        for params in runs:
            np.testing.assert_allclose(params[k], P[k], rtol=1e-12, atol=1e-14, err_msg=k)
    P0 = _params()
    example = [X[0], y[0]] + [P0[k] for k in WRT]
    loops = VG.epoch_function("runtime.optim:update_sgd", example, jit=True)
    states = [np.zeros((0,) + P0[k].shape) for k in WRT]
    args = [X, y] + [P0[k].copy() for k in WRT] + states
    order = np.arange(12, dtype=np.int64)
    total, done, _ = loops.epoch(*args, SGD(0.1).hyper(), order, 0, 1, 0.0, np.zeros((4, 3)))
    assert done == 12 and np.isfinite(total)
    with pytest.raises(ValueError, match="plain SGD"):
        loops.epoch(*args, ScheduledDecaySGD(0.1, 0.5).hyper(), order, 0, 1, 0.0,
                    np.zeros((4, 3)))


# ---- optimisers that do not match their kind, schedules, located errors ---------------

class MomentumWithoutSlots(SGD):
    """Momentum's hyper-parameters, but SGD's n_slots = 0: no velocity to keep."""

    def hyper(self):
        return np.array([1.0, self.lr, 0.0, 0.9, 0.0])


class ShortHyper(SGD):
    def hyper(self):
        return np.array([0.0, self.lr])


@pytest.mark.parametrize("vg", [VG, VG_PY], ids=["compiled", "numpy"])
def test_hyper_parameters_the_kernel_cannot_run_are_refused_before_training(vg):
    """Compiled code does not check bounds: a momentum vector with no state slot would
    write past the state array (it overwrote `hyper` at d = 100,000). Refused at once."""
    X, y = _data(n=6)
    for opt, match in ((MomentumWithoutSlots(0.1), "1 state slot"),
                       (ShortHyper(0.1), "at least 3 entries")):
        with pytest.raises(ValueError, match=match):
            fit(vg, _params(), (X, y), opt, epochs=1, verbose=False)
    with pytest.raises(TypeError, match=r"write SGD\(lr=...\)"):
        fit(vg, _params(), (X, y), SGD, epochs=1, verbose=False)


class ScheduledSGD(SGD):
    """SGD whose kind turns into momentum after a callback sets `turn`."""
    n_slots = 1
    turn = False

    def hyper(self):
        return np.array([1.0 if self.turn else 0.0, self.lr, 0.0, 0.5, 0.0])


@pytest.mark.parametrize("vg", [VG, VG_PY], ids=["compiled", "numpy"])
def test_a_callback_may_change_the_learning_rate_not_the_kind(vg):
    """hyper() is read again before every epoch: a callback halving lr (a schedule)
    trains as a Python loop with that schedule does, in both tiers; a change of kind
    (other loops) is a ValueError, not a silent continuation."""
    X, y = _data(n=10)
    opt = SGD(0.08)
    halve = lambda e, r: setattr(opt, "lr", opt.lr / 2)  # noqa: E731
    r = fit(vg, _params(), (X, y), opt, epochs=3, shuffle=False, verbose=False,
            grad_health=False, callbacks=[halve])
    g = grad(four_layer, wrt=WRT, jit=False)
    P = {k: v.copy() for k, v in _params().items()}
    for lr in (0.08, 0.04, 0.02):
        for i in range(10):
            for k, gk in zip(WRT, g(X[i], y[i], *[P[k] for k in WRT])):
                P[k] -= lr * gk
    for k in WRT:
        np.testing.assert_allclose(r.params[k], P[k], rtol=1e-12, atol=1e-14, err_msg=k)
    turn = ScheduledSGD(0.05)
    with pytest.raises(ValueError, match="changed kind"):
        fit(vg, _params(), (X, y), turn, epochs=3, verbose=False,
            callbacks=[lambda e, r: setattr(turn, "turn", True)])


@pytest.mark.parametrize("vg", [VG, VG_PY], ids=["compiled", "numpy"])
def test_an_error_inside_the_loops_names_the_loss_line(vg):
    """Data of the wrong width fails inside the training loops, which know no source
    lines: fit replays the epoch's steps through the gradient and raises its RunError,
    which names the loss's file and line (also for val_data)."""
    from compiler.errors import RunError
    X, y = _data(n=6)
    with pytest.raises(RunError, match=r"models\.py:\d+") as e:
        fit(vg, _params(), (X[:, :2], y), epochs=1, verbose=False)
    assert "epoch 1 of fit" in str(e.value)
    with pytest.raises(RunError, match=r"models\.py:\d+") as e:
        fit(vg, _params(), (X, y), val_data=(X[:, :2], y), epochs=1, verbose=False)
    assert "validation loss" in str(e.value)


KERNEL_MODULE = '''
import numpy as np
from numba.extending import register_jitable


@register_jitable
def halving_sign_update(p, g, state, hyper, t):
    for j in range(p.shape[0]):
        p[j] -= hyper[0] * np.sign(g[j])
'''


class UserModuleSignSGD(SignSGD):
    update = "user_kernel_beside_the_script:halving_sign_update"


def test_a_kernel_beside_the_users_script_compiles_in_the_background(tmp_path, monkeypatch):
    """Under jit="auto" the loops compile in a worker process, which gets the caller's
    import path: an update kernel in a module beside the user's script (on sys.path)
    reaches the compiled tier with no warning."""
    (tmp_path / "user_kernel_beside_the_script.py").write_text(KERNEL_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    X, y = _data(n=6)
    vg = value_and_grad(four_layer, wrt=WRT)  # jit="auto"
    wait = lambda e, r: r.tiers[-1] == "compiled" or time.sleep(0.2)  # noqa: E731
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = fit(vg, _params(), (X, y), UserModuleSignSGD(), epochs=300, verbose=False,
                grad_health=False, callbacks=[wait])
    assert r.tiers[-1] == "compiled", r.tiers


def _huge_scale(w, x, y):
    return (np.sum(w * x) * 1e-200 - y) ** 2


def _two_big(a, b, x):
    return 7e153 * (np.sum(a * x) + np.sum(b * x))


def test_fit_with_finite_data_near_the_float_range():
    """Entries of 1e200 are finite data (their squares overflow: no check may square
    them), and per-parameter norms whose sum overflows give an infinite global norm,
    not an exception."""
    X = np.full((4, 2), 1e200)
    with np.errstate(over="raise"):
        r = fit(value_and_grad(_huge_scale, wrt="w", jit=False), {"w": np.zeros(2)},
                (X, np.ones(4)), SGD(lr=0.01), epochs=1, verbose=False)
    assert np.isfinite(r.loss[0])
    r = fit(value_and_grad(_two_big, wrt=("a", "b"), jit=False),
            {"a": np.zeros(1), "b": np.zeros(1)}, (np.ones((2, 1)),), SGD(lr=1e-300),
            epochs=1, verbose=False, grad_health=False, shuffle=False)
    assert r.global_grad_norm == [np.inf] and np.isfinite(r.grad_norm["a"][0])


_WEIGHTS = np.array([1.0, 2.0])


def _weighted(w, x, y, wts=_WEIGHTS):
    return np.sum(wts * (w * x - y) ** 2)


def test_fit_refuses_an_array_default_saying_what_to_write():
    with pytest.raises(ValueError, match="'wts' has a default \\(ndarray\\).*pass it in data"):
        fit(value_and_grad(_weighted, wrt="w", jit=False), {"w": np.zeros(2)},
            (np.ones((3, 2)), np.ones((3, 2))), epochs=1, verbose=False)


def test_fit_refuses_masked_or_matrix_data_and_rereads_keyword_defaults():
    def loss(w, x, y, *, scale=1.0):
        return scale * np.sum((x * w - y) ** 2)
    X, Y = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, 0.1]]), np.ones((3, 2))
    vg = value_and_grad(loss, wrt="w", jit=False)
    for bad in (np.ma.masked_array(X, mask=X > 3), np.asmatrix(X)):
        with pytest.raises(ValueError, match="ndarray subclass"):
            fit(vg, {"w": np.zeros(2)}, (bad, Y), epochs=1, verbose=False)

    def manual(scale):
        w = np.array([0.3, -0.2])
        for i in np.random.default_rng(0).permutation(3):
            w -= 0.01 * scale * 2 * (X[i] * w - Y[i]) * X[i]
        return w
    for scale in (1.0, 5.0):
        loss.__kwdefaults__["scale"] = scale  # changed in place, between two fits
        r = fit(vg, {"w": np.array([0.3, -0.2])}, (X, Y), SGD(0.01), epochs=1, verbose=False)
        np.testing.assert_allclose(r.params["w"], manual(scale), rtol=1e-12)
