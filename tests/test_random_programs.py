"""Property-based tests: hypothesis generates small random programs (straight-line
code, branches, loops over small ranges, NumPy ops from the supported set) and our
gradient must equal autograd's on the same source."""
import importlib.util
import itertools
import sys

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler import grad
from oracles import autograd_grads

VARS = ("a", "b", "c")
_counter = itertools.count()


@st.composite
def expressions(draw, depth=0):
    leaf = st.one_of(st.sampled_from(VARS + ("x", "y")),
                     st.floats(-1.5, 1.5, allow_nan=False).map(lambda f: f"{f:.3f}"))
    if depth >= 2 or draw(st.booleans()):
        return draw(leaf)
    kind = draw(st.sampled_from(["bin", "bin", "un", "max", "vec"]))
    a = draw(expressions(depth + 1))
    if kind == "un":
        f = draw(st.sampled_from(["np.tanh", "sigmoid", "-"]))
        return f"{f}({a})"
    b = draw(expressions(depth + 1))
    if kind == "max":
        return f"np.{draw(st.sampled_from(['maximum', 'minimum']))}({a}, {b})"
    if kind == "vec":  # a reduction of vector work keeps the program scalar
        return f"np.sum(np.tanh(v * {a}) * {b})"
    return f"({a} {draw(st.sampled_from(['+', '-', '*']))} {b})"


@st.composite
def statements(draw, depth=0, indent="    "):
    kind = draw(st.sampled_from(["assign", "assign", "assign", "if", "for"] if depth < 2
                                else ["assign"]))
    if kind == "assign":
        return [f"{indent}{draw(st.sampled_from(VARS))} = {draw(expressions())}"]
    if kind == "if":
        cond = f"{draw(expressions())} > {draw(expressions())}"
        body = draw(blocks(depth + 1, indent + "    "))
        orelse = draw(blocks(depth + 1, indent + "    "))
        return [f"{indent}if {cond}:"] + body + [f"{indent}else:"] + orelse
    n = draw(st.integers(0, 3))
    return [f"{indent}for i{depth} in range({n}):"] + draw(blocks(depth + 1, indent + "    "))


@st.composite
def blocks(draw, depth=0, indent="    "):
    out = []
    for _ in range(draw(st.integers(1, 3))):
        out += draw(statements(depth, indent))
    return out


@st.composite
def programs(draw):
    lines = ["import numpy as np", "from runtime.functions import sigmoid", "",
             "def f(x, y, v):", "    a = x", "    b = y", "    c = x * y"]
    lines += draw(blocks())
    lines.append("    return np.tanh(a) + b * 0.5 + c * c * 0.1")
    return "\n".join(lines) + "\n"


def load(source, tmp_path):
    name = f"random_program_{next(_counter)}"
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod.f


def check(source, tmp_path, jit, point):
    f = load(source, tmp_path)
    x, y = point
    args = (x, y, np.array([0.3, -0.7, 1.1]))
    gf = grad(f, wrt=(0, 1, 2), jit=jit)
    ours = gf(*args)
    assert gf.compile_info["jit"] is jit  # no silent fallback from Numba to NumPy
    for g, want in zip(ours, autograd_grads(f, args, (0, 1, 2))):
        np.testing.assert_allclose(g, want, rtol=1e-9, atol=1e-9, err_msg=source)


points = st.tuples(st.floats(-2, 2, allow_nan=False), st.floats(-2, 2, allow_nan=False))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(programs(), points)
def test_random_programs_match_autograd(tmp_path, source, point):
    check(source, tmp_path, jit=False, point=point)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(programs(), points)
def test_random_programs_compiled(tmp_path, source, point):
    check(source, tmp_path, jit=True, point=point)
