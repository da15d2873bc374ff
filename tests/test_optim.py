"""Optimiser updates against hand-computed values and NumPy references of the published
formulas (runtime/optim.py cites each), compiled and as plain Python."""
import math

import numpy as np
import pytest

from runtime.optim import (SGD, AdaGrad, Adam, Momentum, RMSProp, adagrad_update,
                           adam_update, clip_by_global_norm, momentum_update,
                           rmsprop_update, sgd_update, update)


def _compiled_update():
    """The compiled form of `update` (from Python, `update` is its NumPy form: Numba is
    loaded and the compiled forms registered only when compiling, runtime/numba_forms.py)."""
    global _COMPILED
    if _COMPILED is None:
        from compiler.numba_cache import ensure_numba
        _COMPILED = ensure_numba().njit(lambda p, g, s, h, t: update(p, g, s, h, t))
    return _COMPILED


_COMPILED = None


def _steps(opt, p0, grads, compiled=True):
    """Run opt's kernel on a parameter over the gradient sequence; returns the iterates."""
    p = np.array(p0, dtype=np.float64)
    s = opt.init_state(p)
    h = opt.hyper()
    kernel = _compiled_update() if compiled else update.py_func
    out = []
    for t, g in enumerate(grads):
        kernel(p.reshape(p.size), np.asarray(g, dtype=np.float64).ravel(),
               s.reshape((s.shape[0], p.size)), h, t)
        out.append(p.copy())
    return out


# ---- hand-computed values --------------------------------------------------------------

@pytest.mark.parametrize("compiled", [True, False])
def test_sgd_two_steps_by_hand(compiled):
    # p <- p - lr g: 1 - 0.1 * 0.5 = 0.95; 0.95 - 0.1 * (-1) = 1.05
    p1, p2 = _steps(SGD(0.1), [1.0], [[0.5], [-1.0]], compiled)
    assert p1[0] == pytest.approx(0.95, rel=1e-15) and p2[0] == pytest.approx(1.05, rel=1e-15)
    # with weight decay 0.1: 1 - 0.1 (0.5 + 0.1 * 1) = 0.94
    assert _steps(SGD(0.1, weight_decay=0.1), [1.0], [[0.5]], compiled)[0][0] == \
        pytest.approx(0.94, rel=1e-15)


@pytest.mark.parametrize("compiled", [True, False])
def test_momentum_and_nesterov_two_steps_by_hand(compiled):
    # v <- 0.9 v + g; p <- p - 0.1 v:  v = 0.5, p = 0.95;  v = 0.45 - 1 = -0.55, p = 1.005
    p1, p2 = _steps(Momentum(0.1, 0.9), [1.0], [[0.5], [-1.0]], compiled)
    assert p1[0] == pytest.approx(0.95, rel=1e-15) and p2[0] == pytest.approx(1.005, rel=1e-15)
    # Nesterov p <- p - 0.1 (g + 0.9 v): p = 1 - 0.1 (0.5 + 0.45) = 0.905;
    # v = -0.55, p = 0.905 - 0.1 (-1 - 0.495) = 1.0545
    p1, p2 = _steps(SGD(0.1, momentum=0.9, nesterov=True), [1.0], [[0.5], [-1.0]], compiled)
    assert p1[0] == pytest.approx(0.905, rel=1e-15) and p2[0] == pytest.approx(1.0545, rel=1e-15)


@pytest.mark.parametrize("compiled", [True, False])
def test_adam_two_steps_by_hand(compiled):
    # Kingma & Ba Alg. 1, lr 0.1, b1 0.9, b2 0.999, eps 1e-8, p = 1, g = 0.5 then -1:
    # t=1: m = 0.05, v = 0.00025, m^ = 0.5, v^ = 0.25, p = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
    #      = 0.900000002
    # t=2: m = 0.045 - 0.1 = -0.055, v = 0.00024975 + 0.001 = 0.00124975,
    #      m^ = -0.055 / 0.19 = -0.28947368421, v^ = 0.00124975 / 0.001999 = 0.62518759380,
    #      p = 0.900000002 + 0.1 * 0.28947368421 / (0.79068868.. + 1e-8) = 0.93661035424
    p1, p2 = _steps(Adam(0.1), [1.0], [[0.5], [-1.0]], compiled)
    assert p1[0] == pytest.approx(0.900000002, rel=1e-12)
    assert p2[0] == pytest.approx(0.93661035424, rel=1e-11)


