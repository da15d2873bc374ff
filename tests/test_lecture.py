"""The lecture's worked numbers (shared/seed/backpropagation-lecture.md)."""
import numpy as np
import pytest

from compiler import grad, value_and_grad
from models import composition as _composition
from models import hinge, squared, two_layer


@pytest.mark.parametrize("jit", [True, False])
def test_backpropagation_example_gives_6_12(jit):
    # Loss = (w . phi(x) - y)^2 with w=[3,1], phi(x)=[1,2], y=2: residual 3, grad [6, 12]
    value, g = value_and_grad(squared, wrt="w", jit=jit)(np.array([3.0, 1.0]), np.array([1.0, 2.0]), 2.0)
    assert value == 9.0
    np.testing.assert_array_equal(g, [6.0, 12.0])


composition = grad(_composition)


@pytest.mark.parametrize("a", [-1.5, 0.0, 0.5, 3.0])
def test_function_composition_is_4a_cubed(a):
    # b = a^2, c = b^2: dc/da = (2b)(2a) = 4a^3
    assert composition(a) == pytest.approx(4 * a ** 3, rel=1e-15)


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("w,y", [([0.1, -0.2, 0.3], 1.0),     # margin < 1: gradient -phi y
                                 ([0.1, -0.2, 0.3], -1.0),
                                 ([2.0, 1.0, 1.0], 1.0),      # margin = 5 > 1: zero
                                 ([-2.0, -1.0, 1.0], -1.0)])  # margin = 3 > 1: zero
def test_hinge_gradient_on_both_sides_of_the_margin(w, y, jit):
    w, phi = np.array(w), np.array([1.0, 2.0, 1.0])
    margin = (w @ phi) * y
    g = grad(hinge, wrt="w", jit=jit)(w, phi, y)
    np.testing.assert_array_equal(g, -float(margin < 1) * phi * y)


@pytest.mark.parametrize("jit", [True, False])
def test_two_layer_gradients_equal_closed_forms(jit):
    rng = np.random.default_rng(1)
    x, y, V, w = rng.normal(size=3), 0.7, rng.normal(size=(4, 3)), rng.normal(size=4)
    gV, gw = grad(two_layer, wrt=("V", "w"), jit=jit)(x, y, V, w)
    h = 1 / (1 + np.exp(-V @ x))
    residual = w @ h - y
    np.testing.assert_allclose(gw, 2 * residual * h, rtol=1e-14)
    np.testing.assert_allclose(gV, 2 * residual * np.outer(w * h * (1 - h), x), rtol=1e-13)
