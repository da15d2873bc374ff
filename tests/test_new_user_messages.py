"""A new user's findings: hints that name what works, and small gaps closed.

Each test states the behaviour for a kind of input, not only the example found: in-place
method hints name only what adjoint lowers; unsupported generator methods list the
supported draws; a hint for a write through an expression is valid Python; layouts of
fresh 1-D arrays are known (writes through their reshapes go through, as in NumPy).
"""
import ast
import re

import numpy as np
import pytest

from compiler import grad, value_and_grad
from compiler.errors import UnsupportedError


def _fd(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        g[i] = (f(xp) - f(xm)) / (2 * h)
    return g


def _hint(err):
    return str(err.value).rpartition("hint: ")[2]


# ---- 1. in-place method hints name what adjoint lowers ------------------------------------
def _sorts_in_place(x):
    v = x * 1.0
    v.sort()
    return np.sum(v * np.arange(3.0))


def _sorts_rows_in_place(x):
    v = x * 1.0
    v.sort(axis=0)
    return np.sum(v)


def _subtract_at(a):
    idx = np.array([0, 0, 1])
    np.subtract.at(a, idx, 1.0)
    return np.sum(a)


@pytest.mark.parametrize("fn,shape,hint", [
    (_sorts_in_place, (3,), "`v = np.sort(v)`"),
    (_sorts_rows_in_place, (3, 2), "`v = np.sort(v, axis=0)`"),
    (_subtract_at, (3,), "`np.add.at(a, idx, -(1.0))`"),
])
def test_in_place_hint_names_the_supported_spelling(fn, shape, hint):
    with pytest.raises(UnsupportedError) as e:
        grad(fn, jit=False)(np.ones(shape))
    assert hint in _hint(e)
    assert "no rule" not in _hint(e) and "outside the loss" not in _hint(e)


def _sorted_as_hinted(x):
    v = x * 1.0
    v = np.sort(v)
    return np.sum(v * np.arange(3.0))


def _subtract_at_as_hinted(a):
    idx = np.array([0, 0, 1])
    np.add.at(a, idx, -(a[2] * 1.0))
    return np.sum(a * a)


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("fn", [_sorted_as_hinted, _subtract_at_as_hinted])
def test_hinted_spellings_differentiate(fn, jit):
    x = np.array([0.3, -1.2, 0.8])
    v, g = value_and_grad(fn, jit=jit)(x.copy())
    assert np.isclose(v, fn(x.copy()))
    assert np.allclose(g, _fd(lambda z: fn(z.copy()), x), atol=1e-6)


def test_every_in_place_method_hint_names_only_lowered_functions():
    from compiler.frontend import dropped, numpy_api
    lowered = {name for name in ("sort", "full_like", "clip", "where", "zeros_like")
               if getattr(np, name) in numpy_api.FUNCTIONS}
    assert lowered == {"sort", "full_like", "clip", "where", "zeros_like"}
    for method, hint in dropped._IN_PLACE_METHODS.items():
        for called in re.findall(r"np\.(\w+)\(", hint):
            assert getattr(np, called) in numpy_api.FUNCTIONS or "no rule" in hint, (method, hint)


# ---- 3. unsupported Generator methods are named as such, with the supported list ----------
def _permutes(x, seed):
    rng = np.random.default_rng(seed)
    return np.sum(x[rng.permutation(3)])


def _draws_integers(x, seed):
    rng = np.random.default_rng(seed)
    return np.sum(x * rng.integers(0, 3, size=3))


def _chooses(x, seed):
    rng = np.random.default_rng(seed)
    return np.sum(x * rng.choice(3, size=3))


@pytest.mark.parametrize("fn,method", [(_permutes, "permutation"), (_draws_integers, "integers"),
                                       (_chooses, "choice")])
def test_unsupported_generator_method_lists_the_supported_draws(fn, method):
    with pytest.raises(UnsupportedError) as e:
        grad(fn, jit=False)(np.ones(3), 1)
    msg = str(e.value)
    assert f"`{method}` is not supported" in msg and "does not exist" not in msg
    assert "test_new_user_messages.py" in msg
    for draw in ("rng.random", "rng.standard_normal", "rng.normal", "rng.uniform"):
        assert draw in _hint(e)


# ---- 4. the hint for a write through an expression is valid Python ------------------------
def _writes_through_np_reshape(y, v):
    np.reshape(y, (2, 3))[0, 1] = v
    return np.sum(y)


def _adds_through_reshape(y, v):
    y.reshape(2, 3)[1] += v
    return np.sum(y)


def _writes_through_ravel(y, v):
    y.ravel()[2:4] = v
    return np.sum(y)


@pytest.mark.parametrize("fn,shape", [(_writes_through_np_reshape, (6,)),
                                      (_adds_through_reshape, (6,)),
                                      (_writes_through_ravel, (2, 3))])
def test_copy_hint_for_an_expression_target_is_valid_python(fn, shape):
    with pytest.raises(UnsupportedError) as e:
        grad(fn, jit=False)(np.ones(shape), 2.0)
    code = re.findall(r"`([^`]*)`", _hint(e))
    copy = next(c for c in code if c.startswith("t = "))
    ast.parse(copy)  # an assignment to a name, not to a call
    write = next(c for c in code if c.startswith("t["))
    ast.parse(write + " = 1.0")
    assert not any(re.match(r"(np\.)?\w+\(.*\)\s*=", c) for c in code)  # no `f(y) = ...`


# ---- 9. fresh 1-D arrays are C-contiguous: writes through their reshapes go through --------
def _reshape_of_product(x):
    y = x * 2.0
    y.reshape(2, 3)[0, 1] = y[0] * 3.0
    return np.sum(y * np.arange(6.0))


def _reshape_of_exp(x):
    y = np.exp(x)
    r = y.reshape(2, 3)
    r[1, 2] = r[0, 0] * 3.0
    return np.sum(y * np.arange(6.0))


def _reshape_of_gather(x):
    y = x[np.array([5, 4, 3, 2, 1, 0])]
    np.reshape(y, (3, 2))[2] = x[:2] ** 2
    return np.sum(y * np.arange(6.0))


def _reshape_of_row_sum(x):
    y = np.sum(np.reshape(x, (2, 3)).T, axis=1)  # 1-D from a transposed view: fresh
    y.reshape(3, 1)[0, 0] = 7.0 * x[1]
    return np.sum(y * np.arange(3.0))


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("fn", [_reshape_of_product, _reshape_of_exp, _reshape_of_gather,
                                _reshape_of_row_sum])
def test_write_through_reshape_of_a_fresh_1d_array(fn, jit):
    base = np.linspace(0.1, 1.2, 12)
    x = base[::2]  # a strided argument: the fresh result's layout does not depend on it
    v, g = value_and_grad(fn, jit=jit)(x)
    assert np.isclose(v, fn(x.copy()))
    assert np.allclose(g, _fd(fn, x.copy()), atol=1e-6)
    assert np.array_equal(base, np.linspace(0.1, 1.2, 12))


def _reshape_of_2d_product(X):
    y = X * 2.0  # NumPy keeps X's layout (order 'K'): F-ordered X gives an F-ordered y
    y.reshape(-1)[0] = 5.0
    return np.sum(y)


def test_write_through_reshape_of_a_2d_result_of_an_argument_is_still_refused():
    with pytest.raises(UnsupportedError, match="memory layout"):
        grad(_reshape_of_2d_product, jit=False)(np.ones((2, 3)))


# ---- 5. a LinAlgError at run time names the matrix's values, not its shapes ---------------
def _slogdet(A):
    return np.linalg.slogdet(A)[1]


def _inv(A):
    return np.sum(np.linalg.inv(A))


def _solve(A):
    return np.sum(np.linalg.solve(A, np.ones(2)))


def _cholesky(A):
    return np.sum(np.linalg.cholesky(A - 3.0 * np.eye(2)))


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("fn,cause,sweep", [
    (_slogdet, "singular", "backward sweep"), (_inv, "singular", "forward sweep"),
    (_solve, "singular", "forward sweep"), (_cholesky, "not (numerically) positive definite",
                                            "forward sweep")])
def test_linalg_error_hint_names_the_cause(fn, cause, sweep, jit):
    from compiler.errors import RunError
    singular = np.array([[1.0, 2.0], [2.0, 4.0]])
    with pytest.raises(RunError) as e:
        value_and_grad(fn, jit=jit)(singular)
    assert isinstance(e.value.__cause__, np.linalg.LinAlgError)
    assert sweep in str(e.value) and "test_new_user_messages.py" in str(e.value)
    assert cause in _hint(e) and "shape" not in _hint(e)


# ---- 10. a view rebound in a loop: written in the trip that takes it (supported), or not ---
def _view_taken_and_written_each_trip(x):
    y = x * 2.0
    for i in range(2):
        v = y[i:i + 2]
        v[0] = v[1] * 3.0
    return np.sum(y * np.arange(4.0))


def _view_written_after_the_loop(x):
    y = x * 2.0
    v = y[0:2]
    for i in range(2):
        v = y[i:i + 2]
    v[0] = 5.0 * x[0]
    return np.sum(y)


def _view_written_before_rebinding(x):
    y = x * 2.0
    v = y[0:2]
    for i in range(2):
        v[0] = v[1] * 3.0
        v = y[i + 1:i + 3]
    return np.sum(y)


@pytest.mark.parametrize("jit", [False, True])
def test_view_taken_and_written_in_each_trip_is_supported(jit):
    x = np.array([0.1, 0.2, 0.3, 0.4])
    f = _view_taken_and_written_each_trip
    v, g = value_and_grad(f, jit=jit)(x)
    assert np.isclose(v, f(x.copy()))
    assert np.allclose(g, _fd(lambda z: f(z.copy()), x), atol=1e-6)


@pytest.mark.parametrize("fn,why", [(_view_written_after_the_loop, "whether a loop ran"),
                                    (_view_written_before_rebinding, "from one loop iteration")])
def test_view_rebound_in_a_loop_and_written_elsewhere_is_refused(fn, why):
    with pytest.raises(UnsupportedError, match=why) as e:
        grad(fn, jit=False)(np.ones(4))
    assert "test_new_user_messages.py" in str(e.value)


# ---- 11. has_aux: grad's and value_and_grad's; the other transforms refuse it clearly ------
def _loss_and_aux(x):
    return np.sum(x ** 3), {"n": np.sum(x)}


def _loss_of_loss_and_aux(x):  # the hint, written out
    return _loss_and_aux(x)[0]


@pytest.mark.parametrize("transform", ["hessian", "hvp", "jacfwd", "jacrev", "jacobian"])
def test_has_aux_outside_grad_is_refused_with_the_loss_only_spelling(transform):
    import compiler
    with pytest.raises(UnsupportedError) as e:
        getattr(compiler, transform)(_loss_and_aux, has_aux=True)
    assert f"`{transform}(_loss_and_aux, has_aux=True)`" in str(e.value)
    assert "test_new_user_messages.py" in str(e.value)
    assert "def _loss_and_aux_loss(x): return _loss_and_aux(x)[0]" in _hint(e)
    with pytest.raises(UnsupportedError):  # the decorator form too
        getattr(compiler, transform)(has_aux=True)(_loss_and_aux)


def test_jvp_has_aux_is_refused():
    from compiler import jvp, jvp_function
    with pytest.raises(UnsupportedError, match="has_aux is supported by grad"):
        jvp(_loss_and_aux, (np.ones(2),), (np.ones(2),), has_aux=True)
    with pytest.raises(UnsupportedError, match="has_aux is supported by grad"):
        jvp_function(_loss_and_aux, has_aux=True)


@pytest.mark.parametrize("jit", [False, True])
def test_the_loss_only_spelling_gives_the_hessian(jit):
    from compiler import hessian
    x = np.array([1.0, 2.0, -0.5])
    assert np.allclose(hessian(_loss_of_loss_and_aux, jit=jit)(x), np.diag(6.0 * x))


# ---- 7. constructors take dtype= (float, int, bool) ---------------------------------------
def _constructors_with_dtype(X):
    trace = np.sum(X[np.eye(3, dtype=bool)])  # a bool mask: the diagonal
    firsts = X[0][np.eye(3, dtype=int)[0]]  # int indices [1, 0, 0]
    ident = np.sum(X * np.identity(3, dtype=int)) + np.sum(X[np.identity(3, dtype=bool)])
    ramp = X[1] * np.arange(3, dtype=float) / 2.0 + X[2] * np.arange(1, 4, dtype=np.int64)
    rest = (np.sum(X[np.zeros(2, dtype=int)] * np.ones(3, dtype=float))
            + np.sum(X[2][np.full(3, 2, dtype=int)]) + np.sum(X[0] * np.eye(3, 4, dtype=float)[:, 1]))
    return trace * np.sum(firsts ** 2) + ident + np.sum(ramp ** 2) + rest


@pytest.mark.parametrize("jit", [False, True])
def test_constructor_dtypes_are_numpys(jit):
    X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0], [7.0, 8.5, 9.0]])
    f = _constructors_with_dtype
    v, g = value_and_grad(f, jit=jit)(X)
    assert np.isclose(v, f(X))
    assert np.allclose(g, _fd(f, X), atol=1e-5)