def test_legacy_sgd_kernel_call_keeps_working():
    p = np.array([[1.0, 2.0]])
    sgd_update(p, np.array([[0.5, -1.0]]), np.zeros((0, 1, 2)), np.array([0.1]), 0)
    np.testing.assert_allclose(p, [[0.95, 2.1]], rtol=1e-15)


# ---- NumPy references of the published formulas, several steps, any shape ------------

def ref_sgd(p, gs, lr, wd=0.0):
    for g in gs:
        p = p - lr * (g + wd * p)
    return p


def ref_momentum(p, gs, lr, mu, nesterov, wd=0.0):
    v = np.zeros_like(p)
    for g in gs:
        g = g + wd * p
        v = mu * v + g
        p = p - lr * (g + mu * v if nesterov else v)
    return p


def ref_adagrad(p, gs, lr, delta, wd=0.0):
    r = np.zeros_like(p)
    for g in gs:
        g = g + wd * p
        r = r + g * g
        p = p - lr / (delta + np.sqrt(r)) * g
    return p


def ref_rmsprop(p, gs, lr, rho, delta, wd=0.0):
    r = np.zeros_like(p)
    for g in gs:
        g = g + wd * p
        r = rho * r + (1 - rho) * g * g
        p = p - lr / np.sqrt(delta + r) * g
    return p


def ref_adam(p, gs, lr, b1, b2, eps, wd=0.0, decoupled=False):
    m = np.zeros_like(p)
    v = np.zeros_like(p)
    for t, g in enumerate(gs, start=1):
        if decoupled:
            p = p - lr * wd * p
        else:
            g = g + wd * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        p = p - lr * (m / (1 - b1 ** t)) / (np.sqrt(v / (1 - b2 ** t)) + eps)
    return p


CASES = [
    (SGD(0.05), lambda p, gs: ref_sgd(p, gs, 0.05)),
    (SGD(0.05, weight_decay=0.01), lambda p, gs: ref_sgd(p, gs, 0.05, 0.01)),
    (Momentum(0.05, 0.8), lambda p, gs: ref_momentum(p, gs, 0.05, 0.8, False)),
    (Momentum(0.05, 0.8, nesterov=True, weight_decay=0.02),
     lambda p, gs: ref_momentum(p, gs, 0.05, 0.8, True, 0.02)),
    (AdaGrad(0.3), lambda p, gs: ref_adagrad(p, gs, 0.3, 1e-7)),
    (RMSProp(0.01, rho=0.95), lambda p, gs: ref_rmsprop(p, gs, 0.01, 0.95, 1e-6)),
    (Adam(), lambda p, gs: ref_adam(p, gs, 0.001, 0.9, 0.999, 1e-8)),
    (Adam(0.02, 0.8, 0.99, 1e-6, weight_decay=0.1),
     lambda p, gs: ref_adam(p, gs, 0.02, 0.8, 0.99, 1e-6, 0.1)),
    (Adam(0.02, weight_decay=0.1, decoupled_weight_decay=True),
     lambda p, gs: ref_adam(p, gs, 0.02, 0.9, 0.999, 1e-8, 0.1, True)),
]


@pytest.mark.parametrize("opt,ref", CASES, ids=[repr(c[0]) for c in CASES])
def test_update_matches_numpy_reference_over_five_steps(opt, ref):
    rng = np.random.default_rng(0)
    p0 = rng.normal(size=(3, 2))
    gs = [rng.normal(size=(3, 2)) for _ in range(5)]
    want = ref(p0, gs)
    assert np.max(np.abs(want - p0)) > 1e-4  # the steps moved p
    for compiled in (True, False):
        np.testing.assert_allclose(_steps(opt, p0, gs, compiled)[-1], want, rtol=1e-13, atol=1e-15)
    # Optimizer.step (Python, list of parameters) and a transposed (F-ordered) gradient
    p, s = p0.copy(), opt.init_state(p0)
    for t, g in enumerate(gs):
        opt.step([p], [np.asfortranarray(g)], [s], t)
    np.testing.assert_allclose(p, want, rtol=1e-13, atol=1e-15)


