"""The `loops` benchmark (benchmarks/loops.py, issue 13) on tiny sizes: its hand-written
NumPy and Numba gradients equal central differences of the losses, ours (jit=False)
passes the benchmark's own verification, and the tape measurement reads the stacks the
generated code keeps."""
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import harness, loops  # noqa: E402
from benchmarks.calls import call_table  # noqa: E402
from compiler import value_and_grad  # noqa: E402
from runtime.check import numerical_grad  # noqa: E402

SMALL = {"scan": lambda: loops.scan_spec(20), "matvec": lambda: loops.matvec_spec(5),
         "heat": lambda: loops.heat_spec(7, 4)}


@pytest.mark.parametrize("name", list(SMALL))
def test_hand_written_gradients_are_central_differences(name):
    s = SMALL[name]()
    for args in s.argsets:
        value = s.loss(*[np.copy(a) if isinstance(a, np.ndarray) else a for a in args])
        for impl in (s.grad_numpy, s.grad_numba):
            got = impl(*args)
            assert got[0] == pytest.approx(value, rel=1e-13)
            for g, i in zip(got[1:], s.pos):
                np.testing.assert_allclose(g, numerical_grad(s.loss, args, i), rtol=1e-6,
                                           atol=1e-7, err_msg=f"{name} {impl.__name__} {i}")


@pytest.mark.parametrize("name", list(SMALL))
def test_ours_passes_the_benchmark_verification(name):
    table = call_table(SMALL[name]())
    table.impls = [i for i in table.impls if i.label != "ours, compiled"]
    harness.verify(table)
    diffs = {i.label: i.diff for i in table.impls}
    assert all(i.ok for i in table.impls), diffs
    assert diffs["ours, jit=False"] < 1e-12


def test_tape_bytes_are_the_stacks_of_the_generated_code():
    x = np.random.default_rng(0).normal(size=50)
    # nonlinear_scan keeps y[i - 1] and sin(y[i - 1]) per trip: 2 stacks of 49 float64
    vg = value_and_grad(loops.lc.nonlinear_scan, jit=False)
    vg(x)
    assert "stack_" in vg.source
    assert loops.stack_bytes(vg, (x,)) == 2 * 49 * 8
    vg = value_and_grad(loops.lc.prefix_scan, jit=False)  # linear: reads nothing back
    vg(x)
    assert loops.stack_bytes(vg, (x,)) == 0
    rows = [("s", 100, 1584, 10_000), ("s", 400, 6384, 40_000)]
    rs, rp, rn = loops.tape_linear(rows)["s"]
    assert (rs, rp, rn) == (6384 / 1584, 4.0, 4.0)
