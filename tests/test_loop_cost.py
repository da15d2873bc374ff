"""Loops that write arrays (issue 13 §2): exact values and gradients, writes in place
(O(1) per element, compiler/passes/stores.py), tapes of the values read rather than of
whole arrays (compiler/passes/residuals.py), cotangents accumulated in one array across
nested loops, and a bound on tape memory (runtime/stacks.py, ADJOINT_MAX_TAPE_BYTES)."""
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import loop_cost_code as lc
from compiler import grad, value_and_grad
from runtime.check import numerical_grad

ROOT = Path(__file__).resolve().parent.parent
rng = np.random.default_rng(13)
CASES = {
    "prefix_scan": (lc.prefix_scan, (rng.normal(size=9),), (0,)),
    "nonlinear_scan": (lc.nonlinear_scan, (rng.normal(size=8),), (0,)),
    "matvec_loops": (lc.matvec_loops, (rng.normal(size=(4, 3)), rng.normal(size=3)), (0, 1)),
    "heat": (lc.heat, (rng.normal(size=7), 4), (0,)),
    "rows_written": (lc.rows_written, (rng.normal(size=(3, 4)),), (0,)),
    "write_then_read_old": (lc.write_then_read_old, (rng.normal(size=3),), (0,)),
    "rows_filled": (lc.rows_filled, (rng.normal(size=(4, 3)),), (0,)),
    "rnn_rows": (lc.rnn_rows, (rng.normal(size=(3, 3)) * 0.5, rng.normal(size=(5, 3))), (0, 1)),
    "scan_of_a_copy_by_multiply": (lc.scan_of_a_copy_by_multiply, (rng.normal(size=6),), (0,)),
    "scan_into_argument": (lc.scan_into_argument, (rng.normal(size=6),), (0,)),
    "reads_rows_then_transposes": (lc.reads_rows_then_transposes, (rng.normal(size=(5, 2)),),
                                   (0,)),
    "scan_in_a_branch": (lc.scan_in_a_branch, (rng.normal(size=7),), (0,)),
    "scan_with_break": (lc.scan_with_break, (rng.normal(size=7),), (0,)),
    "nested_scan": (lc.nested_scan, (rng.normal(size=(4, 3)),), (0,)),
    "copy_by_multiply": (lc.copy_by_multiply, (rng.normal(size=3),), (0,)),
    "chained_copy": (lc.chained_copy, (rng.normal(size=3),), (0,)),
    "branch_writes_then": (lc.branch_writes, (rng.normal(size=4), 0.7), (0, 1)),
    "branch_writes_else": (lc.branch_writes, (rng.normal(size=4), -0.7), (0, 1)),
}


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name", list(CASES))
def test_values_and_gradients_are_numpys(name, jit):
    fn, args, wrt = CASES[name]
    before = [np.copy(a) for a in args]
    vg = value_and_grad(fn, wrt=wrt, jit=jit)
    value, grads = vg(*args)
    expected = fn(*[np.copy(a) for a in args])
    if jit:  # Numba's sin and sum may differ from NumPy's in the last bit
        np.testing.assert_allclose(value, expected, rtol=1e-13)
    else:  # the same NumPy operations: bit for bit
        assert value == expected
    for i, g in zip(wrt, grads):
        fd = numerical_grad(fn, args, i)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-7, err_msg=f"{name} arg {i}")
    for a, b in zip(args, before):
        np.testing.assert_array_equal(a, b)  # the caller's arrays are not written
    again = vg(*args)  # no state is left behind by writes in place
    assert again[0] == value
    for g, h in zip(grads, again[1]):
        np.testing.assert_array_equal(g, h)


def _loop_bodies(src: str) -> str:
    """The lines of `src` indented under a `for`/`while` (the loops' bodies)."""
    out, depth_stack = [], []
    for line in src.splitlines():
        ind = len(line) - len(line.lstrip())
        while depth_stack and ind <= depth_stack[-1]:
            depth_stack.pop()
        if depth_stack:
            out.append(line)
        if re.match(r"\s*(for|while) ", line):
            depth_stack.append(ind)
    return "\n".join(out)


@pytest.mark.parametrize("name", ["prefix_scan", "nonlinear_scan", "matvec_loops", "heat",
                                  "rows_written", "rows_filled", "rnn_rows",
                                  "scan_of_a_copy_by_multiply", "scan_into_argument",
                                  "reads_rows_then_transposes", "scan_in_a_branch",
                                  "scan_with_break", "nested_scan"])
def test_loops_write_in_place_and_allocate_nothing_per_element(name):
    fn, args, wrt = CASES[name]
    vg = value_and_grad(fn, wrt=wrt, jit=False)
    vg(*args)
    bodies = _loop_bodies(vg.source)
    assert "set_index(" not in bodies, vg.source  # each write is a statement x[i] = v
    assert "zeros" not in bodies or name == "heat", vg.source
    if name == "heat":  # one new array per time step (as the loop's own u.copy()), not per point
        inner = _loop_bodies(_loop_bodies(vg.source))
        assert "zeros" not in inner and "copy()" not in inner, vg.source