def test_each_kernel_runs_on_any_shape_from_python():
    p = np.ones((2, 2))
    for kernel, h, slots in [(momentum_update, [0.1, 0.0, 0.9, 0.0], 1),
                             (adagrad_update, [0.1, 0.0, 1e-7], 1),
                             (rmsprop_update, [0.1, 0.0, 0.9, 1e-6], 1),
                             (adam_update, [0.1, 0.0, 0.9, 0.999, 1e-8, 0.0], 2)]:
        q = p.copy()
        kernel(q, np.full((2, 2), 0.5), np.zeros((slots, 2, 2)), np.array(h), 0)
        assert np.all(q < 1.0), kernel.__name__


def test_clip_by_global_norm():
    grads = [np.array([3.0, 0.0]), np.array([[0.0, 4.0]])]
    clipped, norm = clip_by_global_norm(grads, 1.0)
    assert norm == 5.0
    np.testing.assert_allclose(clipped[0], [0.6, 0.0], rtol=1e-15)
    np.testing.assert_allclose(clipped[1], [[0.0, 0.8]], rtol=1e-15)
    same, norm = clip_by_global_norm(grads, 10.0)
    assert norm == 5.0 and np.array_equal(same[0], grads[0]) and np.array_equal(same[1], grads[1])
    # Optimizer.step clips all parameters together before updating any
    p1, p2 = np.zeros(2), np.zeros((1, 2))
    assert SGD(1.0, clip_norm=1.0).step([p1, p2], grads, [np.zeros((0, 2)), np.zeros((0, 1, 2))], 0) == 5.0
    np.testing.assert_allclose(p1, [-0.6, 0.0])
    np.testing.assert_allclose(p2, [[0.0, -0.8]])


def test_hyper_vectors_and_state_shapes():
    np.testing.assert_array_equal(SGD(0.1).hyper(), [0, 0.1, 0.0])
    np.testing.assert_array_equal(Adam().hyper(), [4, 0.001, 0.0, 0.9, 0.999, 1e-8, 0.0])
    assert Adam().init_state(np.ones((3, 2))).shape == (2, 3, 2)
    assert Momentum().init_state(np.ones(4)).shape == (1, 4)
    assert SGD().init_state(np.ones(4)).shape == (0, 4)
    assert repr(SGD(0.1, momentum=0.9, nesterov=True)) == "SGD(lr=0.1, momentum=0.9, nesterov=True)"
    with pytest.raises(ValueError, match="unknown optimiser kind"):
        update.py_func(np.ones(1), np.ones(1), np.zeros((0, 1)), np.array([9.0, 0.1]), 0)


@pytest.mark.parametrize("make", [lambda: SGD(-0.1), lambda: Momentum(lr=-1), lambda: AdaGrad(-0.01),
                                  lambda: RMSProp(-0.001), lambda: Adam(lr=-0.001),
                                  lambda: Adam(lr=0.0), lambda: SGD(float("nan"))])
def test_negative_or_zero_step_size_is_rejected(make):
    with pytest.raises(ValueError, match="step size lr must be a positive finite number"):
        make()


def test_other_bad_hyper_parameters_are_rejected():
    with pytest.raises(ValueError, match=r"beta1 must be in \[0, 1\)"):
        Adam(beta1=1.0)
    with pytest.raises(ValueError, match="momentum must be in"):
        SGD(0.1, momentum=-0.5)
    with pytest.raises(ValueError, match="nesterov=True needs a momentum"):
        SGD(0.1, nesterov=True)
    with pytest.raises(ValueError, match="clip_norm must be a positive"):
        Adam(clip_norm=0.0)
    with pytest.raises(ValueError, match="weight_decay must be a non-negative"):
        SGD(0.1, weight_decay=-1.0)
    with pytest.raises(TypeError, match="must be a number"):
        SGD("fast")
    assert math.isclose(AdaGrad().delta, 1e-7) and RMSProp().rho == 0.9


@pytest.mark.parametrize("opt", [c[0] for c in CASES], ids=[repr(c[0]) for c in CASES])
def test_numpy_form_agrees_with_the_compiled_loop(opt):
    """The NumPy tier's vectorised kernels (update.py_func) and the compiled element loops
    agree to 1e-12 over many steps on a large parameter (issue 12: fit under "auto")."""
    rng = np.random.default_rng(1)
    p0 = rng.normal(size=(40, 25))
    gs = [rng.normal(size=(40, 25)) for _ in range(30)]
    a, b = _steps(opt, p0, gs, True)[-1], _steps(opt, p0, gs, False)[-1]
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=0)


