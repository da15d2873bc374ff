"""Graph -> Graph passes, run in the order of `PIPELINE`.

Each pass lives in its own module and states in its docstring what holds before and
after it. `run_pipeline` verifies the graph after each pass when `verify_each` is set
(the tests set it) and dumps the IR after each pass when ADJOINT_DEBUG=ir.
"""
import os
import sys

from ..ir.verify import verify
from .cse import cse
from .dce import dce
from .fold import fold
from .inplace import accumulate_in_place
from .products import transposed_products
from .residuals import store_residuals
from .results import copy_aliased_results
from .stores import store_in_place

# in_place first: before CSE could merge two arrays it would update (e.g. two zero
# accumulators), after which CSE and folding keep apart what is updated in place
PIPELINE = [("residuals", store_residuals), ("in_place", accumulate_in_place), ("fold", fold),
            ("cse", cse), ("dce", dce), ("products", transposed_products), ("fold", fold),
            ("dce", dce),
            ("results", copy_aliased_results)]
# the graph that is generated: writes in place once nothing is differentiated or
# recomputed from it any more (reverse mode reads the primal's writes as functional)
ADJOINT_PIPELINE = PIPELINE[:-1] + [("stores", store_in_place), PIPELINE[-1]]


def run_pipeline(graph, passes=PIPELINE, verify_each=False):
    debug = "ir" in os.environ.get("ADJOINT_DEBUG", "").split(",")
    for name, p in passes:
        graph = p(graph)
        if verify_each:
            try:
                verify(graph)
            except AssertionError as e:
                raise AssertionError(f"after pass {name!r}: {e}") from None
        if debug:
            print(f"--- ADJOINT_DEBUG=ir after {name}: {graph.name}\n{graph}", file=sys.stderr)
    return graph