def _arange_of_floats_as_int(x):
    return np.sum(x * np.arange(0.5, 3.0, dtype=int))


def test_arange_with_dtype_int_and_float_bounds_is_refused():
    with pytest.raises(UnsupportedError, match="float bounds") as e:
        grad(_arange_of_floats_as_int, jit=False)(np.ones(3))
    assert "test_new_user_messages.py" in str(e.value)


# ---- 8. median/percentile/quantile: NaN value means NaN gradient; inf entries are fine -----
def _median(x):
    return np.median(x)


def _percentile(x):
    return np.percentile(x, 40.0)


def _quantile(x):
    return np.quantile(x, 0.9)


def _max(x):
    return np.max(x)


def _median_of_rows(x):
    return np.sum(np.median(x.reshape(2, 3), axis=1) * np.array([1.0, 2.0]))


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("fn", [_median, _percentile, _quantile, _max])
def test_order_statistic_of_a_line_with_nan_has_nan_gradient(fn, jit):
    x = np.array([1.0, np.nan, 2.0, 0.5, 3.0])
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN arithmetic, as NumPy's
        v, g = value_and_grad(fn, jit=jit)(x)
    assert np.isnan(v) and np.isnan(fn(x))
    assert np.all(np.isnan(g))


@pytest.mark.parametrize("jit", [False, True])
def test_median_nan_gradient_stays_in_its_line(jit):
    x = np.array([1.0, np.nan, 2.0, 0.5, 3.0, 2.5])
    with np.errstate(invalid="ignore"):
        v, g = value_and_grad(_median_of_rows, jit=jit)(x)
    assert np.isnan(v) and np.isnan(_median_of_rows(x))
    assert np.all(np.isnan(g[:3]))
    assert np.allclose(g[3:], _fd(lambda z: _median_of_rows(np.concatenate([[1.0, 0.0, 2.0], z])),
                                  x[3:]))


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("fn", [_median, _percentile, _quantile])
def test_order_statistic_with_an_infinite_entry_is_numpys(fn, jit):
    x = np.array([1.0, np.inf, 2.0, 0.5, -3.0])
    with np.errstate(invalid="ignore"):
        v, g = value_and_grad(fn, jit=jit)(x)
        assert np.array_equal(v, fn(x), equal_nan=True)  # exactly NumPy's ((n - 1) q)
    if np.isnan(v):  # the 0.9 quantile interpolates towards inf: inf - inf, as NumPy
        return
    finite = np.isfinite(x)
    assert np.allclose(g[finite], _fd(lambda z: fn(np.concatenate([z[:1], [np.inf], z[1:]])),
                                      x[finite]), atol=1e-6)
    assert g[1] == 0.0


