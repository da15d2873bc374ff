"""google/tangent's corpus of small test functions (its tests/functions.py), run through
adjoint's reverse mode against autograd (central differences where autograd cannot run
a function), as Tangent's own tests run them (tests/tangent_corpus.py). The corpus is
Tangent's file, read from `ADJOINT_TANGENT_FUNCTIONS` (or tests/corpus/
tangent_functions.py): without it the test is skipped. Target (issue 14): at least 95 %
of the reverse-mode functions pass."""
import pytest

import tangent_corpus as tc


@pytest.fixture(scope="module")
def outcomes():
    path = tc.corpus_path()
    if path is None:
        pytest.skip("google/tangent's tests/functions.py not given (ADJOINT_TANGENT_FUNCTIONS)")
    return tc.run(path, jit=False)


def test_tangent_corpus_pass_rate(outcomes):
    counted = [o for o in outcomes if o.status != "excluded"]
    passed = sum(o.status == "pass" for o in counted)
    print("\n" + tc.summary(outcomes))
    assert len(counted) >= 90, "the corpus lost functions: is it Tangent's file?"
    assert passed / len(counted) >= 0.95, tc.summary(outcomes)


def test_excluded_functions_are_the_ones_named(outcomes):
    """Only the functions that are not reverse-mode tests of a scalar loss (Tangent's
    runtime, tuple results for vjp, invalid input) are left out, each with its reason."""
    excluded = {o.name for o in outcomes if o.status == "excluded"}
    assert excluded <= set(tc.EXCLUDED)
