"""Tiered execution (issue 12): jit="auto" answers from the NumPy tier at once and
switches to the compiled tier when the background worker has compiled it.

Nothing here sleeps on a fixed time: tests wait on the compile (`wait_compiled`)."""
import json
import os
import pickle
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import models
from compiler import grad, value_and_grad
from compiler import background
from compiler import jit as jitmod
from corpus.control_flow import CASES
from runtime.optim import Adam
from runtime.train import fit

ROOT = Path(__file__).resolve().parent.parent


def assert_agree(a, b, rtol=1e-12):
    """Each output of the two tiers agrees to `rtol`, relative to that output's size."""
    for x, y in zip(a, b):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        scale = max(float(np.max(np.abs(x), initial=0.0)), 1e-300)
        assert np.max(np.abs(x - y), initial=0.0) <= rtol * scale, (x, y)


def both_tiers(fn, args, wrt):
    """(NumPy-tier outputs, compiled outputs) of one specialisation on `args`."""
    g = value_and_grad(fn, wrt=tuple(wrt), jit=True)
    g(*args)
    assert g.compile_info["jit"] is True, "Numba fell back to NumPy"
    spec = g._last
    normed = g.normalize(args)[0]
    return spec.numpy_tier()(*normed), spec.compiled_fn(*normed)


# ---- the tiers agree ------------------------------------------------------------------

@pytest.mark.parametrize("fn,points,wrt,_ag", CASES, ids=[c[0].__name__ for c in CASES])
def test_tiers_agree_on_the_corpus(fn, points, wrt, _ag):
    for args in points:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # overflow in both tiers alike
            assert_agree(*both_tiers(fn, args, wrt))


def _model_args():
    rng = np.random.default_rng(3)
    n = rng.normal
    return {
        "squared": (models.squared, (n(size=3), n(size=3), 0.7), (0,)),
        "composition": (models.composition, (1.3,), (0,)),
        "hinge": (models.hinge, (n(size=3) * 0.1, n(size=3), 1.0), (0,)),
        "two_layer": (models.two_layer, (n(size=3), 0.4, n(size=(4, 3)), n(size=4)), (2, 3)),
        "four_layer": (models.four_layer, (n(size=11), 0.5, n(size=(16, 11)), n(size=(16, 16)),
                                           n(size=(16, 16)), n(size=16)), (2, 3, 4, 5)),
        "rnn": (models.rnn, (n(size=(4, 4)) * 0.5, n(size=(4, 3)), n(size=4), n(size=(6, 3))),
                (0, 1, 2)),
        "row_loop": (models.row_loop, (n(size=3), n(size=(5, 3))), (0, 1)),
        "newton_sqrt": (models.newton_sqrt, (2.0, 1e-12), (0,)),
    }


@pytest.mark.parametrize("name", sorted(_model_args()))
def test_tiers_agree_on_the_lecture_models(name):
    fn, args, wrt = _model_args()[name]
    assert_agree(*both_tiers(fn, args, wrt))


# ---- auto: NumPy first, compiled later -----------------------------------------------

def tiered_loss(w, X):  # used by this test alone: its compile is new in the session
    return np.sum(np.tanh(X @ w) ** 2) + 0.25 * np.sum(w * w)


def test_numpy_tier_first_then_compiled():
    rng = np.random.default_rng(0)
    w, X = rng.normal(size=3), rng.normal(size=(5, 3))
    vg = value_and_grad(tiered_loss)  # jit="auto" is the default
    first = vg(w, X)
    info = vg.compile_info
    assert (info["mode"], info["tier"], info["jit"], info["ready_seconds"]) == ("auto", "numpy",
                                                                               False, None)
    assert not vg._fast  # the NumPy tier never takes the fast path
    assert vg.wait_compiled(timeout=600) is True
    later = vg(w, X)
    info = vg.compile_info
    assert (info["tier"], info["jit"]) == ("compiled", True)
    assert info["ready_seconds"] > 0 and info["compile_seconds"] > 0
    assert list(vg._fast.values()) == [vg._last]  # compiled: the per-call fast path
    assert_agree((first[0], *first[1:]), (later[0], *later[1:]))
    # a second gradient of the same loss and types reuses the finished compile at once
    again = value_and_grad(tiered_loss)
    again(w, X)
    assert again.compile_info["tier"] == "compiled"


def test_jit_true_and_false_keep_their_meaning():
    rng = np.random.default_rng(1)
    w, X = rng.normal(size=3), rng.normal(size=(5, 3))
    g = grad(tiered_loss, jit=True)
    g(w, X)
    assert (g.compile_info["tier"], g.compile_info["jit"]) == ("compiled", True)
    h = grad(tiered_loss, jit=False)
    h(w, X)
    assert (h.compile_info["tier"], h.compile_info["jit"]) == ("numpy", False)
    assert h.wait_compiled(timeout=1) is False
    with pytest.raises(ValueError, match='"auto", True or False'):
        grad(tiered_loss, jit="yes")


