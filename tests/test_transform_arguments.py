"""The transforms (jvp, vjp, jacobian, hessian, hvp; compiler/transforms.py) take their
arguments as `grad` does (compiler/arguments.py: structures, keywords, defaults), check
their seeds, and never give a silently different answer: integer arguments, custom_vjp
functions, the caller's later writes, a gradient dict's key order (review of issue
14). Oracles: JAX (float64) run on the same source, NumPy's own derivatives written out,
central differences; jit on and off where the compiled path differs."""
import types

import numpy as np
import pytest

import transform_code as tc
from compiler import (ArgumentError, UnsupportedError, grad, hessian, hvp, jacfwd, jacobian,
                      jacrev, jvp, vjp)
from compiler.jvp_rules import CustomVJPForwardError
from compiler.pytree import flatten

JITS = [False, True]


@pytest.fixture(scope="module")
def jax():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax


def jax_twin(fn):
    """fn's code with NumPy replaced by jax.numpy: JAX differentiates our source."""
    import jax.numpy as jnp
    g = {k: (jnp if v is np else v) for k, v in fn.__globals__.items()}
    f = types.FunctionType(fn.__code__, g, fn.__name__, fn.__defaults__, fn.__closure__)
    f.__kwdefaults__ = fn.__kwdefaults__
    return f


def assert_tree_close(ours, ref, rtol=1e-10, atol=1e-12):
    lo, to = flatten(ours) if isinstance(ours, (dict, tuple, list)) else ([ours], None)
    lr, tr = flatten(ref) if isinstance(ref, (dict, tuple, list)) else ([ref], None)
    assert to == tr, f"structure {to} != {tr}"
    for a, b in zip(lo, lr):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=rtol, atol=atol)


def params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W": rng.normal(size=(3, 4)), "b": rng.normal(size=3), "s": 0.7}, rng.normal(size=4)


# ---- 1.2: an integer argument's tangent -------------------------------------------------
def test_jvp_refuses_a_nonzero_tangent_of_an_integer_argument(jax):
    x = np.array([1.0, 2.0, 3.0])
    with pytest.raises(ArgumentError, match="integer or boolean") as e:
        jvp(tc.mul, (2, x), (1.0, np.zeros(3)), jit=False)
    assert "wrt=(0, 1)" in str(e.value) and "transform_code.py" in str(e.value)
    # named in wrt it is differentiated as a float, as grad does
    value, t = jvp(tc.mul, (2, x), (1.0, np.zeros(3)), wrt=(0, 1), jit=False)
    ref = jax.jvp(jax_twin(tc.mul), (2.0, x), (1.0, np.zeros(3)))
    np.testing.assert_allclose(value, ref[0], rtol=1e-15)
    np.testing.assert_allclose(t, ref[1], rtol=1e-15)  # = x
    # a zero (or None) tangent for the integer is accepted and means what it says
    for zero in (0, None, 0.0):
        _, t = jvp(tc.mul, (2, x), (zero, np.ones(3)), jit=False)
        np.testing.assert_allclose(t, 2.0 * np.ones(3), rtol=1e-15)


# ---- 1.3: a gradient dict's key order, compiled fast path ---------------------------------
@pytest.mark.parametrize("jit", JITS)
def test_gradient_dict_follows_the_key_order_of_each_call(jit):
    g = grad(tc.ordered, jit=jit)
    x = np.array([1.0, 2.0])
    first = {"c": np.ones(2), "a": np.ones(2), "b": np.ones(2)}
    for _ in range(3):  # the compiled fast path is registered for this layout
        r = g(first, x)
    assert list(r) == ["c", "a", "b"]
    second = {"a": np.ones(2), "b": np.ones(2), "c": np.ones(2)}
    for _ in range(2):
        r = g(second, x)
    assert list(r) == ["a", "b", "c"]
    for k, factor in (("a", 1.0), ("b", 2.0), ("c", 3.0)):
        np.testing.assert_allclose(r[k], factor * x, rtol=1e-15)
    # the common hand-written update pairs entries by iteration order
    for (k, p), gk in zip(second.items(), r.values()):
        np.testing.assert_allclose(gk, {"a": 1.0, "b": 2.0, "c": 3.0}[k] * x)


