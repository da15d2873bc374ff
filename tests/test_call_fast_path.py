"""The per-call fast path of GradFunction.__call__ (arguments that are already float64
C-contiguous arrays or floats skip `normalize`) changes nothing but the time a call takes:
same results, same errors, and no new Numba specialisation for other layouts or dtypes."""
import numpy as np
import pytest

from compiler import grad, value_and_grad
from compiler.errors import ArgumentError


def affine_loss(x, y, W, b):
    r = W @ x + b - y
    return np.sum(r * r)


def _args(rng):
    return (rng.normal(size=3), 0.5, rng.normal(size=(2, 3)), rng.normal(size=2))


def _expected(x, y, W, b):
    r = W @ x + b - y
    return np.sum(r * r), (2 * np.outer(r, x), 2 * r)


def test_fast_path_gives_the_same_gradients_and_no_new_specialisation():
    rng = np.random.default_rng(0)
    x, y, W, b = _args(rng)
    vg = value_and_grad(affine_loss, wrt=("W", "b"), jit=True)
    first = vg(x, y, W, b)
    assert len(vg._fast) == 1  # registered after the first (normalised) call
    spec = next(iter(vg._fast.values()))
    for args in [(x, y, W, b), (x, np.float64(y), W, b), (list(x), y, W, b),
                 (x, y, np.asfortranarray(W), b), (x.astype(np.float32), y, W, b),
                 (x, np.float32(y), W[:, :], b), (x, True, W, b)]:
        v, (gW, gb) = vg(*args)
        xe = np.asarray(args[0], dtype=np.float64)
        ev, (eW, eb) = _expected(xe, float(args[1]), W, b)
        assert gW.dtype == np.float64 and gb.dtype == np.float64
        np.testing.assert_allclose(v, ev, rtol=1e-6)
        np.testing.assert_allclose(gW, eW, rtol=1e-6)
        np.testing.assert_allclose(gb, eb, rtol=1e-6)
    np.testing.assert_array_equal(first[1][0], vg(x, y, W, b)[1][0])
    # F order, float32, lists, np.float64 and bool: normalised as before, not recompiled
    assert len(spec.fn.overloads) == 1, list(spec.fn.overloads)


def test_fast_path_keeps_argument_errors():
    rng = np.random.default_rng(1)
    x, y, W, b = _args(rng)
    g = grad(affine_loss, wrt="b", jit=True)
    g(x, y, W, b)
    with pytest.raises(ArgumentError, match="missing a required argument: 'b'"):
        g(x, y, W)
    with pytest.raises(ArgumentError, match="too many positional arguments"):
        g(x, y, W, b, b)
    with pytest.raises(ArgumentError, match="argument 'y'"):
        g(x, "a", W, b)


def test_plain_python_gradients_never_take_the_fast_path():
    rng = np.random.default_rng(2)
    x, y, W, b = _args(rng)
    g = grad(affine_loss, wrt="W", jit=False)
    np.testing.assert_allclose(g(x, y, W, b), _expected(x, y, W, b)[1][0])
    assert not g._fast


def test_specialize_keys_float_arrays_without_normalize_and_others_with_it():
    """`specialize` (what fit's epoch_function calls) finds the specialisation of float64
    C-contiguous arrays and floats from their fast key; the key equals normalize's, and
    arguments the fast key does not cover (an int label, an F-ordered or float32 array)
    still get normalize's key."""
    rng = np.random.default_rng(1)
    x, y, W, b = _args(rng)
    vg = value_and_grad(affine_loss, wrt=("W", "b"), jit=False)
    spec = vg.specialize(x, y, W, b)
    assert spec.key == vg.normalize((x, y, W, b))[1]
    assert vg.specialize(x, np.float64(y), W, b) is spec
    assert vg.specialize(np.asfortranarray(x), y, np.asfortranarray(W), b) is spec
    assert vg.specialize(x.astype(np.float32), y, W, b) is spec
    label = vg.specialize(x, 1, W, b)  # an int that is not differentiated stays an int
    assert label is not spec and label.key == vg.normalize((x, 1, W, b))[1]
    with pytest.raises(ArgumentError, match="takes 4 arguments"):
        vg.specialize(x, y, W)


def indexed_loss(x, W, i, idx):
    return np.sum((W[i] @ x) ** 2) + np.sum(x[idx])


def scaled(x, k):
    return np.sum(-np.cos(x * k))


