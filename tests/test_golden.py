"""Golden files: the IR text and generated source of the lecture's models. A change to
either shows up here for review; regenerate with `pytest --regen-golden`."""
from pathlib import Path

import numpy as np
import pytest

from compiler import grad
from models import composition, four_layer, hinge, squared, two_layer

GOLDEN = Path(__file__).parent / "golden"
rng = np.random.default_rng(0)
CASES = {
    "squared": (grad(squared, wrt="w"), (np.ones(2), np.ones(2), 1.0)),
    "composition": (grad(composition), (2.0,)),
    "hinge": (grad(hinge, wrt="w"), (np.ones(3), np.ones(3), 1.0)),
    "two_layer": (grad(two_layer, wrt=("V", "w")), (np.ones(3), 1.0, np.ones((4, 3)), np.ones(4))),
    "four_layer": (grad(four_layer, wrt=("V1", "V2", "V3", "w")),
                   (np.ones(3), 1.0, np.ones((4, 3)), np.ones((4, 4)), np.ones((4, 4)), np.ones(4))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden(name, regen):
    g, args = CASES[name]
    spec = g.specialize(*args)
    for suffix, text in ((".ir", str(spec.graph) + "\n"), (".src", spec.source)):
        path = GOLDEN / (name + suffix)
        if regen:
            path.write_text(text)
        assert path.exists(), f"{path.name} is missing: run pytest --regen-golden and review it"
        assert text == path.read_text(), f"{path.name} changed: review, then --regen-golden"
