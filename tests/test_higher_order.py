"""Second order and Jacobians (compiler/transforms.py, compiler/diff/seeds.py): Hessians
against autograd's `hessian` and central differences of the gradient, Hessian-vector
products without the Hessian, Jacobians by forward and reverse mode, the lecture's
networks, the printed second-order source, both tiers."""
import numpy as np
import pytest
from autograd import hessian as ag_hessian
from autograd import jacobian as ag_jacobian

from compiler import grad, hessian, hvp, jacfwd, jacobian, jacrev
from compiler.errors import RunError
from models import four_layer, rnn, two_layer
from oracles import autograd_twin
from runtime.functions import cross_entropy, logsumexp, softmax


def lecture_args(width=4, seed=1):
    rng = np.random.default_rng(seed)
    return rng.normal(size=3), 0.7, rng.normal(size=(width, 3)), rng.normal(size=width)


def four_layer_args(width=5, seed=2):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=3), 0.4, rng.normal(size=(width, 3)) * 0.7,
            rng.normal(size=(width, width)) * 0.5, rng.normal(size=(width, width)) * 0.5,
            rng.normal(size=width))


def ag_hess_block(fn, args, i, k):
    """autograd's d^2 fn / d args[i] d args[k]."""
    twin = autograd_twin(fn)

    def g_k(*a):
        from autograd import grad as ag_grad
        return ag_grad(twin, k)(*a)
    if i == k:
        return ag_hessian(twin, i)(*args)
    r = ag_jacobian(g_k, i)(*args)  # d g_k / d args[i]: shape s_k + s_i
    si, sk = np.shape(args[i]), np.shape(args[k])
    return r.reshape(int(np.prod(sk)), int(np.prod(si))).T.reshape(si + sk)


def fd_hessian(fn, args, i, eps=1e-5):
    """Central differences of our gradient: column j is d grad / d args[i]_j."""
    g = grad(fn, wrt=i, jit=False)
    x = np.asarray(args[i], dtype=float)
    cols = []
    for j in range(x.size):
        e = np.zeros(x.size)
        e[j] = eps
        a_plus, a_minus = list(args), list(args)
        a_plus[i], a_minus[i] = x + e.reshape(x.shape), x - e.reshape(x.shape)
        cols.append((g(*a_plus) - g(*a_minus)) / (2 * eps))
    return np.stack(cols).reshape(x.shape + x.shape)


