"""The public API: decorator forms, wrt, return shapes, normalisation, jit=False."""
import numpy as np
import pytest

from compiler import GradFunction, grad, value_and_grad

SCALE = 3.0
WEIGHTS = np.array([1.0, -2.0, 0.5])


def with_globals(x):
    return SCALE * np.sum(WEIGHTS * x * x)


def helper(a, b):
    return a * b + b


def calls_helper(x, y):
    z = helper(x, y)
    return np.sum(z * z)


def test_bare_decorator_differentiates_the_first_argument():
    @grad
    def f(a, b):
        return a * a * b
    assert isinstance(f, GradFunction)
    assert f(3.0, 2.0) == 12.0


def test_decorator_with_arguments_and_indices():
    @grad(wrt=1)
    def f(a, b):
        return a * a * b
    assert f(3.0, 2.0) == 9.0
    assert grad(lambda_free, wrt=(1, 0))(3.0, 2.0) == (9.0, 12.0)


def lambda_free(a, b):
    return a * a * b


def test_value_and_grad_returns_value_then_gradients():
    v, (ga, gb) = value_and_grad(lambda_free, wrt=("a", "b"))(3.0, 2.0)
    assert (v, ga, gb) == (18.0, 12.0, 9.0)


def test_global_constants_are_captured():
    x = np.array([1.0, 2.0, 3.0])
    np.testing.assert_allclose(grad(with_globals)(x), SCALE * 2 * WEIGHTS * x)


def test_closure_constants_are_captured():
    k = 2.5

    def f(x):
        return k * x * x
    assert grad(f)(2.0) == 10.0


def test_user_functions_are_inlined():
    x, y = np.array([1.0, 2.0]), np.array([3.0, -1.0])
    gx, gy = grad(calls_helper, wrt=("x", "y"))(x, y)
    z = x * y + y
    np.testing.assert_allclose(gx, 2 * z * y)
    np.testing.assert_allclose(gy, 2 * z * (x + 1))
    assert "def calls_helper_value_and_grad" in grad(calls_helper, wrt="x").specialize(x, y).source


def test_numpy_alias_does_not_matter():
    import numpy as numpy_by_another_name  # noqa: F401
    from examples_alias import f
    assert grad(f)(2.0) == pytest.approx(np.cos(2.0) * 0 + 2 * np.exp(4.0) * 2.0)


def test_inputs_are_normalised_without_recompiling():
    from compiler.ir.core import F64, I64
    g = grad(lambda_free, wrt="a")
    assert g(3, 2.0) == 12.0        # a differentiated int is a float
    assert g(3.0, 2.0) == 12.0      # floats: same specialisation
    assert g(np.float32(3), np.float64(2)) == 12.0
    assert g(3.0, True) == 6.0      # a bool is a float
    assert list(g._specs) == [(F64, F64)]
    assert g(3.0, 2) == 12.0        # an int not differentiated stays an int (label, index)
    assert g(3, np.int32(2)) == 12.0
    assert list(g._specs) == [(F64, F64), (F64, I64)]
    h = grad(sum_sq, wrt="a")
    np.testing.assert_allclose(h([1, 2], 2.0), [4.0, 8.0])   # a list becomes a float64 array
    np.testing.assert_allclose(h(np.arange(2, dtype=np.int32), 2.0), [0.0, 4.0])
    np.testing.assert_allclose(h(np.arange(4.0)[::2], 2.0), [0.0, 8.0])  # non-contiguous
    assert len(h._specs) == 1


def sum_sq(a, b):
    return np.sum(a * a * b)


def test_gradient_of_unused_argument_is_zero_of_right_shape():
    def f(a, b):
        return np.sum(a * a)
    ga, gb = grad(f, wrt=("a", "b"))(np.ones(3), np.ones((2, 2)))
    np.testing.assert_array_equal(gb, np.zeros((2, 2)))
    assert grad(f, wrt="b")(np.ones(3), 5.0) == 0.0


@pytest.mark.parametrize("jit", [True, False])
def test_source_and_ir_are_readable(jit):
    g = grad(calls_helper, wrt="x", jit=jit)
    g(np.ones(2), np.ones(2))
    assert "g_x" in g.source and "# backward sweep" in g.source
    text = str(g.ir)
    assert text.startswith("{ lambda x:f64[?] y:f64[?] .") and "[adj]" in text
    assert g.compile_info["jit"] is jit
