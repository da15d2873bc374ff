"""Golden files: the IR text and generated source of the lecture's models. A change to
either shows up here for review; regenerate with `pytest --regen-golden`."""
from pathlib import Path

import numpy as np
import pytest

from compiler import grad
from models import composition, four_layer, hinge, newton_sqrt, rnn, row_loop, squared, two_layer

GOLDEN = Path(__file__).parent / "golden"
rng = np.random.default_rng(0)
CASES = {
    "squared": (grad(squared, wrt="w"), (np.ones(2), np.ones(2), 1.0)),
    "composition": (grad(composition), (2.0,)),
    "hinge": (grad(hinge, wrt="w"), (np.ones(3), np.ones(3), 1.0)),
    "two_layer": (grad(two_layer, wrt=("V", "w")), (np.ones(3), 1.0, np.ones((4, 3)), np.ones(4))),
    "four_layer": (grad(four_layer, wrt=("V1", "V2", "V3", "w")),
                   (np.ones(3), 1.0, np.ones((4, 3)), np.ones((4, 4)), np.ones((4, 4)), np.ones(4))),
    # where code generation is hardest: stacks of carried values and residuals, a
    # backward loop accumulating in place (outer_add, row_add), a while with break
    "rnn": (grad(rnn, wrt=("W", "U", "h")), (np.ones((3, 3)), np.ones((3, 2)), np.ones(3),
                                              np.ones((4, 2)))),
    "row_loop": (grad(row_loop, wrt=("w", "X")), (np.ones(3), np.ones((4, 3)))),
    "newton_sqrt": (grad(newton_sqrt), (2.0, 1e-12)),
}


@pytest.mark.parametrize("name", ["rnn", "row_loop", "newton_sqrt"])
def test_golden_loop_cases_are_right(name):
    """The loop goldens pin code that computes the right gradient."""
    from oracles import autograd_grads
    g, args = CASES[name]
    rng = np.random.default_rng(3)
    args = tuple(a if isinstance(a, float) else rng.normal(size=np.shape(a)) * 0.5
                 for a in args)
    ours = g(*args)
    ours = ours if isinstance(ours, tuple) else (ours,)
    for got, want in zip(ours, autograd_grads(g.fn, args, g.wrt)):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name, check_golden):
    g, args = CASES[name]
    spec = g.specialize(*args)
    for suffix, text in ((".ir", str(spec.graph) + "\n"), (".src", spec.source)):
        check_golden(GOLDEN / (name + suffix), text)