# ---- 1.4: forward mode through a custom_vjp function ----------------------------------------
def test_forward_mode_through_a_custom_vjp_function_is_refused_at_the_call():
    x, w = np.array([0.4, 1.6, -2.2]), np.array([1.0, 2.0, 3.0])
    calls = [lambda: jvp(tc.ste_vec, (x,), (np.ones(3),), jit=False),
             lambda: jacfwd(tc.ste_vec, jit=False)(x),
             lambda: hessian(tc.ste_loss, jit=False)(x, w),
             lambda: hvp(tc.ste_loss, jit=False)(x, w, np.ones(3))]
    for call in calls:
        with pytest.raises(CustomVJPForwardError, match="custom_vjp function ste_round") as e:
            call()
        assert e.value.loc.file.endswith("transform_code.py")
        assert "ste_round(x)" in str(e.value)  # the user's line, with its caret


def test_jacobian_of_a_custom_vjp_function_takes_reverse_mode_the_rules_derivative():
    x = np.array([0.4, 1.6, -2.2])
    J = jacobian(tc.ste_vec, jit=False)(x)  # forward mode would be refused: reverse mode
    np.testing.assert_allclose(J, 2.0 * np.eye(3), rtol=1e-15)  # the straight-through rule
    np.testing.assert_allclose(jacrev(tc.ste_vec, jit=False)(x), J, rtol=1e-15)
    ct = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(vjp(tc.ste_vec, x, jit=False)[1](ct)[0], 2.0 * ct, rtol=1e-15)


# ---- 1.5, 1.6: vjp keeps its primals, one cotangent per argument -----------------------------
@pytest.mark.parametrize("jit", JITS)
def test_vjp_fn_uses_the_primals_of_the_vjp_call(jit):
    rng = np.random.default_rng(1)
    x, W = rng.normal(size=3), rng.normal(size=(2, 3))
    ct = np.array([0.5, -1.5])
    want = (W.T @ ct, np.outer(ct, x))  # d(W x): J^T ct
    value, f_vjp = vjp(tc.lin, x, W, jit=jit)
    np.testing.assert_allclose(value, W @ x, rtol=1e-15)
    x[0], W[:] = 100.0, 0.0  # the caller changes its arrays afterwards
    got = f_vjp(ct)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_vjp_without_wrt_gives_one_cotangent_per_argument(jax):
    x, ct = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    value, f_vjp = vjp(tc.mul, 2, x, jit=False)
    c_a, c_x = f_vjp(ct)  # positions kept, as JAX (an integer's is zeros: float0 in JAX)
    assert c_a == 0.0
    _, ref = jax.vjp(lambda x: jax_twin(tc.mul)(2, x), x)
    np.testing.assert_allclose(c_x, ref(ct)[0], rtol=1e-15)
    np.testing.assert_allclose(value, 2 * x, rtol=1e-15)


# ---- 1.7: seeds of the wrong shape are errors, never broadcast ---------------------------------
def test_hvp_and_vjp_check_the_shape_of_their_seed():
    x = np.array([0.5, -1.0, 2.0])
    h = hvp(tc.cubic, jit=False)
    for v in (1.0, np.ones((1, 3)), np.ones(4)):
        with pytest.raises(ArgumentError, match="has shape"):
            h(x, v)
    np.testing.assert_allclose(h(x, np.ones(3)), 6.0 * x, rtol=1e-14)  # d2/dx2 x^3 = 6x
    _, f_vjp = vjp(tc.lin, x, np.ones((2, 3)), jit=False)
    for ct in (1.0, np.ones(3), np.ones((2, 1))):
        with pytest.raises(ArgumentError, match="cotangent has shape"):
            f_vjp(ct)


def test_jacobian_of_a_boolean_function_is_refused():
    x = np.array([0.4, 0.6])
    for make in (jacobian, jacfwd, jacrev):
        with pytest.raises(UnsupportedError, match="value is bool") as e:
            make(tc.positive, jit=False)(x)
        assert "return x > 0.5" in str(e.value)


# ---- 2.2: dict keys that are not identifiers -----------------------------------------------------
@pytest.mark.parametrize("jit", JITS)
def test_dict_keys_that_are_not_identifiers(jit):
    rng = np.random.default_rng(2)
    x, w = rng.normal(size=2), rng.normal(size=2)
    p = {"a-b": np.ones(2), "fc1.weight": w, "class": 1.5, -1: rng.normal(size=2)}
    g = grad(tc.odd_keys, jit=jit)(p, x)
    assert list(g) == list(p)
    want = {"a-b": x, "fc1.weight": 2.0 * w, "class": 2.0, -1: x}
    for k in p:
        np.testing.assert_allclose(g[k], want[k], rtol=1e-15)


