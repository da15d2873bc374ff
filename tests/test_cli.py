"""`python -m compiler` run in a subprocess on tests/cli_example.py: each subcommand's
output, and errors in the user's file reported at its line without a traceback."""
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
EX = "tests/cli_example.py"


def run(*args, env=None):
    e = dict(os.environ, **(env or {}))
    return subprocess.run([sys.executable, "-m", "compiler", *args], cwd=ROOT, env=e,
                          capture_output=True, text=True, timeout=300)


def _no_traceback(r):
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr


@pytest.mark.parametrize("command,words", [
    (None, ["show", "graph", "check", "compile", "ADJOINT_DEBUG"]),
    ("show", ["FILE.py:FUNC", "--wrt", "--ir", "--sig"]),
    ("graph", ["--args", "--example", "--output", "--adjoint", ".png"]),
    ("check", ["--tol", "--eps", "central"]),
    ("compile", ["--sig", "cache"]),
])
def test_help_for_each_subcommand(command, words):
    r = run(*([command] if command else []), "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("usage: python -m compiler")
    for w in words:
        assert w in r.stdout, w


def test_show_prints_the_generated_adjoint_and_the_ir():
    r = run("show", f"{EX}:squared_loss", "--wrt", "w", "--ir")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "{ lambda w:f64[?] phi:f64[?] y:f64 ." in out  # types from EXAMPLES
    assert "g_residual:f64 = mul" in out and "[adj]" in out
    src = out[out.index("def squared_loss_value_and_grad(w, phi, y):"):]
    assert "    g_residual = 2.0 * residual\n" in src
    assert "    g_w = g_residual * phi\n" in src and "    return loss, g_w\n" in src
    ns = {}
    exec(compile("import numpy as np\n" + src, "<show>", "exec"), ns)
    loss, g = ns["squared_loss_value_and_grad"](np.array([3.0, 1.0]), np.array([1.0, 2.0]), 2.0)
    assert loss == 9.0 and list(g) == [6.0, 12.0]  # the printed code computes the lecture's numbers


def test_show_with_types_from_sig():
    r = run("show", f"{EX}:two_layer", "--wrt", "V,w", "--sig", "f64[:] f64 f64[:,:] f64[:]")
    assert r.returncode == 0, r.stderr
    assert "def two_layer_value_and_grad(phi, y, V, w):" in r.stdout
    assert "g_V = np.outer(" in r.stdout and "return loss, g_V, g_w" in r.stdout


def test_graph_writes_the_annotated_dot(tmp_path):
    out = tmp_path / "sq.dot"
    r = run("graph", f"{EX}:squared_loss", "--example", "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert f"wrote {out} (6 nodes)" in r.stdout
    assert re.search(r"residual\s+t1 - y\s+f64\s+3\s+6", r.stdout)  # the node table
    dot = out.read_text()
    line = next(ln for ln in dot.splitlines() if ln.strip().startswith('"residual" ['))
    assert "f = 3" in line and "g = 6" in line
    assert "g = [6, 12]" in dot and 'label="cli_example.py:8: residual = w @ phi - y"' in dot


def test_graph_from_an_npz_file_to_stdout(tmp_path):
    args = tmp_path / "args.npz"
    np.savez(args, w=[3.0, 1.0], phi=[1.0, 2.0], y=2.0)
    r = run("graph", f"{EX}:squared_loss", "--args", str(args), "-o", "-")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith('digraph "squared_loss" {') and "g = [6, 12]" in r.stdout


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="Graphviz's `dot` is not installed (apt-get install graphviz)")
def test_graph_writes_svg_of_the_adjoint(tmp_path):
    out = tmp_path / "two.svg"
    r = run("graph", f"{EX}:two_layer", "--example", "--wrt", "V,w", "--adjoint", "-q",
            "-o", str(out))
    assert r.returncode == 0, r.stderr
    root = ET.parse(out).getroot()
    nodes = [g for g in root.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
    assert len(nodes) == int(re.search(r"\((\d+) nodes\)", r.stdout).group(1)) == 16


def test_check_prints_max_relative_error_per_argument():
    r = run("check", f"{EX}:two_layer", "--example", "--wrt", "V,w", "--no-jit")
    assert r.returncode == 0, r.stderr
    assert "two_layer: loss = 1.66303" in r.stdout
    errs = dict(re.findall(r"^\s+(\w+)\s+([0-9.e+-]+)\s+ok$", r.stdout, re.M))
    assert set(errs) == {"V", "w"} and all(float(e) < 1e-8 for e in errs.values())


def test_check_fails_where_the_kink_policy_differs_from_finite_differences():
    # relu'(0) = 0 by policy; central differences give 1/2 at x = 0: error 0.5 > tol
    r = run("check", f"{EX}:relu_kink", "--example", "--no-jit")
    assert r.returncode == 1
    assert re.search(r"x\s+5\.000e-01\s+FAILED", r.stdout), r.stdout
    # the worst entry: x[0] = 0, ours 0, central differences 1/2 (scale max |g| = 1)
    assert re.search(r"worst entry x\[0\]: ours 0, finite differences 0\.5 \(their "
                     r"resolution [0-9.]+e-\d+\)", r.stdout), r.stdout


def test_compile_puts_the_gradient_in_the_cache():
    cmd = ("compile", f"{EX}:squared_loss", "--sig", "f64[:] f64[:] f64")
    r = run(*cmd)
    assert r.returncode == 0, r.stderr
    m = re.search(r"compiled squared_loss_value_and_grad\(w: f64\[\?\], phi: f64\[\?\], "
                  r"y: f64\) in ([0-9.]+) s \(new compile, now cached\)", r.stdout)
    assert m, r.stdout
    path = Path(re.search(r"^source: (.+)$", r.stdout, re.M).group(1))
    assert path.exists() and path.parent == Path(os.environ["ADJOINT_CACHE_DIR"])
    assert any(path.parent.glob(f"__pycache__/{path.stem}*.nbi"))  # Numba's cache index
    again = run(*cmd)
    assert "(loaded from Numba cache)" in again.stdout, again.stdout


def test_unsupported_construct_exits_1_with_file_line_and_caret():
    r = run("show", "tests/bad_code.py:uses_listcomp")
    assert r.returncode == 1
    _no_traceback(r)
    assert "bad_code.py:12:" in r.stderr and "ListComp" in r.stderr
    assert "f = [t * 2 for t in x]" in r.stderr and "^" in r.stderr


def test_syntax_error_exits_1_with_file_line_and_caret(tmp_path):
    bad = tmp_path / "broken.py"
    bad.write_text("import numpy as np\n\ndef f(x):\n    return x ** 2 +\n")
    r = run("show", f"{bad}:f")
    assert r.returncode == 1
    _no_traceback(r)
    assert f"{bad}:4:" in r.stderr and "SyntaxError" in r.stderr and "^" in r.stderr


def test_numpy_error_on_bad_arguments_names_the_user_line(tmp_path):
    args = tmp_path / "bad.json"
    args.write_text('{"w": [3, 1, 4], "phi": [1, 2], "y": 2}')
    r = run("graph", f"{EX}:squared_loss", "--args", str(args), "-o", str(tmp_path / "x.dot"))
    assert r.returncode == 1
    _no_traceback(r)
    assert "cli_example.py:8:" in r.stderr and "(3,), (2,)" in r.stderr


def test_input_mistakes_are_explained():
    r = run("show", f"{EX}:nope")
    assert r.returncode == 1 and "no function 'nope'" in r.stderr
    assert "squared_loss, two_layer" in r.stderr or "relu_kink, squared_loss" in r.stderr
    r = run("graph", f"{EX}:squared_loss")
    assert r.returncode == 2 and "one of the arguments --args --example is required" in r.stderr
    r = run("show", f"{EX}:squared_loss", "--wrt", "z")
    assert r.returncode == 1 and "no argument 'z'" in r.stderr
    r = run("show", "tests/models.py:two_layer")  # no types: scalars assumed, then a hint
    assert r.returncode == 1 and "models.py:25:" in r.stderr and "--sig" in r.stderr
    _no_traceback(r)


def test_missing_argument_in_npz(tmp_path):
    args = tmp_path / "args.npz"
    np.savez(args, w=[3.0, 1.0], phi=[1.0, 2.0])
    r = run("check", f"{EX}:squared_loss", "--args", str(args))
    assert r.returncode == 1 and "missing y" in r.stderr


def test_adjoint_debug_prints_ir_after_each_pass_and_the_source():
    r = run("show", f"{EX}:squared_loss", env={"ADJOINT_DEBUG": "ir,src"})
    assert r.returncode == 0, r.stderr
    for name in ("fold", "cse", "dce"):
        assert f"--- ADJOINT_DEBUG=ir after {name}: squared_loss" in r.stderr
    assert "--- ADJOINT_DEBUG=src squared_loss_value_and_grad" in r.stderr
    assert "from runtime.functions import" in r.stderr  # the whole generated module


def test_png_without_graphviz_says_how_to_install_it(tmp_path):
    r = run("graph", f"{EX}:squared_loss", "--example", "-o", str(tmp_path / "x.png"),
            env={"PATH": str(tmp_path)})  # no `dot` on PATH
    assert r.returncode == 1 and "apt-get install graphviz" in r.stderr
    _no_traceback(r)
