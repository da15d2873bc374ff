"""Writes as NumPy means them (issue 13 §1): writes through every kind of view, into
arguments, at repeated indices, and np.add.at; and the cases adjoint refuses, with
their messages and lines (compiler/frontend/views.py).

Each loss runs under NumPy for its value; its gradient is checked against central
differences (autograd cannot run in-place writes). Both tiers. The losses are in
tests/view_code.py."""
import inspect

import numpy as np
import pytest

import view_code as vc
from compiler import value_and_grad
from compiler.errors import UnsupportedError
from runtime.check import numerical_grad

TIERS = pytest.mark.parametrize("jit", [False, True])
RNG = np.random.default_rng(13)
X4 = np.array([1.0, 2.0, 3.0, 4.0])
X42 = np.array([[1.0, 2.0], [3.0, 4.0], [0.5, 1.0]])


def fresh(f):
    """f on copies of its arguments: the losses write into their arguments, and central
    differences call f again and again on the same arrays."""
    return lambda *a: f(*(np.copy(t) for t in a))


def check(fn, args, wrt, jit):
    """value equal to NumPy's, gradient equal to central differences, the caller's
    arrays unchanged, the same answer twice."""
    keep = [np.copy(a) for a in args]
    f = value_and_grad(fn, wrt=wrt, jit=jit)
    v, g = f(*args)
    for a, k in zip(args, keep):
        np.testing.assert_array_equal(a, k)  # the caller's arrays are not written
    np.testing.assert_allclose(v, fn(*[np.copy(a) for a in args]), rtol=1e-13)
    gs = g if isinstance(wrt, tuple) else (g,)
    for gi, w in zip(gs, wrt if isinstance(wrt, tuple) else (wrt,)):
        np.testing.assert_allclose(gi, numerical_grad(fresh(fn), args, w), rtol=1e-6, atol=1e-6)
    v2, g2 = f(*args)
    assert v2 == v
    for a, b in zip(gs, g2 if isinstance(wrt, tuple) else (g2,)):
        np.testing.assert_array_equal(a, b)


VIEWS = [  # (loss, argument): every way NumPy makes a view, written through
    (vc.slice_view, X4), (vc.rows_in_place, X42), (vc.base_after_view, X4),
    (vc.reshape_view, X4), (vc.transpose_aug, X42), (vc.step_slice, X4),
    (vc.negative_step, X4), (vc.ellipsis_view, X42), (vc.new_axis_view, X4),
    (vc.attribute_T, X42), (vc.transpose_axes, RNG.normal(size=8)), (vc.swapaxes_view, X42),
    (vc.ravel_view, X42), (vc.squeeze_view, X4), (vc.expand_dims_view, X4),
    (vc.int_index_row, X42), (vc.view_of_view, X4), (vc.two_names, X4),
    (vc.aug_on_view_element, X4), (vc.chained_subscript, X42), (vc.rebound_base, X4),
    (vc.enumerate_rows, X42), (vc.view_written_in_loop, X4),
    (vc.row_read_after_base_write, X42), (vc.view_in_branch, X4), (vc.view_in_branch, -X4),
    (vc.ok_copy, X4), (vc.ok_flatten, X4), (vc.ok_reassign, X4), (vc.ok_read_only_view, X4),
    (vc.ok_astype, X4), (vc.mask_through_view, X42), (vc.aug_T_sub, X42),
    (vc.view_from_callee, X4), (vc.row_of_T, X42), (vc.chain_T_reshape, np.arange(1.0, 7.0)),
    (vc.writes_twice_alias, np.arange(1.0, 7.0)), (vc.reshape_after_loop_writes, X42),
    (vc.view_taken_again_in_a_branch, X42), (vc.view_taken_again_in_a_branch, -X42),
    (vc.unpacked_views, X4), (vc.swap_idiom_on_rows, X42), (vc.unpacked_views_from_callee, X4),
    (vc.loop_over_tuple_of_views, X4), (vc.loop_over_tuple_of_views, X4[::-1].copy()),
    (vc.split_views_written, X42), (vc.np_float64_of_a_float_array_is_it, X4),
    (vc.one_array_concatenated_is_new, X4), (vc.round_and_nan_to_num_of_ints_are_new, X4),
    (vc.sum_over_no_axes_is_new, X4), (vc.identity_results_are_views, X4),
    (vc.one_array_column_stacked_is_new, X4),
]


