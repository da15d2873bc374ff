"""Issue 10, each kind of silently wrong result with siblings of the reported example:
results that alias the caller's arrays, folding that changes values, stale captured
objects, constants that do not round-trip, and scalars that stop behaving like NumPy."""
import numpy as np
import pytest

import capture_code as cc
from compiler import grad, value_and_grad
from compiler.errors import ArgumentError, RunError, UnsupportedError
from oracles import assert_owned, autograd_grads
from runtime.check import numerical_grad

TIERS = pytest.mark.parametrize("jit", [False, True])


# ---- 1. no result shares memory with an argument, a constant or another result -------
ALIAS_CASES = [
    (cc.bilinear, (np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.ones(2)), (0, 1)),
    (cc.same_cotangent, (np.array([0.5, 1.0]), np.array([2.0, 3.0])), (0, 1)),
    (cc.transposed, (np.arange(6.0).reshape(2, 3), np.array([1.0, 2.0])), (0, 1)),
    (cc.reshaped, (np.arange(4.0), np.array([1.0, -1.0])), (0, 1)),
    (cc.passthrough_loop, (np.array([1.0, 2.0]), np.array([3.0, 5.0]), 2), (0, 1)),
    (cc.passthrough_loop, (np.array([1.0, 2.0]), np.array([3.0, 5.0]), 0), (0, 1)),
    # a cotangent passed through a branch or a loop without trips, then accumulated in
    # place (the adjoint of an indexed read): it must not be written into another's
    (cc.branch_passes_cotangent, (np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0]), -1.0),
     (0, 1)),
    (cc.branch_passes_cotangent, (np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0]), 1.0),
     (0, 1)),
    (cc.loop_passes_cotangent, (np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0]), 0), (0, 1)),
    (cc.loop_passes_cotangent, (np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0]), 2), (0, 1)),
    (cc.while_passes_cotangent, (np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0]), 0),
     (0, 1)),
    (cc.while_passes_cotangent, (np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0]), 3),
     (0, 1)),
]


@TIERS
@pytest.mark.parametrize("fn,args,wrt", ALIAS_CASES,
                         ids=[f"{c[0].__name__}{i}" for i, c in enumerate(ALIAS_CASES)])
def test_gradients_own_their_memory(fn, args, wrt, jit):
    ours = assert_owned(grad(fn, wrt=wrt, jit=jit), args)
    for g, want in zip(ours, autograd_grads(fn, args, wrt)):
        np.testing.assert_allclose(g, want, rtol=1e-12)


@TIERS
def test_the_reported_bilinear_gradient_is_not_the_callers_array(jit):
    w, v, x = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.ones(2)
    gw, gv = grad(cc.bilinear, wrt=(0, 1), jit=jit)(w, v, x)
    assert gw is not v and gv is not w
    gw *= 0
    np.testing.assert_array_equal(v, [3.0, 4.0])


@TIERS
def test_fit_takes_the_step_of_independently_computed_gradients(jit):
    """SGD on w @ v from w = [1, 2], v = [3, 4]: v must become [2.9, 3.8] (the update of
    w must not change v's gradient before it is read)."""
    from runtime.optim import SGD
    from runtime.train import fit
    w0, v0, x = np.array([1.0, 2.0]), np.array([3.0, 4.0]), np.ones((1, 2))
    gw, gv = autograd_grads(cc.bilinear, (w0, v0, x[0]), (0, 1))  # the oracle's gradients
    r = fit(value_and_grad(cc.bilinear, wrt=("w", "v"), jit=jit), {"w": w0, "v": v0}, (x,),
            SGD(0.1), epochs=1, verbose=False, grad_health=False)
    np.testing.assert_allclose(r.params["w"], w0 - 0.1 * gw, rtol=1e-15)
    np.testing.assert_allclose(r.params["v"], v0 - 0.1 * gv, rtol=1e-15)
    np.testing.assert_allclose(r.params["v"], [2.9, 3.8], rtol=1e-15)
    np.testing.assert_array_equal(w0, [1.0, 2.0])  # fit does not train the caller's arrays


# ---- 2. folding keeps values exactly ---------------------------------------------------
def int_power(x):
    return np.sum(x) * 2 ** -1


def reassociation(x):
    return 1e-200 * (1e-200 * x)


def negative_zero(x):
    return x + 0.0 - 0.0 * 1.0


def int_scalar_power(x, k):
    return x * k ** -1 + x * k ** 2 + x * 7 // 2 * 0.0 + 7 / 2


@TIERS
def test_folding_keeps_python_and_numpy_values(jit):
    v, g = value_and_grad(int_power, jit=jit)(np.array([1.0, 2.0]))
    assert v == 1.5
    np.testing.assert_array_equal(g, [0.5, 0.5])
    v, g = value_and_grad(reassociation, jit=jit)(1e300)
    assert v == 1e-200 * (1e-200 * 1e300) == 1e-100
    v, _ = value_and_grad(negative_zero, jit=jit)(-0.0)
    assert np.signbit(v) == np.signbit(negative_zero(np.float64(-0.0)))  # -0.0 + 0.0 is +0.0
    v, g = value_and_grad(int_scalar_power, jit=jit)(1.5, 4)
    assert v == int_scalar_power(1.5, 4) and g == 4 ** -1 + 4 ** 2


def int_scalar_to_run_time_power(x, n, k):
    return np.sum(x) * n ** k + np.sum(x) * n ** -1 + np.sum(x) * True ** k


def float_to_int_array_powers(x, ks):
    return np.sum(x) * np.sum(0.0 ** ks) + np.sum(x * 2.0 ** ks[:2])


@TIERS
def test_a_float_to_an_int_array_power_is_a_float_power_in_both_tiers(jit):
    x, ks = np.array([1.0, 2.0]), np.array([-1, 0, 3])
    with np.errstate(divide="ignore"):
        v, _ = value_and_grad(float_to_int_array_powers, jit=jit)(x, ks)
        finite = value_and_grad(float_to_int_array_powers, jit=jit)(x, ks[1:])[0]
    assert v == np.inf and finite == 3.0 * 1.0 + (1.0 + 2.0 * 8.0)


def int_to_int_array_power(x, n, ks):
    return np.sum(x) * np.sum(n ** ks)


def np_power_of_ints(x, n, k):
    return np.sum(x) * np.power(n, k)


def np_float_power_of_ints(x, n, k):
    return np.sum(x) * np.float_power(n, k) + np.sum(np.float_power(np.arange(3), k))


def negated_mask(x):
    return np.sum(x * -(x > 0.0))


def masks_subtracted(x):
    return np.sum(x * ((x > 0.0) - (x > 1.0)))


def negated_sum_of_masks(x):
    return np.sum(x * -((x > 0.0) + (x > 1.0))) + np.sum(x * (True - (x > 0.0)))


def masks_combined(x):
    a = np.sum(x)
    return (np.sum(x * ((x > 0.0) + (x > 1.0))) + a * ((a > 0.0) + (a > 1.0))
            + np.sum(x[(x > 0.0) * (x < 1.0)]) + a * np.maximum(a > 0.0, a > 9.0)
            + np.sum(np.minimum(x > 0.0, x > 1.0) * x))


def literal_bools(x):
    return np.sum(x) * (True + True) - np.sum(x) * -True


@TIERS
def test_booleans_combined_by_plus_and_times_stay_numpy_booleans(jit):
    """NumPy's bool + bool is a logical or and bool * bool a logical and (np.True_ +
    np.True_ is True; Numba's scalar True + True was 2, so compiled code gave 3.0 where
    NumPy gives 1.5), and the result indexes as a mask."""
    x = np.array([0.5, 2.0, -1.0])
    with np.errstate(all="ignore"):
        want = masks_combined(x)
        v, g = value_and_grad(masks_combined, jit=jit)(x)
    assert want == 2.5 + 1.5 + 0.5 + 1.5 + 2.0 and v == want
    # bool literals are Python's: True + True is 2, -True is -1
    assert value_and_grad(literal_bools, jit=jit)(x)[0] == literal_bools(x) == 4.5


