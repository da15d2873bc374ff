"""Unsupported input gives an AdjointError naming the user's file, line and construct."""
import numpy as np
import pytest

import bad_code
from compiler import grad
from compiler.errors import (AdjointError, ArgumentError, NameResolutionError, ShapeError,
                             UnsupportedError)


def _check(err, line, *words):
    msg = str(err.value)
    assert f"bad_code.py:{line}:" in msg, msg
    for w in words:
        assert w in msg, msg
    assert "^" in msg  # caret under the construct


def test_with_statement_is_rejected_at_decoration_time():
    with pytest.raises(UnsupportedError) as e:
        grad(bad_code.uses_with)
    _check(e, 6, "`with`", "with open")


def test_list_comprehension_is_rejected():
    with pytest.raises(UnsupportedError) as e:
        grad(bad_code.uses_listcomp)
    _check(e, 12, "ListComp", "list comprehensions")


def test_call_to_unknown_python_function():
    with pytest.raises(NameResolutionError) as e:
        grad(bad_code.calls_print)(1.0)
    _check(e, 21, "print")


def test_undefined_name():
    with pytest.raises(NameResolutionError) as e:
        grad(bad_code.unknown_name)(1.0)
    _check(e, 26, "undefined_thing")


def test_call_without_a_rule_names_the_function_and_how_to_register_one():
    with pytest.raises(NameResolutionError) as e:
        grad(bad_code.calls_unknown)(np.eye(2))
    _check(e, 17, "np.linalg.svd", "numpy.linalg.svd", "no rule", "custom_vjp")


def test_non_scalar_loss():
    with pytest.raises(ArgumentError) as e:
        grad(bad_code.returns_vector)(np.ones(3))
    _check(e, 30, "scalar loss")


def test_rank3_matmul_is_a_shape_error():
    with pytest.raises(ShapeError) as e:
        grad(bad_code.rank3_matmul)(np.ones((2, 2, 2)), np.ones((2, 2)))
    _check(e, 34, "ranks 3 and 2")


def test_error_inside_an_inlined_helper_points_into_the_helper():
    with pytest.raises(UnsupportedError) as e:
        grad(bad_code.calls_bad_helper)(1.0)
    _check(e, 38, "`try`")


def test_recursion():
    with pytest.raises(UnsupportedError) as e:
        grad(bad_code.recursive)(1.0)
    _check(e, 50, "recursive")


def test_for_else_is_not_supported():
    with pytest.raises(UnsupportedError) as e:
        grad(bad_code.for_else)(1.0)
    _check(e, 63, "for ... else")


def test_bad_wrt_and_bad_arguments():
    def f(a, b):
        return a * b
    with pytest.raises(ArgumentError, match="no argument 'c'"):
        grad(f, wrt="c")
    with pytest.raises(ArgumentError, match="takes 2 arguments"):
        grad(f, wrt=5)
    with pytest.raises(ArgumentError, match="missing a required argument: 'b'"):
        grad(f)(1.0)
    with pytest.raises(ArgumentError, match="not an array or number"):
        grad(f)(1.0, "x")


def test_source_before_first_call_explains_itself():
    def f(a):
        return a * a
    with pytest.raises(AdjointError, match="call it once"):
        grad(f).source


def test_functions_without_source():
    f = eval("lambda x: x")
    with pytest.raises(UnsupportedError, match="cannot read the source|not a plain"):
        grad(f)


# ---- statements whose value is dropped say what they do (issue 15, sec. 3) ---------------
def _hint(err):
    return str(err.value).rpartition("hint: ")[2]