# ---- 6. Numba's performance warnings about adjoint's own code stay out of the output -------
_QR_SCRIPT = r"""
import sys
sys.path.insert(0, {repo!r})
import numpy as np
import compiler.jit
if {unfiltered}:  # the control: the same compile without the filter
    compiler.jit.quiet_performance_warnings = lambda: None
from compiler import value_and_grad

def qr_loss(A):
    q, r = np.linalg.qr(A)
    return np.sum(q ** 3) + np.sum(r * r)

A = np.random.default_rng(0).normal(size=(4, 3))
v, g = value_and_grad(qr_loss, jit=True)(A)
print("value", v)
"""


@pytest.mark.parametrize("unfiltered", [False, True])
def test_numba_performance_warnings_of_generated_code_are_not_shown(tmp_path, unfiltered):
    import os
    import pathlib
    import subprocess
    import sys
    repo = str(pathlib.Path(__file__).resolve().parent.parent)
    script = tmp_path / "qr_user.py"
    script.write_text(_QR_SCRIPT.format(repo=repo, unfiltered=unfiltered))
    env = dict(os.environ, ADJOINT_CACHE_DIR=str(tmp_path / "cache"))  # a fresh compile
    env.pop("PYTHONWARNINGS", None)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    assert "value" in out.stdout
    # the control shows the warning exists (so the test can fail); the user never sees it
    assert ("NumbaPerformanceWarning" in out.stderr) == unfiltered, out.stderr


