"""Each Graph -> Graph pass on its own, with golden IR: the graph after the passes
before it, and after it, for the loop cases where code generation is hardest (stacks,
residuals, in-place accumulation and writes, dead carried values). `pytest --regen-golden`
rewrites tests/golden/passes/*.ir after review."""
from pathlib import Path

import numpy as np
import pytest

from compiler import grad
from compiler.diff import reverse
from compiler.frontend import lower
from compiler.ir.walk import walk
from compiler.passes import ADJOINT_PIPELINE as PIPELINE, run_pipeline
from loop_cost_code import nonlinear_scan
from models import layers_in_loop, newton_sqrt, rnn, row_loop, two_layer

GOLDEN = Path(__file__).parent / "golden" / "passes"
CASES = {
    "rnn": (rnn, ("W", "U", "h"), (np.ones((3, 3)), np.ones((3, 2)), np.ones(3), np.ones((4, 2)))),
    "row_loop": (row_loop, ("w", "X"), (np.ones(3), np.ones((4, 3)))),
    "newton_sqrt": (newton_sqrt, ("a",), (2.0, 1e-12)),
    "two_layer": (two_layer, ("V", "w"), (np.ones(3), 1.0, np.ones((4, 3)), np.ones(4))),
    "nonlinear_scan": (nonlinear_scan, ("x",), (np.ones(5),)),
    "layers_in_loop": (layers_in_loop, ("W", "b"),
                       (np.ones((4, 3)), np.ones((3, 3)), np.ones(3), np.ones((4, 3)))),
}
PASSES = [name for name, _ in PIPELINE]


def adjoint_before(case, upto):
    """The adjoint graph of `case` after the pipeline's passes before position `upto`."""
    fn, wrt, args = CASES[case]
    g = grad(fn, wrt=wrt, jit=False)
    _, key = g.normalize(args)
    primal = run_pipeline(lower(g.fs, key))
    return run_pipeline(reverse(primal, g.wrt), PIPELINE[:upto], verify_each=True)


def prims(graph):
    return [op.prim for op in walk(graph.ops)]


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("k", range(len(PIPELINE)), ids=PASSES)
def test_pass_golden(case, k, check_golden):
    before = adjoint_before(case, k)
    name, p = PIPELINE[k]
    after = run_pipeline(before, [(name, p)], verify_each=True)
    check_golden(GOLDEN / f"{case}.{k}_{name}.ir", str(after) + "\n")


def test_residuals_stores_what_the_backward_loop_would_recompute_expensively():
    before = adjoint_before("rnn", PASSES.index("residuals"))
    after = run_pipeline(before, [PIPELINE[PASSES.index("residuals")]])
    # the forward loop pushes h at each trip; the pass adds W @ h, U @ xs[t] and tanh(...)
    assert prims(before).count("stack_push") == 1 and prims(after).count("stack_push") == 4
    assert prims(after).count("stack_empty") == 3
    assert prims(after).count("stack_read") == prims(before).count("stack_read") + 3


def test_in_place_updates_only_arrays_nothing_else_reads():
    k = PASSES.index("in_place")
    rnn_after = run_pipeline(adjoint_before("rnn", k), [PIPELINE[k]])
    assert prims(rnn_after).count("outer_add") == 2  # g_W and g_U summed over the trips
    rows = run_pipeline(adjoint_before("row_loop", k), [PIPELINE[k]])
    assert "row_add" in prims(rows) and "add_into" in prims(rows)
    # straight-line code: nothing is summed in a loop, nothing is rewritten
    two = adjoint_before("two_layer", k)
    assert str(run_pipeline(two, [PIPELINE[k]])) == str(two)


