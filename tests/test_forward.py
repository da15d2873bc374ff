"""Forward mode (compiler/diff/forward.py, compiler/jvp_rules.py) and forward-over-reverse:
every primitive's JVP against central differences and against reverse mode (the
dot-product test <J t, c> == <t, J^T c>) across broadcast shapes, their second
derivatives (Hessian-vector products: the JVP rules of the adjoint helpers), loops and
branches, the `jvp`/`vjp` API and its errors, both tiers."""
import numpy as np
import pytest

import compiler
from compiler import ArgumentError, grad, hvp, jvp, jvp_function, vjp, vjp_function
from compiler.diff.forward import jvp_rule
from compiler.ir.registry import PRIMS
from compiler.jvp_rules import ZERO_DERIVATIVE
from runtime.functions import log_softmax, logsumexp, softmax
from test_primitives import (AXES, BATCHES, BINARY, BROADCAST, REDUCTIONS, UNARY, UNARY_FNS,
                             _DOMAIN, _POSITIVE, rand)


def test_every_differentiable_primitive_has_a_jvp_rule():
    missing = sorted(n for n, p in PRIMS.items() if p.vjp is not None and jvp_rule(p) is None)
    assert missing == []


def test_adjoint_helpers_have_jvp_rules_or_a_zero_derivative():
    """forward-over-reverse goes through the adjoint helpers: none may be silently zero"""
    helpers = [n for n, p in PRIMS.items() if p.group.startswith("adjoint helpers")]
    helpers += ["stack_alloc", "stack_push", "stack_read", "row_scatter", "index_add",
                "outer_add", "add_into", "row_add"]
    missing = sorted(n for n in helpers if jvp_rule(PRIMS[n]) is None and n not in ZERO_DERIVATIVE)
    assert missing == []


# ---- oracles ---------------------------------------------------------------------------
def directional_fd(fn, args, wrt, ts, eps=1e-6):
    """(f(x + eps t) - f(x - eps t)) / (2 eps), t only on the `wrt` arguments."""
    def at(s):
        a = list(args)
        for i, t in zip(wrt, ts):
            a[i] = args[i] + s * t
        return np.asarray(fn(*a), dtype=float)
    return (at(eps) - at(-eps)) / (2 * eps)


def tangents_for(args, wrt, seed=7):
    rng = np.random.default_rng(seed)
    return tuple(float(rng.normal()) if np.ndim(args[i]) == 0 else rng.normal(size=np.shape(args[i]))
                 for i in wrt)


def check_jvp(fn, args, wrt, jit=False, rtol=1e-6, atol=1e-8, second_order=True):
    """JVP against central differences and against the gradient (<grad, t>); with
    `second_order`, the HVP (JVP of the generated gradient) against central differences
    of the gradient along t."""
    ts = tangents_for(args, wrt)
    value, t_out = jvp(fn, args, ts, wrt=tuple(wrt), jit=jit)
    assert value == pytest.approx(fn(*args), rel=1e-12, abs=1e-12)
    np.testing.assert_allclose(t_out, directional_fd(fn, args, wrt, ts), rtol=rtol, atol=atol)
    gs = grad(fn, wrt=tuple(wrt), jit=jit)(*args)
    dot = sum(float(np.sum(g * t)) for g, t in zip(gs, ts))
    assert t_out == pytest.approx(dot, rel=1e-10, abs=1e-12)  # <J t, 1> == <t, J^T 1>
    if second_order:
        hv = hvp(fn, wrt=tuple(wrt), jit=jit)(*args, ts)
        g = grad(fn, wrt=tuple(wrt), jit=False)
        for k, h in enumerate(hv):
            fd = directional_fd(lambda *a: g(*a)[k], args, wrt, ts, eps=1e-5)
            np.testing.assert_allclose(h, fd, rtol=1e-5, atol=1e-6)


# ---- every primitive ---------------------------------------------------------------------
@pytest.mark.parametrize("shapes", BROADCAST, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_primitive_jvp(name, shapes):
    pos = _POSITIVE.get(name, ())
    a = rand(shapes[0], 1, *((0.5, 1.5) if 0 in pos else ()))
    b = rand(shapes[1], 2, *((1.0, 2.0) if 1 in pos else ()))
    check_jvp(BINARY[name], (a, b), (0, 1))


@pytest.mark.parametrize("shape", UNARY, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY_FNS))
def test_unary_primitive_jvp(name, shape):
    x = rand(shape, 3, *_DOMAIN.get(name, (-1.0, 1.0)))
    check_jvp(UNARY_FNS[name], (x,), (0,))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name,shape,axis", [
    (name, shape, axis) for name in sorted(REDUCTIONS) for shape, axis in AXES
    if not (name == "logsumexp" and isinstance(axis, tuple) and len(axis) < len(shape))], ids=str)
def test_reduction_jvp(name, shape, axis, keepdims):
    x = rand(shape, 4, 0.5, 1.5)
    # np.prod's second derivative (prod_others' JVP) is refused, tested below
    check_jvp(REDUCTIONS[name](axis, keepdims), (x,), (0,), second_order=name != "prod")