# ---- 2. grad(f)(x) inside a loss (the JAX idiom) -----------------------------------------
def _quartic(t):
    return t ** 4 + np.sin(t)


def _vec(z):
    return np.sum(np.sin(z) * z ** 2)


def _two(a, b):
    return np.sum(a * np.cos(b) ** 2)


def _grad_called_in_loss(x):
    return np.sum(grad(_vec)(x) ** 2)


def _grad_named_in_loss(x):
    D = grad(_vec)
    return np.sum(D(x) * x)


def _value_and_grad_in_loss(x):
    v, (ga, gb) = value_and_grad(_two, wrt=(0, 1))(x, x * 2.0)
    return v + np.sum(ga * gb)


def _grad_of_grad_in_loss(x):
    return grad(grad(_quartic))(x[0]) * x[1] + grad(_quartic, wrt="t")(x[2])


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("fn", [_grad_called_in_loss, _grad_named_in_loss,
                                _value_and_grad_in_loss, _grad_of_grad_in_loss])
def test_gradient_made_inside_a_loss(fn, jit):
    x = np.array([0.7, 1.3, -2.1, 0.4])
    v, g = value_and_grad(fn, jit=jit)(x)
    assert np.isclose(v, fn(x))  # the plain Python call runs compiler.grad itself
    assert np.allclose(g, _fd(fn, x), atol=1e-5)