def test_ints_and_int_arrays_take_the_fast_path_unless_differentiated():
    rng = np.random.default_rng(3)
    x, W, idx = rng.normal(size=3), rng.normal(size=(4, 3)), np.array([0, 2, 2])
    vg = value_and_grad(indexed_loss, wrt=("x", "W"), jit=True)
    for i in (0, 3, np.int64(1), -1):
        v, (gx, gW) = vg(x, W, i, idx)
        r = W[i] @ x
        want_x = 2 * r * W[i] + np.bincount(idx, minlength=3)
        want_W = np.zeros_like(W)
        want_W[i] = 2 * r * x
        np.testing.assert_allclose(v, r * r + np.sum(x[idx]), rtol=1e-12)
        np.testing.assert_allclose(gx, want_x, rtol=1e-12)
        np.testing.assert_allclose(gW, want_W, rtol=1e-12)
    assert len(vg._fast) == 1 and next(iter(vg._fast)) == (1, 2, -2, 101)
    # an int that is differentiated is a float64 in the key: the normal path, right answer
    g = grad(scaled, wrt="k", jit=True)
    for k in (1, 3, 1):
        assert g(x, k) == pytest.approx(np.sum(np.sin(x * k) * x), rel=1e-12)
    assert not any(-2 in key for key in g._fast)
    with pytest.raises(Exception):
        vg(x, W, 2 ** 70, idx)  # too big for int64: refused, not wrapped around


def int_square(w, n):
    return np.sum(w * w) * (n * n)


SCALE = 2.0
WEIGHTS = np.array([1.0, 2.0, 3.0])


def scaled_by_global(w):
    return SCALE * np.sum(w * w)


def weighted_by_global(w):
    return np.sum(WEIGHTS * w * w)


def test_direct_path_runs_only_arguments_of_exactly_a_compiled_type():
    """After a fast-path call, calls go first to a clone of the compiled tier's Numba
    dispatcher that never compiles (dispatch.Specialization.direct_fn). An argument
    whose Numba type is not exactly that of a compiled signature (an int where the
    specialisation has a float, a strided, F-ordered, read-only or float32 array, a
    list) must take the normal path: the same values as NumPy, integer arithmetic
    included."""
    w = np.arange(1.0, 4.0)
    vg = value_and_grad(int_square, wrt="w", jit=True)
    numpy_vg = value_and_grad(int_square, wrt="w", jit=False)
    for _ in range(3):
        v, g = vg(w, 3.0)
    assert vg._dispatcher.direct is not None
    assert v == 14.0 * 9.0 and np.array_equal(g, 2 * w * 9.0)
    n = 2 ** 40 + 1  # n * n wraps around in int64, as NumPy computes it
    with np.errstate(over="ignore"):
        want = numpy_vg(w, n)
    assert want[0] == 14.0 * float(2 ** 41 + 1)
    for _ in range(2):
        v, g = vg(w, n)
        assert v == want[0] and np.array_equal(g, want[1])
        assert vg(w, 3.0)[0] == 126.0  # the float specialisation again, between them
    read_only = w.copy()
    read_only.flags.writeable = False
    wide = np.arange(1.0, 7.0)
    for x in (read_only, wide[::2], w.astype(np.float32), list(w), np.asfortranarray(w)):
        v, g = vg(x, 3.0)
        xe = np.asarray(x, dtype=np.float64)
        assert v == 9.0 * np.sum(xe * xe) and np.array_equal(g, 18.0 * xe)
    for n in (True, np.bool_(True), np.int32(3), np.uint8(3), np.float32(3.0), 3):
        v, g = vg(w, n)  # Numba would convert these to the float64 signature's types
        want = numpy_vg(w, n)
        assert v == want[0] and np.array_equal(g, want[1])
    rows = np.arange(6.0).reshape(2, 3)  # another rank: another specialisation
    assert vg(rows, 1.0)[0] == 55.0 and vg(w, 1.0)[0] == 14.0


def sum_of_both(x, w):
    return np.sum(x * x) + np.sum(w)


def test_direct_path_sends_what_numba_cannot_type_to_normalisation():
    vg = value_and_grad(sum_of_both, wrt=("x", "w"), jit=True)
    for _ in range(3):
        vg(np.ones(2), 1.0)
    assert vg._dispatcher.direct is not None
    v, (gx, gw) = vg(np.ones(2), [])  # Numba: "cannot compute fingerprint of empty list"
    assert v == 2.0 and gw.shape == (0,)


def test_direct_path_notices_a_rebound_global():
    global SCALE
    w = np.arange(1.0, 4.0)
    g = grad(scaled_by_global, jit=True)
    try:
        for _ in range(3):
            np.testing.assert_array_equal(g(w), 4.0 * w)
        assert g._dispatcher.direct is not None
        SCALE = 3.0
        np.testing.assert_array_equal(g(w), 6.0 * w)
        np.testing.assert_array_equal(g(w), 6.0 * w)
    finally:
        SCALE = 2.0


def scan_into(x, w):
    for i in range(1, x.shape[0]):
        x[i] = x[i - 1] * w[i] + x[i]
    return np.sum(x * x)