@pytest.mark.parametrize("fn, args, what", [
    (int_to_int_array_power, (np.array([1, -1, 40]),), "integer array power"),
    (np_power_of_ints, (-1,), "np.power of integers"),
    (negated_mask, (), "NumPy refuses `-` of booleans"),
    (masks_subtracted, (), "NumPy refuses `-` of booleans"),
    (negated_sum_of_masks, (), "NumPy refuses `-` of booleans"),
])
def test_integer_and_boolean_operations_numpy_computes_otherwise_are_refused(fn, args, what):
    """NumPy's integer power (3 ** np.array([40]) wraps to a negative int64, a negative
    power raises) and its refusal of `-` on booleans: refused at the user's line rather
    than computed as floats (or, compiled, as 0/1 integers)."""
    x = np.array([0.5, 2.0])
    for jit in (False, True):
        with pytest.raises(UnsupportedError, match=what) as e:
            value_and_grad(fn, jit=jit)(x, *((3,) + args if "power" in fn.__name__ else args))
        assert "test_no_silent_errors.py" in str(e.value)


@TIERS
def test_np_float_power_is_float_throughout(jit):
    x = np.array([0.5, 2.0])
    v, _ = value_and_grad(np_float_power_of_ints, jit=jit)(x, 2, -1)
    assert v == 2.5 * 0.5 + (np.inf + 1.0 + 0.5)
    v, _ = value_and_grad(np_float_power_of_ints, jit=jit)(x, 3, 40)
    assert v == 2.5 * float(3 ** 40) + (0.0 + 1.0 + 2.0 ** 40)


LOW = -2 ** 63
MINUS_ONE = -1


