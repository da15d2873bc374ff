"""The lecture's four-layer network: every gradient vs autograd and central differences."""
import numpy as np
import pytest

from models import four_layer as loss
from oracles import assert_grads_match


@pytest.mark.parametrize("jit", [True, False])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_four_layer_matches_autograd_and_finite_differences(seed, jit):
    rng = np.random.default_rng(seed)
    d, k = 5, 4
    args = (rng.normal(size=d), rng.normal(), rng.normal(size=(k, d)), rng.normal(size=(k, k)),
            rng.normal(size=(k, k)), rng.normal(size=k))
    assert_grads_match(loss, args, wrt=(0, 1, 2, 3, 4, 5), jit=jit, rtol=1e-7)
