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


def test_lambda_is_rejected():
    with pytest.raises(UnsupportedError) as e:
        grad(bad_code.uses_lambda)
    _check(e, 12, "lambda")


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
    _check(e, 17, "np.linalg.slogdet", "numpy.linalg.slogdet", "no rule", "custom_vjp")


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
