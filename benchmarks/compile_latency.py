"""Workload 5: time to the first gradient in a fresh process, ours vs `jax.jit`.

Each case runs `python -m benchmarks.compile_latency --child LIB MODEL` in a new
process with the pinned thread settings and its own ADJOINT_CACHE_DIR (which holds
every cache of ours: generated modules, their Numba cache, and the Numba cache of the
runtime kernels under `numba/`; NUMBA_CACHE_DIR does not move them):

- ours, cold: an empty ADJOINT_CACHE_DIR, so Numba compiles the runtime's kernels
  used (sigmoid, the matmul and outer kernels, stacks, ...) as well as the gradient;
- ours, cold gradient: a new ADJOINT_CACHE_DIR holding only the `numba/` folder the cold
  run filled: the runtime kernels load from the cache, the generated gradient compiles
  (the usual first use of a new loss after installation);
- ours, warm: the cold run's directory again: everything loads from the cache;
- JAX: `jax.jit(jax.value_and_grad(loss))`, first call (trace and XLA compile), without
  and with JAX's persistent compilation cache (its second process is the warm one).

Ours is asked for `jit=True` (compile before the first call returns). The child
reports: `import` (numpy and adjoint, which no longer loads Numba; or jax), `first
call` (code generation, importing Numba and compiling or loading from the cache: the
time a user waits at the first gradient), for ours its split into code generation and
Numba (`compile_info`), and the steady call after it. `process` is the parent's wall
time of the whole child (interpreter start and the data set-up included).
`import_compiler()` times `import compiler` alone after NumPy (and checks that it did
not load Numba).
"""
from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __name__ == "__main__":  # the child: one thread, before numpy loads
    from benchmarks import threads
    threads.pin()

ROOT = Path(__file__).resolve().parents[1]


def _data(model):
    import numpy as np
    rng = np.random.default_rng(0)
    if model == "four_layer":
        return (rng.normal(size=11), 0.5, rng.normal(size=(16, 11)) * 0.3,
                rng.normal(size=(16, 16)) * 0.25, rng.normal(size=(16, 16)) * 0.25,
                rng.normal(size=16) * 0.25), (2, 3, 4, 5)
    if model == "softmax":  # the digits MLP's loss on a 32-row minibatch
        Y = np.eye(10)[rng.integers(0, 10, 32)]
        return (rng.normal(size=(32, 64)), Y, rng.normal(size=(64, 64)) * 0.1, np.zeros(64),
                rng.normal(size=(10, 64)) * 0.1, np.zeros(10)), (2, 3, 4, 5)
    steps = 50 if model == "rnn50" else 1000
    W = rng.normal(0.0, 0.9 / 4.0, (16, 16))
    return (W, rng.normal(0.0, 0.35, (16, 8)), np.zeros(16), rng.normal(size=(steps, 8))), (0, 1)


def _loss(model):
    from benchmarks import losses
    return {"four_layer": losses.four_layer, "softmax": losses.mlp_loss}.get(model,
                                                                           losses.rnn_loss)