@pytest.mark.parametrize("fn,args,line,message,hint", [
    (bad_code.sorts_in_place, (np.ones(3),), 69,
     "`v.sort()` changes `v` in place and returns None", "`v = np.sort(v)`"),
    (bad_code.prints, (np.ones(3),), 74,
     "`print(x)` in a differentiated function", "print outside the loss"),
    (bad_code.adds_at, (np.ones(3), np.ones(3)), 80,  # np.add.at is lowered (issue 13)
     "`np.multiply.at(a, idx, v)` updates `a` in place",
     "`a[idx] = np.multiply(a[idx], v)` when `idx` has no repeated entries"),
    (bad_code.writes_out, (np.ones(3),), 86,
     "`np.exp(x, out=y)` writes its result into `y` in place", "`y = np.exp(x)`"),
    (bad_code.compares_instead_of_assigning, (np.ones(3),), 92,
     "`y == 3.0` compares and drops the result", "to assign, write `y = 3.0`"),
    (bad_code.drops_a_value, (np.ones(3),), 97,
     "the value of `np.sum(x)` is dropped", "assign it (`name = np.sum(x)`)"),
    (bad_code.fills_diagonal, (np.ones((2, 2)),), 115,
     "`np.fill_diagonal(a, 1.0)` changes its first argument in place",
     "`a = np.where(np.eye(a.shape[0]) == 1, 1.0, a)`"),
], ids=lambda v: getattr(v, "__name__", None))
def test_expression_statement_says_what_it_does_and_what_to_write(fn, args, line, message, hint):
    with pytest.raises(UnsupportedError) as e:
        grad(fn)(*args)
    _check(e, line, message)
    assert hint in _hint(e)
    assert "assign its value or remove it" not in str(e.value)  # the old, false hint


def test_print_is_an_error_that_points_to_what_prints():
    with pytest.raises(UnsupportedError) as e:
        grad(bad_code.prints, jit=False)(np.ones(3))
    assert "neither with jit=True nor with jit=False" in str(e.value)
    assert "graph_view(f, *args).text()" in _hint(e)


def test_suggested_spellings_lower_and_give_the_right_gradient():
    # the hints above, written out: they compile and differentiate
    def add_at_one_hot(a, v):  # np.add.at(a, idx, v) with a repeated index, as a one-hot product
        idx = np.array([0, 0, 1])
        a = a + (idx[:, None] == np.arange(a.shape[0])).T.astype(float) @ v
        return np.sum(a * a)
    a, v = np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])
    ga, gv = grad(add_at_one_hot, wrt=(0, 1))(a, v)
    np.testing.assert_array_equal(ga, [8.0, 10.0, 6.0])   # 2 * (a + [1 + 2, 3, 0])
    np.testing.assert_array_equal(gv, [8.0, 8.0, 10.0])   # 2 * [a0 + 3, a0 + 3, a1 + 3]


def test_chained_comparison_names_the_form_that_works():
    with pytest.raises(UnsupportedError) as e:
        grad(bad_code.chained_comparison)(np.ones(3))
    _check(e, 102, "chained comparison `0 < s < 10`")
    assert "`0 < s and s < 10`" in _hint(e)
    assert "`np.logical_and(0 < s, s < 10)`" in _hint(e)

    def scalar(s):
        return s * s if 0 < s and s < 10 else 0.0

    def array(s):
        return np.sum(np.where(np.logical_and(0 < s, s < 10), s * s, 0.0))
    assert grad(scalar)(3.0) == 6.0 and grad(scalar)(11.0) == 0.0
    np.testing.assert_array_equal(grad(array)(np.array([3.0, 11.0])), [6.0, 0.0])


# ---- a library function adjoint does not read: the user's line, then the function ----------
def test_scipy_function_is_reported_at_the_users_call_with_the_supported_spelling():
    with pytest.raises(NameResolutionError) as e:
        grad(bad_code.calls_scipy_gamma)(np.ones(3))
    msg = str(e.value)
    assert msg.startswith(f"{bad_code.__file__}:106:"), msg   # the user's line first
    assert "`scipy_special.gamma` (scipy.special.gamma)" in msg
    assert "site-packages" not in msg
    assert "np.exp(scipy.special.gammaln(x))" in _hint(e)
    with pytest.raises(NameResolutionError) as e:
        grad(bad_code.calls_scipy_ndtr)(np.ones(3))
    assert str(e.value).startswith(f"{bad_code.__file__}:111:")
    assert "(scipy.special.ndtr)" in str(e.value)
    assert "0.5 * scipy.special.erfc(-x / np.sqrt(2.0))" in _hint(e)


def test_library_function_without_a_spelling_keeps_the_custom_rule_hint():
    metrics = pytest.importorskip("sklearn.metrics")  # `make test` installs the examples' extras

    def loss(y, t):
        return metrics.r2_score(t, y)
    with pytest.raises(NameResolutionError) as e:
        grad(loss)(np.ones(3), np.ones(3))
    msg = str(e.value)
    line = loss.__code__.co_firstlineno + 1
    assert msg.startswith(f"{__file__}:{line}:"), msg
    assert "sklearn.metrics" in msg and "r2_score" in msg and "does not read library code" in msg
    assert "custom_vjp" in _hint(e)