def _plain_logistic(t):
    return 1.0 / (1.0 + np.exp(-t))


def reductions_but_prod(x, y):
    """test_primitives.jit_reductions without np.prod (its second derivative is refused)."""
    return (np.sum(np.sum(x, axis=1, keepdims=True) ** 2) + np.sum(np.max(x, axis=(0, 2)) ** 2)
            + np.sum(x.min(axis=1) * 2.0) + np.min(y) + np.max(y)
            + np.linalg.norm(y) + np.sum(np.mean(x, axis=(0, 1)) ** 2) + np.var(y)
            + np.sum(np.std(x, axis=2) ** 2) + np.sum(logsumexp(x, axis=1) ** 2) + logsumexp(y)
            + np.sum(softmax(y) ** 2) + np.sum(log_softmax(y, axis=0) ** 2))


@pytest.mark.parametrize("name", sorted(BATCHES))
def test_batches_of_every_primitive(name, monkeypatch):
    """The batched functions of test_primitives together cover the table: linear
    algebra, shapes, indexing and indexed writes, constructors, stable functions. Forward
    mode refuses a custom_vjp function (test below): the indexing batch's `logistic` is
    replaced by the plain function here. Second order: every batch; the reductions batch
    without np.prod (refused, test below)."""
    import test_primitives
    monkeypatch.setattr(test_primitives, "logistic", _plain_logistic)
    fn, make, wrt = BATCHES[name]
    check_jvp(fn, make(), wrt, second_order=name != "reductions")
    if name == "reductions":
        check_jvp(reductions_but_prod, make(), wrt)


def test_second_derivative_of_prod_is_refused_at_the_users_line():
    def f(x):
        return np.prod(x)
    with pytest.raises(compiler.UnsupportedError, match="np.prod") as e:
        hvp(f, jit=False)(np.ones(3), np.ones(3))
    assert e.value.loc is not None and e.value.loc.file.endswith("test_forward.py")
    assert "return np.prod(x)" in str(e.value)


# ---- array-valued functions: the dot-product test --------------------------------------
def vec_fn(a, b):
    return np.sin(a * b) + a ** 2 / (1.0 + b * b)


def mat_fn(W, x):
    h = np.tanh(W @ x)
    return np.outer(h, x) * 2.0 + W


@pytest.mark.parametrize("shapes", [((2, 3), (3,)), ((3,), ()), ((2, 3), (2, 3)), ((4, 1), (1, 5))],
                         ids=str)
def test_jvp_and_vjp_of_array_valued_functions_agree(shapes):
    a, b = rand(shapes[0], 11), rand(shapes[1], 12)
    ta, tb = tangents_for((a, b), (0, 1))
    value, t_out = jvp(vec_fn, (a, b), (ta, tb), jit=False)
    np.testing.assert_allclose(value, vec_fn(a, b), rtol=1e-14)
    np.testing.assert_allclose(t_out, directional_fd(vec_fn, (a, b), (0, 1), (ta, tb)),
                               rtol=1e-6, atol=1e-8)
    c = np.random.default_rng(3).normal(size=np.shape(value))
    value2, f_vjp = vjp(vec_fn, a, b, jit=False)
    np.testing.assert_allclose(value2, value, rtol=1e-14)
    ca, cb = f_vjp(c)
    assert np.shape(ca) == np.shape(a) and np.shape(cb) == np.shape(b)
    lhs = float(np.sum(t_out * c))
    rhs = float(np.sum(ta * ca) + np.sum(tb * cb))
    assert lhs == pytest.approx(rhs, rel=1e-10)


def test_vjp_function_of_a_matrix_valued_function():
    W, x = rand((3, 4), 5), rand((4,), 6)
    f = vjp_function(mat_fn, wrt=("W", "x"), jit=False)
    c = rand((3, 4), 9)
    value, (gW, gx) = f(W, x, c)
    np.testing.assert_allclose(value, mat_fn(W, x), rtol=1e-14)
    import autograd.numpy as anp
    from autograd import make_vjp

    def ag(W, x):
        h = anp.tanh(anp.dot(W, x))
        return anp.outer(h, x) * 2.0 + W
    aW = make_vjp(lambda W: ag(W, x))(W)[0](c)
    ax = make_vjp(lambda x: ag(W, x))(x)[0](c)
    np.testing.assert_allclose(gW, aW, rtol=1e-12)
    np.testing.assert_allclose(gx, ax, rtol=1e-12)
    assert "def mat_fn_vjp(W, x, ct):" in f.source


# ---- control flow ---------------------------------------------------------------------------
def rnn(W, U, h, xs):
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t])
    return np.sum(h * h)


def while_loop(x, a):
    s = x * 1.0
    k = 0
    while np.sum(s * s) < 50.0 and k < 20:
        s = s * a + np.sin(s)
        k = k + 1
    return np.sum(s)


def branches(x, w):
    y = 0.0
    for i in range(x.shape[0]):
        if x[i] > 0:
            y = y + np.exp(w * x[i])
        elif x[i] < -0.5:
            y = y - w * x[i] ** 2
        else:
            continue
        if y > 3.0:
            break
    return y * w