def quotients_of_literals_and_globals(x, b):
    return (np.sum(x) * (LOW // b) + np.sum(x * (-9223372036854775808 // b))
            + np.sum(x) * (LOW // MINUS_ONE))


@TIERS
def test_quotients_of_literal_and_global_ints(jit):
    """A literal or global dividend: the NumPy tier's int64 quotient for a run-time
    divisor (-2**63 // -1 wraps), Python's for two constants (folded: 2**63)."""
    x = np.ones(3)
    with np.errstate(all="ignore"):
        for b in (-1, 1, 3):
            v, _ = value_and_grad(quotients_of_literals_and_globals, jit=jit)(x, b)
            want = (3.0 * float(np.int64(LOW) // np.int64(b))
                    + 3.0 * float(np.int64(LOW) // np.int64(b)) + 3.0 * float(2 ** 63))
            assert v == want


WIDE = 2 ** 64


def int_constants_in_numpy_functions_within_int64(x):
    return x[0] * (2**40 * 2**40 // 2**62) + x[1] * abs(-5) + x[2] * np.add(3, 4)


@TIERS
def test_int_constants_within_int64_compute_in_numpy_functions(jit):
    x = np.array([1.5, -2.0, 3.0])
    v, g = value_and_grad(int_constants_in_numpy_functions_within_int64, jit=jit)(x)
    assert v == int_constants_in_numpy_functions_within_int64(x)
    np.testing.assert_array_equal(g, [2.0 ** 18, 5.0, 7.0])


def wide_ints_beside_floats(x):
    return (np.sum(x * 2**70) + np.sum(x / WIDE) + np.sum(x * (2**64 - 2**63))
            + np.sum(x * (WIDE // 2**62)) + float(2**70) * x[0] + np.float64(-2**66) * x[1]
            + np.sum(np.maximum(x, 2**64) - 2**64) + np.sum(np.where(x > 2**63, x, 2.0 * x))
            + np.sum(x) * (-2**63) + np.sum(x ** 2) * (10**20 % 7 + 10**20 // 3))


@TIERS
def test_ints_beyond_int64_beside_floats_are_numpys_floats(jit):
    """An integer constant beyond int64 (a literal, a global, a folded `2**64 - 2**63`)
    beside a float is the float NumPy takes it as (NEP 50), and arithmetic on constants
    alone is Python's exact arithmetic (`WIDE // 2**62` is 4); compiled code once wrapped
    them around (`x * 2**70` was 0)."""
    x = np.array([1.5, -2.0, 3.0])
    v, g = value_and_grad(wide_ints_beside_floats, jit=jit)(x)
    assert v == wide_ints_beside_floats(x)
    np.testing.assert_allclose(g, autograd_grads(wide_ints_beside_floats, (x,), (0,))[0],
                               rtol=1e-15)


def wide_int_beside_int_argument(x, k):
    return np.sum(x * (k + 2**63))


def wide_global_beside_int_argument(x, k):
    return np.sum(x) * (k * WIDE)


def wide_int_beside_shape(x, k):
    return x[0] * (x.shape[0] + 2**63)


def wide_int_beside_int_array(x, k):
    return np.sum(x * (np.arange(3) - 2**64))


def wide_int_folded_from_fitting_ones(x, k):
    return np.sum(x) * (k - 2**62 * 4)


def wide_int_in_a_call(x, k):
    return np.sum(x * np.full(3, 2**63))


def numpy_power_of_int_constants(x, k):
    return np.sum(x) * np.power(2, 70)  # NumPy: int64, wraps to 0


def numpy_add_of_int_constants(x, k):
    return np.sum(x) * np.add(2**62, 2**62)  # NumPy: -2**63


def builtin_abs_of_the_lowest_int64(x, k):
    return np.sum(x) * abs(-2**63)  # Python: 2**63; int64: -2**63


def int_power_too_large(x, k):
    return np.sum(x * 2 ** 10 ** 6)


def int_too_large_for_float(x, k):
    return np.sum(x * 10 ** 400)


@TIERS
@pytest.mark.parametrize("fn, says", [
    (wide_int_beside_int_argument, "does not fit int64"),
    (wide_global_beside_int_argument, "does not fit int64"),
    (wide_int_beside_shape, "does not fit int64"),
    (wide_int_beside_int_array, "does not fit int64"),
    (wide_int_folded_from_fitting_ones, "does not fit int64"),
    (wide_int_in_a_call, "does not fit int64"),
    (int_power_too_large, "too large for int64 and float64"),
    (numpy_power_of_int_constants, "goes beyond int64"),
    (numpy_add_of_int_constants, "goes beyond int64"),
    (builtin_abs_of_the_lowest_int64, "goes beyond int64"),
    (int_too_large_for_float, "too large for a float64"),
], ids=lambda c: getattr(c, "__name__", ""))
def test_ints_beyond_int64_elsewhere_are_refused_at_their_line(jit, fn, says):
    """Such a constant beside int64 values (NumPy raises OverflowError; Python computes
    with unbounded ints), in a call (np.full(3, 2**63) is a uint64 array), or in NumPy's
    int64 arithmetic on constants (which wraps around): compiled code would hold it as
    an int64, so it is refused at the user's line in both tiers."""
    with pytest.raises(UnsupportedError, match=says) as e:
        value_and_grad(fn, wrt=0, jit=jit)(np.ones(3), 3)
    assert f"test_no_silent_errors.py:{fn.__code__.co_firstlineno + 1}" in str(e.value)


def int_quotients(x, n, d, a, b):
    return (np.sum(x) * (n // d) + np.sum(x) * (n % d) + np.sum(x * (a // d))
            + np.sum(x * (a // b)) + np.sum(x * (a % b)) + np.sum(x * (n // b)))


_LOW = -2 ** 63


@TIERS
@pytest.mark.parametrize("n, k", [(0, -1), (0, -3), (2, -1), (-3, -2), (3, 3), (0, 0)])
def test_an_int_scalar_to_an_int_power_is_one_value_in_both_tiers(jit, n, k):
    """An int scalar to a negative or run-time int power is a float (Python's 2 ** -1 is
    0.5); at 0 ** -1 that float power is inf in both tiers, as 0.0 ** -1 is in NumPy
    (compiled code once raised ZeroDivisionError there)."""
    x = np.array([1.0, 2.0])
    with np.errstate(divide="ignore"):
        want = sum(3.0 * np.float64(n) ** float(e) for e in (k, -1)) + 3.0
        v, g = value_and_grad(int_scalar_to_run_time_power, jit=jit)(x, n, k)
    assert v == want
    np.testing.assert_allclose(g, np.full(2, want / 3.0), rtol=1e-15)


@TIERS
@pytest.mark.parametrize("n, d, a, b", [
    (_LOW, -1, [_LOW, 7, -7], [-1, -1, 2]),  # the quotient that wraps: -2**63 in NumPy
    (_LOW, 1, [_LOW, 7, 0], [-1, 0, -1]),
    (7, 0, [_LOW, 7, -7], [0, 0, 0]),  # division by zero: 0, as NumPy gives
    (-7, 2, [-7, 7, 1], [-2, 2, -1]),
])
def test_integer_quotients_are_numpys_in_both_tiers(jit, n, d, a, b):
    """// and % of int64 scalars and arrays (broadcast against each other) give NumPy's
    int64 values in both tiers, -2**63 // -1 included (Numba's quotient there is 0)."""
    x = np.array([1.0, 1.0, 1.0])
    a, b = np.array(a, dtype=np.int64), np.array(b, dtype=np.int64)
    with np.errstate(all="ignore"):
        want = int_quotients(x, np.int64(n), np.int64(d), a, b)
        v, g = value_and_grad(int_quotients, jit=jit)(x, n, d, a, b)
    assert v == want


def int_array_negative_power(x, labels):
    return np.sum(x * labels ** -1)


def test_an_integer_array_to_a_negative_power_is_refused_as_numpy_does():
    with pytest.raises(UnsupportedError, match="negative") as e:
        grad(int_array_negative_power)(np.ones(2), np.array([1, 2]))
    assert "test_no_silent_errors.py" in str(e.value)


# ---- 3. everything baked in is re-validated on each call -------------------------------
def warm(g, *args):
    """g(*args) three times: the compiled tier's calls then take the direct path
    (compiler/dispatch.py), whose guard must see each change below."""
    for _ in range(3):
        out = g(*args)
    return out


@TIERS
def test_rebound_module_attribute_helper(jit, monkeypatch):
    g = grad(cc.uses_module_attribute, jit=jit)
    x = np.array([0.5, 1.0])
    np.testing.assert_allclose(warm(g, x), 1 - np.tanh(x) ** 2)
    monkeypatch.setattr(cc.this_module, "act", cc.square.fn)
    np.testing.assert_allclose(g(x), 2 * x)


@TIERS
def test_rebound_global_helper_function(jit, monkeypatch):
    g = grad(cc.uses_helper, jit=jit)
    x = np.array([0.5, 1.0])
    np.testing.assert_allclose(warm(g, x), 1 - np.tanh(x) ** 2)
    monkeypatch.setattr(cc, "act", cc.square.fn)
    np.testing.assert_allclose(g(x), 2 * x)


@TIERS
def test_attribute_of_a_captured_namespace(jit, monkeypatch):
    g = grad(cc.uses_namespace, jit=jit)
    np.testing.assert_array_equal(warm(g, np.ones(2)), [2.0, 2.0])
    monkeypatch.setattr(cc.CFG, "scale", 5.0)
    np.testing.assert_array_equal(g(np.ones(2)), [5.0, 5.0])


@TIERS
def test_custom_rule_replaced_after_the_first_call(jit):
    g = grad(cc.uses_custom, jit=jit)
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(warm(g, x), [2.0, 4.0])
    try:
        @cc.square.defvjp
        def ten(g, ans, x):
            return 10.0 * g
        np.testing.assert_array_equal(g(x), [10.0, 10.0])
    finally:
        cc.square.defvjp(cc.square_vjp)
    np.testing.assert_array_equal(g(x), [2.0, 4.0])


@TIERS
def test_array_whose_shape_changed_in_place(jit, monkeypatch):
    monkeypatch.setattr(cc, "A", cc.A.copy())
    g = value_and_grad(cc.uses_array_shape, jit=jit)
    x = np.array([1.0, -1.0])
    with pytest.raises(RunError, match="broadcast"):  # (4,) * (2,): NumPy cannot either
        g(x)
    cc.A.shape = (2, 2)  # same bytes, new shape: now A * x broadcasts
    v, gx = warm(g, x)
    assert v == cc.uses_array_shape(x)
    np.testing.assert_array_equal(gx, [4.0, 6.0])


@TIERS
def test_function_defaults_and_code_changed(jit, monkeypatch):
    g = grad(cc.uses_defaults, jit=jit)
    np.testing.assert_array_equal(warm(g, np.ones(2)), [3.0, 3.0])
    monkeypatch.setattr(cc.scaled, "__defaults__", (5.0,))
    np.testing.assert_array_equal(warm(g, np.ones(2)), [5.0, 5.0])
    monkeypatch.setattr(cc.scaled, "__code__", cc.act.__code__)
    np.testing.assert_allclose(g(np.ones(2)), 1 - np.tanh(1.0) ** 2)


@TIERS
def test_builtin_shadowed_by_a_global_later(jit, monkeypatch):
    g = grad(cc.uses_builtin, jit=jit)
    np.testing.assert_array_equal(warm(g, np.array([-2.0, 1.0])), [-1.0, 1.0])
    monkeypatch.setattr(cc, "abs", cc.square.fn, raising=False)
    np.testing.assert_array_equal(g(np.array([-2.0, 1.0])), [-4.0, 1.0])


# ---- 4. every constant round-trips -----------------------------------------------------
@TIERS
def test_non_finite_signed_zero_and_subnormal_constants(jit):
    x = np.array([1.0, 0.0])
    v, g = value_and_grad(cc.constants, jit=jit)(x)
    want = cc.constants(x)
    assert np.isnan(v) and np.isnan(want)
    np.testing.assert_array_equal(g, [1.0 + cc.C[7] * 0.5, np.inf])
    xs = np.array([1.0, 2.0, 3.0, 0.5])
    v, g = value_and_grad(cc.constants_finite, jit=jit)(xs)
    assert v == cc.constants_finite(xs)
    assert g.tobytes() == cc.C[4:].tobytes()  # -0.0 and the subnormals bit for bit


# ---- 5. scalars behave as NumPy's, in both tiers ---------------------------------------
def divide(x, y):
    return x / y


def norm_at_zero(x):
    return np.sqrt(np.sum(x * x))


@TIERS
@pytest.mark.parametrize("y", [0.0, np.float64(0.0), np.array(0.0)])
def test_division_by_zero_is_inf_as_in_numpy(jit, y):
    with np.errstate(divide="ignore"):
        v, (gx, gy) = value_and_grad(divide, wrt=(0, 1), jit=jit)(np.float64(1.0), y)
        assert v == np.float64(1.0) / np.float64(0.0) == np.inf
    assert gx == np.inf and gy == -np.inf


def test_both_tiers_agree_on_nan_and_inf():
    with np.errstate(all="ignore"):
        a = value_and_grad(norm_at_zero, jit=False)(np.zeros(3))
        b = value_and_grad(norm_at_zero, jit=True)(np.zeros(3))
    assert a[0] == b[0] == 0.0
    np.testing.assert_array_equal(a[1], b[1])


def gather_by_int_product(x, A, b):
    return np.sum(x[A @ b]) + np.sum(x[b @ A])


@TIERS
def test_integer_matrix_products_index_as_in_numpy(jit):
    x = np.array([1.0, 2.0, 3.0, 4.0])
    A, b = np.array([[1, 0], [1, 1]]), np.array([1, 2])
    vg = value_and_grad(gather_by_int_product, jit=jit)
    v, g = vg(x, A, b)
    assert v == gather_by_int_product(x, A, b) == 13.0
    np.testing.assert_array_equal(g, [0.0, 1.0, 1.0, 2.0])
    assert vg.compile_info["jit"] is jit  # compiled, no fallback to NumPy


# ---- Python's meaning of a loop target after the loop, and of `and`/`or` on numbers ----
import loop_target_code as lt  # noqa: E402
from compiler.errors import NameResolutionError  # noqa: E402

PY_CASES = [(lt.after, (1.5, 3)), (lt.after, (1.5, 0)),
            (lt.after_rows, (np.array([1.0, 2.0]), np.array([[1.0, 2.0], [3.0, 4.0]]))),
            (lt.after_enum, (np.array([1.0, 2.0, 3.0]),)), (lt.with_break, (1.5, 5)),
            (lt.reassigned_in_body, (1.5, 3)),
            (lt.f_or, (3.0,)), (lt.f_or, (0.0,)), (lt.f_and, (2.0, 5.0)), (lt.f_and, (0.0, 5.0)),
            (lt.f_or3, (1.0, 2.0)), (lt.f_or3, (1.0, 3.0)), (lt.f_or3, (2.0, 2.0)),
            (lt.f_bool, (1.0, 2.0)), (lt.f_bool, (-6.0, 2.0))]


@TIERS
@pytest.mark.parametrize("fn,args", PY_CASES, ids=[c[0].__name__ for c in PY_CASES])
def test_values_and_gradients_are_pythons(fn, args, jit):
    """The value equals running the function; the gradient equals autograd's on it."""
    wrt = tuple(i for i, a in enumerate(args) if not isinstance(a, int))
    v, g = value_and_grad(fn, wrt=wrt, jit=jit)(*args)
    assert v == fn(*args)
    for got, want in zip(g, autograd_grads(fn, args, wrt)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize("fn,name", [(lt.undefined_after, "j"), (lt.first_in_body, "y"),
                                     (lt.global_shadow, "G")])
def test_a_name_that_exists_only_if_the_loop_ran_is_an_error_not_a_global(fn, name):
    with pytest.raises(NameResolutionError, match=f"`{name}` is assigned only on some paths") \
            as e:
        grad(fn, jit=False)(1.5, 3)
    assert "loop_target_code.py" in str(e.value)


@TIERS
def test_captured_ndarray_subclass_changed_in_place(jit, monkeypatch):
    monkeypatch.setattr(cc, "SUB", cc.SUB.copy())
    g = grad(cc.uses_subclass, jit=jit)
    np.testing.assert_array_equal(g(np.ones(2)), [1.0, 2.0])
    cc.SUB[0] = 10.0
    np.testing.assert_array_equal(g(np.ones(2)), [10.0, 2.0])


def test_an_equal_new_number_on_every_read_does_not_regenerate(monkeypatch):
    g = grad(cc.uses_property, jit=False)
    np.testing.assert_array_equal(g(np.ones(2)), [3.5, 3.5])
    spec = g._spec()
    for _ in range(3):
        np.testing.assert_array_equal(g(np.ones(2)), [3.5, 3.5])
    assert g._spec() is spec  # the same specialisation: no regeneration
    monkeypatch.setattr(cc.Fresh, "z", 1.5)
    np.testing.assert_array_equal(g(np.ones(2)), [4.5, 4.5])


# ---- writes through views write through (issue 13; refused before, lost before that) ----
import view_code as vc  # noqa: E402

X42 = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, 1.0]])
X4 = np.array([1.0, 2.0, 3.0, 4.0])


@TIERS
@pytest.mark.parametrize("fn,x", [
    (vc.slice_view, X4), (vc.rows_in_place, X42), (vc.base_after_view, X4),
    (vc.reshape_view, X4), (vc.transpose_aug, X42),
    (vc.ok_copy, X4), (vc.ok_flatten, X4), (vc.ok_reassign, X4), (vc.ok_read_only_view, X4),
], ids=lambda v: getattr(v, "__name__", None))
def test_writes_through_views_and_copies_compute_what_numpy_computes(fn, x, jit):
    """The writes that were once silently lost (then refused) change the viewed array as
    in NumPy; copies do not (tests/test_views.py has every view kind)."""
    from runtime.check import numerical_grad
    v, g = value_and_grad(fn, jit=jit)(x.copy())
    assert v == fn(x.copy())
    np.testing.assert_allclose(g, numerical_grad(fn, (x.copy(),), 0), rtol=1e-6, atol=1e-7)


def runtime_int_power(x, k):
    return x ** k


@TIERS
@pytest.mark.parametrize("x,k", [(0.0, -1), (1.5, 3), (-1.3812797174167781, 3), (2.0, 0)])
def test_a_float_to_a_run_time_int_power_is_numpys(jit, x, k):
    """pow() as NumPy computes it in both tiers (Numba's integer power raised
    ZeroDivisionError at 0.0 ** -1 and rounded x ** 3 as x * x * x)."""
    with np.errstate(divide="ignore"):
        v, _ = value_and_grad(runtime_int_power, jit=jit)(x, k)
        assert np.float64(v).tobytes() == (np.float64(x) ** k).tobytes()


@pytest.mark.parametrize("fn", [cc.var_over_n_minus_1, cc.var_ddof1], ids=lambda f: f.__name__)
def test_a_division_by_a_zero_length_is_numpys_in_both_tiers(fn):
    """The backward sweep's `1.0 / n` with a length n = 0 is inf or nan as NumPy computes
    it (the NumPy tier raised ZeroDivisionError, the compiled tier gave inf)."""
    x = np.array([2.0])
    with np.errstate(all="ignore"):
        want = fn(x)
        got = [value_and_grad(fn, jit=jit)(x) for jit in (False, True)]
    for v, g in got:
        np.testing.assert_array_equal([v], [want])
    np.testing.assert_array_equal(got[0][1], got[1][1])


def int_of(x):
    return x * int(x)


@TIERS
def test_int_of_nan_raises_in_both_tiers(jit):
    """Python's int() of NaN raises ValueError; compiled code returned garbage."""
    from compiler.errors import RunError
    g = value_and_grad(int_of, jit=jit)
    assert g(2.5) == (5.0, 2.0)
    with pytest.raises(RunError, match="NaN"):
        g(float("nan"))


@TIERS
def test_inlined_helper_defaults_changed_in_place(jit, monkeypatch):
    """An inlined helper's array default changed in place and its keyword-only default
    set in its __kwdefaults__ dict are changes, as a rebound default is."""
    g = grad(cc.uses_helper_defaults, jit=jit)
    np.testing.assert_array_equal(warm(g, np.ones(2)), [2.0, 4.0])
    try:
        cc.DEFAULT_ARRAY[0] = 10.0
        np.testing.assert_array_equal(warm(g, np.ones(2)), [20.0, 4.0])
        monkeypatch.setitem(cc.weighted_helper.__kwdefaults__, "k", 3.0)
        np.testing.assert_array_equal(warm(g, np.ones(2)), [30.0, 6.0])
    finally:
        cc.DEFAULT_ARRAY[0] = 1.0


@TIERS
@pytest.mark.parametrize("fn", [cc.uses_matrix, cc.uses_masked])
def test_global_matrix_or_masked_array_is_refused(jit, fn):
    """NumPy's `*` of an np.matrix is a matrix product, a masked array's sum skips its
    masked entries: read as plain arrays they gave other numbers."""
    with pytest.raises(UnsupportedError, match="ndarray subclass"):
        grad(fn, jit=jit)(np.ones(2))


@TIERS
def test_method_of_a_global_object_is_generated_once(jit, monkeypatch):
    """`obj.method` is a new bound method at every read: the same function bound to the
    same object is no change (every call regenerated before), a new attribute value or
    method is one."""
    g = grad(cc.uses_method, jit=jit)
    x = np.array([1.0, 2.0])
    np.testing.assert_array_equal(warm(g, x), 4.0 * x)
    assert len(g._specs) == 1 and g._spec().first_call is not None
    first = g._spec()
    warm(g, x)
    assert g._spec() is first
    monkeypatch.setattr(cc.SCALER, "scale", 3.0)
    np.testing.assert_array_equal(warm(g, x), 6.0 * x)
    monkeypatch.setattr(cc.Scaler, "apply", cc.Scaler.apply_cubed)
    np.testing.assert_array_equal(warm(g, x), 9.0 * x * x)



# ---- the function differentiated is the one Python runs; arguments NumPy would not take --
def _scaled_twice(fn):
    import functools

    @functools.wraps(fn)
    def wrapper(x):
        return 2.0 * fn(x)
    return wrapper


@_scaled_twice
def decorated_square(x):
    return np.sum(x * x)


def calls_decorated(x):
    return decorated_square(x) + 1.0


@pytest.mark.parametrize("fn", [decorated_square, calls_decorated], ids=["loss", "helper"])
def test_a_wrapping_decorator_is_refused_not_skipped(fn):
    """functools.wraps points inspect at the wrapped function's source: differentiating
    it would leave the wrapper's `2.0 *` out (value 5 where Python gives 10)."""
    with pytest.raises(UnsupportedError, match="decorator's wrapper"):
        value_and_grad(fn, jit=False)(np.array([1.0, 2.0]))


def test_a_source_file_edited_after_import_is_refused(tmp_path, monkeypatch):
    """inspect reads the file as it is now, Python runs what it imported: after an edit
    the gradient would be of the new text (9 where Python gives 5); refused until the
    module is reloaded."""
    import importlib
    path = tmp_path / "edited_loss.py"
    path.write_text("import numpy as np\n\n\ndef loss(x):\n    return np.sum(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("edited_loss")
    x = np.array([2.0, 3.0])
    assert value_and_grad(module.loss, jit=False)(x)[0] == 5.0
    path.write_text("import numpy as np\n\n\ndef loss(x):\n    return np.sum(x * x) - 4.0\n")
    with pytest.raises(UnsupportedError, match="not the code Python runs") as e:
        value_and_grad(module.loss, jit=False)(x)
    assert "edited_loss.py:4" in str(e.value)
    module = importlib.reload(module)
    assert value_and_grad(module.loss, jit=False)(x)[0] == 9.0


@pytest.mark.parametrize("per_statement, future", [(True, False), (True, True),
                                                    (False, True), (False, False)])
def test_code_from_notebook_cells_and_exec_is_accepted(per_statement, future):
    """Text registered in linecache under a name that is no file, as IPython registers a
    cell, compiled one statement at a time (IPython) or whole, with or without
    `from __future__ import annotations` in force: the same function, accepted (an
    import in the same compile unit changes CPython's bytecode for `np.sum(...)`)."""
    import __future__
    import ast
    import linecache
    cell = "import numpy as np\n\n\ndef cell_loss(x):\n    return np.sum(x * x)\n"
    name = f"<ipython-input-{int(per_statement)}{int(future)}-adjoint-test>"
    linecache.cache[name] = (len(cell), None, cell.splitlines(True), name)
    flags = __future__.annotations.compiler_flag if future else 0
    scope = {}
    units = [ast.Module([s], []) for s in ast.parse(cell).body] if per_statement else [cell]
    for unit in units:
        exec(compile(unit, name, "exec", flags=flags, dont_inherit=True), scope)  # noqa: S102
    v, g = value_and_grad(scope["cell_loss"], jit=False)(np.array([1.0, 2.0]))
    assert v == 5.0 and np.array_equal(g, [2.0, 4.0])


def int_times_sum(x, n):
    return np.sum(x) * n


@pytest.mark.parametrize("bad, what", [
    (2 ** 63, "does not fit int64"), (-2 ** 63 - 1, "does not fit int64"),
    (np.array([1, 2 ** 64 - 1], dtype=np.uint64), "does not fit int64"),
    (np.array([1 + 1j, 2.0]), "complex128"), (np.array(["1", "2"]), "<U1"),
    (np.array(["2020-01-01"], dtype="datetime64[s]"), "datetime64"),
    (np.timedelta64(1, "s"), "timedelta64 values"), (np.array(np.timedelta64(1, "s")), "timedelta64"),
])
def test_arguments_numpy_would_compute_otherwise_are_refused(bad, what):
    """An int beyond int64 (NumPy's np.int64 refuses it; a uint64 would wrap to -1), a
    complex array (its imaginary part would be dropped), strings and datetimes (which
    NumPy's arithmetic refuses): ArgumentError naming the argument, on the first call
    and once the compiled entry is in place."""
    x = np.array([1.0, 2.0])
    for jit in (False, True):
        f = value_and_grad(int_times_sum, jit=jit)
        for _ in range(3):
            f(x, 3)
        for wrt_bad in (False, True) if "fit int64" not in what else (False,):  # (a
            # differentiated int is a float: 2**63 is then 9.2e18, as in NumPy)
            with pytest.raises(ArgumentError, match=what) as e:
                if wrt_bad:
                    value_and_grad(int_times_sum, wrt="n", jit=jit)(x, bad)
                else:
                    f(x, bad)
            assert "'n'" in str(e.value)


def int_of_a_float(x, y):
    return np.sum(x) * int(y)


@TIERS
@pytest.mark.parametrize("y, error", [(1e19, "beyond int64"), (-9.3e18, "beyond int64"),
                                      (np.inf, "infinity"), (np.nan, "NaN")])
def test_int_of_a_float_int64_cannot_hold_is_one_located_error_in_both_tiers(jit, y, error):
    """int(y) of a float past int64: Python's int holds it, compiled code cannot; both
    tiers raise the same error at the user's line (the NumPy tier computed with the
    Python int, compiled code raised a bare OverflowError)."""
    with pytest.raises(RunError, match=error) as e:
        value_and_grad(int_of_a_float, jit=jit)(np.ones(2), y)
    assert "test_no_silent_errors.py" in str(e.value)
    assert value_and_grad(int_of_a_float, jit=jit)(np.ones(2), 9.2e18)[0] == 2.0 * int(9.2e18)


def test_a_differentiated_int_beyond_float64_is_an_argument_error():
    with pytest.raises(ArgumentError, match="beyond float64's range") as e:
        value_and_grad(int_times_sum, wrt="n", jit=False)(np.ones(2), 10 ** 400)
    assert "'n'" in str(e.value)


# ---- booleans and integers in NumPy's functions: NumPy's dtype rules, or refused -------
def bool_products(x, X, k):
    m, m2, M = x > 0.5, x > 0.2, X > 0.5
    return (np.sum(x) * (m @ m2) + np.sum(x) * np.dot(m, m2) + np.sum(x * (M @ m))
            + np.sum(x) * np.inner(m, m2) + np.sum(x) * np.vdot(M, M)
            + np.sum(x) * np.einsum('i,i', m, m2) + np.sum(x) * np.einsum('i->', m)
            + np.sum(x * np.einsum('ij->j', M)) + np.sum(x) * np.tensordot(m, m2, 1)
            + np.sum(x * np.inner(M, m)) + np.sum(x * np.einsum('i,i->i', m, m2)))


def bool_beside_int_products(x, X, k):
    m, M = x > 0.5, X > 0.5
    return (np.sum(x) * ((m @ k) // 2) + np.sum(x * ((M @ k) % 3))
            + np.sum(x) * (np.einsum('i,i', m, k) // 2) + np.sum(x) * (np.dot(k, m) // 2))


def finiteness_of_ints(x, X, k):
    m = x > 0.5
    return (np.sum(x * np.isfinite(k)) + np.sum(x * np.isinf(k)) + np.sum(x * np.isnan(k))
            + np.sum(x * np.isfinite(m)) + np.sum(x * np.isinf(m)) + np.sum(x * np.isnan(m)))


def positional_none(x, X, k):
    return (np.sum(np.clip(x, None, 0.5)) + np.sum(np.clip(x, 0.2, None)) + np.sum(x.clip(None, 0.65))
            + np.sum(np.clip(x, a_min=None, a_max=0.4)) + np.sum(np.clip(x, 0.35, None))
            + np.sum(x * np.sum(X, None)))


@TIERS
@pytest.mark.parametrize("fn", [bool_products, bool_beside_int_products, finiteness_of_ints,
                                positional_none], ids=lambda f: f.__name__)
def test_booleans_and_ints_follow_numpys_dtype_rules(jit, fn):
    """A product of booleans only is NumPy's boolean product, an or of ands (`m @ m` is
    m.any(), it was a count), a boolean beside ints is an int (`//` then stays integer
    division), and integers and booleans are finite (np.isnan of ints was all True)."""
    x = np.array([0.1, 0.7, 0.3, 0.9, 0.6])
    X = np.array([[0.1, 0.7, 0.3, 0.9, 0.6], [0.6, 0.2, 0.8, 0.4, 0.1],
                  [0.9, 0.9, 0.1, 0.3, 0.2], [0.5, 0.6, 0.7, 0.05, 0.9],
                  [0.2, 0.1, 0.6, 0.7, 0.8]])
    k = np.array([1, 2, 0, 3, 5])
    v, g = value_and_grad(fn, wrt=(0, 1), jit=jit)(x, X, k)
    np.testing.assert_allclose(v, fn(x, X, k), rtol=1e-15)  # compiled np.sum: not pairwise
    want = autograd_grads(fn, (x, X, k), (0, 1))
    np.testing.assert_allclose(g[0], want[0], rtol=1e-15)
    np.testing.assert_allclose(g[1], want[1], rtol=1e-15)


def clip_method_with_one_bound(x):
    return np.sum(x.clip(0.65)) + 2.0 * np.sum(x.clip(max=0.45))


@TIERS
def test_the_clip_method_takes_one_bound(jit):
    """ndarray.clip(min=None, max=None) takes either bound alone (np.clip does not)."""
    x = np.array([0.1, 0.7, 0.3, 0.9, 0.6])
    v, g = value_and_grad(clip_method_with_one_bound, jit=jit)(x)
    assert v == clip_method_with_one_bound(x)
    np.testing.assert_array_equal(g, (x > 0.65) + 2.0 * (x < 0.45))


def sign_of_bools(x):
    return np.sum(np.sign(x > 0.5) * x)


def ptp_of_bools(x):
    return np.ptp(x > 0.5) * np.sum(x)


def quantile_of_bools(x):
    return np.quantile(x > 0.5, 0.5) * np.sum(x)


def percentile_of_bools(x):
    return np.percentile(x > 0.5, 50.0) * np.sum(x)


def matrix_power_of_bools(x):
    return np.sum(x * np.sum(np.linalg.matrix_power(np.outer(x, x) > 0.2, 2), axis=0))


def cross_of_bools(x):
    return np.sum(np.cross(x > 0.5, x[::-1] > 0.5)) * np.sum(x)


def clip_with_a_min_and_max_keyword(x):
    return np.sum(np.clip(x, 0.2, max=0.6))


def reciprocal_of_ints(x):
    return np.sum(x * np.reciprocal(np.arange(1, 4)))


def clip_without_a_max(x):
    return np.sum(np.clip(x, 0.5))


def cross_of_4_vectors(x):
    return np.sum(np.cross(x, x[::-1]))


def nan_to_num_with_an_array_copy(x):
    return np.sum(np.nan_to_num(x, x))


@TIERS
@pytest.mark.parametrize("fn, error", [
    (sign_of_bools, UnsupportedError), (ptp_of_bools, UnsupportedError),
    (quantile_of_bools, UnsupportedError), (percentile_of_bools, UnsupportedError),
    (reciprocal_of_ints, UnsupportedError), (clip_without_a_max, UnsupportedError),
    (matrix_power_of_bools, UnsupportedError),
    (nan_to_num_with_an_array_copy, UnsupportedError), (cross_of_4_vectors, RunError),
    (cross_of_bools, UnsupportedError), (clip_with_a_min_and_max_keyword, UnsupportedError),
], ids=lambda c: getattr(c, "__name__", ""))
def test_what_numpy_refuses_for_booleans_and_ints_is_refused_at_its_line(jit, fn, error):
    """NumPy raises for these (a boolean sign, ptp or percentile, clip without a_max, the
    cross product of 4-vectors) or computes an integer reciprocal (1 // 3 is 0); compiled
    code computed numbers for them."""
    x = np.array([0.1, 0.7, 0.3])
    if fn is cross_of_4_vectors:
        x = np.array([0.1, 0.7, 0.3, 0.9])
    if fn is reciprocal_of_ints:  # NumPy's integer reciprocal, not 1 / k
        assert fn(x) == x[0]
    elif fn is matrix_power_of_bools:  # NumPy's boolean product: an or of ands
        assert fn(x) != np.sum(x * np.sum(np.linalg.matrix_power(
            (np.outer(x, x) > 0.2).astype(float), 2), axis=0))
    else:
        with pytest.raises((TypeError, ValueError)):
            fn(x)
    with pytest.raises(error) as e:
        value_and_grad(fn, jit=jit)(x)
    assert f"test_no_silent_errors.py:{fn.__code__.co_firstlineno + 1}" in str(e.value)


# ---- in-place updates keep the array's dtype, as NumPy's in-place ufuncs do -------------
def iadd_float_into_ints(x, k):
    k2 = k.copy()
    k2 += x[:3]
    return np.sum(k2 * x[:3])


def itruediv_of_ints(x, k):
    k2 = k * 1
    k2 /= 2
    return np.sum(k2 * x[:3])


def iadd_floats_at_an_index_array_of_ints(x, k):
    k2 = k.copy()
    k2[np.array([0, 2])] += x[:2] * 3.3
    return np.sum(k2 * x[:3])


def iadd_float_into_a_slice_of_ints(x, k):
    k2 = k.copy()
    k2[:2] += 0.5
    return np.sum(k2 * x[:3])


def iadd_int_into_bools(x, k):
    m = x[:3] > 0
    m += 1
    return np.sum(m * x[:3])


def iadd_float_into_a_0d_int_array(x, k):
    a = np.array(2)
    a += 0.5 * x[0]  # NumPy: UFuncTypeError
    return a * x[1]


def iadd_into_an_aliased_0d_array(x, k):
    a = b = np.asarray(x[0] * 0.0)
    a += x[1]  # NumPy: b is a, and sees the update
    return b * 1.0


@TIERS
@pytest.mark.parametrize("fn", [iadd_float_into_a_0d_int_array, iadd_into_an_aliased_0d_array],
                         ids=lambda f: f.__name__)
def test_in_place_updates_of_0d_arrays_are_refused(jit, fn):
    """np.array(2) is a 0-d array in NumPy, updated in place (its dtype kept, every name
    for it changed); adjoint's 0-d arrays are numbers, so `+=` rebound a new number."""
    x, k = np.array([0.3, -1.2, 2.1]), np.array([3])
    with pytest.raises(UnsupportedError, match="0-d array") as e:
        value_and_grad(fn, jit=jit)(x, k)
    assert f"test_no_silent_errors.py:{fn.__code__.co_firstlineno + 2}" in str(e.value)


def element_and_same_kind_updates(x, k):
    k2 = k.copy()
    k2[0] += 0.5 * x[0]  # an element: Python's tmp + 0.5, truncated when written back
    k2 *= 2
    k2 += x[:3] > 0  # booleans into ints: same kind
    m = x[:3] > 0
    m += k > 0  # logical or
    s = 3
    s += x[0]  # a scalar is rebound, as in Python
    return np.sum(k2 * x[:3]) + np.sum(m * x[:3]) + s * x[1]


@TIERS
@pytest.mark.parametrize("fn", [iadd_float_into_ints, itruediv_of_ints,
                                iadd_floats_at_an_index_array_of_ints,
                                iadd_float_into_a_slice_of_ints, iadd_int_into_bools],
                         ids=lambda f: f.__name__)
def test_in_place_updates_that_change_an_arrays_dtype_are_refused(jit, fn):
    """`k += 0.5` of an int array (a copy, an index array's, a slice's) raises in NumPy
    (casting 'same_kind'); adjoint made k a float array and computed on."""
    x, k = np.array([0.3, -1.2, 2.1, 0.75]), np.array([3, -5, 7])
    with pytest.raises(TypeError):
        fn(x.copy(), k.copy())
    with pytest.raises(UnsupportedError, match="same_kind") as e:
        value_and_grad(fn, jit=jit)(x, k)
    assert f"test_no_silent_errors.py:{fn.__code__.co_firstlineno + 2}" in str(e.value)


@TIERS
def test_in_place_updates_that_keep_the_dtype_compute_numpys_values(jit):
    x, k = np.array([0.3, -1.2, 2.1, 0.75]), np.array([3, -5, 7])
    v, g = value_and_grad(element_and_same_kind_updates, jit=jit)(x, k)
    assert v == element_and_same_kind_updates(x.copy(), k.copy())
    # autograd cannot write an ArrayBox into an int array: central differences
    fd = numerical_grad(lambda x, k: element_and_same_kind_updates(x.copy(), k.copy()), (x, k), 0)
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-7)


def products_over_empty_axes(x, n):
    X = np.reshape(x, (2, 2))
    return (np.prod(x[n + 2:]) * x[1] + np.sum(np.prod(X[:, n:], axis=1) * x[:2])
            + np.sum(np.prod(X[n:, :], axis=0) * x[2:]))


@TIERS
def test_products_over_empty_axes_have_a_gradient_in_both_tiers(jit):
    """np.prod over no elements is 1 with no cotangent to pass back: the NumPy tier's
    backward sweep raised 'cannot reshape array of size 1 into shape (0,)'."""
    x = np.array([0.3, -1.2, 2.1, 0.75])
    v, g = value_and_grad(products_over_empty_axes, jit=jit)(x, 2)
    assert v == products_over_empty_axes(x, 2)
    np.testing.assert_allclose(g, autograd_grads(products_over_empty_axes, (x, 2), (0,))[0],
                               rtol=1e-15)


def exp_of_bools(x):
    return np.sum(np.exp(x > 0.5)) * x[0]


def cos_of_bools_times_x(x):
    return np.sum(x * np.cos(x > 0.5))


def log1p_of_a_bool_scalar(x):
    return np.log1p(x[0] > 0.5) * x[1]


@TIERS
@pytest.mark.parametrize("fn", [exp_of_bools, cos_of_bools_times_x, log1p_of_a_bool_scalar],
                         ids=lambda f: f.__name__)
def test_float_functions_of_booleans_are_refused(jit, fn):
    """NumPy's float ufuncs compute booleans in float16 (np.exp(True) is 2.719): compiled
    code computed them in float64, so the tiers differed from each other and NumPy."""
    x = np.array([0.3, 0.7, 2.1, 0.75])
    with pytest.raises(UnsupportedError, match="float16") as e:
        value_and_grad(fn, jit=jit)(x)
    assert f"test_no_silent_errors.py:{fn.__code__.co_firstlineno + 1}" in str(e.value)


def likes_of_booleans(x):
    m = x > 0
    z = np.zeros_like(m)
    z += m  # logical or: stays True
    z += m
    return np.sum(x[np.ones_like(m)]) + np.sum(np.full_like(m, 0.5) * x) + np.sum(z * x)


@TIERS
def test_zeros_ones_and_full_like_of_booleans_are_booleans(jit):
    """np.ones_like(m) of a mask is a mask (it was int64: x[ones] read x[1] six times)."""
    x = np.array([0.3, -1.2, 0.7, 1.9, 0.45, -0.8])
    v, g = value_and_grad(likes_of_booleans, jit=jit)(x)
    assert v == likes_of_booleans(x)
    np.testing.assert_array_equal(g, 2.0 + (x > 0))  # full_like(m, 0.5) is all True


def astype_uint8(x):
    return np.sum((np.arange(4) - 3).astype(np.uint8) * x)


def zeros_of_dtype_int8(x):
    return np.sum((np.zeros(4, dtype=np.int8) - 1) * x)


def asarray_to_float32(x):
    return np.sum(np.asarray(x * 1.1, dtype=np.float32))


def nan_to_num_in_place(x):
    y = np.log(x - 1.0)
    z = np.nan_to_num(y, copy=False)  # NumPy: z is y, its NaNs replaced
    return np.sum(y)


@TIERS
@pytest.mark.parametrize("fn, says", [
    (astype_uint8, "wrap around in uint8"), (zeros_of_dtype_int8, "wrap around in int8"),
    (asarray_to_float32, "round to float32"), (nan_to_num_in_place, "in place"),
], ids=lambda c: getattr(c, "__name__", ""))
def test_dtypes_adjoint_does_not_compute_in_are_refused(jit, fn, says):
    """NumPy wraps uint8/int8 and rounds to float32 where adjoint computes in int64 and
    float64 (astype(np.uint8) of -3 was -3, NumPy's 253); nan_to_num(copy=False) writes
    into its argument."""
    x = np.array([0.3, 1.2, 0.7, 1.9])
    with pytest.raises(UnsupportedError, match=says) as e:
        value_and_grad(fn, jit=jit)(x)
    assert f"test_no_silent_errors.py:{fn.__code__.co_firstlineno + 1}" in str(e.value) or \
        f"test_no_silent_errors.py:{fn.__code__.co_firstlineno + 2}" in str(e.value)


# ---- third new-user round: counts of booleans, norms, order statistics at infinities ----
def boolean_counts_along_axes(A):
    m = A > 0
    return (np.sum(np.sum(m, axis=0) * A) + np.sum(np.mean(m, axis=0) * A)
            + np.sum(np.prod(m, axis=1) * A[:, 0]) + np.sum(np.sum(m, axis=1, keepdims=True) * A)
            + np.sum(np.linalg.norm(A, 0, axis=0) * A))


@TIERS
def test_booleans_summed_along_an_axis_count_past_one(jit):
    """Compiled code summed booleans along an axis in a boolean accumulator: every count
    was at most 1 (NumPy's is int64)."""
    A = np.array([[1.0, -2.0, 3.0], [4.0, 5.0, -0.5], [2.0, 1.0, 1.0]])
    v, g = value_and_grad(boolean_counts_along_axes, jit=jit)(A)
    assert v == boolean_counts_along_axes(A)
    np.testing.assert_allclose(g, numerical_grad(boolean_counts_along_axes, (A,), 0), atol=1e-6)


def matrix_norms_over_reversed_axes(A):
    return (np.linalg.norm(A, 1, axis=(1, 0)) + 2.0 * np.linalg.norm(A, np.inf, axis=(1, 0))
            + 3.0 * np.linalg.norm(A, -1, axis=(-1, -2)))


@TIERS
def test_matrix_norms_take_their_axes_in_order(jit):
    """norm(A, 1, axis=(1, 0)) is the 1-norm of A.T (its largest row sum): the axes were
    sorted, giving the norm of A."""
    A = np.array([[1.0, -2.0, 3.0], [-4.0, 5.0, -0.5]])
    v, g = value_and_grad(matrix_norms_over_reversed_axes, jit=jit)(A)
    assert v == matrix_norms_over_reversed_axes(A)
    np.testing.assert_allclose(g, numerical_grad(matrix_norms_over_reversed_axes, (A,), 0),
                               atol=1e-6)


def order_statistics(x):
    return np.median(x) + np.percentile(x, 30.0) + np.quantile(x, 0.75)


@TIERS
@pytest.mark.parametrize("x", [[1.0, np.inf, 3.0, 2.0], [-np.inf, -np.inf, 1.0, 2.0],
                               [1.0, np.inf, 3.0, -np.inf], [np.inf, 0.5, np.inf, -2.0],
                               [1.0, 4.0, 3.0, 2.0]])
def test_order_statistics_at_infinities_are_numpys(jit, x):
    """A median or percentile that is infinite is that infinity, as in NumPy (it was
    inf - inf: NaN); finite ones keep their gradient."""
    x = np.array(x)
    with np.errstate(invalid="ignore"):
        v, g = value_and_grad(order_statistics, jit=jit)(x)
        want = order_statistics(x)
    assert v == want or (np.isnan(v) and np.isnan(want))
    if np.isfinite(want):
        np.testing.assert_allclose(g, numerical_grad(order_statistics, (x,), 0), atol=1e-6)


def two_norm(x):
    return np.linalg.norm(x) * 2.0


@TIERS
@pytest.mark.parametrize("x", [[1e200, 1e200], [1e-200, 1e-200], [3.0, 4.0]])
def test_the_two_norm_overflows_and_underflows_as_numpys(jit, x):
    """NumPy's norm is sqrt(x @ x): inf for 1e200 entries, 0 for 1e-200; compiled code
    called BLAS's scaled nrm2 (1.4e200), so the tiers differed."""
    x = np.array(x)
    with np.errstate(over="ignore", under="ignore"):
        assert value_and_grad(two_norm, jit=jit)(x)[0] == two_norm(x)


def draws_with_parameters(x, seed):
    rng = np.random.default_rng(seed)
    return np.sum(rng.normal(0.0, x[0], 3)) + np.sum(rng.uniform(x[1], x[2], 2))


@TIERS
@pytest.mark.parametrize("x, error, says", [
    ([-0.3, 1.0, 2.0], ValueError, "scale < 0"), ([0.3, 1.0, -1.0], ValueError, "high - low < 0"),
    ([0.3, -np.inf, 1.0], OverflowError, "exceeds valid bounds")])
def test_draw_parameters_are_checked_as_numpy_checks_them(jit, x, error, says):
    """A negative scale or high < low: NumPy raises; adjoint drew loc + scale * z anyway."""
    x = np.array(x)
    with pytest.raises(error, match=says):
        draws_with_parameters(x, 3)
    with pytest.raises(RunError, match=says) as e:
        value_and_grad(draws_with_parameters, jit=jit)(x, 3)
    assert f"test_no_silent_errors.py:{draws_with_parameters.__code__.co_firstlineno + 2}" \
        in str(e.value)
    x = np.array([0.3, 1.0, 2.0])  # within the rules: NumPy's numbers, differentiable
    v, g = value_and_grad(draws_with_parameters, jit=jit)(x, 3)
    assert v == draws_with_parameters(x, 3)
    np.testing.assert_allclose(g, numerical_grad(lambda x: draws_with_parameters(x, 3), (x,), 0),
                               atol=1e-6)


# ---- fourth new-user round: a name that is a boolean on one path, a number on another ---
def bool_or_int_by_branch(x, n):
    m = x[0] > 0
    if n > 5:
        m = 2
    return (m + (x[2] > 0)) * x[1]


def bool_or_float_by_branch(x, n):
    m = x[0] > 0
    if x[1] > 0:
        m = m * 1.5
    return (m + (x[2] > 0)) * x[1]


def bool_or_float_by_conditional_expression(x, n):
    m = (x[0] > 0) if x[1] < 0 else 1.5
    return (m + (x[2] > 0)) * x[1]


def bool_or_int_by_loop(x, n):
    m = x > 0
    for i in range(n):
        m = m * 2
    return np.sum((m + (x > 1.0)) * x)


@TIERS
@pytest.mark.parametrize("fn", [bool_or_int_by_branch, bool_or_float_by_branch,
                                bool_or_float_by_conditional_expression, bool_or_int_by_loop],
                         ids=lambda f: f.__name__)
def test_a_name_boolean_on_one_path_and_a_number_on_another_is_refused(jit, fn):
    """One type for both paths made `m + b` arithmetic on the boolean path too (NumPy: a
    logical or): -2.0 where Python gives -1.0, and with an int the tiers disagreed."""
    with pytest.raises(UnsupportedError, match="a boolean on one path") as e:
        value_and_grad(fn, jit=jit)(np.array([0.5, -1.0, 2.0]), 1)
    assert "test_no_silent_errors.py" in str(e.value)


def bool_or_number_not_read_after_the_branch(x, n):
    if x[0] > 0:
        t = x[0] > 1
        y = t * x[1]
    else:
        t = x[1] * 2.0
        y = t
    m = x[0] > 0
    if n > 5:
        m = 2
    m = x[2] * 2.0  # rebound before it is read
    return y + m * x[1]


@TIERS
def test_a_name_boolean_on_one_path_but_not_read_after_the_join_is_fine(jit):
    x = np.array([0.5, -1.0, 2.0])
    v, g = value_and_grad(bool_or_number_not_read_after_the_branch, jit=jit)(x, 1)
    assert v == bool_or_number_not_read_after_the_branch(x, 1)
    np.testing.assert_array_equal(g, [0.0, 4.0, -2.0])


def float64_of_an_argument_written(x):
    y = np.float64(x)  # x itself for a float64 x, a copy for a float32 one
    y[0] = 10.0
    return np.sum(x)


@TIERS
def test_np_float64_of_an_argument_is_a_maybe_view(jit):
    with pytest.raises(UnsupportedError, match="np.float64 of an argument"):
        value_and_grad(float64_of_an_argument_written, jit=jit)(np.array([0.5, -1.0, 2.0]))


def draw_with_a_negative_zero_scale(x, seed):
    rng = np.random.default_rng(seed)
    return np.sum(rng.normal(x[0], -x[1], 3))


@TIERS
def test_a_negative_zero_scale_is_refused_as_numpy_refuses_it(jit):
    x = np.array([0.3, 0.0])
    with pytest.raises(ValueError, match="scale < 0"):
        draw_with_a_negative_zero_scale(x, 3)
    with pytest.raises(RunError, match="scale < 0"):
        value_and_grad(draw_with_a_negative_zero_scale, jit=jit)(x, 3)


act_lambda = lambda t: np.tanh(t) * 2.0  # noqa: E731


def calls_a_module_lambda(x):
    return np.sum(act_lambda(x))


def test_calling_a_module_level_lambda_is_refused_at_the_call():
    with pytest.raises(UnsupportedError, match="not a plain `def` function") as e:
        value_and_grad(calls_a_module_lambda, jit=False)(np.array([0.5, 1.0]))
    assert f"test_no_silent_errors.py:{calls_a_module_lambda.__code__.co_firstlineno + 1}" \
        in str(e.value)


def a_median(x):
    return np.median(x)


@TIERS
@pytest.mark.parametrize("x, want", [([1.0, np.inf], [0.5, 0.5]),
                                     ([np.inf, 1.0, np.inf, np.inf], [1 / 3, 0.0, 1 / 3, 1 / 3]),
                                     ([-np.inf, -np.inf, 1.0], [0.5, 0.5, 0.0])])
def test_an_infinite_median_splits_its_cotangent_among_the_tied_entries(jit, x, want):
    """The tie policy of max and min (the README's), infinities included: the entries the
    infinite statistic is made of share its cotangent (they got none)."""
    v, g = value_and_grad(a_median, jit=jit)(np.array(x))
    assert v == np.median(x)
    np.testing.assert_allclose(g, want, rtol=1e-15)


def fabs_of_bools(x):
    m = x > 0
    return np.sum((np.fabs(m) + np.fabs(m)) * x)  # NumPy: float16 ones, 2 where m


def square_of_bools(x):
    m = x > 0
    return np.sum((np.square(m) + np.square(m)) * x)  # NumPy: int8, 2 where m


@TIERS
@pytest.mark.parametrize("fn", [fabs_of_bools, square_of_bools], ids=lambda f: f.__name__)
def test_fabs_and_square_of_booleans_are_refused(jit, fn):
    """NumPy's fabs and square of booleans are float16 and int8, which add as numbers;
    adjoint kept them booleans (a logical or: 1 where NumPy gives 2)."""
    x = np.array([0.5, -1.0, 2.0])
    assert fn(x) == 5.0
    with pytest.raises(UnsupportedError, match="of booleans") as e:
        value_and_grad(fn, jit=jit)(x)
    assert f"test_no_silent_errors.py:{fn.__code__.co_firstlineno + 2}" in str(e.value)
