"""The IR's types are NumPy's: every value of the primal and adjoint graphs, run by the
interpreter (compiler/interp.py checks each op's result against its IR type under
ADJOINT_VERIFY, which the tests set), has the rank and dtype kind the IR gives it, and
the interpreter's gradients equal the generated code's. A value whose IR dtype differs
from NumPy's (a bool mask typed as an int index array) makes reverse mode differentiate
another program than the one NumPy runs."""
import numpy as np
import pytest

import loop_cost_code as lc
import test_numpy_more as more
import test_primitives as prims
import view_code as vc
from compiler import grad
from compiler.interp import evaluate
from corpus.control_flow import CASES

rng = np.random.default_rng(11)


def _bool_literals(v):
    y = np.ones(4) * v[1]
    m = np.array([False, True, True, False])
    y[m] += v[0] ** 2
    Y = np.ones((2, 2)) * v[1]
    M = np.array([[True, False], [True, True]])
    Y[M] = Y[M] * v[0]
    z = np.ones(4) * v[0]
    z[[True, False, False, True]] = v[1]
    return np.sum(y * y) + np.sum(Y * Y) + np.sum(np.where(M, Y, 0.0)) + np.sum(z * z)


FUNCTIONS = [(fn.__name__, fn, make(), wrt) for fn, make, wrt in
             list(prims.BATCHES.values()) + list(more.JIT_BATCHES.values())]
FUNCTIONS += [(c[0].__name__, c[0], c[1][0], tuple(c[2])) for c in CASES]
FUNCTIONS += [("bool_literals", _bool_literals, (np.array([0.7, 1.3]),), (0,)),
              ("nonlinear_scan", lc.nonlinear_scan, (rng.normal(size=6),), (0,)),
              ("matvec_loops", lc.matvec_loops, (rng.normal(size=(3, 2)), rng.normal(size=2)),
               (0, 1)),
              ("heat", lc.heat, (rng.normal(size=6), 3), (0,)),
              ("add_at", vc.add_at, (rng.normal(size=5), rng.normal(size=5)), (0, 1))]


@pytest.mark.parametrize("name,fn,args,wrt", FUNCTIONS, ids=[f[0] for f in FUNCTIONS])
def test_every_value_has_its_ir_type_and_the_interpreter_agrees(name, fn, args, wrt):
    g = grad(fn, wrt=wrt, jit=False)
    got = g(*args)
    got = (got,) if len(wrt) == 1 and not isinstance(got, tuple) else got
    normed, _ = g.normalize(args)
    spec = g._last
    env = evaluate(spec.graph, normed)  # raises AssertionError on a type NumPy disagrees with
    for r, ours in zip(spec.graph.results[1:], got):
        np.testing.assert_allclose(env[r], ours, rtol=1e-12, atol=1e-12)