def test_direct_path_of_a_loss_that_writes_into_an_argument():
    """The direct path of a loss that writes into `x`: the caller's x never changes,
    and x sharing memory with w is refused as NumPy would see the write through w;
    arguments the direct path does not take (a list) still give NumPy's values."""
    x0, w = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    numpy_vg = value_and_grad(scan_into, wrt=("x", "w"), jit=False)
    vg = value_and_grad(scan_into, wrt=("x", "w"), jit=True)
    want = numpy_vg(x0.copy(), w)
    for _ in range(4):
        x = x0.copy()
        v, (gx, gw) = vg(x, w)
        np.testing.assert_array_equal(x, x0)
        assert v == want[0]
        np.testing.assert_allclose(gx, want[1][0], rtol=1e-14)
        np.testing.assert_allclose(gw, want[1][1], rtol=1e-14)
    assert vg._dispatcher.direct is not None
    class Sub(np.ndarray):
        pass

    shared = np.array([1.0, 2.0, 3.0])
    for other in (shared, shared[:], shared[::-1], shared.view(Sub)):
        with pytest.raises(ArgumentError, match="shares memory|subclass"):
            vg(shared, other)
        with pytest.raises(ArgumentError, match="shares memory|subclass"):
            vg(other, shared)
    np.testing.assert_array_equal(shared, [1.0, 2.0, 3.0])
    assert vg(list(x0), w)[0] == want[0]


def test_direct_path_notices_a_global_array_changed_in_place():
    w = np.arange(1.0, 4.0)
    g = grad(weighted_by_global, jit=True)
    old = WEIGHTS.copy()
    try:
        for _ in range(3):
            np.testing.assert_array_equal(g(w), 2 * old * w)
        assert g._dispatcher.direct is not None
        WEIGHTS[0] = 10.0
        for _ in range(3):
            np.testing.assert_array_equal(g(w), 2 * WEIGHTS * w)
    finally:
        WEIGHTS[:] = old


def test_direct_path_refuses_ndarray_subclasses_as_the_normal_path_does():
    """Numba types np.matrix or a masked array as the plain array it views: the direct
    path's guard sends them to normalisation, which refuses them (NumPy's operators
    mean something else for them), as on a first call."""
    w = np.arange(1.0, 5.0).reshape(2, 2)
    vg = value_and_grad(affine_matrix_loss, jit=True)
    for _ in range(3):
        vg(w)
    assert vg._dispatcher.direct is not None
    for sub in (np.asmatrix(w), np.ma.masked_array(w, mask=[[0, 1], [0, 0]])):
        with pytest.raises(ArgumentError, match="subclass"):
            vg(sub)


def affine_matrix_loss(A):
    return np.sum((A * A) @ A)


def test_direct_function_misses_every_inexact_type():
    """The direct path relies on its guard (exact Python types: the scalars, lists and
    0-d arrays below) and on Numba's dispatcher matching a compiled signature only
    exactly while it may compile (the arrays below: float32, int64, F-ordered,
    read-only, strided): each must raise Miss, never be converted to the signature."""
    from compiler.dispatch import Miss
    x, W = np.ones(3), np.ones((2, 3))
    vg = value_and_grad(affine_loss, wrt=("W", "b"), jit=True)
    args = (x, 0.5, W, np.ones(2))
    for _ in range(2):
        vg(*args)
    direct = vg._dispatcher.direct
    assert direct(*args)[0] == vg(*args)[0]
    read_only = x.copy()
    read_only.flags.writeable = False
    for i, bad in [(0, x.astype(np.float32)), (0, x.astype(np.int64)), (2, np.asfortranarray(W)),
                   (0, read_only), (0, np.ones(6)[::2]), (1, 1), (1, True), (1, np.float32(0.5)),
                   (1, np.int32(1)), (0, list(x)), (1, np.array(0.5))]:
        with pytest.raises(Miss):
            direct(*args[:i], bad, *args[i + 1:])


def affine_and_aux(x, y, W, b):
    r = W @ x + b - y
    return np.sum(r * r), np.sum(r)