def test_scans_keep_the_values_read_not_the_array():
    vg = value_and_grad(lc.nonlinear_scan, jit=False)
    vg(np.ones(5))
    pushed = re.findall(r"push\((\w+), \w+, (\w+)", vg.source)
    assert pushed and all(v != "y" for _, v in pushed), vg.source  # not the whole y per trip
    assert "stack_y" not in vg.source, vg.source


def test_a_write_whose_old_value_is_read_later_copies():
    vg = value_and_grad(lc.write_then_read_old, jit=False)
    x = np.array([0.5, -1.0, 2.0])
    value, g = vg(x)
    assert "set_index(" in vg.source, vg.source  # y's old value is read after the write
    assert value == lc.write_then_read_old(x.copy())


def _run(code: str, env_extra: dict) -> subprocess.CompletedProcess:
    env = dict(os.environ, **env_extra, PYTHONPATH=f"{ROOT}{os.pathsep}{ROOT / 'tests'}")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=600, cwd=ROOT)


def test_tape_memory_is_linear_in_the_trip_count():
    # 200 kB per stack: n = 3000 needs 24 kB a stack if the tape keeps a number a trip, and
    # 72 MB if it kept the whole array y every trip (the bound would stop it)
    r = _run("""
        import numpy as np
        import loop_cost_code as lc
        from compiler import value_and_grad
        from runtime.check import numerical_grad
        x = np.random.default_rng(0).normal(size=3000) * 0.5
        for jit in (False, True):
            vb = value_and_grad(lc.scan_with_break, jit=jit)(x)[0]
            assert abs(vb - lc.scan_with_break(x.copy())) <= 1e-12 * abs(vb)
            v, g = value_and_grad(lc.nonlinear_scan, jit=jit)(x)
            assert abs(v - lc.nonlinear_scan(x.copy())) <= 1e-13 * abs(v)
            print("ok", jit, g[:2])
    """, {"ADJOINT_MAX_TAPE_BYTES": "200000"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("ok") == 2


@pytest.mark.parametrize("jit", [False, True])
def test_a_runaway_loop_stops_at_the_tape_bound_at_its_line(jit):
    r = _run(f"""
        import numpy as np
        import loop_cost_code as lc
        from compiler import grad
        from compiler.errors import RunError
        try:
            grad(lc.runaway, jit={jit})(np.array([1.0]))
        except RunError as e:
            print("RunError:", e)
    """, {"ADJOINT_MAX_TAPE_BYTES": "1000000"})
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "RunError:" in out and "MemoryError" in out, out
    assert "ADJOINT_MAX_TAPE_BYTES" in out and "1000000" in out, out
    line = next(i for i, ln in enumerate(Path(lc.__file__).read_text().splitlines(), 1)
                if "while s > 0.0" in ln)
    assert f"loop_cost_code.py:{line}" in out and "while s > 0.0" in out, out


def test_the_tape_bound_must_be_a_number():
    r = _run("import runtime.stacks", {"ADJOINT_MAX_TAPE_BYTES": "lots"})
    assert r.returncode != 0 and "ADJOINT_MAX_TAPE_BYTES='lots' is not a number" in r.stderr


def test_grad_of_a_scan_matches_a_hand_written_adjoint():
    # the adjoint of y[i] = 0.9 y[i-1] + x[i], L = sum y^2, written out by hand
    x = rng.normal(size=50)
    y = np.zeros(50)
    y[0] = x[0]
    for i in range(1, 50):
        y[i] = 0.9 * y[i - 1] + x[i]
    gy, gx = 2 * y, np.zeros(50)
    for i in range(49, 0, -1):
        gx[i] += gy[i]
        gy[i - 1] += 0.9 * gy[i]
    gx[0] += gy[0]
    np.testing.assert_allclose(grad(lc.prefix_scan, jit=False)(x), gx, rtol=1e-12)



@pytest.mark.parametrize("jit", [False, True])
def test_a_carried_array_that_changes_shape_is_refused_at_its_loop(jit):
    from compiler.errors import RunError
    with pytest.raises(RunError) as e:
        grad(lc.shrinking, jit=jit)(np.ones(5))
    msg = str(e.value)
    assert "changes shape from one iteration to the next" in msg, msg
    lines = Path(lc.__file__).read_text().splitlines()
    start = lines.index("def shrinking(x):")
    line = next(i for i in range(start, len(lines)) if "for i in range(2):" in lines[i]) + 1
    assert f"loop_cost_code.py:{line}" in msg, msg