# ---- 2.3: structured arguments in every transform -------------------------------------------------
def test_jvp_and_vjp_of_structured_arguments_against_jax(jax):
    p, x = params()
    tp, tx = params(1)
    value, t = jvp(tc.dict_loss, (p, x), (tp, tx), jit=False)
    ref = jax.jvp(jax_twin(tc.dict_loss), (p, x), (tp, tx))
    np.testing.assert_allclose(value, ref[0], rtol=1e-13)
    np.testing.assert_allclose(t, ref[1], rtol=1e-12)
    ct = np.array([0.3, -1.0, 2.0])
    value, f_vjp = vjp(tc.dict_vec, p, x, jit=False)
    _, ref_vjp = jax.vjp(jax_twin(tc.dict_vec), p, x)
    got, want = f_vjp(ct), ref_vjp(ct)
    assert list(got[0]) == list(p)  # the argument's key order
    assert_tree_close(got, tuple(want))
    with pytest.raises(ArgumentError, match="structure"):
        jvp(tc.dict_loss, (p, x), ({"W": tp["W"], "b": tp["b"]}, tx), jit=False)


@pytest.mark.parametrize("jit", JITS)
def test_hessian_and_hvp_of_a_dict_against_jax(jax, jit):
    p, x = params()
    H = hessian(tc.dict_loss, jit=jit)(p, x)
    ref = jax.hessian(jax_twin(tc.dict_loss))(p, x)  # H[a][b]: a dict of dicts
    assert list(H) == list(p) and all(list(H[k]) == list(p) for k in p)
    for a in p:
        for b in p:
            np.testing.assert_allclose(H[a][b], ref[a][b], rtol=1e-10, atol=1e-12)
    v = params(3)[0]
    Hv = hvp(tc.dict_loss, jit=jit)(p, x, v)
    ref_hv = jax.jvp(jax.grad(jax_twin(tc.dict_loss)), (p, x), (v, np.zeros(4)))[1]
    assert_tree_close(Hv, dict(ref_hv))


def test_hessian_blocks_of_a_namedtuple_and_an_array_against_jax(jax):
    rng = np.random.default_rng(4)
    layer, x = tc.Layer(rng.normal(size=(2, 3)), rng.normal(size=2)), rng.normal(size=3)
    H = hessian(tc.layer_loss, wrt=("layer", "x"), jit=False)(layer, x)
    f = jax_twin(tc.layer_loss)
    assert type(H[0][0]) is tc.Layer and type(H[0][0].W) is tc.Layer
    for a in range(2):
        for b in range(2):  # block a, b: a's structure outside, b's inside (JAX's hessian of one)
            ref = jax.jacfwd(jax.grad(f, argnums=a), argnums=b)(layer, x)
            assert_tree_close(H[a][b], ref)


@pytest.mark.parametrize("make", [jacfwd, jacrev, jacobian], ids=lambda m: m.__name__)
def test_jacobian_of_a_dict_against_jax(jax, make):
    p, x = params()
    J = make(tc.dict_vec, jit=False)(p, x)
    ref = jax.jacobian(jax_twin(tc.dict_vec))(p, x)
    assert list(J) == list(p)
    assert_tree_close(J, dict(ref))


# ---- 2.4: keywords and defaults bind as in a call ------------------------------------------------
def test_transforms_bind_keyword_only_parameters_and_defaults():
    x, v = np.array([0.3, -0.8, 1.1]), np.array([1.0, 2.0, -1.0])
    h = hvp(tc.kw_loss, jit=False)
    np.testing.assert_allclose(h(x, v), 2.0 * 2.0 * np.cos(2 * x) * v, rtol=1e-13)  # k=2
    np.testing.assert_allclose(h(x, v, k=3.0), 3.0 * 2.0 * np.cos(2 * x) * v, rtol=1e-13)
    with pytest.raises(ArgumentError, match="positional"):
        h(x, 3.0, v)  # k is keyword-only, as in a call of kw_loss
    np.testing.assert_allclose(hessian(tc.kw_loss, jit=False)(x, k=3.0),
                               np.diag(6.0 * np.cos(2 * x)), rtol=1e-13)
    value, t = jvp(tc.dflt_vec, (x,), (v,), jit=False)
    np.testing.assert_allclose(value, 2.0 * np.sin(x), rtol=1e-15)
    np.testing.assert_allclose(t, 2.0 * np.cos(x) * v, rtol=1e-15)
    value, f_vjp = vjp(tc.dflt_vec, x, jit=False)
    (c,) = f_vjp(v)
    np.testing.assert_allclose(c, 2.0 * np.cos(x) * v, rtol=1e-15)
    np.testing.assert_allclose(jacobian(tc.dflt_vec, jit=False)(x, k=3.0),
                               np.diag(3.0 * np.cos(x)), rtol=1e-15)