# ---- fused forms: the rank-1 and scaled updates and their norms (issue 16) -------------

FUSED_CASES = [SGD(0.1), SGD(0.1, weight_decay=0.05), Momentum(0.1, 0.9),
               Momentum(0.1, 0.8, nesterov=True), AdaGrad(0.1), RMSProp(0.01),
               Adam(0.01), Adam(0.01, weight_decay=0.1, decoupled_weight_decay=True)]


def _fused_kernels():
    from compiler.numba_cache import ensure_numba
    from runtime.optim import update_outer, update_scaled
    nb = ensure_numba()
    return (nb.njit(lambda p, a, b, s, h, t, c: update_outer(p, a, b, s, h, t, c)),
            nb.njit(lambda p, sc, v, s, h, t, c: update_scaled(p, sc, v, s, h, t, c)))


@pytest.mark.parametrize("opt", FUSED_CASES, ids=repr)
def test_rank1_and_scaled_updates_match_the_materialised_gradient(opt):
    """update_outer(p, a, b, ..., c) and update_scaled(p, s, v, ..., c) give the
    parameters and states of `update` on np.outer(a, b) * c and (s * v) * c to 1e-12,
    compiled and from Python, over steps with clipping scales and zero rows."""
    from runtime.optim import update_outer, update_scaled
    outer_nb, scaled_nb = _fused_kernels()
    rng = np.random.default_rng(3)
    m, n = 5, 7
    steps = []
    for t in range(6):
        a = rng.normal(size=m)
        a[t % m] = 0.0  # a zero row: skipped by the SGD loop, a step for the others
        steps.append((a, rng.normal(size=n), rng.normal(), rng.normal(size=(m, n)),
                      1.0 if t % 2 else 0.37))
    p0 = rng.normal(size=(m, n))
    h = opt.hyper()
    runs = {}
    for name in ("reference", "outer compiled", "outer numpy", "scaled compiled",
                 "scaled numpy"):
        p, s = p0.copy(), opt.init_state(p0)
        pf, sf = p.reshape(p.size), s.reshape(s.shape[0], p.size)
        for t, (a, b, sc, v, c) in enumerate(steps):
            if name == "reference":
                update.py_func(pf, (np.outer(a, b) * c).ravel(), sf, h, 2 * t)
                update.py_func(pf, ((sc * v) * c).ravel(), sf, h, 2 * t + 1)
                continue
            k_outer = outer_nb if "compiled" in name else update_outer
            k_scaled = scaled_nb if "compiled" in name else update_scaled
            if name.startswith("outer"):
                k_outer(pf, a, b, sf, h, 2 * t, c)
                update.py_func(pf, ((sc * v) * c).ravel(), sf, h, 2 * t + 1)
            else:
                update.py_func(pf, (np.outer(a, b) * c).ravel(), sf, h, 2 * t)
                k_scaled(pf, sc, v, sf, h, 2 * t + 1, c)
        runs[name] = (p, s)
    want_p, want_s = runs.pop("reference")
    assert np.max(np.abs(want_p - p0)) > 1e-3  # the steps moved p
    for name, (p, s) in runs.items():
        np.testing.assert_allclose(p, want_p, rtol=1e-12, atol=1e-15, err_msg=name)
        np.testing.assert_allclose(s, want_s, rtol=1e-12, atol=1e-15, err_msg=name)