@TIERS
@pytest.mark.parametrize("fn,x", VIEWS, ids=[f"{f.__name__}{i}" for i, (f, _) in enumerate(VIEWS)])
def test_writes_through_views_compute_what_numpy_computes(fn, x, jit):
    check(fn, (x.copy(),), 0, jit)


def test_the_issue_examples_give_numpys_value_and_gradient():
    v, g = value_and_grad(vc.slice_view, jit=False)(X4.copy())
    assert v == 126.0
    np.testing.assert_allclose(g, [202.0, 0.0, 6.0, 8.0], rtol=1e-12)
    v, g = value_and_grad(vc.rows_in_place, jit=False)(X42.copy())
    assert v == vc.rows_in_place(X42.copy()) == 210.0
    np.testing.assert_allclose(g, [[0.0, 40.0], [0.0, 80.0], [0.0, 20.0]], rtol=1e-12)


@TIERS
@pytest.mark.parametrize("fn,args,wrt", [
    (vc.write_argument, (RNG.normal(size=5), 1.5, -2.0), (0, 1, 2)),
    (vc.write_argument_view, (RNG.normal(size=(3, 2)), 1.7), (0, 1)),
    (vc.write_argument_rows, (RNG.normal(size=(3, 2)), 0.7), (0, 1)),
], ids=["element", "through_a_view_and_aug", "rows"])
def test_writes_into_arguments(fn, args, wrt, jit):
    """The gradient is with respect to the arguments' values on entry; the caller's
    arrays are never written, so a second call gives the same answer."""
    check(fn, args, wrt, jit)


@TIERS
@pytest.mark.parametrize("fn,args", [
    (vc.repeated_set, (RNG.normal(size=5), RNG.normal(size=5))),
    (vc.repeated_aug, (RNG.normal(size=5), RNG.normal(size=5))),
    (vc.add_at, (RNG.normal(size=5), RNG.normal(size=5))),
    (vc.add_at_rows, (RNG.normal(size=(3, 2)), RNG.normal(size=2))),
    (vc.add_at_view, (RNG.normal(size=(3, 2)), RNG.normal(size=3))),
    (vc.add_at_2d_rows, (RNG.normal(size=(3, 2)), RNG.normal(size=3))),
], ids=lambda v: getattr(v, "__name__", ""))
def test_repeated_indices_and_add_at(fn, args, jit):
    """x[idx] = v and x[idx] += v with a repeated index: the last occurrence's value is
    kept (NumPy's buffered meaning), and only it gets v's cotangent; np.add.at adds
    every occurrence."""
    check(fn, args, (0, 1), jit)


def test_repeated_index_keeps_the_last_occurrence_only():
    x, v = np.zeros(5), np.arange(5.0)
    g = value_and_grad(vc.repeated_set, wrt=1, jit=False)(x + 1.0, v)[1]
    # IDX = [0, 2, 0, 3, 2]: occurrences 0 and 1 are overwritten later; d/dv 2 v x[IDX]
    np.testing.assert_array_equal(g, [0.0, 0.0, 2.0, 2.0, 2.0])


def _line(fn):
    fn = {vc.writes_callee_parameter: vc._helper}.get(fn, fn)
    src, first = inspect.getsourcelines(fn)
    return first + next(i for i, s in enumerate(src) if s.rstrip().endswith("# refused"))


