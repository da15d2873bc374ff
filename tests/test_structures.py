"""Parameters as structures and `has_aux` (issue 14): dicts, lists, tuples and
namedtuples of arrays and numbers, nested, as arguments and `wrt` entries; gradients
come back with the argument's structure; `(loss, aux)` losses. Against autograd (which
takes the same structures), central differences and NumPy's own values, with `jit` on
and off."""
import numpy as np
import pytest

import structure_code as sc
from compiler import grad, value_and_grad
from compiler.errors import AdjointError, UnsupportedError
from compiler.pytree import flatten
from runtime.check import numerical_grad
from tangent_corpus import central_differences

JITS = [False, True]


def _leaves(tree):
    return flatten(tree)[0]


def _assert_tree_close(ours, ref, rtol=1e-7, atol=1e-10):
    """Same structure (kinds, keys, namedtuple class) and leaves equal to rtol."""
    lo, to = flatten(ours)
    lr, tr = flatten(ref)
    assert to == tr, f"structure {to} != {tr}"
    for a, b in zip(lo, lr):
        assert np.shape(a) == np.shape(b)
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def _autograd(fn, args, i):
    import autograd

    from oracles import autograd_twin
    return autograd.grad(autograd_twin(fn), i)(*args)


def _params(rng):
    return {"W1": rng.standard_normal((3, 4)), "b1": rng.standard_normal(4),
            "w2": rng.standard_normal(4), "b2": 0.3}


@pytest.mark.parametrize("jit", JITS)
def test_dict_parameters_give_a_dict_gradient(jit):
    rng = np.random.default_rng(0)
    p, X, y = _params(rng), rng.standard_normal((5, 3)), rng.standard_normal(5)
    g = grad(sc.dict_loss, jit=jit)(p, X, y)
    assert isinstance(g, dict) and list(g) == list(p)
    assert isinstance(g["b2"], float) or np.ndim(g["b2"]) == 0
    _assert_tree_close(g, _autograd(sc.dict_loss, (p, X, y), 0))
    _assert_tree_close(g, central_differences(sc.dict_loss, (p, X, y), 0), rtol=1e-6, atol=1e-8)
    # the same numbers as the loss written with separate arguments
    sep = grad(sc.separate_loss, wrt=(0, 1, 2, 3), jit=jit)(p["W1"], p["b1"], p["w2"], p["b2"], X, y)
    for k, s in zip(p, sep):
        np.testing.assert_allclose(g[k], s, rtol=1e-12)
    v, g2 = value_and_grad(sc.dict_loss, jit=jit)(p, X, y)
    assert v == pytest.approx(sc.dict_loss(p, X, y), rel=1e-12)
    _assert_tree_close(g2, g, rtol=1e-12)


def test_structured_arguments_lower_to_plain_parameters():
    """The generated function takes the leaves: reading p["W1"] costs nothing."""
    rng = np.random.default_rng(1)
    g = grad(sc.dict_loss, jit=False)
    g(_params(rng), rng.standard_normal((5, 3)), rng.standard_normal(5))
    first = g.source.splitlines()[0]
    assert first == "def dict_loss_value_and_grad(W1, b1, w2, b2, X, y):", first
    code = [ln for ln in g.source.splitlines() if not ln.strip().startswith("#")]
    assert not any("p[" in ln for ln in code) and "g_W1" in g.source


@pytest.mark.parametrize("jit", JITS)
def test_lists_tuples_namedtuples_and_nesting(jit):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(3)
    layers = [(rng.standard_normal((4, 3)), rng.standard_normal(4)),
              (rng.standard_normal((2, 4)), rng.standard_normal(2))]
    g = grad(sc.layers_loss, jit=jit)(layers, x)
    assert isinstance(g, list) and all(isinstance(t, tuple) for t in g)
    _assert_tree_close(g, _autograd(sc.layers_loss, (layers, x), 0))

    layer = sc.Layer(rng.standard_normal((2, 3)), rng.standard_normal(2))
    g = grad(sc.namedtuple_loss, jit=jit)(layer, x)
    assert isinstance(g, sc.Layer)
    _assert_tree_close(g, central_differences(sc.namedtuple_loss, (layer, x), 0),
                       rtol=1e-6, atol=1e-8)

    p = {"enc": {"W": rng.standard_normal((2, 3)), "b": rng.standard_normal(2)},
         "mix": [rng.standard_normal(2), rng.standard_normal(2)], "scale": 1.5}
    g = grad(sc.nested_loss, jit=jit)(p, x)
    _assert_tree_close(g, _autograd(sc.nested_loss, (p, x), 0))