def test_loops_and_branches_carry_tangents():
    rng = np.random.default_rng(0)
    W, U, h, xs = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=(5, 2))
    check_jvp(rnn, (W, U, h, xs), (0, 1, 2))
    check_jvp(while_loop, (rng.normal(size=3), 1.1), (0, 1))
    check_jvp(branches, (rng.normal(size=6), 0.7), (0, 1))


def test_tangent_source_is_readable():
    f = jvp_function(rnn, wrt=("W", "h"), jit=False)
    rng = np.random.default_rng(0)
    W, U, h, xs = rng.normal(size=(3, 3)), rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=(5, 2))
    f((W, U, h, xs), (np.ones((3, 3)), np.ones(3)))
    src = f.source
    assert src.startswith("def rnn_jvp(W, U, h, xs, t_W, t_h):")
    assert "for t in range(" in src and "t_h" in src
    assert "stack" not in src  # forward mode stores nothing
    assert src.rstrip().splitlines()[-1].strip().startswith("return loss, t_loss")


# ---- API errors --------------------------------------------------------------------------------
def test_jvp_checks_tangents():
    a, b = rand((2, 3), 1), rand((3,), 2)
    with pytest.raises(ArgumentError, match="tangent of 'b' has shape"):
        jvp(vec_fn, (a, b), (np.ones((2, 3)), np.ones(4)), jit=False)
    with pytest.raises(ArgumentError, match="1 tangents for 2"):
        jvp(vec_fn, (a, b), (np.ones((2, 3)),), jit=False)


def test_jvp_of_unsupported_code_raises_at_the_users_line():
    def bad(x):
        return np.sum(x) if x.ndim else print(x)
    with pytest.raises(compiler.AdjointError) as e:
        jvp(bad, (np.ones(2),), (np.ones(2),), jit=False)
    assert "test_forward.py" in str(e.value)


def test_compiled_tier_matches_numpy_tier():
    rng = np.random.default_rng(1)
    W, U, h, xs = rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(3, 2)), rng.normal(size=3), rng.normal(size=(4, 2))
    ts = tangents_for((W, U, h, xs), (0, 2))
    plain = jvp(rnn, (W, U, h, xs), ts, wrt=(0, 2), jit=False)
    f = jvp_function(rnn, wrt=(0, 2), jit=True)
    got = f((W, U, h, xs), ts)
    assert f.compile_info["jit"] is True
    np.testing.assert_allclose(got, plain, rtol=1e-12)
    a, b = rand((2, 3), 1), rand((3,), 2)
    v = vjp_function(vec_fn, wrt=(0, 1), jit=True)
    c = np.ones((2, 3))
    got = v(a, b, c)
    ref = vjp_function(vec_fn, wrt=(0, 1), jit=False)(a, b, c)
    assert v.compile_info["jit"] is True
    for x, y in zip((got[0],) + got[1], (ref[0],) + ref[1]):
        np.testing.assert_allclose(x, y, rtol=1e-12)


def picked(x, labels, W):  # integer labels get no tangent
    return np.sum(np.tanh(W @ x)[labels] ** 2)


def test_integer_arguments_get_no_tangent_by_default():
    x, labels, W = rand((3,), 1), np.array([0, 2, 2]), rand((4, 3), 2)
    tx, tW = tangents_for((x, labels, W), (0, 2))
    value, t = jvp(picked, (x, labels, W), (tx, np.zeros(3), tW), jit=False)   # one per argument
    value2, t2 = jvp(picked, (x, labels, W), (tx, tW), jit=False)              # or per float one
    assert value == value2 == pytest.approx(picked(x, labels, W), rel=1e-14)
    assert t == t2 == pytest.approx(float(directional_fd(picked, (x, labels, W), (0, 2), (tx, tW))),
                                    rel=1e-7)
    _, f_vjp = vjp(picked, x, labels, W, jit=False)
    cx, c_labels, cW = f_vjp(1.0)  # one per argument, as JAX: the labels' are zeros
    np.testing.assert_array_equal(c_labels, np.zeros(3))
    gx, gW = grad(picked, wrt=(0, 2), jit=False)(x, labels, W)
    np.testing.assert_allclose(cx, gx, rtol=1e-14)
    np.testing.assert_allclose(cW, gW, rtol=1e-14)


def test_one_activity_analysis_serves_both_modes():
    """forward and reverse mode decide which values depend on the seeds by the same
    analysis (compiler/diff/activity.py), not by two copies that can drift apart"""
    import importlib
    shared = importlib.import_module("compiler.diff.activity").activity
    forward, reverse = (importlib.import_module(f"compiler.diff.{m}") for m in ("forward", "reverse"))
    assert forward.activity is shared and reverse.activity is shared
    assert not hasattr(forward, "_activity") and not hasattr(reverse, "_activity")
    check_jvp(while_loop, (np.array([0.3, -0.2, 0.5]), 1.1), (0, 1))  # a condition on carried values
