"""No silently wrong results: stale constants, out-of-bounds indices, ambiguous writes,
aliasing, and run-time shape errors reported at the user's line."""
import numpy as np
import pytest

import safety_code as sc
from compiler import grad, value_and_grad
from compiler.errors import ArgumentError, RunError


@pytest.mark.parametrize("jit", [True, False])
def test_globals_rebound_or_changed_in_place_are_seen(jit, monkeypatch):
    g = grad(sc.regularised, jit=jit)
    w = np.ones(3)
    np.testing.assert_allclose(g(w), 0.2 * w + 2 * (w - sc.TARGET))
    monkeypatch.setattr(sc, "LAM", 10.0)
    np.testing.assert_allclose(g(w), [20.0, 18.0, 16.0])
    monkeypatch.setattr(sc, "TARGET", sc.TARGET.copy())
    sc.TARGET[:] = 0.0
    np.testing.assert_allclose(g(w), [22.0, 22.0, 22.0])


@pytest.mark.parametrize("jit", [True, False])
def test_out_of_bounds_index_is_an_error_at_the_user_line(jit):
    with pytest.raises(RunError, match="IndexError") as e:
        grad(sc.off_by_one, jit=jit)(np.arange(1.0, 4.0), np.ones(3))
    assert "safety_code.py:15:" in str(e.value)
    assert isinstance(e.value.__cause__, IndexError)


@pytest.mark.parametrize("jit", [True, False])
def test_shape_mismatch_names_the_user_line(jit):
    with pytest.raises(RunError) as e:
        grad(sc.least_squares, jit=jit)(np.ones(3), np.ones((4, 2)), np.ones(4))
    assert "safety_code.py:20:" in str(e.value) and "forward sweep" in str(e.value)


@pytest.mark.parametrize("jit", [True, False])
def test_writes_with_repeated_indices_are_numpys_buffered_writes(jit):
    """b[idx] += 1 with idx = [1, 1] adds once, as NumPy (issue 13; was a RunError)."""
    g = grad(sc.increment, jit=jit)
    np.testing.assert_allclose(g(np.arange(4.0), np.array([1, 2])), [0.0, 4.0, 6.0, 6.0])
    w = np.arange(4.0)
    assert sc.increment(w, np.array([1, 1])) == 0.0 + 4.0 + 4.0 + 9.0
    np.testing.assert_allclose(g(w, np.array([1, 1])), [0.0, 4.0, 4.0, 6.0])


def test_writing_through_an_alias_or_into_an_argument_is_what_numpy_computes():
    """y = x; y[0] = 5 changes x too; w += 1 on an argument works on the argument's value
    without changing the caller's array (issue 13; both were refused)."""
    x = np.ones(3)
    np.testing.assert_allclose(grad(sc.alias_write, jit=False)(x), [0.0, 2.0, 2.0])
    np.testing.assert_allclose(grad(sc.param_update, jit=False)(x), [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(x, np.ones(3))
    np.testing.assert_allclose(grad(sc.copied, jit=False)(np.array([1.0, 2.0, 3.0])),
                               [3.0, 6.0, 8.0])


def test_integer_data_compiles_with_numba():
    g = grad(sc.least_squares, jit=True)
    X = np.arange(12).reshape(4, 3)
    y = np.ones(4)
    w = np.array([0.1, -0.2, 0.3])
    np.testing.assert_allclose(g(w, X, y), 2 * X.T @ (X @ w - y) / 4)
    assert g.compile_info["jit"] is True  # no fallback to plain NumPy


def with_default(x, scale=2.0):
    return np.sum(x) * scale


def test_keyword_arguments_and_defaults_bind_as_in_python():
    g = grad(with_default, jit=False)
    np.testing.assert_allclose(g(np.ones(3)), [2.0, 2.0, 2.0])
    np.testing.assert_allclose(g(np.ones(3), scale=3.0), [3.0, 3.0, 3.0])
    np.testing.assert_allclose(g(x=np.ones(2)), [2.0, 2.0])
    from compiler.errors import ArgumentError
    with pytest.raises(ArgumentError, match="unexpected keyword"):
        g(np.ones(3), bogus=1.0)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("bad", [5, -6, -100_000_000])
def test_index_arrays_out_of_range_in_kernels_are_index_errors(jit, bad):
    # np.add.at and array reads run runtime kernels: bounds-checked like generated code
    # (an out-of-range negative index once wrote to stray memory: a segfault)
    x = np.array([1.0, 2.0])
    with pytest.raises(RunError, match="IndexError"):
        grad(sc.scatter_add, jit=jit)(x, np.array([0, bad]))
    X = np.arange(15.0).reshape(5, 3) / 10
    with pytest.raises(RunError, match="IndexError"):
        grad(sc.gather_rows, jit=jit)(X, np.array([1, bad]))


@pytest.mark.parametrize("jit", [False, True])
def test_an_argument_written_by_the_loss_and_passed_twice_is_refused(jit):
    # NumPy would see the write through both names; adjoint writes into its own copy
    from compiler import value_and_grad
    from compiler.errors import ArgumentError
    a, A = np.array([1.0, 2.0, 3.0]), np.arange(9.0).reshape(3, 3)
    for f, args in [(sc.writes_first_reads_second, (a, a)),
                    (sc.writes_first_reads_second, (a, a[::-1])),
                    (sc.writes_through_transpose, (A, A.T))]:
        with pytest.raises(ArgumentError, match="shares memory with argument"):
            value_and_grad(f, wrt=(0, 1), jit=jit)(*args)
    # separate arrays: NumPy's value, and the caller's arrays are untouched
    b = a.copy()
    vg = value_and_grad(sc.writes_first_reads_second, wrt=(0, 1), jit=jit)
    v, _ = vg(a, b)
    assert v == sc.writes_first_reads_second(a.copy(), b.copy())
    np.testing.assert_array_equal(a, [1.0, 2.0, 3.0])
    # the same gradient once it serves calls from its per-call fast path (compiled,
    # C-contiguous float64 arguments): still refused, for the same array and for a view
    assert vg(a, b)[0] == v
    long = np.arange(5.0)
    for args in [(a, a), (long[:3], long[2:])]:
        with pytest.raises(ArgumentError, match="shares memory with argument"):
            vg(*args)
    assert vg(a, b)[0] == v


SHARED_GLOBAL = np.array([1.0, 2.0, 3.0])


def writes_and_reads_global(x):
    x[0] = 5.0
    return np.sum(x * SHARED_GLOBAL)


@pytest.mark.parametrize("jit", [False, True])
def test_written_argument_that_is_a_global_the_loss_reads_is_refused(jit):
    """NumPy's f(M) with M the global the loss reads sees the write through both names
    (38, not 18): refused, on every path (first call, fast and direct paths), as f(a, a)."""
    vg = value_and_grad(writes_and_reads_global, jit=jit)
    other = np.array([1.0, 1.0, 1.0])
    for _ in range(3):
        v, g = vg(other)
        assert v == 5.0 + 2.0 + 3.0 and np.array_equal(g, [0.0, 2.0, 3.0])
    for shared in (SHARED_GLOBAL, SHARED_GLOBAL[::-1]):
        with pytest.raises(ArgumentError, match="SHARED_GLOBAL"):
            vg(shared)
    np.testing.assert_array_equal(SHARED_GLOBAL, [1.0, 2.0, 3.0])