@pytest.mark.parametrize("jit", JITS)
def test_wrt_mixes_structured_and_plain_arguments(jit):
    rng = np.random.default_rng(3)
    p = {"A": rng.standard_normal((2, 3)), "c": rng.standard_normal(2)}
    w, x = rng.standard_normal(2), rng.standard_normal(3)
    gw, gp = grad(sc.mixed_loss, wrt=("w", "p"), jit=jit)(p, w, x)
    np.testing.assert_allclose(gw, numerical_grad(sc.mixed_loss, (p, w, x), 1), rtol=1e-6)
    _assert_tree_close(gp, _autograd(sc.mixed_loss, (p, w, x), 0))


def test_int_leaves_of_data_stay_ints_and_lists_of_numbers_stay_arrays():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal(5), rng.standard_normal(2)
    g = grad(sc.int_leaf_loss, wrt="x", jit=False)
    out = g({"k": np.array([1, 3]), "w": w}, x)
    expected = np.zeros(5)
    expected[[1, 3]] = w
    np.testing.assert_allclose(out, expected)
    # a list of plain numbers is still an array (unchanged from before structures)
    h = grad(sc.scalar_loss, wrt="x", jit=False)
    np.testing.assert_allclose(h(2.0, [1.0, 2.0]), 2.0 * np.cos(2.0 * np.array([1.0, 2.0])) * 2.0)


@pytest.mark.parametrize("jit", JITS)
def test_has_aux(jit):
    rng = np.random.default_rng(5)
    w, X, y = rng.standard_normal(3), rng.standard_normal((6, 3)), rng.standard_normal(6)
    gw, aux = grad(sc.aux_loss, has_aux=True, jit=jit)(w, X, y)
    np.testing.assert_allclose(gw, numerical_grad(lambda w, X, y: sc.aux_loss(w, X, y)[0],
                                                  (w, X, y), 0), rtol=1e-6)
    want = sc.aux_loss(w, X, y)[1]
    assert list(aux) == ["pred", "mse", "positive"]
    np.testing.assert_allclose(aux["pred"], X @ w, rtol=1e-12)
    assert aux["mse"] == pytest.approx(want["mse"], rel=1e-12)
    assert int(aux["positive"]) == int(want["positive"])
    (value, aux2), gw2 = value_and_grad(sc.aux_loss, has_aux=True, jit=jit)(w, X, y)
    assert value == pytest.approx(sc.aux_loss(w, X, y)[0], rel=1e-12)
    np.testing.assert_allclose(gw2, gw, rtol=1e-12)
    np.testing.assert_allclose(aux2["pred"], aux["pred"], rtol=1e-12)
    # a structured argument and a tuple aux together
    p = {"W": rng.standard_normal((2, 3))}
    x = rng.standard_normal(3)
    gp, (h, hmax) = grad(sc.aux_tuple_loss, has_aux=True, jit=jit)(p, x)
    np.testing.assert_allclose(h, np.tanh(p["W"] @ x), rtol=1e-12)
    assert hmax == pytest.approx(np.max(h))
    _assert_tree_close(gp, central_differences(lambda p, x: sc.aux_tuple_loss(p, x)[0], (p, x), 0),
                       rtol=1e-6, atol=1e-8)


def test_has_aux_needs_a_pair_and_keys_must_exist():
    with pytest.raises(UnsupportedError, match=r"must return `\(loss, aux\)`"):
        grad(sc.not_a_pair, has_aux=True, jit=False)(np.ones(2))
    with pytest.raises(UnsupportedError, match="no key 'W2'") as e:
        grad(sc.missing_key, jit=False)({"W": np.ones((2, 2))}, np.ones(2))
    assert "structure_code.py:" in str(e.value) and "'W'" in str(e.value)
    with pytest.raises(AdjointError, match="returns a tuple"):
        grad(sc.aux_tuple_loss, jit=False)({"W": np.ones((2, 3))}, np.ones(3))


