"""Issue 12, items 2-4: Numba is imported only when something is compiled, every cache
lives under ADJOINT_CACHE_DIR, and compiled code calls cached kernels for `@` and
np.outer while the source users read keeps `@`."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent


def _run(code, env=None, tmp=None):
    """Run `code` in a fresh interpreter (from a file when `tmp`, so inspect finds the
    source of the functions it defines); returns its stdout."""
    args = ["-c", code]
    if tmp is not None:
        script = tmp / "script.py"
        script.write_text(code)
        args = [str(script)]
    env = (env or dict(os.environ)) | {"PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_import_compiler_and_runtime_do_not_import_numba():
    code = ("import sys, compiler, runtime.functions, runtime.kernels, runtime.stacks, "
            "runtime.optim, runtime.train; print('numba' in sys.modules)")
    assert _run(code) == "False"


def test_numpy_tier_gradient_does_not_import_numba(tmp_path):
    code = ("import sys, numpy as np; from compiler import grad\n"
            "from runtime.functions import sigmoid\n"
            "def f(W, x): return np.sum(np.outer(sigmoid(W @ x), x))\n"
            "g = grad(f, jit=False)(np.ones((3, 2)), np.ones(2)); print('numba' in sys.modules)")
    assert _run(code, os.environ | {"ADJOINT_CACHE_DIR": str(tmp_path)}, tmp_path) == "False"


def test_runtime_kernel_caches_go_under_the_cache_dir(tmp_path):
    adj, other = tmp_path / "adj", tmp_path / "numba_elsewhere"
    code = ("import numpy as np; from compiler import grad\n"
            "from runtime.functions import sigmoid\n"
            "def f(W, x): return np.sum(np.outer(sigmoid(W @ x), x))\n"
            "print(grad(f, jit=True)(np.ones((3, 2)), np.ones(2)).sum())")
    _run(code, os.environ | {"ADJOINT_CACHE_DIR": str(adj), "NUMBA_CACHE_DIR": str(other)},
         tmp_path)
    runtime_caches = list((adj / "numba").glob("runtime_*/**/*.nbi"))
    assert {p.name.split(".")[0] for p in runtime_caches} >= {"kernels", "functions"}
    assert list((adj / "__pycache__").glob("adjoint_*.nbi"))  # the generated module's
    assert not other.exists() or not any(other.rglob("*.nbi"))


def test_source_keeps_at_and_compiled_twin_calls_kernels(tmp_path, monkeypatch):
    from compiler import value_and_grad

    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(tmp_path))

    def f(W, x):
        h = np.tanh(W @ x)
        return np.sum(np.outer(h, x) * W) + h @ h

    rng = np.random.default_rng(0)
    W, x = rng.normal(size=(4, 3)), rng.normal(size=3)
    numpy_tier = value_and_grad(f, jit=False)
    compiled = value_and_grad(f, jit=True)
    v0, g0 = numpy_tier(W, x)
    v1, g1 = compiled(W, x)
    assert "@" in compiled.source and "matmul(" not in compiled.source
    mod = compiled._spec().module_source
    assert "def _compiled_f_value_and_grad(" in mod and "matmul(W, x)" in mod
    np.testing.assert_allclose(v1, v0, rtol=1e-12)
    np.testing.assert_allclose(g1, g0, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["sigmoid", "log_sigmoid", "relu", "softplus"])
def test_unary_numpy_forms_agree_with_compiled(name):
    import runtime.functions as rf
    from compiler.numba_cache import ensure_numba
    numba = ensure_numba()
    fn = getattr(rf, name)
    x = np.array([0.0, -0.0, 1.0, -1.0, 37.0, -37.0, 800.0, -800.0, 1e-300, np.inf, -np.inf,
                  np.nan] + list(np.linspace(-30, 30, 101)))
    compiled = numba.njit(lambda v: fn(v))(x)
    np.testing.assert_allclose(fn(x), compiled, rtol=1e-15, atol=0)
    assert isinstance(fn(0.5), np.float64)


@pytest.mark.parametrize("name", ["tie_weight", "pow_dbase", "pow_dexp"])
def test_binary_numpy_forms_agree_with_compiled(name):
    import runtime.kernels as rk
    from compiler.numba_cache import ensure_numba
    numba = ensure_numba()
    fn = getattr(rk, name)
    v = np.array([0.0, -0.0, 1.0, -1.0, 0.5, 2.0, -2.5, 3.0, np.inf, -np.inf, np.nan])
    a, b = np.meshgrid(v, v)
    with np.errstate(all="ignore"):
        compiled = numba.njit(lambda p, q: fn(p, q))(a, b)
        np.testing.assert_allclose(fn(a, b), compiled, rtol=1e-15, atol=0)