def test_fused_norms_equal_the_norm_of_the_materialised_gradient():
    from compiler.numba_cache import ensure_numba
    from runtime.optim import sq_norm, sq_norm_outer, sq_norm_scaled
    nb = ensure_numba()
    outer_nb = nb.njit(lambda a, b: sq_norm_outer(a, b))
    scaled_nb = nb.njit(lambda s, v: sq_norm_scaled(s, v))
    rng = np.random.default_rng(4)
    a, b, v = rng.normal(size=6), rng.normal(size=9), rng.normal(size=(3, 4))
    want_outer = float(np.sum(np.outer(a, b) ** 2))
    want_scaled = float(np.sum((-2.5 * v) ** 2))
    for f in (sq_norm_outer, outer_nb):
        assert f(a, b) == pytest.approx(want_outer, rel=1e-13)
    for f in (sq_norm_scaled, scaled_nb):
        assert f(-2.5, v) == pytest.approx(want_scaled, rel=1e-13)
    # ||a||^2 overflows while the entries a[i] b[j] do not: computed entry by entry
    big, tiny = np.array([1e200, -3e200]), np.array([1e-200, 2e-200])
    want = float(np.sum(np.outer(big, tiny) ** 2))
    assert np.isfinite(want)
    for f in (sq_norm_outer, outer_nb):
        assert f(big, tiny) == pytest.approx(want, rel=1e-13)
    for f in (sq_norm_scaled, scaled_nb):
        assert f(1e200, tiny) == pytest.approx(float(np.sum((1e200 * tiny) ** 2)), rel=1e-13)
    # a non-finite factor stays non-finite (the loop stops before the update)
    for f in (sq_norm_outer, outer_nb):
        assert not np.isfinite(f(np.array([np.inf, 1.0]), np.array([0.0, 1.0])))
    assert sq_norm(np.outer(a, b)) == pytest.approx(want_outer, rel=1e-13)


def test_flat_and_norms_in_compiled_code_on_every_layout():
    """flat(a) is np.ravel(a) (C order) for 1-D, strided 1-D, C, F and strided 2-D arrays
    inside Numba code, where it returns a 1-D array itself instead of Numba's copying
    ravel; sq_norm and sq_norm_scaled give the norm of the same entries."""
    from compiler.numba_cache import ensure_numba
    from runtime.optim import flat, sq_norm, sq_norm_scaled
    nb = ensure_numba()
    flat_nb = nb.njit(lambda a: flat(a))
    norm_nb = nb.njit(lambda a: sq_norm(a))
    scaled_nb = nb.njit(lambda s, a: sq_norm_scaled(s, a))
    M = np.arange(24.0).reshape(4, 6) - 7.5
    for a in (M[1], M[:, 2], M, np.asfortranarray(M), M[::2, 1::2], M.T):
        np.testing.assert_array_equal(flat_nb(a), np.ravel(a))
        assert flat(a).shape == (a.size,)
        want = float(np.sum(a * a))
        assert norm_nb(a) == pytest.approx(want, rel=1e-13)
        assert scaled_nb(-0.5, a) == pytest.approx(0.25 * want, rel=1e-13)
    v = M[1]
    assert flat_nb(v).ctypes.data == v.ctypes.data  # the row itself, no copy


def test_written_out_sgd_equals_the_kernel():
    """The compiled epoch's plain-SGD steps (sgd_outer on a matrix's rows, sgd_rows on a
    flat view) give what `update` gives on the materialised gradient, zero rows included."""
    from compiler.numba_cache import ensure_numba
    from runtime.optim import NO_ROWS, plain_sgd, sgd_outer, sgd_rows
    nb = ensure_numba()
    outer_nb = nb.njit(lambda P, a, b, c, lr: sgd_outer(P, a, b, c, lr))
    rows_nb = nb.njit(lambda p, s, v, c, lr: sgd_rows(p, NO_ROWS, s, v, c, lr))
    plain_nb = nb.njit(lambda h: plain_sgd(h))
    assert plain_nb(SGD(0.1).hyper()) and plain_sgd(SGD(0.1).hyper())
    assert not plain_nb(SGD(0.1, momentum=0.9).hyper()) and not plain_nb(Adam(0.1).hyper())
    rng = np.random.default_rng(5)
    P0, a, b = rng.normal(size=(4, 3)), rng.normal(size=4), rng.normal(size=3)
    v = rng.normal(size=12)
    a[2] = 0.0
    h = SGD(0.05).hyper()
    want = P0.copy()
    update.py_func(want.reshape(12), (np.outer(a, b) * 0.7).ravel(), np.zeros((0, 12)), h, 0)
    update.py_func(want.reshape(12), (-1.5 * v) * 0.7, np.zeros((0, 12)), h, 1)
    P = P0.copy()
    outer_nb(P, a, b, 0.7, h[1])
    rows_nb(P.reshape(12), -1.5, v, 0.7, h[1])
    np.testing.assert_allclose(P, want, rtol=1e-13, atol=1e-15)
