"""The benchmarks' correctness verification on tiny sizes, so benchmarks/ does not rot.

Runs `benchmarks.harness.verify` (every implementation against hand-written NumPy, max
abs difference below 1e-9) for each workload, without timing anything. The compiled
implementations are left out (their compile time; the rest of the suite covers compiled
gradients) except on the small hinge model; autograd, JAX and PyTorch take part when
installed (JAX and PyTorch are not in the test extra: their rows are then absent).
"""
import importlib.util
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import calls, harness, per_example  # noqa: E402

SLOW = ("ours, compiled", "hand-written Numba")


def _verified(table, keep_compiled=False):
    table.impls = [i for i in table.impls if keep_compiled or not i.label.startswith(SLOW)]
    harness.verify(table)
    bad = {i.label: i.error or i.diff for i in table.impls if i.check is not None and not i.ok}
    assert not bad, f"{table.title}: {bad}"
    return [i.label for i in table.impls]


def _optional_rows(labels):
    if importlib.util.find_spec("jax") is not None:
        assert any(lab.startswith(("jax", "JAX")) for lab in labels)
    if importlib.util.find_spec("torch") is not None:
        assert "PyTorch eager" in labels


def test_four_layer_gradient_and_epoch_agree_with_hand_written_numpy():
    from benchmarks import models
    m = models.four_layer(width=3, rows=12)
    labels = _verified(per_example.call_table(m))
    assert {"ours, jit=False", "hand-written NumPy"} <= set(labels)
    _optional_rows(labels)
    labels = _verified(per_example.epoch_table(m))
    assert "ours, jit=False (fit)" in labels
    _optional_rows(labels)


def test_hinge_including_compiled_agrees_with_hand_written_numpy():
    from benchmarks import models
    m = models.hinge(rows=12)
    labels = _verified(per_example.call_table(m), keep_compiled=True)
    assert {"ours, compiled", "ours, jit=False", "hand-written Numba"} <= set(labels)
    _verified(per_example.epoch_table(m))


def test_minibatch_mlp_agrees_with_hand_written_numpy():
    from benchmarks import mlp
    labels = _verified(calls.call_table(mlp.spec(batches=2, batch=8, width=5)))
    _optional_rows(labels)


def test_rnn_agrees_with_hand_written_numpy():
    from benchmarks import rnn
    labels = _verified(calls.call_table(rnn.spec(steps=15)))
    assert "ours, jit=False" in labels
    _optional_rows(labels)


def test_verification_catches_a_wrong_gradient():
    from benchmarks import rnn
    table = calls.call_table(rnn.spec(steps=5))
    table.impls = [i for i in table.impls if i.label in ("hand-written NumPy", "ours, jit=False")]
    wrong = table.impls[1]
    right = wrong.check
    wrong.check = lambda: [a * (1 + 1e-6) for a in right()]
    with pytest.raises(AssertionError, match="ours, jit=False"):
        _verified(table)


def test_markdown_table_and_compile_rows_render():
    from benchmarks import compile_latency
    impl = harness.Impl("hand-written Numba", lambda n: None, None, samples=[1e-6, 2e-6, 3e-6])
    md = harness.markdown(harness.Table("t", "call", [impl], impl.label, impl.label))
    assert "| hand-written Numba | 2 µs | 1 µs | 3 µs | 1.00 |" in md
    rows = [("four_layer", "ours, warm cache", dict(first_s=0.2, numba_s=0.1, import_s=0.5,
                                                    process_s=1.0, steady_s=1e-5)),
            ("four_layer", "jax.jit", {"error": "boom", "process_s": 1.0})]
    md = compile_latency.markdown(rows)
    assert "| four_layer | ours, warm cache | 200 ms | 100 ms |" in md and "failed: boom" in md