# ---- 2.5: refusals of a second derivative name the user's line -----------------------------------
def test_refused_second_derivatives_name_the_users_line():
    with pytest.raises(UnsupportedError, match="det") as e:
        hessian(tc.det_loss, jit=False)(np.eye(2) + 0.1)
    assert e.value.loc is not None and e.value.loc.file.endswith("transform_code.py")
    assert "np.linalg.det(A)" in str(e.value)


# ---- 2.6: loops over parameter structures -------------------------------------------------------
@pytest.mark.parametrize("jit", JITS)
def test_loops_over_parameter_structures_against_jax(jax, jit):
    rng = np.random.default_rng(5)
    # layers of different widths: one loop body could not hold them, the loop is unrolled
    layers = [(rng.normal(size=(4, 3)), rng.normal(size=4)), (rng.normal(size=(2, 4)), rng.normal(size=2))]
    x = rng.normal(size=3)
    for fn, args in [(tc.layers_by_index, (layers, x)), (tc.layers_enumerated, (layers, x)),
                     (tc.layers_zipped, ([W for W, _ in layers], [b for _, b in layers], x))]:
        got = grad(fn, jit=jit)(*args)
        ref = jax.grad(jax_twin(fn))(*args)
        assert_tree_close(got, ref)
    p = {"a": rng.normal(size=3), "b": rng.normal(size=3)}
    for fn in (tc.dict_values, tc.dict_items):
        got = grad(fn, wrt=("p", "x"), jit=jit)(p, x)
        ref = jax.grad(jax_twin(fn), argnums=(0, 1))(p, x)
        assert list(got[0]) == ["a", "b"]
        assert_tree_close(got, tuple(ref))


def test_break_in_a_loop_over_a_structure_is_refused_at_the_loop():
    layers = [(np.ones((2, 2)), np.ones(2))]
    with pytest.raises(UnsupportedError, match="break") as e:
        grad(tc.break_in_container_loop, wrt="x", jit=False)(layers, np.ones(2))
    assert "for W, b in layers" in str(e.value)


# ---- 2.7: a namedtuple built in the loss (aux) --------------------------------------------------
@pytest.mark.parametrize("jit", JITS)
def test_namedtuple_built_in_the_loss_as_aux(jit):
    rng = np.random.default_rng(6)
    w, X, y = rng.normal(size=2), rng.normal(size=(5, 2)), rng.normal(size=5)
    g, aux = grad(tc.aux_namedtuple, has_aux=True, jit=jit)(w, X, y)
    assert type(aux) is tc.Stats
    np.testing.assert_allclose(aux.pred, X @ w, rtol=1e-15)
    np.testing.assert_allclose(aux.err, X @ w - y, rtol=1e-15)
    assert aux.scale == 1.0  # the class's default
    np.testing.assert_allclose(g, 2.0 * X.T @ (X @ w - y) / 5, rtol=1e-13)


# ---- 2.8: a write into an entry of a structure: refused with the true reason ------------------------
def test_write_into_an_entry_of_a_structure_is_refused_with_the_reason():
    x = np.array([1.0, 2.0, 3.0])
    for fn, arg in [(tc.write_into_dict_entry, {"W": np.ones(3)}),
                    (tc.write_into_namedtuple_field, tc.Layer(np.ones(3), 0.0))]:
        with pytest.raises(UnsupportedError, match="NumPy would change that array in place") as e:
            grad(fn, jit=False)(arg, x)
        assert "no name holds" not in str(e.value) and ".copy()" in str(e.value)
        assert "transform_code.py" in str(e.value)
