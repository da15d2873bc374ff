"""Shared test set-up: a private, empty cache directory for the whole session (tests
never depend on a previous run) and IR verification after every pass."""
import os
import tempfile

import pytest
from hypothesis import settings

# `make test` draws the same random programs on every run and machine (CI must not fail on
# a draw nobody can see again); ADJOINT_HYPOTHESIS=explore draws fresh ones each run.
settings.register_profile("reproducible", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile(os.environ.get("ADJOINT_HYPOTHESIS", "reproducible"))


def pytest_configure(config):
    os.environ["ADJOINT_CACHE_DIR"] = tempfile.mkdtemp(prefix="adjoint-test-cache-")
    os.environ["ADJOINT_VERIFY"] = "1"


def pytest_addoption(parser):
    parser.addoption("--regen-golden", action="store_true",
                     help="rewrite tests/golden/* from the current compiler output")


@pytest.fixture
def regen(request):
    return request.config.getoption("--regen-golden")


@pytest.fixture
def check_golden(regen):
    """check_golden(path, text): text must equal the golden file at path; with
    `--regen-golden` the file is rewritten first (review the diff). A missing golden
    file fails: it is never created silently."""
    def check(path, text):
        if regen:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.exists(), f"{path.name} is missing: run pytest --regen-golden and review it"
        assert text == path.read_text(), f"{path.name} changed: review, then --regen-golden"
    return check