def test_dce_drops_a_stack_the_backward_loop_never_reads():
    k = PASSES.index("dce")
    before = adjoint_before("newton_sqrt", k)
    after = run_pipeline(before, [PIPELINE[k]])
    pushed = lambda g: sorted(op.inputs[2].hint or "t" for op in walk(g.ops)  # noqa: E731
                              if op.prim == "stack_push")
    # the backward loop reads back x and a / x ('t'); the loop's flag `broke`, its
    # counter `k` and abs(x_new - x) (the stopping test, pushed by the residuals pass)
    # were pushed too, and nothing reads them
    assert pushed(before) == ["broke", "k", "t", "t", "x"] and pushed(after) == ["t", "x"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_prefix_of_the_pipeline_computes_the_same_gradient(case):
    """Each pass keeps the values: run every prefix of the pipeline in the interpreter, on
    random arguments (ones would not tell W from W.T, nor one trip's residual from
    another's), against autograd."""
    from compiler.interp import evaluate
    from oracles import autograd_grads
    fn, wrt, args = CASES[case]
    rng = np.random.default_rng(5)
    args = tuple(a if isinstance(a, float) else rng.normal(size=np.shape(a)) * 0.7
                 for a in args)
    g = grad(fn, wrt=wrt, jit=False)
    if case == "nonlinear_scan":  # writes into arrays: autograd cannot run it
        from runtime.check import numerical_grad
        want, rtol = [numerical_grad(fn, args, i) for i in g.wrt], 1e-6
    else:
        want, rtol = autograd_grads(fn, args, g.wrt), 1e-10
    normed, _ = g.normalize(args)
    for k in range(len(PIPELINE) + 1):
        graph = adjoint_before(case, k)
        env = evaluate(graph, normed)
        got = [env[r] for r in graph.results[1:]]
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-9, err_msg=f"after {PASSES[:k]}")


def test_stores_write_owned_arrays_in_place_and_keep_what_is_read_later():
    k = PASSES.index("stores")
    before = adjoint_before("nonlinear_scan", k)
    after = run_pipeline(before, [PIPELINE[k]], verify_each=True)
    # the forward loop's y[i] = ... and the backward loop's g_y[i] = 0 become stores
    assert prims(before).count("set_index") == 2 and prims(after).count("store") == 2
    # the four-layer loss writes nothing; two_layer's arrays are read after: no store
    assert "store" not in prims(run_pipeline(adjoint_before("two_layer", k), [PIPELINE[k]]))


@pytest.mark.parametrize("jit", [False, True])
def test_transposed_products_give_c_ordered_gradients(jit):
    """passes/products.py: `(A.T @ B).T` in the adjoint sweep is computed as `B.T @ A`,
    at the top level and inside a backward loop: the gradient is C-ordered and equals
    autograd's; the user's own transposed product is left as written."""
    from oracles import autograd_grads
    rng = np.random.default_rng(4)
    args = (rng.normal(size=(5, 3)), rng.normal(size=(3, 3)), rng.normal(size=3),
            rng.normal(size=(5, 3)))
    gW, gb = grad(layers_in_loop, wrt=("W", "b"), jit=jit)(*args)
    want = autograd_grads(layers_in_loop, args, (1, 2))
    assert gW.flags.c_contiguous
    np.testing.assert_allclose(gW, want[0], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(gb, want[1], rtol=1e-12, atol=1e-14)
    for fn, wrt in ((layers_in_loop, ("W", "b")), (one_layer, ("W",))):
        g = grad(fn, wrt=wrt, jit=False)
        g(*args)
        ops = list(walk(g.ir.ops))
        products = {op.out for op in ops if op.prim == "matmul"}
        assert not [op for op in ops if op.prim == "transpose" and op.inputs[0] in products
                    and op.phase == "adjoint"], g.source
    gW = grad(one_layer, wrt="W", jit=jit)(*args)
    assert gW.flags.c_contiguous  # (H.T @ X).T would be an F-ordered view
    np.testing.assert_allclose(gW, autograd_grads(one_layer, args, (1,))[0], rtol=1e-12)


def one_layer(X, W, b, Y):
    return np.sum((np.tanh(X @ W.T + b) - Y) ** 2)