@pytest.mark.parametrize("wrt", ["w", "V"])
def test_two_layer_hessian_against_autograd_and_differences(wrt):
    args = lecture_args()
    i = ("x", "y", "V", "w").index(wrt)
    H = hessian(two_layer, wrt=wrt, jit=False)(*args)
    assert H.shape == np.shape(args[i]) * 2
    np.testing.assert_allclose(H, ag_hess_block(two_layer, args, i, i), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(H, fd_hessian(two_layer, args, i), rtol=1e-6, atol=1e-7)


def test_hessian_blocks_of_several_arguments():
    args = lecture_args()
    (HVV, HVw), (HwV, Hww) = hessian(two_layer, wrt=("V", "w"), jit=False)(*args)
    assert HVw.shape == (4, 3, 4) and HwV.shape == (4, 4, 3)
    np.testing.assert_allclose(Hww, ag_hess_block(two_layer, args, 3, 3), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(HVV, ag_hess_block(two_layer, args, 2, 2), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(HwV, ag_hess_block(two_layer, args, 3, 2), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(HVw, np.moveaxis(HwV, 0, -1), rtol=1e-12, atol=1e-14)  # symmetry


def test_hessian_of_a_scalar_argument():
    def f(a, x):
        return np.sum(np.sin(a * x)) * a
    x = np.linspace(-1.0, 1.0, 4)
    H = hessian(f, wrt="a", jit=False)(0.3, x)
    assert np.ndim(H) == 0
    assert H == pytest.approx(float(fd_hessian(f, (0.3, x), 0)), rel=1e-7)


def test_four_layer_hessian_and_hvp_against_autograd():
    args = four_layer_args()
    H = hessian(four_layer, wrt="w", jit=False)(*args)
    np.testing.assert_allclose(H, ag_hess_block(four_layer, args, 5, 5), rtol=1e-9, atol=1e-12)
    names = ("V1", "V2", "V3", "w")
    rng = np.random.default_rng(5)
    v = tuple(rng.normal(size=np.shape(args[2 + k])) for k in range(4))
    hv = hvp(four_layer, wrt=names, jit=False)(*args, v)
    for k in range(4):  # (H v)_k = sum_i H[k][i] v_i
        want = sum(np.tensordot(v[i], ag_hess_block(four_layer, args, 2 + i, 2 + k),
                                axes=np.ndim(v[i])) for i in range(4))
        np.testing.assert_allclose(hv[k], want, rtol=1e-9, atol=1e-12)


def test_hessian_through_loops_against_differences():
    rng = np.random.default_rng(3)
    W, U, h, xs = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=(4, 2))
    for i in (0, 2):
        H = hessian(rnn, wrt=i, jit=False)(W, U, h, xs)
        np.testing.assert_allclose(H, fd_hessian(rnn, (W, U, h, xs), i), rtol=1e-6, atol=1e-7)


def _acc_for(x):
    acc = x * 0.0  # a computed initial value, not a parameter
    for i in range(3):
        acc = acc + np.sin(x) * (i + 1.0)
    return np.sum(acc * acc)


def _acc_while(x):
    acc = x * 0.0
    i = 0
    while i < 3:
        acc = acc + x ** (i + 1)
        i = i + 1
    return np.sum(acc * np.cos(acc))


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("fn", [_acc_for, _acc_while])
def test_hessian_through_a_loop_that_starts_from_a_computed_value(fn, jit):
    # every basis trip of the Hessian must start the loop from the same initial value
    # (codegen once let the loop variable share the initial value's name across trips)
    x = np.array([0.3, 0.8, -0.4])
    np.testing.assert_allclose(hessian(fn, jit=jit)(x), ag_hessian(autograd_twin(fn))(x),
                               rtol=1e-9, atol=1e-12)


def test_hvp_costs_no_hessian_and_matches_it():
    args = four_layer_args(width=6)
    f = hvp(four_layer, wrt="V2", jit=False)
    v = np.random.default_rng(0).normal(size=(6, 6))
    H = hessian(four_layer, wrt="V2", jit=False)(*args)
    np.testing.assert_allclose(f(*args, v), np.tensordot(H, v, axes=2), rtol=1e-10, atol=1e-12)
    assert "for " not in f.source  # no loop over basis vectors: one tangent sweep
    assert "stack" not in f.source


# ---- Jacobians -----------------------------------------------------------------------------
def layer(W, x):
    return np.tanh(W @ x) * 2.0


def summary(x):
    return np.array([np.sum(x ** 2), np.prod(x), np.max(x)])


@pytest.mark.parametrize("make", [jacfwd, jacrev, jacobian], ids=lambda m: m.__name__)
def test_jacobians_against_autograd(make):
    rng = np.random.default_rng(4)
    W, x = rng.normal(size=(3, 4)), rng.normal(size=4)
    JW, Jx = make(layer, wrt=("W", "x"), jit=False)(W, x)
    tw = autograd_twin(layer)
    np.testing.assert_allclose(JW, ag_jacobian(tw, 0)(W, x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(Jx, ag_jacobian(tw, 1)(W, x), rtol=1e-12, atol=1e-14)
    z = rng.normal(size=5)
    J = make(summary, jit=False)(z)
    np.testing.assert_allclose(J, ag_jacobian(autograd_twin(summary))(z), rtol=1e-12, atol=1e-14)


def test_jacobian_picks_the_mode_by_shape():
    rng = np.random.default_rng(4)
    J = jacobian(layer, wrt="x", jit=False)
    J(rng.normal(size=(8, 2)), rng.normal(size=2))   # 2 inputs, 8 outputs: forward
    assert J.last is J.fwd
    J2 = jacobian(layer, wrt="W", jit=False)
    W, x = rng.normal(size=(2, 8)), rng.normal(size=8)
    J2(W, x)
    J2(W, x)                                          # 16 inputs, 2 outputs: reverse
    assert J2.last is J2.rev


# ---- the printed second-order source -------------------------------------------------------
def test_two_layer_second_order_source(check_golden):
    from pathlib import Path
    f = hvp(two_layer, wrt=("V", "w"), jit=False)
    x, y, V, w = lecture_args()
    f(x, y, V, w, (np.ones((4, 3)), np.ones(4)))
    src = f.source
    assert src.startswith("def two_layer_hvp(x, y, V, w, t_V, t_w):")
    assert src.splitlines()[-1].strip() == "return t_g_V, t_g_w"
    check_golden(Path(__file__).parent / "golden" / "two_layer_hvp.py", src)
    H = hessian(two_layer, wrt="w", jit=False)
    H(x, y, V, w)
    assert H.source.startswith("def two_layer_hessian(x, y, V, w):")


# ---- compiled ------------------------------------------------------------------------------
def test_compiled_hessian_and_hvp_match_numpy_tier():
    args = four_layer_args()
    names = ("V1", "V2", "V3", "w")
    H = hessian(four_layer, wrt="w", jit=True)
    got = H(*args)
    assert H.compile_info["jit"] is True
    np.testing.assert_allclose(got, hessian(four_layer, wrt="w", jit=False)(*args), rtol=1e-12)
    v = tuple(np.ones(np.shape(args[2 + k])) for k in range(4))
    f = hvp(four_layer, wrt=names, jit=True)
    got = f(*args, v)
    assert f.compile_info["jit"] is True
    for a, b in zip(got, hvp(four_layer, wrt=names, jit=False)(*args, v)):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    rng = np.random.default_rng(3)  # through a loop: tangent stacks beside the stacks
    loop_args = (rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(3, 2)), rng.normal(size=3),
                 rng.normal(size=(4, 2)))
    Hr = hessian(rnn, wrt="W", jit=True)
    np.testing.assert_allclose(Hr(*loop_args), hessian(rnn, wrt="W", jit=False)(*loop_args),
                               rtol=1e-12, atol=1e-14)
    assert Hr.compile_info["jit"] is True
    J = jacrev(layer, wrt="W", jit=True)
    W, x = np.ones((3, 4)) * 0.1, np.ones(4)
    np.testing.assert_allclose(J(W, x), jacrev(layer, wrt="W", jit=False)(W, x), rtol=1e-12)
    assert J.compile_info["jit"] is True


# ---- gradients of gradients ------------------------------------------------------------------
def cubic_sin(x):
    return np.sin(x) * x ** 3


def d1(x):  # the derivatives of cubic_sin, by hand
    return np.cos(x) * x ** 3 + 3 * x ** 2 * np.sin(x)


def d2(x):
    return -np.sin(x) * x ** 3 + 6 * x ** 2 * np.cos(x) + 6 * x * np.sin(x)


def d3(x):
    return (-np.cos(x) * x ** 3 - 9 * x ** 2 * np.sin(x) + 18 * x * np.cos(x)
            + 6 * np.sin(x))


@pytest.mark.parametrize("jit", [False, True])
def test_grad_of_grad_to_third_order(jit):
    from compiler import value_and_grad
    g1 = grad(cubic_sin, jit=jit)
    g2 = grad(g1, jit=jit)
    g3 = grad(g2, jit=jit)
    for x in (-1.3, 0.2, 0.7, 2.0):
        assert g2(x) == pytest.approx(d2(x), rel=1e-12)
        assert g3(x) == pytest.approx(d3(x), rel=1e-12)
    v, g = value_and_grad(g1, jit=jit)(0.7)
    assert v == pytest.approx(d1(0.7), rel=1e-14) and g == pytest.approx(d2(0.7), rel=1e-12)
    assert g3.source.startswith("def cubic_sin_grad_grad_grad(x):")
    if jit:
        assert g3.compile_info["jit"] is True


dloss_V = grad(two_layer, wrt="V", jit=False)


def gradient_penalty(x, y, V, w):  # a loss that calls a grad-made function
    g = dloss_V(x, y, V, w)
    return two_layer(x, y, V, w) + 0.1 * np.sum(g * g)


@pytest.mark.parametrize("jit", [False, True])
def test_grad_of_a_loss_that_calls_a_gradient(jit):
    from runtime.check import numerical_grad
    args = lecture_args()
    gV, gw = grad(gradient_penalty, wrt=("V", "w"), jit=jit)(*args)
    np.testing.assert_allclose(gV, numerical_grad(gradient_penalty, args, 2), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(gw, numerical_grad(gradient_penalty, args, 3), rtol=1e-6, atol=1e-8)
    # and against our own Hessian: d/dV 0.1 |g|^2 = 0.2 H_VV g
    g = dloss_V(*args)
    HVV = hessian(two_layer, wrt="V", jit=False)(*args)
    want = dloss_V(*args) + 0.2 * np.tensordot(g, HVV, axes=2)
    np.testing.assert_allclose(gV, want, rtol=1e-10, atol=1e-12)


def loop_loss(x):
    s = x
    for _ in range(3):
        s = np.sin(s) * x
    return s


def test_grad_of_grad_through_a_loop_is_refused_at_the_loop():
    from compiler import UnsupportedError
    gg = grad(grad(loop_loss, jit=False), jit=False)
    with pytest.raises(UnsupportedError, match="through a loop") as e:
        gg(0.5)
    assert "test_higher_order.py" in str(e.value) and "for _ in range(3)" in str(e.value)
    # forward-over-reverse differentiates it
    h = hessian(loop_loss, jit=False)(0.5)
    g = grad(loop_loss, jit=False)
    assert h == pytest.approx((g(0.5 + 1e-5) - g(0.5 - 1e-5)) / 2e-5, rel=1e-6)


def test_grad_of_a_non_scalar_gradient_is_refused():
    from compiler import ArgumentError, value_and_grad
    with pytest.raises(ArgumentError, match="must return one scalar"):
        grad(value_and_grad(cubic_sin, jit=False), jit=False)


# ---- HVPs through control flow, rows, indexing and the stable functions -----------------------
def nested_loops(W, x):
    s = 0.0
    for i in range(3):
        h = x * 1.0
        for j in range(2):
            h = np.tanh(W @ h) + x * j
            if np.sum(h) > 0:
                s = s + np.sum(h ** 2)
            else:
                s = s - np.sum(np.sin(h))
    return s


def over_rows(w, X):
    s = 0.0
    for row in X:
        s = s + np.log1p(np.exp(row @ w))
    return s


def while_reversed(x, a):
    s = x * 1.0
    k = 0
    while k < 4:
        s = np.sin(s) * a + s[::-1]
        k = k + 1
    return np.sum(s * s)


def stable(W, X, y):
    return (cross_entropy(X @ W, y) + np.sum(logsumexp(X @ W, axis=1))
            + np.sum(softmax(X @ W, axis=0) ** 2))


def index_writes(x, idx):
    y = x * 2.0
    y[idx] = x[:2] ** 2
    z = x[idx] * x[1:3]
    return np.sum(y ** 3) + np.sum(z * z) + np.max(x) * np.min(x ** 2)


def _hvp_cases():
    rng = np.random.default_rng(0)
    return [(nested_loops, (rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3)), 0),
            (nested_loops, (rng.normal(size=(3, 3)) * 0.5, rng.normal(size=3)), 1),
            (over_rows, (rng.normal(size=3), rng.normal(size=(5, 3))), 0),
            (over_rows, (rng.normal(size=3), rng.normal(size=(5, 3))), 1),
            (while_reversed, (rng.normal(size=4), 0.8), 0),
            (while_reversed, (rng.normal(size=4), 0.8), 1),
            (stable, (rng.normal(size=(3, 4)), rng.normal(size=(5, 3)), np.array([0, 1, 3, 2, 0])), 0),
            (index_writes, (rng.normal(size=5), np.array([4, 0])), 0)]


@pytest.mark.parametrize("case", range(8))
def test_hvp_and_hessian_through_control_flow_against_differences(case):
    fn, args, i = _hvp_cases()[case]
    rng = np.random.default_rng(case)
    v = rng.normal(size=np.shape(args[i])) if np.ndim(args[i]) else 0.7
    got = hvp(fn, wrt=i, jit=False)(*args, v)
    g = grad(fn, wrt=i, jit=False)
    e = 1e-5
    a1, a2 = list(args), list(args)
    a1[i], a2[i] = args[i] + e * v, args[i] - e * v
    np.testing.assert_allclose(got, (g(*a1) - g(*a2)) / (2 * e), rtol=1e-6, atol=1e-7)
    H = hessian(fn, wrt=i, jit=False)(*args)
    np.testing.assert_allclose(np.tensordot(H, v, axes=np.ndim(v)) if np.ndim(v) else H * v, got,
                               rtol=1e-10, atol=1e-12)


def _sorted_cubes(a):
    return np.sum(np.sort(np.array([a, 1.0, 2.0 * a])) ** 3 * np.arange(3.0))


def _cumprod_sq(x):
    return np.sum(np.cumprod(x) ** 2)


_D_CUMPROD = grad(_cumprod_sq, jit=False)


def _calls_a_gradient(x):
    return np.sum(_D_CUMPROD(x) ** 2)


def test_gradients_of_gradients_through_helpers_without_rules_are_refused_not_zero():
    # sort's and cumprod's adjoints use helpers (take_along_add, cumprod_grad) that have no
    # adjoint rule of their own: refused at the user's line, never a silent zero
    from compiler.errors import UnsupportedError
    with pytest.raises(UnsupportedError, match="take_along_add"):
        grad(grad(_sorted_cubes, jit=False), jit=False)(0.7)
    with pytest.raises(UnsupportedError, match="cumprod_grad"):
        grad(_calls_a_gradient, jit=False)(np.array([0.5, 1.2, -0.3]))
    # forward over reverse has the rules: the Hessian exists (against autograd)
    np.testing.assert_allclose(hessian(_sorted_cubes, jit=False)(0.7),
                               ag_hessian(autograd_twin(_sorted_cubes))(0.7), rtol=1e-10)


# ---- Hessians whose tangents of the gradient do not depend on the seed ------------------
def loop_target_bound_before(x):
    j = 0
    for j in range(3):
        x = x * 1.1
    return np.sum(x) * 2.0 + j * x[0]


def while_true_with_breaks(x):
    s = 0.0
    i = 0
    while True:
        s = s + x[i % 3] * (i + 1)
        i += 1
        if i > 8:
            break
        if s > 3.0:
            break
    return s * i


def linear_loop_then_square(x):
    j = 0
    for j in range(2):
        x = x * 1.5
    return np.sum(x) + x[1] * x[2]


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("fn", [loop_target_bound_before, while_true_with_breaks,
                                linear_loop_then_square], ids=lambda f: f.__name__)
def test_hessians_of_loops_whose_tangent_sweep_is_seed_free(fn, jit):
    """A loop of the gradient that carries a tangent not depending on the seed (a linear
    function's) is copied out of the basis loops with all its outputs (the Hessian
    crashed with a KeyError in code generation)."""
    x = np.array([0.3, -1.2, 2.1])
    np.testing.assert_allclose(hessian(fn, jit=jit)(x), ag_hessian(autograd_twin(fn))(x),
                               rtol=1e-12, atol=1e-12)


def index_past_the_end_in_a_loop(x):
    s = x[0]
    k = 0
    while s < 5.0:
        s = s * 1.5 + x[1] ** 2
        k += 1
    return s + k * x[2]


@pytest.mark.parametrize("jit", [False, True])
def test_an_index_past_the_end_raises_in_the_hessian_too(jit):
    """The Hessian needs only the gradient's scatter into x[2], not the read: that
    runtime kernel is bounds-checked in compiled code as the generated code is (it
    wrote past the end of its array)."""
    with pytest.raises(RunError, match="out of bounds"):
        hessian(index_past_the_end_in_a_loop, jit=jit)(np.array([0.3, -1.2]))