def _child(lib: str, model: str) -> dict:
    """Runs in the fresh process: imports, then the first and a second gradient."""
    t0 = time.perf_counter()
    if lib == "ours-auto":  # the default: NumPy tier first, compiled in the background
        import numpy  # noqa: F401

        import compiler
        t1 = time.perf_counter()
        args, wrt = _data(model)
        fn = _loss(model)
        t2 = time.perf_counter()
        vg = compiler.value_and_grad(fn, wrt=wrt)
        vg(*args)
        t3 = time.perf_counter()
        ready = vg.wait_compiled(timeout=300)
        t4 = time.perf_counter()
        vg(*args)
        t5 = time.perf_counter()
        vg(*args)
        return dict(import_s=t1 - t0, first_s=t3 - t2, compiled_s=t4 - t2 if ready else None,
                    steady_s=time.perf_counter() - t5, tier=vg.compile_info.get("tier"))
    if lib == "ours":
        import numpy  # noqa: F401

        import compiler
        t1 = time.perf_counter()
        args, wrt = _data(model)
        fn = _loss(model)
        t2 = time.perf_counter()
        vg = compiler.value_and_grad(fn, wrt=wrt, jit=True)
        vg(*args)
        t3 = time.perf_counter()
        info = vg.compile_info
        out = dict(import_s=t1 - t0, first_s=t3 - t2, numba_s=info["compile_seconds"],
                   codegen_s=(t3 - t2) - info["compile_seconds"], cache_hit=info["cache_hit"])
        t4 = time.perf_counter()
        vg(*args)
        out["steady_s"] = time.perf_counter() - t4
        return out
    import numpy  # noqa: F401, F811

    import jax
    jax.config.update("jax_enable_x64", True)
    jax.config.update("jax_platforms", "cpu")
    cache = os.environ.get("BENCH_JAX_CACHE")
    if cache:
        jax.config.update("jax_compilation_cache_dir", cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    import jax.numpy as jnp
    from jax import lax
    t1 = time.perf_counter()
    args, wrt = _data(model)

    def four_layer(x, y, V1, V2, V3, w):
        s = jax.nn.sigmoid
        return (w @ s(V3 @ s(V2 @ s(V1 @ x))) - y) ** 2

    def rnn(W, U, h0, xs):
        h, _ = lax.scan(lambda h, x: (jnp.tanh(W @ h + U @ x), None), h0, xs)
        return jnp.sum(h * h)

    def softmax(X, Y, W1, b1, W2, b2):
        Z = jax.nn.relu(X @ W1.T + b1) @ W2.T + b2
        return jnp.mean(jax.nn.logsumexp(Z, axis=1) - jnp.sum(Y * Z, axis=1))
    jargs = [jnp.asarray(a) for a in args]
    t2 = time.perf_counter()
    loss = {"four_layer": four_layer, "softmax": softmax}.get(model, rnn)
    f = jax.jit(jax.value_and_grad(loss, argnums=wrt))
    jax.block_until_ready(f(*jargs))
    t3 = time.perf_counter()
    jax.block_until_ready(f(*jargs))
    return dict(import_s=t1 - t0, first_s=t3 - t2, steady_s=time.perf_counter() - t3)


def _run_child(lib, model, env) -> dict:
    t = time.perf_counter()
    p = subprocess.run([sys.executable, "-m", "benchmarks.compile_latency", "--child", lib, model],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    wall = time.perf_counter() - t
    if p.returncode != 0:
        return {"error": (p.stderr.strip().splitlines() or ["?"])[-1], "process_s": wall}
    res = json.loads(p.stdout.strip().splitlines()[-1])
    res["process_s"] = wall
    return res


def cases(models=("four_layer", "rnn"), with_jax=True, log=print, auto=("four_layer",)) -> list:
    """[(model, case label, result dict)] for every case, run in order (see module doc)."""
    rows = []
    base = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    with tempfile.TemporaryDirectory(prefix="adjoint-bench-") as tmp:
        for model in models:
            a1, a2 = os.path.join(tmp, model, "a1"), os.path.join(tmp, model, "a2")
            for label, adj in (("ours, cold (empty caches)", a1),
                               ("ours, cold gradient (runtime kernels cached)", a2),
                               ("ours, warm cache", a1)):
                if adj == a2 and not os.path.exists(a2):
                    os.makedirs(a2, mode=0o700)
                    if os.path.isdir(os.path.join(a1, "numba")):
                        shutil.copytree(os.path.join(a1, "numba"), os.path.join(a2, "numba"))
                env = base | {"ADJOINT_CACHE_DIR": adj}
                log(f"  {model}: {label} ...")
                rows.append((model, label, _run_child("ours", model, env)))
            if model in auto:  # a new loss after installation: runtime kernels cached
                a3 = os.path.join(tmp, model, "a3")
                os.makedirs(a3, mode=0o700)
                if os.path.isdir(os.path.join(a1, "numba")):
                    shutil.copytree(os.path.join(a1, "numba"), os.path.join(a3, "numba"))
                log(f"  {model}: ours, tiered (jit='auto') ...")
                rows.append((model, "ours, jit='auto' (default), runtime kernels cached",
                             _run_child("ours-auto", model, base | {"ADJOINT_CACHE_DIR": a3})))
            if with_jax:
                jdir = os.path.join(tmp, model, "jax")
                for label, env in (("jax.jit, no persistent cache", base),
                                   ("jax.jit, persistent cache warm", None)):
                    if env is None:  # fill the cache, then measure a second process
                        env = base | {"BENCH_JAX_CACHE": jdir}
                        _run_child("jax", model, env)
                    log(f"  {model}: {label} ...")
                    rows.append((model, label, _run_child("jax", model, env)))
    return rows


_IMPORT = ("import sys, time; import numpy; t = time.perf_counter(); import compiler; "
           "print(time.perf_counter() - t, 'numba' in sys.modules)")


def import_compiler(repeats=5) -> dict:
    """`import compiler` in fresh processes, after NumPy: the median and min seconds, and
    whether any of them loaded Numba."""
    times, numba = [], False
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", _IMPORT], cwd=ROOT, capture_output=True,
                             text=True, timeout=120, check=True).stdout.split()
        times.append(float(out[0]))
        numba |= out[1] == "True"
    return dict(median_s=statistics.median(times), min_s=min(times), numba=numba)


def markdown(rows, imports=None) -> str:
    from benchmarks.harness import fmt_time
    lines = ["### Compile latency: first gradient in a fresh process", ""]
    if imports:
        lines += [f"`import compiler` after NumPy: {fmt_time(imports['median_s'])} median, "
                  f"{fmt_time(imports['min_s'])} min of 5 processes; Numba "
                  f"{'loaded (it should not be)' if imports['numba'] else 'not loaded'}", ""]
    lines += ["| model | case | first call | of which Numba | compiled tier ready | import | "
              "process | steady call |",
              "|---|---|---:|---:|---:|---:|---:|---:|"]
    for model, label, r in rows:
        if "error" in r:
            lines.append(f"| {model} | {label} | failed: {r['error']} | | | | |")
            continue
        numba = fmt_time(r["numba_s"]) if "numba_s" in r else "–"
        ready = fmt_time(r["compiled_s"]) if r.get("compiled_s") else (
            "never" if "compiled_s" in r else "–")
        lines.append(f"| {model} | {label} | {fmt_time(r['first_s'])} | {numba} | {ready} | "
                     f"{fmt_time(r['import_s'])} | {fmt_time(r['process_s'])} | "
                     f"{fmt_time(r['steady_s'])} |")
    lines += ["", "- first call: from `value_and_grad(..., jit=True)` (ours: code generation, "
              "importing Numba, compiling or loading) or `jax.jit(...)` to the first gradient "
              "returned; import: numpy and adjoint (or jax) in the fresh process; process: the "
              "child's whole wall time; jit='auto': the first call is answered by the NumPy "
              "tier, 'compiled tier ready' counts from the same moment to wait_compiled(), and "
              "'process' includes that wait (the first gradient came import + first call "
              "after the interpreter started)",
              "- four_layer: width 16, 11 inputs; softmax: the digits MLP on a 32-row "
              "minibatch (64-64-10); rnn: 1,000 steps, rnn50: 50 steps, width 16"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        print(json.dumps(_child(sys.argv[2], sys.argv[3])))
    else:
        print(markdown(cases(), import_compiler()))