# ---- a compile that fails ---------------------------------------------------------------

def numba_rejects(x):
    return np.sum(x * 0.8125)


def test_a_failed_background_compile_stays_on_numpy_with_one_warning(monkeypatch):
    # the compile worker gets a source Numba cannot type (an int beyond int64, which
    # adjoint itself refuses in a loss), standing for any code Numba rejects
    init = background.Job.__init__
    monkeypatch.setattr(background.Job, "__init__", lambda job, source, entries: init(
        job, source.replace("0.8125", "1180591620717411303424"), entries))
    x = np.array([1.0, -2.0, 3.0])
    g = grad(numba_rejects)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = g(x)
        assert g.wait_compiled(timeout=600) is False
        for _ in range(3):
            np.testing.assert_array_equal(g(x), first)
    ours = [w for w in caught if "could not compile" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    msg = str(ours[0].message)
    line = numba_rejects.__code__.co_firstlineno
    assert ours[0].category is RuntimeWarning
    assert f"test_tiers.py:{line}" in msg and "numba_rejects" in msg
    assert "Failed in nopython mode" in msg  # the first line of Numba's error
    info = g.compile_info
    assert (info["tier"], info["jit"]) == ("numpy", False)
    assert info["compile_error"].startswith("TypingError")
    np.testing.assert_array_equal(first, np.full(3, 0.8125))


# ---- processes -----------------------------------------------------------------------

LOSS_MODULE = '''\
import numpy as np


def loss(w, X):
    return np.sum(np.tanh(X @ w) ** 2) + 0.5 * np.sum(w ** 3)


def warm_up(w):
    return np.sum(w * w)
'''


def _run(script: str, cache: Path, *argv, env=None, timeout=900):
    e = dict(os.environ, ADJOINT_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(script), *argv], env=e,
                            cwd=str(cache.parent), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _reference(w, X):
    t = np.tanh(X @ w)
    return X.T @ (2 * t * (1 - t * t)) + 1.5 * w ** 2


def _index_entries(cache: Path):
    """{index file: [data files it names]} of Numba's cache under `cache`; each named data
    file must exist, whole (Numba replaces it atomically; its pickle names the generated
    module, so only a process that loaded the module can unpickle it: the third process
    of the test below does)."""
    out = {}
    for nbi in cache.glob("__pycache__/*.nbi"):
        with open(nbi, "rb") as f:
            pickle.load(f)  # numba version
            _stamp, overloads = pickle.loads(f.read())
        out[nbi.name] = sorted(overloads.values())
        for name in overloads.values():
            assert (nbi.parent / name).stat().st_size > 0, name
    return out


def _sources_valid(cache: Path):
    for py in cache.glob("adjoint_*.py"):
        assert jitmod.digest(py.read_text()) == py.stem[len("adjoint_"):], py


TWO = '''
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from lossmod import loss
from compiler import grad
w = np.array([0.3, -0.7, 1.1]); X = np.arange(12.0).reshape(4, 3) / 10
g = grad(loss)
a = g(w, X)
t1 = g.compile_info["tier"]
ok = g.wait_compiled(timeout=600)
b = g(w, X)
print(json.dumps({"first": a.tolist(), "later": b.tolist(), "tiers": [t1, g.compile_info["tier"]],
                  "ok": ok}))
'''


def test_two_processes_compile_the_same_new_loss_at_once(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    (tmp_path / "lossmod.py").write_text(LOSS_MODULE)
    procs = [_run(TWO, cache, str(tmp_path)) for _ in range(2)]
    want = _reference(np.array([0.3, -0.7, 1.1]), np.arange(12.0).reshape(4, 3) / 10)
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err
        r = json.loads(out.strip().splitlines()[-1])
        assert r["ok"] and r["tiers"] == ["numpy", "compiled"]
        np.testing.assert_allclose(r["first"], want, rtol=1e-12)
        np.testing.assert_allclose(r["later"], want, rtol=1e-12)
    _sources_valid(cache)
    assert len(list(cache.glob("adjoint_*.py"))) == 1
    entries = _index_entries(cache)
    assert list(entries.values()) == [[next(iter(entries.values()))[0]]], entries  # one entry
    # a third process loads it from the cache
    p = _run(TWO.replace("grad(loss)", "grad(loss, jit=True)").replace(
        '"ok": ok', '"ok": ok, "hit": g.compile_info["cache_hit"]'), cache, str(tmp_path))
    out, err = p.communicate(timeout=900)
    assert p.returncode == 0, err
    r = json.loads(out.strip().splitlines()[-1])
    assert r["hit"] is True and r["tiers"] == ["compiled", "compiled"]


EXIT_PENDING = '''
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from lossmod import loss, warm_up
from compiler import background, grad
warm = grad(warm_up)   # the worker is up and has compiled once ...
warm(np.ones(3))
assert warm.wait_compiled(timeout=600)
g = grad(loss)
g(np.array([0.3, -0.7, 1.1]), np.ones((4, 3)))
print(g.compile_info["tier"], background._worker.proc.pid)  # ... and exit mid-compile
'''


def test_exit_with_a_compile_pending_leaves_nothing_half_written(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    (tmp_path / "lossmod.py").write_text(LOSS_MODULE)
    p = _run(EXIT_PENDING, cache, str(tmp_path))
    out, err = p.communicate(timeout=900)
    assert p.returncode == 0, err
    tier, pid = out.split()
    assert tier == "numpy"
    with pytest.raises(ProcessLookupError):  # the worker was killed (and reaped) at exit
        os.kill(int(pid), 0)
    _sources_valid(cache)
    _index_entries(cache)  # every entry an index names is whole
    p = _run(TWO, cache, str(tmp_path))  # and a later process compiles and runs it
    out, err = p.communicate(timeout=900)
    assert p.returncode == 0, err
    r = json.loads(out.strip().splitlines()[-1])
    want = _reference(np.array([0.3, -0.7, 1.1]), np.arange(12.0).reshape(4, 3) / 10)
    np.testing.assert_allclose(r["later"], want, rtol=1e-12)


BAD_WORKERS = '''
import json, sys, time, warnings
import numpy as np
sys.path.insert(0, sys.argv[1])
from lossmod import loss
from compiler import background, grad
w, X = np.array([0.3, -0.7, 1.1]), np.ones((4, 3))
py = sys.executable
for name, cmd in [("hang", [py, "-c", "import time; time.sleep(600)"]),
                  ("die", [py, "-c", "import sys; sys.stdin.readline(); sys.exit(3)"])]:
    background.WORKER_CMD = cmd
    background._stop()
    g = grad(loss, wrt=1 if name == "die" else 0)  # a new module each time
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = g(w, X)
        t = time.monotonic()
        ok = g.wait_compiled(timeout=120)
        waited = time.monotonic() - t
        b = g(w, X)
    msgs = [str(c.message) for c in caught if "could not compile" in str(c.message)]
    print(json.dumps({"name": name, "ok": ok, "waited": waited, "tier": g.compile_info["tier"],
                      "warnings": msgs, "same": bool(np.array_equal(a, b))}), flush=True)
'''


def test_a_worker_that_hangs_or_dies_never_hangs_the_caller(tmp_path):
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    (tmp_path / "lossmod.py").write_text(LOSS_MODULE)
    p = _run(BAD_WORKERS, cache, str(tmp_path), env={"ADJOINT_COMPILE_TIMEOUT": "3"})
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    hang, die = [json.loads(line) for line in out.strip().splitlines()[-2:]]
    for r in hang, die:
        assert (r["ok"], r["tier"], len(r["warnings"]), r["same"]) == (False, "numpy", 1, True), r
    assert hang["waited"] < 60 and "ran past 3 s" in hang["warnings"][0]
    assert "exited (status 3)" in die["warnings"][0]


# ---- training --------------------------------------------------------------------------

def test_fit_under_auto_switches_tiers_at_an_epoch_boundary():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(40, 11)), rng.normal(size=40)
    params = {"V1": rng.normal(size=(8, 11)) * 0.3, "V2": rng.normal(size=(8, 8)) * 0.3,
              "V3": rng.normal(size=(8, 8)) * 0.3, "w": rng.normal(size=8) * 0.3}
    wrt = ("V1", "V2", "V3", "w")
    vg = value_and_grad(models.four_layer, wrt=wrt)

    def after_first_epoch(epoch, result):  # wait for the compile: epoch 2 is compiled
        if epoch == 1:
            assert vg.wait_compiled(timeout=600)

    opt = Adam(0.01, clip_norm=1.0)
    auto = fit(vg, params, (X, y), opt, epochs=4, verbose=False, val_data=(X[:8], y[:8]),
               callbacks=[after_first_epoch], seed=3)
    assert auto.tiers == ["numpy", "compiled", "compiled", "compiled"]
    assert auto.compiled_after is not None
    ref = fit(value_and_grad(models.four_layer, wrt=wrt, jit=True), params, (X, y), opt,
              epochs=4, verbose=False, val_data=(X[:8], y[:8]), seed=3)
    assert ref.tiers == ["compiled"] * 4
    for k in wrt:
        np.testing.assert_allclose(auto.params[k], ref.params[k], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(auto.loss, ref.loss, rtol=1e-12)
    np.testing.assert_allclose(auto.val_loss, ref.val_loss, rtol=1e-12)
