# adjoint: `make demo` runs the main job, `make test` the tests; both set up .venv first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test explore bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.examples: pyproject.toml | $(BIN)/python
	$(PIP) -e ".[examples]"
	touch $@

$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(PIP) -e ".[bench]"
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(PIP) -e ".[test,examples]"
	touch $@

demo: $(VENV)/.examples
	$(BIN)/python examples/four_layer_regression.py
	$(BIN)/python examples/hinge_classifier.py

test: $(VENV)/.test
	$(BIN)/python -m pytest -q

# make explore: the long property runs (-m slow), Hypothesis drawing fresh programs each run
explore: $(VENV)/.test
	ADJOINT_HYPOTHESIS=explore $(BIN)/python -m pytest -q -m slow

# make bench: all workloads (a few minutes) -> benchmarks/results.md and results.png;
# make bench BENCH_ARGS=--quick: about two minutes, -> results/bench-quick.md
BENCH_ARGS ?=
bench: $(VENV)/.bench
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