@pytest.mark.parametrize("make", [
    lambda jit: grad(affine_loss, wrt="W", jit=jit),
    lambda jit: grad(affine_loss, wrt=("W", "b"), jit=jit),
    lambda jit: value_and_grad(affine_loss, wrt="b", jit=jit),
    lambda jit: value_and_grad(affine_loss, wrt=("W", "b"), jit=jit),
    lambda jit: grad(affine_and_aux, wrt=("W", "b"), has_aux=True, jit=jit),
    lambda jit: value_and_grad(affine_and_aux, wrt="W", has_aux=True, jit=jit),
], ids=["grad1", "grad2", "vg1", "vg2", "grad_aux", "vg_aux"])
def test_entry_returns_what_the_normal_path_returns(make):
    """Once a compiled specialisation has served a call, calls go to its entry
    (Specialization.entry_fn: guard, compiled function and result packing in one
    frame). Every kind of gradient function must give there the structure and numbers
    of the normal path (the first call) and of the NumPy tier; keyword calls and calls
    of another arity still bind as before."""
    rng = np.random.default_rng(3)
    x, y, W, b = _args(rng)
    f = make(True)
    first = f(x, y, W, b)
    assert f._call.__name__ != "entry"
    second = f(x, y, W, b)
    # installed by the fast-path call (has_aux results are regrouped: the normal path)
    assert (f._call.__name__ == "entry") == (not f.has_aux)
    third = f(x, y, W, b)
    by_keyword = f(x, y, b=b, W=W)
    expected = make(False)(x, y, W, b)  # the NumPy tier

    def same(a, b):
        if isinstance(a, tuple):
            assert isinstance(b, tuple) and len(a) == len(b)
            for p, q in zip(a, b):
                same(p, q)
        else:
            assert type(a) in (float, np.float64, np.ndarray)
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
    for out in (first, second, third, by_keyword):
        same(out, expected)


def test_entry_reports_run_errors_at_the_users_line_and_binds_as_before():
    rng = np.random.default_rng(4)
    x, y, W, b = _args(rng)
    vg = value_and_grad(affine_loss, wrt=("W", "b"), jit=True)
    for _ in range(3):
        vg(x, y, W, b)
    assert vg._call.__name__ == "entry"
    from compiler.errors import RunError
    with pytest.raises(RunError) as e:
        vg(np.ones(5), y, W, b)  # W @ x: (2, 3) @ (5,)
    assert "test_call_fast_path.py" in str(e.value) and "W @ x" in str(e.value)
    with pytest.raises(ArgumentError, match="missing a required argument: 'b'"):
        vg(x, y, W)
    with pytest.raises(ArgumentError, match="multiple values for argument 'W'"):
        vg(x, y, W, W=W)
    import inspect
    assert list(inspect.signature(vg).parameters) == ["x", "y", "W", "b"]
    assert vg.__call__(x, y, W, b)[0] == vg(x, y, W, b)[0]
    assert callable(vg) and vg.__name__ == "affine_loss"


def keyword_only_loss(x, *, w):
    return np.sum(x * w)


class _Box:
    broken = False

    @property
    def scale(self):
        if self.broken:
            raise ValueError("scale unavailable")
        return 2.0


BOX = _Box()


def reads_a_property(x, w):
    return np.sum(x * w) * BOX.scale


def test_entry_keeps_what_the_general_path_refuses_and_raises():
    """Keyword-only parameters: a positional call is refused however many calls came
    before (no entry for them); an exception raised while re-checking what the code
    baked in (a property read) is the same RunError through the entry as through a
    keyword call, which binds first."""
    from compiler.errors import RunError
    x = np.ones(3)
    g = grad(keyword_only_loss, wrt="w", jit=True)
    for _ in range(3):
        np.testing.assert_array_equal(g(x, w=x), x)
    with pytest.raises(ArgumentError, match="too many positional arguments"):
        g(x, x)
    vg = value_and_grad(reads_a_property, wrt="w", jit=True)
    for _ in range(3):
        assert vg(x, x)[0] == 6.0
    assert vg._call.__name__ == "entry"
    BOX.broken = True
    try:
        for call in (lambda: vg(x, x), lambda: vg(x, w=x)):
            with pytest.raises(RunError, match="scale unavailable") as e:
                call()
            assert isinstance(e.value.__cause__, ValueError)
    finally:
        BOX.broken = False
    assert vg(x, x)[0] == 6.0


def test_gradient_functions_stay_callable_objects():
    """`GradFunction.__call__(f, ...)` calls f; a stored `f.__call__` keeps working after
    f itself is dropped (it holds f, as a bound method would), and f is freed once
    nothing refers to it (the garbage collector breaks its cycles)."""
    import gc
    import inspect
    import weakref
    from compiler.api import GradFunction
    x = np.ones(3)
    vg = value_and_grad(reads_a_property, wrt="w", jit=True)
    assert GradFunction.__call__(vg, x, x)[0] == 6.0
    assert str(inspect.signature(vg)) == "(x, w)"
    for jit in (False, True):
        f = grad(affine_loss, wrt="b", jit=jit)
        args = _args(np.random.default_rng(0))
        for _ in range(3):
            want = f(*args)
        call, ref = f.__call__, weakref.ref(f)
        del f
        gc.collect()
        for _ in range(2):  # the entry (jit=True), then a keyword call and another arity
            np.testing.assert_array_equal(call(*args), want)
        np.testing.assert_array_equal(call(*args[:3], b=args[3]), want)
        with pytest.raises(ArgumentError):
            call(*args[:3])
        del call
        gc.collect()
        assert ref() is None
