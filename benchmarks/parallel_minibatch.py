"""Both cores for minibatch training: the gradient of a batch over its examples in
parallel (Numba `prange`, per-chunk accumulators) against the batched-BLAS form, at 1
and 2 threads (issue 16).

    python -m benchmarks.parallel_minibatch [--reps 15]

The model is the four-layer sigmoid regression's minibatch loss (mean squared error
over b rows, benchmarks/train_overhead.py `batch_loss`), float64, at (width 16, batch
32) and (width 256, batch 256). Forms, each a hand-written Numba gradient (loss and the
four parameter gradients):

- batched BLAS: the rows as matrices, `X @ V1.T` ... `d1.T @ X` (what `fit(batch_size=)`
  compiles from the batch loss); its second thread is OpenBLAS's (threadpoolctl);
- per-example, parallel: the batch split into CHUNKS fixed chunks of consecutive rows
  (independent of the thread count), `prange` over chunks, each chunk accumulating its
  examples' gradients (one example at a time: matrix-vector products and rank-1
  updates) into its own accumulator, the accumulators then summed in chunk order. The
  result is the same bits whatever the thread count (checked); the thread count is
  Numba's (`numba.set_num_threads`, at most NUMBA_NUM_THREADS).

The measurement runs in a child process started with NUMBA_NUM_THREADS=2 and
OPENBLAS_NUM_THREADS=2 (the benchmark process pins one thread everywhere); timings are
the median of `reps` interleaved rounds, CPU-time medians beside them.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

CHUNKS = 8  # fixed: the reduction order does not depend on the thread count
CASES = [(16, 32), (256, 256)]


def _kernels():
    import numpy as np
    from numba import njit, prange

    from compiler.numba_cache import ensure_numba
    ensure_numba()
    from runtime.functions import sigmoid

    @njit(cache=True)
    def batched(X, y, V1, V2, V3, w):
        m = X.shape[0]
        h1 = sigmoid(X @ V1.T)
        h2 = sigmoid(h1 @ V2.T)
        h3 = sigmoid(h2 @ V3.T)
        r = h3 @ w - y
        gr = 2.0 * r / m
        d3 = np.outer(gr, w) * h3 * (1.0 - h3)
        d2 = (d3 @ V3) * h2 * (1.0 - h2)
        d1 = (d2 @ V2) * h1 * (1.0 - h1)
        return np.sum(r * r) / m, d1.T @ X, d2.T @ h1, d3.T @ h2, h3.T @ gr

    @njit(cache=True, parallel=True)
    def per_example(X, y, V1, V2, V3, w):
        m, d = X.shape
        k = V1.shape[0]
        acc1 = np.zeros((CHUNKS, k, d))
        acc2 = np.zeros((CHUNKS, k, k))
        acc3 = np.zeros((CHUNKS, k, k))
        accw = np.zeros((CHUNKS, k))
        accl = np.zeros(CHUNKS)
        size = (m + CHUNKS - 1) // CHUNKS
        for c in prange(CHUNKS):
            for i in range(c * size, min(m, (c + 1) * size)):
                x = X[i]
                h1 = sigmoid(V1 @ x)
                h2 = sigmoid(V2 @ h1)
                h3 = sigmoid(V3 @ h2)
                r = w @ h3 - y[i]
                accl[c] += r * r
                gr = 2.0 * r / m
                d3 = gr * w * h3 * (1.0 - h3)
                d2 = (V3.T @ d3) * h2 * (1.0 - h2)
                d1 = (V2.T @ d2) * h1 * (1.0 - h1)
                for a in range(k):
                    accw[c, a] += gr * h3[a]
                    for b in range(d):
                        acc1[c, a, b] += d1[a] * x[b]
                    for b in range(k):
                        acc2[c, a, b] += d2[a] * h1[b]
                        acc3[c, a, b] += d3[a] * h2[b]
        g1, g2, g3, gw = acc1[0].copy(), acc2[0].copy(), acc3[0].copy(), accw[0].copy()
        loss = accl[0]
        for c in range(1, CHUNKS):  # fixed order: deterministic given the data
            g1 += acc1[c]
            g2 += acc2[c]
            g3 += acc3[c]
            gw += accw[c]
            loss += accl[c]
        return loss / m, g1, g2, g3, gw

    return batched, per_example


def _measure(reps: int) -> dict:
    """In the child: {case: {form/threads: [wall medians, cpu medians]}} and checks."""
    import numba
    import numpy as np
    from threadpoolctl import threadpool_limits

    batched, per_example = _kernels()
    rng = np.random.default_rng(0)
    out = {"threads_available": numba.config.NUMBA_NUM_THREADS, "cases": {}}
    for width, b in CASES:
        d = 11
        X, y = rng.normal(size=(b, d)), rng.normal(size=b)
        ps = [rng.normal(size=(width, d)) / np.sqrt(d), rng.normal(size=(width, width)) / 16,
              rng.normal(size=(width, width)) / 16, rng.normal(size=width) / 16]
        ref = batched(X, y, *ps)
        numba.set_num_threads(1)
        one = per_example(X, y, *ps)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = per_example(X, y, *ps)
        same_bits = all(np.array_equal(np.asarray(a), np.asarray(c)) for a, c in zip(one, two))
        diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(c)) / (1e-300 + np.max(np.abs(c)))))
                   for a, c in zip(one, ref))
        runs = {}
        n = max(1, int(2e-2 / max(_once(batched, X, y, ps), 1e-7)))
        for _ in range(reps):
            for threads in (1, 2):
                with threadpool_limits(threads):
                    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
                    for label, f in (("batched BLAS", batched), ("per-example prange", per_example)):
                        w0, c0 = time.perf_counter(), time.process_time()
                        for _ in range(n):
                            f(X, y, *ps)
                        runs.setdefault(f"{label}|{threads}", []).append(
                            ((time.perf_counter() - w0) / n, (time.process_time() - c0) / n))
        med = {k: [float(np.median([r[0] for r in v])), float(np.median([r[1] for r in v]))]
               for k, v in runs.items()}
        out["cases"][f"{width}|{b}"] = {"times": med, "same_bits_1_vs_2_threads": same_bits,
                                       "rel_diff_vs_batched": diff}
    return out


def _once(f, X, y, ps):
    f(X, y, *ps)
    t = time.perf_counter()
    f(X, y, *ps)
    return time.perf_counter() - t


def run(reps: int = 15) -> dict:
    """Measure in a child process with two Numba and two BLAS threads available."""
    env = dict(os.environ, NUMBA_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2",
               OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    code = ("import json, sys; from benchmarks.parallel_minibatch import _measure; "
            f"print(json.dumps(_measure({int(reps)})))")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    res = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True,
                         text=True, timeout=900)
    if res.returncode != 0:
        raise RuntimeError(f"parallel_minibatch child failed:\n{res.stderr[-2000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def _fmt(s: float) -> str:
    return f"{s * 1e6:.3g} µs" if s < 1e-3 else f"{s * 1e3:.3g} ms"


def markdown(res: dict) -> str:
    """The 1-vs-2-thread table and the decision it supports."""
    lines = ["### Minibatch gradient on two cores: per-example `prange` against batched BLAS", "",
             "| width, batch | form | threads | median per gradient | × batched BLAS, 1 thread | "
             "2-thread speed-up | CPU time: median |",
             "|---|---|---:|---:|---:|---:|---:|"]
    wins = []
    for case, r in res["cases"].items():
        width, b = case.split("|")
        t = r["times"]
        base = t["batched BLAS|1"][0]
        for form in ("batched BLAS", "per-example prange"):
            for threads in (1, 2):
                wall, cpu = t[f"{form}|{threads}"]
                speed = t[f"{form}|1"][0] / wall
                lines.append(f"| {width}, {b} | {form} | {threads} | {_fmt(wall)} | "
                             f"{wall / base:.2f} | {speed:.2f} | {_fmt(cpu)} |")
        best = min(t, key=lambda k: t[k][0])
        wins.append(f"width {width}, batch {b}: fastest is {best.replace('|', ' with ')} "
                     f"thread(s); per-example results identical at 1 and 2 threads: "
                     f"{r['same_bits_1_vs_2_threads']}; relative difference from the batched "
                     f"form {r['rel_diff_vs_batched']:.1e}")
    lines += [""] + [f"- {w}" for w in wins]
    lines.append(f"- Numba threads available in the child: {res['threads_available']}; "
                 f"{CHUNKS} fixed chunks, summed in chunk order")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=15)
    args = ap.parse_args(argv)
    print(markdown(run(args.reps)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