def _grad_of_local_function(x):
    def inner(z):
        return np.sum(z ** 3)
    return np.sum(grad(inner)(x))


def test_gradient_of_a_function_defined_inside_the_loss_says_where_to_define_it():
    with pytest.raises(UnsupportedError) as e:
        grad(_grad_of_local_function, jit=False)(np.ones(3))
    assert "`grad(inner)`" in str(e.value) and "test_new_user_messages.py" in str(e.value)
    assert "define `inner` at module level" in _hint(e)
    assert "is not an array or number" not in str(e.value)


# ---- global containers: the hint says what to write --------------------------------------
COEFS = {"a": 2.0}
PAIR = (1.0, 2.0)
LIST = [1.0, 2.0]
LAYERS = [np.ones(2), np.ones(2)]


def _reads_global_dict(x):
    return COEFS["a"] * np.sum(x)


def _reads_global_tuple(x):
    return PAIR[0] * np.sum(x)


def _array_of_global_list(x):
    return np.sum(np.array(LIST) * x)


def _loops_over_global_list(x):
    s = 0.0
    for W in LAYERS:
        s = s + np.sum(W * x)
    return s


@pytest.mark.parametrize("fn, kind", [(_reads_global_dict, "dict"), (_reads_global_tuple, "tuple"),
                                      (_array_of_global_list, "list"),
                                      (_loops_over_global_list, "list")])
def test_a_global_container_is_refused_with_what_to_write(fn, kind):
    with pytest.raises(UnsupportedError) as err:
        grad(fn, jit=False)(np.ones(2))
    assert f"a {kind} from outside the loss" in _hint(err) and "pass it as an argument" in _hint(err)
