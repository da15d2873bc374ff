"""Each Graph -> Graph pass on its own, with golden IR: the graph after the passes
before it, and after it, for the loop cases where code generation is hardest (stacks,
residuals, in-place accumulation, dead carried values). `pytest --regen-golden`
rewrites tests/golden/passes/*.ir after review."""
from pathlib import Path

import numpy as np
import pytest

from compiler import grad
from compiler.diff import reverse
from compiler.frontend import lower
from compiler.ir.walk import walk
from compiler.passes import PIPELINE, run_pipeline
from models import newton_sqrt, rnn, row_loop, two_layer

GOLDEN = Path(__file__).parent / "golden" / "passes"
CASES = {
    "rnn": (rnn, ("W", "U", "h"), (np.ones((3, 3)), np.ones((3, 2)), np.ones(3), np.ones((4, 2)))),
    "row_loop": (row_loop, ("w", "X"), (np.ones(3), np.ones((4, 3)))),
    "newton_sqrt": (newton_sqrt, ("a",), (2.0, 1e-12)),
    "two_layer": (two_layer, ("V", "w"), (np.ones(3), 1.0, np.ones((4, 3)), np.ones(4))),
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
    want = autograd_grads(fn, args, g.wrt)
    normed, _ = g.normalize(args)
    for k in range(len(PIPELINE) + 1):
        graph = adjoint_before(case, k)
        env = evaluate(graph, normed)
        got = [env[r] for r in graph.results[1:]]
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-10, err_msg=f"after {PASSES[:k]}")
