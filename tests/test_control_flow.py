"""Control flow in reverse mode (issue 3): the corpus against autograd and central
differences, compiled and as plain NumPy; compile cost independent of trip counts."""
import numpy as np
import pytest

from compiler import grad
from corpus.control_flow import CASES
from oracles import assert_grads_match, assert_owned
from runtime.check import numerical_grad


def test_corpus_is_large_enough():
    assert len(CASES) >= 60


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("fn,points,wrt,use_autograd", CASES, ids=[c[0].__name__ for c in CASES])
def test_corpus(fn, points, wrt, use_autograd, jit):
    for args in points:
        if use_autograd:
            assert_grads_match(fn, args, wrt, jit=jit, fd_tol=1e-6)
        else:
            ours = assert_owned(grad(fn, wrt=tuple(wrt), jit=jit), args)
            for i, g in zip(wrt, ours):
                fd = numerical_grad(fn, args, i)
                err = np.max(np.abs(np.asarray(g) - fd)) / max(1.0, float(np.max(np.abs(fd))))
                assert err < 1e-6, (i, g, fd)


def count_to(x, n):
    for i in range(n):
        x = np.tanh(x) * 1.01
    return x


def test_generated_source_does_not_depend_on_trip_count():
    g = grad(count_to)
    a, b = g(0.5, 10), g(0.5, 10_000)
    assert len(g._specs) == 1  # one specialisation, one compile, for both trip counts
    assert "for i in range(n):" in g.source
    code = [ln for ln in g.source.splitlines() if not ln.strip().startswith("#")]
    # one tanh, in the forward loop: not unrolled, and the backward loop reads the stored
    # residual instead of recomputing it
    assert sum(ln.count("np.tanh(") for ln in code) == 1
    assert sum(ln.count("range(") for ln in code) == 2
    assert a != b
    assert b == pytest.approx(numerical_grad(count_to, (0.5, 10_000), 0), rel=1e-6)