@pytest.mark.parametrize("fn,x,what", [
    (vc.reshape_of_argument, X4, "`x` is an argument, whose memory layout is its caller's"),
    (vc.reshape_of_transpose, X42, "writing into `r`, which may share memory"),
    (vc.reshape_of_np_copy_of_argument, X4, "memory layout adjoint does not know"),
    (vc.base_written_under_unknown_view, X42, "writing into `Y` while `r` may be a view"),
    (vc.view_depends_on_branch, X4, "depends on the path taken"),
    (vc.view_changes_in_loop, X4, "changes from one loop iteration to the next"),
    (vc.writes_global, X4, "it is a global array"),
    (vc.writes_callee_parameter, X4, "a parameter of the inlined function `_helper`"),
    (vc.writes_temporary, X4, "a new array no name holds"),
    (vc.writes_array_in_a_list, X42, "an array the tuple `rows` also holds"),
    (vc.writes_stop_gradient_alias, X4, "the result of stop_gradient"),
    (vc.reshape_after_loop_transposes, np.ones((2, 2)), "reshape (or ravel) that NumPy makes"),
    (vc.view_from_conditional_expression, X4, "a conditional expression"),
    (vc.base_written_under_broadcast_view, X4, "np.broadcast_to's read-only view"),
    (vc.zero_d_view, X4, "is a 0-d view of `y`"),
    (vc.asarray_with_a_dtype_of_an_argument, X4, "np.asarray with a dtype of an argument"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_refused_writes_name_the_line_and_why(fn, x, what):
    with pytest.raises(UnsupportedError) as e:
        value_and_grad(fn, jit=False)(x.copy())
    assert what in str(e.value)
    assert f"view_code.py:{_line(fn)}:" in str(e.value)


@TIERS
def test_training_on_a_loss_that_writes_its_data_leaves_the_data_alone(jit):
    """fit hands the loss rows of the caller's data matrix (views): the loss's writes
    into them work on copies, so the data is the same after training."""
    from runtime.optim import SGD
    from runtime.train import fit
    X, Y = np.arange(12.0).reshape(4, 3), np.ones(4)
    X0 = X.copy()
    vg = value_and_grad(vc.writes_its_data_row, wrt="w", jit=jit)
    r = fit(vg, {"w": np.zeros(3)}, (X, Y), SGD(0.01), epochs=2, verbose=False)
    np.testing.assert_array_equal(X, X0)
    twin = value_and_grad(vc.copies_its_data_row, wrt="w", jit=jit)  # writes into a copy
    r2 = fit(twin, {"w": np.zeros(3)}, (X, Y), SGD(0.01), epochs=2, verbose=False)
    np.testing.assert_allclose(r.params["w"], r2.params["w"], rtol=1e-14)
    np.testing.assert_allclose(r.loss, r2.loss, rtol=1e-14)


def test_forward_mode_and_hessians_of_a_loss_that_writes_its_argument():
    import compiler
    x, x0 = np.arange(5.0), np.arange(5.0)
    v, t = compiler.jvp(vc.write_argument, (x, 1.5, -2.0), (np.ones(5), 1.0, 0.0), jit=False)
    assert v == vc.write_argument(x0.copy(), 1.5, -2.0) == 39.0
    assert t == 2.0 * (1 + 2 + 3 + 4) + 2.0 * (1.5 * -2.0) * -2.0  # x[0] = a b is overwritten
    h = compiler.hessian(vc.write_argument, wrt=0, jit=False)(x, 1.5, -2.0)
    np.testing.assert_array_equal(h, np.diag([0.0, 2.0, 2.0, 2.0, 2.0]))
    np.testing.assert_array_equal(x, x0)


@pytest.mark.parametrize("fn", [vc.writes_into_a_transposed_result,
                                vc.writes_back_through_a_transpose], ids=lambda f: f.__name__)
def test_writes_keep_numpys_memory_layout(fn):
    """np.sum adds in memory order, so the loss is NumPy's to the last bit only if every
    written array has NumPy's layout: an F-ordered array stays F-ordered after a write,
    a C-ordered base written through its transpose stays C-ordered."""
    X = np.random.default_rng(3).normal(size=(40, 30))
    assert value_and_grad(fn, jit=False)(X)[0] == fn(X.copy())