def test_compiled_fast_path_checks_the_layout():
    """The structured fast path (compiled tier) serves a dict whatever its key order, and
    anything else (a float32 leaf, another key, a transposed array) goes the normal way
    and is still right."""
    rng = np.random.default_rng(6)
    p, X, y = _params(rng), rng.standard_normal((5, 3)), rng.standard_normal(5)
    g = grad(sc.dict_loss, jit=True)
    ref = g(p, X, y)
    assert g._dispatcher.tree_fast  # registered after the first compiled call
    reordered = {k: p[k] for k in reversed(list(p))}
    _assert_tree_close(dict(sorted(g(reordered, X, y).items())), dict(sorted(ref.items())),
                       rtol=1e-12)
    p32 = dict(p, W1=p["W1"].astype(np.float32))
    np.testing.assert_allclose(g(p32, X, y)["W1"],
                               grad(sc.dict_loss, jit=False)(p32, X, y)["W1"], rtol=1e-12)
    pF = dict(p, W1=np.asfortranarray(p["W1"]))
    np.testing.assert_allclose(g(pF, X, y)["W1"], ref["W1"], rtol=1e-12)
    with pytest.raises(UnsupportedError, match="no key 'W1'"):
        g({k: v for k, v in p.items() if k != "W1"} | {"V": p["W1"]}, X, y)


@pytest.mark.parametrize("jit", JITS)
def test_zero_d_arrays_are_the_scalars_they_hold(jit):
    rng = np.random.default_rng(7)
    x = rng.standard_normal(4)
    g = grad(sc.scalar_loss, wrt=(0, 1), jit=jit)
    by_float = g(0.7, x)
    by_array = g(np.array(0.7), x)  # after a float call: same specialisation, no TypingError
    assert np.ndim(by_array[0]) == 0
    np.testing.assert_allclose(by_array[0], by_float[0], rtol=1e-12)
    np.testing.assert_allclose(by_array[0], numerical_grad(sc.scalar_loss, (0.7, x), 0), rtol=1e-6)
    assert len(g._specs) == 1


@pytest.mark.parametrize("jit", JITS)
def test_fit_takes_structured_parameters(jit):
    """fit flattens a structured parameter at its entry and rebuilds it at its exit: the
    same steps as with the leaves as separate parameters."""
    from runtime.optim import Adam
    from runtime.train import fit
    rng = np.random.default_rng(8)
    X, y = rng.standard_normal((30, 3)), rng.standard_normal(30)
    P = {"W": rng.standard_normal((4, 3)) * 0.5, "b": np.zeros(4), "w": rng.standard_normal(4)}
    before = {k: v.copy() for k, v in P.items()}
    kw = dict(epochs=3, verbose=False, shuffle=True, seed=1)
    r1 = fit(value_and_grad(sc.fit_dict_loss, wrt="p", jit=jit), {"p": P}, (X, y), Adam(0.01), **kw)
    r2 = fit(value_and_grad(sc.fit_separate_loss, wrt=("W", "b", "w"), jit=jit), dict(P), (X, y),
             Adam(0.01), **kw)
    assert list(r1.params) == ["p"] and list(r1.params["p"]) == ["W", "b", "w"]
    for k in P:
        np.testing.assert_allclose(r1.params["p"][k], r2.params[k], rtol=1e-12)
        np.testing.assert_array_equal(P[k], before[k])  # the caller's arrays are copied
    np.testing.assert_allclose(r1.loss, r2.loss, rtol=1e-12)


@pytest.mark.parametrize("jit", JITS)
def test_fit_keeps_a_default_argument_out_of_the_data(jit):
    from runtime.optim import SGD
    from runtime.train import fit
    rng = np.random.default_rng(9)
    X, y, w = rng.standard_normal((20, 3)), rng.standard_normal(20), rng.standard_normal(3)
    kw = dict(epochs=2, verbose=False, shuffle=False)
    r1 = fit(value_and_grad(sc.fit_default_loss, wrt="w", jit=jit), {"w": w}, (X, y), SGD(0.01), **kw)
    r2 = fit(value_and_grad(sc.fit_written_out_loss, wrt="w", jit=jit), {"w": w}, (X, y),
             SGD(0.01), **kw)
    np.testing.assert_allclose(r1.params["w"], r2.params["w"], rtol=1e-12)
    assert "scale" not in r1.epoch_source.splitlines()[0]
