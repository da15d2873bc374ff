"""One argument binder (compiler/frontend/binding.py) for inlined calls, custom rules and
NumPy handlers: Python's binding rules, and errors naming the parameter at the user's
line."""
import inspect

import numpy as np
import pytest

from compiler import custom_vjp, grad
from compiler.errors import UnsupportedError
from compiler.frontend.binding import Signature, bind
from compiler.ir.core import Loc

LOC = Loc("f.py", 3, 0, "y = g(x)")


def _bind(sig, args, keywords):
    return bind(sig, "g", args, keywords, evaluate=lambda node: f"<{node}>", loc=LOC)


def test_signature_of_a_function_has_its_defaults_and_keyword_only_parameters():
    def g(a, b, c=3, *, d, e=5):
        return a
    sig = Signature.of_function(g)
    assert sig.positional == ("a", "b", "c") and sig.keyword_only == ("d", "e")
    assert sig.defaults == {"c": 3, "e": 5}
    assert Signature.of("a", ("axis", None)) == Signature(("a", "axis"), (), {"axis": None})


def test_python_binding_rules():
    sig = Signature(("a", "b", "c"), ("d",), {"c": 3, "d": 4})
    assert _bind(sig, [1, 2], {}) == {"a": 1, "b": 2, "c": 3, "d": 4}
    assert _bind(sig, [1], {"c": "k", "b": "j"}) == {"a": 1, "c": "<k>", "b": "<j>", "d": 4}
    assert _bind(sig, [1, 2], {"d": "k"})["d"] == "<k>"
    converted = bind(sig, "g", [1, 2], {}, evaluate=str, loc=LOC, default=lambda v: -v)
    assert converted == {"a": 1, "b": 2, "c": -3, "d": -4}


@pytest.mark.parametrize("args, keywords, message", [
    ([1, 2, 3, 4], {}, "`g` takes at most 3 positional argument(s) (a, b, c), 4 given"),
    ([1, 2], {"bogus": "v"}, "`g` got an unexpected keyword argument `bogus`"),
    ([1, 2], {"a": "v"}, "`g` got multiple values for the argument `a`"),
    ([1], {}, "`g` is missing the argument(s) `b`"),
    ([], {"c": "v"}, "`g` is missing the argument(s) `a`, `b`"),
])
def test_bad_calls_name_the_parameter_at_the_call(args, keywords, message):
    sig = Signature(("a", "b", "c"), ("d",), {"c": 3, "d": 4})
    with pytest.raises(UnsupportedError) as e:
        _bind(sig, args, keywords)
    assert message in str(e.value) and e.value.loc == LOC


def helper(x, scale=2.0, shift=0.0):
    return scale * x + shift


def calls_helper_by_keyword(x):
    return np.sum(helper(x, shift=1.0) * helper(scale=3.0, x=x))


def calls_helper_badly(x):
    return np.sum(helper(x, shfit=1.0))


def calls_sum_badly(x):
    return np.sum(x, axs=0)


@custom_vjp
def scaled(x, k=2.0):
    return k * x


def scaled_vjp(g, ans, x, k):
    return k * g


scaled.defvjp(scaled_vjp, None)


def calls_custom_by_keyword(x):
    return np.sum(scaled(k=3.0, x=x)) + np.sum(scaled(x))


def calls_custom_badly(x):
    return np.sum(scaled(x, 3.0, 4.0))


def test_inlined_and_custom_calls_bind_keywords_and_defaults():
    x = np.array([1.0, -2.0, 0.5])
    # d/dx sum((2x + 1) * 3x) = 12x + 3
    np.testing.assert_allclose(grad(calls_helper_by_keyword, jit=False)(x), 12 * x + 3)
    np.testing.assert_allclose(grad(calls_custom_by_keyword, jit=False)(x), np.full(3, 5.0))


@pytest.mark.parametrize("fn, message", [
    (calls_helper_badly, "`helper` got an unexpected keyword argument `shfit`"),
    (calls_sum_badly, "`np.sum` got an unexpected keyword argument `axs`"),
    (calls_custom_badly, "`scaled` takes at most 2 positional argument(s) (x, k), 3 given"),
])
def test_bad_calls_are_reported_at_the_users_line(fn, message):
    line = inspect.getsourcelines(fn)[1] + 1
    with pytest.raises(UnsupportedError) as e:
        grad(fn, jit=False)(np.ones(3))
    assert message in str(e.value)
    assert str(e.value).startswith(f"{__file__}:{line}:"), str(e.value)
