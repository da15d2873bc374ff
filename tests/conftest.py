"""Shared test set-up: a private, empty cache directory for the whole session (tests
never depend on a previous run) and IR verification after every pass."""
import os
import tempfile

import pytest


def pytest_configure(config):
    os.environ["ADJOINT_CACHE_DIR"] = tempfile.mkdtemp(prefix="adjoint-test-cache-")
    os.environ["ADJOINT_VERIFY"] = "1"


def pytest_addoption(parser):
    parser.addoption("--regen-golden", action="store_true",
                     help="rewrite tests/golden/* from the current compiler output")


@pytest.fixture
def regen(request):
    return request.config.getoption("--regen-golden")
